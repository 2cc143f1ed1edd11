/**
 * Phase 1: YAML text → plain data + positions.
 *
 * Reads a YAML tree (not `toJS`) so that every value keeps its file:line:col, and so that the loader
 * itself controls the three YAML features Compose relies on:
 * - merge keys `<<` (YAML 1.1, kept by Compose): explicit keys win, then earlier merged maps;
 * - the `!reset` / `!override` tags (recorded in the SourceMap for the merge phase);
 * - aliases, expanded by copying, against a budget: a "billion laughs" file is refused after a bounded
 *   amount of work instead of exhausting memory.
 * Plain scalars follow go-yaml v3 (what Compose uses) where YAML 1.2 differs: `0440` is octal.
 *
 * The tree comes from the fast reader (`yaml-fast.ts`) when the file stays within the common subset
 * of YAML it reads, and otherwise from the `yaml` package's Document AST, which also reports every
 * syntax error: the fast reader gives up on anything it does not fully understand.
 */
import YAML, { isAlias, isMap, isPair, isScalar, isSeq, type Node as YamlNode } from "yaml";
import type { Diagnostics } from "./diagnostics.js";
import { OffsetEntry, SourceText, type SourceLocation, type SourceMap, type YamlPath } from "./source.js";
import { readFastYaml } from "./yaml-fast.js";
import {
  goOctal,
  MAX_DEPTH,
  mergeTagOf,
  type YDocument,
  type YEntry,
  type YMap,
  type YNode,
  type YSeq,
} from "./yaml-node.js";

/** Fixed part of the alias budget; the rest scales with the file's own size. */
const ALIAS_BUDGET_BASE = 100_000;
const ALIAS_BUDGET_PER_NODE = 10;

export interface ParseResult {
  /** The document's value; `null` for an empty file. `undefined` when the file could not be parsed. */
  readonly value: unknown;
  /** Position of the document root. */
  readonly loc: SourceLocation;
}

/** Which reader to use; tests compare the two. */
export type YamlReader = "auto" | "yaml-package";

class BudgetExceeded extends Error {}

/**
 * Parses one YAML document. Syntax errors, duplicate keys, multiple documents and alias bombs are
 * reported to `diags` with their position; the returned value is then `undefined`.
 *
 * `reader` defaults to "auto" (the fast reader, the `yaml` package where it gives up).
 */
export function parseYaml(
  text: string,
  file: string,
  sources: SourceMap,
  diags: Diagnostics,
  reader: YamlReader = "auto",
): ParseResult {
  const rootLoc = { file, line: 1, col: 1 };
  const fast = reader === "auto" ? readFastYaml(text) : undefined;
  if (fast !== undefined) {
    if (fast.root === null) return { value: null, loc: rootLoc };
    return convertTree(fast, file, fast.linePos, sources, diags);
  }

  const lineCounter = new YAML.LineCounter();
  const at = (offset: number | undefined): SourceLocation => {
    const p = lineCounter.linePos(offset ?? 0);
    return { file, line: p.line, col: p.col };
  };
  const docs = YAML.parseAllDocuments(text, {
    lineCounter,
    merge: false,
    uniqueKeys: true,
    prettyErrors: false,
    strict: true,
    stringKeys: false,
  });
  const list = Array.isArray(docs) ? docs : [];
  if (list.length > 1) {
    const second = list[1];
    diags.error(
      "yaml/multiple-documents",
      [],
      "a stack file holds one YAML document, this one has several",
      at(second?.range[0]),
      "remove the `---` separator, or split the documents into files passed with several -f",
    );
    return { value: undefined, loc: rootLoc };
  }
  const doc = list[0];
  if (doc === undefined) return { value: null, loc: rootLoc };
  let failed = false;
  for (const e of doc.errors) {
    failed = true;
    diags.error(`yaml/${e.code.toLowerCase().replaceAll("_", "-")}`, [], firstLine(e.message), at(e.pos[0]));
  }
  for (const w of doc.warnings) {
    if (w.code === "TAG_RESOLVE_FAILED" && /!(reset|override)\b/.test(w.message)) continue;
    diags.warn(`yaml/${w.code.toLowerCase().replaceAll("_", "-")}`, [], firstLine(w.message), at(w.pos[0]));
  }
  if (failed) return { value: undefined, loc: rootLoc };
  if (doc.contents === null) return { value: null, loc: rootLoc };

  const tree = fromDocument(doc.contents);
  if (tree === undefined) {
    diags.error(
      "yaml/too-deep",
      [],
      `nesting deeper than ${MAX_DEPTH} levels`,
      rootLoc,
      "flatten the document",
    );
    return { value: undefined, loc: rootLoc };
  }
  return convertTree(tree, file, (o) => lineCounter.linePos(o), sources, diags);
}

