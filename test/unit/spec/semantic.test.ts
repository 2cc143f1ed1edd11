import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Diagnostics, formatIssue, type SpecIssue } from "../../../src/spec/diagnostics.js";
import { parseYaml } from "../../../src/spec/parse.js";
import { checkSemantics, namedVolumeSource, publishedPorts } from "../../../src/spec/semantic.js";
import { formatLocation, formatPath, SourceMap } from "../../../src/spec/source.js";
import { corpus, haveCorpora } from "../../helpers/corpora.js";
import { deepFreeze } from "./frozen.js";

/** Drops the first newline and the common indentation, so line 1 is the first line of YAML. */
function yaml(text: string): string {
  const lines = text.replace(/^\n/, "").split("\n");
  const indent = Math.min(...lines.filter((l) => l.trim() !== "").map((l) => /^ */.exec(l)?.[0].length ?? 0));
  return lines.map((l) => l.slice(indent)).join("\n");
}

function check(text: string, file = "stack.yml"): SpecIssue[] {
  const sources = new SourceMap();
  const diags = new Diagnostics();
  const { value } = parseYaml(text, file, sources, diags);
  expect(diags.issues).toEqual([]);
  const snapshot = structuredClone(value);
  checkSemantics(deepFreeze(value) as Record<string, unknown>, { sources, diags });
  expect(value).toEqual(snapshot);
  return diags.issues;
}

function rows(issues: readonly SpecIssue[]) {
  return issues.map((i) => ({
    severity: i.severity,
    code: i.code,
    path: formatPath(i.path),
    at: formatLocation(i.loc),
    message: i.message,
    hint: i.hint,
  }));
}

