/**
 * `extends`: a service starts from another service, in the same file or in another one, and its
 * own keys are merged over it with the rules of the merge phase (compose-go `loader/extends.go`).
 *
 * - `extends: base` and `extends: {service: base}` name a service of the same file;
 *   `extends: {service: base, file: other.yml}` one of another file, read with the injected
 *   `loadFile`. A relative `file` is taken relative to the directory of the file that names it
 *   (run `resolveRelativePaths` first to anchor it at the project directory instead, as compose-go
 *   does for the files given with `-f`).
 * - Chains are resolved from the root up, each service once; a cycle is an error naming every link.
 * - `!reset` and `!override` in the extending service apply to what it extends, and stay recorded
 *   on the result so that they also apply when this file is merged over earlier ones.
 */
import type { Diagnostics } from "./diagnostics.js";
import { extendService } from "./merge.js";
import { isMapping, type SourceLocation, type SourceMap, type YamlPath } from "./source.js";
import { mapEntries, put } from "./tree.js";
import { posix } from "node:path";

export interface ExtendsContext {
  readonly sources: SourceMap;
  readonly diags: Diagnostics;
  /** The file `model` was read from: names it in messages and anchors a relative `extends.file`. */
  readonly file: string;
  /**
   * Reads another stack file: its model parsed and interpolated, with its relative paths already
   * resolved against its own directory, positions recorded in the same `sources`. Returns undefined
   * when the file cannot be read; `resolveExtends` then reports the `extends` that names it.
   * Called at most once per path.
   */
  readonly loadFile: (path: string) => Record<string, unknown> | undefined;
}

type Dict = Record<string, unknown>;

/** A chain longer than this is refused: no real stack needs it, and it bounds the recursion. */
const MAX_CHAIN = 64;

/**
 * Returns `model` with every service's `extends` applied and removed. `model` is not modified;
 * services without `extends` are shared with it, and so is `model` itself when no service has one.
 */
export function resolveExtends(model: Dict, ctx: ExtendsContext): Dict {
  const services = model["services"];
  if (!isMapping(services)) return model;
  const resolver = new Resolver(ctx, model);
  // Positions, tags and `!reset` records of both containers are kept: only values changed.
  const outServices = mapEntries(
    services,
    (_svc, name) => resolver.resolve(resolver.top, services, name, []).value,
    ctx.sources,
  );
  if (outServices === services) return model;
  const out: Dict = {};
  for (const k of Object.keys(model)) put(out, k, k === "services" ? outServices : model[k]);
  ctx.sources.copyAll(model, out);
  return out;
}

/** One link of a chain: the service `name` of `file`. */
interface Link {
  readonly file: string;
  readonly name: string;
}

interface Resolved {
  readonly value: unknown;
  /** False when an error was reported on the way, so that callers do not report it again. */
  readonly ok: boolean;
}

class Resolver {
  readonly top: string;
  readonly #ctx: ExtendsContext;
  readonly #model: Dict;
  readonly #done = new Map<string, Map<string, Resolved>>();
  readonly #files = new Map<string, Dict | undefined>();

  constructor(ctx: ExtendsContext, model: Dict) {
    this.#ctx = ctx;
    this.#model = model;
    this.top = posix.normalize(ctx.file);
  }

