/**
 * compose-go's full example (loader/full-example.yml, nearly every attribute of the spec) against the
 * canonical model compose-go's own test expects (full-struct_test.go's fullExampleYAML).
 *
 * compose-go's test loads with SkipNormalization (no implicit `default` network, no resource names), with
 * workingDir=/WORKDIR, homeDir=/HOMEDIR and the environment in full-example.env.json. Relative paths and
 * `~` are left for normalize() to resolve, and the one interpolation (`${COMPOSE_PROJECT_NAME}`) is done
 * here: both are other phases' work.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import YAML from "yaml";
import { toCanonical } from "../../src/spec/canonical.js";
import { Diagnostics } from "../../src/spec/diagnostics.js";
import { normalize } from "../../src/spec/normalize.js";
import { parseYaml } from "../../src/spec/parse.js";
import { SourceMap } from "../../src/spec/source.js";
import type { StackSpec } from "../../src/spec/types.js";
import { corpus, haveCorpora } from "../helpers/corpora.js";

const PROJECT = "full_example_project_name";

function load(): { spec: StackSpec; diags: Diagnostics } {
  const dir = corpus("compose-go-full-example", "loader");
  const text = readFileSync(join(dir, "full-example.yml"), "utf8").replaceAll(
    "${COMPOSE_PROJECT_NAME}",
    PROJECT,
  );
  const env = JSON.parse(readFileSync(join(dir, "expected", "full-example.env.json"), "utf8")) as Record<
    string,
    string
  >;
  const sources = new SourceMap();
  const diags = new Diagnostics();
  const { value } = parseYaml(text, "full-example.yml", sources, diags);
  const spec = normalize(value as Record<string, unknown>, {
    sources,
    diags,
    projectName: PROJECT,
    workingDir: "/WORKDIR",
    homeDir: "/HOMEDIR",
    lookup: (name) => env[name],
    readFile: (path) => readFileSync(path.replace(/^\/WORKDIR\//, `${dir}/`), "utf8"),
    implicit: false,
  });
  return { spec, diags };
}

function expected(): Record<string, unknown> {
  const file = corpus("compose-go-full-example", "loader", "expected", "full-example.expected.yaml");
  return YAML.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
}

/** Paths (`a.b[2].c`) where both sides have the same keys but not in the same order. */
function keyOrderDifferences(actual: unknown, want: unknown, at = ""): string[] {
  if (Array.isArray(actual) && Array.isArray(want)) {
    return actual.flatMap((item: unknown, i) => keyOrderDifferences(item, want[i], `${at}[${i}]`));
  }
  if (typeof actual !== "object" || actual === null || typeof want !== "object" || want === null) return [];
  const a = Object.keys(actual);
  const w = Object.keys(want);
  const here = a.join() === w.join() || [...a].sort().join() !== [...w].sort().join() ? [] : [at || "(root)"];
  return [
    ...here,
    ...a.map((k) =>
      keyOrderDifferences(
        (actual as Record<string, unknown>)[k],
        (want as Record<string, unknown>)[k],
        `${at}.${k}`,
      ),
    ),
  ].flat();
}

describe.skipIf(!haveCorpora)("compose-go full example", () => {
  it("normalizes without errors", () => {
    const { diags } = load();
    expect(diags.issues.filter((i) => i.severity === "error")).toEqual([]);
  });

  it("warns about each deprecated external.name", () => {
    const { diags } = load();
    expect(diags.warnings.map((w) => w.path.join("."))).toEqual([
      "networks.other-external-network.external.name",
      "volumes.other-external-volume.external.name",
      "secrets.secret2.external.name",
      "configs.config2.external.name",
    ]);
    expect(diags.warnings[0]?.loc).toMatchObject({ file: "full-example.yml", line: 375 });
  });

  it("renders the canonical model compose-go expects", () => {
    expect(toCanonical(load().spec)).toEqual(expected());
  });

  it("orders keys like compose-go's Go structs", () => {
    expect(keyOrderDifferences(toCanonical(load().spec), expected())).toEqual([]);
  });
});
