/**
 * Local volumes, binds and tmpfs mounts for the embedded engine: the `local` driver's volumes (a
 * directory `<root>/volumes/<name>/_data`, or a host directory with the bind form of its options) and
 * the engine's `ContainerVolumes` hooks.
 *
 * State on disk, every write atomic:
 * - `<root>/volumes/<name>/volume.json`: driver, options, labels, creation time. A volume directory
 *   without it is a create that crashed (its `_data` is empty) and is swept at open.
 * - `<root>/volumes/.refs/<container id>.json`: which volumes a container uses, written at create
 *   (anonymous volumes get their names then), so a stopped or never-started container keeps its
 *   volumes from removal and prune. A refs file whose container has no record (a create that failed
 *   after validation, a removal that crashed) counts for nothing and is swept at open.
 *
 * Volumes are created on first use (at start), with copy-up: an empty volume mounted over a directory
 * of the image gets that directory's content the first time the container starts, as in Docker.
 * Nothing is mounted on the host: runc makes every mount inside the container's mount namespace, so
 * there is nothing to unmount when a container exits.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, stat, unlink } from "node:fs/promises";
import { join } from "node:path";

import { isAtomicTempName, writeFileAtomic } from "../common/atomic.js";
import { TsstackError } from "../common/errors.js";
import { RECORD_FILE } from "../runtime/containers/record.js";
import { resolveInRoot } from "../runtime/containers/rootfs.js";
import type { SpecMount } from "../runtime/containers/oci-spec.js";
import type { ContainerContext, ContainerVolumes } from "../runtime/hooks.js";
import type { MountPoint } from "../runtime/runtime.js";
import {
  copyTree,
  diskUsage,
  ensureMountpoint,
  errorText,
  imageDirAt,
  isEmptyDir,
  isErrno,
} from "./host-fs.js";
import {
  ANONYMOUS_LABEL,
  parseMounts,
  tmpfsOptions,
  VOLUME_NAME_RE,
  type ParsedMount,
} from "./mount-spec.js";

/** Body of `POST /volumes/create`. */
export interface VolumeCreateOptions {
  /** Default: a generated 64-hex name, as Docker's anonymous volumes. */
  readonly Name?: string;
  /** Only `local`. */
  readonly Driver?: string;
  /**
   * The local driver's options. Supported: none (a directory under the root), or the bind form
   * `{ type: "none", o: "bind", device: "/host/dir" }` (the volume is that host directory).
   */
  readonly DriverOpts?: Readonly<Record<string, string>> | null;
  readonly Labels?: Readonly<Record<string, string>> | null;
}

/** `GET /volumes/{name}`. */
export interface VolumeInspect {
  Name: string;
  Driver: string;
  Mountpoint: string;
  /** RFC 3339, seconds. */
  CreatedAt: string;
  Labels: Record<string, string>;
  Scope: "local";
  Options: Record<string, string> | null;
}

/** `GET /volumes`. */
export interface VolumeListResult {
  Volumes: VolumeInspect[];
  Warnings: string[] | null;
}

/** `POST /volumes/prune`. */
export interface VolumePruneResult {
  VolumesDeleted: string[];
  SpaceReclaimed: number;
}

/** A MountPoint as Docker's inspect shows it for volumes (with the volume's name and driver). */
export interface VolumeMountPoint extends MountPoint {
  Name?: string;
  Driver?: string;
}

export interface VolumeManagerOptions {
  /** The engine root; volumes live under `<root>/volumes`. */
  readonly root: string;
  /**
   * Whether a container still exists (its references count). Default: its record
   * `<root>/containers/<id>/container.json` exists.
   */
  readonly containerExists?: (id: string) => boolean;
  /** Default: the system clock. */
  readonly now?: () => Date;
  /** Names of anonymous volumes. Default: 64 random hex digits. */
  readonly newName?: () => string;
  /** One line per recovered problem (sweeps at open). */
  readonly log?: (line: string) => void;
}

