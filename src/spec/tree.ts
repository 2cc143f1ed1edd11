/**
 * Building blocks for the phases that rewrite the plain-data tree (interpolation, merging, `extends`,
 * path resolution): own-property assignment and copy-on-write maps over containers that carry the
 * input's positions, merge tags and `!reset` records over to the copy.
 */
import { isMapping, type SourceMap, type YamlPath } from "./source.js";

/** Assigns an own property, also for the key `__proto__` (which `o[k] = v` would treat as the prototype). */
export function put(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === "__proto__")
    Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

/**
 * `fn` applied to every entry of a mapping, copy-on-write: `c` itself when no value changed
 * (`Object.is`), else a new mapping carrying `c`'s positions, tags and `!reset` records (they are keyed
 * by container and key, and keys do not change).
 */
export function mapEntries(
  c: Record<string, unknown>,
  fn: (v: unknown, k: string) => unknown,
  sources: SourceMap,
): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  const keys = Object.keys(c);
  for (const k of keys) {
    const v = c[k];
    const nv = fn(v, k);
    if (out === undefined) {
      if (Object.is(nv, v)) continue;
      // The first entry that changed: the ones before it are copied as they are.
      out = {};
      for (const kj of keys) {
        if (kj === k) break;
        put(out, kj, c[kj]);
      }
    }
    put(out, k, nv);
  }
  if (out === undefined) return c;
  sources.copyAll(c, out);
  return out;
}

/** `fn` applied to every item of a list, copy-on-write as `mapEntries`. */
export function mapItems(
  list: unknown[],
  fn: (v: unknown, i: number) => unknown,
  sources: SourceMap,
): unknown[] {
  let out: unknown[] | undefined;
  for (let i = 0; i < list.length; i++) {
    const v: unknown = list[i];
    const nv = fn(v, i);
    if (out === undefined) {
      if (Object.is(nv, v)) continue;
      out = list.slice(0, i);
    }
    out.push(nv);
  }
  if (out === undefined) return list;
  sources.copyAll(list, out);
  return out;
}

/** The value at `path` under `root`; `undefined` when any step is missing or of the wrong kind. */
export function valueAt(root: unknown, path: YamlPath): unknown {
  let node = root;
  for (const seg of path) {
    if (typeof seg === "number") node = Array.isArray(node) ? node[seg] : undefined;
    else node = isMapping(node) ? node[seg] : undefined;
  }
  return node;
}
