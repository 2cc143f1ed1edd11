/**
 * The merge phase: several stack files (or a service and the one it `extends`) become one model.
 *
 * This follows compose-go's `override` package (`merge.go`, `uncity.go`): mappings merge key by key,
 * sequences append, and a table of paths gets its own rule (shell commands are replaced, list-or-map
 * attributes are converted to one form so that they merge, logging options only merge for the same
 * driver, …). After merging, "unicity" collapses sequence entries that declare the same thing (two
 * mounts on one target, one port twice), the later declaration winning.
 *
 * `!override` and `!reset` (recorded by the parser in the SourceMap) act on the override side: an entry
 * tagged `!override` replaces the base value wholesale, and a key declared `!reset` is dropped from
 * the base. compose-go records these as paths and deletes them from the base before merging; looking
 * them up on the override containers while merging gives the same result.
 *
 * Every entry of the result is given the position of the file that declared it: values taken from the
 * base keep the base file's positions, values from the override point to the override file, and a
 * container merged from both is located where the override declared it. Containers merged from both
 * sides and values taken from the base are new; a value only the override declares is shared with
 * it, with its positions and directives (so merging a file into an empty model copies nothing). No
 * phase modifies its input, which is what makes the sharing safe.
 */
import type { Diagnostics } from "./diagnostics.js";
import { formatLocation, isMapping, type EntryLocation, type SourceMap, type YamlPath } from "./source.js";
import { mapEntries, put } from "./tree.js";

export interface MergeContext {
  readonly sources: SourceMap;
  readonly diags: Diagnostics;
}

type Dict = Record<string, unknown>;

/**
 * Merges `override` over `base`, then enforces unicity on the result. Neither input is modified.
 *
 * compose-go runs every file through this, the first one included (it is merged into an empty
 * model), so unicity also applies to a single file: load the first file with `mergeModels({}, first)`.
 */
export function mergeModels(base: Dict, override: Dict, ctx: MergeContext): Dict {
  const m = new Merger(ctx);
  return m.uniqueIn(m.mapping(base, override, []), UNIQUE_MATCHER.root);
}

/**
 * Merges a service over the service it extends (compose-go `ExtendService`): the same rules as
 * between files, at the path `services.<name>`. Unicity is enforced on the result.
 */
export function extendService(base: Dict, service: Dict, name: string, ctx: MergeContext): Dict {
  const m = new Merger(ctx);
  const out = m.mapping(base, service, ["services", name]);
  const state = UNIQUE_MATCHER.root.next("services")?.next(name);
  return state === undefined ? out : m.uniqueIn(out, state);
}

/**
 * Removes redefinitions from the sequences compose-go keeps unique (see `UNIQUE`); `model` is not
 * modified, and is returned as is when it has none.
 */
export function enforceUnicity(model: Dict, ctx: MergeContext): Dict {
  return new Merger(ctx).uniqueIn(model, UNIQUE_MATCHER.root);
}

/**
 * Deep-copies plain data, carrying positions over. `"all"` also carries merge tags and `!reset`
 * records; `"positions"` drops them, for values whose directives were already applied.
 */
export function cloneTree(value: unknown, sources: SourceMap, mode: "all" | "positions"): unknown {
  if (Array.isArray(value)) {
    const out = value.map((v) => cloneTree(v, sources, mode));
    for (let i = 0; i < value.length; i++) carry(sources, value, i, out, i, mode === "all");
    return out;
  }
  if (isMapping(value)) {
    const out: Dict = {};
    for (const [k, v] of Object.entries(value)) {
      put(out, k, cloneTree(v, sources, mode));
      carry(sources, value, k, out, k, mode === "all");
    }
    if (mode === "all") for (const [k, loc] of sources.resets(value)) sources.addReset(out, k, loc);
    return out;
  }
  return value;
}

/** The parts of a short volume syntax `source:target:options` (compose-go `format.ParseVolume`). */
export interface VolumeSpec {
  /** Empty for an anonymous volume (`/data`). Always a prefix of the spec, as written. */
  readonly source: string;
  readonly target: string;
  /** The mode/options section (`ro`, `rw,z`, …), empty when absent. */
  readonly options: string;
}

