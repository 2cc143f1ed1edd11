import { describe, expect, it } from "vitest";
import { Diagnostics } from "../../../src/spec/diagnostics.js";
import { parseYaml } from "../../../src/spec/parse.js";
import { isHostPath, resolveRelativePaths } from "../../../src/spec/paths.js";
import { SourceMap } from "../../../src/spec/source.js";
import { deepFreeze } from "./frozen.js";

type Dict = Record<string, unknown>;

const baseDir = "/proj";
const homeDir = "/home/me";

function resolve(text: string) {
  const sources = new SourceMap();
  const diags = new Diagnostics();
  const model = parseYaml(text, "stack.yml", sources, diags).value as Dict;
  expect(diags.issues).toEqual([]);
  const snapshot = structuredClone(model);
  const out = resolveRelativePaths(deepFreeze(model), { sources, baseDir, homeDir });
  expect(model).toEqual(snapshot);
  return { out, sources, model };
}

/** Resolves one service attribute written as `yaml` and returns it. */
function serviceAttr(attr: string, yaml: string): unknown {
  const { out } = resolve(`services:\n  s:\n    ${attr}: ${yaml}\n`);
  return ((out["services"] as Dict)["s"] as Dict)[attr];
}

describe("resolveRelativePaths: services", () => {
  it.each([
    [".", "/proj"],
    ["./app", "/proj/app"],
    ["../shared/app/", "/shared/app"],
    ["/abs/app", "/abs/app"],
    ["~/src", "/home/me/src"],
    ["~", "/home/me"],
    ["https://github.com/docker/compose.git", "https://github.com/docker/compose.git"],
    ["git@github.com:docker/compose.git", "git@github.com:docker/compose.git"],
    ["github.com/docker/compose", "github.com/docker/compose"],
    ["ssh://git@host/repo.git", "ssh://git@host/repo.git"],
  ])("build: %s → %s", (ctx, want) => {
    expect(serviceAttr("build", JSON.stringify(ctx))).toBe(want);
    expect(serviceAttr("build", `{context: ${JSON.stringify(ctx)}, dockerfile: ./Dockerfile.dev}`)).toEqual({
      context: want,
      dockerfile: "./Dockerfile.dev",
    });
  });

  it("leaves an empty build context empty", () => {
    expect(serviceAttr("build", '{context: ""}')).toEqual({ context: "" });
  });

  it("resolves local additional contexts, in mapping and list form, and only those", () => {
    expect(
      serviceAttr(
        "build",
        "{context: ., additional_contexts: {image: docker-image://foo, oci: oci-layout://foo, abs: /dir, github: github.com/compose-spec/compose-go, rel: ./testdata, svc: service:base}}",
      ),
    ).toEqual({
      context: "/proj",
      additional_contexts: {
        image: "docker-image://foo",
        oci: "oci-layout://foo",
        abs: "/dir",
        github: "github.com/compose-spec/compose-go",
        rel: "/proj/testdata",
        svc: "service:base",
      },
    });
    expect(serviceAttr("build", "{additional_contexts: [rel=./x, img=docker-image://foo]}")).toEqual({
      additional_contexts: ["rel=/proj/x", "img=docker-image://foo"],
    });
  });

  it("resolves the key paths of build.ssh, not the agent entry", () => {
    expect(serviceAttr("build", "{ssh: [default, deploy=./keys/id_ed25519]}")).toEqual({
      ssh: ["default", "deploy=/proj/keys/id_ed25519"],
    });
    expect(serviceAttr("build", "{ssh: {deploy: ~/.ssh/id}}")).toEqual({
      ssh: { deploy: "/home/me/.ssh/id" },
    });
  });

  it.each([
    ["./a.env", "/proj/a.env"],
    ["[a.env, /etc/b.env]", ["/proj/a.env", "/etc/b.env"]],
    ["[{path: ./a.env, required: false}, b.env]", [{ path: "/proj/a.env", required: false }, "/proj/b.env"]],
  ])("env_file: %s", (yaml, want) => {
    expect(serviceAttr("env_file", yaml)).toEqual(want);
  });

  it.each([
    ["./labels", "/proj/labels"],
    ["[./a, ~/b]", ["/proj/a", "/home/me/b"]],
  ])("label_file: %s", (yaml, want) => {
    expect(serviceAttr("label_file", yaml)).toEqual(want);
  });

  it.each([
    ["{file: base.yml, service: b}", { file: "/proj/base.yml", service: "b" }],
    ["{file: oci://registry/app:1, service: b}", { file: "oci://registry/app:1", service: "b" }],
    [
      "{file: git@github.com:org/repo.git, service: b}",
      { file: "git@github.com:org/repo.git", service: "b" },
    ],
    ["b", "b"],
  ])("extends: %s", (yaml, want) => {
    expect(serviceAttr("extends", yaml)).toEqual(want);
  });

  it("resolves develop.watch paths, not their container targets", () => {
    expect(serviceAttr("develop", "{watch: [{path: ./src, target: /app/src, action: sync}]}")).toEqual({
      watch: [{ path: "/proj/src", target: "/app/src", action: "sync" }],
    });
  });

  it.each([
    ["./data:/data", "/proj/data:/data"],
    ["../x:/y:ro", "/x:/y:ro"],
    ["~/cache:/cache:rw,z", "/home/me/cache:/cache:rw,z"],
    [".:/app", "/proj:/app"],
    ["./:/app", "/proj:/app"],
    ["/abs:/x", "/abs:/x"],
    ["data:/data", "data:/data"],
    ["/anonymous", "/anonymous"],
    ["C:\\data:/data", "C:\\data:/data"],
    ["not::valid", "not::valid"],
  ])("volumes short syntax %s → %s", (spec, want) => {
    expect(serviceAttr("volumes", `[${JSON.stringify(spec)}]`)).toEqual([want]);
  });

  it("resolves the source of long-syntax bind mounts only", () => {
    expect(
      serviceAttr(
        "volumes",
        "[{type: bind, source: ./a, target: /a}, {type: volume, source: ./b, target: /b}, {type: bind, source: '~', target: /h}]",
      ),
    ).toEqual([
      { type: "bind", source: "/proj/a", target: "/a" },
      { type: "volume", source: "./b", target: "/b" },
      { type: "bind", source: "/home/me", target: "/h" },
    ]);
  });
});

