/**
 * Relative paths in a raw (not yet normalized) model become absolute, and `~` becomes the home
 * directory, at the places compose-go resolves them (`paths/resolve.go` and its raw-node variant):
 *
 * - services: `build` (string form) and `build.context`, `build.additional_contexts` values, the
 *   paths of `build.ssh`, `env_file` (string, list, `{path}`), `label_file`, `extends.file`,
 *   `develop.watch[].path`, bind sources of `volumes` in short (`./a:/b`) and long (`type: bind`)
 *   syntax;
 * - `configs.*.file`, `secrets.*.file`;
 * - top-level volumes of the local driver mounted with `o: bind`: `driver_opts.device`;
 * - `include`: `path`, `project_directory`, `env_file`.
 *
 * Left alone, as in compose-go: `build.dockerfile` (relative to the context, resolved by the
 * builder), remote build contexts (URLs, git references, `service:` and `docker-image://` contexts),
 * remote `extends.file`/`include` (URLs, `oci://`, git), named volumes, and non-string values (the
 * schema reports those).
 */
import { posix } from "node:path";
import { cloneTree, parseVolumeSpec } from "./merge.js";
import { isMapping, type SourceMap } from "./source.js";

export interface PathContext {
  readonly sources: SourceMap;
  /** Directory relative paths are resolved against: the project directory (compose-go `WorkingDir`). */
  readonly baseDir: string;
  /** What a leading `~` expands to. */
  readonly homeDir: string;
}

type Dict = Record<string, unknown>;

/** Returns a copy of `model` with relative paths made absolute; positions and merge tags are kept. */
export function resolveRelativePaths(model: Dict, ctx: PathContext): Dict {
  const out = cloneTree(model, ctx.sources, "all") as Dict;
  const r = new Resolver(ctx.baseDir, ctx.homeDir);
  forEachMapping(out["services"], (svc) => {
    r.service(svc);
  });
  for (const kind of ["configs", "secrets"]) {
    forEachMapping(out[kind], (res) => {
      r.update(res, "file", (v) => r.maybeUnixPath(v));
    });
  }
  forEachMapping(out["volumes"], (vol) => {
    r.volumeDriverOpts(vol);
  });
  const include = out["include"];
  if (Array.isArray(include)) {
    include.forEach((_, i) => {
      r.include(include, i);
    });
  }
  return out;
}

/** `~`, `~/x` (and, like compose-go, `~x`) → under `homeDir`. */
export function expandUser(p: string, homeDir: string): string {
  return p.startsWith("~") ? join(homeDir, p.slice(1)) : p;
}

/** Build contexts that are not local directories (compose-go `isRemoteContext` and its callers). */
export function isRemoteContext(v: string): boolean {
  return (
    v.includes("://") ||
    v.startsWith("service:") ||
    ["git@", "github.com/"].some((prefix) => v.startsWith(prefix))
  );
}

/** Whether the source of a short volume spec is a host path rather than a volume name (compose-go `isFilePath`). */
export function isHostPath(source: string): boolean {
  if (source === "") return false;
  if (source.startsWith(".") || source.startsWith("/") || source.startsWith("~")) return true;
  if (source.startsWith("\\\\")) return true;
  return /^\p{L}:/u.test(source);
}

/** `C:\x`, `C:/x`, `\\server\share\x`: absolute for a Windows daemon, so left as written. */
function isWindowsAbs(p: string): boolean {
  return /^[A-Za-z]:[\\/]/.test(p) || /^[\\/]{2}[^\\/]+[\\/][^\\/]+/.test(p);
}

/** Go's `filepath.Join`: joined and cleaned, without a trailing slash. */
function join(dir: string, p: string): string {
  const j = posix.join(dir, p);
  return j.length > 1 && j.endsWith("/") ? j.slice(0, -1) : j;
}

function forEachMapping(v: unknown, fn: (m: Dict) => void): void {
  if (!isMapping(v)) return;
  for (const child of Object.values(v)) if (isMapping(child)) fn(child);
}

class Resolver {
  constructor(
    private readonly baseDir: string,
    private readonly homeDir: string,
  ) {}

  /** compose-go `absPath`. */
  absPath(v: string): string {
    if (v === "") return v;
    const p = expandUser(v, this.homeDir);
    return posix.isAbsolute(p) ? p : join(this.baseDir, p);
  }

  /** compose-go `maybeUnixPath`: as `absPath`, but a Windows absolute path is absolute too. */
  maybeUnixPath(v: string): string {
    if (v === "") return v;
    const p = expandUser(v, this.homeDir);
    return posix.isAbsolute(p) || isWindowsAbs(p) ? p : join(this.baseDir, p);
  }

  absContext(v: string): string {
    return isRemoteContext(v) ? v : this.absPath(v);
  }

