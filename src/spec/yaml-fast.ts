/**
 * The fast YAML reader: builds the loader's YNode tree straight from the `yaml` package's Lexer,
 * skipping its Parser (CST) and Composer (Document), which take most of a large file's load time.
 *
 * It reads the subset of YAML that stack files are written in: one document of block mappings and
 * sequences, flow collections, single-line plain and quoted scalars, comments, anchors, aliases and
 * the `!reset` / `!override` tags. On anything else (block scalars, multi-line scalars, other tags,
 * explicit keys, directives, several documents, tabs, odd indentation, duplicate keys, any error) it
 * gives up and returns `undefined`, and the caller reads the file with the `yaml` package, which
 * handles — and reports errors on — everything. Invariant: whatever this reader accepts, it reads
 * exactly as `fromDocument(parseDocument(text).contents)` does (test/unit/spec/yaml-fast.test.ts).
 */
import YAML, { CST, isScalar, Lexer, type ParseOptions, type ScalarTag } from "yaml";
import type { MergeTag } from "./source.js";
import {
  goOctal,
  MAX_DEPTH,
  mergeTagOf,
  type YDocument,
  type YEntry,
  type YMap,
  type YNode,
  type YScalar,
  type YSeq,
} from "./yaml-node.js";

export interface FastDocument extends YDocument {
  readonly linePos: (offset: number) => { line: number; col: number };
}

/** Thrown inside the reader to give up; never leaves this module. */
class Unsupported extends Error {}

/** Token kinds the reader uses (numbers: they live in a Uint8Array); any other token makes it give up. */
const T = {
  Plain: 0,
  SingleQuoted: 1,
  DoubleQuoted: 2,
  Colon: 3,
  Dash: 4,
  SeqStart: 5,
  SeqEnd: 6,
  MapStart: 7,
  MapEnd: 8,
  Comma: 9,
  Anchor: 10,
  Alias: 11,
  Tag: 12,
  End: 13,
} as const;
type Kind = (typeof T)[keyof typeof T];

/** The anchor names this reader accepts (YAML allows more; those are left to the `yaml` package). */
const ANCHOR_NAME = /^[&*][\w.-]+$/;
/** Keys longer than this are left to the `yaml` package (it limits implicit keys to 1024 chars). */
const MAX_KEY_LENGTH = 1000;
/** Well below MAX_DEPTH, so that the `yaml` package reports too-deep files with its own checks. */
const MAX_FAST_DEPTH = MAX_DEPTH / 2;

const coreSchema = new YAML.Schema({ merge: false });
/** The core schema's implicit scalar tags, tried in order, as the Composer does for plain scalars. */
const implicitTags = coreSchema.tags.filter(
  (t): t is ScalarTag => t.collection === undefined && t.default === true && t.test !== undefined,
);
/** What the Composer passes to `resolve` by default; the core tags read `intAsBigInt` only. */
const resolveOptions: ParseOptions = { intAsBigInt: false };

export function readFastYaml(text: string): FastDocument | undefined {
  try {
    return new FastReader(text).read();
  } catch (e) {
    if (e instanceof Unsupported) return undefined;
    throw e;
  }
}

class FastReader {
  // Significant tokens, as parallel arrays (one object per token would cost more than the reading).
  // Every token is at least one character long, so the text's length (+ the end) bounds their number.
  private readonly kinds: Uint8Array;
  private readonly srcs: string[] = [];
  private readonly offs: Int32Array;
  private readonly cols: Int32Array;
  /** 1: a newline (possibly with comments) comes between the previous significant token and this one. */
  private readonly nls: Uint8Array;
  private count = 0;
  private readonly lineCounter = new YAML.LineCounter();
  private i = 0;
  private ownNodes = 0;
  private readonly anchors = new Map<string, YNode>();
  private readonly plainCache = new Map<string, unknown>();

  constructor(private readonly text: string) {
    const size = text.length + 1;
    this.kinds = new Uint8Array(size);
    this.offs = new Int32Array(size);
    this.cols = new Int32Array(size);
    this.nls = new Uint8Array(size);
  }

  read(): FastDocument {
    this.tokenize();
    const root = this.kinds[0] === T.End ? null : this.blockValue(-1, false, 0);
    if (this.kinds[this.i] !== T.End) throw new Unsupported();
    return { root, ownNodes: this.ownNodes, linePos: this.lineCounter.linePos };
  }

