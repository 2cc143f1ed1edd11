import { describe, expect, it } from "vitest";
import { Diagnostics } from "../../../src/spec/diagnostics.js";
import { parseYaml } from "../../../src/spec/parse.js";
import { SourceMap } from "../../../src/spec/source.js";

function parse(text: string) {
  const sources = new SourceMap();
  const diags = new Diagnostics();
  const r = parseYaml(text, "stack.yml", sources, diags);
  return { value: r.value, sources, diags };
}

describe("parseYaml", () => {
  it("returns plain data with the position of every key and value", () => {
    const { value, sources, diags } = parse("services:\n  web:\n    image: nginx\n");
    expect(diags.issues).toEqual([]);
    expect(value).toEqual({ services: { web: { image: "nginx" } } });
    expect(sources.locate(value, ["services", "web", "image"], "key")).toEqual({
      file: "stack.yml",
      line: 3,
      col: 5,
    });
    expect(sources.locate(value, ["services", "web", "image"])).toEqual({
      file: "stack.yml",
      line: 3,
      col: 12,
    });
  });

  it("falls back to the closest ancestor for paths it does not know", () => {
    const { value, sources } = parse("services:\n  web:\n    image: nginx\n");
    expect(sources.locate(value, ["services", "web", "ports", 0])).toEqual({
      file: "stack.yml",
      line: 3,
      col: 5,
    });
  });

  it("applies merge keys with explicit keys winning and the first merged map winning", () => {
    const { value } = parse(
      "x-a: &a {image: a, user: ua}\nx-b: &b {image: b, tty: true}\nservices:\n  s:\n    <<: [*a, *b]\n    user: mine\n",
    );
    expect((value as { services: unknown }).services).toEqual({ s: { image: "a", user: "mine", tty: true } });
  });

  it("drops keys tagged !reset, also when a merge key would bring them back, and remembers them", () => {
    const { value, sources } = parse(
      "x-a: &a {image: a, ports: [80]}\nservices:\n  s:\n    <<: *a\n    ports: !reset []\n",
    );
    const s = (value as { services: { s: Record<string, unknown> } }).services.s;
    expect(s).toEqual({ image: "a" });
    expect([...sources.resets(s).keys()]).toEqual(["ports"]);
  });

  it("drops !reset items from a sequence and honours !reset through an alias", () => {
    const { value, sources } = parse(
      'x-r: &r !reset []\nservices:\n  s:\n    ports: [!reset "80:80", "81:81"]\n    volumes: *r\n',
    );
    const s = (value as { services: { s: Record<string, unknown> } }).services.s;
    expect(s).toEqual({ ports: ["81:81"] });
    expect([...sources.resets(s).keys()]).toEqual(["volumes"]);
  });

  it("records !override tags for the merge phase", () => {
    const { value, sources } = parse("services:\n  s:\n    ports: !override [80]\n");
    const s = (value as { services: { s: object } }).services.s;
    expect(sources.tag(s, "ports")).toBe("override");
  });

  it("reads 0440 as octal like go-yaml, and quoted '0440' as a string", () => {
    const { value } = parse("a: 0440\nb: '0440'\nc: 0o17\nd: 10\n");
    expect(value).toEqual({ a: 288, b: "0440", c: 15, d: 10 });
  });

  it("turns every mapping key into a string", () => {
    const { value } = parse("services:\n  true: {}\n  1: {}\n");
    expect(Object.keys((value as { services: object }).services).sort()).toEqual(["1", "true"]);
  });

  it("reports duplicate keys and syntax errors with file:line:col", () => {
    const { value, diags } = parse("a: 1\na: 2\n");
    expect(value).toBeUndefined();
    expect(diags.issues[0]).toMatchObject({ code: "yaml/duplicate-key", loc: { line: 2, col: 1 } });
  });

  it("refuses several documents in one file", () => {
    const { diags } = parse("a: 1\n---\nb: 2\n");
    expect(diags.issues[0]).toMatchObject({ code: "yaml/multiple-documents", loc: { line: 2 } });
  });

  it("refuses a billion-laughs file quickly with a clear error", () => {
    const names = "abcdefghij";
    let text = `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n`;
    for (let i = 1; i < names.length; i++) {
      text += `${names[i]}: &${names[i]} [${Array(9)
        .fill(`*${names[i - 1]}`)
        .join(",")}]\n`;
    }
    const t0 = performance.now();
    const { value, diags } = parse(text);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(value).toBeUndefined();
    expect(diags.issues.map((i) => i.code)).toEqual(["yaml/alias-bomb"]);
  });

  it("refuses absurdly deep nesting with an error instead of overflowing the stack", () => {
    for (const text of [
      "[".repeat(5000) + "]".repeat(5000),
      "a:\n" + Array.from({ length: 600 }, (_, i) => `${" ".repeat(i + 1)}- `).join("\n") + "x\n",
    ]) {
      const { value, diags } = parse(text);
      expect(value).toBeUndefined();
      // The yaml library refuses the deepest flow nesting itself; ours catches the rest.
      expect(diags.issues.some((i) => /yaml\/(too-deep|resource-exhaustion)/.test(i.code))).toBe(true);
    }
  });

  it("expands ordinary aliases by copying, so later phases never share objects", () => {
    const { value } = parse("x: &x {a: 1}\ny: *x\n");
    const v = value as { x: object; y: object };
    expect(v.y).toEqual({ a: 1 });
    expect(v.y).not.toBe(v.x);
  });

  it("refuses a __proto__ key instead of letting it replace a prototype", () => {
    const { value, diags } = parse("x:\n  __proto__: {polluted: yes}\n  y: 1\n");
    expect(diags.issues[0]).toMatchObject({
      code: "yaml/forbidden-key",
      path: ["x", "__proto__"],
      loc: { line: 2, col: 3 },
    });
    expect((value as { x: Record<string, unknown> }).x["polluted"]).toBeUndefined();
  });

  it("treats an empty file as null", () => {
    expect(parse("").value).toBeNull();
    expect(parse("# only a comment\n").value).toBeNull();
  });
});
