/**
 * Source positions for the plain-data tree the loader works on.
 *
 * The loader keeps stack files as plain JS values (what ajv validates and what the phases transform),
 * and records where each value came from in a side table keyed by the containing object. Phases that
 * build new containers copy the entries they carry over (`copyEntry`, `copyAll`), so that an error
 * found after interpolation, merging or `extends` still points at the file, line and column that
 * declared the offending value.
 */

/** 1-based line and column in a file. */
export interface SourceLocation {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

/** A path into the tree: mapping keys and sequence indexes, e.g. `["services", "web", "ports", 0]`. */
export type YamlPath = readonly (string | number)[];

/** Where one mapping entry or sequence item was declared. */
export interface EntryLocation {
  /** The key token of a mapping entry; for sequence items the item itself. */
  readonly key: SourceLocation;
  /** The value (for collections: where the collection starts). */
  readonly value: SourceLocation;
}

/** One file's text positions: turns offsets into line/column on demand (binary search over line starts). */
export class SourceText {
  constructor(
    readonly file: string,
    private readonly linePos: (offset: number) => { line: number; col: number },
  ) {}

  at(offset: number): SourceLocation {
    const { line, col } = this.linePos(offset);
    return { file: this.file, line, col };
  }
}

/**
 * An entry position kept as two offsets. A large file has a position for every key and item, and
 * almost none is ever printed, so line/column objects are only made when an error asks for them.
 */
export class OffsetEntry implements EntryLocation {
  constructor(
    private readonly text: SourceText,
    private readonly keyOffset: number,
    private readonly valueOffset: number,
  ) {}

  get key(): SourceLocation {
    return this.text.at(this.keyOffset);
  }

  get value(): SourceLocation {
    return this.text.at(this.valueOffset);
  }
}

/** The merge directives of the Compose spec, written as YAML tags on a value. */
export type MergeTag = "reset" | "override";

export type Container = Record<string, unknown> | unknown[];

export function isContainer(v: unknown): v is Container {
  return typeof v === "object" && v !== null;
}

export function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Renders a path the way users read it: `services.web.ports[0]`. */
export function formatPath(path: YamlPath): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(seg)) out += out === "" ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out === "" ? "(root)" : out;
}

export function formatLocation(loc: SourceLocation | undefined): string {
  return loc === undefined ? "" : `${loc.file}:${loc.line}:${loc.col}`;
}

/**
 * The side table. One instance per load; shared by every phase of that load.
 * Containers are the keys, so a value that is copied unchanged keeps its positions for free.
 */
export class SourceMap {
  readonly #entries = new WeakMap<object, Map<string | number, EntryLocation>>();
  readonly #tags = new WeakMap<object, Map<string | number, MergeTag>>();
  /** Keys that a `!reset` removed from a mapping: a merge must drop them from the base too. */
  readonly #resets = new WeakMap<object, Map<string, EntryLocation | undefined>>();

  set(container: object, key: string | number, loc: EntryLocation): void {
    let m = this.#entries.get(container);
    if (m === undefined) {
      m = new Map();
      this.#entries.set(container, m);
    }
    m.set(key, loc);
  }

  get(container: object, key: string | number): EntryLocation | undefined {
    return this.#entries.get(container)?.get(key);
  }

  /** Copies the position (and merge tag) of `from[fromKey]` to `to[toKey]`, if it has one. */
  copyEntry(from: object, fromKey: string | number, to: object, toKey: string | number = fromKey): void {
    const loc = this.get(from, fromKey);
    if (loc !== undefined) this.set(to, toKey, loc);
    const tag = this.#tags.get(from)?.get(fromKey);
    if (tag !== undefined) this.setTag(to, toKey, tag);
  }

  /** Copies the positions of every entry of `from` onto `to` (same keys). */
  copyAll(from: object, to: object): void {
    const m = this.#entries.get(from);
    if (m !== undefined) for (const [k, loc] of m) this.set(to, k, loc);
    const t = this.#tags.get(from);
    if (t !== undefined) for (const [k, tag] of t) this.setTag(to, k, tag);
    const r = this.#resets.get(from);
    if (r !== undefined) for (const [k, loc] of r) this.addReset(to, k, loc);
  }

  setTag(container: object, key: string | number, tag: MergeTag): void {
    let m = this.#tags.get(container);
    if (m === undefined) {
      m = new Map();
      this.#tags.set(container, m);
    }
    m.set(key, tag);
  }

  tag(container: object, key: string | number): MergeTag | undefined {
    return this.#tags.get(container)?.get(key);
  }

  addReset(container: object, key: string, loc: EntryLocation | undefined): void {
    let m = this.#resets.get(container);
    if (m === undefined) {
      m = new Map();
      this.#resets.set(container, m);
    }
    m.set(key, loc);
  }

  /** Keys declared `!reset` in this mapping (they are absent from the mapping itself). */
  resets(container: object): ReadonlyMap<string, EntryLocation | undefined> {
    return this.#resets.get(container) ?? new Map();
  }

  /**
   * The most precise known position of `path` under `root`: the entry itself if known, otherwise
   * its closest ancestor. `part` chooses between a mapping entry's key and its value.
   */
  locate(root: unknown, path: YamlPath, part: "key" | "value" = "value"): SourceLocation | undefined {
    let node: unknown = root;
    let best: SourceLocation | undefined;
    for (let i = 0; i < path.length; i++) {
      const seg = path[i];
      if (!isContainer(node) || seg === undefined) break;
      const loc = this.get(node, seg);
      if (loc === undefined) break;
      best = i === path.length - 1 ? loc[part] : loc.value;
      node = (node as Record<string | number, unknown>)[seg];
    }
    return best;
  }
}
