/**
 * Builds the OCI runtime spec (`config.json` of a bundle) from an image config and a container config,
 * with Docker's defaults: the same capabilities, mounts, masked and read-only paths, device cgroup
 * rules, namespaces and seccomp profile as moby's `oci/defaults.go` + `daemon/oci_linux.go` — plus
 * tsstack's stricter default of no-new-privileges.
 *
 * Pure: the caller reads the image's /etc/passwd and /etc/group, resolves host devices to
 * major/minor numbers and decides the host paths; nothing here touches the file system.
 */
import { posix } from "node:path";

import { TsstackError } from "../../common/errors.js";
import type { ImageConfig } from "../images/types.js";
import seccompDefaultJson from "./seccomp-default.json" with { type: "json" };

// ---------------------------------------------------------------------------------------------------
// The OCI runtime spec (the parts tsstack writes), runtime-spec v1.0.2.

export interface RuntimeSpec {
  ociVersion: string;
  process: SpecProcess;
  root: { path: string; readonly: boolean };
  hostname?: string;
  mounts: SpecMount[];
  annotations?: Record<string, string>;
  linux: SpecLinux;
}

export interface SpecProcess {
  terminal: boolean;
  user: { uid: number; gid: number; additionalGids?: number[] };
  args: string[];
  env: string[];
  cwd: string;
  capabilities: {
    bounding: string[];
    effective: string[];
    permitted: string[];
    inheritable: string[];
    ambient: string[];
  };
  rlimits?: { type: string; soft: number; hard: number }[];
  noNewPrivileges: boolean;
}

export interface SpecMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

export interface SpecDeviceCgroup {
  allow: boolean;
  type?: "a" | "b" | "c";
  major?: number;
  minor?: number;
  access: string;
}

export interface SpecDevice {
  path: string;
  type: "b" | "c" | "u" | "p";
  major: number;
  minor: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface SpecResources {
  devices: SpecDeviceCgroup[];
  memory?: { limit?: number; swap?: number };
  cpu?: { shares?: number; quota?: number; period?: number; cpus?: string };
  pids?: { limit: number };
}

export interface SpecNamespace {
  type: "pid" | "ipc" | "uts" | "mount" | "network" | "user" | "cgroup";
  path?: string;
}

export interface SeccompRule {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: { index: number; value: number; valueTwo?: number; op: string }[];
}

export interface SpecSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures: string[];
  syscalls: SeccompRule[];
}

export interface SpecLinux {
  namespaces: SpecNamespace[];
  devices: SpecDevice[];
  resources: SpecResources;
  cgroupsPath?: string;
  sysctl?: Record<string, string>;
  maskedPaths: string[];
  readonlyPaths: string[];
  seccomp?: SpecSeccomp;
}

// ---------------------------------------------------------------------------------------------------
// The container config: what a service or `tsstack run` asks for.

/** A host device made available in the container (the caller stats the host path). */
export interface DeviceMapping {
  /** Path inside the container, e.g. `/dev/fuse`. */
  readonly path: string;
  readonly type: "b" | "c";
  readonly major: number;
  readonly minor: number;
  /** Cgroup access, a subset of `rwm`. Default `rwm`. */
  readonly permissions?: string;
  readonly fileMode?: number;
  readonly uid?: number;
  readonly gid?: number;
}

export interface Ulimit {
  /** `nofile`, `nproc`, … (with or without `RLIMIT_`, any case). */
  readonly name: string;
  readonly soft: number;
  readonly hard: number;
}

export interface ContainerResources {
  /** Memory limit in bytes. */
  readonly memory?: number;
  /**
   * Memory plus swap in bytes, as Docker's `--memory-swap`; -1 is unlimited swap. Default: twice
   * `memory` when `memory` is set (Docker's default).
   */
  readonly memorySwap?: number;
  /** CPUs, fractional: a CFS quota over a 100 ms period. */
  readonly cpus?: number;
  /** Relative CPU weight (cgroup v1 shares, 1024 = normal). */
  readonly cpuShares?: number;
  /** `0-3`, `0,2`. */
  readonly cpusetCpus?: string;
  /** Maximum number of processes; 0 or -1 is unlimited. */
  readonly pidsLimit?: number;
}

