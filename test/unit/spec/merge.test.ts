import { describe, expect, it } from "vitest";
import { parse as plainYaml } from "yaml";
import { Diagnostics } from "../../../src/spec/diagnostics.js";
import { enforceUnicity, mergeModels, parseVolumeSpec } from "../../../src/spec/merge.js";
import { parseYaml } from "../../../src/spec/parse.js";
import { SourceMap, type YamlPath } from "../../../src/spec/source.js";
import { deepFreeze } from "./frozen.js";

type Dict = Record<string, unknown>;

/** Parses each text as its own file (`f0.yml`, `f1.yml`, …) and merges them in order, like the loader. */
function mergeTexts(...texts: string[]) {
  const sources = new SourceMap();
  const diags = new Diagnostics();
  const models = texts.map((t, i) => deepFreeze(parseYaml(t, `f${i}.yml`, sources, diags).value as Dict));
  expect(diags.issues).toEqual([]);
  let out: Dict = {};
  for (const m of models) out = mergeModels(out, m, { sources, diags });
  const at = (path: YamlPath) => {
    const loc = sources.locate(out, path);
    return loc === undefined ? undefined : `${loc.file}:${loc.line}`;
  };
  return { out, models, sources, diags, at };
}

function service(out: Dict, name = "test"): Dict {
  return (out["services"] as Dict)[name] as Dict;
}

/** Ports compose-go's `assertMergeYaml(t, base, override, want)`. */
interface Case {
  readonly name: string;
  readonly base: string;
  readonly override: string;
  readonly want: string;
}

