import { describe, expect, it } from "vitest";
import { Diagnostics } from "../../../src/spec/diagnostics.js";
import {
  normalize,
  parsePortSpec,
  parseVolumeSpec,
  splitShellWords,
  type NormalizeContext,
} from "../../../src/spec/normalize.js";
import { parseYaml } from "../../../src/spec/parse.js";
import { SourceMap } from "../../../src/spec/source.js";
import type { ServiceSpec, StackSpec } from "../../../src/spec/types.js";
import { deepFreeze } from "./frozen.js";

interface Setup {
  env?: Record<string, string>;
  files?: Record<string, string>;
  implicit?: boolean;
}

function load(yaml: string, setup: Setup = {}): { spec: StackSpec; diags: Diagnostics; model: unknown } {
  const sources = new SourceMap();
  const diags = new Diagnostics();
  const { value } = parseYaml(yaml, "stack.yml", sources, diags);
  expect(diags.issues).toEqual([]);
  const files = setup.files ?? {};
  const ctx: NormalizeContext = {
    sources,
    diags,
    projectName: "proj",
    workingDir: "/proj",
    homeDir: "/home/u",
    lookup: (name) => setup.env?.[name],
    readFile: (path) => {
      const text = files[path];
      if (text === undefined)
        throw Object.assign(new Error(`ENOENT: no such file ${path}`), { code: "ENOENT" });
      return text;
    },
    implicit: setup.implicit ?? false,
  };
  const snapshot = structuredClone(value);
  const spec = normalize(deepFreeze(value) as Record<string, unknown>, ctx);
  expect(value).toEqual(snapshot);
  return { spec, diags, model: value };
}

/** Normalizes `services: {s: <service>}` and returns service `s`, asserting no problem was reported. */
function service(body: string, setup: Setup = {}): ServiceSpec {
  const indented = body
    .trim()
    .split("\n")
    .map((l) => `    ${l}`)
    .join("\n");
  const { spec, diags } = load(`services:\n  s:\n${indented}\n`, setup);
  expect(diags.issues).toEqual([]);
  const s = spec.services["s"];
  if (s === undefined) throw new Error("service s missing");
  return s;
}

function errors(yaml: string, setup: Setup = {}): Diagnostics["issues"] {
  return load(yaml, setup).diags.issues.filter((i) => i.severity === "error");
}