describe("resolveRelativePaths: top-level resources and include", () => {
  it("resolves secret and config files, keeping Windows absolute paths", () => {
    const { out } = resolve(
      "secrets:\n  a: {file: ./a.txt}\n  b: {environment: B}\n  c: {file: 'C:\\x'}\nconfigs:\n  d: {file: ~/d.conf}\n",
    );
    expect(out).toEqual({
      secrets: { a: { file: "/proj/a.txt" }, b: { environment: "B" }, c: { file: "C:\\x" } },
      configs: { d: { file: "/home/me/d.conf" } },
    });
  });

  it.each([
    ["{driver: local, driver_opts: {type: none, o: bind, device: ./data}}", "/proj/data"],
    ["{driver_opts: {type: none, o: bind, device: ./data}}", "/proj/data"],
    ["{driver_opts: {type: none, o: 'rbind,ro', device: ./data}}", "/proj/data"],
    ["{driver: local, driver_opts: {type: nfs, o: addr=10.0.0.1, device: ./data}}", "./data"],
    ["{driver: other, driver_opts: {o: bind, device: ./data}}", "./data"],
  ])("volumes.*.driver_opts.device of %s → %s", (yaml, want) => {
    const { out } = resolve(`volumes:\n  v: ${yaml}\n`);
    expect((((out["volumes"] as Dict)["v"] as Dict)["driver_opts"] as Dict)["device"]).toBe(want);
  });

  it("resolves include paths, project directories and env files", () => {
    const { out } = resolve(`include:
  - ./db.yml
  - oci://registry/stack:1
  - path: [../common.yml, ./override.yml]
    project_directory: ./sub
    env_file: ./sub/.env
  - path: /abs/x.yml
    env_file: [a.env, /dev/null]
`);
    expect(out["include"]).toEqual([
      "/proj/db.yml",
      "oci://registry/stack:1",
      {
        path: ["/common.yml", "/proj/override.yml"],
        project_directory: "/proj/sub",
        env_file: "/proj/sub/.env",
      },
      { path: "/abs/x.yml", env_file: ["/proj/a.env", "/dev/null"] },
    ]);
  });
});

describe("resolveRelativePaths: positions and directives", () => {
  it("keeps the position of every rewritten value", () => {
    const { out, sources } = resolve(
      "services:\n  s:\n    build: ./app\n    volumes:\n      - ./data:/data\n",
    );
    expect(sources.locate(out, ["services", "s", "build"])).toEqual({ file: "stack.yml", line: 3, col: 12 });
    expect(sources.locate(out, ["services", "s", "volumes", 0])).toEqual({
      file: "stack.yml",
      line: 5,
      col: 9,
    });
  });

  it("keeps !override tags and !reset records for the merge phase", () => {
    const { out, sources } = resolve(
      "services:\n  s:\n    volumes: !override [./a:/a]\n    ports: !reset []\n",
    );
    const s = (out["services"] as Dict)["s"] as Dict;
    expect(s["volumes"]).toEqual(["/proj/a:/a"]);
    expect(sources.tag(s, "volumes")).toBe("override");
    expect([...sources.resets(s).keys()]).toEqual(["ports"]);
  });

  it("copies only the containers on the way to a rewritten path and shares the others", () => {
    const { out, model, sources } = resolve(
      "services:\n  s:\n    image: x\n    volumes: [./a:/a, data:/d]\n    environment: [A=1]\n  t:\n    image: y\nvolumes:\n  data: {}\n",
    );
    const s = (out["services"] as Dict)["s"] as Dict;
    const modelS = (model["services"] as Dict)["s"] as Dict;
    expect(s).not.toBe(modelS);
    expect(s["volumes"]).toEqual(["/proj/a:/a", "data:/d"]);
    expect(s["environment"]).toBe(modelS["environment"]);
    expect((out["services"] as Dict)["t"]).toBe((model["services"] as Dict)["t"]);
    expect(out["volumes"]).toBe(model["volumes"]);
    expect(sources.locate(out, ["services", "s", "environment", 0])).toEqual(
      sources.locate(model, ["services", "s", "environment", 0]),
    );
  });

  it("returns a model without relative paths as is", () => {
    const { out, model } = resolve(
      "services:\n  s:\n    image: x\n    build: /abs/ctx\n    volumes: [data:/d, /host:/h]\nsecrets:\n  k: {environment: K}\n",
    );
    expect(out).toBe(model);
  });

  it("leaves values of the wrong type for validation to report", () => {
    const { out } = resolve(
      "services:\n  s:\n    build: {context: 3}\n    env_file: {path: 4}\n    volumes: [7]\n",
    );
    expect((out["services"] as Dict)["s"]).toEqual({
      build: { context: 3 },
      env_file: { path: 4 },
      volumes: [7],
    });
  });
});

describe("isHostPath", () => {
  it.each([
    [".", true],
    ["./a", true],
    ["../a", true],
    ["/a", true],
    ["~/a", true],
    ["C:\\a", true],
    ["\\\\server\\share", true],
    ["data", false],
    ["my-volume", false],
    ["", false],
  ])("%j → %s", (source, want) => {
    expect(isHostPath(source)).toBe(want);
  });
});