export interface ContainerConfig {
  /**
   * Replaces the image's Entrypoint; `[]` clears it (`--entrypoint ""`). Giving one also drops the
   * image's Cmd unless `cmd` is given too, as Docker does. Default: the image's.
   */
  readonly entrypoint?: readonly string[];
  /** Replaces the image's Cmd; empty means not given. */
  readonly cmd?: readonly string[];
  /** `KEY=value` entries, merged over the image's Env by key. */
  readonly env?: readonly string[];
  /** Absolute path. Default: the image's WorkingDir, else `/`. */
  readonly workingDir?: string;
  /** `name`, `uid`, `uid:gid`, `name:group` (any mix). Default: the image's User, else root. */
  readonly user?: string;
  /** Default: `opts.hostname`. */
  readonly hostname?: string;
  /** Written to the spec's annotations, so `runc state` shows them. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Run an init as PID 1 that reaps zombies and forwards signals (needs `opts.init`). */
  readonly init?: boolean;
  /** Mount the root filesystem read-only. */
  readonly readOnly?: boolean;
  /** Target → tmpfs options (`size=64m,mode=1777,exec`), as Docker's HostConfig.Tmpfs. */
  readonly tmpfs?: Readonly<Record<string, string>>;
  /** Capability names, with or without `CAP_`, any case, or `ALL`. */
  readonly capAdd?: readonly string[];
  readonly capDrop?: readonly string[];
  /** All capabilities, no seccomp, no masked paths, all devices. */
  readonly privileged?: boolean;
  /** Namespaced sysctls only (`net.*`, `kernel.shm*`, `kernel.msg*`, `kernel.sem`, `fs.mqueue.*`). */
  readonly sysctls?: Readonly<Record<string, string>>;
  readonly ulimits?: readonly Ulimit[];
  readonly devices?: readonly DeviceMapping[];
  /** Size of /dev/shm in bytes. Default 64 MiB. */
  readonly shmSize?: number;
  /** Default true: tsstack's default is stricter than Docker's here. */
  readonly noNewPrivileges?: boolean;
  readonly resources?: ContainerResources;
}

export interface BuildSpecOptions {
  /** Host path of the container's root filesystem (e.g. the overlayfs mount). */
  readonly rootfs: string;
  /** Hostname when the container config gives none (Docker: the short container id). */
  readonly hostname?: string;
  /** Contents of the image's /etc/passwd and /etc/group, for `user` names. */
  readonly passwd?: string;
  readonly group?: string;
  /**
   * The init binary for `init: true`: its path inside the container and, when given, the host file
   * to bind-mount there read-only (Docker mounts its docker-init at /sbin/docker-init).
   */
  readonly init?: { readonly path: string; readonly hostPath?: string };
  /** Join this network namespace (e.g. `/run/netns/x`) instead of a new, empty one. */
  readonly networkNamespacePath?: string;
  readonly cgroupsPath?: string;
  /** Allocate a terminal for the process. Default false. */
  readonly terminal?: boolean;
  /** Node's `process.arch`. Default: this process's. Selects seccomp architectures and arch rules. */
  readonly arch?: string;
  /** Kernel release (`uname -r`), for seccomp rules with a minimum kernel. Default: assumed recent. */
  readonly kernelVersion?: string;
}

// ---------------------------------------------------------------------------------------------------
// Docker's defaults.

/**
 * moby `oci/caps/defaults.go`: bounding, effective and permitted for root; a non-root user keeps
 * only the bounding set. Inheritable and ambient stay empty (moby ≥ 20.10.14, CVE-2022-24769).
 */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

/** Every Linux capability, by number (0 … 40, Linux 5.9+). */
export const ALL_CAPABILITIES: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
];

/** moby `oci/defaults.go`, plus /sys/devices/virtual/powercap (CVE-2020-8694). */
export const DEFAULT_MASKED_PATHS: readonly string[] = [
  "/proc/asound",
  "/proc/acpi",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
];

export const DEFAULT_READONLY_PATHS: readonly string[] = [
  "/proc/bus",
  "/proc/fs",
  "/proc/irq",
  "/proc/sys",
  "/proc/sysrq-trigger",
];

/** Docker's default PATH, used when the image sets none. */
export const DEFAULT_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Docker's default /dev/shm size: 64 MiB. */
export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;

const CPU_PERIOD_US = 100_000;