/**
 * Splits a short volume spec the way compose-go does, including its Windows drive-letter rule (a
 * colon right after a single letter belongs to the path). Returns undefined for specs compose-go
 * rejects (empty, an empty section, too many colons).
 */
export function parseVolumeSpec(spec: string): VolumeSpec | undefined {
  if (spec.length === 0) return undefined;
  if (spec.length <= 2) return { source: "", target: spec, options: "" };
  let source: string | undefined;
  let target: string | undefined;
  let options = "";
  let buffer = "";
  const flush = (atEnd: boolean): boolean => {
    if (buffer === "") return false;
    if (source === undefined && atEnd) target = buffer;
    else if (source === undefined) source = buffer;
    else if (target === undefined) target = buffer;
    else if (!atEnd) return false;
    else options = buffer;
    return true;
  };
  for (const ch of spec) {
    if (ch === ":" && buffer.length === 1 && /\p{L}/u.test(buffer)) buffer += ch;
    else if (ch === ":") {
      if (!flush(false)) return undefined;
      buffer = "";
    } else buffer += ch;
  }
  if (!flush(true)) return undefined;
  return { source: source ?? "", target: target ?? "", options };
}

/** Where a value sits: positions are keyed by container and key. */
interface Slot {
  readonly value: unknown;
  readonly container: object;
  readonly key: string | number;
}

/** A merged value and which side's entry position it takes. */
interface Merged {
  readonly value: unknown;
  readonly from: "base" | "override";
}

/** A sequence item on its way into a new list, with the position it was declared at. */
interface Item {
  readonly value: unknown;
  readonly loc: EntryLocation | undefined;
  readonly side: "base" | "override";
}

type Rule = (m: Merger, base: Slot, over: Slot, path: readonly string[]) => Merged;

/** compose-go `mergeSpecials`. `*` matches one mapping key. */
const RULES: readonly (readonly [string, Rule])[] = [
  ["networks.*.ipam.config", (m, b, o, p) => m.ipamConfig(b, o, p)],
  ["networks.*.labels", (m, b, o, p) => m.keyValueSequence(b, o, p)],
  ["volumes.*.labels", (m, b, o, p) => m.keyValueSequence(b, o, p)],
  // Not in compose-go v2's table; its newer tests merge these like every other `labels`.
  ["secrets.*.labels", (m, b, o, p) => m.keyValueSequence(b, o, p)],
  ["configs.*.labels", (m, b, o, p) => m.keyValueSequence(b, o, p)],
  ["services.*.annotations", (m, b, o, p) => m.keyValueSequence(b, o, p)],
  ["services.*.build", (m, b, o, p) => m.build(b, o, p)],
  ["services.*.build.args", (m, b, o, p) => m.keyValueSequence(b, o, p)],
  ["services.*.build.additional_contexts", (m, b, o, p) => m.keyValueSequence(b, o, p)],
  ["services.*.build.extra_hosts", (m, b, o, p) => m.extraHosts(b, o, p)],
  ["services.*.build.labels", (m, b, o, p) => m.keyValueSequence(b, o, p)],
  ["services.*.command", (m, _b, o) => m.replace(o)],
  ["services.*.depends_on", (m, b, o, p) => m.toMapping(b, o, p, "depends_on")],
  ["services.*.deploy.labels", (m, b, o, p) => m.keyValueSequence(b, o, p)],
  ["services.*.dns", (m, b, o, p) => m.sequence(b, o, p)],
  ["services.*.dns_opt", (m, b, o, p) => m.sequence(b, o, p)],
  ["services.*.dns_search", (m, b, o, p) => m.sequence(b, o, p)],
  ["services.*.entrypoint", (m, _b, o) => m.replace(o)],
  ["services.*.env_file", (m, b, o, p) => m.sequence(b, o, p)],
  ["services.*.label_file", (m, b, o, p) => m.sequence(b, o, p)],
  ["services.*.environment", (m, b, o, p) => m.keyValueSequence(b, o, p)],
  ["services.*.extra_hosts", (m, b, o, p) => m.extraHosts(b, o, p)],
  ["services.*.healthcheck.test", (m, _b, o) => m.replace(o)],
  ["services.*.labels", (m, b, o, p) => m.keyValueSequence(b, o, p)],
  ["services.*.logging", (m, b, o, p) => m.logging(b, o, p)],
  ["services.*.models", (m, b, o, p) => m.toMapping(b, o, p, "null")],
  ["services.*.networks", (m, b, o, p) => m.toMapping(b, o, p, "null")],
  ["services.*.sysctls", (m, b, o, p) => m.keyValueSequence(b, o, p)],
  ["services.*.tmpfs", (m, b, o, p) => m.sequence(b, o, p)],
  ["services.*.ulimits.*", (m, b, o, p) => m.ulimit(b, o, p)],
];

