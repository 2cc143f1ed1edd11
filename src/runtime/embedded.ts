/**
 * The embedded runtime: tsstack's own engine on one node. Containers are OCI bundles on an overlayfs
 * of the image store's snapshots, created by runc under conmon (src/runtime/containers/conmon.ts), so
 * they outlive this process; every state change is written to `<root>/containers/<id>/container.json`
 * atomically, and `open` re-adopts what is still running and records what exited meanwhile.
 *
 * One engine per root: `open` takes `<root>/engine.lock`. Runtime state (runc's own state, conmon's
 * exit files) lives under `runRoot`, by default `/run/tsstack/<hash of root>`, so engines with other
 * roots never see each other's containers.
 */
import { execFile, spawn } from "node:child_process";
import { createHash, randomBytes, randomInt } from "node:crypto";
import { EventEmitter, on } from "node:events";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  watch,
  writeFileSync,
  type FSWatcher,
} from "node:fs";
import { mkdir, readdir, readFile, readlink, rm, rmdir, stat } from "node:fs/promises";
import { constants as osConstants, cpus, release, totalmem } from "node:os";
import { join } from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { writeFileAtomic } from "../common/atomic.js";
import { TsstackError } from "../common/errors.js";
import { acquireLock, type Lock } from "../common/lock.js";
import { NetworkManager, type NetworkSettingsOptions } from "../network/manager.js";
import type {
  NetworkCreateOptions,
  NetworkCreateResult,
  NetworkFilters,
  NetworkInspect,
  NetworkPruneResult,
} from "../network/types.js";
import { attachConmon } from "./containers/attach.js";
import {
  CONMON_PATHS,
  findBinary,
  processStartTime,
  releaseExited,
  runcInitStart,
  RUNC_PATHS,
  runc,
  runcState,
  signalIfSame,
  startConmon,
} from "./containers/conmon.js";
import { readLog } from "./containers/logs.js";
import {
  buildRuntimeSpec,
  cgroupControllersNeeded,
  resolveUser,
  type ContainerConfig,
  type SpecResources,
} from "./containers/oci-spec.js";
import {
  imageUseCheck,
  RECORD_FILE,
  RECORD_VERSION,
  ZERO_TIME,
  type ContainerRecord,
} from "./containers/record.js";
import { effectiveHealthcheck, HealthMonitor, type ProbeResult } from "./containers/health.js";
import {
  ensureWorkingDir,
  isMountPoint,
  mountOverlay,
  readUserDb,
  unmountOverlay,
} from "./containers/rootfs.js";
import {
  noNetworking,
  noVolumes,
  type ContainerContext,
  type ContainerNetworking,
  type ContainerVolumes,
} from "./hooks.js";
import { readImageConfig } from "./images/inspect.js";
import { ImageStore } from "./images/store.js";
import {
  VolumeManager,
  type VolumeCreateOptions,
  type VolumeInspect,
  type VolumeListResult,
  type VolumePruneResult,
} from "../volumes/manager.js";
import type { RunConfig } from "./images/archive.js";
import {
  CONTAINER_NAME_RE,
  type CommitOptions,
  type Container,
  type ContainerCreateOptions,
  type ContainerInspect,
  type ContainerPathStat,
  type ContainerStats,
  type ContainerSummary,
  type ExecOptions,
  type ExecProcess,
  type ListContainersOptions,
  type LogEntry,
  type LogsOptions,
  type NetworkVolumeOps,
  type Runtime,
  type RuntimeEvent,
  type TopResult,
  type WaitResult,
} from "./runtime.js";

export interface EmbeddedRuntimeOptions {
  /** State root (`--root`): images, containers. */
  readonly root: string;
  /** Runtime state (runc state, exit files). Default `/run/tsstack/<hash of root>`. */
  readonly runRoot?: string;
  /** Parent of the containers' cgroups. Default `tsstack-<hash of root>`. */
  readonly cgroupParent?: string;
  /** Logs one line per I/O failure the engine recovers from (exit handling, re-adoption). */
  readonly log?: (line: string) => void;
  /** How often running containers are checked for exits fs.watch missed. Default 1000 ms. */
  readonly exitPollMs?: number;
  /**
   * Networking. Default: a `NetworkManager` (src/network) on `root`, set up with `network`, which the
   * engine's network operations (`createNetwork`, …) use; with another implementation they are refused.
   */
  readonly networking?: ContainerNetworking;
  /** Options of the default NetworkManager: name prefixes, subnet pool, default network mode, … */
  readonly network?: NetworkSettingsOptions;
  /**
   * Volumes and binds (src/volumes). Default: a `VolumeManager` on `root`, which the engine's volume
   * operations (`createVolume`, …) use; with another implementation those operations are refused.
   */
  readonly volumes?: ContainerVolumes;
}

const INIT_BINARY = "/usr/bin/catatonit";
const SCRIPT_BINARY = "/usr/bin/script";

/**
 * Resizes the terminal `script` (pid `scriptPid`) gives `runc exec --tty`: its child's stdin is that
 * pty's slave, and setting the slave's size (stty; Node has no ioctl) makes the kernel send SIGWINCH to
 * runc, which copies the size to the container's own pty. A process already gone is not an error.
 */
async function resizeScriptTerminal(
  scriptPid: number | undefined,
  size: { readonly rows: number; readonly columns: number },
): Promise<void> {
  if (scriptPid === undefined) return;
  const rows = Math.trunc(size.rows);
  const columns = Math.trunc(size.columns);
  if (!(rows > 0 && rows < 65536 && columns > 0 && columns < 65536)) return;
  const children = await readFile(`/proc/${scriptPid}/task/${scriptPid}/children`, "utf8").catch(() => "");
  const child = children.trim().split(/\s+/)[0];
  if (child === undefined || child === "") return;
  const tty = await readlink(`/proc/${child}/fd/0`).catch(() => undefined);
  if (tty === undefined || !/^\/dev\/pts\/\d+$/.test(tty)) return;
  await new Promise<void>((resolve, reject) => {
    execFile("stty", ["-F", tty, "rows", String(rows), "cols", String(columns)], (error, _out, stderr) => {
      if (error === null) resolve();
      else reject(new Error(`stty -F ${tty}: ${stderr.trim() || error.message}`));
    });
  });
}

/** Single-quotes a word for /bin/sh. */
function shellQuote(word: string): string {
  return `'${word.replace(/'/g, "'\\''")}'`;
}
const INIT_PATH_IN_CONTAINER = "/sbin/docker-init";
const DEFAULT_STOP_TIMEOUT_S = 10;

function rootHash(root: string): string {
  return createHash("sha256").update(root).digest("hex").slice(0, 12);
}

function nowIso(): string {
  return new Date().toISOString();
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function notFound(idOrName: string): TsstackError {
  return new TsstackError("container/not-found", `No such container: ${idOrName}`);
}

/** Runs async critical sections one at a time per key. */
class KeyedMutex {
  readonly #tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#tails.get(key) ?? Promise.resolve();
    const result = prev.then(fn);
    const tail = result.catch(() => undefined);
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }
}

const ADJECTIVES = ["brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid", "merry", "nifty", "proud", "quirky", "sharp", "tender", "vivid", "wise", "zen"]; // prettier-ignore
const NOUNS = ["turing", "hopper", "lovelace", "knuth", "ritchie", "thompson", "torvalds", "liskov", "dijkstra", "hamilton", "shannon", "babbage", "noether", "curie", "kare", "wozniak"]; // prettier-ignore