  private tokenize(): void {
    const text = this.text;
    const addNewLine = this.lineCounter.addNewLine;
    addNewLine(0);
    let offset = 0;
    let lineStart = 0;
    let sawNewline = false;
    /** The previous token was whitespace or a line break (a comment must follow one). */
    let afterSpace = true;
    let nextIsScalar = false;
    let first = true;
    for (const src of new Lexer().lex(text)) {
      if (nextIsScalar) {
        nextIsScalar = false;
        // Multi-line scalars fold lines and have indentation rules of their own.
        if (src.includes("\n") || src.includes("\r")) throw new Unsupported();
        this.push(T.Plain, src, offset, lineStart, sawNewline);
        sawNewline = false;
        afterSpace = false;
        offset += src.length;
        continue;
      }
      let kind: Kind;
      switch (src) {
        case CST.DOCUMENT:
          if (!first) throw new Unsupported();
          first = false;
          continue;
        case CST.SCALAR:
          nextIsScalar = true;
          continue;
        case ":":
          kind = T.Colon;
          break;
        case "-":
          kind = T.Dash;
          break;
        case "[":
          kind = T.SeqStart;
          break;
        case "]":
          kind = T.SeqEnd;
          break;
        case "{":
          kind = T.MapStart;
          break;
        case "}":
          kind = T.MapEnd;
          break;
        case ",":
          kind = T.Comma;
          break;
        case "\n":
          offset += 1;
          lineStart = offset;
          addNewLine(offset);
          sawNewline = true;
          afterSpace = true;
          continue;
        default:
          switch (src.charCodeAt(0)) {
            case 0x20: // space
              if (src.includes("\t") || src.trim() !== "") throw new Unsupported();
              offset += src.length;
              afterSpace = true;
              continue;
            case 0x23: // #
              if (!afterSpace) throw new Unsupported();
              offset += src.length;
              continue;
            case 0x22: // "
              if (src.includes("\n") || src.includes("\r")) throw new Unsupported();
              kind = T.DoubleQuoted;
              break;
            case 0x27: // '
              if (src.includes("\n") || src.includes("\r")) throw new Unsupported();
              kind = T.SingleQuoted;
              break;
            case 0x26: // &
              if (!ANCHOR_NAME.test(src)) throw new Unsupported();
              kind = T.Anchor;
              break;
            case 0x2a: // *
              if (!ANCHOR_NAME.test(src)) throw new Unsupported();
              kind = T.Alias;
              break;
            case 0x21: // !
              kind = T.Tag;
              break;
            default:
              // "\r\n", tabs, BOM, `---`, `...`, directives, `?`, block scalar headers, flow errors.
              throw new Unsupported();
          }
      }
      this.push(kind, src, offset, lineStart, sawNewline);
      sawNewline = false;
      afterSpace = false;
      offset += src.length;
    }
    if (offset !== text.length) throw new Error("internal: the YAML tokens do not cover the text");
    this.push(T.End, "", offset, lineStart, true);
  }

  private push(kind: Kind, src: string, offset: number, lineStart: number, nl: boolean): void {
    const n = this.count++;
    this.kinds[n] = kind;
    this.srcs.push(src);
    this.offs[n] = offset;
    this.cols[n] = offset - lineStart;
    this.nls[n] = nl ? 1 : 0;
  }

  /**
   * The value after `key:` or `- ` (or the whole document, with `indent` -1), in block context.
   * `indent` is the column of the mapping key or of the `-`; a sequence that is a mapping value may
   * sit at the key's column (`inMap`).
   */
  private blockValue(indent: number, inMap: boolean, depth: number): YNode {
    if (depth > MAX_FAST_DEPTH) throw new Unsupported();
    const { kinds, nls, cols } = this;
    let anchor: string | undefined;
    let tag: MergeTag | undefined;
    let propsEnd = -1;
    // Properties on a line of their own are left to the `yaml` package.
    if ((kinds[this.i] === T.Anchor || kinds[this.i] === T.Tag) && nls[this.i] === 1) throw new Unsupported();
    while (kinds[this.i] === T.Anchor || kinds[this.i] === T.Tag) {
      if (propsEnd >= 0 && nls[this.i] === 1) throw new Unsupported();
      if (kinds[this.i] === T.Anchor) {
        if (anchor !== undefined) throw new Unsupported();
        anchor = this.srcs[this.i]?.slice(1);
      } else {
        if (tag !== undefined) throw new Unsupported();
        tag = mergeTagOf(this.srcs[this.i]);
        if (tag === undefined) throw new Unsupported();
      }
      propsEnd = this.end(this.i);
      this.i++;
    }
    const i = this.i;
    const kind = kinds[i] ?? T.End;
    const col = cols[i] ?? 0;
    if (nls[i] === 1 || kind === T.End) {
      if (kind !== T.End && (col > indent || (inMap && col === indent && kind === T.Dash))) {
        return this.blockNodeAt(col, anchor, tag, depth);
      }
      return this.emptyScalar(propsEnd, anchor, tag, i);
    }
    // On the same line as the indicator (or as the properties).
    switch (kind) {
      case T.Dash:
        // `- - a`; `key: - a` is an error.
        if (inMap || anchor !== undefined || tag !== undefined) throw new Unsupported();
        return this.blockSeq(col, undefined, undefined, depth);
      case T.Plain:
      case T.SingleQuoted:
      case T.DoubleQuoted:
        if (kinds[i + 1] === T.Colon && nls[i + 1] === 0) {
          // `- key: value` (a compact mapping); `key: key2: value` is an error, and properties
          // before it would belong to the key.
          if (inMap || anchor !== undefined || tag !== undefined) throw new Unsupported();
          return this.blockMap(col, undefined, undefined, depth);
        }
        return this.endsLine(this.scalar(anchor, tag));
      case T.SeqStart:
      case T.MapStart:
        return this.endsLine(this.flowCollection(indent, anchor, tag, depth));
      case T.Alias:
        if (anchor !== undefined || tag !== undefined) throw new Unsupported();
        return this.endsLine(this.alias());
      default:
        throw new Unsupported();
    }
  }