/** The identity of a sequence entry; undefined when it has none (it is then kept as is). */
type Indexer = (entry: unknown) => string | undefined;

const keyValueIndexer: Indexer = (e) => (typeof e === "string" ? keyOf(e) : undefined);

const mountIndexer =
  (defaultDir: string): Indexer =>
  (e) => {
    if (typeof e === "string") return `${defaultDir}/${e}`;
    if (!isMapping(e)) return undefined;
    if (e["target"] !== undefined && e["target"] !== null) return scalarText(e["target"]);
    return `${defaultDir}/${scalarText(e["source"])}`;
  };

const volumeIndexer: Indexer = (e) => {
  if (isMapping(e)) return typeof e["target"] === "string" ? e["target"] : undefined;
  return typeof e === "string" ? parseVolumeSpec(e)?.target : undefined;
};

const deviceIndexer: Indexer = (e) => {
  if (isMapping(e)) return typeof e["target"] === "string" ? e["target"] : undefined;
  if (typeof e !== "string") return undefined;
  const parts = e.split(":");
  return parts[1] ?? parts[0];
};

const portIndexer: Indexer = (e) => {
  if (typeof e === "number") return String(e);
  if (typeof e === "string") return e;
  if (!isMapping(e) || e["target"] === undefined) return undefined;
  const host = e["host_ip"] ?? "0.0.0.0";
  const protocol = e["protocol"] ?? "tcp";
  return `${scalarText(host)}:${scalarText(e["published"] ?? "")}:${scalarText(e["target"])}/${scalarText(protocol)}`;
};

const exposeIndexer: Indexer = (e) =>
  typeof e === "string" || typeof e === "number" ? String(e) : undefined;

const envFileIndexer: Indexer = (e) => {
  if (typeof e === "string") return e;
  return isMapping(e) && typeof e["path"] === "string" ? e["path"] : undefined;
};

/** compose-go `unique`: sequences whose entries must be unique, and what makes an entry unique. */
const UNIQUE: readonly (readonly [string, Indexer])[] = [
  ["networks.*.labels", keyValueIndexer],
  ["networks.*.ipam.options", keyValueIndexer],
  ["services.*.annotations", keyValueIndexer],
  ["services.*.build.args", keyValueIndexer],
  ["services.*.build.additional_contexts", keyValueIndexer],
  // compose-go lists `platform`; the Compose spec key is `platforms`. Both are harmless to dedupe.
  ["services.*.build.platform", keyValueIndexer],
  ["services.*.build.platforms", keyValueIndexer],
  ["services.*.build.tags", keyValueIndexer],
  ["services.*.build.labels", keyValueIndexer],
  ["services.*.cap_add", keyValueIndexer],
  ["services.*.cap_drop", keyValueIndexer],
  ["services.*.configs", mountIndexer("")],
  ["services.*.deploy.labels", keyValueIndexer],
  ["services.*.devices", deviceIndexer],
  ["services.*.dns", keyValueIndexer],
  ["services.*.dns_opt", keyValueIndexer],
  ["services.*.dns_search", keyValueIndexer],
  ["services.*.environment", keyValueIndexer],
  ["services.*.env_file", envFileIndexer],
  ["services.*.expose", exposeIndexer],
  ["services.*.labels", keyValueIndexer],
  ["services.*.links", keyValueIndexer],
  ["services.*.networks.*.aliases", keyValueIndexer],
  ["services.*.networks.*.link_local_ips", keyValueIndexer],
  ["services.*.ports", portIndexer],
  ["services.*.profiles", keyValueIndexer],
  ["services.*.secrets", mountIndexer("/run/secrets")],
  ["services.*.sysctls", keyValueIndexer],
  ["services.*.tmpfs", keyValueIndexer],
  ["services.*.volumes", volumeIndexer],
];

