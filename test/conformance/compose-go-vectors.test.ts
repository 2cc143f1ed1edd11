/**
 * Runs the interpolation and `.env` vectors extracted from compose-go's own tests
 * (../shared/corpora/compose-go/derived/*.json); each file's "semantics"/"notes" say how to apply them.
 * Every vector runs; none is skipped.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Diagnostics } from "../../src/spec/diagnostics.js";
import { DotenvError, parseDotenv, readEnvFiles } from "../../src/spec/dotenv.js";
import { interpolateTree } from "../../src/spec/interpolate.js";
import { parseYaml } from "../../src/spec/parse.js";
import { formatPath, SourceMap } from "../../src/spec/source.js";
import { substitute, TemplateError } from "../../src/spec/template.js";
import { corpus, haveCorpora } from "../helpers/corpora.js";

type Env = Record<string, string>;

interface InterpolationVector {
  template: string;
  source: string;
  expected?: string;
  error_contains?: string;
  error_equals?: string;
  env?: Env;
}
interface InterpolationFile {
  groups: { name: string; env: Env; vectors: InterpolationVector[] }[];
}

interface DotenvFile {
  parse_line: { input: string; key: string; value: string; source: string }[];
  parse_error: { input: string; error_contains: string | null; source: string }[];
  parse_multi: { input: string; expected: Env; exact: boolean; env?: Env; name?: string; source: string }[];
  fixture_files: {
    file: string;
    env: Env;
    expected?: Env;
    expected_absent?: string[];
    exact?: boolean;
    error_contains?: string;
    mode: "read" | "read-with-lookup" | "load-into-env-no-override";
    source: string;
  }[];
  expand: { name: string; input: string; expanded: string; env: Env; error?: string }[];
}

function readJson(...parts: string[]): unknown {
  return JSON.parse(readFileSync(corpus(...parts), "utf8"));
}

const lookupIn =
  (env: Env) =>
  (name: string): string | undefined =>
    Object.hasOwn(env, name) ? env[name] : undefined;

function expectEnv(actual: Map<string, string>, expected: Env, exact: boolean | undefined): void {
  if (exact === true) expect(Object.fromEntries(actual)).toEqual(expected);
  else expect(Object.fromEntries(actual)).toMatchObject(expected);
}

/** compose-go errors read "line N: problem"; ours carry the line as a field and start with file:line. */
function expectDotenvError(run: () => unknown, contains: string | null | undefined): void {
  let caught: unknown;
  try {
    run();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(DotenvError);
  if (contains === null || contains === undefined) return;
  const err = caught as DotenvError;
  const m = /^line (\d+): (.*)$/s.exec(contains);
  if (m === null) {
    expect(err.message).toContain(contains);
  } else {
    expect(err.line).toBe(Number(m[1]));
    expect(err.problem).toContain(m[2]);
  }
}

describe.skipIf(!haveCorpora)("compose-go interpolation vectors", () => {
  const data = haveCorpora
    ? (readJson("compose-go", "derived", "interpolation-vectors.json") as InterpolationFile)
    : { groups: [] };

  for (const group of data.groups) {
    describe(group.name, () => {
      const throughTree = group.name.startsWith("interpolation.Interpolate");
      for (const v of group.vectors) {
        const lookup = lookupIn(v.env ?? group.env);
        it(`${v.source}: ${JSON.stringify(v.template)}`, () => {
          if (!throughTree) {
            if (v.expected !== undefined) {
              expect(substitute(v.template, lookup)).toBe(v.expected);
            } else {
              expect(() => substitute(v.template, lookup)).toThrow(TemplateError);
              expect(() => substitute(v.template, lookup)).toThrow(v.error_contains ?? v.error_equals ?? "");
            }
            return;
          }
          // compose-go's test interpolates {myservice: {environment: {TESTVAR: template}}}.
          const sources = new SourceMap();
          const diags = new Diagnostics();
          const yaml = `myservice:\n  environment:\n    TESTVAR: ${JSON.stringify(v.template)}\n`;
          const parsed = parseYaml(yaml, "vector.yml", sources, diags);
          expect(diags.issues).toEqual([]);
          const out = interpolateTree(parsed.value, { sources, diags, lookup }) as {
            myservice: { environment: { TESTVAR: unknown } };
          };
          const errors = diags.issues.filter((i) => i.severity === "error");
          if (v.expected !== undefined) {
            expect(errors).toEqual([]);
            expect(out.myservice.environment.TESTVAR).toBe(v.expected);
          } else {
            expect(errors).toHaveLength(1);
            const issue = errors[0];
            const composeMessage = `error while interpolating ${formatPath(issue?.path ?? [])}: ${issue?.message ?? ""}`;
            if (v.error_equals !== undefined) expect(composeMessage).toBe(v.error_equals);
            else expect(composeMessage).toContain(v.error_contains);
            expect(issue?.loc).toEqual({ file: "vector.yml", line: 3, col: 14 });
          }
        });
      }
    });
  }
});

describe.skipIf(!haveCorpora)("compose-go dotenv vectors", () => {
  const data = haveCorpora
    ? (readJson("compose-go", "derived", "dotenv-vectors.json") as DotenvFile)
    : { parse_line: [], parse_error: [], parse_multi: [], fixture_files: [], expand: [] };
  const none = (): undefined => undefined;

  describe("parse_line", () => {
    for (const v of data.parse_line) {
      it(`${v.source}: ${JSON.stringify(v.input)}`, () => {
        expect(parseDotenv(v.input, none).get(v.key)).toBe(v.value);
      });
    }
  });

  describe("parse_error", () => {
    for (const v of data.parse_error) {
      it(`${v.source}: ${JSON.stringify(v.input)}`, () => {
        expectDotenvError(() => parseDotenv(v.input, none), v.error_contains);
      });
    }
  });

  describe("parse_multi", () => {
    for (const v of data.parse_multi) {
      it(`${v.source}: ${v.name ?? JSON.stringify(v.input)}`, () => {
        expectEnv(parseDotenv(v.input, lookupIn(v.env ?? {})), v.expected, v.exact);
      });
    }
  });

  describe("fixture_files", () => {
    for (const v of data.fixture_files) {
      it(`${v.source}: ${v.file} (${v.mode})`, () => {
        const path = corpus("compose-go", v.file);
        const readFile = (p: string): string => readFileSync(p, "utf8");
        const read = (): Map<string, string> => {
          if (v.mode === "load-into-env-no-override") {
            // godotenv.Load: the file is read without lookup, then variables already in the
            // environment are kept.
            const vars = readEnvFiles([path], none, readFile);
            for (const [k, value] of Object.entries(v.env)) vars.set(k, value);
            return vars;
          }
          const vars = readEnvFiles([path], lookupIn(v.env), readFile);
          // These upstream tests go through dotenv.Read/ReadWithLookup, which drop keys that start
          // with a digit. Compose's own loaders (ParseWithLookup, GetEnvFromFile) keep them, and so
          // does readEnvFiles, so the filter is applied here.
          for (const k of [...vars.keys()]) if (/^\s*\d/.test(k)) vars.delete(k);
          return vars;
        };
        if (v.error_contains !== undefined) {
          expectDotenvError(read, v.error_contains);
          return;
        }
        const vars = read();
        if (v.expected !== undefined) expectEnv(vars, v.expected, v.exact);
        for (const k of v.expected_absent ?? []) expect(vars.has(k)).toBe(false);
      });
    }
  });

  describe("expand", () => {
    for (const v of data.expand) {
      it(v.name, () => {
        const lookup = lookupIn(v.env);
        if (v.error === undefined) expect(substitute(v.input, lookup)).toBe(v.expanded);
        else expect(() => substitute(v.input, lookup)).toThrow(v.error);
      });
    }
  });
});