/** moby `oci/defaults.go`: deny everything, then the devices every container may use. */
function defaultDeviceCgroup(): SpecDeviceCgroup[] {
  const allowChar = (major: number, minor: number): SpecDeviceCgroup => ({
    allow: true,
    type: "c",
    major,
    minor,
    access: "rwm",
  });
  return [
    { allow: false, access: "rwm" },
    allowChar(1, 5), // /dev/zero
    allowChar(1, 3), // /dev/null
    allowChar(1, 9), // /dev/urandom
    allowChar(1, 8), // /dev/random
    allowChar(5, 0), // /dev/tty
    allowChar(5, 1), // /dev/console
    { allow: false, type: "c", major: 10, minor: 229, access: "rwm" }, // /dev/fuse
  ];
}

function defaultMounts(shmSize: number, privileged: boolean): SpecMount[] {
  // Privileged containers get /sys and the cgroup tree writable, as in Docker.
  const sysMode = privileged ? "rw" : "ro";
  return [
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
    {
      destination: "/dev",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
    },
    {
      destination: "/dev/pts",
      type: "devpts",
      source: "devpts",
      options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    },
    { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", sysMode] },
    {
      destination: "/sys/fs/cgroup",
      type: "cgroup",
      source: "cgroup",
      options: [sysMode, "nosuid", "noexec", "nodev"],
    },
    { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
    {
      destination: "/dev/shm",
      type: "tmpfs",
      source: "shm",
      options: ["nosuid", "noexec", "nodev", "mode=1777", `size=${shmSize}`],
    },
  ];
}

// ---------------------------------------------------------------------------------------------------
// The builder.

function invalid(message: string): TsstackError {
  return new TsstackError("container/invalid-config", message);
}

export function buildRuntimeSpec(
  image: ImageConfig,
  c: ContainerConfig,
  opts: BuildSpecOptions,
): RuntimeSpec {
  const privileged = c.privileged === true;
  const args = commandOf(image, c);
  if (c.init === true) {
    if (opts.init === undefined)
      throw invalid("building the container spec: init was requested but no init binary is configured");
    args.unshift(opts.init.path, "--");
  }
  const cwd = workingDirOf(image, c);
  const user = resolveUser(c.user ?? image.config?.User ?? "", opts.passwd ?? "", opts.group ?? "");
  const hostname = c.hostname ?? opts.hostname;
  const caps = privileged ? [...ALL_CAPABILITIES] : tweakCapabilities(c.capAdd ?? [], c.capDrop ?? []);
  const shmSize = c.shmSize ?? DEFAULT_SHM_SIZE;
  if (!Number.isSafeInteger(shmSize) || shmSize <= 0)
    throw invalid(`building the container spec: shm size ${shmSize} is not a positive number of bytes`);

  const mounts = defaultMounts(shmSize, privileged);
  if (c.init === true && opts.init?.hostPath !== undefined)
    mounts.push({
      destination: opts.init.path,
      type: "bind",
      source: opts.init.hostPath,
      options: ["rbind", "ro"],
    });
  for (const [target, options] of Object.entries(c.tmpfs ?? {})) mounts.push(tmpfsMount(target, options));

  const resources = resourcesOf(c.resources ?? {});
  const devices: SpecDevice[] = [];
  if (privileged) resources.devices = [{ allow: true, access: "rwm" }];
  for (const d of c.devices ?? []) {
    const access = d.permissions ?? "rwm";
    if (!/^[rwm]{1,3}$/.test(access))
      throw invalid(
        `building the container spec: device ${d.path}: permissions "${access}" are not a subset of rwm`,
      );
    devices.push({
      path: d.path,
      type: d.type,
      major: d.major,
      minor: d.minor,
      ...(d.fileMode !== undefined ? { fileMode: d.fileMode } : {}),
      ...(d.uid !== undefined ? { uid: d.uid } : {}),
      ...(d.gid !== undefined ? { gid: d.gid } : {}),
    });
    if (!privileged)
      resources.devices.push({ allow: true, type: d.type, major: d.major, minor: d.minor, access });
  }

  const namespaces: SpecNamespace[] = [
    { type: "pid" },
    { type: "ipc" },
    { type: "uts" },
    { type: "mount" },
    {
      type: "network",
      ...(opts.networkNamespacePath !== undefined ? { path: opts.networkNamespacePath } : {}),
    },
  ];

  const linux: SpecLinux = {
    namespaces,
    devices,
    resources,
    maskedPaths: privileged ? [] : [...DEFAULT_MASKED_PATHS],
    readonlyPaths: privileged ? [] : [...DEFAULT_READONLY_PATHS],
  };
  if (opts.cgroupsPath !== undefined) linux.cgroupsPath = opts.cgroupsPath;
  if (c.sysctls !== undefined && Object.keys(c.sysctls).length > 0) linux.sysctl = checkSysctls(c.sysctls);
  if (!privileged) linux.seccomp = defaultSeccomp(caps, opts.arch ?? process.arch, opts.kernelVersion);

  const spec: RuntimeSpec = {
    ociVersion: "1.0.2",
    process: {
      terminal: opts.terminal ?? false,
      user,
      args,
      env: envOf(image, c, hostname),
      cwd,
      // As moby's SetCapabilities: a non-root user starts with no effective or permitted
      // capabilities, the way execve drops them; the bounding set still caps setuid binaries.
      capabilities: {
        bounding: caps,
        effective: user.uid === 0 ? [...caps] : [],
        permitted: user.uid === 0 ? [...caps] : [],
        inheritable: [],
        ambient: [],
      },
      noNewPrivileges: c.noNewPrivileges ?? true,
    },
    root: { path: opts.rootfs, readonly: c.readOnly === true },
    mounts,
    linux,
  };
  if (c.ulimits !== undefined && c.ulimits.length > 0) spec.process.rlimits = c.ulimits.map(rlimitOf);
  if (hostname !== undefined) spec.hostname = hostname;
  if (c.labels !== undefined && Object.keys(c.labels).length > 0) spec.annotations = { ...c.labels };
  return spec;
}

/**
 * Docker's merge (moby `daemon.mergeAndVerifyConfig` / `runconfig.Merge`): with no entrypoint of its
 * own (unset or empty), the container takes the image's Cmd when it has no cmd, and the image's
 * Entrypoint only when it left entrypoint unset. A non-empty entrypoint of its own drops the image's
 * Cmd.
 */
export function commandOf(image: ImageConfig, c: ContainerConfig): string[] {
  let entrypoint = c.entrypoint ?? [];
  let cmd = c.cmd ?? [];
  if (entrypoint.length === 0) {
    if (cmd.length === 0) cmd = image.config?.Cmd ?? [];
    if (c.entrypoint === undefined) entrypoint = image.config?.Entrypoint ?? [];
  }
  const args = [...entrypoint, ...cmd];
  if (args.length === 0)
    throw invalid("building the container spec: no command specified (image has no Cmd or Entrypoint)");
  return args;
}

/**
 * `/proc/self/fd/N` as a working directory leaks a host directory fd into the container on vulnerable
 * runc versions (CVE-2024-21626); no legitimate workload needs any fd directory as its cwd. This check
 * is lexical: a symlink inside the rootfs pointing there must be caught when the rootfs is at hand.
 */
const FD_DIR = /^\/(?:proc\/(?:self|thread-self|\d+)(?:\/task\/(?:\d+|self))?\/fd|dev\/fd)(?:\/|$)/;

function workingDirOf(image: ImageConfig, c: ContainerConfig): string {
  // An empty string means unset, in the image config as in the container config.
  const nonEmpty = (s: string | undefined): string | undefined => (s === "" ? undefined : s);
  const raw = nonEmpty(c.workingDir) ?? nonEmpty(image.config?.WorkingDir) ?? "/";
  if (!raw.startsWith("/"))
    throw invalid(`building the container spec: working directory "${raw}" is not an absolute path`);
  const cwd = posix.normalize(raw);
  if (FD_DIR.test(cwd))
    throw invalid(
      `building the container spec: working directory "${raw}" is a file-descriptor directory (refused: runc CVE-2024-21626)`,
    );
  return cwd;
}

function envKey(entry: string): string {
  const eq = entry.indexOf("=");
  return eq === -1 ? entry : entry.slice(0, eq);
}

/** Image Env, then the container's over it by key; PATH and HOSTNAME as Docker's daemon adds them. */
function envOf(image: ImageConfig, c: ContainerConfig, hostname: string | undefined): string[] {
  const merged = new Map<string, string>();
  for (const e of image.config?.Env ?? []) merged.set(envKey(e), e);
  for (const e of c.env ?? []) merged.set(envKey(e), e);
  const env: string[] = [];
  if (!merged.has("PATH")) env.push(DEFAULT_PATH_ENV);
  if (hostname !== undefined && !merged.has("HOSTNAME")) env.push(`HOSTNAME=${hostname}`);
  return [...env, ...merged.values()];
}

// ---------------------------------------------------------------------------------------------------
// Users.

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

function parseColonFile(text: string): string[][] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => l.split(":"));
}