describe("ports", () => {
  it.each([
    ["a bare number", "3000", [{ mode: "ingress", target: 3000, protocol: "tcp" }]],
    [
      "a container range, one entry per port",
      '"3001-3002"',
      [
        { mode: "ingress", target: 3001, protocol: "tcp" },
        { mode: "ingress", target: 3002, protocol: "tcp" },
      ],
    ],
    ["host:container", '"8000:80"', [{ mode: "ingress", target: 80, published: "8000", protocol: "tcp" }]],
    [
      "paired ranges",
      '"9090-9091:8080-8081"',
      [
        { mode: "ingress", target: 8080, published: "9090", protocol: "tcp" },
        { mode: "ingress", target: 8081, published: "9091", protocol: "tcp" },
      ],
    ],
    [
      "an IP, ranges and a protocol",
      '"127.0.0.1:5000-5001:5000-5001/udp"',
      [
        { mode: "ingress", host_ip: "127.0.0.1", target: 5000, published: "5000", protocol: "udp" },
        { mode: "ingress", host_ip: "127.0.0.1", target: 5001, published: "5001", protocol: "udp" },
      ],
    ],
    [
      "a bracketed IPv6 address",
      '"[::1]:8080:80"',
      [{ mode: "ingress", host_ip: "::1", target: 80, published: "8080", protocol: "tcp" }],
    ],
    [
      "a host range for one container port (allocated from)",
      '"8000-8010:80"',
      [{ mode: "ingress", target: 80, published: "8000-8010", protocol: "tcp" }],
    ],
    [
      "an IP without host port",
      '"127.0.0.1::80"',
      [{ mode: "ingress", host_ip: "127.0.0.1", target: 80, protocol: "tcp" }],
    ],
    [
      "the long syntax, with defaults and a numeric published port",
      "{target: 80, published: 8080, x-note: hi}",
      [{ mode: "ingress", target: 80, published: "8080", protocol: "tcp", extensions: { "x-note": "hi" } }],
    ],
    [
      "the long syntax, explicit",
      "{target: 53, published: '53', protocol: udp, mode: host, host_ip: 0.0.0.0, name: dns, app_protocol: dns}",
      [
        {
          name: "dns",
          mode: "host",
          host_ip: "0.0.0.0",
          target: 53,
          published: "53",
          protocol: "udp",
          app_protocol: "dns",
        },
      ],
    ],
  ])("expands %s", (_what, item, want) => {
    expect(service(`image: x\nports: [${item}]`).ports).toEqual(want);
  });

  it("orders a range the way compose-go does: by the text port/proto", () => {
    const ports = parsePortSpec("998-1001");
    expect(typeof ports === "string" ? ports : ports.map((p) => p.target)).toEqual([1000, 1001, 998, 999]);
  });

  it.each([
    ["80:80:80:80", "invalid IP address: 80:80"],
    ["abc", "invalid container port: abc"],
    ["8000-8001:80-82", "invalid ranges specified for container and host ports: 80-82 and 8000-8001"],
    ["80/foo", "invalid protocol: foo"],
    ["70000", "invalid container port: 70000"],
    ["90-80", "invalid container port: 90-80"],
    ["8080:", "no container port specified"],
  ])("rejects %j", (spec, message) => {
    expect(parsePortSpec(spec)).toBe(message);
  });

  it("reports a malformed port at its position and keeps the others", () => {
    const { spec, diags } = load(
      'services:\n  s:\n    image: x\n    ports:\n      - "80"\n      - "80:80:80:80"\n',
    );
    expect(spec.services["s"]?.ports).toEqual([{ mode: "ingress", target: 80, protocol: "tcp" }]);
    expect(diags.issues).toMatchObject([
      {
        severity: "error",
        code: "normalize/port",
        path: ["services", "s", "ports", 1],
        message: 'invalid port "80:80:80:80": invalid IP address: 80:80',
        loc: { file: "stack.yml", line: 6, col: 9 },
      },
    ]);
  });
});

describe("volumes", () => {
  it.each([
    ["an anonymous volume", "/var/lib/anon", { type: "volume", target: "/var/lib/anon", volume: {} }],
    [
      "a named volume",
      "data:/var/lib/data",
      { type: "volume", source: "data", target: "/var/lib/data", volume: {} },
    ],
    [
      "a relative bind, made absolute, creating the host path",
      "./static:/www",
      { type: "bind", source: "/proj/static", target: "/www", bind: { create_host_path: true } },
    ],
    [
      "the project directory",
      ".:/code",
      { type: "bind", source: "/proj", target: "/code", bind: { create_host_path: true } },
    ],
    [
      "a home-relative read-only bind",
      "~/configs:/etc/configs:ro",
      {
        type: "bind",
        source: "/home/u/configs",
        target: "/etc/configs",
        read_only: true,
        bind: { create_host_path: true },
      },
    ],
    [
      "SELinux and propagation options",
      "/a:/b:rw,z,rshared",
      {
        type: "bind",
        source: "/a",
        target: "/b",
        bind: { selinux: "z", propagation: "rshared", create_host_path: true },
      },
    ],
    ["nocopy", "data:/d:nocopy", { type: "volume", source: "data", target: "/d", volume: { nocopy: true } }],
    [
      "a target with a trailing slash, cleaned",
      "data:/d/x/",
      { type: "volume", source: "data", target: "/d/x", volume: {} },
    ],
  ])("expands %s", (_what, item, want) => {
    expect(service(`image: x\nvolumes: [${JSON.stringify(item)}]`).volumes).toEqual([want]);
  });

  it("resolves a long-syntax bind source and defaults create_host_path only when `bind` is given", () => {
    const s = service(`
image: x
volumes:
  - {type: bind, source: ./opt, target: /opt, consistency: cached}
  - {type: bind, source: /etc, target: /e, read_only: "true", bind: {propagation: shared}}
  - {type: bind, source: /x, target: /x, bind: {create_host_path: false}}
  - {type: tmpfs, target: /t, tmpfs: {size: 1m, mode: "1777"}}
  - {type: volume, source: data, target: /d, volume: {nocopy: true, subpath: sub, labels: [a=b]}}
`);
    expect(s.volumes).toEqual([
      { type: "bind", source: "/proj/opt", target: "/opt", consistency: "cached" },
      {
        type: "bind",
        source: "/etc",
        target: "/e",
        read_only: true,
        bind: { propagation: "shared", create_host_path: true },
      },
      { type: "bind", source: "/x", target: "/x", bind: { create_host_path: false } },
      { type: "tmpfs", target: "/t", tmpfs: { size: 1048576, mode: 0o1777 } },
      {
        type: "volume",
        source: "data",
        target: "/d",
        volume: { nocopy: true, subpath: "sub", labels: { a: "b" } },
      },
    ]);
  });

  it.each([
    ["/a::/b", "empty section between colons"],
    ["/a:/b:ro:x", "too many colons"],
  ])("rejects %j", (spec, message) => {
    expect(parseVolumeSpec(spec)).toBe(message);
  });

  it("keeps colons inside ${…} (left by $${…} escapes) in one section", () => {
    expect(parseVolumeSpec("${A:-x}:/d")).toMatchObject({ source: "${A:-x}", target: "/d" });
  });
});

