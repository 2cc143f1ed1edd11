/**
 * Every Compose file of compose-go's test data that Compose accepts must pass tsstack's schema
 * validation, and the schema tsstack ships must be the upstream one.
 *
 * The files are validated one by one, as parsed, without interpolation, merging or `extends`. That
 * is sound for schema purposes because an uninterpolated value is a string, and wherever the
 * corpus uses `${VAR}` the schema also accepts a string. Should a future corpus put a variable
 * where only a number fits, the issue would be about a value containing `$`: such issues are set
 * aside (interpolation would have replaced the value), every other issue fails the test.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { Diagnostics, formatIssue, type SpecIssue } from "../../src/spec/diagnostics.js";
import { parseYaml } from "../../src/spec/parse.js";
import { SourceMap } from "../../src/spec/source.js";
import { validateSchema } from "../../src/spec/validate.js";
import { corpus, haveCorpora, repoRoot } from "../helpers/corpora.js";
import { valueAt } from "../../src/spec/tree.js";

function composeFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

function validateFile(file: string, text = readFileSync(file, "utf8")) {
  const sources = new SourceMap();
  const diags = new Diagnostics();
  const { value } = parseYaml(text, relative(corpus(), file), sources, diags);
  const parseIssues = [...diags.issues];
  if (value !== null && value !== undefined) validateSchema(value, { sources, diags });
  const schemaIssues = diags.issues.slice(parseIssues.length);
  const needsInterpolation = (i: SpecIssue): boolean => {
    const v = valueAt(value, i.path);
    return typeof v === "string" && v.includes("$");
  };
  return {
    value,
    parseIssues,
    schemaIssues: schemaIssues.filter((i) => !needsInterpolation(i)),
  };
}

/** Files of the corpus that Compose itself would not accept as a project, and why. */
const NOT_PROJECTS: Readonly<Record<string, string>> = {
  "compose-go/loader/testdata/empty.yaml":
    "an empty file: refused by the loader ('empty compose file'), not the schema",
  "compose-go/loader/testdata/extends/base.yaml":
    "only ever used as an `extends` source; its service `nil:` is empty, which the schema refuses",
};

describe.skipIf(!haveCorpora)("Compose schema conformance (compose-go test data)", () => {
  const files = haveCorpora
    ? [
        ...composeFiles(corpus("compose-go/loader/testdata")),
        ...composeFiles(corpus("compose-go/cli/testdata")),
        corpus("compose-go-full-example/loader/full-example.yml"),
      ]
    : [];
  const valid = files.filter((f) => !(relative(corpus(), f) in NOT_PROJECTS));

  it("finds the corpus files", () => {
    expect(files.length).toBeGreaterThanOrEqual(40);
    // Some of them use variables, so the interpolation caveat above is exercised.
    expect(valid.filter((f) => readFileSync(f, "utf8").includes("${")).length).toBeGreaterThanOrEqual(5);
  });

  it.each(valid.map((f) => [relative(corpus(), f), f]))("accepts %s", (_name, file) => {
    const { parseIssues, schemaIssues } = validateFile(file);
    expect(parseIssues.map((i) => formatIssue(i))).toEqual([]);
    expect(schemaIssues.map((i) => formatIssue(i))).toEqual([]);
  });

  it("refuses the empty service of extends/base.yaml, and only that", () => {
    const { schemaIssues } = validateFile(corpus("compose-go/loader/testdata/extends/base.yaml"));
    expect(schemaIssues.map((i) => formatIssue(i))).toEqual([
      "compose-go/loader/testdata/extends/base.yaml:25:3: error: services.nil: must be a mapping, but it is empty",
    ]);
  });

  it("parses empty.yaml to nothing, leaving the refusal to the loader", () => {
    expect(validateFile(corpus("compose-go/loader/testdata/empty.yaml")).value).toBeNull();
  });

  it("still finds mistakes planted in the full example", () => {
    const file = corpus("compose-go-full-example/loader/full-example.yml");
    const text = readFileSync(file, "utf8")
      .replace("    image: redis\n", "    imgae: redis\n")
      .replace("      mode: replicated\n", "      mode: [replicated]\n");
    const { schemaIssues } = validateFile(file, text);
    expect(schemaIssues.map((i) => formatIssue(i))).toEqual([
      "compose-go-full-example/loader/full-example.yml:73:13: error: services.foo.deploy.mode: must be a string, not a list",
      'compose-go-full-example/loader/full-example.yml:191:5: error: services.foo: unknown key "imgae"\n    hint: did you mean "image"?',
    ]);
  });

  it("ships the upstream schema byte for byte", () => {
    const sha = (path: string): string => createHash("sha256").update(readFileSync(path)).digest("hex");
    const shipped = join(repoRoot, "src/spec/schema/compose-spec.json");
    expect(sha(shipped)).toBe(sha(corpus("compose-go/schema/compose-spec.json")));
    expect(sha(shipped)).toBe("73ca5878c77570ba222a558016c7b3c6770ba5f3377786593e32180666512f8f");
  });
});
