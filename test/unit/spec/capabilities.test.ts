import { describe, expect, it } from "vitest";
import { SUPPORTED, warnUnsupported, type Support } from "../../../src/spec/capabilities.js";
import { Diagnostics, formatIssue, type SpecIssue } from "../../../src/spec/diagnostics.js";
import { parseYaml } from "../../../src/spec/parse.js";
import composeSpec from "../../../src/spec/schema/compose-spec.json" with { type: "json" };
import { SourceMap } from "../../../src/spec/source.js";
import { deepFreeze } from "./frozen.js";

/** Drops the first newline and the common indentation, so line 1 is the first line of YAML. */
function yaml(text: string): string {
  const lines = text.replace(/^\n/, "").split("\n");
  const indent = Math.min(...lines.filter((l) => l.trim() !== "").map((l) => /^ */.exec(l)?.[0].length ?? 0));
  return lines.map((l) => l.slice(indent)).join("\n");
}

function warnings(text: string, supported?: Support): SpecIssue[] {
  const sources = new SourceMap();
  const diags = new Diagnostics();
  const { value } = parseYaml(yaml(text), "stack.yml", sources, diags);
  expect(diags.issues).toEqual([]);
  const snapshot = structuredClone(value);
  warnUnsupported(deepFreeze(value), { sources, diags }, supported);
  expect(value).toEqual(snapshot);
  return diags.issues;
}

describe("warnUnsupported", () => {
  it("stays silent for a stack that uses only what tsstack acts on", () => {
    const issues = warnings(`
      name: shop
      services:
        web:
          image: nginx
          command: ["nginx", "-g", "daemon off;"]
          environment: { A: "1" }
          ports: ["80:80", { target: 443, published: 443, protocol: tcp }]
          volumes: [data:/srv, { type: bind, source: ./conf, target: /conf, bind: { create_host_path: true } }]
          networks: { front: { aliases: [www] } }
          depends_on: [db]
          healthcheck: { test: ["CMD", "true"], interval: 10s }
          deploy:
            replicas: 2
            resources: { limits: { cpus: "0.5", memory: 256m } }
            update_config: { parallelism: 1 }
          restart: unless-stopped
        db:
          image: postgres
          networks: [front]
      networks:
        front: { driver: bridge, ipam: { config: [{ subnet: 10.1.0.0/24 }] } }
      volumes:
        data:
    `);
    expect(issues).toEqual([]);
  });

  it("warns about a key it does not act on, naming the key at its position", () => {
    const issues = warnings(`
      services:
        web:
          image: nginx
          ipc: host
    `);
    expect(issues).toEqual([
      {
        severity: "warning",
        code: "capability/unsupported",
        path: ["services", "web", "ipc"],
        message: "tsstack does not act on `services.web.ipc` yet; it is ignored",
        loc: { file: "stack.yml", line: 4, col: 5 },
        hint: undefined,
      },
    ]);
  });

  it("warns once for a key, not for the values nested under it", () => {
    const issues = warnings(`
      services:
        web:
          image: nginx
          logging:
            driver: syslog
            options: { syslog-address: "tcp://10.0.0.1:514" }
    `);
    expect(issues.map((i) => formatIssue(i))).toEqual([
      "stack.yml:4:5: warning: services.web.logging: tsstack does not act on `services.web.logging` yet; it is ignored",
    ]);
  });

  it("warns once per key path across the items of a list, at the first item using it", () => {
    const issues = warnings(`
      services:
        web:
          image: nginx
          volumes:
            - ./a:/a
            - { type: bind, source: ./b, target: /b, consistency: cached }
            - { type: bind, source: ./c, target: /c, consistency: delegated }
    `);
    expect(issues.map((i) => formatIssue(i))).toEqual([
      "stack.yml:6:48: warning: services.web.volumes[1].consistency: tsstack does not act on `services.web.volumes[1].consistency` yet; it is ignored\n    hint: `consistency` only matters to Docker Desktop on macOS",
    ]);
  });

  it("warns separately for the same key in two services", () => {
    const issues = warnings(`
      services:
        web: { image: nginx, pid: host }
        api: { image: api, pid: host }
    `);
    expect(issues.map((i) => i.message)).toEqual([
      "tsstack does not act on `services.web.pid` yet; it is ignored",
      "tsstack does not act on `services.api.pid` yet; it is ignored",
    ]);
  });

  it("explains keys that are not supported yet, such as build", () => {
    const issues = warnings(`
      services:
        web:
          build: .
    `);
    expect(issues.map((i) => [i.code, i.message, i.hint])).toEqual([
      [
        "capability/unsupported",
        "tsstack does not act on `services.web.build` yet; it is ignored",
        "tsstack does not build images yet; build the image elsewhere and set `image`",
      ],
    ]);
  });

  it("checks nested tables: deploy, service networks, top-level resources", () => {
    const issues = warnings(`
      services:
        web:
          image: nginx
          deploy:
            endpoint_mode: dnsrr
            resources: { reservations: { devices: [{ capabilities: [gpu] }] } }
          networks:
            front: { mac_address: "02:42:ac:11:00:02" }
      networks:
        front: { driver_opts: { mtu: 1400 } }
      volumes:
        data: { driver_opts: { type: nfs } }
      secrets:
        token: { file: ./t, template_driver: golang }
      models:
        llm: { model: ai/smollm2 }
    `);
    expect(issues.map((i) => `${i.code} ${i.path.join(".")}`)).toEqual([
      "capability/unsupported services.web.deploy.endpoint_mode",
      "capability/unsupported services.web.deploy.resources.reservations.devices",
      "capability/unsupported services.web.networks.front.mac_address",
      "capability/unsupported networks.front.driver_opts",
      "capability/unsupported volumes.data.driver_opts",
      "capability/unsupported secrets.token.template_driver",
      "capability/unsupported models",
    ]);
  });

  it("never warns about x- extensions, at any level", () => {
    const issues = warnings(`
      x-defaults: { ipc: host }
      services:
        web:
          image: nginx
          x-owner: team-a
          deploy: { x-tier: gold, replicas: 1 }
      networks:
        front: { x-note: lan }
    `);
    expect(issues).toEqual([]);
  });

  it("leaves the obsolete version attribute to the loader's own warning", () => {
    const issues = warnings(`
      version: "3.8"
      services:
        web: { image: nginx }
    `);
    expect(issues).toEqual([]);
  });

  it("follows the support table it is given", () => {
    const text = `
      services:
        web: { image: nginx, ipc: host }
    `;
    const withIpc: Support = { keys: { services: { each: { keys: { image: true, ipc: true } } } } };
    const withoutImage: Support = { keys: { services: { each: { keys: { ipc: true } } } } };
    expect(warnings(text, withIpc)).toEqual([]);
    expect(warnings(text, withoutImage).map((i) => i.path.join("."))).toEqual(["services.web.image"]);
  });
});