describe("checkSemantics", () => {
  it("accepts a consistent stack", () => {
    const issues = check(
      yaml(`
        services:
          web:
            image: nginx
            depends_on: { db: { condition: service_healthy } }
            networks: [front, default]
            ports: ["80:80", "443:443"]
            volumes: [data:/srv, ./conf:/etc/conf, /cache, "C:\\\\data:/win"]
            secrets: [token]
            healthcheck: { test: ["CMD", "true"], interval: 1m30s, timeout: 500ms }
            stop_grace_period: 20s
            mem_limit: 512MiB
            memswap_limit: -1
            shm_size: 64m
            tmpfs: ["/run:size=64m,mode=1777"]
          api:
            image: api
            network_mode: "service:web"
            ports: [{ target: 80, published: 8080 }, "127.0.0.1:80:8000/udp"]
            deploy: { replicas: 3, resources: { limits: { memory: 1g } } }
          db:
            image: postgres
            healthcheck: { test: CMD-SHELL pg_isready, start_period: 1m }
        networks:
          front:
        volumes:
          data:
        secrets:
          token: { file: ./token }
      `),
    );
    expect(issues).toEqual([]);
  });

  describe("service references", () => {
    it("reports depends_on naming an unknown service, with a suggestion, in both syntaxes", () => {
      const issues = check(
        yaml(`
          services:
            web:
              image: nginx
              depends_on: [dbb]
            api:
              image: api
              depends_on:
                cache: { condition: service_started }
            db:
              image: postgres
        `),
      );
      expect(rows(issues)).toEqual([
        {
          severity: "error",
          code: "depends-on/unknown-service",
          path: "services.web.depends_on[0]",
          at: "stack.yml:4:18",
          message: 'service "web" depends on service "dbb", which is not defined',
          hint: 'did you mean "db"?',
        },
        {
          severity: "error",
          code: "depends-on/unknown-service",
          path: "services.api.depends_on.cache",
          at: "stack.yml:8:7",
          message: 'service "api" depends on service "cache", which is not defined',
          hint: undefined,
        },
      ]);
    });

    it("only warns about an unknown dependency marked required: false", () => {
      const issues = check(
        yaml(`
          services:
            web:
              image: nginx
              depends_on:
                metrics: { condition: service_started, required: false }
        `),
      );
      expect(rows(issues)).toEqual([
        {
          severity: "warning",
          code: "depends-on/unknown-service",
          path: "services.web.depends_on.metrics",
          at: "stack.yml:5:7",
          message:
            'service "web" depends on service "metrics", which is not defined; ignored because required is false',
          hint: undefined,
        },
      ]);
    });

    it("reports a service depending on itself", () => {
      const issues = check(
        yaml(`
          services:
            web:
              image: nginx
              depends_on: [web]
        `),
      );
      expect(rows(issues)).toEqual([
        {
          severity: "error",
          code: "depends-on/self",
          path: "services.web.depends_on[0]",
          at: "stack.yml:4:18",
          message: 'service "web" depends on itself (through depends_on)',
          hint: "remove this entry",
        },
      ]);
    });

    it("reports a dependency cycle once, printing it, at the entry that closes it", () => {
      const issues = check(
        yaml(`
          services:
            a: { image: x, depends_on: [b] }
            b: { image: x, depends_on: { c: { condition: service_started } } }
            c: { image: x, depends_on: [a] }
            d: { image: x, depends_on: [a] }
        `),
      );
      expect(rows(issues)).toEqual([
        {
          severity: "error",
          code: "depends-on/cycle",
          path: "services.c.depends_on[0]",
          at: "stack.yml:4:31",
          message: "dependency cycle: a -> b -> c -> a",
          hint: "services in a cycle can never start; remove one of these dependencies",
        },
      ]);
    });

    it("counts implicit dependencies (network_mode, volumes_from, links) in cycles", () => {
      const issues = check(
        yaml(`
          services:
            a: { image: x, network_mode: "service:b" }
            b: { image: x, volumes_from: ["a:ro"] }
        `),
      );
      expect(issues.map((i) => [i.code, i.message])).toEqual([
        ["depends-on/cycle", "dependency cycle: a -> b -> a"],
      ]);
    });

    it("treats services disabled by profiles as known, leaving their depends_on to the profile phase", () => {
      const sources = new SourceMap();
      const diags = new Diagnostics();
      const text = yaml(`
        services:
          web:
            image: nginx
            depends_on: [debug]
            network_mode: "service:debug"
            links: [ghost]
      `);
      const { value } = parseYaml(text, "stack.yml", sources, diags);
      checkSemantics(value as Record<string, unknown>, { sources, diags }, { disabledServices: ["debug"] });
      expect(diags.issues.map((i) => `${i.code} ${formatPath(i.path)} ${i.message}`)).toEqual([
        'reference/disabled-service services.web.network_mode network_mode refers to service "debug", which none of the active profiles enables',
        'reference/unknown-service services.web.links[0] links refers to service "ghost", which is not defined',
      ]);
    });

    it("reports network_mode, ipc, volumes_from and links naming unknown services", () => {
      const issues = check(
        yaml(`
          services:
            web:
              image: nginx
              network_mode: "service:proxy"
              ipc: "service:wbe"
              volumes_from: ["container:outside", "data:ro"]
              links: ["db:database"]
        `),
      );
      expect(rows(issues)).toEqual([
        {
          severity: "error",
          code: "reference/unknown-service",
          path: "services.web.network_mode",
          at: "stack.yml:4:19",
          message: 'network_mode refers to service "proxy", which is not defined',
          hint: 'to join a container outside the stack, use "container:<name>"',
        },
        {
          severity: "error",
          code: "reference/unknown-service",
          path: "services.web.ipc",
          at: "stack.yml:5:10",
          message: 'ipc refers to service "wbe", which is not defined',
          hint: 'did you mean "web"?',
        },
        {
          severity: "error",
          code: "reference/unknown-service",
          path: "services.web.volumes_from[1]",
          at: "stack.yml:6:41",
          message: 'volumes_from refers to service "data", which is not defined',
          hint: undefined,
        },
        {
          severity: "error",
          code: "reference/unknown-service",
          path: "services.web.links[0]",
          at: "stack.yml:7:13",
          message: 'links refers to service "db", which is not defined',
          hint: undefined,
        },
      ]);
    });
  });

  describe("references to top-level resources", () => {
    it("reports undeclared networks in list and mapping form, but not the implicit default", () => {
      const issues = check(
        yaml(`
          services:
            web:
              image: nginx
              networks: [default, frnt]
            api:
              image: api
              networks:
                back: { aliases: [api] }
          networks:
            front: {}
        `),
      );
      expect(rows(issues)).toEqual([
        {
          severity: "error",
          code: "reference/undeclared-network",
          path: "services.web.networks[1]",
          at: "stack.yml:4:25",
          message: 'network "frnt" is not declared in the top-level `networks`',
          hint: 'did you mean "front"?',
        },
        {
          severity: "error",
          code: "reference/undeclared-network",
          path: "services.api.networks.back",
          at: "stack.yml:8:7",
          message: 'network "back" is not declared in the top-level `networks`',
          hint: "declare it under `networks:` at the top level",
        },
      ]);
    });

    it("reports undeclared named volumes in short and long syntax, not binds, tmpfs or anonymous volumes", () => {
      const issues = check(
        yaml(`
          services:
            web:
              image: nginx
              volumes:
                - dta:/data
                - ./site:/usr/share/nginx/html:ro
                - ~/conf:/conf
                - /anonymous
                - type: volume
                  source: logs
                  target: /logs
                - type: volume
                  target: /anon
                - type: tmpfs
                  target: /tmp
          volumes:
            data:
        `),
      );
      expect(rows(issues)).toEqual([
        {
          severity: "error",
          code: "reference/undeclared-volume",
          path: "services.web.volumes[0]",
          at: "stack.yml:5:9",
          message: 'volume "dta" is not declared in the top-level `volumes`',
          hint: 'did you mean "data"?',
        },
        {
          severity: "error",
          code: "reference/undeclared-volume",
          path: "services.web.volumes[4].source",
          at: "stack.yml:10:17",
          message: 'volume "logs" is not declared in the top-level `volumes`',
          hint: "declare it under `volumes:` at the top level",
        },
      ]);
    });

    it("reports undeclared secrets and configs, build secrets included", () => {
      const issues = check(
        yaml(`
          services:
            web:
              image: nginx
              secrets: [tokn, { source: cert }]
              configs: [nginx_conf]
              build:
                context: .
                secrets: [npmrc]
          secrets:
            token: { file: ./token }
        `),
      );
      expect(
        issues.map((i) => `${i.code} ${formatPath(i.path)} ${formatLocation(i.loc)} ${i.hint ?? ""}`),
      ).toEqual([
        'reference/undeclared-secret services.web.secrets[0] stack.yml:4:15 did you mean "token"?',
        "reference/undeclared-secret services.web.secrets[1].source stack.yml:4:31 declare it under `secrets:` at the top level",
        "reference/undeclared-config services.web.configs[0] stack.yml:5:15 declare it under `configs:` at the top level",
        "reference/undeclared-secret services.web.build.secrets[0] stack.yml:8:17 declare it under `secrets:` at the top level",
      ]);
    });
  });

  describe("published ports", () => {
    it("reports a host port published twice across services, naming the first declaration", () => {
      const issues = check(
        yaml(`
          services:
            web:
              image: nginx
              ports: ["8080:80"]
            api:
              image: api
              ports:
                - target: 3000
                  published: 8080
        `),
      );
      expect(rows(issues)).toEqual([
        {
          severity: "error",
          code: "ports/duplicate",
          path: "services.api.ports[0]",
          at: "stack.yml:8:9",
          message: "host port 8080/tcp is already published by services.web.ports[0] (stack.yml:4:13)",
          hint: "two containers cannot listen on the same host port; publish a different one",
        },
      ]);
    });

    it("expands ranges and reports the overlapping ports together", () => {
      const issues = check(
        yaml(`
          services:
            web: { image: x, ports: ["8000-8003:80-83"] }
            api: { image: x, ports: ["127.0.0.1:8002-8004:90-92"] }
        `),
      );
      expect(issues.map((i) => i.message)).toEqual([
        "host ports 127.0.0.1:8002-8003/tcp are already published by services.web.ports[0] (stack.yml:2:28)",
      ]);
    });

    it.each([
      { name: "different protocols", a: '"53:53/udp"', b: '"53:53/tcp"' },
      { name: "different specific addresses", a: '"127.0.0.1:80:80"', b: '"10.0.0.1:80:80"' },
      { name: "a wildcard IPv4 and a specific IPv6 address", a: '"0.0.0.0:80:80"', b: '"[::1]:80:80"' },
      { name: "container ports only (the engine picks host ports)", a: "80", b: '"80"' },
      { name: "an empty host port", a: '"127.0.0.1::80"', b: '"127.0.0.1::80"' },
      {
        name: "a host range for one container port (the engine picks one)",
        a: '"8000-8010:80"',
        b: '"8005:80"',
      },
    ])("does not report $name", ({ a, b }) => {
      const issues = check(
        yaml(`
          services:
            one: { image: x, ports: [${a}] }
            two: { image: x, ports: [${b}] }
        `),
      );
      expect(issues).toEqual([]);
    });

    it("treats all-interfaces as overlapping with a specific address", () => {
      const issues = check(
        yaml(`
          services:
            one: { image: x, ports: ["80:80"] }
            two: { image: x, ports: [{ target: 80, published: "80", host_ip: 127.0.0.1 }] }
        `),
      );
      expect(issues.map((i) => i.message)).toEqual([
        "host port 127.0.0.1:80/tcp is already published by services.one.ports[0] (stack.yml:2:28)",
      ]);
    });

    it.each([
      ["8080:80", { ip: "", protocol: "tcp", hostPorts: [8080] }],
      ["127.0.0.1:8080:80/UDP", { ip: "127.0.0.1", protocol: "udp", hostPorts: [8080] }],
      ["[::1]:8080-8081:80-81", { ip: "::1", protocol: "tcp", hostPorts: [8080, 8081] }],
      ["::1:8080:80", { ip: "::1", protocol: "tcp", hostPorts: [8080] }],
      ["80", undefined],
      ["8080:http", { ip: "", protocol: "tcp", hostPorts: [8080] }],
      ["x:80", undefined],
      [{ target: 80, published: "9000-9001" }, undefined],
      [
        { target: "80-81", published: "9000-9001", protocol: "sctp" },
        { ip: "", protocol: "sctp", hostPorts: [9000, 9001] },
      ],
      [{ target: 80 }, undefined],
    ] as const)("reads the host side of %j", (entry, expected) => {
      expect(publishedPorts(entry)).toEqual(expected);
    });
  });

  describe("durations and sizes", () => {
    it("reports values that do not parse, each at its position", () => {
      const issues = check(
        yaml(`
          services:
            web:
              image: nginx
              healthcheck:
                interval: "10"
                timeout: 1x
              stop_grace_period: -5s
              deploy:
                restart_policy: { delay: soon }
                resources: { limits: { memory: lots } }
              mem_limit: 1.5 gigs
              memswap_limit: -2
              volumes:
                - type: tmpfs
                  target: /tmp
                  tmpfs: { size: huge }
              tmpfs: ["/run:mode=1777,size=64q"]
        `),
      );
      expect(issues.map((i) => formatIssue(i))).toEqual([
        'stack.yml:5:17: error: services.web.healthcheck.interval: "10" is not a duration\n    hint: add a unit, e.g. "10s"',
        'stack.yml:6:16: error: services.web.healthcheck.timeout: "1x" is not a duration\n    hint: write a number with a unit, e.g. "10s", "1m30s" or "500ms" (units: ns, us, ms, s, m, h)',
        'stack.yml:7:24: error: services.web.stop_grace_period: "-5s" is negative; a duration here must be 0 or more',
        'stack.yml:9:32: error: services.web.deploy.restart_policy.delay: "soon" is not a duration\n    hint: write a number with a unit, e.g. "10s", "1m30s" or "500ms" (units: ns, us, ms, s, m, h)',
        'stack.yml:11:16: error: services.web.mem_limit: "1.5 gigs" is not a byte size\n    hint: write a number of bytes, or a number with a unit b, k, m, g, t (e.g. "512m", "1.5g")',
        'stack.yml:12:20: error: services.web.memswap_limit: -2 is not a byte size\n    hint: write a number of bytes, or a number with a unit b, k, m, g, t (e.g. "512m", "1.5g")',
        'stack.yml:10:38: error: services.web.deploy.resources.limits.memory: "lots" is not a byte size\n    hint: write a number of bytes, or a number with a unit b, k, m, g, t (e.g. "512m", "1.5g")',
        'stack.yml:16:24: error: services.web.volumes[0].tmpfs.size: "huge" is not a byte size\n    hint: write a number of bytes, or a number with a unit b, k, m, g, t (e.g. "512m", "1.5g")',
        'stack.yml:17:13: error: services.web.tmpfs[0]: size=64q is not a byte size\n    hint: write a number of bytes, or a number with a unit b, k, m, g, t (e.g. "size=64m")',
      ]);
    });
  });

  describe("container_name", () => {
    it("reports it on a service with several replicas, from deploy or scale", () => {
      const issues = check(
        yaml(`
          services:
            web: { image: x, container_name: web, deploy: { replicas: 3 } }
            api: { image: x, container_name: api, scale: "2" }
            one: { image: x, container_name: one, deploy: { replicas: 1 } }
        `),
      );
      expect(issues.map((i) => [i.code, formatPath(i.path), i.message])).toEqual([
        [
          "container-name/replicas",
          "services.web.container_name",
          'container_name "web" names a single container, but the service asks for 3 replicas',
        ],
        [
          "container-name/replicas",
          "services.api.container_name",
          'container_name "api" names a single container, but the service asks for 2 replicas',
        ],
      ]);
    });

    it("reports the same name used by two services", () => {
      const issues = check(
        yaml(`
          services:
            web: { image: x, container_name: app }
            api: { image: x, container_name: app }
        `),
      );
      expect(rows(issues)).toEqual([
        {
          severity: "error",
          code: "container-name/duplicate",
          path: "services.api.container_name",
          at: "stack.yml:3:36",
          message: 'container_name "app" is already used by service "web"',
          hint: "container names are unique per host; see services.web.container_name (stack.yml:2:36)",
        },
      ]);
    });
  });

  describe("services and top-level resources", () => {
    it("reports Compose's consistency rules: image or build, network_mode vs networks, healthcheck test, dockerfile", () => {
      const issues = check(
        yaml(`
          services:
            empty: { environment: { A: "1" } }
            host:
              image: x
              network_mode: host
              networks: [default]
            probe:
              image: x
              healthcheck: { test: ["curl", "-f", "http://localhost"] }
            built:
              build: { context: ., dockerfile: Dockerfile, dockerfile_inline: "FROM scratch" }
            provided:
              provider: { type: model }
        `),
      );
      expect(issues.map((i) => `${i.code} ${formatPath(i.path)} ${formatLocation(i.loc)}`)).toEqual([
        "network-mode/conflict services.host.network_mode stack.yml:5:19",
        "service/no-image services.empty stack.yml:2:3",
        "healthcheck/test services.probe.healthcheck.test[0] stack.yml:9:27",
        "build/conflict services.built.build.dockerfile_inline stack.yml:11:50",
      ]);
    });

    it("refuses creation options on an external volume and warns about them on other external resources", () => {
      const issues = check(
        yaml(`
          volumes:
            data: { external: true, driver: local, name: data, x-note: fine }
            old: { external: { name: legacy }, name: other }
          networks:
            edge: { external: true, driver: overlay }
          secrets:
            token: { external: true, labels: { a: b } }
        `),
      );
      expect(rows(issues)).toEqual([
        {
          severity: "error",
          code: "external/conflict",
          path: "volumes.data.driver",
          at: "stack.yml:2:27",
          message:
            'conflicting keys "external" and "driver": an external volume already exists, so it takes no creation options',
          hint: 'remove "driver", or remove "external" to let tsstack create the volume',
        },
        {
          severity: "error",
          code: "external/name-conflict",
          path: "volumes.old.external.name",
          at: "stack.yml:3:22",
          message: "`external.name` and `name` are both set",
          hint: "`external.name` is deprecated: keep only `name`",
        },
        {
          severity: "warning",
          code: "external/ignored",
          path: "networks.edge.driver",
          at: "stack.yml:5:27",
          message: '"driver" is ignored: the network is external, so tsstack does not create it',
          hint: undefined,
        },
        {
          severity: "warning",
          code: "external/ignored",
          path: "secrets.token.labels",
          at: "stack.yml:7:28",
          message: '"labels" is ignored: the secret is external, so tsstack does not create it',
          hint: undefined,
        },
      ]);
    });

    it("requires exactly one content source for secrets and configs", () => {
      const issues = check(
        yaml(`
          secrets:
            empty: { labels: { a: b } }
            both: { file: ./a, environment: A }
            by_driver: { driver: vault }
          configs:
            inline: { content: "x" }
            twice: { file: ./a, content: "x" }
        `),
      );
      expect(issues.map((i) => `${i.code} ${formatPath(i.path)} ${i.message}`)).toEqual([
        'secret/source secrets.empty secret "empty" has no content: set one of `file`, `environment`, or mark it `external: true`',
        "secret/source secrets.both.environment `file`, `environment` are mutually exclusive, but `file` and `environment` are set",
        "config/source configs.twice.content `file`, `environment`, `content` are mutually exclusive, but `file` and `content` are set",
      ]);
    });
  });

  it("reports every problem of a file at once", () => {
    const issues = check(
      yaml(`
        services:
          web:
            image: nginx
            depends_on: [db]
            networks: [back]
            ports: ["80:80"]
            stop_grace_period: 10
          proxy:
            image: nginx
            ports: ["80:8080"]
            volumes: [cache:/cache]
      `),
    );
    expect(issues.map((i) => i.code)).toEqual([
      "depends-on/unknown-service",
      "reference/undeclared-network",
      "reference/undeclared-volume",
      "ports/duplicate",
    ]);
    // stop_grace_period: 10 is a number: a schema error, not reported twice here.
  });

  it("skips malformed parts instead of throwing", () => {
    const issues = check(
      yaml(`
        services:
          web: 3
          api: { image: x, depends_on: 7, ports: 80, volumes: { a: b }, networks: "x", deploy: [] }
        networks: [a]
      `),
    );
    expect(issues).toEqual([]);
  });

  it("follows a depends_on chain far deeper than the call stack", () => {
    // 100,000 services, each depending on the next; the last two form a cycle.
    const n = 100_000;
    const services: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      services[`s${i}`] = { image: "x", depends_on: [`s${i + 1 < n ? i + 1 : n - 2}`] };
    }
    const diags = new Diagnostics();
    checkSemantics(deepFreeze({ services }), { sources: new SourceMap(), diags });
    expect(diags.issues.map((i) => [i.code, i.message])).toEqual([
      ["depends-on/cycle", `dependency cycle: s${n - 2} -> s${n - 1} -> s${n - 2}`],
    ]);
  });

  it("finds the one clash among many published ports", () => {
    const n = 20_000;
    const services: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) services[`s${i}`] = { image: "x", ports: [`${1024 + i}:80`] };
    services["late"] = { image: "x", ports: ["127.0.0.1:1030:80/tcp", "1030:80/udp"] };
    const diags = new Diagnostics();
    checkSemantics(deepFreeze({ services }), { sources: new SourceMap(), diags });
    expect(diags.issues.map((i) => [i.code, formatPath(i.path), i.message])).toEqual([
      [
        "ports/duplicate",
        "services.late.ports[0]",
        "host port 127.0.0.1:1030/tcp is already published by services.s6.ports[0]",
      ],
    ]);
  });

  it.each([
    ["data:/srv", "data"],
    ["data:/srv:ro", "data"],
    ["./data:/srv", undefined],
    ["/abs:/srv", undefined],
    ["~/x:/srv", undefined],
    ["C:\\data:/srv", undefined],
    ["\\\\server\\share:/srv", undefined],
    ["/only-a-target", undefined],
    [{ type: "volume", source: "logs", target: "/l" }, "logs"],
    [{ type: "bind", source: "logs", target: "/l" }, undefined],
  ] as const)("reads the named volume of %j", (entry, expected) => {
    expect(namedVolumeSource(entry)).toBe(expected);
  });
});