describe("depends_on", () => {
  it("turns a list into started-and-required dependencies", () => {
    expect(service("image: x\ndepends_on: [db, cache]").depends_on).toEqual({
      db: { condition: "service_started", required: true },
      cache: { condition: "service_started", required: true },
    });
  });

  it("fills the defaults of the long syntax and keeps what is set", () => {
    expect(
      service(
        "image: x\ndepends_on: {db: {condition: service_healthy, restart: true}, c: {condition: service_started, required: false}}",
      ).depends_on,
    ).toEqual({
      db: { condition: "service_healthy", restart: true, required: true },
      c: { condition: "service_started", required: false },
    });
  });

  it("adds the dependencies links and service: references imply, when implicit", () => {
    const s = service(
      "image: x\nlinks: ['db:database']\nipc: 'service:shm'\nvolumes_from: [data, 'container:c']\ndepends_on: [db]",
      {
        implicit: true,
      },
    );
    expect(s.depends_on).toEqual({
      db: { condition: "service_started", required: true },
      shm: { condition: "service_started", restart: true, required: true },
      data: { condition: "service_started", restart: false, required: true },
    });
  });
});

describe("environment", () => {
  it("turns a list into a mapping, resolving bare keys and dropping unset ones", () => {
    const s = service("image: x\nenvironment: [A=1, B=, 'C=x=y', FROM_ENV, UNSET]", {
      env: { FROM_ENV: "e" },
    });
    expect(s.environment).toEqual({ A: "1", B: "", C: "x=y", FROM_ENV: "e" });
  });

  it("stringifies mapping values and resolves null ones", () => {
    const s = service("image: x\nenvironment: {N: 42, T: true, F: 1.5, Q: null, U: null}", {
      env: { Q: "q" },
    });
    expect(s.environment).toEqual({ N: "42", T: "true", F: "1.5", Q: "q" });
  });

  it("merges env_file contents under environment, in file order", () => {
    const s = service(
      `
image: x
env_file: [a.env, {path: ./b.env, required: false}, {path: missing.env, required: false}]
environment: {OWN: own, SHARED: service}
`,
      {
        env: { HOST: "h" },
        files: {
          "/proj/a.env": "A=1\nSHARED=a\nFROM_HOST=${HOST}\n",
          "/proj/b.env": "B=${A}-2\nSHARED=b\n",
        },
      },
    );
    expect(s.environment).toEqual({ A: "1", SHARED: "service", FROM_HOST: "h", B: "1-2", OWN: "own" });
    expect(s.env_file).toEqual([
      { path: "/proj/a.env", required: true },
      { path: "/proj/b.env", required: false },
      { path: "/proj/missing.env", required: false },
    ]);
  });

  it("accepts env_file as one string", () => {
    const s = service("image: x\nenv_file: .env", { files: { "/proj/.env": "K=v" } });
    expect(s).toMatchObject({ env_file: [{ path: "/proj/.env", required: true }], environment: { K: "v" } });
  });

  it("reports a missing required env file, and a malformed one, at the env_file entry", () => {
    const issues = errors(
      "services:\n  s:\n    image: x\n    env_file:\n      - gone.env\n      - bad.env\n",
      {
        files: { "/proj/bad.env": "A='unterminated\n" },
      },
    );
    expect(issues).toMatchObject([
      {
        code: "normalize/env-file-missing",
        message: "env file /proj/gone.env not found",
        loc: { line: 5, col: 9 },
      },
      { code: "normalize/env-file-invalid", path: ["services", "s", "env_file", 1], loc: { line: 6 } },
    ]);
  });
});

