import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadStack, type LoadOptions } from "../../../src/spec/load.js";
import { specError } from "../../helpers/spec-error.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "tsstack-load-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function write(rel: string, text: string): string {
  const p = join(dir, rel);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, text);
  return p;
}

function load(opts: Partial<LoadOptions> = {}) {
  return loadStack({ workingDir: dir, environment: {}, homeDir: "/home/u", ...opts });
}

describe("finding the stack file", () => {
  it("looks in --project-directory when no -f is given", () => {
    write("proj/compose.yaml", "services:\n  a: {image: x}\n");
    const { files, spec } = load({ projectDirectory: "proj" });
    expect(files).toEqual([join(dir, "proj/compose.yaml")]);
    expect(spec.name).toBe("proj");
  });

  it("walks up to parent directories like docker compose", () => {
    write("compose.yaml", "name: top\nservices:\n  a: {image: x}\n");
    mkdirSync(join(dir, "deep/er"), { recursive: true });
    const { files, spec } = load({ workingDir: join(dir, "deep/er") });
    expect(files).toEqual([join(dir, "compose.yaml")]);
    expect(spec.name).toBe("top");
  });
});

describe("project name", () => {
  beforeEach(() => {
    write("app/compose.yaml", "name: fromfile\nservices:\n  a: {image: x}\n");
  });
  const opts = (extra: Partial<LoadOptions>) => ({ files: ["app/compose.yaml"], ...extra });

  it("prefers -p, then TSSTACK_PROJECT_NAME, then COMPOSE_PROJECT_NAME, then name:", () => {
    const env = { TSSTACK_PROJECT_NAME: "tsenv", COMPOSE_PROJECT_NAME: "composeenv" };
    expect(load(opts({ projectName: "flag", environment: env })).spec.name).toBe("flag");
    expect(load(opts({ environment: env })).spec.name).toBe("tsenv");
    expect(load(opts({ environment: { COMPOSE_PROJECT_NAME: "composeenv" } })).spec.name).toBe("composeenv");
    expect(load(opts({})).spec.name).toBe("fromfile");
  });

  it("refuses an invalid -p with a hint", () => {
    const e = specError(() => load(opts({ projectName: "Bad Name" })));
    expect(e.issues[0]).toMatchObject({ code: "spec/project-name" });
    expect(e.message).toContain('invalid project name "Bad Name"');
  });
});

describe("environment for interpolation", () => {
  it("lets the process environment win over .env, and --env-file replace .env", () => {
    write("compose.yaml", "services:\n  a: {image: 'x:${TAG}'}\n");
    write(".env", "TAG=dotenv\n");
    write("other.env", "TAG=other\n");
    expect(load().spec.services["a"]?.image).toBe("x:dotenv");
    expect(load({ environment: { TAG: "proc" } }).spec.services["a"]?.image).toBe("x:proc");
    expect(load({ envFiles: ["other.env"] }).spec.services["a"]?.image).toBe("x:other");
  });

  it("fails clearly on a missing --env-file", () => {
    write("compose.yaml", "services:\n  a: {image: x}\n");
    const e = specError(() => load({ envFiles: ["nope.env"] }));
    expect(e.issues[0]).toMatchObject({ code: "env-file/missing" });
    expect(e.message).toContain("nope.env");
  });
});

describe("profiles", () => {
  beforeEach(() => {
    write(
      "compose.yaml",
      [
        "services:",
        "  web: {image: x, depends_on: {tools: {condition: service_started, required: false}}}",
        "  tools: {image: t, profiles: [debug]}",
        "  db: {image: d, profiles: [data, all]}",
        "",
      ].join("\n"),
    );
  });
  const names = (o: Partial<LoadOptions> = {}) => Object.keys(load(o).spec.services).sort();

  it("keeps services without profiles and drops the others by default", () => {
    expect(names()).toEqual(["web"]);
  });

  it("enables profiles from --profile, TSSTACK_PROFILES, COMPOSE_PROFILES and '*'", () => {
    expect(names({ profiles: ["debug"] })).toEqual(["tools", "web"]);
    expect(names({ environment: { TSSTACK_PROFILES: "data" } })).toEqual(["db", "web"]);
    expect(names({ environment: { COMPOSE_PROFILES: "debug,data" } })).toEqual(["db", "tools", "web"]);
    expect(names({ profiles: ["*"] })).toEqual(["db", "tools", "web"]);
  });

  it("refuses a required dependency on a disabled service and names the profile to enable", () => {
    write(
      "compose.yaml",
      "services:\n  web: {image: x, depends_on: [db]}\n  db: {image: d, profiles: [data]}\n",
    );
    const e = specError(() => load());
    const issue = e.issues.find((i) => i.code === "profiles/disabled-dependency");
    expect(issue?.path).toEqual(["services", "web", "depends_on", 0]);
    expect(issue?.loc).toMatchObject({ line: 2 });
    expect(issue?.hint).toContain("--profile data");
    expect(names({ profiles: ["data"] })).toEqual(["db", "web"]);
  });
});

describe("include", () => {
  it("accepts the same definition reached through two includes (a diamond)", () => {
    write("common/compose.yaml", "services:\n  shared: {image: s}\n");
    write("a/compose.yaml", "include: [../common/compose.yaml]\nservices:\n  a: {image: a}\n");
    write("b/compose.yaml", "include: [../common/compose.yaml]\nservices:\n  b: {image: b}\n");
    write("compose.yaml", "include: [a/compose.yaml, b/compose.yaml]\nservices:\n  top: {image: t}\n");
    expect(Object.keys(load().spec.services).sort()).toEqual(["a", "b", "shared", "top"]);
  });

  it("refuses two different definitions of one service, at the include entry, naming the other", () => {
    const other = write("lib/compose.yaml", "services:\n  web: {image: theirs}\n");
    write("compose.yaml", "include:\n  - lib/compose.yaml\nservices:\n  web: {image: ours}\n");
    const e = specError(() => load());
    const issue = e.issues.find((i) => i.code === "include/conflict");
    expect(issue?.loc).toMatchObject({ file: join(dir, "compose.yaml"), line: 2 });
    expect(issue?.message).toContain(other);
    expect(issue?.message).toContain(`${join(dir, "compose.yaml")}:4:3`);
  });
});

describe("reporting", () => {
  it("reports interpolation, schema and reference errors of one file in one SpecError", () => {
    write(
      "compose.yaml",
      "services:\n  a:\n    image: ${IMG:?set IMG}\n    imgae: x\n    depends_on: [ghost]\n",
    );
    const e = specError(() => load());
    expect(e.issues.map((i) => i.code).sort()).toEqual(
      ["depends-on/unknown-service", "interpolate/required", "schema/unknown-key"].sort(),
    );
    expect(e.issues.map((i) => i.loc?.line).sort()).toEqual([3, 4, 5]);
  });

  it("still reports what only normalize can see when an interpolation failed elsewhere", () => {
    write(
      "compose.yaml",
      "services:\n  a:\n    image: ${IMG:?set IMG}\n    privileged: sometimes\n    ports: ['${P:?set P}:80']\n",
    );
    const e = specError(() => load());
    // The port that failed to interpolate is reported once (by interpolation), not again by normalize.
    expect(e.issues.map((i) => `${i.code}@${i.loc?.line ?? 0}`).sort()).toEqual(
      ["interpolate/required@3", "interpolate/required@5", "normalize/type@4"].sort(),
    );
  });
});