export class EmbeddedRuntime implements Runtime, NetworkVolumeOps {
  readonly root: string;
  readonly runRoot: string;
  readonly #runcRoot: string;
  readonly #exitDir: string;
  readonly #cgroupParent: string;
  /** The default run root's parent (/run/tsstack), removed at close when no other engine uses it. */
  readonly #sharedRunDir: string | undefined;
  readonly #runc: string;
  readonly #conmon: string;
  readonly #log: (line: string) => void;
  readonly #records = new Map<string, ContainerRecord>();
  /** Healthcheck monitors of running containers. */
  readonly #health = new Map<string, HealthMonitor>();
  /** Attaches made to a container before its start, wired at the start. */
  readonly #pendingAttaches = new Map<string, PendingAttach[]>();
  /** runc state and cgroups of exited containers being released (after the exit is recorded). */
  readonly #releasing = new Map<string, Promise<void>>();
  /** Removed containers' directories being deleted from the trash. */
  readonly #trashing = new Set<Promise<void>>();
  /**
   * Readers of a container's root file system (export and copy streams) that keep it mounted until
   * they end, by container id: a stopped container's root is mounted for them, and neither an exit
   * nor the end of another reader unmounts it under them. A start reuses a held mount.
   */
  readonly #rootfsHolds = new Map<string, number>();
  /**
   * Copies out of a container in flight, by id: the container must not run while one reads it
   * (CVE-2018-15664: a running container could swap a directory on the copy's path for a symlink to
   * the host). A running container is paused for the copy; a stopped one may not start until it ends.
   */
  readonly #copyHolds = new Map<string, number>();
  /** Containers a copy paused: the last copy to end resumes them. */
  readonly #copyPaused = new Set<string>();
  /** Last restart delay per container (restart policies back off). */
  readonly #restartDelays = new Map<string, number>();
  readonly #mutex = new KeyedMutex();
  readonly #events = new EventEmitter();
  readonly #lock: Lock;
  readonly #networking: ContainerNetworking;
  readonly #volumes: ContainerVolumes;
  readonly #volumeManager: VolumeManager | undefined;
  readonly #networkManager: NetworkManager | undefined;
  #watcher: FSWatcher | undefined;
  #poller: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(opts: EmbeddedRuntimeOptions, lock: Lock, runcBin: string, conmonBin: string) {
    this.root = opts.root;
    this.runRoot = opts.runRoot ?? join(DEFAULT_RUN_DIR, rootHash(opts.root));
    this.#sharedRunDir = opts.runRoot === undefined ? DEFAULT_RUN_DIR : undefined;
    this.#runcRoot = join(this.runRoot, "runc");
    this.#exitDir = join(this.runRoot, "exits");
    this.#cgroupParent = opts.cgroupParent ?? `tsstack-${rootHash(opts.root)}`;
    this.#runc = runcBin;
    this.#conmon = conmonBin;
    this.#log = opts.log ?? (() => undefined);
    this.#lock = lock;
    this.#networking = opts.networking ?? noNetworking;
    this.#volumes = opts.volumes ?? noVolumes;
    this.#volumeManager = this.#volumes instanceof VolumeManager ? this.#volumes : undefined;
    this.#networkManager = this.#networking instanceof NetworkManager ? this.#networking : undefined;
    this.#events.setMaxListeners(0);
  }

  /** Opens the engine on `root`: takes the engine lock, loads and re-adopts the containers. */
  static async open(opts: EmbeddedRuntimeOptions): Promise<EmbeddedRuntime> {
    const runcBin = findBinary("runc", RUNC_PATHS, "runc");
    const conmonBin = findBinary("conmon", CONMON_PATHS, "conmon");
    await mkdir(join(opts.root, "containers"), { recursive: true });
    const lock = await acquireLock(join(opts.root, "engine.lock"), {
      timeoutMs: 2_000,
      pollMs: 50,
      resource: `engine root ${opts.root} (is another tsstack daemon using it?)`,
    });
    let volumes: ContainerVolumes;
    try {
      volumes =
        opts.volumes ??
        (await VolumeManager.open({ root: opts.root, ...(opts.log !== undefined ? { log: opts.log } : {}) }));
    } catch (e) {
      await lock.release();
      throw e;
    }
    let networking: ContainerNetworking;
    try {
      networking =
        opts.networking ??
        (await NetworkManager.open({
          root: opts.root,
          ...opts.network,
          ...(opts.log !== undefined ? { log: opts.log } : {}),
        }));
    } catch (e) {
      await lock.release();
      throw e;
    }
    const rt = new EmbeddedRuntime({ ...opts, volumes, networking }, lock, runcBin, conmonBin);
    try {
      await mkdir(rt.#exitDir, { recursive: true });
      await mkdir(rt.#runcRoot, { recursive: true });
      await rt.#load();
      const trash = join(opts.root, "trash");
      rt.#emptyTrash((await readdir(trash).catch(() => [])).map((name) => join(trash, name)));
      rt.#watchExits(opts.exitPollMs ?? 1000);
    } catch (e) {
      await rt.close();
      throw e;
    }
    return rt;
  }

  /** Stops watching and releases the root. Containers keep running (conmon supervises them). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#watcher?.close();
    if (this.#poller !== undefined) clearInterval(this.#poller);
    for (const m of this.#health.values()) m.stop();
    this.#health.clear();
    this.#events.emit("close");
    await Promise.all([...this.#releasing.values(), ...this.#trashing]);
    // Readers still streaming from a stopped container lose its root: no mount outlives the engine.
    for (const id of [...this.#rootfsHolds.keys()])
      await this.#mutex.run(id, async () => {
        const rec = this.#records.get(id);
        if (rec !== undefined && rec.state.status !== "running" && rec.state.status !== "paused")
          await unmountOverlay(this.#paths(id).rootfs).catch((e: unknown) => {
            this.#log(`unmounting the root file system of ${rec.name}: ${errorText(e)}`);
          });
        this.#rootfsHolds.delete(id);
      });
    // An engine with no container left under runc leaves no runtime state behind. While runc still
    // holds a container (rmdir fails), everything stays: conmon writes its exit file there later.
    if (
      await rmdir(this.#runcRoot).then(
        () => true,
        () => false,
      )
    ) {
      await rmdir(this.#exitDir).catch(() => undefined);
      await rmdir(this.runRoot).catch(() => undefined);
      // Empty unless another engine (or the daemon's socket) is there: then it stays.
      if (this.#sharedRunDir !== undefined) await rmdir(this.#sharedRunDir).catch(() => undefined);
      await this.#removeCgroupParent();
    }
    await this.#networkManager?.close();
    await this.#lock.release();
  }

  get closed(): boolean {
    return this.#closed;
  }

  #checkOpen(): void {
    if (this.#closed) throw new TsstackError("runtime/closed", `the engine on ${this.root} is closed`);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // -------------------------------------------------------------------------------------------------
  // Records

  #dir(id: string): string {
    return join(this.root, "containers", id);
  }

  #paths(id: string) {
    const dir = this.#dir(id);
    return {
      dir,
      record: join(dir, RECORD_FILE),
      rootfs: join(dir, "rootfs"),
      upper: join(dir, "upper"),
      work: join(dir, "work"),
      log: join(dir, "ctr.log"),
      persist: join(dir, "persist"),
      pidFile: join(dir, "pidfile"),
      conmonPid: join(dir, "conmon.pid"),
      hostname: join(dir, "hostname"),
      hosts: join(dir, "hosts"),
      resolvConf: join(dir, "resolv.conf"),
      exitFile: join(this.#exitDir, id),
    };
  }

  /**
   * Writes the record atomically (temp file, synced, then renamed: any crash leaves the old or the new
   * one, never a torn one). `durable` also syncs the directory, for what a power loss must not undo
   * (the container's creation, its name); state changes (started, exited) skip that: after a power
   * loss nothing runs and the engine re-derives each container's state from runc at open.
   */
  async #save(rec: ContainerRecord, durable = false): Promise<void> {
    await writeFileAtomic(this.#paths(rec.id).record, `${JSON.stringify(rec)}\n`, 0o600, {
      syncDir: durable,
    });
  }

  async #load(): Promise<void> {
    const dir = join(this.root, "containers");
    for (const id of await readdir(dir)) {
      let rec: ContainerRecord;
      try {
        rec = JSON.parse(await readFile(join(dir, id, RECORD_FILE), "utf8")) as ContainerRecord;
      } catch (e) {
        // A directory whose record was never written is a create that crashed: nothing refers to it.
        if ((e as NodeJS.ErrnoException).code === "ENOENT") {
          this.#log(`removing ${join(dir, id)}: a container creation that did not finish`);
          await rm(join(dir, id), { recursive: true, force: true });
        } else this.#log(`skipping container ${id}: its record is unreadable: ${errorText(e)}`);
        continue;
      }
      if (rec.version !== RECORD_VERSION || rec.id !== id) {
        this.#log(`skipping container ${id}: record version ${String(rec.version)} is not supported`);
        continue;
      }
      this.#records.set(id, rec);
    }
    // Read from /proc once, and only for a root with containers that are not running.
    let conmons: Map<string, number> | undefined;
    for (const rec of this.#records.values()) {
      if (rec.state.status !== "running" && rec.state.status !== "paused")
        await this.#endUnrecordedRun(rec, (conmons ??= conmonsByContainer()).get(rec.id));
      if (rec.state.status === "running" || rec.state.status === "paused") await this.#readopt(rec);
      // Restart policies resume with the engine (also for exits recorded just now).
      else if (rec.state.status === "exited" || rec.state.status === "restarting") {
        rec.state.status = "exited";
        this.#scheduleRestart(rec);
      }
    }
  }

  /**
   * After a restart of the engine, for a container whose record does not say running: a start the
   * previous engine died in the middle of may have run on without it (conmon has a session of its
   * own), started after the record was last written. The record is the truth: that run is ended (its
   * conmon's session killed, runc's state deleted, its exit files dropped), so that a later start
   * begins clean and no conmon of the lost run writes an exit file into the new one.
   */
  async #endUnrecordedRun(rec: ContainerRecord, conmonPid: number | undefined): Promise<void> {
    const p = this.#paths(rec.id);
    const lost = conmonPid !== undefined;
    if (lost) {
      this.#log(`container ${rec.name}: ending a run the previous engine started but never recorded`);
      // Its session: conmon, and the runtime it may still be running.
      for (const target of [-conmonPid, conmonPid])
        try {
          process.kill(target, "SIGKILL");
        } catch {
          // gone already
        }
    }
    if (lost || existsSync(join(this.#runcRoot, rec.id)))
      await this.#runcDelete(rec.id, (e) => {
        this.#log(`deleting the lost run of container ${rec.name}: ${errorText(e)}`);
      });
    if (lost) {
      rmSync(p.persist, { recursive: true, force: true });
      unlinkQuietly(p.exitFile);
    }
  }

  /** After a restart of the engine: keep what runs, record what exited while nobody watched. */
  async #readopt(rec: ContainerRecord): Promise<void> {
    const p = this.#paths(rec.id);
    if (existsSync(join(p.persist, "exit"))) {
      await this.#recordExit(rec);
      return;
    }
    const st = await runcState(this.#runc, this.#runcRoot, rec.id);
    if (st !== undefined && (st.status === "running" || st.status === "paused")) {
      rec.state.status = st.status;
      rec.state.pid = st.pid;
      const net = await this.#networking.restore(this.#context(rec)).catch((e: unknown) => {
        this.#log(`restoring the network endpoints of container ${rec.name}: ${errorText(e)}`);
        return undefined;
      });
      if (net !== undefined) rec.state.network = net.settings;
      await this.#save(rec);
      this.#startHealth(rec, true);
      return;
    }
    // conmon is gone without writing an exit code (killed itself, or the machine rebooted).
    rec.state.error = "the container ended while its supervisor was not running; its exit code is lost";
    await this.#recordExit(rec, 255);
  }

  #resolve(idOrName: string): ContainerRecord {
    const key = idOrName.startsWith("/") ? idOrName.slice(1) : idOrName;
    const byId = this.#records.get(key);
    if (byId !== undefined) return byId;
    for (const rec of this.#records.values()) if (rec.name === key) return rec;
    if (/^[a-f0-9]{1,63}$/.test(key)) {
      const matches = [...this.#records.values()].filter((r) => r.id.startsWith(key));
      if (matches.length === 1 && matches[0] !== undefined) return matches[0];
      if (matches.length > 1)
        throw new TsstackError(
          "container/invalid-reference",
          `container id prefix ${key} is ambiguous: it matches ${matches.length} containers`,
        );
    }
    throw notFound(idOrName);
  }

  #emit(action: string, rec: ContainerRecord, extra: Record<string, string> = {}): void {
    const nanos = BigInt(Date.now()) * 1_000_000n;
    const event: RuntimeEvent = {
      Type: "container",
      Action: action,
      Actor: {
        ID: rec.id,
        Attributes: { ...(rec.config.Labels ?? {}), image: rec.image, name: rec.name, ...extra },
      },
      time: Number(nanos / 1_000_000_000n),
      timeNano: Number(nanos),
    };
    this.#events.emit("event", event);
    this.#events.emit(`${action}:${rec.id}`, rec);
  }

  // -------------------------------------------------------------------------------------------------
  // Exits

  #watchExits(pollMs: number): void {
    try {
      this.#watcher = watch(this.#exitDir, { persistent: false }, (_type, name) => {
        if (typeof name === "string" && this.#records.has(name)) void this.#onExitNotice(name);
      });
      this.#watcher.on("error", (e) => {
        this.#log(`watching ${this.#exitDir} for container exits: ${errorText(e)} (polling only)`);
      });
    } catch (e) {
      this.#log(`watching ${this.#exitDir} for container exits: ${errorText(e)} (polling only)`);
    }
    this.#poller = setInterval(() => {
      for (const rec of this.#records.values())
        if (rec.state.status === "running" || rec.state.status === "paused")
          if (existsSync(join(this.#paths(rec.id).persist, "exit"))) void this.#onExitNotice(rec.id);
    }, pollMs);
    this.#poller.unref();
  }

  #onExitNotice(id: string): Promise<void> {
    return this.#mutex
      .run(id, async () => {
        const rec = this.#records.get(id);
        if (rec === undefined || (rec.state.status !== "running" && rec.state.status !== "paused")) return;
        if (!existsSync(join(this.#paths(id).persist, "exit"))) return;
        await this.#recordExit(rec);
      })
      .catch((e: unknown) => {
        this.#log(`recording the exit of container ${id.slice(0, 12)}: ${errorText(e)}`);
      });
  }

  /**
   * Records an exit (conmon's exit file, or `code` when it is lost), releases runc's state, the
   * cgroup and the rootfs mount, and wakes waiters. Caller holds the container's mutex.
   */
  async #recordExit(rec: ContainerRecord, code?: number): Promise<void> {
    this.#stopHealth(rec.id);
    const p = this.#paths(rec.id);
    let exitCode = code ?? 255;
    let finishedAt = nowIso();
    try {
      const exitFile = join(p.persist, "exit");
      exitCode = Number.parseInt(readFileSync(exitFile, "utf8").trim(), 10);
      const mtime = statSync(exitFile).mtime;
      // The file system's clock granularity can put the exit a hair before the recorded start.
      finishedAt = new Date(Math.max(mtime.getTime(), Date.parse(rec.state.startedAt))).toISOString();
    } catch {
      // lost: keep `code`
    }
    const oom = existsSync(join(p.persist, "oom")) || this.#oomKilledByCgroup(rec.id);
    // runc's state and the cgroups go in the background (removing a cgroup waits for the kernel
    // for milliseconds): the next runc call for this id (start, delete) waits for it, and so does
    // close. Network, volumes and the rootfs mount are released before the exit is told.
    const release = releaseExited(this.#runc, this.#runcRoot, rec.id)
      .catch((e: unknown) => {
        this.#log(errorText(e));
      })
      .finally(() => this.#releasing.delete(rec.id));
    this.#releasing.set(rec.id, release);
    await Promise.all([
      this.#tearDown(rec),
      // A reader still streaming from the root keeps it; the last one unmounts it.
      this.#rootfsHeld(rec.id)
        ? undefined
        : unmountOverlay(p.rootfs).catch((e: unknown) => {
            this.#log(`unmounting the root filesystem of ${rec.name}: ${errorText(e)}`);
          }),
    ]);
    unlinkQuietly(p.exitFile);
    rec.state.status = "exited";
    rec.state.pid = 0;
    delete rec.state.pidStart;
    rec.state.conmonPid = 0;
    rec.state.exitCode = Number.isSafeInteger(exitCode) ? exitCode : 255;
    rec.state.oomKilled = oom;
    rec.state.finishedAt = finishedAt;
    await this.#save(rec);
    if (oom) this.#emit("oom", rec);
    this.#emit("die", rec, { exitCode: String(rec.state.exitCode) });
    if (rec.config.HostConfig?.AutoRemove === true) {
      // Docker's --rm takes the container's anonymous volumes with it.
      await this.#removeLocked(rec, true).catch((e: unknown) => {
        this.#log(`removing container ${rec.name} after it exited (--rm): ${errorText(e)}`);
      });
      return;
    }
    this.#scheduleRestart(rec);
  }

  /**
   * Docker's restart policies (`no`, `always`, `unless-stopped`, `on-failure[:max]`), run by the
   * engine so they hold without any client: never after a stop/kill the user asked for; a delay of
   * 100 ms doubling per restart, back to 100 ms once a run lasted 10 s (moby's restartmanager).
   */
  #scheduleRestart(rec: ContainerRecord): void {
    const policy = rec.config.HostConfig?.RestartPolicy;
    const name = policy?.Name ?? "no";
    if (name === "" || name === "no" || rec.state.stoppedByUser || this.#closed) return;
    const failed = rec.state.exitCode !== 0;
    if (name === "on-failure") {
      if (!failed) return;
      const max = policy?.MaximumRetryCount ?? 0;
      if (max > 0 && rec.state.restartCount >= max) return;
    } else if (name !== "always" && name !== "unless-stopped") return;
    const ranMs = Date.parse(rec.state.finishedAt) - Date.parse(rec.state.startedAt);
    const prev = this.#restartDelays.get(rec.id) ?? 0;
    const delay = ranMs >= 10_000 || prev === 0 ? 100 : Math.min(prev * 2, 60_000);
    this.#restartDelays.set(rec.id, delay);
    rec.state.status = "restarting";
    const timer = setTimeout(() => {
      void this.#mutex
        .run(rec.id, async () => {
          if (this.#closed || this.#records.get(rec.id) !== rec || rec.state.status !== "restarting") return;
          rec.state.restartCount++;
          await this.startLocked(rec);
        })
        .catch((e: unknown) => {
          this.#log(`restarting container ${rec.name} (restart policy ${name}): ${errorText(e)}`);
          // A failed start counts as a failed run: try again later, within the same policy.
          if (rec.state.status === "exited" && !rec.state.stoppedByUser) {
            rec.state.exitCode = rec.state.exitCode === 0 ? 128 : rec.state.exitCode;
            this.#scheduleRestart(rec);
          }
        });
    }, delay);
    timer.unref();
  }

  #context(rec: ContainerRecord): Omit<ContainerContext, "rootfs"> {
    return {
      id: rec.id,
      name: rec.name,
      hostname:
        rec.config.Hostname !== undefined && rec.config.Hostname !== ""
          ? rec.config.Hostname
          : rec.id.slice(0, 12),
      config: rec.config,
      dir: this.#dir(rec.id),
      ...(rec.state.pid > 0 ? { pid: rec.state.pid } : {}),
      imageVolumes: Object.keys(rec.imageConfig.config?.Volumes ?? {}),
    };
  }

  /** Releases the container's network endpoints and volume mounts; logs (never throws) on failure. */
  async #tearDown(rec: ContainerRecord): Promise<void> {
    const ctx = this.#context(rec);
    await this.#networking.tearDown(ctx).catch((e: unknown) => {
      this.#log(`releasing the network endpoints of container ${rec.name}: ${errorText(e)}`);
    });
    await this.#volumes.tearDown(ctx).catch((e: unknown) => {
      this.#log(`releasing the volumes of container ${rec.name}: ${errorText(e)}`);
    });
  }

  /** Connects the attaches made before this start to conmon's socket (container created, not started). */
  async #connectPendingAttaches(rec: ContainerRecord): Promise<void> {
    const pending = this.#pendingAttaches.get(rec.id);
    if (pending === undefined) return;
    this.#pendingAttaches.delete(rec.id);
    for (const p of pending) {
      const real = attachConmon(this.#dir(rec.id), { stdin: p.stdin, name: rec.name, exitCode: p.exitCode });
      p.connect(real);
      await real.ready;
    }
  }

  /**
   * Starts probing a running container with a healthcheck (its own or its image's). Continues from
   * the recorded state after an engine restart (`resume`), else from `starting`.
   */
  #startHealth(rec: ContainerRecord, resume = false): void {
    this.#stopHealth(rec.id);
    const check = effectiveHealthcheck(rec.config.Healthcheck, rec.imageConfig.config?.Healthcheck);
    if (check === undefined) {
      delete rec.state.health;
      return;
    }
    if (!resume || rec.state.health === undefined)
      rec.state.health = { Status: "starting", FailingStreak: 0, Log: [] };
    const monitor = new HealthMonitor({
      check,
      startedAt: Date.parse(rec.state.startedAt),
      initial: rec.state.health,
      now: Date.now,
      setTimer: (fn, ms) => {
        const t = setTimeout(fn, ms);
        t.unref();
        return { cancel: () => { clearTimeout(t); } }; // prettier-ignore
      },
      probe: (command, timeoutMs) => this.#probe(rec, command, timeoutMs),
      onResult: (state, changed) => {
        if (this.#records.get(rec.id) !== rec || this.#health.get(rec.id) !== monitor) return;
        rec.state.health = state;
        void this.#save(rec).catch((e: unknown) => {
          this.#log(`recording the health of container ${rec.name}: ${errorText(e)}`);
        });
        if (changed) this.#emit(`health_status: ${state.Status}`, rec);
      },
    });
    this.#health.set(rec.id, monitor);
    monitor.start();
  }

  #stopHealth(id: string): void {
    this.#health.get(id)?.stop();
    this.#health.delete(id);
  }

  /** One healthcheck probe: exec in the container, output capped, killed after the timeout. */
  async #probe(rec: ContainerRecord, command: readonly string[], timeoutMs: number): Promise<ProbeResult> {
    const p = await this.execIn(rec.id, { Cmd: command });
    p.stdin.end();
    let output = "";
    const take = (d: Buffer): void => {
      if (output.length < 4096) output += d.toString();
    };
    p.stdout.on("data", take);
    p.stderr.on("data", take);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<ProbeResult>((resolve) => {
      timer = setTimeout(() => {
        p.kill?.();
        resolve({ exitCode: -1, output: `Health check exceeded timeout (${timeoutMs / 1000}s)` });
      }, timeoutMs);
    });
    try {
      return await Promise.race([p.exit.then((exitCode) => ({ exitCode, output })), timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Deletes a removed container's directory: renamed into the trash at once (the container is gone
   * for everyone from here on), then deleted in the background (a large writable layer takes a while);
   * close waits for it, and an open after a crash empties the trash.
   */
  async #discard(dir: string, id: string): Promise<void> {
    const trash = join(this.root, "trash");
    const target = join(trash, `${id}-${randomBytes(4).toString("hex")}`);
    try {
      mkdirSync(trash, { recursive: true, mode: 0o700 });
      renameSync(dir, target);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT" && !existsSync(dir)) return;
      await rm(dir, { recursive: true, force: true });
      return;
    }
    this.#emptyTrash([target]);
  }

  #emptyTrash(paths: readonly string[]): void {
    for (const path of paths) {
      const done: Promise<void> = rm(path, { recursive: true, force: true })
        .catch((e: unknown) => {
          this.#log(`deleting ${path} (a removed container's files): ${errorText(e)}`);
        })
        .finally(() => this.#trashing.delete(done));
      this.#trashing.add(done);
    }
  }

  /** `runc delete --force`, skipped (a process spawn saved) when runc holds no state for the id. */
  async #runcDelete(id: string, onError: (e: unknown) => void = () => undefined): Promise<void> {
    await this.#releasing.get(id);
    if (!existsSync(join(this.#runcRoot, id))) return;
    await runc(this.#runc, this.#runcRoot, ["delete", "--force", id], `deleting container ${id}`).catch(
      onError,
    );
  }

  /**
   * The engine's parent cgroup (`/<cgroupParent>` in every v1 controller, or in the v2 tree), which
   * runc made for its first container: removed when empty, so closed engines leave none behind. A
   * controller where it still holds a container's cgroup keeps it (rmdir fails: not an error).
   */
  async #removeCgroupParent(): Promise<void> {
    const base = "/sys/fs/cgroup";
    const dirs = cgroupV2()
      ? [join(base, this.#cgroupParent)]
      : (await readdir(base).catch(() => [])).map((controller) => join(base, controller, this.#cgroupParent));
    await Promise.all(dirs.map((d) => rmdir(d).catch(() => undefined)));
  }

  #cgroupsPath(id: string): string {
    return `/${this.#cgroupParent}/${id}`;
  }

  #cgroupDir(controller: string, id: string): string {
    return cgroupV2()
      ? join("/sys/fs/cgroup", this.#cgroupsPath(id))
      : join("/sys/fs/cgroup", controller, this.#cgroupsPath(id));
  }

  #oomKilledByCgroup(id: string): boolean {
    const file = cgroupV2()
      ? join(this.#cgroupDir("memory", id), "memory.events")
      : join(this.#cgroupDir("memory", id), "memory.oom_control");
    try {
      const m = /^oom_kill (\d+)$/m.exec(readFileSync(file, "utf8"));
      return m !== null && Number(m[1]) > 0;
    } catch {
      return false;
    }
  }

  // -------------------------------------------------------------------------------------------------
  // Runtime

  async createContainer(opts: ContainerCreateOptions): Promise<Container> {
    this.#checkOpen();
    const { name: requested, ...config } = opts;
    if (typeof config.Image !== "string" || config.Image === "")
      throw new TsstackError("container/invalid-config", "creating a container: no image was given");
    if (requested !== undefined && requested !== "" && !CONTAINER_NAME_RE.test(requested))
      throw new TsstackError(
        "container/invalid-config",
        `creating a container: invalid name "${requested}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`,
      );
    const id = randomBytes(32).toString("hex");
    return this.#mutex.run("names", async () => {
      const name =
        requested === undefined || requested === "" ? this.#generateName() : requested.replace(/^\//, "");
      for (const rec of this.#records.values())
        if (rec.name === name)
          throw new TsstackError(
            "container/conflict",
            `Conflict. The container name "/${name}" is already in use by container "${rec.id}". You have to remove (or rename) that container to be able to reuse that name.`,
          );
      const p = this.#paths(id);
      // Resolving the image and writing the record under the store lock: an image command in another
      // process sees the container's image as in use from the moment it exists.
      const store = await ImageStore.open(this.root, {
        inUse: imageUseCheck(this.root),
        housekeeping: false,
      });
      let rec: ContainerRecord;
      try {
        const image = await store.resolve(config.Image);
        if (image === undefined)
          throw new TsstackError(
            "image/not-found",
            `No such image: ${config.Image} (pull it first: tsstack pull ${config.Image})`,
          );
        const imageConfig = await readImageConfig(store, image);
        rec = {
          version: RECORD_VERSION,
          id,
          name,
          created: nowIso(),
          image: config.Image,
          imageId: image.id,
          snapshots: store.snapshotPaths(image),
          imageConfig,
          config,
          state: {
            status: "created",
            pid: 0,
            conmonPid: 0,
            exitCode: 0,
            oomKilled: false,
            error: "",
            startedAt: ZERO_TIME,
            finishedAt: ZERO_TIME,
            stoppedByUser: false,
            restartCount: 0,
          },
        };
        // Check the config now, as Docker does at create: a bad one never becomes a container. (User
        // names are resolved at start, against the container's own /etc/passwd.)
        const { user: _user, ...checkable } = this.#containerConfig(rec);
        buildRuntimeSpec(imageConfig, checkable, {
          rootfs: p.rootfs,
          init: { path: INIT_PATH_IN_CONTAINER, hostPath: INIT_BINARY },
          kernelVersion: release(),
        });
        const ctx = this.#context(rec);
        await this.#networking.validate(ctx);
        await this.#volumes.validate(ctx);
        mkdirSync(p.dir, { recursive: true, mode: 0o700 });
        await this.#save(rec, true);
      } catch (e) {
        await rm(p.dir, { recursive: true, force: true });
        throw e;
      } finally {
        await store.close();
      }
      this.#records.set(id, rec);
      this.#emit("create", rec);
      return this.getContainer(id);
    });
  }

  #generateName(): string {
    for (;;) {
      const a = ADJECTIVES[randomInt(ADJECTIVES.length)] ?? "calm";
      const n = NOUNS[randomInt(NOUNS.length)] ?? "turing";
      const name = `${a}_${n}_${randomBytes(2).toString("hex")}`;
      if (![...this.#records.values()].some((r) => r.name === name)) return name;
    }
  }

  getContainer(idOrName: string): Container {
    return new EmbeddedContainer(this, idOrName);
  }

  async listContainers(opts: ListContainersOptions = {}): Promise<ContainerSummary[]> {
    await Promise.resolve();
    const filters = opts.filters ?? {};
    const out: ContainerSummary[] = [];
    for (const rec of this.#records.values()) {
      if (opts.all !== true && rec.state.status !== "running" && rec.state.status !== "paused") continue;
      if (!matchesFilters(rec, filters)) continue;
      out.push(summaryOf(rec, this.#networking.ports?.(rec.id) ?? []));
    }
    out.sort((a, b) => b.Created - a.Created);
    return out;
  }

  async *getEvents(opts: { readonly signal?: AbortSignal } = {}): AsyncIterable<RuntimeEvent> {
    const ac = new AbortController();
    const stop = (): void => {
      ac.abort();
    };
    opts.signal?.addEventListener("abort", stop, { once: true });
    this.#events.once("close", stop);
    try {
      for await (const [event] of on(this.#events, "event", { signal: ac.signal }))
        yield event as RuntimeEvent;
    } catch (e) {
      if ((e as Error).name !== "AbortError") throw e;
    } finally {
      opts.signal?.removeEventListener("abort", stop);
      this.#events.off("close", stop);
    }
  }

  // -------------------------------------------------------------------------------------------------
  // Networks (src/network/manager.ts; Docker's `/networks` operations)

  #networkApi(): NetworkManager {
    this.#checkOpen();
    if (this.#networkManager === undefined)
      throw new TsstackError(
        "network/unsupported",
        "network operations need the engine's own network manager (this engine was opened with other networking hooks)",
      );
    return this.#networkManager;
  }

  /** `POST /networks/create`. */
  async createNetwork(opts: NetworkCreateOptions): Promise<NetworkCreateResult> {
    return this.#networkApi().createNetwork(opts);
  }

  /** `GET /networks` (filters: name, id, label, driver, type, scope, dangling, until). */
  async listNetworks(opts: { readonly filters?: NetworkFilters } = {}): Promise<NetworkInspect[]> {
    return this.#networkApi().listNetworks(opts);
  }

  /** `GET /networks/{id}` (id, unique id prefix or name). */
  async inspectNetwork(idOrName: string): Promise<NetworkInspect> {
    return this.#networkApi().inspectNetwork(idOrName);
  }

  /** `DELETE /networks/{id}`; `network/in-use` while containers have endpoints on it. */
  async removeNetwork(idOrName: string): Promise<void> {
    return this.#networkApi().removeNetwork(idOrName);
  }

  /** `POST /networks/prune` (filters: label, until). */
  async pruneNetworks(opts: { readonly filters?: NetworkFilters } = {}): Promise<NetworkPruneResult> {
    return this.#networkApi().pruneNetworks(opts);
  }

  // -------------------------------------------------------------------------------------------------
  // Volumes (src/volumes/manager.ts; Docker's `/volumes` operations)

  #volumeApi(): VolumeManager {
    this.#checkOpen();
    if (this.#volumeManager === undefined)
      throw new TsstackError(
        "volume/unsupported",
        "volume operations need the engine's own volume manager (this engine was opened with other volume hooks)",
      );
    return this.#volumeManager;
  }

  async createVolume(opts: VolumeCreateOptions = {}): Promise<VolumeInspect> {
    return this.#volumeApi().createVolume(opts);
  }

  async listVolumes(
    opts: { readonly filters?: Readonly<Record<string, readonly string[]>> } = {},
  ): Promise<VolumeListResult> {
    return this.#volumeApi().listVolumes(opts);
  }

  async inspectVolume(name: string): Promise<VolumeInspect> {
    return this.#volumeApi().inspectVolume(name);
  }

  async removeVolume(name: string, opts: { readonly force?: boolean } = {}): Promise<void> {
    return this.#volumeApi().removeVolume(name, opts);
  }

  async pruneVolumes(
    opts: { readonly filters?: Readonly<Record<string, readonly string[]>> } = {},
  ): Promise<VolumePruneResult> {
    return this.#volumeApi().pruneVolumes(opts);
  }

  // -------------------------------------------------------------------------------------------------
  // Operations on one container (called by EmbeddedContainer)

  /** @internal */
  async withRecord<T>(idOrName: string, fn: (rec: ContainerRecord) => Promise<T>): Promise<T> {
    await Promise.resolve();
    this.#checkOpen();
    const id = this.#resolve(idOrName).id;
    return this.#mutex.run(id, () => {
      const rec = this.#records.get(id);
      if (rec === undefined) throw notFound(idOrName);
      return fn(rec);
    });
  }

  /** @internal Docker's rename: a new unique name; the container's id, state and config stay. */
  async renameContainer(idOrName: string, name: string): Promise<void> {
    await Promise.resolve();
    this.#checkOpen();
    const wanted = name.replace(/^\//, "");
    if (!CONTAINER_NAME_RE.test(wanted))
      throw new TsstackError(
        "container/invalid-config",
        `renaming container ${idOrName}: invalid name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`,
      );
    const id = this.#resolve(idOrName).id;
    await this.#mutex.run("names", () =>
      this.#mutex.run(id, async () => {
        const rec = this.#records.get(id);
        if (rec === undefined) throw notFound(idOrName);
        if (rec.name === wanted) return;
        for (const other of this.#records.values())
          if (other.name === wanted)
            throw new TsstackError(
              "container/conflict",
              `Conflict. The container name "/${wanted}" is already in use by container "${other.id}".`,
            );
        const oldName = rec.name;
        (rec as { name: string }).name = wanted;
        try {
          await this.#save(rec, true);
        } catch (e) {
          (rec as { name: string }).name = oldName;
          throw e;
        }
        this.#emit("rename", rec, { oldName: `/${oldName}` });
      }),
    );
  }

  /** @internal */
  peek(idOrName: string): ContainerRecord {
    return this.#resolve(idOrName);
  }

  /** The oci-spec container config of a record (validates it too). */
  #containerConfig(rec: ContainerRecord): ContainerConfig {
    const c = rec.config;
    const h = c.HostConfig ?? {};
    const noNewPrivileges = parseSecurityOpts(h.SecurityOpt ?? []);
    const resources = {
      ...(h.Memory !== undefined && h.Memory > 0 ? { memory: h.Memory } : {}),
      ...(h.MemorySwap !== undefined && h.MemorySwap !== 0 ? { memorySwap: h.MemorySwap } : {}),
      ...(h.NanoCpus !== undefined && h.NanoCpus > 0 ? { cpus: h.NanoCpus / 1e9 } : {}),
      ...(h.CpuShares !== undefined && h.CpuShares > 0 ? { cpuShares: h.CpuShares } : {}),
      ...(h.CpusetCpus !== undefined && h.CpusetCpus !== "" ? { cpusetCpus: h.CpusetCpus } : {}),
      ...(h.PidsLimit !== undefined && h.PidsLimit !== null && h.PidsLimit > 0
        ? { pidsLimit: h.PidsLimit }
        : {}),
    };
    return {
      ...(c.Entrypoint !== undefined && c.Entrypoint !== null
        ? { entrypoint: c.Entrypoint.length === 1 && c.Entrypoint[0] === "" ? [] : c.Entrypoint }
        : {}),
      ...(c.Cmd !== undefined && c.Cmd !== null ? { cmd: c.Cmd } : {}),
      ...(c.Env !== undefined && c.Env !== null ? { env: c.Env } : {}),
      ...(c.WorkingDir !== undefined && c.WorkingDir !== "" ? { workingDir: c.WorkingDir } : {}),
      ...(c.User !== undefined && c.User !== "" ? { user: c.User } : {}),
      hostname: c.Hostname !== undefined && c.Hostname !== "" ? c.Hostname : rec.id.slice(0, 12),
      ...(c.Labels !== undefined && c.Labels !== null ? { labels: c.Labels } : {}),
      ...(h.Init === true ? { init: true } : {}),
      ...(h.ReadonlyRootfs === true ? { readOnly: true } : {}),
      ...(h.Tmpfs !== undefined ? { tmpfs: h.Tmpfs } : {}),
      ...(h.CapAdd !== undefined && h.CapAdd !== null ? { capAdd: h.CapAdd } : {}),
      ...(h.CapDrop !== undefined && h.CapDrop !== null ? { capDrop: h.CapDrop } : {}),
      ...(h.Privileged === true ? { privileged: true } : {}),
      ...(h.Sysctls !== undefined ? { sysctls: h.Sysctls } : {}),
      ...(h.Ulimits !== undefined && h.Ulimits !== null
        ? { ulimits: h.Ulimits.map((u) => ({ name: u.Name, soft: u.Soft, hard: u.Hard })) }
        : {}),
      ...(h.ShmSize !== undefined && h.ShmSize > 0 ? { shmSize: h.ShmSize } : {}),
      ...(noNewPrivileges !== undefined ? { noNewPrivileges } : {}),
      resources,
    };
  }

  /** @internal */
  async startLocked(rec: ContainerRecord): Promise<void> {
    if (rec.state.status === "running" || rec.state.status === "paused") return;
    // A restart policy's start keeps showing "restarting" until the container runs: readers never see
    // a transient "exited" between two runs.
    if (rec.state.status !== "created" && rec.state.status !== "exited" && rec.state.status !== "restarting")
      throw new TsstackError(
        "container/conflict",
        `cannot start container ${rec.name}: it is ${rec.state.status}`,
      );
    if ((this.#copyHolds.get(rec.id) ?? 0) > 0)
      throw new TsstackError(
        "container/conflict",
        `cannot start container ${rec.name}: files are being copied out of it; start it when the copy ends`,
      );
    const p = this.#paths(rec.id);
    const config = this.#containerConfig(rec);
    const devices = await hostDevices(rec);
    const terminal = rec.config.Tty === true;
    try {
      if (!this.#rootfsHeld(rec.id)) {
        if (await isMountPoint(p.rootfs)) await unmountOverlay(p.rootfs);
        await mountOverlay({ lowerdirs: rec.snapshots, upper: p.upper, work: p.work, target: p.rootfs });
      }
      const users = await readUserDb(p.rootfs);
      const ctx = { ...this.#context(rec), rootfs: p.rootfs };
      const net = await this.#networking.setUp(ctx);
      const vols = await this.#volumes.mountsFor(ctx);
      rec.state.network = net.settings;
      rec.state.mounts = vols.points;
      const spec = buildRuntimeSpec(
        rec.imageConfig,
        { ...config, devices },
        {
          rootfs: p.rootfs,
          ...(users.passwd !== undefined ? { passwd: users.passwd } : {}),
          ...(users.group !== undefined ? { group: users.group } : {}),
          init: { path: INIT_PATH_IN_CONTAINER, hostPath: INIT_BINARY },
          cgroupsPath: this.#cgroupsPath(rec.id),
          terminal,
          kernelVersion: release(),
          ...(net.netnsPath !== undefined ? { networkNamespacePath: net.netnsPath } : {}),
        },
      );
      if (net.hostNetwork === true)
        spec.linux.namespaces = spec.linux.namespaces.filter((ns) => ns.type !== "network");
      spec.mounts.push(...vols.mounts);
      if (
        config.resources?.memorySwap === undefined &&
        spec.linux.resources.memory?.swap !== undefined &&
        !swapAccounting()
      )
        delete spec.linux.resources.memory.swap;
      checkV2Controllers(spec.linux.resources, rec.name);
      // The working dir exists before runc starts, resolved inside the rootfs: runc 1.1.5 itself is
      // exposed to CVE-2024-21626, so a symlinked working dir must never lead it out.
      await ensureWorkingDir(p.rootfs, spec.process.cwd, spec.process.user.uid, spec.process.user.gid);
      // Generated afresh at every start, so plain writes: a crash leaves nothing that matters.
      writeFileSync(p.hostname, `${spec.hostname ?? rec.id.slice(0, 12)}\n`, { mode: 0o644 });
      writeFileSync(
        p.hosts,
        net.hosts ??
          `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t${spec.hostname ?? ""}\n`,
        { mode: 0o644 },
      );
      spec.mounts.push(
        { destination: "/etc/hostname", type: "bind", source: p.hostname, options: ["rbind", "ro"] },
        { destination: "/etc/hosts", type: "bind", source: p.hosts, options: ["rbind", "ro"] },
      );
      if (net.resolvConf !== undefined) {
        writeFileSync(p.resolvConf, net.resolvConf, { mode: 0o644 });
        spec.mounts.push({
          destination: "/etc/resolv.conf",
          type: "bind",
          source: p.resolvConf,
          options: ["rbind", "ro"],
        });
      }
      writeFileSync(join(p.dir, "config.json"), JSON.stringify(spec), { mode: 0o600 });
      rmSync(p.persist, { recursive: true, force: true });
      mkdirSync(p.persist, { recursive: true });
      unlinkQuietly(p.exitFile);
      // A previous run's state (a crash between create and delete) would make `runc create` fail.
      await this.#runcDelete(rec.id);
      // Nothing to connect between create and start: runc creates and starts in one call.
      const startNow = (this.#pendingAttaches.get(rec.id)?.length ?? 0) === 0;
      // Taken before the process runs: one that exits at once has its exit file written before the
      // start call returns, and FinishedAt must not precede StartedAt.
      const startedAt = nowIso();
      const { pid, conmonPid } = await startConmon({
        conmon: this.#conmon,
        runc: this.#runc,
        runcRoot: this.#runcRoot,
        id: rec.id,
        name: rec.name,
        bundle: p.dir,
        logPath: p.log,
        exitDir: this.#exitDir,
        persistDir: p.persist,
        pidFile: p.pidFile,
        conmonPidFile: p.conmonPid,
        terminal,
        stdin: rec.config.OpenStdin === true,
        startNow,
      });
      // Before `runc start` when there is one; after a one-call start, those that came while runc ran
      // (another client) join as an attach after a start would.
      await this.#connectPendingAttaches(rec);
      if (!startNow)
        await runc(this.#runc, this.#runcRoot, ["start", rec.id], `starting container ${rec.name}`);
      rec.state.status = "running";
      rec.state.pid = pid;
      // runc recorded it while the process lived; /proc is the fallback (a process that exited at
      // once may be gone, and its pid reused, by now).
      rec.state.pidStart = (await runcInitStart(this.#runcRoot, rec.id)) ?? (await processStartTime(pid));
      rec.state.conmonPid = conmonPid;
      rec.state.startedAt = startedAt;
      rec.state.finishedAt = ZERO_TIME;
      rec.state.exitCode = 0;
      rec.state.oomKilled = false;
      rec.state.error = "";
      rec.state.stoppedByUser = false;
      await this.#save(rec);
    } catch (e) {
      await this.#runcDelete(rec.id);
      await this.#tearDown(rec);
      if (!this.#rootfsHeld(rec.id)) await unmountOverlay(p.rootfs).catch(() => undefined);
      if (rec.state.status === "restarting") rec.state.status = "exited";
      rec.state.error = errorText(e);
      await this.#save(rec).catch(() => undefined);
      throw e;
    }
    this.#emit("start", rec);
    this.#startHealth(rec);
  }

  /**
   * Resolves on the first of `events`, or when the engine closes (with the state as it is then).
   * Holds the event loop while waiting, as an in-flight request would: the exit watchers do not.
   */
  #until(
    events: readonly string[],
    { keepAlive = true }: { readonly keepAlive?: boolean } = {},
  ): Promise<void> {
    return new Promise((resolve) => {
      const timer = keepAlive ? setInterval(() => undefined, 1 << 30) : undefined;
      const done = (): void => {
        clearInterval(timer);
        for (const e of events) this.#events.off(e, done);
        this.#events.off("close", done);
        resolve();
      };
      for (const e of events) this.#events.on(e, done);
      this.#events.on("close", done);
    });
  }

  /**
   * Waits for the exit file of a running container and records it (true at once when the exit is
   * recorded already); caller holds the mutex.
   */
  async #awaitExit(rec: ContainerRecord, timeoutMs: number): Promise<boolean> {
    if (rec.state.status !== "running" && rec.state.status !== "paused") return true;
    const exitFile = join(this.#paths(rec.id).persist, "exit");
    const deadline = Date.now() + timeoutMs;
    for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
      if (existsSync(exitFile)) {
        await this.#recordExit(rec);
        return true;
      }
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(1, deadline - Date.now()))));
    }
  }

  /** @internal */
  async stopLocked(rec: ContainerRecord, timeoutS: number | undefined, signal?: string): Promise<void> {
    if (rec.state.status === "restarting") {
      // Between two runs of a restart policy: stopping cancels the pending restart.
      rec.state.status = "exited";
      rec.state.stoppedByUser = true;
      await this.#save(rec);
      return;
    }
    if (rec.state.status !== "running" && rec.state.status !== "paused") return;
    rec.state.stoppedByUser = true;
    const sig = signal ?? rec.config.StopSignal ?? rec.imageConfig.config?.StopSignal ?? "SIGTERM";
    const t = timeoutS ?? rec.config.StopTimeout ?? DEFAULT_STOP_TIMEOUT_S;
    const paused = rec.state.status === "paused";
    await this.#signal(rec, sig).catch((e: unknown) => {
      // Not running: it had ended already, and its exit is recorded.
      if (!isNotRunning(e)) this.#log(errorText(e));
    });
    // A frozen process cannot act on the signal: thaw it, as Docker does.
    if (paused)
      await runc(this.#runc, this.#runcRoot, ["resume", rec.id], `resuming ${rec.name}`).catch(
        () => undefined,
      );
    if (t >= 0 && (await this.#awaitExit(rec, t * 1000))) return;
    // It may have exited between the end of the grace period and the kill: its exit is recorded then.
    await this.#signal(rec, "SIGKILL").catch((e: unknown) => {
      if (!isNotRunning(e)) throw e;
    });
    if (!(await this.#awaitExit(rec, 30_000)))
      throw new TsstackError(
        "runtime/stop-failed",
        `stopping container ${rec.name}: it did not exit after SIGKILL`,
      );
  }

  async #signal(rec: ContainerRecord, signal: string): Promise<void> {
    const sig = signal.toUpperCase().replace(/^SIG/, "");
    if (!/^(\d{1,2}|[A-Z0-9+-]+)$/.test(sig))
      throw new TsstackError("container/invalid-signal", `invalid signal "${signal}"`);
    // A running container's init is signalled directly, as `runc kill` would (a runc process saved
    // on every stop): only while the pid still names the process started, and for signals Node
    // knows. Anything else (a paused container, a real-time signal, an older record) goes to runc.
    const number = /^\d+$/.test(sig) ? Number(sig) : signalNumber(`SIG${sig}`);
    if (
      rec.state.status === "running" &&
      number !== undefined &&
      number > 0 &&
      rec.state.pidStart !== undefined &&
      (await signalIfSame(rec.state.pid, rec.state.pidStart, number))
    )
      return;
    try {
      await runc(
        this.#runc,
        this.#runcRoot,
        ["kill", rec.id, sig],
        `sending SIG${sig} to container ${rec.name}`,
      );
    } catch (e) {
      // Exited just before the signal (runc: "container not running", its exit not recorded yet): the
      // exit is recorded now, and the signal answered as docker's, not running.
      if (
        e instanceof TsstackError &&
        e.code === "runtime/runc-failed" &&
        (await this.#awaitExit(rec, 5_000))
      )
        throw new TsstackError("container/not-running", `Container ${rec.id} is not running`, { cause: e });
      throw e;
    }
  }

  /** @internal */
  async killLocked(rec: ContainerRecord, signal = "SIGKILL"): Promise<void> {
    if (rec.state.status !== "running" && rec.state.status !== "paused")
      throw new TsstackError("container/not-running", `Container ${rec.id} is not running`);
    rec.state.stoppedByUser = true;
    await this.#signal(rec, signal);
    this.#emit("kill", rec, { signal });
    if (/^(SIG)?KILL$|^9$/i.test(signal)) await this.#awaitExit(rec, 30_000);
  }

  /** @internal */
  async pauseLocked(rec: ContainerRecord, pause: boolean): Promise<void> {
    if (pause ? rec.state.status !== "running" : rec.state.status !== "paused")
      throw new TsstackError(
        pause && rec.state.status === "paused" ? "container/paused" : "container/not-running",
        `Container ${rec.id} is ${pause ? (rec.state.status === "paused" ? "already paused" : "not running") : "not paused"}`,
      );
    await runc(
      this.#runc,
      this.#runcRoot,
      [pause ? "pause" : "resume", rec.id],
      `${pause ? "pausing" : "resuming"} container ${rec.name}`,
    );
    rec.state.status = pause ? "paused" : "running";
    await this.#save(rec);
    this.#emit(pause ? "pause" : "unpause", rec);
  }

  /** @internal */
  async removeLocked(rec: ContainerRecord, force: boolean, removeVolumes = false): Promise<void> {
    if (rec.state.status === "running" || rec.state.status === "paused") {
      if (!force)
        throw new TsstackError(
          "container/conflict",
          `cannot remove container "/${rec.name}": container is ${rec.state.status}: stop the container before removing or force remove`,
        );
      // killLocked waits for the SIGKILL'ed container's exit to be recorded (or records the exit of one
      // that ended on its own just now).
      await this.killLocked(rec, "SIGKILL").catch((e: unknown) => {
        if (!isNotRunning(e)) throw e;
      });
    }
    await this.#removeLocked(rec, removeVolumes);
  }

  /** `removeVolumes`: also the container's anonymous volumes (`rm -v`). */
  async #removeLocked(rec: ContainerRecord, removeVolumes: boolean): Promise<void> {
    this.#stopHealth(rec.id);
    if (!this.#records.has(rec.id)) return;
    const p = this.#paths(rec.id);
    rec.state.status = "removing";
    await this.#runcDelete(rec.id);
    await this.#tearDown(rec);
    // Readers still streaming lose the root (a busy mount is detached lazily): the container is gone.
    this.#rootfsHolds.delete(rec.id);
    this.#copyHolds.delete(rec.id);
    this.#copyPaused.delete(rec.id);
    await unmountOverlay(p.rootfs);
    this.#records.delete(rec.id);
    await this.#discard(p.dir, rec.id);
    unlinkQuietly(p.exitFile);
    // After the record is gone: a crash before this leaves references the volumes ignore.
    await this.#volumes
      .containerRemoved?.(this.#context(rec), { removeAnonymous: removeVolumes })
      .catch((e: unknown) => {
        this.#log(`releasing the volumes of removed container ${rec.name}: ${errorText(e)}`);
      });
    this.#emit("destroy", rec);
  }

  /** @internal */
  async waitFor(idOrName: string, condition: string): Promise<WaitResult> {
    const rec = this.#resolve(idOrName);
    const result = (): WaitResult => ({
      StatusCode: rec.state.exitCode,
      ...(rec.state.error !== "" ? { Error: { Message: rec.state.error } } : {}),
    });
    if (condition === "removed") {
      if (this.#records.has(rec.id)) await this.#until([`destroy:${rec.id}`]);
      return result();
    }
    if (condition === "next-exit" || rec.state.status === "running" || rec.state.status === "paused")
      await this.#until([`die:${rec.id}`, `destroy:${rec.id}`]);
    return result();
  }

  /** @internal */
  logsOf(idOrName: string, opts: LogsOptions): AsyncIterable<LogEntry> {
    const rec = this.#resolve(idOrName);
    const running = (): boolean => {
      const cur = this.#records.get(rec.id);
      return cur !== undefined && (cur.state.status === "running" || cur.state.status === "paused");
    };
    // A follower is woken by the exit; it does not keep the process alive by itself.
    const gone =
      opts.follow === true && running()
        ? this.#until([`die:${rec.id}`, `destroy:${rec.id}`], { keepAlive: false })
        : undefined;
    return readLog(this.#paths(rec.id).log, opts, running, gone);
  }

  /** @internal */
  async execIn(idOrName: string, opts: ExecOptions): Promise<ExecProcess> {
    const rec = this.#resolve(idOrName);
    if (rec.state.status !== "running")
      throw new TsstackError(
        rec.state.status === "paused" ? "container/paused" : "container/not-running",
        `Container ${rec.id} is ${rec.state.status === "paused" ? "paused, unpause the container before exec" : "not running"}`,
      );
    if (opts.Cmd.length === 0) throw new TsstackError("container/invalid-config", "exec: no command given");
    const p = this.#paths(rec.id);
    const args = ["--root", this.#runcRoot, "exec"];
    if (opts.Tty === true) args.push("--tty");
    for (const e of opts.Env ?? []) args.push("--env", e);
    if (opts.User !== undefined && opts.User !== "") {
      const users = await readUserDb(p.rootfs);
      const u = resolveUser(opts.User, users.passwd ?? "", users.group ?? "");
      args.push("--user", `${u.uid}:${u.gid}`);
      for (const g of u.additionalGids ?? []) args.push("--additional-gids", String(g));
    }
    if (opts.WorkingDir !== undefined && opts.WorkingDir !== "") args.push("--cwd", opts.WorkingDir);
    if (opts.Privileged === true)
      throw new TsstackError(
        "container/invalid-config",
        "exec --privileged is not supported by the embedded runtime",
      );
    // runc writes the process's host pid here once it runs (exec inspect's Pid).
    const pidFile = join(this.#dir(rec.id), `exec-${randomBytes(6).toString("hex")}.pid`);
    args.push("--pid-file", pidFile, rec.id, ...opts.Cmd);
    let pid: number | undefined;
    const readPid = (): number | undefined => {
      pid ??= Number.parseInt(readFileOr(pidFile, ""), 10) || undefined;
      return pid;
    };
    // `runc exec --tty` in the foreground wants a terminal of its own to copy to and from: util-linux's
    // `script` gives it one (a pty whose other side is our pipes), so no console-socket fd passing is
    // needed. Output is then the raw terminal stream, as docker's for a TTY.
    const child =
      opts.Tty === true
        ? spawn(
            SCRIPT_BINARY,
            ["-q", "-e", "-c", [this.#runc, ...args].map(shellQuote).join(" "), "/dev/null"],
            {
              stdio: ["pipe", "pipe", "pipe"],
              env: {
                PATH: process.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin",
                SHELL: "/bin/sh",
                TERM: "xterm",
              },
            },
          )
        : spawn(this.#runc, args, { stdio: ["pipe", "pipe", "pipe"] });
    const stderrTail: Buffer[] = [];
    child.stderr.on("data", (d: Buffer) => {
      if (stderrTail.length < 16) stderrTail.push(d);
    });
    const exit = new Promise<number>((resolve, reject) => {
      child.on("error", (e) => {
        reject(
          new TsstackError("runtime/exec-failed", `exec in container ${rec.name}: ${e.message}`, {
            cause: e,
          }),
        );
      });
      child.on("close", (code, signal) => {
        readPid();
        unlinkQuietly(pidFile);
        resolve(code ?? (signal !== null ? 128 + (signalNumber(signal) ?? 0) : 255));
      });
    });
    this.#emit("exec_start", rec, { execCommand: opts.Cmd.join(" ") });
    let resizing = Promise.resolve();
    return {
      stdin: child.stdin,
      stdout: child.stdout,
      stderr: child.stderr,
      exit,
      kill: () => {
        child.kill("SIGKILL");
      },
      pid: readPid,
      ...(opts.Tty === true
        ? {
            // In order: the last size asked for is the one that stays.
            resize: (size: { readonly rows: number; readonly columns: number }) => {
              resizing = resizing
                .then(() => resizeScriptTerminal(child.pid, size))
                .catch((e: unknown) => {
                  this.#log(`resizing the terminal of an exec in ${rec.name}: ${errorText(e)}`);
                });
            },
          }
        : {}),
    };
  }

  /** @internal */
  async topOf(idOrName: string, psArgs: string | undefined): Promise<TopResult> {
    const rec = this.#resolve(idOrName);
    if (rec.state.status !== "running" && rec.state.status !== "paused")
      throw new TsstackError("container/not-running", `Container ${rec.id} is not running`);
    const args = ["ps", "--format", "table", rec.id];
    if (psArgs !== undefined && psArgs !== "") args.push(...psArgs.split(/\s+/));
    const { stdout } = await runc(
      this.#runc,
      this.#runcRoot,
      args,
      `listing the processes of container ${rec.name}`,
    );
    const lines = stdout.split("\n").filter((l) => l.trim() !== "");
    const header = lines.shift() ?? "";
    const titles = header.trim().split(/\s+/);
    const processes = lines.map((l) => {
      const cols = l.trim().split(/\s+/);
      // The last column (CMD/COMMAND) keeps its spaces.
      return [...cols.slice(0, titles.length - 1), cols.slice(titles.length - 1).join(" ")];
    });
    return { Titles: titles, Processes: processes };
  }

  /** @internal */
  async statsOf(idOrName: string): Promise<ContainerStats> {
    const rec = this.#resolve(idOrName);
    const v2 = cgroupV2();
    const read = async (controller: string, file: string): Promise<string | undefined> =>
      readFile(join(this.#cgroupDir(controller, rec.id), file), "utf8").catch(() => undefined);
    const num = (s: string | undefined): number => {
      const n = Number((s ?? "").trim());
      return Number.isFinite(n) ? n : 0;
    };
    let cpuNs: number;
    let memUsage: number;
    let memLimit: number;
    let maxUsage: number | undefined;
    if (v2) {
      cpuNs = num(/^usage_usec (\d+)$/m.exec((await read("", "cpu.stat")) ?? "")?.[1]) * 1000;
      memUsage = num(await read("", "memory.current"));
      const max = (await read("", "memory.max"))?.trim();
      memLimit = max === undefined || max === "max" ? hostMemory() : num(max);
    } else {
      cpuNs = num(await read("cpuacct", "cpuacct.usage"));
      memUsage = num(await read("memory", "memory.usage_in_bytes"));
      memLimit = Math.min(num(await read("memory", "memory.limit_in_bytes")) || Infinity, hostMemory());
      maxUsage = num(await read("memory", "memory.max_usage_in_bytes"));
    }
    const pids = num(await read("pids", "pids.current"));
    const pidsMax = (await read("pids", "pids.max"))?.trim();
    const online = cpus().length;
    const cpuStats = {
      cpu_usage: { total_usage: cpuNs },
      system_cpu_usage: await systemCpuNs(),
      online_cpus: online,
    };
    return {
      read: nowIso(),
      cpu_stats: cpuStats,
      precpu_stats: { cpu_usage: { total_usage: 0 }, system_cpu_usage: 0, online_cpus: online },
      memory_stats: {
        usage: memUsage,
        limit: memLimit,
        ...(maxUsage !== undefined ? { max_usage: maxUsage } : {}),
      },
      pids_stats: {
        current: pids,
        ...(pidsMax !== undefined && pidsMax !== "max" ? { limit: num(pidsMax) } : {}),
      },
    };
  }

  /** @internal */
  async withRootfs<T>(
    idOrName: string,
    fn: (rootfs: string, rec: ContainerRecord) => Promise<T>,
  ): Promise<T> {
    return this.withRecord(idOrName, async (rec) => {
      await this.#holdRootfsLocked(rec);
      try {
        return await fn(this.#paths(rec.id).rootfs, rec);
      } finally {
        await this.#releaseRootfsLocked(rec);
      }
    });
  }

  /**
   * @internal A stream made from the container's root file system (export, copy out), running or
   * not: the root stays mounted until the stream ends, fails or is closed.
   */
  async streamRootfs(
    idOrName: string,
    make: (rootfs: string) => Readable | Promise<Readable>,
    opts: { readonly frozen?: boolean } = {},
  ): Promise<Readable> {
    return this.withRecord(idOrName, async (rec) => {
      const unfreeze = opts.frozen === true ? await this.freezeForCopyLocked(rec) : () => Promise.resolve();
      let stream: Readable;
      try {
        await this.#holdRootfsLocked(rec);
        try {
          stream = await make(this.#paths(rec.id).rootfs);
        } catch (e) {
          await this.#releaseRootfsLocked(rec);
          throw e;
        }
      } catch (e) {
        await unfreeze();
        throw e;
      }
      let released = false;
      const release = (): void => {
        if (released) return;
        released = true;
        void this.#mutex
          .run(rec.id, async () => {
            await unfreeze();
            await this.#releaseRootfsLocked(rec);
          })
          .catch((e: unknown) => {
            this.#log(`releasing the root file system of ${rec.name}: ${errorText(e)}`);
          });
      };
      stream.once("end", release);
      stream.once("error", release);
      stream.once("close", release);
      return stream;
    });
  }

  /**
   * @internal Caller holds the container's mutex. A copy in or out of the container
   * (CVE-2018-15664): paused while running, kept from starting otherwise, until the returned
   * function (called under the mutex) ends the copy; the last of concurrent copies resumes what a copy
   * paused (not a container the user paused).
   */
  async freezeForCopyLocked(rec: ContainerRecord): Promise<() => Promise<void>> {
    if (rec.state.status === "running") {
      await this.pauseLocked(rec, true);
      this.#copyPaused.add(rec.id);
    }
    this.#copyHolds.set(rec.id, (this.#copyHolds.get(rec.id) ?? 0) + 1);
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      const left = (this.#copyHolds.get(rec.id) ?? 0) - 1;
      if (left > 0) {
        this.#copyHolds.set(rec.id, left);
        return;
      }
      this.#copyHolds.delete(rec.id);
      if (
        this.#copyPaused.delete(rec.id) &&
        this.#records.get(rec.id) === rec &&
        rec.state.status === "paused"
      )
        await this.pauseLocked(rec, false);
    };
  }

  #rootfsHeld(id: string): boolean {
    return (this.#rootfsHolds.get(id) ?? 0) > 0;
  }

  /** Caller holds the container's mutex. Mounts the root of a stopped container. */
  async #holdRootfsLocked(rec: ContainerRecord): Promise<void> {
    const p = this.#paths(rec.id);
    const running = rec.state.status === "running" || rec.state.status === "paused";
    if (!running && !this.#rootfsHeld(rec.id) && !(await isMountPoint(p.rootfs)))
      await mountOverlay({ lowerdirs: rec.snapshots, upper: p.upper, work: p.work, target: p.rootfs });
    this.#rootfsHolds.set(rec.id, (this.#rootfsHolds.get(rec.id) ?? 0) + 1);
  }

  /** Caller holds the container's mutex. The last reader of a stopped container unmounts its root. */
  async #releaseRootfsLocked(rec: ContainerRecord): Promise<void> {
    const left = (this.#rootfsHolds.get(rec.id) ?? 0) - 1;
    if (left > 0) {
      this.#rootfsHolds.set(rec.id, left);
      return;
    }
    // Removed meanwhile (its holds went with it), or no hold: nothing is ours to unmount.
    if (!this.#rootfsHolds.delete(rec.id) || this.#records.get(rec.id) !== rec) return;
    if (rec.state.status !== "running" && rec.state.status !== "paused")
      await unmountOverlay(this.#paths(rec.id).rootfs);
  }

  /** @internal */
  upperOf(rec: ContainerRecord): string {
    return this.#paths(rec.id).upper;
  }

  /** @internal */
  async withImageStore<T>(fn: (store: ImageStore) => Promise<T>): Promise<T> {
    const store = await ImageStore.open(this.root, {
      inUse: imageUseCheck(this.root),
    });
    try {
      return await fn(store);
    } finally {
      await store.close();
    }
  }

  /** @internal */
  attachTo(idOrName: string, opts: { readonly stdin?: boolean; readonly signal?: AbortSignal }): ExecProcess {
    const rec = this.#resolve(idOrName);
    const exitCode = (): Promise<number> => this.waitFor(rec.id, "not-running").then((r) => r.StatusCode);
    if (rec.state.status === "running" || rec.state.status === "paused") {
      if (opts.stdin === true && rec.config.OpenStdin !== true)
        throw new TsstackError(
          "container/invalid-config",
          `attaching stdin to container ${rec.name}: it was not created with OpenStdin (docker run -i)`,
        );
      return attachConmon(this.#dir(rec.id), { stdin: opts.stdin === true, name: rec.name, exitCode });
    }
    if (rec.state.status === "created" || rec.state.status === "exited") {
      // Attached before the start (docker run -i): wired at the next start, between runc create and
      // runc start, so not a byte of output is missed.
      if (opts.stdin === true && rec.config.OpenStdin !== true)
        throw new TsstackError(
          "container/invalid-config",
          `attaching stdin to container ${rec.name}: it was not created with OpenStdin (docker run -i)`,
        );
      const pending = pendingAttach(opts.stdin === true, exitCode);
      const list = this.#pendingAttaches.get(rec.id) ?? [];
      list.push(pending);
      this.#pendingAttaches.set(rec.id, list);
      return pending.proc;
    }
    if (opts.stdin === true)
      throw new TsstackError(
        "container/not-running",
        `attaching stdin to container ${rec.name}: it is ${rec.state.status}`,
      );
    return attachFromLog(
      this.logsOf(rec.id, {
        follow: true,
        since: Date.now() / 1000,
        ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
      }),
      exitCode,
    );
  }
}

/** A handle; resolves the id or name on every call, as dockerode's does. */
class EmbeddedContainer implements Container {
  constructor(
    readonly rt: EmbeddedRuntime,
    readonly id: string,
  ) {}

  async inspect(): Promise<ContainerInspect> {
    await Promise.resolve();
    return inspectOf(this.rt.peek(this.id), this.rt.root);
  }

  start(): Promise<void> {
    return this.rt.withRecord(this.id, (rec) => this.rt.startLocked(rec));
  }

  stop(opts: { readonly t?: number; readonly signal?: string } = {}): Promise<void> {
    return this.rt.withRecord(this.id, (rec) => this.rt.stopLocked(rec, opts.t, opts.signal));
  }

  restart(opts: { readonly t?: number } = {}): Promise<void> {
    return this.rt.withRecord(this.id, async (rec) => {
      await this.rt.stopLocked(rec, opts.t);
      await this.rt.startLocked(rec);
    });
  }

  kill(opts: { readonly signal?: string } = {}): Promise<void> {
    return this.rt.withRecord(this.id, (rec) => this.rt.killLocked(rec, opts.signal));
  }

  pause(): Promise<void> {
    return this.rt.withRecord(this.id, (rec) => this.rt.pauseLocked(rec, true));
  }

  unpause(): Promise<void> {
    return this.rt.withRecord(this.id, (rec) => this.rt.pauseLocked(rec, false));
  }

  remove(opts: { readonly force?: boolean; readonly v?: boolean } = {}): Promise<void> {
    return this.rt.withRecord(this.id, (rec) =>
      this.rt.removeLocked(rec, opts.force === true, opts.v === true),
    );
  }

  wait(opts: { readonly condition?: "not-running" | "next-exit" | "removed" } = {}): Promise<WaitResult> {
    return this.rt.waitFor(this.id, opts.condition ?? "not-running");
  }

  async *logs(opts: LogsOptions = {}): AsyncIterable<LogEntry> {
    yield* this.rt.logsOf(this.id, opts);
  }

  exec(opts: ExecOptions): Promise<ExecProcess> {
    return this.rt.execIn(this.id, opts);
  }

  top(opts: { readonly ps_args?: string } = {}): Promise<TopResult> {
    return this.rt.topOf(this.id, opts.ps_args);
  }

  stats(): Promise<ContainerStats> {
    return this.rt.statsOf(this.id);
  }

  async export(): Promise<Readable> {
    const { exportFilesystem } = await import("./containers/fs-ops.js");
    return this.rt.streamRootfs(this.id, exportFilesystem);
  }

  commit(opts: CommitOptions = {}): Promise<{ Id: string }> {
    return commitContainer(this.rt, this.id, opts);
  }

  async getArchive(opts: { readonly path: string }): Promise<Readable> {
    const { getArchive } = await import("./containers/fs-ops.js");
    return this.rt.streamRootfs(this.id, (rootfs) => getArchive(rootfs, opts.path), { frozen: true });
  }

  async putArchive(tar: Readable, opts: { readonly path: string }): Promise<void> {
    const { putArchive } = await import("./containers/fs-ops.js");
    await this.rt.withRootfs(this.id, async (rootfs, rec) => {
      // CVE-2018-15664: a running container could swap a directory for a symlink mid-copy; frozen, it
      // cannot.
      const unfreeze = await this.rt.freezeForCopyLocked(rec);
      try {
        await putArchive(rootfs, opts.path, tar);
      } finally {
        await unfreeze();
      }
    });
  }

  async infoArchive(opts: { readonly path: string }): Promise<ContainerPathStat> {
    const { statInRoot } = await import("./containers/fs-ops.js");
    // Frozen for the stat alone (CVE-2018-15664: a running container could swap a checked directory
    // for a symlink to the host between the check and the lstat), resumed before it returns.
    return this.rt.withRootfs(this.id, async (rootfs, rec) => {
      const unfreeze = await this.rt.freezeForCopyLocked(rec);
      try {
        return await statInRoot(rootfs, opts.path);
      } finally {
        await unfreeze();
      }
    });
  }

  rename(opts: { readonly name: string }): Promise<void> {
    return this.rt.renameContainer(this.id, opts.name);
  }

  async attach(opts: { readonly stdin?: boolean; readonly signal?: AbortSignal } = {}): Promise<ExecProcess> {
    await Promise.resolve();
    return this.rt.attachTo(this.id, opts);
  }
}

async function commitContainer(
  rt: EmbeddedRuntime,
  idOrName: string,
  opts: CommitOptions,
): Promise<{ Id: string }> {
  const { commitImage } = await import("./containers/fs-ops.js");
  const { applyChanges } = await import("./images/archive.js");
  return rt.withRecord(idOrName, async (rec) => {
    const pause = opts.pause !== false && rec.state.status === "running";
    if (pause) await rt.pauseLocked(rec, true);
    try {
      return await rt.withImageStore(async (store) => {
        const base = await store.resolve(rec.imageId);
        if (base === undefined)
          throw new TsstackError(
            "image/not-found",
            `committing container ${rec.name}: its image ${rec.imageId} is gone`,
          );
        const c = rec.config;
        // Docker commits the container's effective config: the image's, with what the container set.
        let config: RunConfig = {
          ...(structuredClone(rec.imageConfig.config ?? {}) as RunConfig),
          ...(c.Cmd !== undefined && c.Cmd !== null ? { Cmd: [...c.Cmd] } : {}),
          ...(c.Entrypoint !== undefined && c.Entrypoint !== null ? { Entrypoint: [...c.Entrypoint] } : {}),
          ...(c.Env !== undefined && c.Env !== null
            ? { Env: mergeEnv(rec.imageConfig.config?.Env ?? [], c.Env) }
            : {}),
          ...(c.WorkingDir !== undefined && c.WorkingDir !== "" ? { WorkingDir: c.WorkingDir } : {}),
          ...(c.User !== undefined && c.User !== "" ? { User: c.User } : {}),
          ...(c.Labels !== undefined && c.Labels !== null
            ? { Labels: { ...(rec.imageConfig.config?.Labels ?? {}), ...c.Labels } }
            : {}),
        };
        if (opts.changes !== undefined && opts.changes.length > 0)
          config = applyChanges(config, opts.changes);
        const names =
          opts.repo !== undefined && opts.repo !== ""
            ? [`${opts.repo}:${opts.tag !== undefined && opts.tag !== "" ? opts.tag : "latest"}`]
            : [];
        const image = await commitImage({
          store,
          baseImage: base,
          baseConfig: rec.imageConfig,
          upper: rt.upperOf(rec),
          changes: config,
          createdBy: argsOf(rec).join(" "),
          ...(opts.comment !== undefined ? { comment: opts.comment } : {}),
          ...(opts.author !== undefined ? { author: opts.author } : {}),
          names,
        });
        return { Id: image.id };
      });
    } finally {
      if (pause) await rt.pauseLocked(rec, false);
    }
  });
}

function mergeEnv(base: readonly string[], over: readonly string[]): string[] {
  const key = (e: string): string => (e.includes("=") ? e.slice(0, e.indexOf("=")) : e);
  const out = new Map<string, string>();
  for (const e of [...base, ...over]) out.set(key(e), e);
  return [...out.values()];
}

/** Output of a running container from the log, shaped like an exec's streams. */
function attachFromLog(entries: AsyncIterable<LogEntry>, exitCode: () => Promise<number>): ExecProcess {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const stdin = new PassThrough();
  const pump = (async () => {
    for await (const e of entries) (e.stream === "stdout" ? stdout : stderr).write(e.line);
  })().finally(() => {
    stdout.end();
    stderr.end();
  });
  return { stdin, stdout, stderr, exit: pump.then(exitCode) };
}

interface PendingAttach {
  readonly stdin: boolean;
  readonly exitCode: () => Promise<number>;
  readonly proc: ExecProcess;
  connect(real: ExecProcess): void;
}

/** An attach whose streams exist now and are joined to the real ones at the container's start. */
function pendingAttach(stdin: boolean, exitCode: () => Promise<number>): PendingAttach {
  const stdinStream = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let joined!: (real: ExecProcess) => void;
  const real = new Promise<ExecProcess>((resolve) => (joined = resolve));
  if (!stdin) stdinStream.end();
  return {
    stdin,
    exitCode,
    proc: {
      stdin: stdinStream,
      stdout,
      stderr,
      exit: real.then((r) => r.exit),
      resize: (size) => {
        void real.then((r) => r.resize?.(size));
      },
    },
    connect: (r) => {
      stdinStream.pipe(r.stdin);
      r.stdout.pipe(stdout);
      r.stderr.pipe(stderr);
      joined(r);
    },
  };
}

function parseSecurityOpts(opts: readonly string[]): boolean | undefined {
  let nnp: boolean | undefined;
  for (const o of opts) {
    const m = /^no-new-privileges(?:[:=](true|false))?$/.exec(o);
    if (m === null)
      throw new TsstackError(
        "container/invalid-config",
        `security option "${o}" is not supported by the embedded runtime (only no-new-privileges[=true|false])`,
      );
    nnp = m[1] !== "false";
  }
  return nnp;
}

/** Resolves HostConfig.Devices to major/minor numbers by stat'ing the host paths. */
/*
 * The start and exit paths read and write small files (records aside) with synchronous calls: each is
 * ~10-30 µs on a local or /proc file system, while a promise call costs one to four thread-pool round
 * trips of ~100-500 µs on our 2-core VMs, which added up to milliseconds per container start.
 */

/** The conmon processes running on this host, by the container id they supervise (`-c <id>`). */
function conmonsByContainer(): Map<string, number> {
  const found = new Map<string, number>();
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((n) => /^\d+$/.test(n));
  } catch {
    return found;
  }
  for (const pid of pids) {
    const args = readFileOr(`/proc/${pid}/cmdline`, "").split("\0");
    if (!(args[0] ?? "").endsWith("conmon")) continue;
    const at = args.indexOf("-c");
    const id = at >= 0 ? args[at + 1] : undefined;
    if (id !== undefined) found.set(id, Number(pid));
  }
  return found;
}

function isNotRunning(e: unknown): boolean {
  return e instanceof TsstackError && e.code === "container/not-running";
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // not there
  }
}

function readFileOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return fallback;
  }
}

async function hostDevices(rec: ContainerRecord): Promise<ContainerConfig["devices"]> {
  const out: NonNullable<ContainerConfig["devices"]>[number][] = [];
  for (const d of rec.config.HostConfig?.Devices ?? []) {
    let st;
    try {
      st = await stat(d.PathOnHost);
    } catch (e) {
      throw new TsstackError("container/invalid-config", `device ${d.PathOnHost}: ${errorText(e)}`, {
        cause: e,
      });
    }
    if (!st.isCharacterDevice() && !st.isBlockDevice())
      throw new TsstackError("container/invalid-config", `device ${d.PathOnHost} is not a device node`);
    const rdev = st.rdev;
    out.push({
      path: d.PathInContainer !== "" ? d.PathInContainer : d.PathOnHost,
      type: st.isCharacterDevice() ? "c" : "b",
      major: Math.floor(rdev / 256) & 0xfff,
      minor: (rdev & 0xff) | (Math.floor(rdev / 4096) & ~0xff),
      ...(d.CgroupPermissions !== undefined && d.CgroupPermissions !== ""
        ? { permissions: d.CgroupPermissions }
        : {}),
      fileMode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
    });
  }
  return out;
}

/** Where engines keep their runtime state by default, one directory per root. */
const DEFAULT_RUN_DIR = "/run/tsstack";

let cgroupV2Cache: boolean | undefined;
/** Whether /sys/fs/cgroup is the unified (v2) hierarchy; read once per process. */
function cgroupV2(): boolean {
  cgroupV2Cache ??= existsSync("/sys/fs/cgroup/cgroup.controllers");
  return cgroupV2Cache;
}

/**
 * On cgroup v2, the limits' controllers must be available at the root (`cgroup.controllers`): runc
 * would otherwise fail with a missing-file error. Docker drops such a limit with a warning; a limit
 * the user asked for is not silently dropped here.
 */
function checkV2Controllers(resources: SpecResources, name: string): void {
  if (!cgroupV2()) return;
  const needed = cgroupControllersNeeded(resources);
  if (needed.length === 0) return;
  const available = readFileOr("/sys/fs/cgroup/cgroup.controllers", "").trim().split(/\s+/);
  const missing = needed.filter((c) => !available.includes(c));
  if (missing.length > 0)
    throw new TsstackError(
      "container/invalid-config",
      `starting container ${name}: its limits need the cgroup v2 controller${missing.length > 1 ? "s" : ""} ${missing.map((c) => `"${c}"`).join(", ")}, which this host's /sys/fs/cgroup does not offer (it has: ${available.filter((c) => c !== "").join(" ") || "none"}); enable ${missing.length > 1 ? "them" : "it"} (a kernel or init setting) or drop the limit`,
    );
}

let swapAccountingCache: boolean | undefined;
function swapAccounting(): boolean {
  swapAccountingCache ??= cgroupV2() || existsSync("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes");
  return swapAccountingCache;
}

function hostMemory(): number {
  return totalmem();
}

async function systemCpuNs(): Promise<number> {
  const line = (await readFile("/proc/stat", "utf8")).split("\n")[0] ?? "";
  const ticks = line
    .trim()
    .split(/\s+/)
    .slice(1, 8)
    .reduce((a, b) => a + Number(b), 0);
  return ticks * 10_000_000; // USER_HZ is 100 on Linux
}

/** The number of a signal by name (`SIGTERM`), or undefined for a name the OS does not know. */
function signalNumber(name: string): number | undefined {
  return (osConstants.signals as Partial<Record<string, number>>)[name];
}

function matchesFilters(rec: ContainerRecord, filters: Readonly<Record<string, readonly string[]>>): boolean {
  for (const [key, values] of Object.entries(filters)) {
    if (values.length === 0) continue;
    // Docker: every label filter must match; several values of the other keys are alternatives.
    const ok = (key === "label" ? values.every.bind(values) : values.some.bind(values))((v) => {
      switch (key) {
        case "label": {
          const eq = v.indexOf("=");
          const labels = rec.config.Labels ?? {};
          return eq < 0 ? v in labels : labels[v.slice(0, eq)] === v.slice(eq + 1);
        }
        case "name": {
          let re: RegExp;
          try {
            re = new RegExp(v.replace(/^\//, ""));
          } catch {
            throw new TsstackError(
              "container/invalid-filter",
              `invalid name filter "${v}": not a regular expression`,
            );
          }
          return re.test(rec.name);
        }
        case "id":
          return rec.id.startsWith(v);
        case "status":
          return rec.state.status === v;
        case "ancestor":
          return rec.image === v || rec.imageId === v || rec.imageId === `sha256:${v}`;
        default:
          throw new TsstackError("container/invalid-filter", `invalid filter "${key}"`);
      }
    });
    if (!ok) return false;
  }
  return true;
}

function argsOf(rec: ContainerRecord): string[] {
  const c = rec.config;
  const entry = c.Entrypoint ?? rec.imageConfig.config?.Entrypoint ?? [];
  const cmd =
    c.Cmd ?? (c.Entrypoint !== undefined && c.Entrypoint !== null ? [] : (rec.imageConfig.config?.Cmd ?? []));
  return [...(entry.length === 1 && entry[0] === "" ? [] : entry), ...cmd];
}

function ago(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 1) return "Less than a second";
  if (s < 60) return `${s} second${s === 1 ? "" : "s"}`;
  const m = Math.round(s / 60);
  if (m < 60) return m === 1 ? "About a minute" : `${m} minutes`;
  const h = Math.round(m / 60);
  if (h < 48) return h === 1 ? "About an hour" : `${h} hours`;
  return `${Math.round(h / 24)} days`;
}

function healthSuffix(rec: ContainerRecord): string {
  const h = rec.state.health?.Status;
  return h === undefined ? "" : h === "starting" ? " (health: starting)" : ` (${h})`;
}

function statusText(rec: ContainerRecord): string {
  switch (rec.state.status) {
    case "running":
      return `Up ${ago(rec.state.startedAt)}${healthSuffix(rec)}`;
    case "paused":
      return `Up ${ago(rec.state.startedAt)} (Paused)`;
    case "exited":
      return `Exited (${rec.state.exitCode}) ${ago(rec.state.finishedAt)} ago`;
    case "created":
      return "Created";
    default:
      return rec.state.status.charAt(0).toUpperCase() + rec.state.status.slice(1);
  }
}

function summaryOf(rec: ContainerRecord, ports: ContainerSummary["Ports"]): ContainerSummary {
  return {
    Id: rec.id,
    Names: [`/${rec.name}`],
    Image: rec.image,
    ImageID: rec.imageId,
    Command: argsOf(rec)
      .map((a) => (/\s/.test(a) ? JSON.stringify(a) : a))
      .join(" "),
    Created: Math.floor(Date.parse(rec.created) / 1000),
    State: rec.state.status,
    Status: statusText(rec),
    Labels: { ...(rec.config.Labels ?? {}) },
    Ports: ports,
    Mounts: rec.state.mounts ?? [],
  };
}

function inspectOf(rec: ContainerRecord, root: string): ContainerInspect {
  const c = rec.config;
  const img = rec.imageConfig.config ?? {};
  const args = argsOf(rec);
  const dir = join(root, "containers", rec.id);
  const s = rec.state;
  return {
    Id: rec.id,
    Created: rec.created,
    Path: args[0] ?? "",
    Args: args.slice(1),
    State: {
      Status: s.status,
      Running: s.status === "running" || s.status === "paused",
      Paused: s.status === "paused",
      Restarting: s.status === "restarting",
      OOMKilled: s.oomKilled,
      Dead: s.status === "dead",
      Pid: s.pid,
      ExitCode: s.exitCode,
      Error: s.error,
      StartedAt: s.startedAt,
      FinishedAt: s.finishedAt,
      ...(s.health !== undefined ? { Health: s.health } : {}),
    },
    Image: rec.imageId,
    ResolvConfPath: "",
    HostnamePath: join(dir, "hostname"),
    HostsPath: join(dir, "hosts"),
    LogPath: join(dir, "ctr.log"),
    Name: `/${rec.name}`,
    RestartCount: s.restartCount,
    Driver: "overlay",
    Platform: "linux",
    Config: {
      Hostname: c.Hostname !== undefined && c.Hostname !== "" ? c.Hostname : rec.id.slice(0, 12),
      User: c.User ?? img.User ?? "",
      Env: mergeEnv(img.Env ?? [], c.Env ?? []),
      Cmd:
        c.Cmd !== undefined && c.Cmd !== null
          ? [...c.Cmd]
          : img.Cmd !== undefined && img.Cmd !== null
            ? [...img.Cmd]
            : null,
      Entrypoint:
        c.Entrypoint !== undefined && c.Entrypoint !== null
          ? [...c.Entrypoint]
          : img.Entrypoint !== undefined && img.Entrypoint !== null
            ? [...img.Entrypoint]
            : null,
      Image: rec.image,
      WorkingDir: c.WorkingDir ?? img.WorkingDir ?? "",
      Labels: { ...(img.Labels ?? {}), ...(c.Labels ?? {}) },
      Tty: c.Tty === true,
      OpenStdin: c.OpenStdin === true,
      StopSignal: c.StopSignal ?? img.StopSignal ?? "SIGTERM",
      StopTimeout: c.StopTimeout ?? DEFAULT_STOP_TIMEOUT_S,
    },
    HostConfig: { NetworkMode: "none", ...(c.HostConfig ?? {}) },
    GraphDriver: {
      Name: "overlay",
      Data: {
        LowerDir: [...rec.snapshots].reverse().join(":"),
        UpperDir: join(dir, "upper"),
        WorkDir: join(dir, "work"),
        MergedDir: join(dir, "rootfs"),
      },
    },
    Mounts: s.mounts ?? [],
    NetworkSettings: s.network ?? { Networks: {}, Ports: {}, IPAddress: "", Gateway: "", MacAddress: "" },
  };
}
