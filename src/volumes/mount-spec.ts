/**
 * The container's mounts as data: HostConfig.Binds (`src:dst[:opts]`) and HostConfig.Mounts (Docker's
 * long form) parsed and checked into one list of `ParsedMount`. Pure: no file system access (whether a
 * bind source exists is the caller's question), so every rule here is table-tested.
 *
 * The rules follow Docker's (moby `volume/mounts/linux_parser.go`): a short-syntax source that is an
 * absolute path is a bind, anything else a volume name; targets are absolute and unique; `ro`/`rw`,
 * an SELinux label (`z`/`Z`), a propagation mode and `nocopy` may each appear once.
 */
import { posix } from "node:path";

import { TsstackError } from "../common/errors.js";
import type { HostConfig, MountSpec } from "../runtime/runtime.js";

/** Docker's volume name rule (at least two characters). */
export const VOLUME_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export const PROPAGATIONS = ["rprivate", "private", "rshared", "shared", "rslave", "slave"] as const;
export type Propagation = (typeof PROPAGATIONS)[number];

/** Label Docker puts on anonymous volumes; `volume prune` without `all` removes only these. */
export const ANONYMOUS_LABEL = "com.docker.volume.anonymous";

interface MountBase {
  /** Normalized absolute path in the container. */
  readonly target: string;
  readonly readOnly: boolean;
  /** What the user wrote, for messages: `Binds entry "a:/b"`, `Mounts[1] (volume → /data)`. */
  readonly origin: string;
  /** The mode string inspect shows (Docker: the short syntax's options, `z` for volumes, else ""). */
  readonly mode: string;
}

export interface BindMount extends MountBase {
  readonly kind: "bind";
  /** Absolute, normalized host path. */
  readonly source: string;
  readonly propagation: Propagation;
  /**
   * The short syntax (and long syntax with `CreateMountpoint`): a missing source is created as a
   * directory at start. The long syntax otherwise refuses a missing source.
   */
  readonly createSource: boolean;
}

export interface VolumeMount extends MountBase {
  readonly kind: "volume";
  /** Undefined: an anonymous volume (a name is generated at create). */
  readonly name: string | undefined;
  readonly noCopy: boolean;
  /** Relative, normalized path inside the volume, without `..`; undefined for the whole volume. */
  readonly subpath: string | undefined;
  /** For a volume created by this mount. */
  readonly labels: Readonly<Record<string, string>>;
  readonly driver: string | undefined;
  readonly driverOpts: Readonly<Record<string, string>>;
}

export interface TmpfsMount extends MountBase {
  readonly kind: "tmpfs";
  readonly sizeBytes: number | undefined;
  readonly fileMode: number | undefined;
}

export type ParsedMount = BindMount | VolumeMount | TmpfsMount;

/** Targets under which nothing may be mounted: the kernel's views the runtime sets up itself. */
const RESERVED_TARGETS = ["/proc", "/sys"];

function invalid(what: string, origin: string, why: string): TsstackError {
  return new TsstackError("container/invalid-config", `${what}: invalid mount ${origin}: ${why}`);
}

/**
 * Parses and checks HostConfig.Binds and HostConfig.Mounts. `what` starts every error message
 * (`creating container web`). Targets of HostConfig.Tmpfs count for the duplicate check.
 * `imageVolumes` (the image's VOLUME paths) become anonymous volumes where nothing else is mounted,
 * as in Docker.
 *
 * Throws `container/invalid-config`, naming the offending entry.
 */