/** A node of the pattern trie: one step of one or more patterns. */
interface TrieNode<T> {
  readonly named: Map<string, TrieNode<T>>;
  star: TrieNode<T> | undefined;
  /** The pattern ending here, with its rank in its table. */
  end: { readonly rank: number; readonly value: T } | undefined;
}

/**
 * A position in a tree, as far as a pattern table is concerned: the trie nodes its path reaches
 * (one pattern may name a key that another matches with `*`). States are built on first use and
 * cached, so matching a path costs one map lookup per segment and allocates nothing.
 */
class MatchState<T> {
  /** The first pattern of the table (in table order) that ends at this path. */
  readonly value: T | undefined;
  readonly #nodes: readonly TrieNode<T>[];
  /** Transitions on keys some pattern names. */
  readonly #named = new Map<string, MatchState<T> | undefined>();
  /** The transition on any other key (only `*` steps), once built. */
  #other: { readonly state: MatchState<T> | undefined } | undefined;

  constructor(nodes: readonly TrieNode<T>[]) {
    this.#nodes = nodes;
    let best: TrieNode<T>["end"];
    for (const n of nodes)
      if (n.end !== undefined && (best === undefined || n.end.rank < best.rank)) best = n.end;
    this.value = best?.value;
  }

  /** The state of `path + [key]`; undefined when no pattern can match below it. */
  next(key: string): MatchState<T> | undefined {
    if (this.#named.has(key)) return this.#named.get(key);
    let named = false;
    for (const n of this.#nodes) named ||= n.named.has(key);
    if (!named) {
      // Not cached per key: these are user-chosen names (services, networks…), without bound.
      this.#other ??= { state: this.#step(undefined) };
      return this.#other.state;
    }
    const state = this.#step(key);
    this.#named.set(key, state);
    return state;
  }

  #step(key: string | undefined): MatchState<T> | undefined {
    const nodes: TrieNode<T>[] = [];
    for (const n of this.#nodes) {
      const named = key === undefined ? undefined : n.named.get(key);
      if (named !== undefined) nodes.push(named);
      if (n.star !== undefined) nodes.push(n.star);
    }
    return nodes.length === 0 ? undefined : new MatchState(nodes);
  }
}

/** Dotted patterns (`*` matches one mapping key) → the state machine matching them. */
class PathMatcher<T> {
  readonly root: MatchState<T>;

  constructor(table: readonly (readonly [string, T])[]) {
    const trie = (): TrieNode<T> => ({ named: new Map(), star: undefined, end: undefined });
    const top = trie();
    table.forEach(([pattern, value], rank) => {
      let node = top;
      for (const seg of pattern.split(".")) {
        let child = seg === "*" ? node.star : node.named.get(seg);
        if (child === undefined) {
          child = trie();
          if (seg === "*") node.star = child;
          else node.named.set(seg, child);
        }
        node = child;
      }
      node.end ??= { rank, value };
    });
    this.root = new MatchState([top]);
  }

  /** The first pattern (in table order) matching the whole of `path`. */
  match(path: readonly string[]): T | undefined {
    let state: MatchState<T> | undefined = this.root;
    for (const seg of path) {
      state = state.next(seg);
      if (state === undefined) return undefined;
    }
    return state.value;
  }
}

const RULE_MATCHER = new PathMatcher(RULES);
const UNIQUE_MATCHER = new PathMatcher(UNIQUE);

class Merger {
  readonly #sources: SourceMap;
  readonly #diags: Diagnostics;

  constructor(ctx: MergeContext) {
    this.#sources = ctx.sources;
    this.#diags = ctx.diags;
  }