/**
 * The `yaml` package's AST as a YNode tree, in one pass in document order: counts nodes (for the
 * alias budget) and binds every alias to the anchor most recently defined before it
 * (`Alias.resolve()` would re-walk the document on every expansion: quadratic on many aliases).
 * `undefined` when the nesting is deeper than MAX_DEPTH.
 */
export function fromDocument(contents: YamlNode): YDocument | undefined {
  let ownNodes = 0;
  const anchors = new Map<string, YNode>();
  // An object, not a `let`: the flag is set inside the closure, which TypeScript's narrowing cannot see.
  const limit = { tooDeep: false };
  const build = (node: unknown, depth: number): YNode | null => {
    if (node === null || node === undefined || limit.tooDeep) return null;
    if (depth > MAX_DEPTH) {
      limit.tooDeep = true;
      return null;
    }
    ownNodes++;
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      return {
        kind: "alias",
        offset: node.range?.[0] ?? 0,
        tag: target?.tag,
        name: node.source,
        target,
      };
    }
    const n = node as YamlNode;
    const offset = n.range?.[0] ?? 0;
    const tag = mergeTagOf(n.tag);
    let out: YNode;
    if (isMap(n)) {
      const entries: YEntry[] = [];
      out = { kind: "map", offset, tag, entries } satisfies YMap;
      // Registered before the children are read, so that an alias inside its own anchor is seen.
      if (n.anchor !== undefined) anchors.set(n.anchor, out);
      for (const pair of n.items) {
        if (!isPair(pair)) continue;
        const keyNode = pair.key as YamlNode | null;
        // Built for the count and the anchors it may define; the entry keeps its text only.
        build(keyNode, depth + 1);
        entries.push({
          key: keyString(keyNode),
          keyOffset: keyNode?.range?.[0] ?? 0,
          plainKey: isScalar(keyNode) && keyNode.type === "PLAIN",
          value: build(pair.value, depth + 1),
        });
      }
    } else if (isSeq(n)) {
      const items: (YNode | null)[] = [];
      out = { kind: "seq", offset, tag, items } satisfies YSeq;
      if (n.anchor !== undefined) anchors.set(n.anchor, out);
      for (const item of n.items) items.push(build(item, depth + 1));
    } else if (isScalar(n)) {
      out = {
        kind: "scalar",
        offset,
        tag,
        value: scalarValue(n),
        empty: n.value === null && n.source === "",
      };
      if (n.anchor !== undefined) anchors.set(n.anchor, out);
    } else {
      throw new Error("internal: a YAML node that is neither map, sequence, scalar nor alias");
    }
    return out;
  };
  const root = build(contents, 0);
  return limit.tooDeep ? undefined : { root, ownNodes };
}