export function parseMounts(
  hostConfig: HostConfig | undefined,
  what: string,
  imageVolumes: readonly string[] = [],
): ParsedMount[] {
  const out: ParsedMount[] = [];
  const binds: unknown = hostConfig?.Binds ?? [];
  const mounts: unknown = hostConfig?.Mounts ?? [];
  if (!Array.isArray(binds))
    throw new TsstackError("container/invalid-config", `${what}: HostConfig.Binds must be a list of strings`);
  if (!Array.isArray(mounts))
    throw new TsstackError("container/invalid-config", `${what}: HostConfig.Mounts must be a list of mounts`);
  for (const b of binds as unknown[]) {
    if (typeof b !== "string")
      throw new TsstackError(
        "container/invalid-config",
        `${what}: HostConfig.Binds entry ${JSON.stringify(b)} is not a string`,
      );
    out.push(parseBind(b, what));
  }
  (mounts as unknown[]).forEach((m, i) => out.push(parseMountSpec(m, i, what)));

  const seen = new Map<string, string>();
  for (const t of Object.keys(hostConfig?.Tmpfs ?? {})) seen.set(posix.normalize(t), `Tmpfs entry "${t}"`);
  for (const m of out) {
    const other = seen.get(m.target);
    if (other !== undefined)
      throw invalid(what, m.origin, `duplicate mount point ${m.target} (also used by ${other})`);
    seen.set(m.target, m.origin);
  }
  for (const path of imageVolumes) {
    const origin = `image VOLUME ${JSON.stringify(path)}`;
    const target = checkTarget(path, what, origin);
    if (seen.has(target)) continue;
    seen.set(target, origin);
    out.push(anonymousVolume(target, origin));
  }
  return out;
}

function anonymousVolume(target: string, origin: string): VolumeMount {
  return {
    kind: "volume",
    name: undefined,
    target,
    readOnly: false,
    origin,
    mode: "",
    noCopy: false,
    subpath: undefined,
    labels: {},
    driver: undefined,
    driverOpts: {},
  };
}

/** `source:target[:options]`, `target` alone (an anonymous volume). */
export function parseBind(spec: string, what: string): ParsedMount {
  const origin = `Binds entry ${JSON.stringify(spec)}`;
  const parts = spec.split(":");
  if (parts.length > 3 || spec === "") throw invalid(what, origin, "expected source:target[:options]");
  if (parts.length === 1) return anonymousVolume(checkTarget(parts[0] ?? "", what, origin), origin);
  const [source = "", rawTarget = "", rawMode] = parts;
  const target = checkTarget(rawTarget, what, origin);
  const isBind = source.startsWith("/");
  if (!isBind) checkVolumeName(source, what, origin);

  let readOnly: boolean | undefined;
  let label: string | undefined;
  let propagation: Propagation | undefined;
  let noCopy = false;
  const options = rawMode === undefined ? [] : rawMode.split(",");
  for (const o of options) {
    const once = (set: boolean): void => {
      if (set)
        throw invalid(what, origin, `option "${o}" conflicts with another option in "${rawMode ?? ""}"`);
    };
    if (o === "ro" || o === "rw") {
      once(readOnly !== undefined);
      readOnly = o === "ro";
    } else if (o === "z" || o === "Z") {
      once(label !== undefined);
      label = o;
    } else if ((PROPAGATIONS as readonly string[]).includes(o)) {
      once(propagation !== undefined);
      if (!isBind) throw invalid(what, origin, `propagation "${o}" applies to bind mounts only`);
      propagation = o as Propagation;
    } else if (o === "nocopy") {
      once(noCopy);
      if (isBind) throw invalid(what, origin, `"nocopy" applies to volumes only`);
      noCopy = true;
    } else if (o === "consistent" || o === "cached" || o === "delegated") {
      // Docker Desktop's consistency hints: no meaning on Linux, accepted as Docker does.
    } else {
      throw invalid(
        what,
        origin,
        `unknown option "${o}" (expected ro, rw, z, Z, nocopy or a propagation: ${PROPAGATIONS.join(", ")})`,
      );
    }
  }
  if (isBind)
    return {
      kind: "bind",
      source: checkHostPath(source, what, origin),
      target,
      readOnly: readOnly === true,
      origin,
      mode: rawMode ?? "",
      propagation: propagation ?? "rprivate",
      createSource: true,
    };
  return {
    kind: "volume",
    name: source,
    target,
    readOnly: readOnly === true,
    origin,
    // Docker shows `z` for a short-syntax volume without options.
    mode: rawMode ?? "z",
    noCopy,
    subpath: undefined,
    labels: {},
    driver: undefined,
    driverOpts: {},
  };
}