  /** compose-go `mergeMappings`, with the override's `!reset` and `!override` applied first. */
  mapping(base: Dict, over: Dict, path: readonly string[]): Dict {
    // Over an empty base the result would be a copy of the override, entry for entry (values,
    // positions, tags and resets): the override itself is that result.
    if (isEmpty(base)) return over;
    const s = this.#sources;
    const out: Dict = {};
    const resets = s.resets(over);
    for (const [k, bv] of Object.entries(base)) {
      if (resets.has(k)) continue;
      if (!Object.hasOwn(over, k)) {
        put(out, k, this.fromBase(bv));
        carry(s, base, k, out, k, false);
      } else if (s.tag(over, k) === "override") {
        put(out, k, this.fromOverride(over[k]));
        carry(s, over, k, out, k, true);
      } else {
        const r = this.value(
          { value: bv, container: base, key: k },
          { value: over[k], container: over, key: k },
          [...path, k],
        );
        put(out, k, r.value);
        if (r.from === "base") carry(s, base, k, out, k, false);
        else carry(s, over, k, out, k, true);
      }
    }
    for (const [k, ov] of Object.entries(over)) {
      if (Object.hasOwn(out, k)) continue;
      put(out, k, this.fromOverride(ov));
      carry(s, over, k, out, k, true);
    }
    // Kept so that this result, used as an override in turn (a resolved `extends` merged into the
    // previous files), still resets those keys there, as compose-go's path-based resets would.
    for (const [k, loc] of resets) s.addReset(out, k, loc);
    return out;
  }

  /** compose-go `mergeYaml`. */
  value(base: Slot, over: Slot, path: readonly string[]): Merged {
    const rule = RULE_MATCHER.match(path);
    if (rule !== undefined) return rule(this, base, over, path);
    const e = base.value;
    const o = over.value;
    if (o === null || o === undefined) return { value: this.fromBase(e), from: "base" };
    if (isMapping(e)) {
      if (!isMapping(o)) return this.mismatch(base, over, path);
      return { value: this.mapping(e, o, path), from: "override" };
    }
    if (Array.isArray(e)) {
      if (!Array.isArray(o)) return this.mismatch(base, over, path);
      const items = [...this.items(base, "base"), ...this.items(over, "override")];
      return { value: this.list(items, "distinct-override"), from: "override" };
    }
    return this.replace(over);
  }

  replace(over: Slot): Merged {
    return { value: this.fromOverride(over.value), from: "override" };
  }

  /** Lists (or a single string) that append; an override entry identical to one present is dropped. */
  sequence(base: Slot, over: Slot, _path: readonly string[]): Merged {
    const items = [...this.asSequence(base, "base"), ...this.asSequence(over, "override")];
    return { value: this.list(items, "distinct-override"), from: "override" };
  }

  /**
   * `KEY=VALUE` attributes written as a list or a mapping: converted to lists (compose-go
   * `convertIntoSequence`) where the last entry for a key wins, at the place of the first. The
   * override's `KEY: !reset` entries remove that key from the base.
   */
  keyValueSequence(base: Slot, over: Slot, _path: readonly string[]): Merged {
    const resets = isMapping(over.value) ? this.#sources.resets(over.value) : new Map();
    const baseItems = this.asSequence(base, "base").filter((i) => {
      const k = typeof i.value === "string" ? keyOf(i.value) : undefined;
      return k === undefined || !resets.has(k);
    });
    const out: Item[] = [];
    const at = new Map<string, number>();
    for (const item of [...baseItems, ...this.asSequence(over, "override")]) {
      const k = typeof item.value === "string" ? keyOf(item.value) : undefined;
      const j = k === undefined ? undefined : at.get(k);
      if (j !== undefined) out[j] = item;
      else {
        if (k !== undefined) at.set(k, out.length);
        out.push(item);
      }
    }
    return { value: this.list(out, "all"), from: "override" };
  }