const composeGoCases: Case[] = [
  {
    name: "mappings merge key by key and scalars are replaced",
    base: "services:\n  test:\n    image: foo\n    scale: 1\n",
    override: "services:\n  test:\n    image: bar\n",
    want: "services:\n  test:\n    image: bar\n    scale: 1\n",
  },
  {
    name: "command, entrypoint and healthcheck.test are replaced, not appended",
    base: "services:\n  test:\n    command: [echo, foo]\n    entrypoint: [sh, -c]\n    healthcheck:\n      test: [CMD, a]\n      interval: 5s\n",
    override:
      "services:\n  test:\n    command: [echo, bar]\n    entrypoint: [bash]\n    healthcheck:\n      test: [CMD, b]\n",
    want: "services:\n  test:\n    command: [echo, bar]\n    entrypoint: [bash]\n    healthcheck:\n      test: [CMD, b]\n      interval: 5s\n",
  },
  {
    name: "environment lists append",
    base: "services:\n  test:\n    image: foo\n    environment:\n      - FOO=BAR\n",
    override: "services:\n  test:\n    environment:\n      - QIX=ZOT\n      - EMPTY=\n      - NIL\n",
    want: "services:\n  test:\n    image: foo\n    environment: [FOO=BAR, QIX=ZOT, EMPTY=, NIL]\n",
  },
  {
    name: "environment mappings become sorted KEY=VALUE lists (null means unset)",
    base: "services:\n  test:\n    image: foo\n    environment:\n      FOO: BAR\n",
    override: 'services:\n  test:\n    environment:\n      QIX: ZOT\n      EMPTY: ""\n      NIL: null\n',
    want: "services:\n  test:\n    image: foo\n    environment: [FOO=BAR, EMPTY=, NIL, QIX=ZOT]\n",
  },
  {
    name: "environment mapping and list merge",
    base: "services:\n  test:\n    image: foo\n    environment:\n      FOO: BAR\n",
    override: "services:\n  test:\n    environment:\n      - QIX=ZOT\n",
    want: "services:\n  test:\n    image: foo\n    environment: [FOO=BAR, QIX=ZOT]\n",
  },
  {
    name: "build args, additional contexts, platforms, tags and extra hosts merge",
    base: `services:
  test:
    build:
      context: .
      args: [FOO=BAR]
      additional_contexts: [resources=/path/to/resources, app=docker-image://my-app:latest]
      platform: [linux/amd64]
      tags: ["myimage:mytag"]
      extra_hosts: [somehost=162.242.195.82, otherhost=50.31.209.229]
`,
    override: `services:
  test:
    build:
      context: .
      args: [GIT_COMMIT=cdc3b19, EMPTY=, NIL]
      additional_contexts: [source=https://github.com/myuser/project.git]
      platform: [linux/arm64, linux/amd64, unsupported/unsupported]
      tags: ["myimage:mytag", "registry/username/myrepos:my-other-tag"]
      extra_hosts: [otherhost=50.31.209.230, "myhostv6=::1"]
`,
    want: `services:
  test:
    build:
      context: .
      args: [FOO=BAR, GIT_COMMIT=cdc3b19, EMPTY=, NIL]
      additional_contexts:
        - resources=/path/to/resources
        - app=docker-image://my-app:latest
        - source=https://github.com/myuser/project.git
      platform: [linux/amd64, linux/arm64, unsupported/unsupported]
      tags: ["myimage:mytag", "registry/username/myrepos:my-other-tag"]
      extra_hosts: [somehost=162.242.195.82, otherhost=50.31.209.230, "myhostv6=::1"]
`,
  },
  {
    name: "build args in mapping form become lists",
    base: "services:\n  test:\n    build:\n      context: .\n      args:\n        FOO: BAR\n      additional_contexts:\n        source: https://github.com/myuser/project.git\n",
    override:
      'services:\n  test:\n    build:\n      context: .\n      args:\n        EMPTY: ""\n        NIL: null\n        QIX: ZOT\n      additional_contexts:\n        app: docker-image://my-app:latest\n        resources: /path/to/resources\n',
    want: `services:
  test:
    build:
      context: .
      args: [FOO=BAR, EMPTY=, NIL, QIX=ZOT]
      additional_contexts:
        - source=https://github.com/myuser/project.git
        - app=docker-image://my-app:latest
        - resources=/path/to/resources
`,
  },
  {
    name: "a later value for a build arg key replaces the earlier one in place",
    base: "services:\n  test:\n    build:\n      context: .\n      args:\n        FOO: BAR\n      additional_contexts: [resources=/r, app=docker-image://my-app:latest]\n      platform: linux/amd64\n",
    override:
      "services:\n  test:\n    build:\n      args: [QIX=ZOT]\n      additional_contexts:\n        app: docker-image://new-app:latest\n        source: https://github.com/myuser/project.git\n",
    want: `services:
  test:
    build:
      context: .
      args: [FOO=BAR, QIX=ZOT]
      additional_contexts: [resources=/r, app=docker-image://new-app:latest, source=https://github.com/myuser/project.git]
      platform: linux/amd64
`,
  },
  {
    name: "numbers in a build args mapping are formatted",
    base: "services:\n  test:\n    build:\n      context: .\n      args:\n        FOO: 1\n",
    override: "services:\n  test:\n    build:\n      context: .\n      args:\n        FOO: 3\n",
    want: "services:\n  test:\n    build:\n      context: .\n      args: [FOO=3]\n",
  },
  {
    name: "build as a string merges as a context",
    base: "services:\n  test:\n    build: .\n",
    override: "services:\n  test:\n    build:\n      context: src\n      target: dev\n",
    want: "services:\n  test:\n    build:\n      context: src\n      target: dev\n",
  },
  {
    name: "extra_hosts lists append",
    base: "services:\n  test:\n    image: foo\n    extra_hosts: [example.com=1.2.3.4]\n",
    override: "services:\n  test:\n    extra_hosts: [localhost=127.0.0.1]\n",
    want: "services:\n  test:\n    image: foo\n    extra_hosts: [example.com=1.2.3.4, localhost=127.0.0.1]\n",
  },
  {
    name: "extra_hosts mappings become lists",
    base: 'services:\n  test:\n    image: foo\n    extra_hosts:\n      "example.com": "1.2.3.4"\n',
    override: 'services:\n  test:\n    extra_hosts:\n      "localhost": "127.0.0.1"\n',
    want: "services:\n  test:\n    image: foo\n    extra_hosts: [example.com=1.2.3.4, localhost=127.0.0.1]\n",
  },
  {
    name: "network lists become mappings",
    base: "services:\n  test:\n    image: foo\n    networks: [front-network, back-network]\n",
    override: "services:\n  test:\n    networks: [front-network]\n",
    want: "services:\n  test:\n    image: foo\n    networks:\n      front-network:\n      back-network:\n",
  },
  {
    name: "network mappings merge, aliases append without repeating",
    base: `services:
  test:
    image: foo
    networks:
      network1:
        aliases: [alias1, alias2]
        link_local_ips: [57.123.22.11, 57.123.22.13]
      network2:
        aliases: [alias1, alias3]
`,
    override: `services:
  test:
    networks:
      network1:
        aliases: [alias3, alias1]
        link_local_ips: [57.123.22.12, 57.123.22.13]
`,
    want: `services:
  test:
    image: foo
    networks:
      network1:
        aliases: [alias1, alias2, alias3]
        link_local_ips: [57.123.22.11, 57.123.22.13, 57.123.22.12]
      network2:
        aliases: [alias1, alias3]
`,
  },
  {
    name: "a network list and a network mapping merge",
    base: "services:\n  test:\n    image: foo\n    networks: [front-network, back-network, network1]\n",
    override:
      "services:\n  test:\n    networks:\n      network1:\n        aliases: [alias1]\n      network2:\n",
    want: "services:\n  test:\n    image: foo\n    networks:\n      front-network:\n      back-network:\n      network1:\n        aliases: [alias1]\n      network2:\n",
  },
  {
    name: "depends_on lists become mappings with the default condition",
    base: "services:\n  test:\n    image: test\n    depends_on: [foo]\n",
    override:
      "services:\n  test:\n    depends_on:\n      foo:\n        condition: service_healthy\n        required: false\n",
    want: "services:\n  test:\n    image: test\n    depends_on:\n      foo: {condition: service_healthy, required: false}\n",
  },
  {
    name: "logging options merge when the driver is the same",
    base: 'services:\n  test:\n    image: foo\n    logging:\n      driver: syslog\n      options:\n        syslog-address: "tcp://192.168.0.42:123"\n',
    override:
      'services:\n  test:\n    logging:\n      driver: syslog\n      options:\n        syslog-address: "tcp://127.0.0.1:123"\n',
    want: 'services:\n  test:\n    image: foo\n    logging:\n      driver: syslog\n      options:\n        syslog-address: "tcp://127.0.0.1:123"\n',
  },
  {
    name: "logging is replaced when the driver differs",
    base: 'services:\n  test:\n    image: foo\n    logging:\n      driver: local\n      options:\n        max-size: "10m"\n',
    override:
      'services:\n  test:\n    logging:\n      driver: syslog\n      options:\n        syslog-address: "tcp://127.0.0.1:123"\n',
    want: 'services:\n  test:\n    image: foo\n    logging:\n      driver: syslog\n      options:\n        syslog-address: "tcp://127.0.0.1:123"\n',
  },
  {
    name: "logging options merge when no driver is named",
    base: 'services:\n  test:\n    image: foo\n    logging:\n      options:\n        max-size: "10m"\n',
    override: "services:\n  test:\n    logging:\n      options:\n        max-file: 3\n",
    want: 'services:\n  test:\n    image: foo\n    logging:\n      options:\n        max-size: "10m"\n        max-file: 3\n',
  },
  {
    name: "ulimit mappings merge, and a change of syntax replaces",
    base: `services:
  test:
    ulimits:
      nofile: {soft: 20000, hard: 40000}
      nproc: 65535
      locks: {soft: 20000, hard: 40000}
      short_over_short: 100
      long_over_short: 100
      short_over_long: {soft: 100, hard: 200}
`,
    override: `services:
  test:
    ulimits:
      nofile: {soft: 10000, hard: 40000}
      nproc: {soft: 65535}
      locks: {hard: 65535}
      short_over_short: 500
      long_over_short: {soft: 500}
      short_over_long: 500
`,
    want: `services:
  test:
    ulimits:
      nofile: {soft: 10000, hard: 40000}
      nproc: {soft: 65535}
      locks: {soft: 20000, hard: 65535}
      short_over_short: 500
      long_over_short: {soft: 500}
      short_over_long: 500
`,
  },
  {
    name: "profiles append without repeating",
    base: "services:\n  test:\n    image: foo\n    profiles: [profile1, profile2]\n",
    override: "services:\n  test:\n    profiles: [profile2, profile3]\n",
    want: "services:\n  test:\n    image: foo\n    profiles: [profile1, profile2, profile3]\n",
  },
  {
    name: "identical entries are not repeated (dns, cap_add, volumes)",
    base: "services:\n  test:\n    image: foo\n    dns: [8.8.8.8]\n    cap_add: [NET_ADMIN]\n    volumes:\n      - {type: volume, source: data, target: /data}\n",
    override:
      "services:\n  test:\n    dns: [8.8.8.8, 9.9.9.9]\n    cap_add: [NET_ADMIN, SYS_PTRACE]\n    volumes:\n      - {type: volume, source: data, target: /data}\n",
    want: "services:\n  test:\n    image: foo\n    dns: [8.8.8.8, 9.9.9.9]\n    cap_add: [NET_ADMIN, SYS_PTRACE]\n    volumes:\n      - {type: volume, source: data, target: /data}\n",
  },
  {
    name: "two empty label lists or mappings merge into an empty list",
    base: "secrets:\n  test:\n    labels: {}\n",
    override: "secrets:\n  test:\n    labels: {}\n",
    want: "secrets:\n  test:\n    labels: []\n",
  },
  {
    name: "repeated keys of a KEY=VALUE list are compacted, the last one winning",
    base: "volumes:\n  test:\n    labels: [MODE=debug, MODE=release]\n",
    override: "volumes:\n  test:\n    labels: [MODE=debug]\n",
    want: "volumes:\n  test:\n    labels: [MODE=debug]\n",
  },
  {
    name: "extension keys merge like everything else",
    base: "x-common:\n  a: 1\n  list: [a]\n",
    override: "x-common:\n  b: 2\n  list: [b]\n",
    want: "x-common:\n  a: 1\n  list: [a, b]\n  b: 2\n",
  },
];