describe("labels and other key=value lists", () => {
  it("turns label lists into mappings, a bare key meaning the empty string", () => {
    const s = service("image: x\nlabels: [a=1, b]\nannotations: [c=d]\nsysctls: ['net.core.somaxconn=1024']");
    expect(s).toMatchObject({
      labels: { a: "1", b: "" },
      annotations: { c: "d" },
      sysctls: { "net.core.somaxconn": "1024" },
    });
  });

  it("stringifies label values and reads null as the empty string", () => {
    expect(service("image: x\nlabels: {n: 42, e: null, b: false}").labels).toEqual({
      n: "42",
      e: "",
      b: "false",
    });
  });

  it("merges label_file contents under labels", () => {
    const s = service("image: x\nlabel_file: [a.label, ./b.label]\nlabels: {OWN: x, B: own}", {
      files: { "/proj/a.label": "A=1\nB=a\n", "/proj/b.label": "C=${A}\n" },
    });
    expect(s.labels).toEqual({ A: "1", B: "own", C: "1", OWN: "x" });
    expect(s.label_file).toEqual(["/proj/a.label", "/proj/b.label"]);
  });

  it("reports a missing label file", () => {
    expect(errors("services:\n  s:\n    image: x\n    label_file: nope.label\n")).toMatchObject([
      { code: "normalize/label-file-missing", message: "label file /proj/nope.label not found" },
    ]);
  });

  it("converts deploy and build label lists too", () => {
    const s = service(
      "build: {context: ., labels: [a=b], args: [A=1, FROM_ENV, UNSET]}\ndeploy: {labels: [x=y]}",
      {
        env: { FROM_ENV: "e" },
      },
    );
    expect(s.build).toMatchObject({ labels: { a: "b" }, args: { A: "1", FROM_ENV: "e" } });
    expect(s.deploy?.labels).toEqual({ x: "y" });
  });
});

describe("extra_hosts", () => {
  it("renders hosts as host=ip, from lists with either separator and from mappings", () => {
    const s = service("image: x\nextra_hosts: ['a:1.2.3.4', 'b=::1', 'c=[::2]', 'd:10.0.0.1,10.0.0.2']");
    expect(s.extra_hosts).toEqual(["a=1.2.3.4", "b=::1", "c=::2", "d=10.0.0.1", "d=10.0.0.2"]);
    const m = service("image: x\nextra_hosts: {a: 1.2.3.4, b: ['::1', '10.0.0.1']}");
    expect(m.extra_hosts).toEqual(["a=1.2.3.4", "b=::1", "b=10.0.0.1"]);
  });

  it("rejects an entry without address", () => {
    expect(errors("services:\n  s:\n    image: x\n    extra_hosts: [nohost]\n")).toMatchObject([
      { code: "normalize/extra-hosts", message: 'invalid extra host "nohost": missing IP address' },
    ]);
  });
});

describe("command and entrypoint", () => {
  it.each([
    ["bundle exec thin -p 3000", ["bundle", "exec", "thin", "-p", "3000"]],
    [`sh -c 'echo "a b" && exit 1'`, ["sh", "-c", 'echo "a b" && exit 1']],
    [`echo "x\\"y" a\\ b ''`, ["echo", 'x"y', "a b", ""]],
    ["  spaced   out  ", ["spaced", "out"]],
    ["echo $(date) `x`", ["echo", "$(date)", "`x`"]],
  ])("splits %j like go-shellwords", (line, args) => {
    expect(splitShellWords(line)).toEqual({ args });
  });

  it("stops at an unquoted shell operator, as Compose does, and warns", () => {
    expect(splitShellWords("echo a && echo b")).toEqual({ args: ["echo", "a"], rest: "&& echo b" });
    expect(splitShellWords("run 2>err.log")).toEqual({ args: ["run"], rest: "2>err.log" });
    const { spec, diags } = load("services:\n  s:\n    image: x\n    command: echo a | wc\n");
    expect(spec.services["s"]?.command).toEqual(["echo", "a"]);
    expect(diags.issues).toMatchObject([{ severity: "warning", code: "normalize/command-shell-operator" }]);
  });

  it.each(["echo 'open", 'echo "open', "echo (x)", "trailing\\"])("rejects %j", (line) => {
    expect(splitShellWords(line)).toHaveProperty("error");
  });

  it("keeps lists, and an empty command as an explicit empty list", () => {
    expect(service("image: x\ncommand: [a, 'b c']\nentrypoint: ''")).toMatchObject({
      command: ["a", "b c"],
      entrypoint: [],
    });
  });

  it("reports an unsplittable command", () => {
    expect(errors('services:\n  s:\n    image: x\n    entrypoint: "sh -c \'x"\n')).toMatchObject([
      { code: "normalize/command", path: ["services", "s", "entrypoint"], loc: { line: 4, col: 17 } },
    ]);
  });
});