const VOLUME_FILE = "volume.json";
const DATA_DIR = "_data";
const REFS_DIR = ".refs";
const META_VERSION = 1;

interface VolumeMeta {
  readonly version: number;
  readonly name: string;
  readonly driver: "local";
  readonly createdAt: string;
  readonly labels: Record<string, string>;
  readonly options: Record<string, string> | null;
  /** The bind form of the local driver: the host directory that is the volume. */
  readonly device?: string;
}

interface ContainerRefs {
  readonly version: number;
  readonly container: string;
  readonly mounts: {
    readonly target: string;
    readonly volume: string;
    readonly anonymous: boolean;
    /** The container has started with this volume once: copy-up is over for it. */
    populated: boolean;
  }[];
}

function volumeError(code: string, message: string): TsstackError {
  return new TsstackError(code, message);
}

/** Runs async critical sections one at a time per key. */
class KeyedMutex {
  readonly #tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const result = (this.#tails.get(key) ?? Promise.resolve()).then(fn);
    const tail = result.catch(() => undefined);
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }
}

/** `type=none,o=bind,device=/dir` → the device; no options → undefined. Anything else is refused. */
function localDriverDevice(name: string, opts: Readonly<Record<string, string>>): string | undefined {
  const keys = Object.keys(opts);
  if (keys.length === 0) return undefined;
  const what = `creating volume "${name}"`;
  for (const k of keys)
    if (!["type", "o", "device"].includes(k))
      throw volumeError(
        "volume/invalid-config",
        `${what}: unknown local driver option "${k}" (type, o, device)`,
      );
  const type = opts["type"] ?? "";
  const o = (opts["o"] ?? "").split(",").filter((x) => x !== "");
  const device = opts["device"] ?? "";
  if (type !== "none" || !o.some((x) => x === "bind" || x === "rbind"))
    throw volumeError(
      "volume/invalid-config",
      `${what}: the local driver supports only host directories (type=none, o=bind, device=/path); type "${type}" with o "${opts["o"] ?? ""}" is not supported`,
    );
  const other = o.filter((x) => x !== "bind" && x !== "rbind");
  if (other.length > 0)
    throw volumeError("volume/invalid-config", `${what}: mount options ${other.join(",")} are not supported`);
  if (!device.startsWith("/"))
    throw volumeError("volume/invalid-config", `${what}: device "${device}" must be an absolute host path`);
  return device;
}

function sameOptions(a: Record<string, string> | null, b: Readonly<Record<string, string>>): boolean {
  const x = a ?? {};
  const keys = new Set([...Object.keys(x), ...Object.keys(b)]);
  for (const k of keys) if (x[k] !== b[k]) return false;
  return true;
}

function matchLabel(labels: Record<string, string>, filter: string): boolean {
  const eq = filter.indexOf("=");
  return eq < 0 ? filter in labels : labels[filter.slice(0, eq)] === filter.slice(eq + 1);
}

function truthy(values: readonly string[] | undefined, what: string): boolean | undefined {
  if (values === undefined || values.length === 0) return undefined;
  const v = values[values.length - 1] ?? "";
  if (["1", "true"].includes(v.toLowerCase())) return true;
  if (["0", "false"].includes(v.toLowerCase())) return false;
  throw volumeError("volume/invalid-filter", `invalid filter '${what}=${v}'`);
}

export class VolumeManager implements ContainerVolumes {
  readonly #dir: string;
  readonly #refsDir: string;
  readonly #containerExists: (id: string) => boolean;
  readonly #now: () => Date;
  readonly #newName: () => string;
  readonly #log: (line: string) => void;
  /** Container id → its references (mirror of the refs files). */
  readonly #refs = new Map<string, ContainerRefs>();
  /** "meta" serializes metadata changes; a volume's name serializes its copy-up. */
  readonly #mutex = new KeyedMutex();

