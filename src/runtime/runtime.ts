/**
 * The runtime interface: the engine on one node, shaped like dockerode (and so like the Docker Engine
 * API), with two implementations: the embedded one (src/runtime/embedded.ts: tsstack's image store +
 * overlayfs + runc + conmon) and, later, one driving a real Docker Engine through dockerode. The
 * contract suite (test/contract) runs against every implementation.
 *
 * Field names follow the Engine API (v1.41) so that the daemon serves these objects as they are and
 * Docker clients read them unchanged.
 */
import type { Readable } from "node:stream";
import type {
  NetworkCreateOptions,
  NetworkCreateResult,
  NetworkFilters,
  NetworkInspect,
  NetworkPruneResult,
} from "../network/types.js";
import type {
  VolumeCreateOptions,
  VolumeInspect,
  VolumeListResult,
  VolumePruneResult,
} from "../volumes/manager.js";

/** Body of `POST /containers/create` (the parts tsstack acts on), plus `name`. */
export interface ContainerCreateOptions {
  /** Unique name, Docker's rules: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`. Default: a generated one. */
  readonly name?: string;
  readonly Image: string;
  readonly Cmd?: readonly string[] | null;
  readonly Entrypoint?: readonly string[] | null;
  readonly Env?: readonly string[] | null;
  readonly WorkingDir?: string;
  readonly User?: string;
  readonly Hostname?: string;
  readonly Labels?: Readonly<Record<string, string>> | null;
  readonly Tty?: boolean;
  readonly OpenStdin?: boolean;
  readonly StopSignal?: string;
  /** Seconds; default 10. */
  readonly StopTimeout?: number;
  /** Overrides the image's HEALTHCHECK; absent = the image's. */
  readonly Healthcheck?: HealthConfig;
  readonly HostConfig?: HostConfig;
  readonly ExposedPorts?: Readonly<Record<string, object>>;
  /** Per-network endpoint settings, keyed by network name (Docker's create body). */
  readonly NetworkingConfig?: {
    readonly EndpointsConfig?: Readonly<
      Record<
        string,
        {
          readonly Aliases?: readonly string[] | null;
          readonly IPAMConfig?: { readonly IPv4Address?: string } | null;
        }
      >
    >;
  };
}

export interface HostConfig {
  readonly Memory?: number;
  readonly MemorySwap?: number;
  readonly NanoCpus?: number;
  readonly CpuShares?: number;
  readonly CpusetCpus?: string;
  readonly PidsLimit?: number | null;
  readonly ReadonlyRootfs?: boolean;
  readonly Tmpfs?: Readonly<Record<string, string>>;
  readonly CapAdd?: readonly string[] | null;
  readonly CapDrop?: readonly string[] | null;
  readonly Privileged?: boolean;
  readonly Sysctls?: Readonly<Record<string, string>>;
  readonly Ulimits?:
    readonly { readonly Name: string; readonly Soft: number; readonly Hard: number }[] | null;
  readonly Devices?:
    | readonly {
        readonly PathOnHost: string;
        readonly PathInContainer: string;
        readonly CgroupPermissions?: string;
      }[]
    | null;
  readonly ShmSize?: number;
  readonly Init?: boolean | null;
  /** `no-new-privileges:false` opts out of tsstack's default; other entries are refused. */
  readonly SecurityOpt?: readonly string[] | null;
  /** Remove the container when it exits (`--rm`). */
  readonly AutoRemove?: boolean;
  /** `none` (default for the embedded runtime until networks exist), `host`. */
  readonly NetworkMode?: string;
  readonly RestartPolicy?: { readonly Name: string; readonly MaximumRetryCount?: number };
  /** `"80/tcp": [{ HostIp: "127.0.0.1", HostPort: "8080" }]`; an empty HostPort picks a free port. */
  readonly PortBindings?: Readonly<
    Record<string, readonly { readonly HostIp?: string; readonly HostPort?: string }[] | null>
  >;
  /** `source:target[:options]`: a host path (absolute) or a named volume. */
  readonly Binds?: readonly string[] | null;
  readonly Mounts?: readonly MountSpec[] | null;
  readonly Dns?: readonly string[] | null;
  readonly DnsSearch?: readonly string[] | null;
  readonly ExtraHosts?: readonly string[] | null;
}

