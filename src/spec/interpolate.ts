/**
 * Phase 2: variable substitution over the whole parsed tree, as Compose does it before validation.
 *
 * Every string value is substituted (mapping keys are not, like compose-go). Strings that contained a
 * reference and sit where the Compose model wants a number or a boolean are then cast, so that
 * `replicas: ${N}` validates as an integer: compose-go's `interpolateTypeCastMapping`. Casting only
 * values that held a `$` follows compose-go v3; a quoted literal `"3"` is left for the schema to judge.
 *
 * The tree is not mutated. Only the containers on the way to a changed value are copied (new objects
 * carrying the positions, merge tags and resets of the ones they replace, so that later phases still
 * point into the files); every other container is returned as is, shared with the input. No phase
 * modifies its input, so sharing is safe, and it spares copying the positions of a large file.
 */
import type { Diagnostics } from "./diagnostics.js";
import { isMapping, type SourceMap, type YamlPath } from "./source.js";
import { goQuote, substitute, TemplateError, type Lookup } from "./template.js";
import { mapEntries, mapItems } from "./tree.js";

export interface InterpolateContext {
  readonly sources: SourceMap;
  readonly diags: Diagnostics;
  /** The variables; `undefined` means unset. */
  readonly lookup: Lookup;
}

type CastResult =
  { readonly value: number | boolean; readonly warning?: string } | { readonly error: string };
type Cast = (value: string) => CastResult;

/**
 * Returns `tree` substituted: the same object when it holds nothing to substitute. Every problem is
 * reported to `ctx.diags` (all of them, not only the first); a value that cannot be substituted or
 * cast is left as written.
 */
export function interpolateTree(tree: unknown, ctx: InterpolateContext): unknown {
  const { sources, diags, lookup } = ctx;
  const warned = new Set<string>();
  const path: (string | number)[] = [];
  const here = (): YamlPath => [...path];

  const visitString = (text: string): unknown => {
    if (!text.includes("$")) return text;
    let result: string;
    try {
      result = substitute(text, lookup, (name) => {
        if (warned.has(name)) return;
        warned.add(name);
        diags.warn(
          "interpolate/unset",
          here(),
          `The ${goQuote(name)} variable is not set. Defaulting to a blank string.`,
          sources.locate(tree, path),
          `set ${name} in the environment or in the .env file, or give a default: \${${name}:-default}`,
        );
      });
    } catch (e) {
      if (!(e instanceof TemplateError)) throw e;
      const hint =
        e.code === "interpolate/invalid"
          ? "a literal $ is written $$"
          : `set ${e.variable ?? "the variable"} in the environment or in the .env file`;
      diags.error(e.code, here(), e.message, sources.locate(tree, path), hint);
      return text;
    }
    const cast = castFor(path);
    if (cast === undefined) return result;
    const r = cast(result);
    if ("error" in r) {
      diags.error(
        "interpolate/type",
        here(),
        `failed to cast to expected type: ${r.error}`,
        sources.locate(tree, path),
        `${goQuote(text)} interpolates to ${goQuote(result)}`,
      );
      return result;
    }
    if (r.warning !== undefined)
      diags.warn("interpolate/yaml11-boolean", here(), r.warning, sources.locate(tree, path));
    return r.value;
  };

  // Copy-on-write: a container is copied only when something below it changed (a string held a
  // `$`), so an unchanged subtree is returned as is and keeps its positions without any copying.
  const visit = (value: unknown): unknown => {
    if (typeof value === "string") return visitString(value);
    if (Array.isArray(value)) return mapItems(value, visitAt, sources);
    if (isMapping(value)) return mapEntries(value, visitAt, sources);
    return value;
  };
  /** `visit` of the item at `key` of the container being visited. */
  const visitAt = (item: unknown, key: string | number): unknown => {
    path.push(key);
    const v = visit(item);
    path.pop();
    return v;
  };

  return visit(tree);
}

// ---------------------------------------------------------------------------------------------------
// Type casts (compose-go loader/interpolate.go). `*` is any key or index, `[]` any sequence index.

const toInt: Cast = (s) => parseGoInt(s, "integer");
const toInt64 = toInt;
const toFloat: Cast = (s) => parseGoFloat(s, false);
const toFloat32: Cast = (s) => parseGoFloat(s, true);

const toBoolean: Cast = (s) => {
  switch (s.toLowerCase()) {
    case "true":
      return { value: true };
    case "false":
      return { value: false };
    case "y":
    case "yes":
    case "on":
      return yaml11Boolean(s, true);
    case "n":
    case "no":
    case "off":
      return yaml11Boolean(s, false);
    default:
      return { error: `invalid boolean: ${s}` };
  }
};