/** One entry of HostConfig.Mounts (it comes from JSON: every field is checked). */
export function parseMountSpec(raw: unknown, index: number, what: string): ParsedMount {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw new TsstackError(
      "container/invalid-config",
      `${what}: HostConfig.Mounts[${index}] is not an object`,
    );
  const m = raw as Partial<Record<keyof MountSpec, unknown>>;
  const type = m.Type;
  const origin = `Mounts[${index}] (${String(type)} → ${String(m.Target)})`;
  if (type !== "bind" && type !== "volume" && type !== "tmpfs")
    throw invalid(what, origin, `type ${JSON.stringify(type)} is not supported (bind, volume, tmpfs)`);
  if (typeof m.Target !== "string") throw invalid(what, origin, "Target is required");
  const target = checkTarget(m.Target, what, origin);
  if (m.ReadOnly !== undefined && typeof m.ReadOnly !== "boolean")
    throw invalid(what, origin, "ReadOnly must be a boolean");
  const readOnly = m.ReadOnly === true;
  const source = m.Source ?? "";
  if (typeof source !== "string") throw invalid(what, origin, "Source must be a string");
  const notFor = (field: string, value: unknown): void => {
    if (value !== undefined && value !== null)
      throw invalid(what, origin, `${field} cannot be used with a ${type} mount`);
  };

  switch (type) {
    case "bind": {
      notFor("VolumeOptions", m.VolumeOptions);
      notFor("TmpfsOptions", m.TmpfsOptions);
      if (source === "") throw invalid(what, origin, "a bind mount needs a Source");
      const opts = objectOf(m.BindOptions, "BindOptions", what, origin);
      const propagation = opts["Propagation"] ?? "";
      if (typeof propagation !== "string" || (propagation !== "" && !isPropagation(propagation)))
        throw invalid(
          what,
          origin,
          `BindOptions.Propagation ${JSON.stringify(propagation)} is not one of ${PROPAGATIONS.join(", ")}`,
        );
      const create = opts["CreateMountpoint"];
      if (create !== undefined && typeof create !== "boolean")
        throw invalid(what, origin, "BindOptions.CreateMountpoint must be a boolean");
      return {
        kind: "bind",
        source: checkHostPath(source, what, origin),
        target,
        readOnly,
        origin,
        mode: "",
        propagation: propagation === "" ? "rprivate" : propagation,
        createSource: create === true,
      };
    }
    case "volume": {
      notFor("BindOptions", m.BindOptions);
      notFor("TmpfsOptions", m.TmpfsOptions);
      if (source !== "") checkVolumeName(source, what, origin);
      const opts = objectOf(m.VolumeOptions, "VolumeOptions", what, origin);
      const noCopy = opts["NoCopy"];
      if (noCopy !== undefined && typeof noCopy !== "boolean")
        throw invalid(what, origin, "VolumeOptions.NoCopy must be a boolean");
      const rawSub = opts["Subpath"] ?? "";
      if (typeof rawSub !== "string") throw invalid(what, origin, "VolumeOptions.Subpath must be a string");
      const subpath = rawSub === "" ? undefined : checkSubpath(rawSub, what, origin);
      if (subpath !== undefined && source === "")
        throw invalid(what, origin, "VolumeOptions.Subpath needs a named volume (Source)");
      const labels = stringMap(opts["Labels"], "VolumeOptions.Labels", what, origin);
      const driverConfig = objectOf(opts["DriverConfig"], "VolumeOptions.DriverConfig", what, origin);
      const driver = driverConfig["Name"];
      if (driver !== undefined && typeof driver !== "string")
        throw invalid(what, origin, "VolumeOptions.DriverConfig.Name must be a string");
      if (driver !== undefined && driver !== "" && driver !== "local")
        throw invalid(what, origin, `volume driver "${driver}" is not supported (only local)`);
      return {
        kind: "volume",
        name: source === "" ? undefined : source,
        target,
        readOnly,
        origin,
        mode: "",
        noCopy: noCopy === true,
        subpath,
        labels,
        driver: driver === "" ? undefined : driver,
        driverOpts: stringMap(driverConfig["Options"], "VolumeOptions.DriverConfig.Options", what, origin),
      };
    }
    case "tmpfs": {
      notFor("BindOptions", m.BindOptions);
      notFor("VolumeOptions", m.VolumeOptions);
      if (source !== "") throw invalid(what, origin, "a tmpfs mount takes no Source");
      const opts = objectOf(m.TmpfsOptions, "TmpfsOptions", what, origin);
      const size = opts["SizeBytes"];
      const mode = opts["Mode"];
      if (size !== undefined && (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0))
        throw invalid(what, origin, "TmpfsOptions.SizeBytes must be a number of bytes ≥ 0");
      if (
        mode !== undefined &&
        (typeof mode !== "number" || !Number.isInteger(mode) || mode < 0 || mode > 0o7777)
      )
        throw invalid(what, origin, "TmpfsOptions.Mode must be a file mode (0 to 0o7777)");
      return {
        kind: "tmpfs",
        target,
        readOnly,
        origin,
        mode: "",
        sizeBytes: size === undefined || size === 0 ? undefined : size,
        fileMode: mode === undefined || mode === 0 ? undefined : mode,
      };
    }
  }
}

