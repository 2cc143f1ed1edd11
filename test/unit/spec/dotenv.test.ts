import { describe, expect, it } from "vitest";
import { DotenvError, parseDotenv, readEnvFiles, type DotenvSite } from "../../../src/spec/dotenv.js";
import { TemplateError } from "../../../src/spec/template.js";

const noEnv = (): undefined => undefined;
const envOf =
  (env: Record<string, string>) =>
  (name: string): string | undefined =>
    Object.hasOwn(env, name) ? env[name] : undefined;

function parse(text: string, env: Record<string, string> = {}): Record<string, string> {
  return Object.fromEntries(parseDotenv(text, envOf(env)));
}

function errorOf(run: () => unknown): DotenvError {
  try {
    run();
  } catch (e) {
    if (e instanceof DotenvError) return e;
    throw e;
  }
  throw new Error("expected a DotenvError");
}

describe("parseDotenv", () => {
  it("keeps file order, and a later duplicate wins", () => {
    const vars = parseDotenv("B=1\nA=2\nB=3\n", noEnv);
    expect([...vars]).toEqual([
      ["B", "3"],
      ["A", "2"],
    ]);
  });

  it.each([
    ["KEY=value", "value"],
    ["KEY = value", "value"],
    ["KEY: value", "value"],
    ["export KEY=value", "value"],
    ["  export\tKEY=value", "value"],
    ["KEY=", ""],
    ["KEY=a=b:c", "a=b:c"],
    ["KEY=value # comment", "value"],
    ["KEY=value\t", "value"],
    ["KEY=a#b", "a#b"],
    ["KEY=a\\tb", "a\\tb"],
    ["KEY='single $FOO \\n'", "single $FOO \\n"],
    ["KEY='it\\'s'", "it's"],
    ['KEY="a\\tb\\n\\"q\\" \\\\ \\$FOO $$"', 'a\tb\n"q" \\ $FOO $'],
    ['KEY="\\0101\\x41\\u0041"', "A\\x41\\u0041"],
    ['KEY="a # not a comment" # comment', "a # not a comment"],
    ["KEY='multi\nline'", "multi\nline"],
    ["KEY=\r\n", ""],
    ["KEY=crlf\r\nNEXT=1", "crlf"],
  ])("reads %j", (line, value) => {
    expect(parse(line)["KEY"]).toBe(value);
  });

  it("skips comment lines and blank lines", () => {
    expect(parse("# A=1\n\n   # B=2\nC=3\n\n")).toEqual({ C: "3" });
  });

  it("strips a UTF-8 byte order mark", () => {
    expect(parse("\uFEFFA=1\n")).toEqual({ A: "1" });
  });

  it("accepts dots, dashes and brackets in keys", () => {
    expect(parse("a.b=1\nc-d=2\ne[0]=3\n")).toEqual({ "a.b": "1", "c-d": "2", "e[0]": "3" });
  });

  it("reads a statement that follows a closing quote on the same line, as compose-go does", () => {
    expect(parse("A='1' B=2\n")).toEqual({ A: "1", B: "2" });
  });

  describe("a bare KEY", () => {
    it("inherits the value from lookup", () => {
      expect(parse("A=1\nHOME\nB=2\n", { HOME: "/root" })).toEqual({ A: "1", HOME: "/root", B: "2" });
    });

    it("is left out when lookup does not have it, even if the file defined it earlier", () => {
      expect(parse("MISSING\n")).toEqual({});
      expect(parse("A=1\nA\n")).toEqual({ A: "1" });
    });

    it("inherits also on the last line without a newline", () => {
      expect(parse("A=1\nHOME", { HOME: "/root" })).toEqual({ A: "1", HOME: "/root" });
    });
  });

  describe("substitution", () => {
    it("applies to unquoted and double-quoted values, not single-quoted ones", () => {
      expect(parse("A=x\nB=$A\nC=\"${A}y\"\nD='$A'\n")).toEqual({ A: "x", B: "x", C: "xy", D: "$A" });
    });

    it("resolves lookup before keys defined earlier in the file", () => {
      expect(parse("A=file\nB=${A}\n", { A: "env" })).toEqual({ A: "file", B: "env" });
    });

    it("supports defaults and sees only earlier keys", () => {
      expect(parse("B=${A:-none}\nA=1\nC=${A:-none}\n")).toEqual({ B: "none", A: "1", C: "1" });
    });

    it("reports unset variables with the statement's line", () => {
      const seen: [string, DotenvSite][] = [];
      parseDotenv('A=1\nB="x\ny"\nC=$NOPE\n', noEnv, ".env", (name, site) => seen.push([name, site]));
      expect(seen).toEqual([["NOPE", { file: ".env", line: 4 }]]);
    });

    it("fails with the line and the template error as cause for a missing required variable", () => {
      const e = errorOf(() => parseDotenv("A=1\nB=${NOPE:?need it}\n", noEnv, "prod.env"));
      expect(e.code).toBe("dotenv/invalid");
      expect(e.line).toBe(2);
      expect(e.message).toBe(
        "prod.env:2: expanding variables: required variable NOPE is missing a value: need it",
      );
      expect(e.cause).toBeInstanceOf(TemplateError);
    });
  });

  describe("errors", () => {
    it.each([
      ["A=1\nB C=2\n", 2, "key cannot contain a space"],
      ["A=1\nlol$wut\n", 2, 'unexpected character "$" in variable name "lol$wut"'],
      ['A="one\ntwo"\nB\nC D\n', 4, "key cannot contain a space"],
      ["A=1\n\nB='never closed\nC=3\n", 3, "unterminated quoted value 'never closed"],
      ['# c\nA="x\\"\n', 2, 'unterminated quoted value "x\\"'],
    ])("reports %j at line %i", (text, line, problem) => {
      const e = errorOf(() => parseDotenv(text, noEnv, "app.env"));
      expect(e.line).toBe(line);
      expect(e.problem).toBe(problem);
      expect(e.file).toBe("app.env");
      expect(e.message).toBe(`app.env:${line}: ${problem}`);
    });

    it("says `line N` when no file name is given", () => {
      expect(errorOf(() => parseDotenv("A B=1", noEnv)).message).toBe("line 1: key cannot contain a space");
    });
  });
});

describe("readEnvFiles", () => {
  const files: Record<string, string> = {
    "/a.env": "A=1\nB=from-a\n",
    "/b.env": "B=from-b\nC=${A}-${B}\nA\n",
    "/bad.env": "OK=1\nNOT OK=2\n",
  };
  const readFile = (p: string): string => {
    const text = files[p];
    if (text === undefined) throw new Error(`ENOENT ${p}`);
    return text;
  };

  it("lets later files override earlier ones and see their values", () => {
    const env = readEnvFiles(["/a.env", "/b.env"], noEnv, readFile);
    expect(Object.fromEntries(env)).toEqual({ A: "1", B: "from-b", C: "1-from-a" });
  });

  it("gives lookup precedence over earlier files", () => {
    const env = readEnvFiles(["/a.env", "/b.env"], envOf({ A: "os" }), readFile);
    expect(env.get("C")).toBe("os-from-a");
    expect(env.get("A")).toBe("os");
  });

  it("names the file in errors", () => {
    const e = errorOf(() => readEnvFiles(["/a.env", "/bad.env"], noEnv, readFile));
    expect(e.message).toBe("/bad.env:2: key cannot contain a space");
  });

  it("lets readFile failures through unchanged", () => {
    expect(() => readEnvFiles(["/missing.env"], noEnv, readFile)).toThrow("ENOENT /missing.env");
  });
});
