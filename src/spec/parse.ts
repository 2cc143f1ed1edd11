/**
 * Phase 1: YAML text → plain data + positions.
 *
 * Uses the `yaml` package's document AST (not `toJS`) so that every value keeps its file:line:col,
 * and so that the loader itself controls the three YAML features Compose relies on:
 * - merge keys `<<` (YAML 1.1, kept by Compose): explicit keys win, then earlier merged maps;
 * - the `!reset` / `!override` tags (recorded in the SourceMap for the merge phase);
 * - aliases, expanded by copying, against a budget: a "billion laughs" file is refused after a bounded
 *   amount of work instead of exhausting memory.
 * Plain scalars follow go-yaml v3 (what Compose uses) where YAML 1.2 differs: `0440` is octal.
 */
import YAML, { isAlias, isMap, isPair, isScalar, isSeq, type Node as YamlNode } from "yaml";
import type { Diagnostics } from "./diagnostics.js";
import {
  OffsetEntry,
  SourceText,
  type MergeTag,
  type SourceLocation,
  type SourceMap,
  type YamlPath,
} from "./source.js";

/** Fixed part of the alias budget; the rest scales with the file's own size. */
const ALIAS_BUDGET_BASE = 100_000;
const ALIAS_BUDGET_PER_NODE = 10;
/** Nesting beyond this is refused (also bounds the converter's recursion). */
const MAX_DEPTH = 500;

export interface ParseResult {
  /** The document's value; `null` for an empty file. `undefined` when the file could not be parsed. */
  readonly value: unknown;
  /** Position of the document root. */
  readonly loc: SourceLocation;
}

class BudgetExceeded extends Error {}

/**
 * Parses one YAML document. Syntax errors, duplicate keys, multiple documents and alias bombs are
 * reported to `diags` with their position; the returned value is then `undefined`.
 */