/** Converts a YNode tree to plain data, recording positions and merge tags in `sources`. */
function convertTree(
  tree: YDocument,
  file: string,
  linePos: (offset: number) => { line: number; col: number },
  sources: SourceMap,
  diags: Diagnostics,
): ParseResult {
  const rootLoc = { file, line: 1, col: 1 };
  const positions = new SourceText(file, linePos);
  const budget = { left: ALIAS_BUDGET_BASE + ALIAS_BUDGET_PER_NODE * tree.ownNodes };
  const loc = (n: YNode | null): SourceLocation => positions.at(n?.offset ?? 0);
  const offset = (n: YNode | null): number => n?.offset ?? 0;
  /** An empty value (`web:`) is an implicit null scalar placed after the colon: point at the key instead. */
  const isEmpty = (n: YNode | null): boolean => n === null || (n.kind === "scalar" && n.empty);

  /**
   * Converts a node. `expanding` counts down the alias budget while inside an alias copy, and
   * `active` holds the anchors being expanded (a self-referencing alias is refused). `path` is one
   * array pushed and popped along the walk (a copy per entry costs more than the rest of the walk);
   * errors keep a copy.
   */
  const convert = (
    node: YNode | null,
    path: (string | number)[],
    expanding: boolean,
    active: Set<YNode>,
  ): unknown => {
    if (node === null) return null;
    if (path.length > MAX_DEPTH) {
      diags.error("yaml/too-deep", [...path], `nesting deeper than ${MAX_DEPTH} levels`, loc(node));
      throw new BudgetExceeded();
    }
    if (expanding && --budget.left < 0) throw new BudgetExceeded();
    switch (node.kind) {
      case "alias": {
        const target = node.target;
        if (target === undefined) {
          diags.error("yaml/unknown-alias", [...path], `alias *${node.name} has no anchor`, loc(node));
          return null;
        }
        if (active.has(target)) {
          diags.error("yaml/recursive-alias", [...path], `alias *${node.name} refers to itself`, loc(node));
          return null;
        }
        active.add(target);
        try {
          return convert(target, path, true, active);
        } finally {
          active.delete(target);
        }
      }
      case "scalar":
        return node.value;
      case "seq": {
        const out: unknown[] = [];
        for (const n of node.items) {
          // A `!reset` item is dropped, as compose-go does.
          if (n?.tag === "reset") continue;
          const i = out.length;
          path.push(i);
          out.push(convert(n, path, expanding, active));
          path.pop();
          const l = offset(n ?? node);
          sources.set(out, i, new OffsetEntry(positions, l, l));
          if (n?.tag !== undefined) sources.setTag(out, i, n.tag);
        }
        return out;
      }
      case "map": {
        const out: Record<string, unknown> = {};
        const merges: YNode[] = [];
        for (const { key, keyOffset, plainKey, value: valueNode } of node.entries) {
          if (key === "<<" && plainKey) {
            merges.push(...mergeSources(valueNode, path));
            continue;
          }
          if (key === "__proto__") {
            // Assigning it would replace the object's prototype (prototype pollution) in every later
            // phase; no Compose key or label needs it.
            diags.error(
              "yaml/forbidden-key",
              [...path, key],
              'the key "__proto__" is not allowed',
              positions.at(keyOffset),
            );
            continue;
          }
          const entry = new OffsetEntry(
            positions,
            keyOffset,
            isEmpty(valueNode) ? keyOffset : offset(valueNode),
          );
          if (valueNode?.tag === "reset") {
            // `key: !reset …` removes the key here and, when merging, from the base.
            sources.addReset(out, key, entry);
            continue;
          }
          path.push(key);
          out[key] = convert(valueNode, path, expanding, active);
          path.pop();
          sources.set(out, key, entry);
          if (valueNode?.tag !== undefined) sources.setTag(out, key, valueNode.tag);
        }
        // Merge keys: fill only what is not set explicitly (nor reset); the first listed map wins.
        for (const src of merges) {
          const merged = convert(src, path, true, active);
          if (typeof merged !== "object" || merged === null || Array.isArray(merged)) {
            diags.error("yaml/merge-not-mapping", [...path], "`<<` merges mappings only", loc(src));
            continue;
          }
          for (const [k, v] of Object.entries(merged)) {
            if (k in out || sources.resets(out).has(k)) continue;
            out[k] = v;
            sources.copyEntry(merged, k, out);
          }
        }
        return out;
      }
    }
  };

  const mergeSources = (valueNode: YNode | null, path: YamlPath): YNode[] => {
    if (valueNode === null) return [];
    if (valueNode.kind === "seq") return valueNode.items.filter((n): n is YNode => n !== null);
    if (valueNode.kind === "alias" || valueNode.kind === "map") return [valueNode];
    diags.error(
      "yaml/merge-not-mapping",
      [...path],
      "`<<` takes an alias, a mapping or a list of them",
      loc(valueNode),
    );
    return [];
  };

  try {
    const value = convert(tree.root, [], false, new Set());
    return { value, loc: loc(tree.root) };
  } catch (e) {
    if (!(e instanceof BudgetExceeded)) throw e;
    if (!diags.hasErrors) {
      diags.error(
        "yaml/alias-bomb",
        [],
        `aliases expand to more than ${ALIAS_BUDGET_BASE + ALIAS_BUDGET_PER_NODE * tree.ownNodes} nodes; refusing to expand further`,
        rootLoc,
        "this looks like a 'billion laughs' file: reduce nested aliases",
      );
    }
    return { value: undefined, loc: rootLoc };
  }
}

function firstLine(message: string): string {
  return (message.split("\n")[0] ?? message).replace(/ at line \d+, column \d+:?$/, "");
}

/** Compose converts every mapping key to a string (`true:` → "true", `1:` → "1"). */
function keyString(n: YamlNode | null): string {
  if (n === null) return "";
  if (isScalar(n)) {
    if (n.type === "PLAIN" && typeof n.source === "string") return n.source;
    return String(n.value);
  }
  return String(n);
}

function scalarValue(n: YAML.Scalar): unknown {
  if (n.type === "PLAIN" && n.tag === undefined && typeof n.source === "string") {
    const octal = goOctal(n.source);
    if (octal !== undefined) return octal;
  }
  if (typeof n.value === "bigint") return Number(n.value);
  return n.value;
}