/** tmpfs options as Docker builds them (`size=64m`, `mode=1777`, octal), after its defaults. */
export function tmpfsOptions(m: TmpfsMount): string[] {
  const out = ["noexec", "nosuid", "nodev"];
  if (m.sizeBytes !== undefined) out.push(`size=${sizeText(m.sizeBytes)}`);
  if (m.fileMode !== undefined) out.push(`mode=${m.fileMode.toString(8)}`);
  if (m.readOnly) out.push("ro");
  return out;
}

function sizeText(bytes: number): string {
  for (const [unit, factor] of [
    ["g", 1024 ** 3],
    ["m", 1024 ** 2],
    ["k", 1024],
  ] as const)
    if (bytes % factor === 0) return `${bytes / factor}${unit}`;
  return String(bytes);
}

function isPropagation(s: string): s is Propagation {
  return (PROPAGATIONS as readonly string[]).includes(s);
}

function checkTarget(raw: string, what: string, origin: string): string {
  if (raw === "") throw invalid(what, origin, "the target is empty");
  if (!raw.startsWith("/")) throw invalid(what, origin, `the target "${raw}" is not an absolute path`);
  const target = posix.normalize(raw).replace(/(.)\/+$/, "$1");
  if (target === "/") throw invalid(what, origin, "the target cannot be /");
  for (const r of RESERVED_TARGETS)
    if (target === r || target.startsWith(`${r}/`))
      throw invalid(what, origin, `cannot mount over ${target}: ${r} is set up by the runtime`);
  return target;
}

function checkHostPath(raw: string, what: string, origin: string): string {
  if (!raw.startsWith("/"))
    throw invalid(
      what,
      origin,
      `the host path "${raw}" is relative; the engine needs an absolute path (Compose resolves relative paths against the project directory)`,
    );
  return posix.normalize(raw).replace(/(.)\/+$/, "$1");
}

/** Volume names; a source that looks like a relative path gets a message saying so. */
function checkVolumeName(name: string, what: string, origin: string): void {
  if (VOLUME_NAME_RE.test(name)) return;
  if (name.startsWith(".") || name.startsWith("~") || name.includes("/"))
    throw invalid(
      what,
      origin,
      `"${name}" is neither a volume name nor an absolute host path (a relative host path must be made absolute first, as Compose does)`,
    );
  throw invalid(
    what,
    origin,
    `"${name}" is not a valid volume name: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed (two characters at least)`,
  );
}

function checkSubpath(raw: string, what: string, origin: string): string | undefined {
  if (raw.startsWith("/")) throw invalid(what, origin, `Subpath "${raw}" must be relative to the volume`);
  if (raw.split("/").includes(".."))
    throw invalid(what, origin, `Subpath "${raw}" must stay inside the volume (no "..")`);
  const sub = posix.normalize(raw).replace(/\/+$/, "");
  return sub === "." ? undefined : sub;
}

function objectOf(value: unknown, field: string, what: string, origin: string): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value))
    throw invalid(what, origin, `${field} must be an object`);
  return value as Record<string, unknown>;
}

function stringMap(value: unknown, field: string, what: string, origin: string): Record<string, string> {
  const obj = objectOf(value, field, what, origin);
  for (const [k, v] of Object.entries(obj))
    if (typeof v !== "string") throw invalid(what, origin, `${field}.${k} must be a string`);
  return { ...(obj as Record<string, string>) };
}