function parsePasswd(text: string): PasswdEntry[] {
  return parseColonFile(text).flatMap(([name, , uid, gid]) =>
    name !== undefined && isId(uid) && isId(gid) ? [{ name, uid: Number(uid), gid: Number(gid) }] : [],
  );
}

function parseGroup(text: string): GroupEntry[] {
  return parseColonFile(text).flatMap(([name, , gid, members]) =>
    name !== undefined && isId(gid)
      ? [{ name, gid: Number(gid), members: (members ?? "").split(",").filter((m) => m !== "") }]
      : [],
  );
}

const MAX_ID = 2 ** 31 - 1;

function isId(s: string | undefined): boolean {
  return s !== undefined && /^\d+$/.test(s) && Number(s) <= MAX_ID;
}

/**
 * Like runc/moby's `user.GetExecUser`: names must exist in the image; numeric ids need not. A user
 * found in passwd brings its primary group and, when no group is given, the groups listing it.
 */
export function resolveUser(
  spec: string,
  passwd: string,
  group: string,
): { uid: number; gid: number; additionalGids?: number[] } {
  if (spec === "") return { uid: 0, gid: 0 };
  const [userPart = "", groupPart, ...rest] = spec.split(":");
  if (rest.length > 0 || userPart === "" || groupPart === "")
    throw invalid(`building the container spec: user "${spec}" is not name, uid, name:group or uid:gid`);
  const users = parsePasswd(passwd);
  let entry: PasswdEntry | undefined;
  let uid: number;
  if (isId(userPart)) {
    uid = Number(userPart);
    entry = users.find((u) => u.uid === uid);
  } else if (/^\d+$/.test(userPart)) {
    throw invalid(`building the container spec: uid ${userPart} is out of range`);
  } else {
    entry = users.find((u) => u.name === userPart);
    if (entry === undefined)
      throw invalid(`building the container spec: user "${userPart}" not found in the image's /etc/passwd`);
    uid = entry.uid;
  }
  const groups = parseGroup(group);
  if (groupPart !== undefined) {
    if (isId(groupPart)) return { uid, gid: Number(groupPart) };
    const g = groups.find((x) => x.name === groupPart);
    if (g === undefined)
      throw invalid(`building the container spec: group "${groupPart}" not found in the image's /etc/group`);
    return { uid, gid: g.gid };
  }
  const gid = entry?.gid ?? 0;
  const name = entry?.name;
  const extra =
    name === undefined
      ? []
      : [...new Set(groups.filter((g) => g.members.includes(name) && g.gid !== gid).map((g) => g.gid))];
  return extra.length > 0 ? { uid, gid, additionalGids: extra } : { uid, gid };
}

