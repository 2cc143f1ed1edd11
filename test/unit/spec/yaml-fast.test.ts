import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import YAML from "yaml";
import { Diagnostics } from "../../../src/spec/diagnostics.js";
import { parseYaml, type YamlReader } from "../../../src/spec/parse.js";
import { isContainer, SourceMap, type YamlPath } from "../../../src/spec/source.js";
import { readFastYaml } from "../../../src/spec/yaml-fast.js";
import { corporaDir, haveCorpora, repoRoot } from "../../helpers/corpora.js";

/**
 * Everything parseYaml produces for a text with one reader: the data, the issues, and the key and
 * value position, merge tag and `!reset` keys of every entry of the result.
 */
function snapshot(text: string, reader: YamlReader) {
  const sources = new SourceMap();
  const diags = new Diagnostics();
  const { value, loc } = parseYaml(text, "stack.yml", sources, diags, reader);
  const entries: unknown[] = [];
  const walk = (node: unknown, path: YamlPath): void => {
    if (!isContainer(node)) return;
    const resets = [...sources.resets(node)].map(([k, l]) => [k, l?.key, l?.value]);
    if (resets.length > 0) entries.push({ path, resets });
    for (const [k, v] of Object.entries(node)) {
      const key = Array.isArray(node) ? Number(k) : k;
      const l = sources.get(node, key);
      entries.push({ path: [...path, key], key: l?.key, value: l?.value, tag: sources.tag(node, key) });
      walk(v, [...path, key]);
    }
  };
  walk(value, []);
  return { value, loc, issues: diags.issues, entries };
}

/** The fast reader either gives up or gives exactly what the `yaml` package path gives. */
function expectSameAsYamlPackage(text: string): "fast" | "fallback" {
  const slow = snapshot(text, "yaml-package");
  if (readFastYaml(text) === undefined) return "fallback";
  expect(snapshot(text, "auto"), JSON.stringify(text)).toEqual(slow);
  return "fast";
}

const ACCEPTED = [
  "a: 1\n",
  "services:\n  web:\n    image: nginx\n",
  "a:\n",
  "a: &x\nb: *x\n",
  "- \n- a\n",
  "-\n  a: 1\n",
  "- a: 1\n  b: 2\n- c\n",
  "x-a: &a {image: a, user: ua}\nx-b: &b {image: b, tty: true}\nservices:\n  s:\n    <<: [*a, *b]\n    user: mine\n",
  "x-a: &a {image: a, ports: [80]}\nservices:\n  s:\n    <<: *a\n    ports: !reset []\n",
  'x-r: &r !reset []\nservices:\n  s:\n    ports: [!reset "80:80", "81:81"]\n    volumes: *r\n',
  "a: 0440\nb: '0440'\nc: 0o17\nd: 10\ne: ~\nf: true\ng: 1.5\nh: .inf\ni: 0x1F\nj: -.5e3\nk: 0.10\n",
  "k: null\nl: Null\nm: NULL\nn: nULL\no: TRUE\np: False\nq: yes\nr: on\ns: .NaN\nt: -0\nu: 08\nv: 1e400\n",
  "services:\n  true: {}\n  1: {}\n",
  "",
  "# only a comment\n",
  "x: &x {a: 1}\ny: *x\n",
  "x:\n  __proto__: {polluted: yes}\n  y: 1\n",
  "a: [1,\n  2]\n",
  "a:\n- 1\n- 2\nb: 3\n",
  "a: !reset\nb: !override\nc: !reset 1\nd: [!override x]\n",
  "a: !reset\n  - x\n",
  "a: &q\n  b: 1\nc: *q\n",
  "- &a\n- *a\n",
  "a: # c\n  b: 1\n",
  "a:   # c\nb: 2\n",
  "'a': \"b\\n\"\n\"c\": 'it''s'\n",
  "a: x #c\n",
  "a:\n  b\nc: 1\n",
  "a: {b: 1, c: [d, e], 'f': \"g\", h: {}}\n",
  "a: {b: 1,}\nc: [b,]\n",
  "[1, 2]\n",
  "{a: 1}\n",
  "hello\n",
  "- - a\n  - b\n- c\n",
  "a: &a\n  - x\nb: *a\n",
  "a:\n  - b\n  -  c\n",
  "a:\n - b\n",
  "a: x\n\n\nb: y\n",
  "a:\n\n  b: 1\n",
  "a: &a\n\nb: 1\n",
  "- !reset\n- a\n",
  "a: {b: &x 1, c: *x}\n",
  "a: {<<: {b: 1}}\nb:\n  <<: {b: 1}\n  c: 2\n",
  '"<<": {b: 1}\n',
  "a: 'x'  \nb: x  \nc: {b: 1} \n",
  "a: 123456789012345678901234567890\n",
  'a: ["a", \'b\', "\\u00e9\\t"]\n',
  "a: {'b':1, \"c\":2}\n",
  "a: [a:b]\n",
  "x: &x [a, *x]\n",
  "x: &x\n  y: *x\n",
  "a: &a {b: 1}\nc:\n  <<: *a\n  b: 2\n",
  "a: &a {b: !reset 1}\nc: *a\n",
  "a: [1, 2]\nb: *a\n".replace("a: [", "a: &a ["),
  "s:\n  - target: /x\n    source: y\n  - z\n",
];