  resolve(file: string, services: Dict, name: string, chain: readonly Link[]): Resolved {
    let done = this.#done.get(file);
    if (done === undefined) {
      done = new Map();
      this.#done.set(file, done);
    }
    const memo = done.get(name);
    if (memo !== undefined) return memo;
    const result = this.#resolve(file, services, name, chain);
    // A service met again inside its own chain is a cycle, reported there; memoizing only complete
    // results keeps that detection working.
    if (result !== undefined) done.set(name, result);
    return result ?? { value: withoutExtends(this.#ctx.sources, services[name]), ok: false };
  }

  #resolve(file: string, services: Dict, name: string, chain: readonly Link[]): Resolved | undefined {
    const { sources, diags } = this.#ctx;
    const svc = services[name];
    if (!isMapping(svc) || !Object.hasOwn(svc, "extends")) return { value: svc, ok: true };
    const path: YamlPath = ["services", name, "extends"];
    const at = (field?: string): SourceLocation | undefined => extendsLoc(sources, svc, field);
    const fail = (): Resolved => ({ value: withoutExtends(sources, svc), ok: false });

    const cycleStart = chain.findIndex((l) => l.file === file && l.name === name);
    if (cycleStart >= 0) {
      const links = [...chain.slice(cycleStart), { file, name }];
      diags.error(
        "extends/cycle",
        path,
        `circular extends: ${links.map((l) => `${l.name} (${l.file})`).join(" extends ")}`,
        at(),
        "remove one of these `extends`",
      );
      return undefined;
    }
    if (chain.length >= MAX_CHAIN) {
      diags.error("extends/too-deep", path, `extends chain longer than ${MAX_CHAIN} services`, at());
      return fail();
    }

    const ext = svc["extends"];
    let ref: string;
    let refFile: string | undefined;
    if (typeof ext === "string") ref = ext;
    else if (isMapping(ext)) {
      const service = ext["service"];
      if (typeof service !== "string") {
        diags.error(
          "extends/invalid",
          [...path, "service"],
          "`extends.service` is required (a service name)",
          at("service"),
        );
        return fail();
      }
      ref = service;
      const f = ext["file"];
      if (f !== undefined && f !== null) {
        if (typeof f !== "string") {
          diags.error("extends/invalid", [...path, "file"], "`extends.file` must be a path", at("file"));
          return fail();
        }
        refFile = f;
      }
    } else {
      diags.error(
        "extends/invalid",
        path,
        "`extends` must be a service name or a mapping with `service` (and optionally `file`)",
        at(),
      );
      return fail();
    }

    let baseFile = file;
    let baseServices = services;
    if (refFile !== undefined) {
      baseFile =
        posix.isAbsolute(refFile) || refFile.includes("://")
          ? refFile
          : posix.join(posix.dirname(file), refFile);
      baseFile = posix.normalize(baseFile);
      const loaded = this.#load(baseFile);
      if (loaded === undefined) {
        diags.error(
          "extends/missing-file",
          [...path, "file"],
          `cannot extend service "${name}": cannot read ${refFile}`,
          at("file"),
        );
        return fail();
      }
      const other = loaded["services"];
      if (!isMapping(other)) {
        diags.error(
          "extends/unknown-service",
          [...path, "file"],
          `cannot extend service "${name}": ${refFile} has no services`,
          at("file"),
        );
        return fail();
      }
      baseServices = other;
    }
    if (!Object.hasOwn(baseServices, ref)) {
      const where = refFile ?? "this file";
      const known = Object.keys(baseServices);
      diags.error(
        "extends/unknown-service",
        typeof ext === "string" ? path : [...path, "service"],
        `cannot extend service "${name}": no service "${ref}" in ${where}`,
        at("service"),
        known.length === 0 ? undefined : `services in ${where}: ${known.join(", ")}`,
      );
      return fail();
    }

    const base = this.resolve(baseFile, baseServices, ref, [...chain, { file, name }]);
    if (!base.ok) return fail();
    // compose-go: extending an empty (null) service leaves the service as it is.
    if (base.value === null || base.value === undefined)
      return { value: withoutExtends(sources, svc), ok: true };
    if (!isMapping(base.value)) {
      diags.error(
        "extends/invalid",
        typeof ext === "string" ? path : [...path, "service"],
        `cannot extend service "${name}": service "${ref}" is not a mapping`,
        at("service"),
      );
      return fail();
    }
    const own = withoutExtends(sources, svc) as Dict;
    return { value: extendService(base.value, own, name, this.#ctx), ok: true };
  }

  #load(file: string): Dict | undefined {
    if (file === this.top) return this.#model;
    if (!this.#files.has(file)) this.#files.set(file, this.#ctx.loadFile(file));
    return this.#files.get(file);
  }
}

/** A shallow copy without `extends`; positions, tags and `!reset` records come along. */
function withoutExtends(sources: SourceMap, svc: unknown): unknown {
  if (!isMapping(svc)) return svc;
  const out: Dict = {};
  for (const k of Object.keys(svc)) {
    if (k === "extends") continue;
    put(out, k, svc[k]);
    sources.copyEntry(svc, k, out);
  }
  for (const [k, loc] of sources.resets(svc)) sources.addReset(out, k, loc);
  return out;
}

function extendsLoc(sources: SourceMap, svc: Dict, field?: string): SourceLocation | undefined {
  const ext = svc["extends"];
  if (field !== undefined && isMapping(ext)) {
    const loc = sources.get(ext, field);
    if (loc !== undefined) return loc.value;
  }
  return sources.get(svc, "extends")?.value;
}