describe("mergeModels: compose-go override rules", () => {
  it.each(composeGoCases)("$name", ({ base, override, want }) => {
    const { out, diags } = mergeTexts(base, override);
    expect(diags.issues).toEqual([]);
    expect(out).toEqual(plainYaml(want));
  });

  it("merges three files in order", () => {
    const { out } = mergeTexts(
      "services:\n  test:\n    image: foo\n    scale: 1\n",
      "services:\n  test:\n    image: bar\n",
      "services:\n  test:\n    scale: 2\n",
    );
    expect(out).toEqual({ services: { test: { image: "bar", scale: 2 } } });
  });

  it.each([
    "environment",
    "labels",
    "annotations",
    "sysctls",
    "build:\n      args",
    "build:\n      labels",
    "deploy:\n      labels",
    "build:\n      additional_contexts",
  ])("the last entry of %s wins even when it repeats a base entry", (attr) => {
    const { out } = mergeTexts(
      `services:\n  test:\n    image: foo\n    ${attr}:\n      - MODE=release\n`,
      `services:\n  test:\n    ${attr}:\n      - MODE=debug\n      - MODE=release\n`,
    );
    expect(out).toEqual(
      plainYaml(`services:\n  test:\n    image: foo\n    ${attr}:\n      - MODE=release\n`),
    );
  });

  it.each([
    ["networks", { runtime: null }],
    ["models", { runtime: null }],
    ["depends_on", { runtime: { condition: "service_started", required: true } }],
  ])("keeps %s when the override sets it to null, in mapping form", (attr, want) => {
    const { out } = mergeTexts(
      `services:\n  test:\n    image: foo\n    ${attr}: [runtime]\n`,
      `services:\n  test:\n    ${attr}: null\n`,
    );
    expect(service(out)[attr]).toEqual(want);
    const { out: out2 } = mergeTexts(
      `services:\n  test:\n    image: foo\n    ${attr}: null\n`,
      `services:\n  test:\n    ${attr}: [runtime]\n`,
    );
    expect(service(out2)[attr]).toEqual(want);
  });

  it("keeps the base value when the override of a plain key is null", () => {
    const { out } = mergeTexts("services:\n  test:\n    image: foo\n", "services:\n  test:\n    image:\n");
    expect(service(out)["image"]).toBe("foo");
  });

  it("re-merging the same override is a no-op", () => {
    const base =
      "services:\n  test:\n    dns: [8.8.8.8]\n    env_file: [common.env]\n    extra_hosts: [host1:127.0.0.1]\n";
    const over =
      "services:\n  test:\n    dns: [9.9.9.9]\n    env_file: [common.env, test.env]\n    extra_hosts: [host1:127.0.0.1, host2:127.0.0.2]\n";
    const once = mergeTexts(base, over).out;
    const twice = mergeTexts(base, over, over).out;
    expect(twice).toEqual(once);
    expect(service(once)).toEqual({
      dns: ["8.8.8.8", "9.9.9.9"],
      env_file: ["common.env", "test.env"],
      extra_hosts: ["host1:127.0.0.1", "host2:127.0.0.2"],
    });
  });

  it("keeps the same mount written in short and long syntax twice (no guessing)", () => {
    const { out } = mergeTexts(
      "services:\n  test:\n    volumes: [data:/data2]\n",
      "services:\n  test:\n    volumes:\n      - {type: volume, source: data, target: /data}\n",
    );
    expect(service(out)["volumes"]).toHaveLength(2);
  });

  it("replaces every base address of a host named by the override", () => {
    const { out } = mergeTexts(
      "services:\n  test:\n    extra_hosts:\n      db: [10.0.0.1, 10.0.0.2]\n      cache: 10.0.0.3\n",
      "services:\n  test:\n    extra_hosts: [db=10.0.0.9]\n",
    );
    expect(service(out)["extra_hosts"]).toEqual(["cache=10.0.0.3", "db=10.0.0.9"]);
  });

  it("merges IPAM pools by subnet", () => {
    const { out } = mergeTexts(
      "networks:\n  n:\n    ipam:\n      config:\n        - {subnet: 10.0.0.0/24, gateway: 10.0.0.1}\n",
      "networks:\n  n:\n    ipam:\n      config:\n        - {subnet: 10.0.0.0/24, ip_range: 10.0.0.128/25}\n        - {subnet: 10.1.0.0/24}\n",
    );
    expect(out).toEqual({
      networks: {
        n: {
          ipam: {
            config: [
              { subnet: "10.0.0.0/24", gateway: "10.0.0.1", ip_range: "10.0.0.128/25" },
              { subnet: "10.1.0.0/24" },
            ],
          },
        },
      },
    });
  });
});

