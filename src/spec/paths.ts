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
import { parseVolumeSpec } from "./merge.js";
import { isMapping, type SourceMap } from "./source.js";
import { mapEntries, mapItems } from "./tree.js";

export interface PathContext {
  readonly sources: SourceMap;
  /** Directory relative paths are resolved against: the project directory (compose-go `WorkingDir`). */
  readonly baseDir: string;
  /** What a leading `~` expands to. */
  readonly homeDir: string;
}

type Dict = Record<string, unknown>;
type Fn = (v: string) => string;

/**
 * Returns `model` with relative paths made absolute; `model` is not modified. Only the containers on
 * the way to a rewritten value are new (carrying the positions, merge tags and `!reset` records of
 * the ones they replace); the rest is shared with `model`, which is returned as is when it holds no
 * relative path.
 */
export function resolveRelativePaths(model: Dict, ctx: PathContext): Dict {
  const r = new Resolver(ctx.sources, ctx.baseDir, ctx.homeDir);
  const maybeUnix: Fn = (v) => r.maybeUnixPath(v);
  return r.entries(model, (v, k) => {
    switch (k) {
      case "services":
        return r.eachMapping(v, (svc) => r.service(svc));
      case "configs":
      case "secrets":
        return r.eachMapping(v, (res) => r.str(res, "file", maybeUnix));
      case "volumes":
        return r.eachMapping(v, (vol) => r.volumeDriverOpts(vol));
      case "include":
        return Array.isArray(v) ? r.items(v, (entry) => r.include(entry)) : v;
      default:
        return v;
    }
  });
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

class Resolver {
  constructor(
    private readonly sources: SourceMap,
    private readonly baseDir: string,
    private readonly homeDir: string,
  ) {}

  // Copy-on-write helpers: each returns its input itself when `fn` changed nothing in it, otherwise a
  // copy carrying the input's positions, merge tags and `!reset` records (they are keyed by container
  // and key, and keys do not change).

  /** `fn` applied to every entry of a mapping. */
  entries(c: Dict, fn: (v: unknown, k: string) => unknown): Dict {
    return mapEntries(c, fn, this.sources);
  }

  /** `fn` applied to every item of a list. */
  items(list: unknown[], fn: (v: unknown) => unknown): unknown[] {
    return mapItems(list, (v) => fn(v), this.sources);
  }

  /** `fn` applied to the entries of `v` that are mappings, when `v` is a mapping. */
  eachMapping(v: unknown, fn: (m: Dict) => Dict): unknown {
    return isMapping(v) ? this.entries(v, (child) => (isMapping(child) ? fn(child) : child)) : v;
  }

  /** `c[k]` passed through `fn` when it is a string. */
  str(c: Dict, k: string, fn: Fn): Dict {
    const v = c[k];
    if (typeof v !== "string") return c;
    const nv = fn(v);
    return nv === v ? c : this.entries(c, (x, key) => (key === k ? nv : x));
  }

  /** A string passed through `fn`; other values as they are. */
  strValue(v: unknown, fn: Fn): unknown {
    return typeof v === "string" ? fn(v) : v;
  }

  /** A string or a list of strings. */
  oneOrMany(v: unknown, fn: Fn): unknown {
    return Array.isArray(v) ? this.items(v, (x) => this.strValue(x, fn)) : this.strValue(v, fn);
  }

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

  service(svc: Dict): Dict {
    const abs: Fn = (v) => this.absPath(v);
    return this.entries(svc, (v, k) => {
      switch (k) {
        case "build":
          if (typeof v === "string") return this.absContext(v);
          return isMapping(v) ? this.build(v) : v;
        case "env_file":
          if (!Array.isArray(v)) return this.strValue(v, abs);
          return this.items(v, (entry) =>
            isMapping(entry) ? this.str(entry, "path", abs) : this.strValue(entry, abs),
          );
        case "label_file":
          return this.oneOrMany(v, abs);
        case "extends":
          return isMapping(v) ? this.str(v, "file", (f) => this.absResource(f)) : v;
        case "develop":
          if (!isMapping(v)) return v;
          return this.entries(v, (watch, dk) =>
            dk === "watch" && Array.isArray(watch)
              ? this.items(watch, (rule) => (isMapping(rule) ? this.str(rule, "path", abs) : rule))
              : watch,
          );
        case "volumes":
          if (!Array.isArray(v)) return v;
          return this.items(v, (vol) => {
            if (typeof vol === "string") return this.shortVolume(vol);
            if (isMapping(vol) && vol["type"] === "bind")
              return this.str(vol, "source", (p) => this.maybeUnixPath(p));
            return vol;
          });
        default:
          return v;
      }
    });
  }

  build(build: Dict): Dict {
    return this.entries(build, (v, k) => {
      switch (k) {
        case "context":
          return this.strValue(v, (p) => this.absContext(p));
        case "additional_contexts":
          if (isMapping(v)) return this.entries(v, (x) => this.strValue(x, (p) => this.absContext(p)));
          if (Array.isArray(v))
            return this.items(v, (x) => this.strValue(x, (e) => this.keyValue(e, (p) => this.absContext(p))));
          return v;
        case "ssh":
          if (isMapping(v)) return this.entries(v, (x) => this.strValue(x, (p) => this.maybeUnixPath(p)));
          // `default` alone names the agent socket; only `id=path` carries a path.
          if (Array.isArray(v))
            return this.items(v, (x) =>
              this.strValue(x, (e) => this.keyValue(e, (p) => this.maybeUnixPath(p))),
            );
          return v;
        default:
          return v;
      }
    });
  }

  /** `name=path` → `name=<resolved path>`; an entry without `=` has no path. */
  keyValue(entry: string, fn: Fn): string {
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
  volumeDriverOpts(vol: Dict): Dict {
    const driver = vol["driver"];
    if (driver !== undefined && driver !== null && driver !== "local") return vol;
    const opts = vol["driver_opts"];
    if (!isMapping(opts) || typeof opts["o"] !== "string") return vol;
    const o = opts["o"].split(",").map((x) => x.trim());
    if (!o.includes("bind") && !o.includes("rbind")) return vol;
    const resolved = this.str(opts, "device", (v) => this.maybeUnixPath(v));
    return this.entries(vol, (v, k) => (k === "driver_opts" ? resolved : v));
  }

  include(entry: unknown): unknown {
    if (typeof entry === "string") return this.absResource(entry);
    if (!isMapping(entry)) return entry;
    return this.entries(entry, (v, k) => {
      switch (k) {
        case "path":
          return this.oneOrMany(v, (p) => this.absResource(p));
        case "project_directory":
          return this.strValue(v, (p) => this.absPath(p));
        case "env_file":
          return this.oneOrMany(v, (p) => this.absPath(p));
        default:
          return v;
      }
    });
  }
}