/** A YAML 1.1 boolean spelling (`yes`, `off`…): still `value`, with a warning naming the 1.2 form. */
function yaml11Boolean(s: string, value: boolean): CastResult {
  return {
    value,
    warning: `${goQuote(s)} for boolean is not supported by YAML 1.2, please use \`${value}\``,
  };
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** `strconv.Atoi`/`ParseInt(s, 10, 64)`: optional sign, ASCII digits, 64-bit range. */
function parseGoInt(s: string, what: string): CastResult {
  if (!/^[+-]?[0-9]+$/.test(s)) return { error: `invalid ${what}: ${s}` };
  const n = BigInt(s);
  if (n < INT64_MIN || n > INT64_MAX) return { error: `${what} out of range: ${s}` };
  return { value: Number(n) };
}

/**
 * `strconv.ParseFloat` for decimal notation. Go also accepts `inf`, `nan` and hexadecimal floats;
 * no Compose field means anything with those, and JSON (hence the schema) cannot carry the first two,
 * so they are refused here.
 */
function parseGoFloat(s: string, float32: boolean): CastResult {
  if (!/^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/.test(s)) {
    return { error: `invalid number: ${s}` };
  }
  const n = Number(s);
  if (!Number.isFinite(n) || (float32 && !Number.isFinite(Math.fround(n)))) {
    return { error: `number out of range: ${s}` };
  }
  return { value: n };
}

type Pattern = readonly string[];

const CASTS: readonly (readonly [Pattern, Cast])[] = (() => {
  const casts: [Pattern, Cast][] = [
    [["networks", "*", "external"], toBoolean],
    [["networks", "*", "internal"], toBoolean],
    [["networks", "*", "attachable"], toBoolean],
    [["networks", "*", "enable_ipv4"], toBoolean],
    [["networks", "*", "enable_ipv6"], toBoolean],
    [["volumes", "*", "external"], toBoolean],
    [["secrets", "*", "external"], toBoolean],
    [["configs", "*", "external"], toBoolean],
  ];
  const service = (cast: Cast, ...parts: string[]): void => {
    casts.push([["services", "*", ...parts], cast]);
  };
  service(toInt, "configs", "[]", "mode");
  service(toInt64, "cpu_count");
  service(toFloat, "cpu_percent");
  service(toInt64, "cpu_period");
  service(toInt64, "cpu_quota");
  service(toInt64, "cpu_rt_period");
  service(toInt64, "cpu_rt_runtime");
  service(toFloat32, "cpus");
  service(toInt64, "cpu_shares");
  service(toBoolean, "init");
  service(toBoolean, "depends_on", "*", "required");
  service(toBoolean, "depends_on", "*", "restart");
  service(toInt, "deploy", "replicas");
  service(toInt, "deploy", "update_config", "parallelism");
  service(toFloat, "deploy", "update_config", "max_failure_ratio");
  service(toInt, "deploy", "rollback_config", "parallelism");
  service(toFloat, "deploy", "rollback_config", "max_failure_ratio");
  service(toInt, "deploy", "restart_policy", "max_attempts");
  service(toInt, "deploy", "placement", "max_replicas_per_node");
  service(toInt, "healthcheck", "retries");
  service(toBoolean, "healthcheck", "disable");
  service(toBoolean, "oom_kill_disable");
  service(toInt64, "oom_score_adj");
  service(toInt64, "pids_limit");
  service(toInt, "ports", "[]", "target");
  service(toBoolean, "privileged");
  service(toBoolean, "read_only");
  service(toInt, "scale");
  service(toInt, "secrets", "[]", "mode");
  service(toBoolean, "stdin_open");
  service(toBoolean, "tty");
  service(toInt, "ulimits", "*");
  service(toInt, "ulimits", "*", "hard");
  service(toInt, "ulimits", "*", "soft");
  service(toBoolean, "volumes", "[]", "read_only");
  service(toBoolean, "volumes", "[]", "volume", "nocopy");
  return casts;
})();

/** CASTS grouped by pattern length: a path is only compared with the patterns of its own length. */
const CASTS_BY_LENGTH: ReadonlyMap<number, readonly (readonly [Pattern, Cast])[]> = (() => {
  const m = new Map<number, (readonly [Pattern, Cast])[]>();
  for (const entry of CASTS) {
    const list = m.get(entry[0].length) ?? [];
    list.push(entry);
    m.set(entry[0].length, list);
  }
  return m;
})();

function castFor(path: readonly (string | number)[]): Cast | undefined {
  const candidates = CASTS_BY_LENGTH.get(path.length);
  if (candidates === undefined) return undefined;
  outer: for (const [pattern, cast] of candidates) {
    for (let i = 0; i < pattern.length; i++) {
      const part = pattern[i];
      const seg = path[i];
      if (part === "*") continue;
      if (part === "[]" ? typeof seg !== "number" : seg !== part) continue outer;
    }
    return cast;
  }
  return undefined;
}