describe("mergeModels: unicity", () => {
  it.each([
    ["ports", "[8080:8080]", "[8080:8080, 9090:9090]", ["8080:8080", "9090:9090"]],
    ["volumes", "[./a:/data, ./logs:/logs]", "[./b:/data]", ["./b:/data", "./logs:/logs"]],
    ["volumes", "[{type: bind, source: ./a, target: /data}]", "[./b:/data:ro]", ["./b:/data:ro"]],
    ["secrets", "[token]", "[{source: token, mode: 0400}]", [{ source: "token", mode: 256 }]],
    [
      "configs",
      "[{source: a, target: /etc/x}]",
      "[{source: b, target: /etc/x}]",
      [{ source: "b", target: "/etc/x" }],
    ],
    ["devices", "[/dev/sda:/dev/xvda]", "[/dev/sdb:/dev/xvda:rwm]", ["/dev/sdb:/dev/xvda:rwm"]],
    ["expose", "[80, '443']", "['80', 443]", ["80", 443]],
    [
      "env_file",
      "[a.env, {path: b.env}]",
      "[{path: a.env, required: false}]",
      [{ path: "a.env", required: false }, { path: "b.env" }],
    ],
    ["cap_add", "[NET_ADMIN]", "[NET_ADMIN]", ["NET_ADMIN"]],
    ["tmpfs", "/run", "[/run, /tmp]", ["/run", "/tmp"]],
  ])("%s %s + %s → one entry per identity, the later one in place", (attr, base, over, want) => {
    const { out } = mergeTexts(
      `services:\n  s:\n    ${attr}: ${base}\n`,
      `services:\n  s:\n    ${attr}: ${over}\n`,
    );
    expect(service(out, "s")[attr]).toEqual(want);
  });

  it("keys ports in long syntax by host ip, published port, target and protocol", () => {
    const { out } = mergeTexts(
      "services:\n  s:\n    ports:\n      - {target: 80, published: '8080'}\n      - {target: 80, published: '8080', protocol: udp}\n",
      "services:\n  s:\n    ports:\n      - {target: 80, published: '8080', host_ip: 0.0.0.0, mode: host}\n",
    );
    expect(service(out, "s")["ports"]).toEqual([
      { target: 80, published: "8080", host_ip: "0.0.0.0", mode: "host" },
      { target: 80, published: "8080", protocol: "udp" },
    ]);
  });

  it("applies to a single file merged into an empty model, like compose-go's first file", () => {
    const { out } = mergeTexts(
      "services:\n  s:\n    volumes: [./a:/data, ./b:/data]\n    ports: ['80', '80']\n",
    );
    expect(service(out, "s")).toEqual({ volumes: ["./b:/data"], ports: ["80"] });
  });

  it("enforceUnicity alone leaves its input untouched", () => {
    const sources = new SourceMap();
    const diags = new Diagnostics();
    const model = deepFreeze(
      parseYaml("services:\n  s:\n    dns: [a, b, a]\n", "f.yml", sources, diags).value as Dict,
    );
    const out = enforceUnicity(model, { sources, diags });
    expect(service(out, "s")["dns"]).toEqual(["a", "b"]);
    expect(service(model, "s")["dns"]).toEqual(["a", "b", "a"]);
    expect(sources.locate(out, ["services", "s", "dns", 1])).toMatchObject({ line: 3 });
  });
});

