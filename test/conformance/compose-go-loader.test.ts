/**
 * compose-go's loader and CLI fixtures (loader/testdata, cli/testdata) run through the whole tsstack
 * loader, with the outcomes compose-go's own tests expect (loader_test.go, include_test.go,
 * cli/options_test.go). Read from ../shared/corpora; skipped loudly when it is absent.
 */
import { describe, expect, it } from "vitest";
import { loadStack, type LoadOptions } from "../../src/spec/load.js";
import { corpus, haveCorpora } from "../helpers/corpora.js";
import { specError } from "../helpers/spec-error.js";

const loaderDir = corpus("compose-go", "loader", "testdata");
const cliDir = corpus("compose-go", "cli", "testdata");

function load(opts: Partial<LoadOptions> & { workingDir: string }) {
  return loadStack({ environment: {}, homeDir: "/home/tester", ...opts });
}

describe.skipIf(!haveCorpora)("compose-go loader fixtures through loadStack", () => {
  it("reports the depends_on cycle of compose-depends-on-cycle.yaml with the cycle spelled out", () => {
    const e = specError(() => load({ workingDir: loaderDir, files: ["compose-depends-on-cycle.yaml"] }));
    const cycle = e.issues.find((i) => i.code === "depends-on/cycle");
    expect(cycle?.message).toBe("dependency cycle: service1 -> service2 -> service3 -> service1");
    expect(cycle?.loc?.line).toBe(14);
    expect(cycle?.loc?.file).toBe(`${loaderDir}/compose-depends-on-cycle.yaml`);
  });

  it("reports a service depending on itself", () => {
    const e = specError(() => load({ workingDir: loaderDir, files: ["compose-depends-on-self.yaml"] }));
    expect(e.issues.map((i) => i.code)).toContain("depends-on/self");
  });

  it("refuses an include cycle", () => {
    const e = specError(() => load({ workingDir: loaderDir, files: ["compose-include-cycle.yaml"] }));
    expect(e.issues.map((i) => i.code)).toContain("include/cycle");
  });

  it("includes another project, resolving its env_file relative to the included file", () => {
    const { spec } = load({ workingDir: loaderDir, files: ["compose-include.yaml"] });
    expect(Object.keys(spec.services).sort()).toEqual(["bar", "imported"]);
    const imported = spec.services["imported"];
    expect(imported?.env_file?.[0]?.path).toBe(`${loaderDir}/subdir/extra.env`);
    expect(imported?.environment).toEqual({ SOURCE: "extends" });
    expect(imported?.container_name).toBe("imported");
    expect(spec.services["bar"]?.environment).toEqual({ FOO: "BAR" });
  });

  it("resolves an included file's build context and binds against its own directory", () => {
    const { spec } = load({ workingDir: `${loaderDir}/include`, files: ["compose.yaml"] });
    const svc = spec.services["included"];
    expect(svc?.build?.context).toBe(`${loaderDir}/include`);
    expect(svc?.volumes?.[0]).toMatchObject({ type: "bind", source: `${loaderDir}/include`, target: "/mnt" });
  });

  it("uses an include's project_directory as the base of its relative paths", () => {
    const { spec } = load({ workingDir: `${loaderDir}/include`, files: ["project-directory.yaml"] });
    const svc = spec.services["service"];
    expect(svc?.volumes?.[0]).toMatchObject({
      type: "bind",
      source: `${loaderDir}/subdir/compose-test-extends-imported.yaml`,
    });
    expect(svc?.env_file?.[0]?.path).toBe(`${loaderDir}/subdir/extra.env`);
  });

  it("combines include and extends: the extended file's paths are relative to that file", () => {
    const { spec } = load({ workingDir: `${loaderDir}/combined`, files: ["compose.yaml"] });
    expect(spec.services["service"]?.build?.context).toBe(`${loaderDir}/combined/dir`);
  });
});

describe.skipIf(!haveCorpora)("compose-go CLI fixtures through loadStack", () => {
  it("interpolates from the project's .env", () => {
    const { spec } = load({ workingDir: `${cliDir}/simple`, files: ["compose-with-variables.yaml"] });
    expect(spec.services["simple"]?.ports?.[0]).toMatchObject({ target: 80, published: "8000" });
    expect(spec.name).toBe("simple");
  });

  it("lets the process environment win over .env", () => {
    const { spec } = load({
      workingDir: `${cliDir}/simple`,
      files: ["compose-with-variables.yaml"],
      environment: { PUBLIC_PORT: "9999" },
    });
    expect(spec.services["simple"]?.ports?.[0]).toMatchObject({ published: "9999" });
  });

  it("takes the file list and the project name from COMPOSE_FILE and COMPOSE_PROJECT_NAME in .env", () => {
    const { spec, files } = load({ workingDir: `${cliDir}/env-file` });
    expect(files).toEqual([`${cliDir}/env-file/compose-with-env-file.yaml`]);
    expect(spec.name).toBe("my_project_from_dot_env");
    expect(spec.services["simple"]?.environment).toEqual({ DEFAULT_PORT: "8080" });
  });

  it("reads --env-file instead of .env, and several env_file entries in order", () => {
    const { spec } = load({
      workingDir: `${cliDir}/env-file`,
      files: ["compose-with-env-files.yaml"],
      envFiles: ["override.env"],
    });
    expect(spec.services["simple"]?.ports?.[0]).toMatchObject({ published: "9000" });
    expect(spec.services["simple"]?.environment).toEqual({ DEFAULT_PORT: "9090" });
  });

  it("merges an override file over the base", () => {
    const { spec } = load({
      workingDir: `${cliDir}/simple`,
      files: ["compose.yaml", "compose-with-overrides.yaml"],
    });
    expect(spec.services["simple"]?.image).toBe("haproxy");
  });

  it("interpolates the project name from `name:`", () => {
    const { spec } = load({
      workingDir: `${cliDir}/simple`,
      files: ["compose-name.yaml"],
      environment: { TEST: "x" },
    });
    expect(spec.name).toBe("test-x-test");
  });

  it("normalizes a project name taken from a directory with spaces and capitals", () => {
    const { spec } = load({ workingDir: `${cliDir}/UNNORMALIZED PATH`, files: ["compose.yaml"] });
    expect(spec.name).toBe("unnormalizedpath");
  });

  it("resolves relative bind sources against the project directory", () => {
    const { spec } = load({ workingDir: `${cliDir}/simple`, files: ["compose-with-paths.yaml"] });
    const volumes = spec.services["test"]?.volumes ?? [];
    expect(volumes.map((v) => v.source)).toEqual([
      "C:\\docker\\project",
      `${cliDir}/simple/relative`,
      `${cliDir}/simple/relative2`,
    ]);
  });
});