describe("SUPPORTED", () => {
  /** Every key path the table names, with `[]` for entries of `each`. */
  function paths(support: Support, prefix: string[] = []): string[][] {
    if (typeof support !== "object") return [];
    if ("each" in support) return paths(support.each, [...prefix, "*"]);
    return Object.entries(support.keys).flatMap(([k, s]) => [[...prefix, k], ...paths(s, [...prefix, k])]);
  }

  interface Node {
    $ref?: string;
    properties?: Record<string, Node>;
    patternProperties?: Record<string, Node>;
    items?: Node;
    oneOf?: Node[];
  }
  const root = composeSpec as Node & { $defs: Record<string, Node> };
  const deref = (n: Node): Node =>
    n.$ref === undefined ? n : deref(root.$defs[n.$ref.split("/").pop() ?? ""] ?? {});
  /** The schema nodes a path can reach (following `$ref`, `oneOf`, list items and name patterns). */
  function reach(nodes: Node[], seg: string): Node[] {
    const expand = (n: Node): Node[] => {
      const d = deref(n);
      return [d, ...(d.oneOf ?? []).flatMap(expand), ...(d.items === undefined ? [] : expand(d.items))];
    };
    return nodes.flatMap(expand).flatMap((n) => {
      if (seg === "*")
        return Object.values(n.patternProperties ?? {}).concat(n.items === undefined ? [] : [n.items]);
      const p = n.properties?.[seg];
      return p === undefined ? [] : [p];
    });
  }

  it("names only keys that exist in the Compose schema, at the place it names them", () => {
    const exists = (p: string[]): boolean =>
      p.reduce<Node[]>((nodes, seg) => reach(nodes, seg), [root]).length > 0;
    // The lookup itself tells real paths from wrong ones…
    expect(exists(["services", "*", "deploy", "resources", "limits", "memory"])).toBe(true);
    expect(exists(["services", "*", "volumes", "*", "bind", "create_host_path"])).toBe(true);
    expect(exists(["services", "*", "imgae"])).toBe(false);
    expect(exists(["networks", "*", "aliases"])).toBe(false);
    // …and every path of the table is real.
    expect(paths(SUPPORTED).filter((p) => !exists(p))).toEqual([]);
  });

  it("covers the service keys tsstack is built to honour", () => {
    const service = paths(SUPPORTED)
      .filter((p) => p.length === 3 && p[0] === "services")
      .map((p) => p[2]);
    expect(service).toEqual(
      expect.arrayContaining([
        "image",
        "command",
        "entrypoint",
        "environment",
        "env_file",
        "ports",
        "volumes",
        "networks",
        "depends_on",
        "healthcheck",
        "restart",
        "deploy",
        "labels",
        "container_name",
        "secrets",
        "configs",
        "profiles",
        "extends",
      ]),
    );
  });
});