  /**
   * `extra_hosts`: list or mapping. An override entry for a host replaces the base entries for that
   * host (a host may have several addresses, so all of the override's entries for it are kept).
   */
  extraHosts(base: Slot, over: Slot, _path: readonly string[]): Merged {
    const overItems = this.asSequence(over, "override");
    const replaced = new Set<string>(isMapping(over.value) ? this.#sources.resets(over.value).keys() : []);
    for (const i of overItems) if (typeof i.value === "string") replaced.add(hostOf(i.value));
    const baseItems = this.asSequence(base, "base").filter(
      (i) => typeof i.value !== "string" || !replaced.has(hostOf(i.value)),
    );
    return { value: this.list([...baseItems, ...overItems], "distinct-override"), from: "override" };
  }

  /** `build: ./dir` is `build: {context: ./dir}`, so that both forms merge. */
  build(base: Slot, over: Slot, path: readonly string[]): Merged {
    const asMapping = (slot: Slot): Dict => {
      if (isMapping(slot.value)) return slot.value;
      const m: Dict = {};
      if (typeof slot.value === "string") {
        m["context"] = slot.value;
        const loc = this.#sources.get(slot.container, slot.key);
        if (loc !== undefined) this.#sources.set(m, "context", loc);
      }
      return m;
    };
    return { value: this.mapping(asMapping(base), asMapping(over), path), from: "override" };
  }

  /**
   * `depends_on`, `networks`, `models`: a list of names is the mapping of those names to a default
   * (`depends_on`: started and required; others: null), so that both forms merge as mappings.
   */
  toMapping(base: Slot, over: Slot, path: readonly string[], defaults: "depends_on" | "null"): Merged {
    const asMapping = (slot: Slot): Dict => {
      const v = slot.value;
      if (isMapping(v)) return v;
      const m: Dict = {};
      if (v === null || v === undefined) return m;
      if (!Array.isArray(v)) {
        this.#diags.error(
          "merge/invalid-entry",
          [...path],
          `cannot merge ${kind(v)}: expected a list of names or a mapping`,
          this.#sources.get(slot.container, slot.key)?.value,
        );
        return m;
      }
      v.forEach((name, i) => {
        const loc = this.#sources.get(v, i);
        if (typeof name !== "string") {
          this.#diags.error(
            "merge/invalid-entry",
            [...path, i],
            `cannot use ${kind(name)} as a name in this list`,
            loc?.value,
          );
          return;
        }
        let entry: Dict | null = null;
        if (defaults === "depends_on") {
          entry = { condition: "service_started", required: true };
          if (loc !== undefined) {
            this.#sources.set(entry, "condition", loc);
            this.#sources.set(entry, "required", loc);
          }
        }
        put(m, name, entry);
        if (loc !== undefined) this.#sources.set(m, name, loc);
      });
      return m;
    };
    return { value: this.mapping(asMapping(base), asMapping(over), path), from: "override" };
  }

  /** Logging options only merge when both files use the same driver (or one names none). */
  logging(base: Slot, over: Slot, path: readonly string[]): Merged {
    const e = base.value;
    const o = over.value;
    if (!isMapping(e)) return this.replace(over);
    if (!isMapping(o)) return { value: this.fromBase(e), from: "base" };
    const bothNamed = Object.hasOwn(e, "driver") && Object.hasOwn(o, "driver");
    if (bothNamed && e["driver"] !== o["driver"]) return this.replace(over);
    return { value: this.mapping(e, o, path), from: "override" };
  }

  /** A ulimit is a number or `{soft, hard}`: two mappings merge, otherwise the override wins. */
  ulimit(base: Slot, over: Slot, path: readonly string[]): Merged {
    if (isMapping(base.value) && isMapping(over.value)) {
      return { value: this.mapping(base.value, over.value, path), from: "override" };
    }
    return this.replace(over);
  }

