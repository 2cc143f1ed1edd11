import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { Diagnostics } from "../../../src/spec/diagnostics.js";
import { resolveExtends } from "../../../src/spec/extends.js";
import { mergeModels } from "../../../src/spec/merge.js";
import { parseYaml } from "../../../src/spec/parse.js";
import { resolveRelativePaths } from "../../../src/spec/paths.js";
import { SourceMap, type YamlPath } from "../../../src/spec/source.js";
import { corpus, haveCorpora } from "../../helpers/corpora.js";
import { deepFreeze } from "./frozen.js";

type Dict = Record<string, unknown>;

/**
 * An in-memory project: `files` maps absolute paths to YAML. The first file is the one resolved;
 * the others are served by `loadFile`, which counts its calls.
 */
function project(files: Record<string, string>) {
  const sources = new SourceMap();
  const diags = new Diagnostics();
  const models = new Map<string, Dict>();
  for (const [path, text] of Object.entries(files)) {
    models.set(path, deepFreeze(parseYaml(text, path, sources, diags).value as Dict));
  }
  expect(diags.issues).toEqual([]);
  const loads: string[] = [];
  const loadFile = (path: string) => {
    loads.push(path);
    return models.get(path);
  };
  const [file] = Object.keys(files) as [string];
  const model = models.get(file) ?? {};
  const out = resolveExtends(model, { sources, diags, file, loadFile });
  const services = out["services"] as Dict;
  const at = (path: YamlPath) => {
    const loc = sources.locate(out, path);
    return loc === undefined ? undefined : `${loc.file}:${loc.line}`;
  };
  return { out, services, model, sources, diags, loads, at };
}

describe("resolveExtends: same file", () => {
  it.each([
    ["a name", "extends: base"],
    ["a mapping without file", "extends: {service: base}"],
  ])("starts from the service named by %s, the own keys winning", (_, ext) => {
    const { services, diags } = project({
      "/p/compose.yml": `services:
  base:
    image: base
    command: [serve]
    environment: {A: "1", B: "2"}
    ports: ["80:80"]
  web:
    ${ext}
    command: [run]
    environment: {B: "3"}
    ports: ["80:80", "443:443"]
`,
    });
    expect(diags.issues).toEqual([]);
    expect(services["web"]).toEqual({
      image: "base",
      command: ["run"],
      environment: ["A=1", "B=3"],
      ports: ["80:80", "443:443"],
    });
    expect(services["base"]).toEqual({
      image: "base",
      command: ["serve"],
      environment: { A: "1", B: "2" },
      ports: ["80:80"],
    });
  });

  it("resolves chains from the root up, whatever the declaration order", () => {
    const { services } = project({
      "/p/compose.yml": `services:
  foo:
    image: busybox
    extends: bar
  bar:
    image: alpine
    command: echo
    extends: wee
  wee:
    extends: last
    command: echo wee
    user: wee
  last:
    image: python
    hostname: last
`,
    });
    expect(services["foo"]).toEqual({ image: "busybox", command: "echo", user: "wee", hostname: "last" });
    expect(services["wee"]).toEqual({ image: "python", command: "echo wee", user: "wee", hostname: "last" });
  });

  it("lets the extending service !reset what it inherits", () => {
    const { services } = project({
      "/p/compose.yml": `services:
  init:
    image: alpine:latest
    command: "sleep infinity"
  base:
    extends: { service: init }
    command: !reset
`,
    });
    expect(services["base"]).toEqual({ image: "alpine:latest" });
  });

  it("lets the extending service !override what it inherits", () => {
    const { services } = project({
      "/p/compose.yml": `services:
  service_a:
    image: a
    depends_on: [service_c]
  service_b:
    extends: service_a
    depends_on: !override
      - service_a
  service_c:
    image: c
`,
    });
    expect((services["service_b"] as Dict)["depends_on"]).toEqual(["service_a"]);
  });

  it("leaves a service extending an empty service as it is", () => {
    const { services, diags } = project({
      "/p/compose.yml": "services:\n  test:\n    image: test\n    extends: nil\n  nil:\n",
    });
    expect(diags.issues).toEqual([]);
    expect(services["test"]).toEqual({ image: "test" });
  });

  it("locates inherited values in the base service and own values in the extending one", () => {
    const { at } = project({
      "/p/compose.yml":
        "services:\n  base:\n    image: base\n    user: root\n  web:\n    extends: base\n    user: app\n",
    });
    expect(at(["services", "web", "image"])).toBe("/p/compose.yml:3");
    expect(at(["services", "web", "user"])).toBe("/p/compose.yml:7");
  });

  it("does not modify its input", () => {
    const text = "services:\n  base:\n    image: base\n  web:\n    extends: base\n";
    const { model, out } = project({ "/p/compose.yml": text });
    expect(model).toEqual({ services: { base: { image: "base" }, web: { extends: "base" } } });
    expect(out).not.toBe(model);
  });

  it("shares the services without extends, and returns a model without any as is", () => {
    const text = "services:\n  base:\n    image: base\n  web:\n    extends: base\nvolumes:\n  v: {}\n";
    const { model, out, services } = project({ "/p/compose.yml": text });
    const input = model["services"] as Dict;
    expect(services["base"]).toBe(input["base"]);
    expect(services["web"]).not.toBe(input["web"]);
    expect(out["volumes"]).toBe(model["volumes"]);
    const plain = project({ "/p/compose.yml": "services:\n  a:\n    image: a\n  b:\n    image: b\n" });
    expect(plain.out).toBe(plain.model);
  });
});