// ---------------------------------------------------------------------------------------------------
// Capabilities.

function normalizeCap(name: string): string {
  const upper = name.toUpperCase();
  if (upper === "ALL") return "ALL";
  const cap = upper.startsWith("CAP_") ? upper : `CAP_${upper}`;
  if (!ALL_CAPABILITIES.includes(cap))
    throw invalid(`building the container spec: unknown capability "${name}"`);
  return cap;
}

/** moby `caps.TweakCapabilities`: add ALL = everything but the drops; drop ALL = only the adds. */
export function tweakCapabilities(add: readonly string[], drop: readonly string[]): string[] {
  const adds = add.map(normalizeCap);
  const drops = drop.map(normalizeCap);
  let caps: string[];
  if (adds.includes("ALL")) caps = ALL_CAPABILITIES.filter((x) => !drops.includes(x));
  else if (drops.includes("ALL")) caps = adds;
  else caps = [...DEFAULT_CAPABILITIES.filter((x) => !drops.includes(x)), ...adds];
  return [...new Set(caps)];
}

// ---------------------------------------------------------------------------------------------------
// Resources, mounts, limits.

function resourcesOf(r: ContainerResources): SpecResources {
  const out: SpecResources = { devices: defaultDeviceCgroup() };
  const positive = (what: string, v: number | undefined): void => {
    if (v !== undefined && (!Number.isFinite(v) || v <= 0))
      throw invalid(`building the container spec: ${what} must be positive, got ${v}`);
  };
  positive("memory", r.memory);
  positive("cpus", r.cpus);
  positive("cpu shares", r.cpuShares);
  if (r.memory !== undefined || r.memorySwap !== undefined) {
    if (r.memorySwap !== undefined && r.memorySwap !== -1) {
      if (r.memory === undefined)
        throw invalid("building the container spec: memory swap needs a memory limit too (as in Docker)");
      if (r.memorySwap < r.memory)
        throw invalid(
          `building the container spec: memory swap (${r.memorySwap}) must be at least the memory limit (${r.memory})`,
        );
    }
    out.memory = {
      ...(r.memory !== undefined ? { limit: r.memory } : {}),
      swap: r.memorySwap ?? (r.memory === undefined ? -1 : r.memory * 2),
    };
  }
  if (r.cpus !== undefined || r.cpuShares !== undefined || r.cpusetCpus !== undefined) {
    out.cpu = {
      ...(r.cpuShares !== undefined ? { shares: r.cpuShares } : {}),
      ...(r.cpus !== undefined ? { quota: Math.round(r.cpus * CPU_PERIOD_US), period: CPU_PERIOD_US } : {}),
      ...(r.cpusetCpus !== undefined ? { cpus: r.cpusetCpus } : {}),
    };
  }
  if (r.pidsLimit !== undefined && r.pidsLimit > 0) out.pids = { limit: r.pidsLimit };
  return out;
}