const REFUSED = [
  "a: 1\na: 2\n",
  "1: a\n01: b\n",
  "~: a\nnull: b\n",
  "a: 1\n---\nb: 2\n",
  "---\na: 1\n",
  "%YAML 1.2\n---\na: 1\n",
  "a: [1,\n2]\n",
  "a: b: c\n",
  "- a: b: c\n",
  "a: @x\n",
  "a: `x\n",
  'a: "x"#c\n',
  "a: {b}\n",
  "a: [b: c]\n",
  "a: *b\n",
  "a: 1\n b: 2\n",
  "a:\n  b: 1\n c: 2\n",
  "&a a: b\n",
  "a: !!str 1\n",
  "a: !custom 1\n",
  'a: "\\q"\n',
  "a: 'x\n",
  "a: |\n  x\n",
  "a: >\n  x\n",
  "a: b\n  c\n",
  "a:\r\n  b: 1\r\n",
  "a:\tb\n",
  "? a\n: b\n",
  "a: 1\n- b\n",
  "[a]: b\n",
  "a: [1, , 2]\n",
  `${"k".repeat(1100)}: 1\n`,
  "\ufeffa: 1\n",
];

describe("readFastYaml", () => {
  it.each(ACCEPTED)("reads %j exactly as the yaml package path does", (text) => {
    expect(expectSameAsYamlPackage(text)).toBe("fast");
  });

  it.each(REFUSED)("leaves %j to the yaml package", (text) => {
    expect(readFastYaml(text)).toBeUndefined();
    // And the result is still the yaml package path's, errors included.
    expect(snapshot(text, "auto")).toEqual(snapshot(text, "yaml-package"));
  });

  it("reads a large generated stack file without falling back", () => {
    const lines = ["x-common: &common", "  restart: unless-stopped", "services:"];
    for (let i = 0; i < 50; i++) {
      lines.push(
        `  svc${i}:`,
        "    <<: *common",
        `    image: registry.local/app:\${TAG:-1.${i}}`,
        `    command: ["serve", "--port", "${8000 + i}"]`,
        `    environment: [ID=${i}, MODE=bench]`,
        "    deploy:",
        "      resources: {limits: {cpus: '0.5', memory: 128M}}",
      );
    }
    expect(expectSameAsYamlPackage(`${lines.join("\n")}\n`)).toBe("fast");
  });

  it.skipIf(!haveCorpora)("reads every YAML file of the corpora as the yaml package path does", () => {
    const files = readdirSync(corporaDir, { withFileTypes: true, recursive: true })
      .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
      .map((e) => join(e.parentPath, e.name));
    files.push(
      ...readdirSync(join(repoRoot, "examples"), { withFileTypes: true, recursive: true })
        .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
        .map((e) => join(e.parentPath, e.name)),
    );
    const outcomes = files.map((f) => [
      relative(repoRoot, f),
      expectSameAsYamlPackage(readFileSync(f, "utf8")),
    ]);
    // Most real files are within the fast reader's subset (this guards against it silently giving up).
    expect(outcomes.filter(([, o]) => o === "fast").length).toBeGreaterThan(files.length / 2);
  });

  it("reads arbitrary YAML-shaped models as the yaml package path does", () => {
    const scalar = fc.oneof(
      fc.string(),
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.constantFrom(
        "0755",
        "08",
        "~",
        "Null",
        "TRUE",
        "yes",
        ".inf",
        "0x1f",
        "0o7",
        "1e3",
        "1_0",
        "a: b",
        "#x",
        "-",
      ),
    );
    const key = fc.oneof(
      fc.string({ maxLength: 8 }),
      fc.constantFrom("<<", "__proto__", "1", "01", "true", "null"),
    );
    const tree = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: "small" }, scalar, tie("list"), tie("map")),
      list: fc.array(tie("node"), { maxLength: 4 }),
      map: fc.dictionary(key, tie("node"), { maxKeys: 5 }),
    })).node;
    const options = fc.record({
      flow: fc.boolean(),
      indent: fc.integer({ min: 1, max: 4 }),
      indentSeq: fc.boolean(),
      lineWidth: fc.constantFrom(0, 20, 80),
      defaultStringType: fc.constantFrom<"PLAIN" | "QUOTE_DOUBLE" | "QUOTE_SINGLE">(
        "PLAIN",
        "QUOTE_DOUBLE",
        "QUOTE_SINGLE",
      ),
    });
    let fast = 0;
    fc.assert(
      fc.property(tree, options, (value, { flow, ...opts }) => {
        const doc = new YAML.Document(value);
        if (flow)
          YAML.visit(doc, { Map: (_, n) => void (n.flow = true), Seq: (_, n) => void (n.flow = true) });
        if (expectSameAsYamlPackage(doc.toString(opts)) === "fast") fast++;
      }),
      { numRuns: 400 },
    );
    expect(fast).toBeGreaterThan(100);
  });

  it("reads arbitrary text as the yaml package path does, or leaves it to it", () => {
    const piece = fc.constantFrom(
      "a",
      "b",
      "<<",
      ":",
      ": ",
      "- ",
      "-",
      " ",
      "  ",
      "\n",
      "\n  ",
      "\n    ",
      "[",
      "]",
      "{",
      "}",
      ", ",
      ",",
      "&x ",
      "*x",
      "!reset ",
      "!override ",
      "#c",
      " #c",
      "'q'",
      '"d"',
      "1",
      "0755",
      "~",
      "true",
      "\t",
      "?",
      "|",
      "---",
      "'",
      '"',
      "\\",
      "@",
      "%",
      "\r\n",
      "\n- ",
      "- a: ",
      "b: ",
      "*",
      "&",
      "!",
      "!!str ",
      ".inf",
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), (parts) => {
        expectSameAsYamlPackage(parts.join(""));
      }),
      { numRuns: 3000 },
    );
  });
});