  /** A node starting a line at column `col`, after properties on an earlier line. */
  private blockNodeAt(
    col: number,
    anchor: string | undefined,
    tag: MergeTag | undefined,
    depth: number,
  ): YNode {
    const { kinds, nls } = this;
    const i = this.i;
    switch (kinds[i]) {
      case T.Dash:
        return this.blockSeq(col, anchor, tag, depth);
      case T.Plain:
      case T.SingleQuoted:
      case T.DoubleQuoted:
        if (kinds[i + 1] === T.Colon && nls[i + 1] === 0) return this.blockMap(col, anchor, tag, depth);
        return this.endsLine(this.scalar(anchor, tag));
      default:
        // Flow collections and aliases on their own line, properties on their own line.
        throw new Unsupported();
    }
  }

  /** The node must be the last thing on its line. */
  private endsLine(node: YNode): YNode {
    if (this.nls[this.i] !== 1) throw new Unsupported();
    return node;
  }

  private blockMap(col: number, anchor: string | undefined, tag: MergeTag | undefined, depth: number): YMap {
    const { kinds, nls, cols } = this;
    const entries: YEntry[] = [];
    const map: YMap = { kind: "map", offset: this.offs[this.i] ?? 0, tag, entries };
    this.define(anchor, map);
    this.ownNodes++;
    const seen = new KeySet();
    for (;;) {
      const k = kinds[this.i];
      if (k !== T.Plain && k !== T.SingleQuoted && k !== T.DoubleQuoted) throw new Unsupported();
      if (kinds[this.i + 1] !== T.Colon || nls[this.i + 1] !== 0) throw new Unsupported();
      const keyOffset = this.offs[this.i] ?? 0;
      const src = this.srcs[this.i] ?? "";
      if (src.length > MAX_KEY_LENGTH) throw new Unsupported();
      const key = k === T.Plain ? this.plainKey(src) : this.quoted(k, src, keyOffset);
      seen.add(key, k === T.Plain ? this.coreValue(src) : key);
      this.ownNodes++;
      this.i += 2;
      // In block context `:` must be followed by a space or the end of the line.
      const after = this.text.charCodeAt(this.end(this.i - 1));
      if (!(after === 0x20 || after === 0x0a || Number.isNaN(after))) throw new Unsupported();
      const value = this.blockValue(col, true, depth + 1);
      entries.push({ key, keyOffset, plainKey: k === T.Plain, value });
      if (kinds[this.i] === T.End) return map;
      const next = cols[this.i] ?? 0;
      if (nls[this.i] !== 1 || next > col) throw new Unsupported();
      if (next < col) return map;
    }
  }

  private blockSeq(col: number, anchor: string | undefined, tag: MergeTag | undefined, depth: number): YSeq {
    const { kinds, nls, cols } = this;
    const items: YNode[] = [];
    const seq: YSeq = { kind: "seq", offset: this.offs[this.i] ?? 0, tag, items };
    this.define(anchor, seq);
    this.ownNodes++;
    for (;;) {
      if (kinds[this.i] !== T.Dash) throw new Unsupported();
      this.i++;
      items.push(this.blockValue(col, false, depth + 1));
      if (kinds[this.i] === T.End) return seq;
      const next = cols[this.i] ?? 0;
      if (nls[this.i] !== 1 || next > col) throw new Unsupported();
      // At the same column but not a `-`: the end of a sequence that is a mapping value (the caller
      // checks that a mapping key follows).
      if (next < col || kinds[this.i] !== T.Dash) return seq;
    }
  }

