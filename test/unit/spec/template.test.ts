import { describe, expect, it } from "vitest";
import { TsstackError } from "../../../src/common/errors.js";
import { goQuote, substitute, TemplateError } from "../../../src/spec/template.js";

const env: Record<string, string> = { FOO: "first", BAR: "", PORT: "8080" };
const lookup = (name: string): string | undefined => (Object.hasOwn(env, name) ? env[name] : undefined);

function unsetReported(template: string): string[] {
  const names: string[] = [];
  substitute(template, lookup, (n) => names.push(n));
  return names;
}

function failure(template: string): TemplateError {
  try {
    substitute(template, lookup);
  } catch (e) {
    if (e instanceof TemplateError) return e;
    throw e;
  }
  throw new Error(`expected ${template} to fail`);
}

describe("substitute", () => {
  it.each([
    ["plain text", "no variables here", "no variables here"],
    ["$NAME", "port $PORT/tcp", "port 8080/tcp"],
    ["${NAME}", "${FOO}bar", "firstbar"],
    ["$NAME stops at the first non-name character", "$FOO-bar", "first-bar"],
    ["unset becomes empty", "[${NOPE}]", "[]"],
    ["$$ is a literal $", "$${FOO} $$FOO", "${FOO} $FOO"],
    ["$ before a non-name is kept", "a $ string, ^REGEX$, $}", "a $ string, ^REGEX$, $}"],
    [":- on unset", "${NOPE:-def}", "def"],
    [":- on empty", "${BAR:-def}", "def"],
    [":- on set", "${FOO:-def}", "first"],
    ["- on unset", "${NOPE-def}", "def"],
    ["- on empty keeps empty", "[${BAR-def}]", "[]"],
    [":+ on set", "${FOO:+alt}", "alt"],
    [":+ on empty", "[${BAR:+alt}]", "[]"],
    ["+ on empty", "${BAR+alt}", "alt"],
    ["+ on unset", "[${NOPE+alt}]", "[]"],
    [":? on set", "${FOO:?must}", "first"],
    ["? on empty", "[${BAR?must}]", "[]"],
    ["nested default", "${NOPE:-${BAR:-${ZOT:-deep}}}", "deep"],
    ["several nested references in a default", "${NOPE:-${FOO}-${PORT}}", "first-8080"],
    ["operator characters inside a default", "${NOPE-a:?b:-c}", "a:?b:-c"],
    ["braces inside a default", '${NOPE:-{"json":1}}', '{"json":1}'],
    ["text after the reference", "${NOPE:-x} and ${FOO}", "x and first"],
    ["upper and lower case names", "${foo-lower}", "lower"],
  ])("handles %s", (_what, template, expected) => {
    expect(substitute(template, lookup)).toBe(expected);
  });

  it.each([
    ["${"],
    ["${}"],
    ["${ }"],
    ["${ FOO}"],
    ["${FOO }"],
    ["${FOO!}"],
    ["${FOO:}"],
    ["${1FOO}"],
    ["${FOO:-a\nb}"],
  ])("rejects the malformed reference %j", (template) => {
    const e = failure(template);
    expect(e).toBeInstanceOf(TsstackError);
    expect(e.code).toBe("interpolate/invalid");
    expect(e.message).toBe(`Invalid template: ${goQuote(template)}`);
  });

  it("names the nested operand that is malformed", () => {
    const e = failure("${NOPE:-${ oops}}");
    expect(e.code).toBe("interpolate/invalid");
    expect(e.template).toBe("${ oops}");
  });

  it.each([
    ["${NOPE:?set NOPE please}", "required variable NOPE is missing a value: set NOPE please"],
    ["${BAR:?empty is not enough}", "required variable BAR is missing a value: empty is not enough"],
    ["${NOPE?}", "required variable NOPE is missing a value"],
    ["${NOPE?needs ${FOO}}", "required variable NOPE is missing a value: needs first"],
  ])("fails %j as a required variable", (template, message) => {
    const e = failure(template);
    expect(e.code).toBe("interpolate/required");
    expect(e.message).toBe(message);
    expect(e.variable).toBe(template.includes("BAR") ? "BAR" : "NOPE");
  });

  it("reports the first of several problems", () => {
    expect(failure("${A:?first} ${B:?second}").message).toBe("required variable A is missing a value: first");
  });

  it("reports unset variables used without a fallback, in order", () => {
    expect(unsetReported("$NOPE ${ALSO} ${FOO}")).toEqual(["NOPE", "ALSO"]);
  });

  it("does not report a set-but-empty variable", () => {
    expect(unsetReported("${BAR}")).toEqual([]);
  });

  it("evaluates operands only when they are used", () => {
    expect(unsetReported("${FOO:-${UNUSED}}")).toEqual([]);
    expect(unsetReported("${NOPE:+${UNUSED}}")).toEqual([]);
    expect(unsetReported("${FOO?${UNUSED}}")).toEqual([]);
    expect(unsetReported("${NOPE:-${USED}}")).toEqual(["USED"]);
  });

  it("calls lookup with the exact variable name", () => {
    const asked: string[] = [];
    substitute("$a_1 ${B2:-x} $$C", (n) => {
      asked.push(n);
      return undefined;
    });
    expect(asked).toEqual(["a_1", "B2"]);
  });
});

describe("goQuote", () => {
  it("renders strings the way Go's %q does", () => {
    expect(goQuote('a"b\\c\nd\te\x01é')).toBe('"a\\"b\\\\c\\nd\\te\\x01é"');
  });
});