describe("mergeModels: !reset and !override", () => {
  it("!override replaces the base value wholesale, in the form the override wrote", () => {
    const { out, at } = mergeTexts(
      "services:\n  s:\n    ports: ['80:80']\n    environment: [A=1, B=2]\n    depends_on: [db]\n",
      "services:\n  s:\n    ports: !override ['81:81']\n    environment: !override\n      C: 3\n    depends_on: !override [cache]\n",
    );
    expect(service(out, "s")).toEqual({ ports: ["81:81"], environment: { C: 3 }, depends_on: ["cache"] });
    expect(at(["services", "s", "ports", 0])).toBe("f1.yml:3");
  });

  it("!reset removes the key from the base", () => {
    const { out } = mergeTexts(
      "name: test\nservices:\n  foo:\n    build:\n      context: .\n      dockerfile: foo.Dockerfile\n    environment:\n      FOO: BAR\n",
      "services:\n  foo:\n    image: foo\n    build: !reset\n    environment:\n      FOO: !reset\n",
    );
    expect(service(out, "foo")).toEqual({ image: "foo", environment: [] });
  });

  it("!reset of a key removes it from KEY=VALUE lists merged from earlier files", () => {
    const { out } = mergeTexts(
      "services:\n  foo:\n    image: foo\n    environment:\n      FOO: BAR\n      KEEP: ME\n    labels:\n      com.example.foo: bar\n",
      "services:\n  foo:\n    environment: [ANOTHER=BAR, PASSTHROUGH]\n    labels:\n      com.example.extra: bar\n",
      "services:\n  foo:\n    environment:\n      FOO: !reset\n      ANOTHER: !reset\n      PASSTHROUGH: !reset\n    labels:\n      com.example.foo: !reset\n",
    );
    expect(service(out, "foo")["environment"]).toEqual(["KEEP=ME"]);
    expect(service(out, "foo")["labels"]).toEqual(["com.example.extra=bar"]);
  });

  it("!reset of a dependency removes it from a base list of names", () => {
    const { out } = mergeTexts(
      "services:\n  s:\n    depends_on: [db, cache]\n",
      "services:\n  s:\n    depends_on:\n      db: !reset\n",
    );
    expect(service(out, "s")["depends_on"]).toEqual({
      cache: { condition: "service_started", required: true },
    });
  });

  it("!reset of a whole service removes it", () => {
    const { out } = mergeTexts("services:\n  a: {image: a}\n  b: {image: b}\n", "services:\n  b: !reset\n");
    expect(out).toEqual({ services: { a: { image: "a" } } });
  });
});