/** A container's healthcheck (Docker's HealthConfig); durations in nanoseconds, 0 or absent = the default. */
export interface HealthConfig {
  /** `["CMD", prog, ...args]`, `["CMD-SHELL", "command"]`, `["NONE"]` (disabled); absent = the image's. */
  readonly Test?: readonly string[];
  readonly Interval?: number;
  readonly Timeout?: number;
  /** Consecutive failures before `unhealthy`. */
  readonly Retries?: number;
  readonly StartPeriod?: number;
  readonly StartInterval?: number;
}

/** An entry of HostConfig.Mounts (Docker's long form). */
export interface MountSpec {
  readonly Type: "bind" | "volume" | "tmpfs";
  readonly Source?: string;
  readonly Target: string;
  readonly ReadOnly?: boolean;
  readonly BindOptions?: { readonly Propagation?: string; readonly CreateMountpoint?: boolean };
  readonly VolumeOptions?: {
    readonly NoCopy?: boolean;
    readonly Labels?: Readonly<Record<string, string>>;
    readonly Subpath?: string;
    readonly DriverConfig?: { readonly Name?: string; readonly Options?: Readonly<Record<string, string>> };
  };
  readonly TmpfsOptions?: { readonly SizeBytes?: number; readonly Mode?: number };
}

export type ContainerStatus =
  "created" | "running" | "paused" | "restarting" | "removing" | "exited" | "dead";

export interface ContainerState {
  Status: ContainerStatus;
  Running: boolean;
  Paused: boolean;
  Restarting: boolean;
  OOMKilled: boolean;
  Dead: boolean;
  Pid: number;
  ExitCode: number;
  Error: string;
  /** RFC 3339 with nanoseconds; `0001-01-01T00:00:00Z` when never. */
  StartedAt: string;
  FinishedAt: string;
  /** Present only for containers with a healthcheck. */
  Health?: {
    Status: "starting" | "healthy" | "unhealthy";
    /** Consecutive failed checks. */
    FailingStreak: number;
    /** The most recent checks, oldest first. */
    Log: { Start: string; End: string; ExitCode: number; Output: string }[];
  };
}

export interface MountPoint {
  Type: "bind" | "volume" | "tmpfs";
  /** Volume mounts: the volume's name (Docker's list and inspect show it). */
  Name?: string;
  Source: string;
  Destination: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
}

/** `GET /containers/{id}/json`. */
export interface ContainerInspect {
  Id: string;
  Created: string;
  Path: string;
  Args: string[];
  State: ContainerState;
  Image: string;
  ResolvConfPath: string;
  HostnamePath: string;
  HostsPath: string;
  LogPath: string;
  Name: string;
  RestartCount: number;
  Driver: string;
  Platform: string;
  Config: {
    Hostname: string;
    User: string;
    Env: string[];
    Cmd: string[] | null;
    Entrypoint: string[] | null;
    Image: string;
    WorkingDir: string;
    Labels: Record<string, string>;
    Tty: boolean;
    OpenStdin: boolean;
    StopSignal: string;
    StopTimeout: number;
  };
  HostConfig: HostConfig;
  GraphDriver: { Name: string; Data: Record<string, string> };
  Mounts: MountPoint[];
  NetworkSettings: {
    Networks: Record<
      string,
      { IPAddress: string; Gateway: string; MacAddress: string; Aliases: string[] | null }
    >;
    Ports: Record<string, { HostIp: string; HostPort: string }[] | null>;
    IPAddress: string;
    Gateway: string;
    MacAddress: string;
  };
}

/** An entry of `GET /containers/json`. */
export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  Command: string;
  /** Unix seconds. */
  Created: number;
  State: ContainerStatus;
  /** `Up 3 seconds`, `Exited (0) 2 minutes ago`, `Created`. */
  Status: string;
  Labels: Record<string, string>;
  Ports: { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[];
  Mounts: MountPoint[];
}

export interface ListContainersOptions {
  /** Include stopped containers. Default false. */
  readonly all?: boolean;
  /** Docker's filters: `label` (`k` or `k=v`), `name`, `id`, `status`. All given must match. */
  readonly filters?: Readonly<Record<string, readonly string[]>>;
}

export interface LogsOptions {
  readonly follow?: boolean;
  readonly stdout?: boolean;
  readonly stderr?: boolean;
  /** Unix seconds (fractional allowed). */
  readonly since?: number;
  readonly until?: number;
  readonly timestamps?: boolean;
  /** Number of lines from the end, or `all`. */
  readonly tail?: number | "all";
  /** Ends a follow. */
  readonly signal?: AbortSignal;
}

