/**
 * The stack loader: files on disk → a validated, normalized `StackSpec`.
 *
 * parse → interpolate → (per file: relative paths, extends, include) → merge files → validate (schema,
 * semantics) → profiles → normalize. Each phase is a pure function in its own module; this module only
 * sequences them, does the file reading, and decides the project name, directory and environment the
 * way `docker compose` does. Every problem is collected with its file:line:col; the load fails with one
 * SpecError listing all of them, and nothing downstream ever sees a half-valid model.
 */
import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, isAbsolute, resolve } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { TsstackError } from "../common/errors.js";
import { checkSemantics } from "./semantic.js";
import { warnUnsupported } from "./capabilities.js";
import { Diagnostics, SpecError, type SpecIssue } from "./diagnostics.js";
import { readEnvFiles } from "./dotenv.js";
import { resolveExtends } from "./extends.js";
import { interpolateTree } from "./interpolate.js";
import { mergeModels } from "./merge.js";
import { normalize } from "./normalize.js";
import { parseYaml } from "./parse.js";
import { resolveRelativePaths } from "./paths.js";
import { formatLocation, isMapping, SourceMap, type SourceLocation } from "./source.js";
import { substitute } from "./template.js";
import type { StackSpec } from "./types.js";
import { validateSchema } from "./validate.js";

/** File names looked up in the working directory when no `-f` is given, in order (Compose's, then ours). */
export const DEFAULT_FILE_NAMES = [
  "compose.yaml",
  "compose.yml",
  "docker-compose.yaml",
  "docker-compose.yml",
  "stack.yaml",
  "stack.yml",
] as const;

export interface LoadOptions {
  /** Stack files in order (`-f`, repeatable); later files override earlier ones. Default: DEFAULT_FILE_NAMES in `workingDir`. */
  readonly files?: readonly string[];
  /** Where relative `files`/`envFiles` are resolved (the shell's cwd). */
  readonly workingDir: string;
  /** `-p`: wins over `TSSTACK_PROJECT_NAME`/`COMPOSE_PROJECT_NAME`, the files' `name:` and the directory name. */
  readonly projectName?: string | undefined;
  /** `--project-directory`: base of relative paths. Default: the first file's directory. */
  readonly projectDirectory?: string | undefined;
  /** `--env-file` (repeatable). Default: `.env` in the project directory, if present. */
  readonly envFiles?: readonly string[] | undefined;
  /** `--profile` (repeatable); added to `TSSTACK_PROFILES`/`COMPOSE_PROFILES` (comma-separated). `*` enables all. */
  readonly profiles?: readonly string[] | undefined;
  /** The process environment; it wins over `.env`/`--env-file` values, like Compose. */
  readonly environment: Readonly<Record<string, string | undefined>>;
  /** Expansion of `~` in paths. */
  readonly homeDir: string;
  /** Injected for tests; default reads UTF-8 from disk. */
  readonly readFile?: (path: string) => string;
}

export interface LoadedStack {
  readonly spec: StackSpec;
  /** Warnings (unset variables, keys tsstack does not act on, obsolete `version`, …). */
  readonly warnings: readonly SpecIssue[];
  /** The stack files actually read, absolute, in order (includes and extended files not listed). */
  readonly files: readonly string[];
  readonly projectDirectory: string;
  /** Every profile named by any service, active or not (`config --profiles`). */
  readonly allProfiles: readonly string[];
}

const PROJECT_NAME_RE = /^[a-z0-9][a-z0-9_-]*$/;