export function parseYaml(text: string, file: string, sources: SourceMap, diags: Diagnostics): ParseResult {
  const lineCounter = new YAML.LineCounter();
  const at = (offset: number | undefined): SourceLocation => {
    const p = lineCounter.linePos(offset ?? 0);
    return { file, line: p.line, col: p.col };
  };
  const rootLoc = { file, line: 1, col: 1 };
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

  // One pass in document order: count nodes (for the alias budget) and bind every alias to the
  // anchor most recently defined before it. `Alias.resolve()` would re-walk the document on every
  // expansion, which turns a file with many aliases into quadratic work.
  let ownNodes = 0;
  const anchors = new Map<string, YamlNode>();
  const aliasTargets = new Map<YamlNode, YamlNode | undefined>();
  // Hand-written rather than YAML.visit: this runs over every node of large files.
  // An object, not a `let`: the flag is set inside the closure, which TypeScript's narrowing cannot see.
  const limit = { tooDeep: false };
  const scan = (node: unknown, depth: number): void => {
    if (node === null || node === undefined || limit.tooDeep) return;
    if (depth > MAX_DEPTH) {
      limit.tooDeep = true;
      return;
    }
    ownNodes++;
    if (isAlias(node)) {
      aliasTargets.set(node, anchors.get(node.source));
      return;
    }
    const n = node as YamlNode;
    if (n.anchor !== undefined) anchors.set(n.anchor, n);
    if (isMap(n)) {
      for (const pair of n.items) {
        scan(pair.key, depth + 1);
        scan(pair.value, depth + 1);
      }
    } else if (isSeq(n)) {
      for (const item of n.items) scan(item, depth + 1);
    }
  };
  scan(doc.contents, 0);
  if (limit.tooDeep) {
    diags.error(
      "yaml/too-deep",
      [],
      `nesting deeper than ${MAX_DEPTH} levels`,
      rootLoc,
      "flatten the document",
    );
    return { value: undefined, loc: rootLoc };
  }
  const resolveAlias = (n: YamlNode): YamlNode | undefined => aliasTargets.get(n);
  const budget = { left: ALIAS_BUDGET_BASE + ALIAS_BUDGET_PER_NODE * ownNodes };
  const loc = (n: YamlNode | null | undefined): SourceLocation => at(n?.range?.[0]);
  const positions = new SourceText(file, (o) => lineCounter.linePos(o));
  const offset = (n: YamlNode | null | undefined): number => n?.range?.[0] ?? 0;
  /** An empty value (`web:`) is an implicit null scalar placed after the colon: point at the key instead. */
  const isEmpty = (n: YamlNode | null): boolean =>
    n === null || (isScalar(n) && n.value === null && n.source === "");

  /**
   * Converts a node. `expanding` counts down the alias budget while inside an alias copy, and
   * `anchors` holds the aliases being expanded (a self-referencing alias is refused).
   */
  const convert = (
    node: YamlNode | null,
    path: YamlPath,
    expanding: boolean,
    active: Set<YamlNode>,
  ): unknown => {
    if (node === null) return null;
    if (path.length > MAX_DEPTH) {
      diags.error("yaml/too-deep", path, `nesting deeper than ${MAX_DEPTH} levels`, loc(node));
      throw new BudgetExceeded();
    }
    if (expanding && --budget.left < 0) throw new BudgetExceeded();
    if (isAlias(node)) {
      const target = resolveAlias(node);
      if (target === undefined) {
        diags.error("yaml/unknown-alias", path, `alias *${node.source} has no anchor`, loc(node));
        return null;
      }
      if (active.has(target)) {
        diags.error("yaml/recursive-alias", path, `alias *${node.source} refers to itself`, loc(node));
        return null;
      }
      active.add(target);
      try {
        return convert(target, path, true, active);
      } finally {
        active.delete(target);
      }
    }
    if (isScalar(node)) return scalarValue(node);
    if (isSeq(node)) {
      const out: unknown[] = [];
      for (const item of node.items) {
        const n = item as YamlNode | null;
        // A `!reset` item is dropped, as compose-go does.
        if (tagOf(n) === "reset") continue;
        const i = out.length;
        out.push(convert(n, [...path, i], expanding, active));
        const l = offset(n ?? node);
        sources.set(out, i, new OffsetEntry(positions, l, l));
        recordTag(out, i, n);
      }
      return out;
    }
    if (isMap(node)) {
      const out: Record<string, unknown> = {};
      const merges: YamlNode[] = [];
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const keyNode = pair.key as YamlNode | null;
        const valueNode = pair.value as YamlNode | null;
        const key = keyString(keyNode);
        if (key === "<<" && isScalar(keyNode) && keyNode.type === "PLAIN") {
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
            loc(keyNode),
          );
          continue;
        }
        const entry = new OffsetEntry(
          positions,
          offset(keyNode),
          offset(isEmpty(valueNode) ? keyNode : valueNode),
        );
        if (tagOf(valueNode) === "reset") {
          // `key: !reset …` removes the key here and, when merging, from the base.
          sources.addReset(out, key, entry);
          continue;
        }
        out[key] = convert(valueNode, [...path, key], expanding, active);
        sources.set(out, key, entry);
        recordTag(out, key, valueNode);
      }
      // Merge keys: fill only what is not set explicitly (nor reset); the first listed map wins.
      for (const src of merges) {
        const merged = convert(src, path, true, active);
        if (typeof merged !== "object" || merged === null || Array.isArray(merged)) {
          diags.error("yaml/merge-not-mapping", path, "`<<` merges mappings only", loc(src));
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
    diags.error("yaml/unsupported-node", path, "unsupported YAML node", loc(node));
    return null;
  };

  const mergeSources = (valueNode: YamlNode | null, path: YamlPath): YamlNode[] => {
    if (valueNode === null) return [];
    if (isSeq(valueNode)) return valueNode.items.filter((n): n is YamlNode => n !== null);
    if (isAlias(valueNode) || isMap(valueNode)) return [valueNode];
    diags.error(
      "yaml/merge-not-mapping",
      path,
      "`<<` takes an alias, a mapping or a list of them",
      loc(valueNode),
    );
    return [];
  };

  /** The tag of a node; an alias carries the tag of its anchor (`ports: *reset_anchor`). */
  const tagOf = (n: YamlNode | null): MergeTag | undefined => {
    const target = n !== null && isAlias(n) ? resolveAlias(n) : n;
    return mergeTagOf(target ?? null);
  };

  const recordTag = (container: object, key: string | number, n: YamlNode | null): void => {
    const t = tagOf(n);
    if (t !== undefined) sources.setTag(container, key, t);
  };

  try {
    const value = convert(doc.contents, [], false, new Set());
    return { value, loc: loc(doc.contents) };
  } catch (e) {
    if (!(e instanceof BudgetExceeded)) throw e;
    if (!diags.hasErrors) {
      diags.error(
        "yaml/alias-bomb",
        [],
        `aliases expand to more than ${ALIAS_BUDGET_BASE + ALIAS_BUDGET_PER_NODE * ownNodes} nodes; refusing to expand further`,
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

function mergeTagOf(n: YamlNode | null): MergeTag | undefined {
  const tag = n?.tag;
  if (tag === "!reset") return "reset";
  if (tag === "!override") return "override";
  return undefined;
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

const GO_OCTAL = /^[-+]?0[0-7]+$/;

function scalarValue(n: YAML.Scalar): unknown {
  // go-yaml v3 (Compose's parser) reads `0440` as octal 288; YAML 1.2 core would say 440.
  if (n.type === "PLAIN" && n.tag === undefined && typeof n.source === "string" && GO_OCTAL.test(n.source)) {
    return Number.parseInt(n.source, 8);
  }
  if (typeof n.value === "bigint") return Number(n.value);
  return n.value;
}