  /**
   * `[…]` or `{…}`. Its lines after the first must be indented more than the enclosing block
   * collection (`indent`); entries are plain or quoted scalars, aliases and flow collections.
   */
  private flowCollection(
    indent: number,
    anchor: string | undefined,
    tag: MergeTag | undefined,
    depth: number,
  ): YNode {
    if (depth > MAX_FAST_DEPTH) throw new Unsupported();
    const { kinds } = this;
    const offset = this.offs[this.i] ?? 0;
    const isMap = kinds[this.i] === T.MapStart;
    const close = isMap ? T.MapEnd : T.SeqEnd;
    this.ownNodes++;
    this.i++;
    if (isMap) {
      const entries: YEntry[] = [];
      const map: YMap = { kind: "map", offset, tag, entries };
      this.define(anchor, map);
      const seen = new KeySet();
      while (this.flowToken(indent) !== close) {
        const k = kinds[this.i];
        if (k !== T.Plain && k !== T.SingleQuoted && k !== T.DoubleQuoted) throw new Unsupported();
        const keyOffset = this.offs[this.i] ?? 0;
        const src = this.srcs[this.i] ?? "";
        if (src.length > MAX_KEY_LENGTH) throw new Unsupported();
        const key = k === T.Plain ? this.plainKey(src) : this.quoted(k, src, keyOffset);
        seen.add(key, k === T.Plain ? this.coreValue(src) : key);
        this.ownNodes++;
        this.i++;
        // `{a}` and `{a, b: c}` (keys without a value) are left to the `yaml` package.
        if (kinds[this.i] !== T.Colon || this.nls[this.i] === 1) throw new Unsupported();
        this.i++;
        const value = this.flowValue(indent, depth + 1);
        entries.push({ key, keyOffset, plainKey: k === T.Plain, value });
        if (!this.flowSeparator(indent, close)) break;
      }
      this.i++;
      return map;
    }
    const items: YNode[] = [];
    const seq: YSeq = { kind: "seq", offset, tag, items };
    this.define(anchor, seq);
    while (this.flowToken(indent) !== close) {
      items.push(this.flowValue(indent, depth + 1));
      // `[a: b]` (a one-pair mapping) is left to the `yaml` package.
      if (!this.flowSeparator(indent, close)) break;
    }
    this.i++;
    return seq;
  }

  /** The kind of the current token inside a flow collection, checking its indentation. */
  private flowToken(indent: number): number {
    const i = this.i;
    if (this.nls[i] === 1 && (this.cols[i] ?? 0) <= indent) throw new Unsupported();
    return this.kinds[i] ?? T.End;
  }

  /** After an entry: `,` (true, more may follow) or the closing bracket (false). */
  private flowSeparator(indent: number, close: number): boolean {
    const k = this.flowToken(indent);
    if (k === close) return false;
    if (k !== T.Comma) throw new Unsupported();
    this.i++;
    return true;
  }

  private flowValue(indent: number, depth: number): YNode {
    let anchor: string | undefined;
    let tag: MergeTag | undefined;
    for (;;) {
      const k = this.flowToken(indent);
      if ((k === T.Anchor || k === T.Tag) && this.nls[this.i] === 1) throw new Unsupported();
      if (k === T.Anchor) {
        if (anchor !== undefined) throw new Unsupported();
        anchor = this.srcs[this.i]?.slice(1);
      } else if (k === T.Tag) {
        if (tag !== undefined) throw new Unsupported();
        tag = mergeTagOf(this.srcs[this.i]);
        if (tag === undefined) throw new Unsupported();
      } else break;
      this.i++;
    }
    switch (this.flowToken(indent)) {
      case T.Plain:
      case T.SingleQuoted:
      case T.DoubleQuoted:
        return this.scalar(anchor, tag);
      case T.SeqStart:
      case T.MapStart:
        return this.flowCollection(indent, anchor, tag, depth);
      case T.Alias:
        if (anchor !== undefined || tag !== undefined) throw new Unsupported();
        return this.alias();
      default:
        // Empty entries (`[a, , b]`, `{a: }`) are left to the `yaml` package.
        throw new Unsupported();
    }
  }