  /** `extends.file` and `include` may also name git or OCI (`oci://`) resources. */
  absResource(v: string): string {
    return isRemoteContext(v) ? v : this.absPath(v);
  }

  /** Replaces `c[k]` when it is a string. Positions are keyed by container and key, so they stay. */
  update(c: Dict | unknown[], k: string | number, fn: (v: string) => string): void {
    const v = (c as Record<string | number, unknown>)[k];
    if (typeof v === "string") (c as Record<string | number, unknown>)[k] = fn(v);
  }

  updateEach(list: unknown[], fn: (v: string) => string): void {
    for (let i = 0; i < list.length; i++) this.update(list, i, fn);
  }

  /** A string or a list of strings. */
  updateOneOrMany(c: Dict, k: string, fn: (v: string) => string): void {
    const v = c[k];
    if (Array.isArray(v)) this.updateEach(v, fn);
    else this.update(c, k, fn);
  }

  service(svc: Dict): void {
    const abs = (v: string): string => this.absPath(v);
    const build = svc["build"];
    if (typeof build === "string") this.update(svc, "build", (v) => this.absContext(v));
    else if (isMapping(build)) this.build(build);

    const envFile = svc["env_file"];
    if (Array.isArray(envFile)) {
      envFile.forEach((entry, i) => {
        if (isMapping(entry)) this.update(entry, "path", abs);
        else this.update(envFile, i, abs);
      });
    } else this.update(svc, "env_file", abs);

    this.updateOneOrMany(svc, "label_file", abs);

    const ext = svc["extends"];
    if (isMapping(ext)) this.update(ext, "file", (v) => this.absResource(v));

    const develop = svc["develop"];
    const watch = isMapping(develop) ? develop["watch"] : undefined;
    if (Array.isArray(watch)) {
      for (const rule of watch) if (isMapping(rule)) this.update(rule, "path", abs);
    }

    const volumes = svc["volumes"];
    if (Array.isArray(volumes)) {
      volumes.forEach((vol, i) => {
        if (typeof vol === "string") this.update(volumes, i, (v) => this.shortVolume(v));
        else if (isMapping(vol) && vol["type"] === "bind")
          this.update(vol, "source", (v) => this.maybeUnixPath(v));
      });
    }
  }

  build(build: Dict): void {
    this.update(build, "context", (v) => this.absContext(v));
    const extra = build["additional_contexts"];
    if (isMapping(extra)) {
      for (const k of Object.keys(extra)) this.update(extra, k, (v) => this.absContext(v));
    } else if (Array.isArray(extra)) {
      this.updateEach(extra, (v) => this.keyValue(v, (p) => this.absContext(p)));
    }
    const ssh = build["ssh"];
    if (isMapping(ssh)) {
      for (const k of Object.keys(ssh)) this.update(ssh, k, (v) => this.maybeUnixPath(v));
    } else if (Array.isArray(ssh)) {
      // `default` alone names the agent socket; only `id=path` carries a path.
      this.updateEach(ssh, (v) => this.keyValue(v, (p) => this.maybeUnixPath(p)));
    }
  }

  /** `name=path` → `name=<resolved path>`; an entry without `=` has no path. */
  keyValue(entry: string, fn: (v: string) => string): string {
    const i = entry.indexOf("=");
    return i < 0 ? entry : `${entry.slice(0, i + 1)}${fn(entry.slice(i + 1))}`;
  }

  /** `./data:/data:ro` → `/project/data:/data:ro`; `data:/data` names a volume and stays. */
  shortVolume(spec: string): string {
    const v = parseVolumeSpec(spec);
    if (v === undefined || !isHostPath(v.source)) return spec;
    return `${this.maybeUnixPath(v.source)}${spec.slice(v.source.length)}`;
  }

  /**
   * The local driver bind-mounts `device` when `o` has `bind` (compose-go requires `o: bind` exactly
   * and an explicit `driver: local`; `o: bind,ro` and the implicit default driver mount the same way).
   */
  volumeDriverOpts(vol: Dict): void {
    const driver = vol["driver"];
    if (driver !== undefined && driver !== null && driver !== "local") return;
    const opts = vol["driver_opts"];
    if (!isMapping(opts) || typeof opts["o"] !== "string") return;
    const o = opts["o"].split(",").map((x) => x.trim());
    if (!o.includes("bind") && !o.includes("rbind")) return;
    this.update(opts, "device", (v) => this.maybeUnixPath(v));
  }

  include(list: unknown[], i: number): void {
    const entry = list[i];
    if (typeof entry === "string") {
      this.update(list, i, (v) => this.absResource(v));
      return;
    }
    if (!isMapping(entry)) return;
    this.updateOneOrMany(entry, "path", (v) => this.absResource(v));
    this.update(entry, "project_directory", (v) => this.absPath(v));
    this.updateOneOrMany(entry, "env_file", (v) => this.absPath(v));
  }
}