export interface LogEntry {
  readonly stream: "stdout" | "stderr";
  /** RFC 3339 with nanoseconds, as conmon wrote it. */
  readonly time: string;
  /** One line, or a part of a long line; ends with `\n` when the line ended. */
  readonly line: Buffer;
}

export interface ExecOptions {
  readonly Cmd: readonly string[];
  readonly Env?: readonly string[];
  readonly User?: string;
  readonly WorkingDir?: string;
  readonly Tty?: boolean;
  readonly Privileged?: boolean;
}

/** A running exec: streams are raw (with a TTY, stdout carries everything). */
export interface ExecProcess {
  readonly stdin: NodeJS.WritableStream;
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** Resolves with the exit code when the process ends. */
  readonly exit: Promise<number>;
  resize?(size: { readonly rows: number; readonly columns: number }): void;
  /** Ends the process (SIGKILL), e.g. a healthcheck probe over its timeout. */
  kill?(): void;
  /**
   * The process's host pid once it runs (Docker's exec inspect `Pid`), kept after it ends; undefined
   * before it is known or where the runtime cannot tell.
   */
  pid?(): number | undefined;
}

/** Docker's stat of a path in a container (`X-Docker-Container-Path-Stat`). */
export interface ContainerPathStat {
  /** The name the archive's top entry gets. */
  readonly name: string;
  readonly size: number;
  /** Go `os.FileMode`: permission bits plus type bits (`ModeDir` = 1<<31, `ModeSymlink` = 1<<27, …). */
  readonly mode: number;
  /** RFC 3339 with nanoseconds. */
  readonly mtime: string;
  /** Target of a symlink, else "". */
  readonly linkTarget: string;
}

export interface ContainerStats {
  read: string;
  cpu_stats: {
    cpu_usage: { total_usage: number };
    system_cpu_usage: number;
    online_cpus: number;
  };
  precpu_stats: {
    cpu_usage: { total_usage: number };
    system_cpu_usage: number;
    online_cpus: number;
  };
  memory_stats: { usage: number; limit: number; max_usage?: number };
  pids_stats: { current: number; limit?: number };
}

export interface TopResult {
  Titles: string[];
  Processes: string[][];
}

export interface CommitOptions {
  readonly repo?: string;
  readonly tag?: string;
  readonly comment?: string;
  readonly author?: string;
  /** Dockerfile instructions (`CMD ["x"]`, `ENV A=b`, …) applied to the new image's config. */
  readonly changes?: readonly string[];
  /** Pause the container while committing (default true, as Docker). */
  readonly pause?: boolean;
}

export interface WaitResult {
  StatusCode: number;
  Error?: { Message: string };
}

/** A container handle; like dockerode, getting one does no I/O and an unknown id fails on use. */
export interface Container {
  /** The id or name it was got by (resolved on each call). */
  readonly id: string;
  inspect(): Promise<ContainerInspect>;
  start(): Promise<void>;
  /** Stop signal, then SIGKILL after `t` seconds (default the container's StopTimeout). */
  stop(opts?: { readonly t?: number; readonly signal?: string }): Promise<void>;
  restart(opts?: { readonly t?: number }): Promise<void>;
  kill(opts?: { readonly signal?: string }): Promise<void>;
  pause(): Promise<void>;
  unpause(): Promise<void>;
  remove(opts?: { readonly force?: boolean; readonly v?: boolean }): Promise<void>;
  /** `not-running` (default), `next-exit`, `removed`. */
  wait(opts?: { readonly condition?: "not-running" | "next-exit" | "removed" }): Promise<WaitResult>;
  logs(opts?: LogsOptions): AsyncIterable<LogEntry>;
  exec(opts: ExecOptions): Promise<ExecProcess>;
  top(opts?: { readonly ps_args?: string }): Promise<TopResult>;
  stats(): Promise<ContainerStats>;
  /** Tar of the whole filesystem (`docker export`). */
  export(): Promise<Readable>;
  commit(opts?: CommitOptions): Promise<{ Id: string }>;
  /** Tar of a path inside the container (`docker cp ctr:path -`). */
  getArchive(opts: { readonly path: string }): Promise<Readable>;
  /**
   * What a path inside the container is (`HEAD /containers/{id}/archive`, dockerode's `infoArchive`),
   * resolved like `getArchive`. Throws `container/path-not-found`.
   */
  infoArchive(opts: { readonly path: string }): Promise<ContainerPathStat>;
  /** Extract a tar into a directory inside the container (`docker cp - ctr:path`). */
  putArchive(tar: Readable, opts: { readonly path: string }): Promise<void>;
  /**
   * The main process's streams from now on (`docker attach`, `run` without `-d`): output until the
   * container stops; stdin only for containers created with OpenStdin. With a TTY, stdout carries
   * everything.
   */
  attach(opts?: { readonly stdin?: boolean; readonly signal?: AbortSignal }): Promise<ExecProcess>;
  /** Docker's rename (`POST /containers/{id}/rename`); optional: implementations may lack it. */
  rename?(opts: { readonly name: string }): Promise<void>;
}