describe("mergeModels: errors", () => {
  it("reports a mapping merged with a list, at the override's position, naming the base's", () => {
    const sources = new SourceMap();
    const diags = new Diagnostics();
    const base = parseYaml("services:\n  s:\n    healthcheck:\n      test: x\n", "base.yml", sources, diags)
      .value as Dict;
    const over = parseYaml("services:\n  s:\n    healthcheck: [x]\n", "over.yml", sources, diags)
      .value as Dict;
    const out = mergeModels(base, over, { sources, diags });
    expect(diags.issues).toHaveLength(1);
    expect(diags.issues[0]).toMatchObject({
      code: "merge/type-mismatch",
      path: ["services", "s", "healthcheck"],
      loc: { file: "over.yml", line: 3, col: 18 },
    });
    expect(diags.issues[0]?.message).toContain("base.yml:4:7");
    expect(service(out, "s")["healthcheck"]).toEqual(["x"]);
  });

  it.each(["[{}]", "[123]"])("reports a depends_on entry %s that is not a service name", (entry) => {
    const sources = new SourceMap();
    const diags = new Diagnostics();
    const base = parseYaml("services:\n  x: {image: alpine, depends_on: [y]}\n", "b.yml", sources, diags)
      .value as Dict;
    const over = parseYaml(`services:\n  x: {depends_on: ${entry}}\n`, "o.yml", sources, diags).value as Dict;
    mergeModels(base, over, { sources, diags });
    expect(diags.issues.map((i) => [i.code, i.path, i.loc?.file])).toEqual([
      ["merge/invalid-entry", ["services", "x", "depends_on", 0], "o.yml"],
    ]);
  });
});