/** Loads, validates and normalizes a stack. Throws SpecError (with every problem) on invalid input. */
export function loadStack(opts: LoadOptions): LoadedStack {
  const readFile = opts.readFile ?? ((p: string) => readFileSync(p, "utf8"));
  const diags = new Diagnostics();
  const sources = new SourceMap();

  const files = resolveFiles(opts, readFile);
  const first = files[0] ?? resolve(opts.workingDir, DEFAULT_FILE_NAMES[0]);
  const projectDirectory = resolve(opts.workingDir, opts.projectDirectory ?? dirname(first));

  const dotenv = loadDotenv(opts, projectDirectory, readFile);
  const envLookup = (name: string): string | undefined => opts.environment[name] ?? dotenv.get(name);

  // Parse every file first: the project name may come from a file's `name:` and is itself a variable
  // (COMPOSE_PROJECT_NAME) the files may use.
  const parsed = files.map((file) => ({ file, value: parseFile(file, readFile, sources, diags) }));
  const projectName = resolveProjectName(opts, parsed, envLookup, projectDirectory, sources, diags);
  const lookup = (name: string): string | undefined => {
    if (name === "COMPOSE_PROJECT_NAME" || name === "TSSTACK_PROJECT_NAME") return projectName;
    return envLookup(name);
  };
  diags.throwIfErrors();

  const ctx: FileContext = { sources, diags, lookup, readFile, homeDir: opts.homeDir, includeStack: [] };
  let merged: Record<string, unknown> = {};
  for (const { file, value } of parsed) {
    const model = prepareFile(file, value, projectDirectory, ctx);
    if (model !== undefined) merged = mergeModels(merged, model, { sources, diags });
  }
  // No stop here nor after the schema: the phases below tolerate values left as written by a failed
  // interpolation or a schema error, so one run reports every problem. Only normalize needs a valid model.
  const errorsBefore = diags.errorCount;
  validateSchema(merged, { sources, diags });
  // Values a failed interpolation left as written are still schema-checked; a later phase that
  // trips over one again is deduplicated by Diagnostics (one error per value).
  const schemaValid = diags.errorCount === errorsBefore;

  // Semantic checks run on the services the profiles enable, like compose-go: two profile variants
  // of one service may well publish the same port.
  const allProfiles = collectProfiles(merged);
  const active = activeProfiles(opts, envLookup);
  const { model: enabled, disabled } = applyProfiles(merged, active, sources, diags);
  checkSemantics(enabled, { sources, diags }, { disabledServices: disabled });
  // Unknown keys are already schema errors; "not acted on" warnings are for valid files only.
  if (schemaValid) warnUnsupported(enabled, { sources, diags });
  if (merged["version"] !== undefined) {
    diags.warn(
      "spec/obsolete-version",
      ["version"],
      "the `version` attribute is obsolete and ignored",
      sources.locate(merged, ["version"], "key"),
      "remove it",
    );
  }
  // Normalize needs a schema-valid model; on one it still finds what the schema cannot express
  // (a malformed port or volume string), so those join the semantic errors in the same report.
  if (!schemaValid) diags.throwIfErrors();

  const spec = normalize(enabled, {
    sources,
    diags,
    projectName,
    workingDir: projectDirectory,
    lookup,
    readFile,
  });
  diags.throwIfErrors();
  return { spec, warnings: diags.warnings, files, projectDirectory, allProfiles };
}

interface FileContext {
  readonly sources: SourceMap;
  readonly diags: Diagnostics;
  readonly lookup: (name: string) => string | undefined;
  readonly readFile: (path: string) => string;
  readonly homeDir: string;
  /** Files being included, outermost first: detects include cycles. */
  readonly includeStack: readonly string[];
}

/**
 * The stack files: `-f` if given; else `TSSTACK_FILE`/`COMPOSE_FILE` (':'-separated) from the
 * environment or the working directory's `.env`, as Compose does; else the default names.
 */
function resolveFiles(opts: LoadOptions, readFile: (p: string) => string): string[] {
  if (opts.files !== undefined && opts.files.length > 0)
    return opts.files.map((f) => resolve(opts.workingDir, f));
  // Like Compose: without -f, look in the project directory (if given) or the current directory,
  // then in each parent directory up to the root.
  const start = resolve(opts.workingDir, opts.projectDirectory ?? ".");
  const fromEnv = (lookup: (name: string) => string | undefined): string | undefined =>
    lookup("TSSTACK_FILE") ?? lookup("COMPOSE_FILE");
  let listed = fromEnv((name) => opts.environment[name]);
  const dotenvPath = resolve(start, ".env");
  if (listed === undefined && opts.envFiles === undefined && existsSync(dotenvPath)) {
    try {
      const env = readEnvFiles([dotenvPath], (name) => opts.environment[name], readFile);
      listed = fromEnv((name) => env.get(name));
    } catch {
      // A broken .env is reported with its line when it is read for interpolation.
    }
  }
  if (listed !== undefined && listed !== "") {
    const separator = opts.environment["COMPOSE_PATH_SEPARATOR"] ?? ":";
    return listed
      .split(separator)
      .filter((f) => f !== "")
      .map((f) => resolve(start, f));
  }
  for (let dir = start; ; dir = dirname(dir)) {
    for (const name of DEFAULT_FILE_NAMES) {
      const p = resolve(dir, name);
      if (existsSync(p)) return [p];
    }
    if (dirname(dir) === dir) break;
  }
  throw new TsstackError(
    "spec/no-file",
    `no stack file found in ${start} or its parent directories: looked for ${DEFAULT_FILE_NAMES.join(", ")}`,
  );
}