  private scalar(anchor: string | undefined, tag: MergeTag | undefined): YScalar {
    const i = this.i;
    const k = this.kinds[i];
    const src = this.srcs[i] ?? "";
    const offset = this.offs[i] ?? 0;
    let value: unknown;
    if (k === T.Plain) {
      checkPlainStart(src);
      // A tagged scalar is a string: `!reset`/`!override` are unknown tags to the core schema.
      value = tag === undefined ? this.plainValue(src) : src;
    } else {
      value = this.quoted(k ?? T.End, src, offset);
    }
    this.i++;
    this.ownNodes++;
    const node: YScalar = { kind: "scalar", offset, tag, value, empty: false };
    this.define(anchor, node);
    return node;
  }

  /**
   * `key:` with nothing after it: an empty plain scalar, null (a string when tagged), placed where
   * the `yaml` package places it: after the properties, if any, and the spaces that follow them.
   */
  private emptyScalar(
    propsEnd: number,
    anchor: string | undefined,
    tag: MergeTag | undefined,
    next: number,
  ): YScalar {
    let offset: number;
    if (propsEnd >= 0) {
      offset = propsEnd;
      while (this.text.charCodeAt(offset) === 0x20) offset++;
    } else {
      // After the indicator (`:` or `-`), which is the token before `next`.
      offset = this.end(next - 1);
      while (this.text.charCodeAt(offset) === 0x20) offset++;
    }
    this.ownNodes++;
    const node: YScalar = {
      kind: "scalar",
      offset,
      tag,
      value: tag === undefined ? null : "",
      empty: tag === undefined,
    };
    this.define(anchor, node);
    return node;
  }

  private alias(): YNode {
    const name = (this.srcs[this.i] ?? "").slice(1);
    const target = this.anchors.get(name);
    // An alias without an anchor is reported by the `yaml` package.
    if (target === undefined) throw new Unsupported();
    const node: YNode = { kind: "alias", offset: this.offs[this.i] ?? 0, tag: target.tag, name, target };
    this.i++;
    this.ownNodes++;
    return node;
  }

  private define(anchor: string | undefined, node: YNode): void {
    if (anchor !== undefined) this.anchors.set(anchor, node);
  }

  private end(i: number): number {
    return (this.offs[i] ?? 0) + (this.srcs[i]?.length ?? 0);
  }

  private plainKey(src: string): string {
    checkPlainStart(src);
    return src;
  }

  /** A plain scalar's value as Compose reads it: the core schema's, with go-yaml's octal. */
  private plainValue(src: string): unknown {
    return goOctal(src) ?? this.coreValue(src);
  }

  /** A plain scalar as the YAML 1.2 core schema resolves it (what the `yaml` package's keys compare). */
  private coreValue(src: string): unknown {
    const cached = this.plainCache.get(src);
    if (cached !== undefined || this.plainCache.has(src)) return cached;
    let value: unknown = src;
    for (const t of implicitTags) {
      if (t.test?.test(src) === true) {
        const resolved = t.resolve(
          src,
          () => {
            throw new Unsupported();
          },
          resolveOptions,
        );
        // Some tags return a Scalar node (to keep a format), others the bare value.
        value = isScalar(resolved) ? resolved.value : resolved;
        break;
      }
    }
    if (typeof value === "bigint" || (typeof value === "object" && value !== null)) throw new Unsupported();
    this.plainCache.set(src, value);
    return value;
  }

  private quoted(kind: number, source: string, offset: number): string {
    const resolved = CST.resolveAsScalar(
      {
        type: kind === T.SingleQuoted ? "single-quoted-scalar" : "double-quoted-scalar",
        offset,
        indent: 0,
        source,
      },
      true,
      () => {
        throw new Unsupported();
      },
    );
    return resolved.value;
  }
}

/** Plain scalars the `yaml` package refuses to start with these characters. */
function checkPlainStart(src: string): void {
  if (src.length === 0) throw new Unsupported();
  switch (src.charCodeAt(0)) {
    case 0x09: // tab
    case 0x2c: // ,
    case 0x25: // %
    case 0x7c: // |
    case 0x3e: // >
    case 0x40: // @
    case 0x60: // `
      throw new Unsupported();
  }
}

/**
 * The keys of one mapping. A repeated key is left to the `yaml` package, which reports keys with
 * equal values (`1` and `01`, `~` and `null`) as duplicates; keys that only read as the same string
 * (`1` and `"1"`) are left to it too, so that the later one wins in one place only.
 */
class KeySet {
  private readonly strings = new Set<string>();
  private readonly values = new Set<unknown>();

  add(key: string, value: unknown): void {
    if (this.strings.has(key) || this.values.has(value) || Number.isNaN(value)) throw new Unsupported();
    this.strings.add(key);
    this.values.add(value);
  }
}