  private constructor(opts: VolumeManagerOptions) {
    this.#dir = join(opts.root, "volumes");
    this.#refsDir = join(this.#dir, REFS_DIR);
    const containers = join(opts.root, "containers");
    this.#containerExists = opts.containerExists ?? ((id) => existsSync(join(containers, id, RECORD_FILE)));
    this.#now = opts.now ?? (() => new Date());
    this.#newName = opts.newName ?? (() => randomBytes(32).toString("hex"));
    this.#log = opts.log ?? (() => undefined);
  }

  /** Opens the volume state under `<root>/volumes`, sweeping what a crash left half-done. */
  static async open(opts: VolumeManagerOptions): Promise<VolumeManager> {
    const vm = new VolumeManager(opts);
    await mkdir(vm.#refsDir, { recursive: true, mode: 0o700 });
    await vm.#sweep();
    return vm;
  }

  async #sweep(): Promise<void> {
    for (const entry of await readdir(this.#refsDir)) {
      const path = join(this.#refsDir, entry);
      if (isAtomicTempName(entry)) {
        await unlink(path).catch(() => undefined);
        continue;
      }
      if (!entry.endsWith(".json")) continue;
      const id = entry.slice(0, -".json".length);
      if (!this.#containerExists(id)) {
        this.#log(`removing the volume references of container ${id.slice(0, 12)}: it no longer exists`);
        await unlink(path).catch(() => undefined);
        continue;
      }
      try {
        this.#refs.set(id, JSON.parse(await readFile(path, "utf8")) as ContainerRefs);
      } catch (e) {
        this.#log(`ignoring the volume references in ${path}: ${errorText(e)}`);
      }
    }
    for (const entry of await readdir(this.#dir)) {
      const path = join(this.#dir, entry);
      if (entry.startsWith(".removing-")) {
        await rm(path, { recursive: true, force: true });
        continue;
      }
      if (isAtomicTempName(entry)) {
        await unlink(path).catch(() => undefined);
        continue;
      }
      if (!VOLUME_NAME_RE.test(entry) || existsSync(join(path, VOLUME_FILE))) continue;
      const data = join(path, DATA_DIR);
      if (!existsSync(data) || (await isEmptyDir(data))) {
        this.#log(`removing ${path}: a volume creation that did not finish`);
        await rm(path, { recursive: true, force: true });
      } else this.#log(`skipping ${path}: it has data but no ${VOLUME_FILE}`);
    }
  }

  // -------------------------------------------------------------------------------------------------
  // Volumes

  async #readMeta(name: string): Promise<VolumeMeta | undefined> {
    if (!VOLUME_NAME_RE.test(name)) return undefined;
    try {
      return JSON.parse(await readFile(join(this.#dir, name, VOLUME_FILE), "utf8")) as VolumeMeta;
    } catch (e) {
      if (isErrno(e, "ENOENT")) return undefined;
      throw new TsstackError("volume/corrupt", `reading volume ${name}: ${errorText(e)}`, { cause: e });
    }
  }

  #dataPath(meta: VolumeMeta): string {
    return meta.device ?? join(this.#dir, meta.name, DATA_DIR);
  }

  #inspectOf(meta: VolumeMeta): VolumeInspect {
    return {
      Name: meta.name,
      Driver: meta.driver,
      Mountpoint: this.#dataPath(meta),
      CreatedAt: meta.createdAt,
      Labels: { ...meta.labels },
      Scope: "local",
      Options: meta.options === null ? null : { ...meta.options },
    };
  }

  /** Creates a volume; an existing one of the same name is returned as it is (Docker's idempotence). */
  createVolume(opts: VolumeCreateOptions = {}): Promise<VolumeInspect> {
    return this.#mutex.run("meta", async () => this.#inspectOf(await this.#create(opts, true)));
  }

  /** Caller holds "meta". `strict`: an existing volume with other driver options is a conflict. */
  async #create(opts: VolumeCreateOptions, strict: boolean): Promise<VolumeMeta> {
    const name = opts.Name === undefined || opts.Name === "" ? this.#newName() : opts.Name;
    if (typeof name !== "string" || !VOLUME_NAME_RE.test(name))
      throw volumeError(
        "volume/invalid-name",
        `creating volume ${JSON.stringify(name)}: invalid name: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed (two characters at least${typeof name === "string" && name.includes("/") ? "; a / is not allowed" : ""})`,
      );
    const driver = opts.Driver === undefined || opts.Driver === "" ? "local" : opts.Driver;
    if (driver !== "local")
      throw volumeError(
        "volume/invalid-config",
        `creating volume "${name}": driver "${driver}" is not supported (only local)`,
      );
    const driverOpts = opts.DriverOpts ?? {};
    const device = localDriverDevice(name, driverOpts);
    const existing = await this.#readMeta(name);
    if (existing !== undefined) {
      if (strict && !sameOptions(existing.options, driverOpts))
        throw volumeError(
          "volume/conflict",
          `creating volume "${name}": it already exists with other driver options (${JSON.stringify(existing.options ?? {})}); remove it first to change them`,
        );
      return existing;
    }
    const meta: VolumeMeta = {
      version: META_VERSION,
      name,
      driver: "local",
      createdAt: this.#now()
        .toISOString()
        .replace(/\.\d+Z$/, "Z"),
      labels: { ...(opts.Labels ?? {}) },
      options: Object.keys(driverOpts).length > 0 ? { ...driverOpts } : null,
      ...(device !== undefined ? { device } : {}),
    };
    const path = join(this.#dir, name);
    await mkdir(join(path, DATA_DIR), { recursive: true, mode: 0o755 });
    // Written last: a directory without it is a create that did not finish.
    await writeFileAtomic(join(path, VOLUME_FILE), `${JSON.stringify(meta)}\n`, 0o600);
    return meta;
  }

  async inspectVolume(name: string): Promise<VolumeInspect> {
    const meta = await this.#readMeta(name);
    if (meta === undefined) throw volumeError("volume/not-found", `get ${name}: no such volume`);
    return this.#inspectOf(meta);
  }

  /**
   * Docker's filters: `name` (a regular expression), `label` (`k` or `k=v`), `driver`, `dangling`
   * (true: used by no container).
   */
  async listVolumes(
    opts: { readonly filters?: Readonly<Record<string, readonly string[]>> } = {},
  ): Promise<VolumeListResult> {
    const filters = opts.filters ?? {};
    for (const key of Object.keys(filters))
      if (!["name", "label", "driver", "dangling"].includes(key))
        throw volumeError("volume/invalid-filter", `invalid filter '${key}'`);
    const dangling = truthy(filters["dangling"], "dangling");
    let names: RegExp[];
    try {
      names = (filters["name"] ?? []).map((n) => new RegExp(n));
    } catch (e) {
      throw volumeError("volume/invalid-filter", `invalid filter 'name': ${errorText(e)}`);
    }
    const used = this.#usedVolumes();
    const out: VolumeInspect[] = [];
    for (const meta of await this.#all()) {
      if (names.length > 0 && !names.some((re) => re.test(meta.name))) continue;
      if (!(filters["label"] ?? []).every((l) => matchLabel(meta.labels, l))) continue;
      const drivers = filters["driver"] ?? [];
      if (drivers.length > 0 && !drivers.includes(meta.driver)) continue;
      if (dangling !== undefined && dangling === used.has(meta.name)) continue;
      out.push(this.#inspectOf(meta));
    }
    out.sort((a, b) => a.Name.localeCompare(b.Name));
    return { Volumes: out, Warnings: null };
  }

  async #all(): Promise<VolumeMeta[]> {
    const out: VolumeMeta[] = [];
    for (const entry of await readdir(this.#dir)) {
      const meta = await this.#readMeta(entry).catch((e: unknown) => {
        this.#log(errorText(e));
        return undefined;
      });
      if (meta !== undefined) out.push(meta);
    }
    return out;
  }

  /** Volume name → ids of the (existing) containers that reference it. */
  #usedVolumes(): Map<string, string[]> {
    const used = new Map<string, string[]>();
    for (const refs of this.#refs.values()) {
      if (!this.#containerExists(refs.container)) continue;
      for (const m of refs.mounts) used.set(m.volume, [...(used.get(m.volume) ?? []), refs.container]);
    }
    return used;
  }

  /**
   * Removes a volume no container references (running or not): `volume/in-use` otherwise. `force`
   * only makes a missing volume no error, as Docker's. Data of a bind-form volume (a host directory)
   * is left alone; only the volume goes.
   */
  removeVolume(name: string, opts: { readonly force?: boolean } = {}): Promise<void> {
    return this.#mutex.run("meta", async () => {
      const meta = await this.#readMeta(name);
      if (meta === undefined) {
        if (opts.force === true) return;
        throw volumeError("volume/not-found", `remove ${name}: no such volume`);
      }
      const users = this.#usedVolumes().get(name);
      if (users !== undefined)
        throw volumeError("volume/in-use", `remove ${name}: volume is in use - [${users.join(", ")}]`);
      await this.#delete(name);
    });
  }

  /** Caller holds "meta": the directory is renamed away first, so a crash never leaves half a volume. */
  async #delete(name: string): Promise<void> {
    const path = join(this.#dir, name);
    const trash = join(this.#dir, `.removing-${name}-${randomBytes(4).toString("hex")}`);
    await rename(path, trash);
    await rm(trash, { recursive: true, force: true });
  }

  /**
   * Removes the volumes no container references. As Docker since 23.0 (API 1.42): only anonymous
   * volumes unless the filter `all` is true. Filters: `all`, `label` (`k`, `k=v`), `label!`.
   */
  pruneVolumes(
    opts: { readonly filters?: Readonly<Record<string, readonly string[]>> } = {},
  ): Promise<VolumePruneResult> {
    const filters = opts.filters ?? {};
    for (const key of Object.keys(filters))
      if (!["all", "label", "label!"].includes(key))
        throw volumeError("volume/invalid-filter", `invalid filter '${key}'`);
    const all = truthy(filters["all"], "all") === true;
    return this.#mutex.run("meta", async () => {
      const used = this.#usedVolumes();
      const result: VolumePruneResult = { VolumesDeleted: [], SpaceReclaimed: 0 };
      for (const meta of await this.#all()) {
        if (used.has(meta.name)) continue;
        if (!all && !(ANONYMOUS_LABEL in meta.labels)) continue;
        if (!(filters["label"] ?? []).every((l) => matchLabel(meta.labels, l))) continue;
        if ((filters["label!"] ?? []).some((l) => matchLabel(meta.labels, l))) continue;
        const size = meta.device === undefined ? await diskUsage(this.#dataPath(meta)) : 0;
        await this.#delete(meta.name);
        result.VolumesDeleted.push(meta.name);
        result.SpaceReclaimed += size;
      }
      return result;
    });
  }

  // -------------------------------------------------------------------------------------------------
  // ContainerVolumes

  /**
   * Checks the container's mounts (nothing is created when they are wrong), then records which
   * volumes it will use, naming its anonymous volumes.
   */
  async validate(ctx: Omit<ContainerContext, "rootfs">): Promise<void> {
    const what = `creating container ${ctx.name}`;
    const mounts = parseMounts(ctx.config.HostConfig, what, ctx.imageVolumes);
    for (const m of mounts) {
      if (m.kind === "bind" && !m.createSource && !(await exists(m.source)))
        throw new TsstackError(
          "container/invalid-config",
          `${what}: invalid mount ${m.origin}: bind source path does not exist: ${m.source}`,
        );
      if (m.kind === "volume")
        try {
          localDriverDevice(m.name ?? "(anonymous)", m.driverOpts);
        } catch (e) {
          throw new TsstackError(
            "container/invalid-config",
            `${what}: invalid mount ${m.origin}: ${errorText(e)}`,
            {
              cause: e,
            },
          );
        }
    }
    await this.#mutex.run("meta", () => this.#writeRefs(this.#refsFor(ctx.id, mounts)));
  }

  #refsFor(id: string, mounts: readonly ParsedMount[]): ContainerRefs {
    return {
      version: META_VERSION,
      container: id,
      mounts: mounts.flatMap((m) =>
        m.kind === "volume"
          ? [
              {
                target: m.target,
                volume: m.name ?? this.#newName(),
                anonymous: m.name === undefined,
                populated: false,
              },
            ]
          : [],
      ),
    };
  }

  /** A container without volumes needs no file: its (empty) references are rebuilt at no cost. */
  async #writeRefs(refs: ContainerRefs): Promise<void> {
    if (refs.mounts.length > 0)
      await writeFileAtomic(
        join(this.#refsDir, `${refs.container}.json`),
        `${JSON.stringify(refs)}\n`,
        0o600,
      );
    this.#refs.set(refs.container, refs);
  }

  /**
   * Creates missing bind sources (short syntax) and volumes (with copy-up), the mount points in the
   * rootfs, and returns the OCI mounts, parents before children.
   */
  async mountsFor(ctx: ContainerContext): Promise<{ mounts: SpecMount[]; points: MountPoint[] }> {
    const what = `starting container ${ctx.name}`;
    const parsed = parseMounts(ctx.config.HostConfig, what, ctx.imageVolumes);
    const refs = await this.#mutex.run("meta", async () => {
      const known = this.#refs.get(ctx.id);
      if (known !== undefined) return known;
      // Lost (a crash between validate and the record, or an older engine): name them afresh.
      const fresh = this.#refsFor(ctx.id, parsed);
      await this.#writeRefs(fresh);
      return fresh;
    });
    const out: { mount: SpecMount; point: VolumeMountPoint }[] = [];
    let changed = false;
    for (const m of parsed) {
      const bad = (why: string): TsstackError =>
        new TsstackError("container/invalid-config", `${what}: invalid mount ${m.origin}: ${why}`);
      switch (m.kind) {
        case "bind": {
          if (!(await exists(m.source))) {
            if (!m.createSource) throw bad(`bind source path does not exist: ${m.source}`);
            // Docker creates a missing short-syntax source as a directory.
            await mkdir(m.source, { recursive: true, mode: 0o755 });
          }
          const isDir = (await stat(m.source)).isDirectory();
          await ensureMountpoint(ctx.rootfs, m.target, isDir ? "dir" : "file", what);
          out.push({
            mount: {
              destination: m.target,
              type: "bind",
              source: m.source,
              options: ["rbind", m.propagation, ...(m.readOnly ? ["ro"] : [])],
            },
            point: {
              Type: "bind",
              Source: m.source,
              Destination: m.target,
              Mode: m.mode,
              RW: !m.readOnly,
              Propagation: m.propagation,
            },
          });
          break;
        }
        case "volume": {
          let ref = refs.mounts.find((r) => r.target === m.target);
          if (ref === undefined) {
            // Not known at create (a refs file from before this mount was counted): named now.
            ref = {
              target: m.target,
              volume: m.name ?? this.#newName(),
              anonymous: m.name === undefined,
              populated: false,
            };
            refs.mounts.push(ref);
            changed = true;
          }
          const meta = await this.#mutex.run("meta", () =>
            this.#create(
              {
                Name: ref.volume,
                DriverOpts: m.driverOpts,
                Labels: ref.anonymous ? { ...m.labels, [ANONYMOUS_LABEL]: "" } : m.labels,
              },
              false,
            ),
          );
          const data = this.#dataPath(meta);
          if (meta.device !== undefined && !(await isDirectory(data)))
            throw bad(`the host directory ${data} of volume ${meta.name} does not exist`);
          if (!ref.populated) {
            if (!m.noCopy && m.subpath === undefined) await this.#copyUp(ctx.rootfs, m.target, meta, what);
            ref.populated = true;
            changed = true;
          }
          let source = data;
          if (m.subpath !== undefined) {
            source = await resolveInRoot(data, m.subpath);
            if (!(await exists(source)))
              throw bad(`Subpath "${m.subpath}" does not exist in volume ${meta.name}`);
          }
          const isDir = (await stat(source)).isDirectory();
          await ensureMountpoint(ctx.rootfs, m.target, isDir ? "dir" : "file", what);
          out.push({
            mount: {
              destination: m.target,
              type: "bind",
              source,
              options: ["rbind", "rprivate", ...(m.readOnly ? ["ro"] : [])],
            },
            point: {
              Type: "volume",
              Name: meta.name,
              Source: source,
              Destination: m.target,
              Driver: meta.driver,
              Mode: m.mode,
              RW: !m.readOnly,
              Propagation: "",
            },
          });
          break;
        }
        case "tmpfs":
          await ensureMountpoint(ctx.rootfs, m.target, "dir", what, m.fileMode ?? 0o755);
          out.push({
            mount: { destination: m.target, type: "tmpfs", source: "tmpfs", options: tmpfsOptions(m) },
            point: {
              Type: "tmpfs",
              Source: "",
              Destination: m.target,
              Mode: "",
              RW: !m.readOnly,
              Propagation: "",
            },
          });
          break;
      }
    }
    if (changed) await this.#mutex.run("meta", () => this.#writeRefs(refs));
    // Parents before children (runc mounts in order), as Docker sorts them.
    const depth = (p: string): number => p.split("/").length;
    out.sort((a, b) => depth(a.mount.destination) - depth(b.mount.destination));
    return { mounts: out.map((o) => o.mount), points: out.map((o) => o.point) };
  }

  /** Docker's copy-up: image content at the target goes into the volume when the volume is empty. */
  async #copyUp(rootfs: string, target: string, meta: VolumeMeta, what: string): Promise<void> {
    const from = await imageDirAt(rootfs, target);
    if (from === undefined) return;
    const data = this.#dataPath(meta);
    await this.#mutex.run(`copy:${meta.name}`, async () => {
      if (!(await isEmptyDir(data))) return;
      await copyTree(from, data, `${what}: copying ${target} of the image into volume ${meta.name}`);
    });
  }

  /** Nothing to release at an exit: the local driver mounts nothing on the host. */
  tearDown(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * The container is gone: its references go, and with `removeAnonymous` (`rm -v`, `--rm`) its
   * anonymous volumes that no other container uses. A volume created anonymous stays anonymous when a
   * later container mounts it by name (a replacement taking over its predecessor's volumes, as Compose
   * does on recreate), so it goes with the last such container. Docker keeps a volume mounted by name
   * there; here `down -v` of a recreated stack would otherwise leave it behind.
   */
  containerRemoved(
    ctx: Omit<ContainerContext, "rootfs">,
    opts: { readonly removeAnonymous: boolean },
  ): Promise<void> {
    return this.#mutex.run("meta", async () => {
      const refs = this.#refs.get(ctx.id);
      this.#refs.delete(ctx.id);
      await unlink(join(this.#refsDir, `${ctx.id}.json`)).catch((e: unknown) => {
        if (!isErrno(e, "ENOENT")) throw e;
      });
      if (!opts.removeAnonymous || refs === undefined) return;
      const used = this.#usedVolumes();
      for (const m of refs.mounts) {
        if (used.has(m.volume)) continue;
        const meta = await this.#readMeta(m.volume);
        if (meta !== undefined && (m.anonymous || ANONYMOUS_LABEL in meta.labels))
          await this.#delete(m.volume);
      }
    });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
