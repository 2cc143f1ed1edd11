/**
 * Phase: JSON-schema validation of the merged model (after interpolation and merge, before
 * normalization) against the Compose specification's own schema, vendored in `./schema`.
 *
 * ajv decides what is valid; this module decides what to tell the user. Raw ajv output is written
 * for schema authors: a `oneOf` that fails yields one error per branch plus one for the `oneOf`
 * itself, most of them about branches the user never meant. We collapse that cascade: when the
 * value's shape (mapping, list, string…) selects a branch, we report that branch's own errors;
 * otherwise we report one message built from the shapes the branches accept ("must be a string or
 * a list of strings, not a mapping").
 */
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import type { Ajv2020, ErrorObject, ValidateFunction } from "ajv/dist/2020.js";
import type { Diagnostics } from "./diagnostics.js";
import composeSpec from "./schema/compose-spec.json" with { type: "json" };
import { isMapping, type SourceLocation, type SourceMap, type YamlPath } from "./source.js";

/** What the validation phases need from the loader. */
export interface ValidationContext {
  readonly sources: SourceMap;
  readonly diags: Diagnostics;
}

/** The subset of JSON Schema the Compose schema uses, as far as error translation reads it. */
interface SchemaNode {
  readonly $ref?: string;
  readonly $defs?: Readonly<Record<string, SchemaNode>>;
  readonly type?: string | readonly string[];
  readonly enum?: readonly unknown[];
  readonly properties?: Readonly<Record<string, SchemaNode>>;
  readonly patternProperties?: Readonly<Record<string, SchemaNode>>;
  readonly items?: SchemaNode;
  readonly oneOf?: readonly SchemaNode[];
  readonly anyOf?: readonly SchemaNode[];
}

const SCHEMA = composeSpec as SchemaNode;

interface Compiled {
  readonly ajv: Ajv2020;
  readonly validate: ValidateFunction;
  /** Validators for single `oneOf`/`anyOf` branches, compiled on demand (error paths only). */
  readonly branches: Map<string, ValidateFunction>;
}

let compiled: Compiled | undefined;
const require = createRequire(import.meta.url);

type Check = (data: unknown) => boolean;
let precompiled: Check | null | undefined;

/**
 * The validator scripts/build-validator.mjs precompiled from this very schema (next to this module
 * in dist/), or null: running from the sources (tests), or a file built from another schema. It
 * only says valid or not; reports come from the full ajv below.
 */
function precompiledCheck(): Check | null {
  if (precompiled === undefined) {
    precompiled = null;
    try {
      const mod = require("./compose-validator.cjs") as Check & { schemaHash?: unknown };
      const hash = createHash("sha256").update(JSON.stringify(composeSpec)).digest("hex");
      if (typeof mod === "function" && mod.schemaHash === hash) precompiled = mod;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "MODULE_NOT_FOUND") throw e;
    }
  }
  return precompiled;
}

/** Whether validation uses the validator precompiled at build time (tests check the built CLI does). */
export function usesPrecompiledValidator(): boolean {
  return precompiledCheck() !== null;
}

/**
 * Compiles the schema once per process, on first use; later validations reuse it. With the
 * precompiled check in place, only an invalid stack file pays for it (its errors need `verbose`).
 */
function compiler(): Compiled {
  if (compiled === undefined) {
    // Loaded on use: ajv itself takes ~40 ms to load, which a valid stack file never needs.
    const { Ajv2020 } = require("ajv/dist/2020.js") as typeof import("ajv/dist/2020.js");
    // verbose: errors carry `schema`, `parentSchema` and `data`, which the translation needs.
    // strict: false because the upstream schema uses annotations ajv's strict mode rejects.
    // code.optimize: false halves compile time (~0.2 s instead of ~0.4 s, paid by every CLI run)
    // for validation that stays well under a millisecond for a 50-service stack.
    const ajv = new Ajv2020({ allErrors: true, strict: false, verbose: true, code: { optimize: false } });
    compiled = { ajv, validate: ajv.compile(SCHEMA), branches: new Map() };
  }
  return compiled;
}

/**
 * A validator for one branch of a `oneOf`. The branch is compiled as a schema of its own that
 * carries the root's `$defs`, so its `#/$defs/...` references resolve as they do in the root.
 */
function branchValidator(branch: SchemaNode): ValidateFunction {
  const c = compiler();
  const key = JSON.stringify(branch);
  let v = c.branches.get(key);
  if (v === undefined) {
    v = c.ajv.compile({ ...branch, $defs: SCHEMA.$defs });
    c.branches.set(key, v);
  }
  return v;
}