describe("healthcheck", () => {
  it("runs a string test in the shell and converts durations to milliseconds", () => {
    expect(
      service(
        "image: x\nhealthcheck: {test: 'curl -f http://localhost', interval: 1m30s, timeout: 500ms, start_period: 1s, start_interval: 5s, retries: '3'}",
      ).healthcheck,
    ).toEqual({
      test: ["CMD-SHELL", "curl -f http://localhost"],
      interval: 90_000,
      timeout: 500,
      start_period: 1000,
      start_interval: 5000,
      retries: 3,
    });
  });

  it("turns disable: true into test [NONE]", () => {
    expect(service("image: x\nhealthcheck: {disable: true}").healthcheck).toEqual({ test: ["NONE"] });
  });

  it("reports a duration without unit at its position", () => {
    expect(errors("services:\n  s:\n    image: x\n    stop_grace_period: 10\n")).toMatchObject([
      { code: "normalize/type", loc: { line: 4, col: 24 } },
    ]);
    expect(errors("services:\n  s:\n    image: x\n    healthcheck: {interval: '10'}\n")).toMatchObject([
      {
        code: "normalize/duration",
        message: 'invalid duration "10"',
        path: ["services", "s", "healthcheck", "interval"],
      },
    ]);
  });
});

describe("secrets and configs", () => {
  it("expands names to mounts; secrets default to /run/secrets/<name>", () => {
    const s = service(
      "image: x\nsecrets: [db, {source: api, target: key, uid: 103, mode: '0440'}]\nconfigs: [c, {source: d, mode: 0644}]",
    );
    expect(s.secrets).toEqual([
      { source: "db", target: "/run/secrets/db" },
      { source: "api", target: "key", uid: "103", mode: 0o440 },
    ]);
    expect(s.configs).toEqual([{ source: "c" }, { source: "d", mode: 0o644 }]);
  });

  it("rejects a mode that is not octal", () => {
    expect(errors("services:\n  s:\n    image: x\n    secrets: [{source: a, mode: '0999'}]\n")).toMatchObject(
      [{ code: "normalize/file-mode" }],
    );
  });
});

describe("build", () => {
  it.each([
    ["a string context", "build: ./dir", { context: "/proj/dir", dockerfile: "Dockerfile" }],
    [
      "a mapping without context",
      "build: {target: t}",
      { context: "/proj", dockerfile: "Dockerfile", target: "t" },
    ],
    [
      "an inline Dockerfile",
      "build: {dockerfile_inline: 'FROM x'}",
      { context: "/proj", dockerfile_inline: "FROM x" },
    ],
    [
      "a git context",
      "build: 'https://github.com/a/b.git#main'",
      { context: "https://github.com/a/b.git#main", dockerfile: "Dockerfile" },
    ],
    [
      "ssh keys, additional contexts and sizes",
      "build: {context: ., ssh: [default, 'k=/key'], additional_contexts: ['a=./a', 'b=docker-image://x'], shm_size: 1g, secrets: [s]}",
      {
        context: "/proj",
        dockerfile: "Dockerfile",
        ssh: [{ id: "default" }, { id: "k", path: "/key" }],
        additional_contexts: { a: "/proj/a", b: "docker-image://x" },
        shm_size: 1024 ** 3,
        secrets: [{ source: "s" }],
      },
    ],
  ])("expands %s", (_what, body, want) => {
    expect(service(body).build).toEqual(want);
  });
});