function readOrReport(
  file: string,
  readFile: (p: string) => string,
  diags: Diagnostics,
  at?: SourceLocation,
): string | undefined {
  try {
    return readFile(file);
  } catch (e) {
    const cause = (e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : String(e);
    diags.error("spec/unreadable-file", [], `cannot read stack file ${file}: ${cause}`, at);
    return undefined;
  }
}

function parseFile(
  file: string,
  readFile: (p: string) => string,
  sources: SourceMap,
  diags: Diagnostics,
  at?: SourceLocation,
): Record<string, unknown> | undefined {
  const text = readOrReport(file, readFile, diags, at);
  if (text === undefined) return undefined;
  const { value, loc } = parseYaml(text, file, sources, diags);
  if (value === undefined) return undefined;
  if (value === null) return {};
  if (!isMapping(value)) {
    diags.error("spec/not-a-mapping", [], "a stack file must be a mapping (services:, networks:, …)", loc);
    return undefined;
  }
  return value;
}

/** Per file: interpolate, make paths absolute against `baseDir`, apply `extends` and `include`. */
function prepareFile(
  file: string,
  raw: Record<string, unknown> | undefined,
  baseDir: string,
  ctx: FileContext,
): Record<string, unknown> | undefined {
  if (raw === undefined) return undefined;
  const { sources, diags } = ctx;
  const interpolated = interpolateTree(raw, { sources, diags, lookup: ctx.lookup });
  if (!isMapping(interpolated)) return undefined;
  const withPaths = resolveRelativePaths(interpolated, { sources, baseDir, homeDir: ctx.homeDir });

  const extendedCache = new Map<string, Record<string, unknown> | undefined>();
  const loadFile = (path: string): Record<string, unknown> | undefined => {
    if (!extendedCache.has(path)) {
      // An extended file's relative paths belong to that file's directory, like Compose.
      const other = parseFile(path, ctx.readFile, sources, diags);
      const prepared =
        other === undefined ? undefined : interpolateTree(other, { sources, diags, lookup: ctx.lookup });
      extendedCache.set(
        path,
        isMapping(prepared)
          ? resolveRelativePaths(prepared, { sources, baseDir: dirname(path), homeDir: ctx.homeDir })
          : undefined,
      );
    }
    return extendedCache.get(path);
  };
  const extended = resolveExtends(withPaths, { sources, diags, file, loadFile });
  return applyIncludes(file, extended, ctx);
}

/**
 * `include:` — each entry is a whole Compose project of its own (own directory, own `.env`), loaded
 * through the same phases and then added to this file's model. A resource declared on both sides is a
 * conflict, as in Compose.
 */
function applyIncludes(
  file: string,
  model: Record<string, unknown>,
  ctx: FileContext,
): Record<string, unknown> {
  const includes = model["include"];
  if (includes === undefined || includes === null) return model;
  const { sources, diags } = ctx;
  const out: Record<string, unknown> = { ...model };
  sources.copyAll(model, out);
  delete out["include"];
  if (!Array.isArray(includes)) {
    diags.error(
      "include/invalid",
      ["include"],
      "`include` must be a list",
      sources.locate(model, ["include"]),
    );
    return out;
  }
  includes.forEach((entry: unknown, i) => {
    const path: (string | number)[] = ["include", i];
    const at = sources.locate(model, path);
    const spec = typeof entry === "string" ? { path: entry } : isMapping(entry) ? entry : undefined;
    const paths = typeof spec?.["path"] === "string" ? [spec["path"]] : spec?.["path"];
    if (!Array.isArray(paths) || paths.length === 0 || !paths.every((p) => typeof p === "string")) {
      diags.error("include/invalid", path, "an include entry needs `path` (a file or a list of files)", at);
      return;
    }
    const includeFiles = paths.map((p) => (isAbsolute(p) ? p : resolve(dirname(file), p)));
    const first = includeFiles[0] ?? file;
    const cycle = [...ctx.includeStack, file];
    if (includeFiles.some((f) => cycle.includes(f))) {
      diags.error("include/cycle", path, `include cycle: ${[...cycle, first].join(" -> ")}`, at);
      return;
    }
    const projectDir =
      typeof spec?.["project_directory"] === "string"
        ? resolve(dirname(file), spec["project_directory"])
        : dirname(first);
    const envFiles = envFileList(spec?.["env_file"]).map((p) => resolve(dirname(file), p));
    const defaultEnv = resolve(projectDir, ".env");
    const envPaths = envFiles.length > 0 ? envFiles : existsSync(defaultEnv) ? [defaultEnv] : [];
    let env: Map<string, string>;
    try {
      env = readEnvFiles(envPaths, ctx.lookup, ctx.readFile);
    } catch (e) {
      diags.error("include/env-file", path, (e as Error).message, at);
      return;
    }
    // The including project's environment wins over the included project's .env.
    const lookup = (name: string): string | undefined => ctx.lookup(name) ?? env.get(name);
    const inner: FileContext = { ...ctx, lookup, includeStack: cycle };
    let included: Record<string, unknown> = {};
    for (const f of includeFiles) {
      const m = prepareFile(f, parseFile(f, ctx.readFile, sources, diags, at), projectDir, inner);
      if (m !== undefined) included = mergeModels(included, m, { sources, diags });
    }
    for (const section of ["services", "networks", "volumes", "secrets", "configs"] as const) {
      const theirs = included[section];
      if (!isMapping(theirs)) continue;
      const ours = isMapping(out[section]) ? out[section] : undefined;
      const target: Record<string, unknown> = { ...ours };
      if (ours !== undefined) sources.copyAll(ours, target);
      for (const [name, value] of Object.entries(theirs)) {
        if (ours !== undefined && Object.hasOwn(ours, name)) {
          // The same definition reached twice (two includes sharing a common file) is one resource,
          // as in Compose; two different ones are a conflict.
          if (isDeepStrictEqual(ours[name], value)) continue;
          const existing = sources.locate(out, [section, name], "key");
          diags.error(
            "include/conflict",
            [...path, section, name],
            `included file ${first} declares ${section}.${name}, which is already declared${existing === undefined ? "" : ` at ${formatLocation(existing)}`} with a different definition`,
            at,
            "rename one of them, or keep a single definition",
          );
          continue;
        }
        target[name] = value;
        sources.copyEntry(theirs, name, target);
      }
      out[section] = target;
      if (sources.get(out, section) === undefined) sources.copyEntry(included, section, out);
    }
  });
  return out;
}

function envFileList(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === "string");
  return [];
}