  /**
   * IPAM pools are keyed by subnet: the override's pools, each merged over the base pool with the
   * same subnet. (compose-go drops base pools whose subnet the override does not name, and returns
   * no pool at all when the base list is empty; the latter is a bug this does not reproduce.)
   */
  ipamConfig(base: Slot, over: Slot, path: readonly string[]): Merged {
    const e = base.value;
    const o = over.value;
    if (o === null || o === undefined) return { value: this.fromBase(e), from: "base" };
    if (!Array.isArray(e) || !Array.isArray(o)) return this.replace(over);
    const out: unknown[] = [];
    const locs: (EntryLocation | undefined)[] = [];
    o.forEach((pool, i) => {
      const subnet = isMapping(pool) ? pool["subnet"] : undefined;
      const j = e.findIndex((b) => isMapping(b) && b["subnet"] === subnet);
      const match: unknown = e[j];
      const merged =
        isMapping(pool) && isMapping(match) ? this.mapping(match, pool, path) : this.fromOverride(pool);
      const existing = out.findIndex((p) => isMapping(p) && p["subnet"] === subnet);
      const at = existing >= 0 ? existing : out.length;
      out[at] = merged;
      locs[at] = this.#sources.get(o, i);
    });
    locs.forEach((loc, i) => {
      if (loc !== undefined) this.#sources.set(out, i, loc);
    });
    return { value: out, from: "override" };
  }

  /**
   * compose-go `EnforceUnicity`, copy-on-write: `node` itself when none of its sequences has a
   * redefinition, otherwise a copy (with `node`'s positions, tags and resets) holding the deduplicated
   * sequences. `state` is where `node` sits for the `UNIQUE` patterns; branches no pattern reaches
   * are not visited.
   */
  uniqueIn(node: Dict, state: MatchState<Indexer>): Dict {
    return mapEntries(
      node,
      (child, k) => {
        if (typeof child !== "object" || child === null) return child;
        const sub = state.next(k);
        if (sub === undefined) return child;
        if (!Array.isArray(child)) return this.uniqueIn(child as Dict, sub);
        return sub.value === undefined ? child : this.dedupe(child, sub.value);
      },
      this.#sources,
    );
  }