describe("strings and lists", () => {
  it("turns single strings into lists and numbers into strings", () => {
    const s = service(
      "image: x\ntmpfs: /run\ndns: 8.8.8.8\ndns_search: example.com\nexpose: [3000, '8000-8001']\ngroup_add: [100]",
    );
    expect(s).toMatchObject({
      tmpfs: ["/run"],
      dns: ["8.8.8.8"],
      dns_search: ["example.com"],
      expose: ["3000", "8000-8001"],
      group_add: ["100"],
    });
  });

  it("casts boolean and number strings left by interpolation", () => {
    const s = service("image: x\nprivileged: 'true'\ntty: 'no'\ncpus: '1.5'\nscale: '2'\ninit: 'yes'");
    expect(s).toMatchObject({ privileged: true, tty: false, cpus: 1.5, scale: 2, init: true });
  });

  it("reports a boolean it cannot read", () => {
    expect(errors("services:\n  s:\n    image: x\n    privileged: 'maybe'\n")).toMatchObject([
      { code: "normalize/type", message: 'must be a boolean (true or false), not the string "maybe"' },
    ]);
  });

  it("normalizes ulimits, devices and gpus", () => {
    const s = service(
      "image: x\nulimits: {nproc: 65535, nofile: {soft: 1, hard: 2}}\ndevices: ['/dev/a', '/dev/b:/dev/c:r']\ngpus: all",
    );
    expect(s.ulimits).toEqual({ nproc: { soft: 65535, hard: 65535 }, nofile: { soft: 1, hard: 2 } });
    expect(s.devices).toEqual([
      { source: "/dev/a", target: "/dev/a", permissions: "rwm" },
      { source: "/dev/b", target: "/dev/c", permissions: "r" },
    ]);
    expect(s.gpus).toEqual([{ count: "all" }]);
  });

  it("renames pull_policy if_not_present to missing", () => {
    expect(service("image: x\npull_policy: if_not_present").pull_policy).toBe("missing");
  });
});

describe("units", () => {
  it("converts deploy durations, sizes and CPU strings", () => {
    const s = service(`
image: x
mem_limit: 1g
memswap_limit: -1
shm_size: 64M
stop_grace_period: 20s
deploy:
  replicas: 2
  resources:
    limits: {cpus: '0.5', memory: 50M, pids: 10}
    reservations: {memory: 20M, devices: [{capabilities: [gpu]}, {capabilities: [gpu], device_ids: ['0']}]}
  restart_policy: {condition: on-failure, delay: 5s, max_attempts: 3, window: 2m}
  update_config: {parallelism: 2, delay: 10s, monitor: 60s, max_failure_ratio: 0.3, order: start-first}
  placement: {constraints: [node.role==manager], preferences: [{spread: node.labels.az}], max_replicas_per_node: 1}
`);
    expect(s).toMatchObject({
      mem_limit: 1024 ** 3,
      memswap_limit: -1,
      shm_size: 64 * 1024 ** 2,
      stop_grace_period: 20_000,
    });
    expect(s.deploy).toEqual({
      replicas: 2,
      resources: {
        limits: { cpus: 0.5, memory: 52_428_800, pids: 10 },
        reservations: {
          memory: 20_971_520,
          devices: [
            { capabilities: ["gpu"], count: "all" },
            { capabilities: ["gpu"], device_ids: ["0"] },
          ],
        },
      },
      restart_policy: { condition: "on-failure", delay: 5000, max_attempts: 3, window: 120_000 },
      update_config: {
        parallelism: 2,
        delay: 10_000,
        monitor: 60_000,
        max_failure_ratio: 0.3,
        order: "start-first",
      },
      placement: {
        constraints: ["node.role==manager"],
        preferences: [{ spread: "node.labels.az" }],
        max_replicas_per_node: 1,
      },
    });
  });

  it("reports a size it cannot read", () => {
    expect(errors("services:\n  s:\n    image: x\n    mem_limit: 12 parsecs\n")).toMatchObject([
      { code: "normalize/bytes", message: 'invalid size "12 parsecs"', loc: { line: 4, col: 16 } },
    ]);
  });
});