function loadDotenv(
  opts: LoadOptions,
  projectDirectory: string,
  readFile: (p: string) => string,
): Map<string, string> {
  const explicit = opts.envFiles !== undefined && opts.envFiles.length > 0;
  const paths = explicit
    ? (opts.envFiles ?? []).map((p) => resolve(opts.workingDir, p))
    : [resolve(projectDirectory, ".env")].filter((p) => existsSync(p));
  const missing = paths.find((p) => !existsSync(p));
  if (missing !== undefined && opts.readFile === undefined) {
    throw new SpecError([
      {
        severity: "error",
        code: "env-file/missing",
        path: [],
        message: `env file ${missing} not found`,
        hint: "check the --env-file path",
      },
    ]);
  }
  try {
    return readEnvFiles(paths, (name) => opts.environment[name], readFile);
  } catch (e) {
    if (e instanceof TsstackError) {
      throw new SpecError([{ severity: "error", code: e.code, path: [], message: e.message }]);
    }
    throw e;
  }
}

function resolveProjectName(
  opts: LoadOptions,
  parsed: readonly { file: string; value: Record<string, unknown> | undefined }[],
  lookup: (name: string) => string | undefined,
  projectDirectory: string,
  sources: SourceMap,
  diags: Diagnostics,
): string {
  const explicit = opts.projectName ?? lookup("TSSTACK_PROJECT_NAME") ?? lookup("COMPOSE_PROJECT_NAME");
  if (explicit !== undefined && explicit !== "") {
    if (!PROJECT_NAME_RE.test(explicit)) {
      diags.error(
        "spec/project-name",
        [],
        `invalid project name "${explicit}": use lowercase letters, digits, '-' and '_', starting with a letter or digit`,
      );
    }
    return explicit;
  }
  // The last file that sets `name:` wins (later files override earlier ones).
  for (let i = parsed.length - 1; i >= 0; i--) {
    const entry = parsed[i];
    const name = entry?.value?.["name"];
    if (entry === undefined || typeof name !== "string") continue;
    let value = name;
    try {
      value = substitute(name, lookup);
    } catch {
      // Reported with its position by the interpolation phase.
    }
    if (!PROJECT_NAME_RE.test(value)) {
      diags.error(
        "spec/project-name",
        ["name"],
        `invalid project name "${value}": use lowercase letters, digits, '-' and '_', starting with a letter or digit`,
        sources.locate(entry.value, ["name"]),
      );
    }
    return value;
  }
  // From the directory: normalized like Compose (lowercase, invalid characters dropped).
  const fromDir = basename(projectDirectory)
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, "")
    .replace(/^[_-]+/, "");
  if (fromDir === "") {
    diags.error(
      "spec/project-name",
      [],
      `cannot derive a project name from directory ${projectDirectory}`,
      undefined,
      "set one with -p NAME or `name:` in the stack file",
    );
  }
  return fromDir;
}