/** The cgroup controllers a spec's limits need (the device rules need none on v2: runc uses eBPF). */
export function cgroupControllersNeeded(r: SpecResources): string[] {
  const out: string[] = [];
  if (r.memory?.limit !== undefined || (r.memory?.swap !== undefined && r.memory.swap !== -1))
    out.push("memory");
  if (r.cpu?.shares !== undefined || r.cpu?.quota !== undefined) out.push("cpu");
  if (r.cpu?.cpus !== undefined) out.push("cpuset");
  if (r.pids !== undefined) out.push("pids");
  return out;
}

/** Docker's tmpfs defaults (`noexec,nosuid,nodev`); a given option overrides its opposite. */
function tmpfsMount(target: string, options: string): SpecMount {
  if (!target.startsWith("/"))
    throw invalid(`building the container spec: tmpfs target "${target}" is not an absolute path`);
  const given = options.split(",").filter((o) => o !== "");
  const opposite: Record<string, string> = { exec: "noexec", suid: "nosuid", dev: "nodev" };
  const defaults = ["noexec", "nosuid", "nodev"].filter(
    (d) => !given.some((g) => g === d || opposite[g] === d),
  );
  return {
    destination: posix.normalize(target),
    type: "tmpfs",
    source: "tmpfs",
    options: [...defaults, ...given],
  };
}

function rlimitOf(u: Ulimit): { type: string; soft: number; hard: number } {
  const name = u.name.toUpperCase().replace(/^RLIMIT_/, "");
  const known = [
    "AS",
    "CORE",
    "CPU",
    "DATA",
    "FSIZE",
    "LOCKS",
    "MEMLOCK",
    "MSGQUEUE",
    "NICE",
    "NOFILE",
    "NPROC",
    "RSS",
    "RTPRIO",
    "RTTIME",
    "SIGPENDING",
    "STACK",
  ];
  if (!known.includes(name)) throw invalid(`building the container spec: unknown ulimit "${u.name}"`);
  if (u.soft > u.hard)
    throw invalid(
      `building the container spec: ulimit ${u.name}: soft limit ${u.soft} exceeds hard limit ${u.hard}`,
    );
  return { type: `RLIMIT_${name}`, soft: u.soft, hard: u.hard };
}

