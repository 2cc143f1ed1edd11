import { describe, expect, it } from "vitest";
import YAML from "yaml";
import { serviceConfigHash, toCanonical } from "../../../src/spec/canonical.js";
import { Diagnostics } from "../../../src/spec/diagnostics.js";
import { normalize } from "../../../src/spec/normalize.js";
import { parseYaml } from "../../../src/spec/parse.js";
import { SourceMap } from "../../../src/spec/source.js";
import type { StackSpec } from "../../../src/spec/types.js";

function load(yaml: string, implicit = true): StackSpec {
  const sources = new SourceMap();
  const diags = new Diagnostics();
  const { value } = parseYaml(yaml, "stack.yml", sources, diags);
  const spec = normalize(value as Record<string, unknown>, {
    sources,
    diags,
    projectName: "proj",
    workingDir: "/proj",
    homeDir: "/home/u",
    lookup: (name) => ({ FROM_ENV: "e" })[name],
    readFile: () => {
      throw Object.assign(new Error("ENOENT"), { code: "ENOENT" });
    },
    implicit,
  });
  expect(diags.issues).toEqual([]);
  return spec;
}

const hashOf = (yaml: string, service = "web"): string => serviceConfigHash(load(yaml), service);

const BASE = `
services:
  web:
    image: nginx:1.27
    environment: {A: "1", B: "2"}
    ports: ["8080:80"]
    depends_on: [db]
    deploy: {replicas: 2}
  db:
    image: postgres:16
`;

describe("serviceConfigHash", () => {
  it("is a sha256 in hex, the same for the same stack", () => {
    expect(hashOf(BASE)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashOf(BASE)).toBe(hashOf(BASE));
  });

  it("does not depend on key order", () => {
    const reordered = `
services:
  db:
    image: postgres:16
  web:
    deploy: {replicas: 2}
    depends_on: [db]
    ports: ["8080:80"]
    environment: {B: "2", A: "1"}
    image: nginx:1.27
`;
    expect(hashOf(reordered)).toBe(hashOf(BASE));
  });

  it("does not depend on short or long syntax", () => {
    const long = `
services:
  web:
    image: nginx:1.27
    environment: [A=1, B=2]
    ports: [{target: 80, published: "8080", protocol: tcp, mode: ingress}]
    depends_on: {db: {condition: service_started}}
    deploy: {replicas: 2}
  db:
    image: postgres:16
`;
    expect(hashOf(long)).toBe(hashOf(BASE));
  });

  it.each([
    ["the image", BASE.replace("nginx:1.27", "nginx:1.28")],
    ["an environment value", BASE.replace('B: "2"', 'B: "3"')],
    ["an added environment variable", BASE.replace('B: "2"', 'B: "2", C: "4"')],
    ["a published port", BASE.replace("8080:80", "8081:80")],
    ["a mount", BASE.replace("ports:", "volumes: [data:/d]\n    ports:")],
  ])("changes with %s", (_what, changed) => {
    expect(hashOf(changed)).not.toBe(hashOf(BASE));
  });

  it.each([
    ["the replica count", BASE.replace("replicas: 2", "replicas: 5")],
    ["scale instead of deploy.replicas", BASE.replace("deploy: {replicas: 2}", "scale: 2")],
    ["dependencies", BASE.replace("depends_on: [db]", "depends_on: {db: {condition: service_healthy}}")],
    ["the build section", BASE.replace("image: nginx:1.27", "image: nginx:1.27\n    build: ./web")],
    ["the pull policy", BASE.replace("image: nginx:1.27", "image: nginx:1.27\n    pull_policy: always")],
    ["profiles", BASE.replace("image: nginx:1.27", "image: nginx:1.27\n    profiles: [web]")],
    [
      "x-* extensions",
      BASE.replace("image: nginx:1.27", "image: nginx:1.27\n    x-owner: team-a").replace(
        '["8080:80"]',
        '[{target: 80, published: "8080", x-note: n}]',
      ),
    ],
    ["another service", BASE.replace("postgres:16", "postgres:17")],
  ])("does not change with %s", (_what, changed) => {
    expect(hashOf(changed)).toBe(hashOf(BASE));
  });

  it("treats a false boolean like an absent one, as Compose does", () => {
    expect(hashOf(BASE.replace("image: nginx:1.27", "image: nginx:1.27\n    privileged: false"))).toBe(
      hashOf(BASE),
    );
  });

  it("refuses a service the stack does not have", () => {
    expect(() => serviceConfigHash(load(BASE), "nope")).toThrow(
      /^internal: serviceConfigHash: no service "nope"/,
    );
  });
});