function collectProfiles(model: Record<string, unknown>): string[] {
  const found = new Set<string>();
  const services = model["services"];
  if (isMapping(services)) {
    for (const svc of Object.values(services)) {
      const profiles = isMapping(svc) ? svc["profiles"] : undefined;
      if (Array.isArray(profiles)) for (const p of profiles) if (typeof p === "string") found.add(p);
    }
  }
  return [...found].sort();
}

function activeProfiles(opts: LoadOptions, lookup: (name: string) => string | undefined): Set<string> {
  const fromEnv = lookup("TSSTACK_PROFILES") ?? lookup("COMPOSE_PROFILES") ?? "";
  const all = [...(opts.profiles ?? []), ...fromEnv.split(",")].map((p) => p.trim()).filter((p) => p !== "");
  return new Set(all);
}

/**
 * Drops services whose profiles are all inactive (a service without `profiles` is always on). A kept
 * service that requires a dropped one is an error naming the profile to enable.
 */
function applyProfiles(
  model: Record<string, unknown>,
  active: ReadonlySet<string>,
  sources: SourceMap,
  diags: Diagnostics,
): { model: Record<string, unknown>; disabled: string[] } {
  const services = model["services"];
  if (!isMapping(services) || active.has("*")) return { model, disabled: [] };
  const enabled = (svc: unknown): boolean => {
    const profiles = isMapping(svc) ? svc["profiles"] : undefined;
    return !Array.isArray(profiles) || profiles.length === 0 || profiles.some((p) => active.has(String(p)));
  };
  const kept: Record<string, unknown> = {};
  const disabled: string[] = [];
  for (const [name, svc] of Object.entries(services)) {
    if (!enabled(svc)) {
      disabled.push(name);
      continue;
    }
    kept[name] = svc;
    sources.copyEntry(services, name, kept);
  }
  if (disabled.length === 0) return { model, disabled };
  const isDisabled = new Set(disabled);
  for (const [name, svc] of Object.entries(kept)) {
    const deps = isMapping(svc) ? svc["depends_on"] : undefined;
    // [dependency, its path under depends_on, required?] for both the list and the mapping syntax.
    const entries: [string, string | number, boolean][] = Array.isArray(deps)
      ? deps.map((d, i) => [String(d), i, true])
      : isMapping(deps)
        ? Object.entries(deps).map(([d, v]) => [d, d, !(isMapping(v) && v["required"] === false)])
        : [];
    for (const [dep, key, required] of entries) {
      if (!isDisabled.has(dep) || !required) continue;
      const profiles = (services[dep] as Record<string, unknown>)["profiles"] as string[];
      const path = ["services", name, "depends_on", key];
      diags.error(
        "profiles/disabled-dependency",
        path,
        `service "${name}" depends on service "${dep}", which is disabled by its profiles (${profiles.join(", ")})`,
        sources.locate(model, path, "key"),
        `enable it with --profile ${profiles[0] ?? ""}, or mark the dependency required: false`,
      );
    }
  }
  const out: Record<string, unknown> = { ...model, services: kept };
  sources.copyAll(model, out);
  return { model: out, disabled };
}