/** moby `daemon/oci_linux.go` validation: only sysctls the container's own namespaces isolate. */
function checkSysctls(sysctls: Readonly<Record<string, string>>): Record<string, string> {
  const namespaced =
    /^(?:kernel\.(?:msgmax|msgmnb|msgmni|sem|shmall|shmmax|shmmni|shm_rmid_forced)|fs\.mqueue\..+|net\..+)$/;
  for (const key of Object.keys(sysctls))
    if (!namespaced.test(key))
      throw invalid(
        `building the container spec: sysctl "${key}" is not namespaced and would change the host`,
      );
  return { ...sysctls };
}

// ---------------------------------------------------------------------------------------------------
// Seccomp.

interface ProfileFilter {
  readonly caps?: readonly string[];
  readonly arches?: readonly string[];
  readonly minKernel?: string;
}

interface ProfileRule {
  readonly names: readonly string[];
  readonly action: string;
  readonly errnoRet?: number;
  readonly args?: readonly { index: number; value: number; valueTwo?: number; op: string }[];
  readonly comment?: string;
  readonly includes?: ProfileFilter;
  readonly excludes?: ProfileFilter;
}

/** moby's seccomp profile format (see README.md next to the JSON for its origin). */
interface SeccompProfile {
  readonly defaultAction: string;
  readonly defaultErrnoRet?: number;
  readonly archMap: readonly { architecture: string; subArchitectures: readonly string[] | null }[];
  readonly syscalls: readonly ProfileRule[];
}

const seccompDefault: SeccompProfile = seccompDefaultJson;

/** Node `process.arch` → Go's GOARCH (the profile's `arches`) and libseccomp's native arch. */
const ARCHES: Readonly<Record<string, { goArch: string; native: string }>> = {
  x64: { goArch: "amd64", native: "SCMP_ARCH_X86_64" },
  arm64: { goArch: "arm64", native: "SCMP_ARCH_AARCH64" },
  s390x: { goArch: "s390x", native: "SCMP_ARCH_S390X" },
  riscv64: { goArch: "riscv64", native: "SCMP_ARCH_RISCV64" },
};

function kernelAtLeast(release: string, min: string): boolean {
  const parse = (v: string): number[] => (/^(\d+)\.(\d+)/.exec(v) ?? []).slice(1, 3).map(Number);
  const [a = 0, b = 0] = parse(release);
  const [x = 0, y = 0] = parse(min);
  return a !== x ? a > x : b >= y;
}

/**
 * moby `profiles/seccomp.setupSeccomp`: keeps the rules whose `includes` all hold and whose
 * `excludes` do not, for the container's bounding capabilities, the node's architecture and kernel.
 */
export function defaultSeccomp(caps: readonly string[], arch: string, kernelVersion?: string): SpecSeccomp {
  const a = ARCHES[arch];
  if (a === undefined)
    throw invalid(`building the container spec: no seccomp profile for architecture "${arch}"`);
  const kernelOk = (min: string | undefined): boolean =>
    min === undefined || kernelVersion === undefined || kernelAtLeast(kernelVersion, min);
  const syscalls: SeccompRule[] = [];
  for (const rule of seccompDefault.syscalls) {
    const inc = rule.includes ?? {};
    const exc = rule.excludes ?? {};
    if (inc.arches !== undefined && !inc.arches.includes(a.goArch)) continue;
    if (inc.caps !== undefined && !inc.caps.every((c) => caps.includes(c))) continue;
    if (inc.minKernel !== undefined && !kernelOk(inc.minKernel)) continue;
    if (exc.arches?.includes(a.goArch) === true) continue;
    if (exc.caps?.some((c) => caps.includes(c)) === true) continue;
    if (
      exc.minKernel !== undefined &&
      kernelVersion !== undefined &&
      kernelAtLeast(kernelVersion, exc.minKernel)
    )
      continue;
    syscalls.push({
      names: [...rule.names],
      action: rule.action,
      ...(rule.errnoRet !== undefined ? { errnoRet: rule.errnoRet } : {}),
      ...(rule.args !== undefined ? { args: rule.args.map((x) => ({ ...x })) } : {}),
    });
  }
  const architectures = seccompDefault.archMap
    .filter((m) => m.architecture === a.native)
    .flatMap((m) => [m.architecture, ...(m.subArchitectures ?? [])]);
  return {
    defaultAction: seccompDefault.defaultAction,
    ...(seccompDefault.defaultErrnoRet !== undefined
      ? { defaultErrnoRet: seccompDefault.defaultErrnoRet }
      : {}),
    architectures,
    syscalls,
  };
}