describe("resolveExtends: other files", () => {
  const files = {
    "/p/compose.yml": `services:
  test1:
    extends: {file: /p/base.yml, service: base}
    hostname: test1
  test2:
    extends: {file: base.yml, service: base}
    hostname: test2
  test3:
    extends: {file: /p/base.yml, service: another}
    hostname: test3
`,
    "/p/base.yml": `services:
  base:
    image: base
    environment: [FROM=base]
  another:
    extends: base
    user: another
`,
  };

  it("reads each file once and resolves same-file extends inside it", () => {
    const { services, loads, diags } = project(files);
    expect(diags.issues).toEqual([]);
    expect(loads).toEqual(["/p/base.yml"]);
    expect(services["test1"]).toEqual({ image: "base", environment: ["FROM=base"], hostname: "test1" });
    expect(services["test2"]).toEqual({ image: "base", environment: ["FROM=base"], hostname: "test2" });
    expect(services["test3"]).toEqual({
      image: "base",
      environment: ["FROM=base"],
      user: "another",
      hostname: "test3",
    });
  });

  it("locates inherited values in the other file", () => {
    const { at } = project(files);
    expect(at(["services", "test3", "image"])).toBe("/p/base.yml:3");
    expect(at(["services", "test3", "environment", 0])).toBe("/p/base.yml:4");
    expect(at(["services", "test3", "user"])).toBe("/p/base.yml:7");
    expect(at(["services", "test3", "hostname"])).toBe("/p/compose.yml:10");
  });

  it("keeps the override directives of the extending service when the file is merged over another", () => {
    const { out, sources, diags } = project({
      "/p/override.yml": `services:
  web:
    extends: {file: /p/common.yml, service: common}
    ports: !override ["8080:80"]
    user: !reset
`,
      "/p/common.yml": "services:\n  common:\n    image: app\n",
    });
    const first = parseYaml(
      "services:\n  web:\n    image: old\n    ports: ['80:80']\n    user: root\n",
      "/p/compose.yml",
      sources,
      diags,
    ).value as Dict;
    const merged = mergeModels(mergeModels({}, first, { sources, diags }), out, { sources, diags });
    expect((merged["services"] as Dict)["web"]).toEqual({ image: "app", ports: ["8080:80"] });
  });

  it("merges to one port when a file extends the service of an earlier file with the same port", () => {
    const { out, sources, diags } = project({
      "/p/override.yml": "services:\n  test:\n    extends: {file: /p/ports.yml, service: test}\n",
      "/p/ports.yml": "services:\n  test:\n    image: test\n    ports: [8080:8080]\n",
    });
    const ports = parseYaml(
      "services:\n  test:\n    image: test\n    ports: [8080:8080]\n",
      "/p/ports.yml",
      sources,
      diags,
    ).value as Dict;
    const merged = mergeModels(mergeModels({}, ports, { sources, diags }), out, { sources, diags });
    expect(((merged["services"] as Dict)["test"] as Dict)["ports"]).toEqual(["8080:8080"]);
  });
});