describe("networks", () => {
  it("turns a service's network list into a mapping of defaults", () => {
    expect(service("image: x\nnetworks: [front, back]").networks).toEqual({ front: null, back: null });
  });

  it("attaches services without networks to an implicit default network, when implicit", () => {
    const { spec } = load(
      "services:\n  a: {image: x}\n  b: {image: x, network_mode: host}\n  c: {image: x, networks: [n]}\nnetworks:\n  n:\n",
      {
        implicit: true,
      },
    );
    expect(spec.services["a"]?.networks).toEqual({ default: null });
    expect(spec.services["b"]?.networks).toBeUndefined();
    expect(spec.networks).toEqual({ n: { name: "proj_n" }, default: { name: "proj_default" } });
  });

  it("adds no default network when no service uses it, nor when not implicit", () => {
    expect(
      load("services:\n  a: {image: x, network_mode: none}\n", { implicit: true }).spec.networks,
    ).toEqual({});
    expect(load("services:\n  a: {image: x}\n").spec.networks).toEqual({});
  });

  it("names resources after the project, external ones after their key, when implicit", () => {
    const { spec } = load(
      "services: {}\nvolumes:\n  v:\n  e: {external: true}\n  n: {name: fixed}\nsecrets:\n  s: {file: ./s.txt}\nconfigs:\n  c: {external: true}\n",
      { implicit: true },
    );
    expect(spec.volumes).toEqual({
      v: { name: "proj_v" },
      e: { name: "e", external: true },
      n: { name: "fixed" },
    });
    expect(spec.secrets).toEqual({ s: { name: "proj_s", file: "/proj/s.txt" } });
    expect(spec.configs).toEqual({ c: { name: "c", external: true } });
  });

  it("moves the deprecated external.name to name, with a warning", () => {
    const { spec, diags } = load("services: {}\nnetworks:\n  n:\n    external:\n      name: real\n");
    expect(spec.networks).toEqual({ n: { name: "real", external: true } });
    expect(diags.issues).toMatchObject([
      { severity: "warning", code: "normalize/deprecated-external-name", loc: { line: 5, col: 7 } },
    ]);
  });

  it("rejects external.name that contradicts name", () => {
    expect(errors("services: {}\nvolumes:\n  v: {name: a, external: {name: b}}\n")).toMatchObject([
      { code: "normalize/external-name", message: 'name "a" and external.name "b" conflict' },
    ]);
  });

  it("reads null resources as resources with every default", () => {
    expect(load("services: {}\nnetworks:\n  n:\nvolumes:\n  v:\n").spec).toMatchObject({
      networks: { n: {} },
      volumes: { v: {} },
    });
  });

  it("resolves the device of a local bind-like volume", () => {
    const { spec } = load(
      "services: {}\nvolumes:\n  v: {driver_opts: {type: none, o: bind, device: ./data}}\n",
    );
    expect(spec.volumes["v"]?.driver_opts).toEqual({ type: "none", o: "bind", device: "/proj/data" });
  });
});

describe("the stack", () => {
  it("takes its name from the context and keeps x-* keys wherever they appear", () => {
    const { spec } = load(
      "name: ignored\nx-top: 1\nservices:\n  s:\n    image: x\n    x-svc: {a: 1}\n    deploy: {x-d: true}\n",
    );
    expect(spec.name).toBe("proj");
    expect(spec.extensions).toEqual({ "x-top": 1 });
    expect(spec.services["s"]).toEqual({
      image: "x",
      deploy: { extensions: { "x-d": true } },
      extensions: { "x-svc": { a: 1 } },
    });
  });

  it("does not modify its input", () => {
    const yaml =
      "services:\n  s:\n    image: x\n    ports: ['80:80']\n    environment: [A=1]\n    build: .\n";
    const { model } = load(yaml);
    const before = JSON.stringify(model);
    load(yaml);
    expect(JSON.stringify(model)).toBe(before);
  });

  it("collects every problem instead of stopping at the first", () => {
    const issues = errors(
      "services:\n  a:\n    image: x\n    ports: ['x']\n  b:\n    image: x\n    mem_limit: lots\n    stop_grace_period: forever\n",
    );
    expect(issues.map((i) => i.code)).toEqual(["normalize/port", "normalize/bytes", "normalize/duration"]);
  });
});