export interface RuntimeEvent {
  Type: "container" | "image";
  /** `create`, `start`, `die`, `oom`, `stop`, `kill`, `pause`, `unpause`, `destroy`, `exec_start`, … */
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  /** Unix seconds and nanoseconds. */
  time: number;
  timeNano: number;
}

export interface Runtime {
  createContainer(opts: ContainerCreateOptions): Promise<Container>;
  getContainer(idOrName: string): Container;
  listContainers(opts?: ListContainersOptions): Promise<ContainerSummary[]>;
  /** Live events from now on, until the signal aborts. */
  getEvents(opts?: { readonly signal?: AbortSignal }): AsyncIterable<RuntimeEvent>;
}

/** Docker's filters: every key given must match; within a key, any value. */
export type ObjectFilters = Readonly<Record<string, readonly string[]>>;

/**
 * The engine's networks and volumes (Docker's `/networks` and `/volumes`), apart from `Runtime`: the
 * embedded engine and `ApiClient` have them, other runtimes (test doubles, a Docker-backed one) may
 * not, so every member is optional and the daemon answers 501 for a runtime without them. Errors use
 * the codes `network/…` and `volume/…` (`not-found`, `in-use`, `conflict`, `invalid-…`).
 */
export interface NetworkVolumeOps {
  createNetwork?(opts: NetworkCreateOptions): Promise<NetworkCreateResult>;
  /** Filters: name (substring), id (prefix), label, driver, type, scope, dangling, until. */
  listNetworks?(opts?: { readonly filters?: NetworkFilters }): Promise<NetworkInspect[]>;
  /** By id, unique id prefix or name. */
  inspectNetwork?(idOrName: string): Promise<NetworkInspect>;
  /** `network/in-use` while containers have endpoints on it. */
  removeNetwork?(idOrName: string): Promise<void>;
  /** Every network without endpoints (but the default `bridge`); filters: label, until. */
  pruneNetworks?(opts?: { readonly filters?: NetworkFilters }): Promise<NetworkPruneResult>;
  /** An existing volume of the same name is returned as it is. */
  createVolume?(opts?: VolumeCreateOptions): Promise<VolumeInspect>;
  /** Filters: name (regular expression), label, driver, dangling. */
  listVolumes?(opts?: { readonly filters?: ObjectFilters }): Promise<VolumeListResult>;
  inspectVolume?(name: string): Promise<VolumeInspect>;
  /** `volume/in-use` while a container (running or not) uses it; `force`: a missing one is no error. */
  removeVolume?(name: string, opts?: { readonly force?: boolean }): Promise<void>;
  /** Unused anonymous volumes, or every unused one with the filter `all=true`; filters: label, label!. */
  pruneVolumes?(opts?: { readonly filters?: ObjectFilters }): Promise<VolumePruneResult>;
}

/**
 * Error codes (TsstackError.code) every implementation uses, so the daemon maps them to HTTP statuses
 * as Docker does: `container/not-found`, `image/not-found` (404); `container/conflict` (name in use,
 * removing a running container without force), `container/not-running`, `container/paused` (409);
 * `container/invalid-config` and other `…/invalid…` (400).
 */
export const ERROR_HTTP_STATUS: readonly (readonly [RegExp, number])[] = [
  [/\/not-found$/, 404],
  [/\/(conflict|not-running|paused|in-use)$/, 409],
  [/\/invalid/, 400],
];

/** A container name must start with a letter or digit and continue with those or `_.-` (Docker). */
export const CONTAINER_NAME_RE = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