describe.skipIf(!haveCorpora)("checkSemantics on compose-go test files", () => {
  const load = (file: string) => check(readFileSync(file, "utf8"), file.split("/").pop());

  it("finds the cycle of compose-depends-on-cycle.yaml", () => {
    const issues = load(corpus("compose-go/loader/testdata/compose-depends-on-cycle.yaml"));
    expect(issues.map((i) => formatIssue(i))).toEqual([
      "compose-depends-on-cycle.yaml:14:9: error: services.service3.depends_on[0]: dependency cycle: service1 -> service2 -> service3 -> service1\n    hint: services in a cycle can never start; remove one of these dependencies",
    ]);
  });

  it("finds the self-dependency of compose-depends-on-self.yaml", () => {
    const issues = load(corpus("compose-go/loader/testdata/compose-depends-on-self.yaml"));
    expect(issues.map((i) => i.code)).toEqual(["depends-on/self"]);
  });

  it("accepts the implicit dependencies of extends/depends_on.yaml", () => {
    expect(load(corpus("compose-go/loader/testdata/extends/depends_on.yaml"))).toEqual([]);
  });

  it("reports exactly the inconsistencies of compose-go's full example", () => {
    // The full example exercises every attribute, not a runnable project (compose-go loads it with
    // the consistency check off): these are the references it leaves dangling and the rules it
    // breaks. Its ports, volumes, durations, sizes and external resources must raise nothing.
    const issues = load(corpus("compose-go-full-example/loader/full-example.yml"));
    expect(issues.map((i) => `${i.code} ${formatPath(i.path)} ${formatLocation(i.loc)}`)).toEqual([
      "depends-on/unknown-service services.foo.depends_on[0] full-example.yml:69:9",
      "depends-on/unknown-service services.foo.depends_on[1] full-example.yml:70:9",
      "reference/unknown-service services.foo.links[0] full-example.yml:218:8",
      "reference/unknown-service services.foo.links[1] full-example.yml:219:8",
      "reference/unknown-service services.foo.links[2] full-example.yml:220:8",
      "reference/undeclared-network services.foo.networks.other-other-network full-example.yml:247:7",
      "network-mode/conflict services.foo.network_mode full-example.yml:236:19",
      "reference/undeclared-volume services.foo.volumes[5] full-example.yml:318:9",
      "container-name/replicas services.foo.container_name full-example.yml:66:21",
    ]);
  });
});