/**
 * Validates the merged model against the Compose schema and reports every problem to
 * `ctx.diags`, each with its YAML path and file:line:col. Reports nothing for a valid model.
 */
export function validateSchema(model: unknown, ctx: ValidationContext): void {
  if (precompiledCheck()?.(model) === true) return;
  const { validate } = compiler();
  if (validate(model)) return;
  const found = translate(validate.errors ?? [], { root: model, base: [], data: model }, ctx.sources);
  // Top to bottom, as the user reads the file (ajv's order follows the schema's key order).
  found.sort((a, b) => compareLocations(a.loc, b.loc));
  const seen = new Set<string>();
  for (const f of found) {
    const id = `${f.code}\0${JSON.stringify(f.path)}\0${f.message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    ctx.diags.error(f.code, f.path, f.message, f.loc, f.hint);
  }
}

function compareLocations(a: SourceLocation | undefined, b: SourceLocation | undefined): number {
  if (a === undefined || b === undefined) return (a === undefined ? 0 : 1) - (b === undefined ? 0 : 1);
  if (a.file !== b.file) return a.file < b.file ? -1 : 1;
  return a.line - b.line || a.col - b.col;
}

/** An issue before it is reported (branches are compared by how many issues they produce). */
interface Found {
  readonly code: string;
  readonly path: YamlPath;
  readonly message: string;
  readonly loc: SourceLocation | undefined;
  readonly hint?: string | undefined;
}

/** Where a validator ran: `data` is the value it saw, found at `base` under the model `root`. */
interface Frame {
  readonly root: unknown;
  readonly base: YamlPath;
  readonly data: unknown;
}

function translate(errors: readonly ErrorObject[], frame: Frame, sources: SourceMap): Found[] {
  const groups: Found[][] = [];
  // Walk backwards: ajv emits a failed `oneOf` after the errors of all its branches, and those
  // errors are exactly the contiguous run before it whose instance paths lie at or below the
  // `oneOf`'s own. (Invariant of the Compose schema: no node combines `oneOf` with other
  // validating keywords, so nothing else at that path can sit inside the run.)
  let i = errors.length - 1;
  while (i >= 0) {
    const e = errors[i];
    if (e === undefined) break;
    if (e.keyword === "oneOf" || e.keyword === "anyOf") {
      let j = i - 1;
      while (j >= 0 && isWithin(errors[j]?.instancePath ?? "", e.instancePath)) j--;
      groups.push(explainAlternatives(e, frame, sources));
      i = j;
    } else {
      groups.push([translateOne(e, frame, sources)]);
      i--;
    }
  }
  return groups.reverse().flat();
}

function isWithin(pointer: string, prefix: string): boolean {
  return pointer === prefix || pointer.startsWith(`${prefix}/`);
}

function explainAlternatives(e: ErrorObject, frame: Frame, sources: SourceMap): Found[] {
  const path = toPath(frame, e.instancePath);
  const loc = sources.locate(frame.root, path, e.data === null ? "key" : "value");
  const passing: unknown = (e.params as { passingSchemas?: unknown }).passingSchemas;
  if (e.keyword === "oneOf" && passing !== null && passing !== undefined) {
    return [{ code: "schema/ambiguous", path, loc, message: "matches more than one of the accepted forms" }];
  }
  const branches = Array.isArray(e.schema) ? (e.schema as SchemaNode[]) : [];
  const data: unknown = e.data;
  const candidates = branches.filter((b) => admitsType(b, data));
  if (candidates.length === 0) {
    return [{ code: "schema/type", path, loc, message: typeMessage(describeAll(branches), data) }];
  }
  // The value's shape selects the branch(es) the user meant; report what is wrong inside it.
  // With several candidates, the one with the fewest problems is the likeliest intent.
  let best: Found[] | undefined;
  for (const branch of candidates) {
    const v = branchValidator(branch);
    if (v(data)) return []; // cannot happen for a failed oneOf/anyOf; stay silent rather than lie
    const found = translate(v.errors ?? [], { root: frame.root, base: path, data }, sources);
    if (best === undefined || found.length < best.length) best = found;
  }
  return best ?? [];
}

function translateOne(e: ErrorObject, frame: Frame, sources: SourceMap): Found {
  const path = toPath(frame, e.instancePath);
  const at = (p: YamlPath, part: "key" | "value" = "value"): SourceLocation | undefined =>
    sources.locate(frame.root, p, part);
  const params = e.params as Record<string, unknown>;
  const data: unknown = e.data;
  switch (e.keyword) {
    case "additionalProperties": {
      const key = String(params["additionalProperty"]);
      const parent = (e.parentSchema ?? {}) as SchemaNode;
      const loc = at([...path, key], "key");
      const known = Object.keys(parent.properties ?? {});
      const patterns = Object.keys(parent.patternProperties ?? {}).filter((p) => p !== "^x-");
      if (known.length === 0 && patterns.length > 0) {
        // A map of user-chosen names (services, volumes…): the name itself is malformed.
        return {
          code: "schema/invalid-name",
          path,
          loc,
          message: `"${key}" is not a valid name: ${patternRule(patterns[0] ?? "")}`,
        };
      }
      const suggestion = closestMatch(key, known);
      const allowsExtensions = Object.hasOwn(parent.patternProperties ?? {}, "^x-");
      let hint: string | undefined;
      if (suggestion !== undefined) hint = `did you mean "${suggestion}"?`;
      else if (allowsExtensions) hint = 'custom keys must start with "x-"';
      return { code: "schema/unknown-key", path, loc, message: `unknown key "${key}"`, hint };
    }
    case "type": {
      // ajv gives one type as a string and several as an array.
      const t = params["type"];
      const types = Array.isArray(t) ? t.map(String) : typeof t === "string" ? t.split(",") : [];
      // An empty value has no position of its own worth showing: point at its key.
      const loc = at(path, data === null ? "key" : "value");
      return { code: "schema/type", path, loc, message: typeMessage(describeTypes(types), data) };
    }
    case "enum": {
      const allowed = Array.isArray(params["allowedValues"]) ? (params["allowedValues"] as unknown[]) : [];
      const list = allowed.map((a) => JSON.stringify(a)).join(", ");
      const suggestion =
        typeof data === "string"
          ? closestMatch(
              data,
              allowed.filter((a) => typeof a === "string"),
            )
          : undefined;
      return {
        code: "schema/enum",
        path,
        loc: at(path),
        message: `${show(data)} is not allowed here; must be one of ${list}`,
        hint: suggestion === undefined ? undefined : `did you mean "${suggestion}"?`,
      };
    }
    case "pattern":
      return {
        code: "schema/pattern",
        path,
        loc: at(path),
        message: `${show(data)} ${patternRule(String(params["pattern"]))}`,
      };
    case "required": {
      const missing = String(params["missingProperty"]);
      return { code: "schema/required", path, loc: at(path), message: `missing required key "${missing}"` };
    }
    case "uniqueItems": {
      const a = Number(params["i"]);
      const b = Number(params["j"]);
      const [first, dup] = a < b ? [a, b] : [b, a];
      const itemPath = [...path, dup];
      return {
        code: "schema/duplicate-item",
        path: itemPath,
        loc: at(itemPath),
        message: `repeats item [${first}]; each entry must be listed once`,
      };
    }
    case "minimum":
    case "maximum":
    case "exclusiveMinimum":
    case "exclusiveMaximum":
      return {
        code: "schema/range",
        path,
        loc: at(path),
        message: `must be ${String(params["comparison"])} ${String(params["limit"])}, not ${show(data)}`,
      };
    default:
      // A keyword the Compose schema does not use today: keep ajv's wording rather than drop it.
      return { code: `schema/${e.keyword}`, path, loc: at(path), message: e.message ?? "is not valid" };
  }
}

/** `"^[a-zA-Z0-9._-]+$"` → a sentence; other patterns are quoted as they are. */
function patternRule(pattern: string): string {
  if (pattern === "^[a-zA-Z0-9._-]+$") return 'use only letters, digits, ".", "_" and "-"';
  return `does not match the pattern /${pattern}/`;
}

/** JSON-pointer `instancePath` → YAML path, numbers for sequence indexes. */
function toPath(frame: Frame, pointer: string): YamlPath {
  const out: (string | number)[] = [...frame.base];
  if (pointer === "") return out;
  let node = frame.data;
  for (const raw of pointer.slice(1).split("/")) {
    const seg = raw.replaceAll("~1", "/").replaceAll("~0", "~");
    if (Array.isArray(node)) {
      const idx = Number(seg);
      out.push(idx);
      node = node[idx];
    } else {
      out.push(seg);
      node = isMapping(node) ? node[seg] : undefined;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Describing shapes in the words of YAML users: mapping, list, string.

function resolve(node: SchemaNode): SchemaNode {
  let n = node;
  // The Compose schema only refers within itself (`#/$defs/name`); bounded against ref loops.
  for (let hops = 0; n.$ref !== undefined && hops < 16; hops++) {
    const m = /^#\/\$defs\/([^/]+)$/.exec(n.$ref);
    const target = m?.[1] === undefined ? undefined : SCHEMA.$defs?.[m[1]];
    if (target === undefined) break;
    n = target;
  }
  return n;
}

function typesOf(node: SchemaNode): readonly string[] | undefined {
  const t = node.type;
  if (t === undefined) return undefined;
  return typeof t === "string" ? [t] : t;
}

function jsonTypeMatches(type: string, v: unknown): boolean {
  switch (type) {
    case "null":
      return v === null;
    case "boolean":
      return typeof v === "boolean";
    case "string":
      return typeof v === "string";
    case "number":
      return typeof v === "number";
    case "integer":
      return typeof v === "number" && Number.isInteger(v);
    case "array":
      return Array.isArray(v);
    case "object":
      return isMapping(v);
    default:
      return false;
  }
}

/** Whether the branch would accept a value of this JSON type (ignoring everything else). */
function admitsType(branch: SchemaNode, v: unknown): boolean {
  const n = resolve(branch);
  const types = typesOf(n);
  if (types !== undefined) return types.some((t) => jsonTypeMatches(t, v));
  const alts = n.oneOf ?? n.anyOf;
  if (alts !== undefined) return alts.some((b) => admitsType(b, v));
  return true;
}

function describeNode(node: SchemaNode): string[] {
  const n = resolve(node);
  const alts = n.oneOf ?? n.anyOf;
  if (alts !== undefined && n.type === undefined) return alts.flatMap(describeNode);
  const types = typesOf(n) ?? [];
  return types.map((t) => {
    if (t === "array" && n.items !== undefined) {
      const itemTypes = typesOf(resolve(n.items));
      if (itemTypes?.length === 1 && itemTypes[0] === "string") return "a list of strings";
    }
    return TYPE_WORDS[t] ?? t;
  });
}

const TYPE_WORDS: Readonly<Record<string, string>> = {
  null: "null",
  boolean: "a boolean",
  string: "a string",
  number: "a number",
  integer: "an integer",
  array: "a list",
  object: "a mapping",
};

function describeAll(branches: readonly SchemaNode[]): string {
  return joinAlternatives(branches.flatMap(describeNode));
}

function describeTypes(types: readonly string[]): string {
  return joinAlternatives(types.map((t) => TYPE_WORDS[t] ?? t));
}

/**
 * "a string, a number or a boolean". `null` is dropped when there are other shapes: an empty
 * value is rarely what the user meant to write, and listing it only lengthens the message.
 */
function joinAlternatives(words: readonly string[]): string {
  let list = [...new Set(words)];
  if (list.includes("a number")) list = list.filter((w) => w !== "an integer");
  if (list.length > 1) list = list.filter((w) => w !== "null");
  if (list.length <= 1) return list[0] ?? "something else";
  return `${list.slice(0, -1).join(", ")} or ${list[list.length - 1] ?? ""}`;
}

function typeMessage(expected: string, v: unknown): string {
  if (v === null) return `must be ${expected}, but it is empty`;
  return `must be ${expected}, not ${describeValue(v)}`;
}

/** A value quoted for a message; long ones are cut, the file has them in full. */
function show(v: unknown): string {
  const text = JSON.stringify(v);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

function describeValue(v: unknown): string {
  if (Array.isArray(v)) return "a list";
  if (isMapping(v)) return "a mapping";
  if (typeof v === "string") return `the string ${show(v)}`;
  if (typeof v === "number") return `the number ${v}`;
  if (typeof v === "boolean") return `the boolean ${v}`;
  return typeof v;
}

// ---------------------------------------------------------------------------------------------
// Did-you-mean.

/**
 * The candidate closest to `word` (case-insensitive optimal-string-alignment distance, so a swap
 * of two letters counts once), if it is close enough to be a plausible typo: distance 1 for words
 * of up to 3 letters, 2 beyond. Ties go to the earlier candidate.
 */
export function closestMatch(word: string, candidates: Iterable<unknown>): string | undefined {
  const w = word.toLowerCase();
  const limit = w.length <= 3 ? 1 : 2;
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const c of candidates) {
    if (typeof c !== "string" || c === word) continue;
    const d = editDistance(w, c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

/** Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps. */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d = new Array<number>(rows * cols).fill(0);
  const at = (i: number, j: number): number => d[i * cols + j] ?? 0;
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, at(i - 2, j - 2) + 1);
      }
      d[i * cols + j] = v;
    }
  }
  return at(a.length, b.length);
}