  /**
   * `list` without the entries a later one redefines (the later one takes the earlier one's place);
   * `list` itself when there are none.
   */
  private dedupe(list: readonly unknown[], indexer: Indexer): readonly unknown[] {
    const at = new Map<string, number>();
    let items: Omit<Item, "side">[] | undefined;
    for (let i = 0; i < list.length; i++) {
      const value = list[i];
      const key = indexer(value);
      const j = key === undefined ? undefined : at.get(key);
      if (j === undefined) {
        if (key !== undefined) at.set(key, items === undefined ? i : items.length);
        items?.push({ value, loc: this.#sources.get(list, i) });
        continue;
      }
      // The first redefinition: from here on, build the new list.
      items ??= list.slice(0, i).map((v, n) => ({ value: v, loc: this.#sources.get(list, n) }));
      items[j] = { value, loc: this.#sources.get(list, i) };
    }
    if (items === undefined) return list;
    const out = items.map((item) => item.value);
    items.forEach((item, i) => {
      if (item.loc !== undefined) this.#sources.set(out, i, item.loc);
    });
    return out;
  }

  /** The items of a sequence, with their positions. */
  private items(slot: Slot, side: Item["side"]): Item[] {
    const v = slot.value;
    if (!Array.isArray(v)) return [];
    return v.map((value: unknown, i) => ({ value, loc: this.#sources.get(v, i), side }));
  }

  /** compose-go `convertIntoSequence`: null → [], "x" → ["x"], {K: V} → ["K=V"] sorted. */
  private asSequence(slot: Slot, side: Item["side"]): Item[] {
    const v = slot.value;
    if (v === null || v === undefined) return [];
    if (Array.isArray(v)) return this.items(slot, side);
    if (isMapping(v)) {
      const out: Item[] = [];
      for (const [k, val] of Object.entries(v)) {
        const loc = this.#sources.get(v, k);
        if (val === null || val === undefined) out.push({ value: k, loc, side });
        else if (Array.isArray(val)) {
          val.forEach((x, i) =>
            out.push({ value: `${k}=${scalarText(x)}`, loc: this.#sources.get(val, i) ?? loc, side }),
          );
        } else out.push({ value: `${k}=${scalarText(val)}`, loc, side });
      }
      // Sorted like compose-go, whose maps have no order; a stable order keeps merges reproducible.
      return out.sort((a, b) => compareStrings(a.value as string, b.value as string));
    }
    // A lone string is a one-item list; other scalars are kept so validation can point at them.
    return [{ value: v, loc: this.#sources.get(slot.container, slot.key), side }];
  }

  /**
   * Builds a new list from items. `"distinct-override"` drops items from the override that are
   * identical to one already present (compose-go drops strictly identical entries: two of them
   * never mean more than one, and it makes re-merging the same override a no-op).
   */
  private list(items: readonly Item[], mode: "all" | "distinct-override"): unknown[] {
    const out: unknown[] = [];
    const locs: (EntryLocation | undefined)[] = [];
    // Scalars already in `out`, so that checking a scalar item costs a lookup, not a scan. Only
    // containers need deepEqual; NaN (never equal to anything) is left out of the set.
    const scalars = new Set<unknown>();
    let containers = 0;
    for (const item of items) {
      const v = item.value;
      const scalar = typeof v !== "object" || v === null;
      const skip = mode === "distinct-override" && item.side === "override";
      if (skip && (scalar ? scalars.has(v) : containers > 0 && out.some((x) => deepEqual(x, v)))) continue;
      out.push(item.side === "base" ? this.fromBase(v) : this.fromOverride(v));
      locs.push(item.loc);
      if (!scalar) containers++;
      else if (!Number.isNaN(v)) scalars.add(v);
    }
    locs.forEach((loc, i) => {
      if (loc !== undefined) this.#sources.set(out, i, loc);
    });
    return out;
  }

  private mismatch(base: Slot, over: Slot, path: readonly string[]): Merged {
    const baseLoc = this.#sources.get(base.container, base.key)?.value;
    this.#diags.error(
      "merge/type-mismatch",
      [...path] as YamlPath,
      `cannot merge ${kind(over.value)} over ${kind(base.value)}${baseLoc === undefined ? "" : ` (declared at ${formatLocation(baseLoc)})`}`,
      this.#sources.get(over.container, over.key)?.value,
      "write both in the same form, or tag this value `!override` to replace the other one",
    );
    return this.replace(over);
  }

  private fromBase(v: unknown): unknown {
    return cloneTree(v, this.#sources, "positions");
  }

  /** Shared, not copied: it keeps its positions and directives, and no phase modifies it. */
  private fromOverride(v: unknown): unknown {
    return v;
  }
}

function carry(
  sources: SourceMap,
  from: object,
  fromKey: string | number,
  to: object,
  toKey: string | number,
  withTag: boolean,
): void {
  const loc = sources.get(from, fromKey);
  if (loc !== undefined) sources.set(to, toKey, loc);
  if (!withTag) return;
  const tag = sources.tag(from, fromKey);
  if (tag !== undefined) sources.setTag(to, toKey, tag);
}

/** `KEY=VALUE` → `KEY`; `KEY` (unset) → `KEY`. */
function keyOf(entry: string): string {
  const i = entry.indexOf("=");
  return i < 0 ? entry : entry.slice(0, i);
}

/** `host=ip` or the older `host:ip` → `host`. */
function hostOf(entry: string): string {
  const eq = entry.indexOf("=");
  if (eq >= 0) return entry.slice(0, eq);
  const colon = entry.indexOf(":");
  return colon < 0 ? entry : entry.slice(0, colon);
}

/** Go's `%v` for the scalars YAML yields. */
function scalarText(v: unknown): string {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (v === null || v === undefined) return "";
  return JSON.stringify(v);
}

function kind(v: unknown): string {
  if (v === null || v === undefined) return "null";
  if (Array.isArray(v)) return "a sequence";
  if (isMapping(v)) return "a mapping";
  return `a ${typeof v}`;
}

/** Code-unit order, not locale order: it agrees with Go's byte order on ASCII, which keys are. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Whether a mapping has no own keys (without listing them). */
function isEmpty(d: Dict): boolean {
  for (const k in d) if (Object.hasOwn(d, k)) return false;
  return true;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  }
  if (isMapping(a)) {
    if (!isMapping(b)) return false;
    const ka = Object.keys(a);
    return (
      ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]))
    );
  }
  return false;
}