describe("resolveExtends: errors", () => {
  it("reports a cycle once, naming every link, at the extends that closes it", () => {
    const { diags, services } = project({
      "/p/compose.yml":
        "services:\n  a:\n    extends: b\n    image: a\n  b:\n    extends: c\n  c:\n    extends: a\n",
    });
    expect(diags.issues).toHaveLength(1);
    const [issue] = diags.issues;
    expect(issue?.code).toBe("extends/cycle");
    expect(issue?.message).toBe(
      "circular extends: a (/p/compose.yml) extends b (/p/compose.yml) extends c (/p/compose.yml) extends a (/p/compose.yml)",
    );
    expect(issue?.loc).toEqual({ file: "/p/compose.yml", line: 3, col: 14 });
    expect(services["a"]).toEqual({ image: "a" });
  });

  it("reports a service extending itself", () => {
    const { diags } = project({ "/p/compose.yml": "services:\n  a:\n    extends: a\n" });
    expect(diags.issues.map((i) => i.code)).toEqual(["extends/cycle"]);
  });

  it("reports a cycle across files", () => {
    const { diags } = project({
      "/p/compose.yml": "services:\n  a:\n    extends: {file: /p/other.yml, service: b}\n",
      "/p/other.yml": "services:\n  b:\n    extends: {file: /p/compose.yml, service: a}\n",
    });
    expect(diags.issues.map((i) => [i.code, i.loc?.file])).toEqual([["extends/cycle", "/p/compose.yml"]]);
    expect(diags.issues[0]?.message).toContain("a (/p/compose.yml) extends b (/p/other.yml) extends a");
  });

  it("reports an unknown service at its name, listing the services there", () => {
    const { diags } = project({
      "/p/compose.yml": "services:\n  web:\n    extends:\n      service: bsae\n  base:\n    image: x\n",
    });
    expect(diags.issues).toEqual([
      expect.objectContaining({
        code: "extends/unknown-service",
        path: ["services", "web", "extends", "service"],
        loc: { file: "/p/compose.yml", line: 4, col: 16 },
        hint: "services in this file: web, base",
      }),
    ]);
  });

  it("reports an unknown service of another file", () => {
    const { diags } = project({
      "/p/compose.yml": "services:\n  web:\n    extends: {file: /p/base.yml, service: nope}\n",
      "/p/base.yml": "services:\n  base:\n    image: x\n",
    });
    expect(diags.issues[0]).toMatchObject({
      code: "extends/unknown-service",
      message: 'cannot extend service "web": no service "nope" in /p/base.yml',
    });
  });

  it("reports a file that cannot be read at its `file` value", () => {
    const { diags, services } = project({
      "/p/compose.yml":
        "services:\n  web:\n    image: x\n    extends:\n      file: missing.yml\n      service: base\n",
    });
    expect(diags.issues).toEqual([
      expect.objectContaining({
        code: "extends/missing-file",
        path: ["services", "web", "extends", "file"],
        loc: { file: "/p/compose.yml", line: 5, col: 13 },
      }),
    ]);
    expect(services["web"]).toEqual({ image: "x" });
  });

  it("requires `service` in the mapping form", () => {
    const { diags } = project({
      "/p/compose.yml": "services:\n  test:\n    image: test\n    extends:\n      file: base.yml\n",
    });
    expect(diags.issues.map((i) => [i.code, i.path])).toEqual([
      ["extends/invalid", ["services", "test", "extends", "service"]],
    ]);
  });
});

/** Loads a compose-go fixture the way the loader does: parse, then resolve paths against its directory. */
function fixtureProject(main: string) {
  const sources = new SourceMap();
  const diags = new Diagnostics();
  const read = (path: string): Dict | undefined => {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch {
      return undefined;
    }
    const parsed = deepFreeze(parseYaml(text, path, sources, diags).value as Dict);
    return resolveRelativePaths(parsed, { sources, baseDir: dirname(path), homeDir: "/home/u" });
  };
  const model = read(main) ?? {};
  const out = resolveExtends(model, { sources, diags, file: main, loadFile: read });
  return { services: out["services"] as Dict, diags, sources, out };
}

describe.skipIf(!haveCorpora)("resolveExtends: compose-go fixtures", () => {
  const dir = corpus("compose-go", "loader", "testdata");

  it("extends a service of a file that itself extends another file (extends/withdir)", () => {
    const { services, diags, sources, out } = fixtureProject(join(dir, "extends/withdir/compose.yaml"));
    expect(diags.issues).toEqual([]);
    expect(services["test"]).toEqual({ image: "hello-world" });
    expect(sources.locate(out, ["services", "test", "image"])?.file).toBe(
      join(dir, "extends/withdir/dir/base.yaml"),
    );
  });

  it("resolves the extended file's paths against its own directory (compose-test-extends)", () => {
    const { services, diags } = fixtureProject(join(dir, "compose-test-extends.yaml"));
    expect(diags.issues).toEqual([]);
    expect(services["importer"]).toMatchObject({
      image: "nginx",
      env_file: [join(dir, "subdir/extra.env")],
      volumes: ["/opt/data:/var/lib/mysql"],
    });
  });

  it("keeps a remote build context from the extended file as written", () => {
    const { services } = fixtureProject(join(dir, "compose-test-extends-with-context-url.yaml"));
    expect(services["importer-with-https-url"]).toEqual({
      build: { context: "https://github.com/docker/compose.git" },
    });
  });

  it("extends services of extends/base.yaml: chains, ulimits, builds in sibling files and empty services", () => {
    const { services, diags } = fixtureProject(join(dir, "extends/base.yaml"));
    expect(diags.issues).toEqual([]);
    expect(services["another"]).toEqual({ image: "base" });
    expect(services["with-build"]).toEqual({ build: join(dir, "extends") });
    expect(services["withUlimits"]).toMatchObject({ ulimits: { nproc: 65535 } });
    expect(services["nil"]).toBeNull();
  });

  it("resets an inherited command (extends/reset.yaml)", () => {
    const { services } = fixtureProject(join(dir, "extends/reset.yaml"));
    expect(services["base"]).toEqual({ image: "alpine:latest" });
  });
});