describe("toCanonical", () => {
  it("prints durations as Go durations, sizes as digit strings and modes as octal", () => {
    const spec = load(`
services:
  s:
    image: x
    stop_grace_period: 90s
    mem_limit: 50M
    secrets: [{source: k, mode: 0440}]
    healthcheck: {test: [CMD, "true"], interval: 1m, timeout: 1500ms, retries: 3}
    deploy:
      resources: {limits: {cpus: '0.5', memory: 1g}}
      restart_policy: {delay: 0s, window: 2m}
    volumes: [{type: tmpfs, target: /t, tmpfs: {size: 10k}}]
secrets:
  k: {file: ./k}
`);
    expect(toCanonical(spec)).toMatchObject({
      services: {
        s: {
          stop_grace_period: "1m30s",
          mem_limit: "52428800",
          secrets: [{ source: "k", target: "/run/secrets/k", mode: "0440" }],
          healthcheck: { test: ["CMD", "true"], interval: "1m0s", timeout: "1.5s", retries: 3 },
          deploy: {
            resources: { limits: { cpus: 0.5, memory: "1073741824" } },
            restart_policy: { delay: "0s", window: "2m0s" },
          },
          volumes: [{ type: "tmpfs", target: "/t", tmpfs: { size: "10240" } }],
        },
      },
    });
  });

  it("leaves out zero values and opt-out defaults like compose-go", () => {
    const spec = load(`
services:
  s:
    image: x
    privileged: false
    cap_add: []
    labels: {}
    attach: false
    env_file: [{path: a.env, required: false}]
    volumes: ["./d:/d", {type: bind, source: /e, target: /e, bind: {create_host_path: false}}]
    ulimits: {nproc: 10, nofile: {soft: 1, hard: 2}}
    depends_on: {db: {condition: service_started, restart: false, required: true}}
  db: {image: y, network_mode: none}
`);
    const s = (toCanonical(spec)["services"] as Record<string, unknown>)["s"];
    expect(s).toEqual({
      attach: false,
      depends_on: { db: { condition: "service_started", required: true } },
      env_file: [{ path: "/proj/a.env", required: false }],
      image: "x",
      networks: { default: null },
      ulimits: { nofile: { soft: 1, hard: 2 }, nproc: 10 },
      volumes: [
        { type: "bind", source: "/proj/d", target: "/d", bind: {} },
        { type: "bind", source: "/e", target: "/e", bind: { create_host_path: false } },
      ],
    });
  });

  it("sorts maps, keeps struct field order and puts x-* keys last", () => {
    const spec = load(`
x-b: 1
x-a: 2
services:
  z: {image: z, network_mode: none, x-note: n, labels: {b: "1", a: "2"}, command: [run]}
  a: {image: a, network_mode: none}
`);
    const c = toCanonical(spec);
    expect(Object.keys(c)).toEqual(["name", "services", "x-a", "x-b"]);
    const services = c["services"] as Record<string, Record<string, unknown>>;
    expect(Object.keys(services)).toEqual(["a", "z"]);
    expect(Object.keys(services["z"] ?? {})).toEqual([
      "command",
      "image",
      "labels",
      "network_mode",
      "x-note",
    ]);
    expect(Object.keys(services["z"]?.["labels"] ?? {})).toEqual(["a", "b"]);
  });

  it("prints the implicit default network and resource names", () => {
    const c = toCanonical(load("services:\n  web: {image: x}\nvolumes:\n  data:\n"));
    expect(c).toMatchObject({
      networks: { default: { name: "proj_default" } },
      volumes: { data: { name: "proj_data" } },
      services: { web: { networks: { default: null } } },
    });
  });

  it("prints an explicitly empty command, which clears the image's", () => {
    const c = toCanonical(load("services:\n  s: {image: x, command: [], network_mode: none}\n"));
    expect(c["services"]).toEqual({ s: { command: [], image: "x", network_mode: "none" } });
  });

  it("round-trips through YAML and JSON unchanged", () => {
    const c = toCanonical(load(BASE));
    expect(YAML.parse(YAML.stringify(c))).toEqual(c);
    expect(JSON.parse(JSON.stringify(c))).toEqual(c);
  });
});