describe("mergeModels: positions and purity", () => {
  const base = `services:
  web:
    image: nginx
    build: ./web
    environment:
      A: "1"
      B: "2"
    ports:
      - "80:80"
`;
  const over = `services:
  web:
    image: nginx:2
    build:
      target: dev
    environment:
      - B=3
    ports:
      - "80:80"
      - "443:443"
`;

  it("locates every value in the file that declared it", () => {
    const { at } = mergeTexts(base, over);
    expect(at(["services", "web", "image"])).toBe("f1.yml:3");
    expect(at(["services", "web", "build", "context"])).toBe("f0.yml:4");
    expect(at(["services", "web", "build", "target"])).toBe("f1.yml:5");
    // [A=1, B=3]: A from the base mapping, B replaced in place by the override's list item.
    expect(at(["services", "web", "environment", 0])).toBe("f0.yml:6");
    expect(at(["services", "web", "environment", 1])).toBe("f1.yml:7");
    expect(at(["services", "web", "ports", 0])).toBe("f0.yml:9");
    expect(at(["services", "web", "ports", 1])).toBe("f1.yml:10");
  });

  it("locates the unchanged parts of the base in the base file", () => {
    const { at } = mergeTexts(
      "services:\n  a:\n    image: a\n  b:\n    image: b\n",
      "services:\n  b:\n    image: b2\n",
    );
    expect(at(["services", "a", "image"])).toBe("f0.yml:3");
    expect(at(["services", "b", "image"])).toBe("f1.yml:3");
  });

  it("does not modify its inputs, and copies what it takes from the base", () => {
    const { out, models } = mergeTexts(base, over);
    const [b, o] = models as [Dict, Dict];
    expect(b).toEqual(plainYaml(base));
    expect(o).toEqual(plainYaml(over));
    expect(service(out, "web")).not.toBe(service(b, "web"));
    const untouched = mergeTexts("x-a:\n  list: [1]\n", "x-b: 1\n");
    expect(untouched.out["x-a"]).toEqual({ list: [1] });
    expect(untouched.out["x-a"]).not.toBe(untouched.models[0]?.["x-a"]);
  });

  it("takes a file merged into an empty model as is: nothing is copied", () => {
    const { out, models } = mergeTexts("services:\n  web:\n    image: nginx\n    ports: ['80:80']\n");
    expect(out).toBe(models[0]);
  });

  it("copies only the containers on the way to a sequence that unicity shortens", () => {
    const { out, models, sources } = mergeTexts(
      "services:\n  a:\n    dns: [x, y, x]\n    image: a\n  b:\n    dns: [x]\n",
    );
    const [m] = models as [Dict];
    expect(out).not.toBe(m);
    expect(service(out, "a")).toEqual({ dns: ["x", "y"], image: "a" });
    expect(service(out, "b")).toBe(service(m, "b"));
    expect(sources.locate(out, ["services", "a", "image"])).toEqual(
      sources.locate(m, ["services", "a", "image"]),
    );
    expect(sources.locate(out, ["services", "a", "dns", 0])).toMatchObject({ line: 3 });
  });

  it("shares a value only the override declares, with its positions and directives", () => {
    const { out, models, at, sources } = mergeTexts(
      "services:\n  a:\n    image: a\n",
      "services:\n  b:\n    image: b\n    ports: !override ['80']\n",
    );
    const [, o] = models as [Dict, Dict];
    expect(service(out, "b")).toBe(service(o, "b"));
    expect(at(["services", "b", "image"])).toBe("f1.yml:3");
    expect(sources.tag(service(out, "b"), "ports")).toBe("override");
  });

  it("keeps the override's directives on the result, so they apply when it is merged in turn", () => {
    const sources = new SourceMap();
    const diags = new Diagnostics();
    const f0 = parseYaml("services:\n  s:\n    ports: ['80']\n    user: root\n", "f0.yml", sources, diags)
      .value as Dict;
    const f1 = parseYaml(
      "services:\n  s:\n    ports: !override ['81']\n    user: !reset\n",
      "f1.yml",
      sources,
      diags,
    ).value as Dict;
    const f1Alone = mergeModels({}, f1, { sources, diags });
    expect(mergeModels(f0, f1Alone, { sources, diags })).toEqual({ services: { s: { ports: ["81"] } } });
  });

  it("stores a `__proto__` key as data", () => {
    const ctx = { sources: new SourceMap(), diags: new Diagnostics() };
    const base = JSON.parse('{"x-a": {"__proto__": 1}}') as Dict;
    const out = mergeModels(base, { "x-a": { b: 2 } }, ctx);
    const xa = out["x-a"] as Dict;
    expect(Object.keys(xa)).toEqual(["__proto__", "b"]);
    expect(Object.getPrototypeOf(xa)).toBe(Object.prototype);
  });
});

describe("parseVolumeSpec", () => {
  it.each([
    ["/data", { source: "", target: "/data", options: "" }],
    ["data:/data", { source: "data", target: "/data", options: "" }],
    ["./src:/src:ro", { source: "./src", target: "/src", options: "ro" }],
    ["~/x:/y:rw,z", { source: "~/x", target: "/y", options: "rw,z" }],
    ["C:\\data:/data", { source: "C:\\data", target: "/data", options: "" }],
    ["ab", { source: "", target: "ab", options: "" }],
  ])("splits %s", (spec, want) => {
    expect(parseVolumeSpec(spec)).toEqual(want);
  });

  it("keeps a colon after a single letter in the path, like compose-go (Windows drives)", () => {
    expect(parseVolumeSpec("a:b:c:d")).toEqual({ source: "a:b", target: "c:d", options: "" });
  });

  it.each(["", "ab::c", "aa:bb:cc:dd"])("refuses %j", (spec) => {
    expect(parseVolumeSpec(spec)).toBeUndefined();
  });
});
