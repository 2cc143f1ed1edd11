/**
 * The YAML tree the loader converts to plain data: only what the converter reads, with offsets.
 *
 * Two readers build it: the fast reader (`yaml-fast.ts`, for the common subset of YAML) and the
 * `yaml` package's Document AST (everything else, and every file with an error). Both give the
 * same tree for the same text, so merge keys, `!reset`, aliases and positions have one implementation.
 */
import type { MergeTag } from "./source.js";

export type YNode = YScalar | YMap | YSeq | YAlias;

interface YBase {
  /** Offset of the node in the text (`range[0]` in the `yaml` package). */
  readonly offset: number;
  /** `!reset` / `!override`; other tags never reach this tree. */
  readonly tag: MergeTag | undefined;
}

export interface YScalar extends YBase {
  readonly kind: "scalar";
  readonly value: unknown;
  /** No text at all (`web:`): positions point at the key instead. */
  readonly empty: boolean;
}

export interface YEntry {
  /** The key as Compose reads it: plain keys keep their text (`1:` → "1", `true:` → "true"). */
  readonly key: string;
  readonly keyOffset: number;
  /** A plain (unquoted) key, so that only a plain `<<` is a merge key. */
  readonly plainKey: boolean;
  readonly value: YNode | null;
}

export interface YMap extends YBase {
  readonly kind: "map";
  readonly entries: YEntry[];
}

export interface YSeq extends YBase {
  readonly kind: "seq";
  readonly items: (YNode | null)[];
}

export interface YAlias extends YBase {
  readonly kind: "alias";
  readonly name: string;
  /** The anchor defined most recently before the alias, in document order. */
  readonly target: YNode | undefined;
}

/** The tree of one document, with the figures the alias budget scales with. */
export interface YDocument {
  /** `null` for a document without content. */
  readonly root: YNode | null;
  /** Keys and values in the text (aliases count once, not expanded). */
  readonly ownNodes: number;
}

/** Nesting beyond this is refused (also bounds the converter's recursion). */
export const MAX_DEPTH = 500;

export function mergeTagOf(tag: string | undefined): MergeTag | undefined {
  if (tag === "!reset") return "reset";
  if (tag === "!override") return "override";
  return undefined;
}

const GO_OCTAL = /^[-+]?0[0-7]+$/;

/** go-yaml v3 (Compose's parser) reads a plain `0440` as octal 288; YAML 1.2 core would say 440. */
export function goOctal(source: string): number | undefined {
  return GO_OCTAL.test(source) ? Number.parseInt(source, 8) : undefined;
}
