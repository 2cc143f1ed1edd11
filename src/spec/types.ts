/**
 * The typed, normalized stack model (`StackSpec`): what every later part of tsstack reads.
 *
 * It is the Compose model with every short syntax expanded to its long form (see `normalize.ts`), so
 * consumers never branch on "string or mapping". Keys keep their Compose snake_case names so the model
 * reads like the file. Units are fixed:
 * - durations are numbers of **milliseconds** (fractional below 1 ms);
 * - byte sizes are numbers of **bytes**;
 * - file modes are numbers (the permission bits, e.g. 0o440);
 * - paths on the host are absolute.
 *
 * Optional fields are absent when the file does not set them; a documented default then applies.
 * Every object the Compose spec lets carry `x-*` keys keeps them in `extensions`.
 *
 * `canonical.ts` renders this model back to the form `docker compose config` prints.
 */

/** `x-*` keys of one object, with their values as written. Present only when there is at least one. */
export type Extensions = Readonly<Record<`x-${string}`, unknown>>;

/** A string map (labels, sysctls, driver options…): every value is a string, numbers and booleans as written. */
export type StringMap = Readonly<Record<string, string>>;

/** The whole stack after loading: the Compose project. */
export interface StackSpec {
  /** Project name: prefixes resource names (`<name>_<network>`), labels every object tsstack creates. */
  readonly name: string;
  /** Services by name, in declaration order. */
  readonly services: Readonly<Record<string, ServiceSpec>>;
  /** Networks by key. Includes the implicit `default` network when a service uses it. */
  readonly networks: Readonly<Record<string, NetworkSpec>>;
  /** Named volumes by key. */
  readonly volumes: Readonly<Record<string, VolumeSpec>>;
  readonly secrets: Readonly<Record<string, SecretSpec>>;
  readonly configs: Readonly<Record<string, ConfigSpec>>;
  /** AI models (`models:`), by key. */
  readonly models: Readonly<Record<string, ModelSpec>>;
  /** Top-level `x-*` keys. */
  readonly extensions?: Extensions;
}

/** One service: a program run as one or more identical containers (replicas). */
export interface ServiceSpec {
  /** Profiles that enable this service; absent = always enabled. */
  readonly profiles?: readonly string[];
  readonly annotations?: StringMap;
  /** Attach to the service's log output in `up` (default true). */
  readonly attach?: boolean;
  /** How to build the image. Absent = the image is pulled. */
  readonly build?: BuildSpec;
  readonly develop?: DevelopSpec;
  readonly blkio_config?: BlkioConfigSpec;
  readonly cap_add?: readonly string[];
  readonly cap_drop?: readonly string[];
  readonly cgroup_parent?: string;
  /** `host` or `private` cgroup namespace (default: the engine's). */
  readonly cgroup?: string;
  readonly cpu_count?: number;
  readonly cpu_percent?: number;
  /** CFS period in microseconds. */
  readonly cpu_period?: number;
  /** CFS quota in microseconds. */
  readonly cpu_quota?: number;
  /** Real-time period in microseconds. */
  readonly cpu_rt_period?: number;
  /** Real-time runtime in microseconds. */
  readonly cpu_rt_runtime?: number;
  /** Number of CPUs (fractional). */
  readonly cpus?: number;
  readonly cpuset?: string;
  readonly cpu_shares?: number;
  /**
   * Overrides the image's CMD. A string in the file is split like a POSIX shell would (no expansion).
   * Absent = the image's CMD; `[]` = explicitly empty (clears the image's CMD).
   */
  readonly command?: readonly string[];
  readonly configs?: readonly FileMountSpec[];
  /** Fixed container name; such a service can have only one replica. */
  readonly container_name?: string;
  readonly credential_spec?: CredentialSpec;
  /** Services to start first, by name. Links and `service:` references add implicit entries. */
  readonly depends_on?: Readonly<Record<string, DependsOnSpec>>;
  readonly deploy?: DeploySpec;
  readonly device_cgroup_rules?: readonly string[];
  readonly devices?: readonly DeviceMappingSpec[];
  readonly dns?: readonly string[];
  readonly dns_opt?: readonly string[];
  readonly dns_search?: readonly string[];
  readonly domainname?: string;
  /** Overrides the image's ENTRYPOINT; same splitting and `[]` rule as `command`. */
  readonly entrypoint?: readonly string[];
  /** Delegates the service's lifecycle to an external provider. */
  readonly provider?: ProviderSpec;
  /**
   * The container's environment, resolved: values from `env_file` (in order) overridden by `environment`;
   * `KEY` entries without a value took their value from the loader's environment and were dropped when
   * it does not define them.
   */
  readonly environment?: StringMap;
  /** The files `environment` was read from (already applied; kept for display and drift). */
  readonly env_file?: readonly EnvFileSpec[];
  /** Container ports exposed to other services without publishing: `"80"`, `"8000-8010/udp"`. */
  readonly expose?: readonly string[];
  readonly external_links?: readonly string[];
  /** Extra `/etc/hosts` entries as `host=ip`, one per address (compose-go's rendering). */
  readonly extra_hosts?: readonly string[];
  readonly group_add?: readonly string[];
  readonly gpus?: readonly DeviceRequestSpec[];
  readonly hostname?: string;
  readonly healthcheck?: HealthcheckSpec;
  /** Image reference. Absent with `build`: the image is named `<project>-<service>`. */
  readonly image?: string;
  /** Run an init process as PID 1 (default: the engine's default, off). */
  readonly init?: boolean;
  readonly ipc?: string;
  readonly isolation?: string;
  /** Container labels, resolved: values from `label_file` overridden by `labels`. */
  readonly labels?: StringMap;
  /** The files labels were read from (already applied). */
  readonly label_file?: readonly string[];
  readonly links?: readonly string[];
  readonly logging?: LoggingSpec;
  readonly mac_address?: string;
  /** Memory limit, in bytes. */
  readonly mem_limit?: number;
  /** Memory soft limit, in bytes. */
  readonly mem_reservation?: number;
  /** Memory + swap limit, in bytes; -1 = unlimited swap. */
  readonly memswap_limit?: number;
  /** Swappiness, 0–100. */
  readonly mem_swappiness?: number;
  /** Models the service uses; `null` = defaults. */
  readonly models?: Readonly<Record<string, ServiceModelSpec | null>>;
  /** `bridge`, `host`, `none`, `service:<name>` or `container:<id>`. Excludes `networks`. */
  readonly network_mode?: string;
  /**
   * Networks to attach to, by top-level key; `null` = attached with default settings. With neither this
   * nor `network_mode`, the service is attached to `default` (added by normalization).
   */
  readonly networks?: Readonly<Record<string, ServiceNetworkSpec | null>>;
  readonly oom_kill_disable?: boolean;
  readonly oom_score_adj?: number;
  readonly pid?: string;
  /** Maximum number of PIDs; -1 = unlimited. */
  readonly pids_limit?: number;
  readonly platform?: string;
  /** Published / exposed ports, one entry per container port (ranges are expanded). */
  readonly ports?: readonly PortSpec[];
  readonly post_start?: readonly ServiceHookSpec[];
  /** Run before the containers start (once, or once per replica with `per_replica`). */
  readonly pre_start?: readonly PreStartHookSpec[];
  readonly pre_stop?: readonly ServiceHookSpec[];
  readonly privileged?: boolean;
  /** `always`, `never`, `missing` (`if_not_present` is normalized to this), `build`, `daily`, `weekly`, `every_<duration>`. Default: `missing`. */
  readonly pull_policy?: string;
  /** With `pull_policy: refresh`: age after which the image is pulled again, in milliseconds. */
  readonly pull_refresh_after?: number;
  readonly read_only?: boolean;
  /** `no` (default), `always`, `on-failure[:max]`, `unless-stopped`. */
  readonly restart?: string;
  readonly runtime?: string;
  /** Number of replicas (takes precedence over `deploy.replicas`; both must agree when both are set). Default 1. */
  readonly scale?: number;
  readonly secrets?: readonly FileMountSpec[];
  readonly security_opt?: readonly string[];
  /** Size of /dev/shm, in bytes. */
  readonly shm_size?: number;
  readonly stdin_open?: boolean;
  /** Time between the stop signal and SIGKILL, in milliseconds (default 10 000). */
  readonly stop_grace_period?: number;
  /** Default SIGTERM (or the image's STOPSIGNAL). */
  readonly stop_signal?: string;
  readonly storage_opt?: StringMap;
  readonly sysctls?: StringMap;
  /** tmpfs mounts: `/path[:options]`. */
  readonly tmpfs?: readonly string[];
  readonly tty?: boolean;
  readonly ulimits?: Readonly<Record<string, UlimitSpec>>;
  readonly use_api_socket?: boolean;
  readonly user?: string;
  readonly userns_mode?: string;
  readonly uts?: string;
  readonly volumes?: readonly VolumeMountSpec[];
  readonly volumes_from?: readonly string[];
  readonly working_dir?: string;
  readonly extensions?: Extensions;
}

/** How to build a service's image. */
export interface BuildSpec {
  /** Absolute path of the build context, or a URL (git, https, `docker-image://`…) kept as written. Default: the project directory. */
  readonly context: string;
  /** Dockerfile, relative to the context. Default `Dockerfile` unless `dockerfile_inline` is set. */
  readonly dockerfile?: string;
  readonly dockerfile_inline?: string;
  readonly entitlements?: readonly string[];
  /** Build arguments; a bare `KEY` took its value from the loader's environment (dropped when unset). */
  readonly args?: StringMap;
  readonly provenance?: string | boolean;
  readonly sbom?: string | boolean;
  readonly ssh?: readonly SshKeySpec[];
  readonly labels?: StringMap;
  readonly cache_from?: readonly string[];
  readonly cache_to?: readonly string[];
  readonly no_cache?: boolean;
  /** Stages built without cache. */
  readonly no_cache_filter?: readonly string[];
  /** Named contexts: absolute paths, or URLs / `service:` / `docker-image://` references as written. */
  readonly additional_contexts?: StringMap;
  readonly pull?: boolean;
  /** `host=ip` entries, like the service's `extra_hosts`. */
  readonly extra_hosts?: readonly string[];
  readonly isolation?: string;
  readonly network?: string;
  readonly target?: string;
  readonly secrets?: readonly FileMountSpec[];
  /** Size of /dev/shm for build containers, in bytes. */
  readonly shm_size?: number;
  readonly tags?: readonly string[];
  readonly ulimits?: Readonly<Record<string, UlimitSpec>>;
  readonly platforms?: readonly string[];
  readonly privileged?: boolean;
  readonly extensions?: Extensions;
}

/** An SSH agent socket or key exposed to the build: `default`, or `id=path`. */
export interface SshKeySpec {
  readonly id: string;
  /** Socket or key path; absent = the default agent socket. */
  readonly path?: string;
}

/** `develop:` (compose watch). */
export interface DevelopSpec {
  readonly watch?: readonly WatchRuleSpec[];
  readonly extensions?: Extensions;
}

export interface WatchRuleSpec {
  /** Absolute host path watched. */
  readonly path: string;
  /** `rebuild`, `sync`, `restart`, `sync+restart`, `sync+exec`. */
  readonly action: string;
  readonly target?: string;
  readonly ignore?: readonly string[];
  readonly include?: readonly string[];
  readonly exec?: ServiceHookSpec;
  readonly initial_sync?: boolean;
  readonly extensions?: Extensions;
}

export interface BlkioConfigSpec {
  /** Relative weight, 10–1000. */
  readonly weight?: number;
  readonly weight_device?: readonly { readonly path: string; readonly weight: number }[];
  /** Rates in bytes per second. */
  readonly device_read_bps?: readonly BlkioRateSpec[];
  /** Rates in operations per second. */
  readonly device_read_iops?: readonly BlkioRateSpec[];
  /** Rates in bytes per second. */
  readonly device_write_bps?: readonly BlkioRateSpec[];
  /** Rates in operations per second. */
  readonly device_write_iops?: readonly BlkioRateSpec[];
}

export interface BlkioRateSpec {
  readonly path: string;
  readonly rate: number;
}

/** A reference from a service (or a build) to a top-level secret or config. */
export interface FileMountSpec {
  /** Key of the top-level secret/config. */
  readonly source: string;
  /**
   * Where it appears in the container. Secrets default to `/run/secrets/<source>` (set by normalization);
   * configs default to `/<source>` (absent here, applied by the runtime).
   */
  readonly target?: string;
  readonly uid?: string;
  readonly gid?: string;
  /** Permission bits (e.g. 0o440). Default 0o444. */
  readonly mode?: number;
  readonly extensions?: Extensions;
}

export interface CredentialSpec {
  readonly config?: string;
  readonly file?: string;
  readonly registry?: string;
  readonly extensions?: Extensions;
}

export interface DependsOnSpec {
  /** `service_started`, `service_healthy` or `service_completed_successfully`. Default `service_started`. */
  readonly condition: string;
  /** Restart this service when the dependency is restarted (default false; true for implicit link/namespace dependencies). */
  readonly restart?: boolean;
  /** When false, a dependency that is missing or fails to start is only warned about. Default true. */
  readonly required: boolean;
  readonly extensions?: Extensions;
}

/** `deploy:` — replicas, placement, resources, update and restart policies. */
export interface DeploySpec {
  /** `replicated` (default), `global`, `replicated-job`, `global-job`. */
  readonly mode?: string;
  /** Number of replicas in `replicated` mode. Default 1. */
  readonly replicas?: number;
  /** Labels on the service (not on its containers). */
  readonly labels?: StringMap;
  readonly update_config?: UpdateConfigSpec;
  readonly rollback_config?: UpdateConfigSpec;
  readonly resources?: ResourcesSpec;
  readonly restart_policy?: RestartPolicySpec;
  readonly placement?: PlacementSpec;
  /** `vip` (default) or `dnsrr`. */
  readonly endpoint_mode?: string;
  readonly extensions?: Extensions;
}

export interface UpdateConfigSpec {
  /** Replicas updated at once (default 1; 0 = all at once). */
  readonly parallelism?: number;
  /** Wait between batches, in milliseconds (default 0). */
  readonly delay?: number;
  /** `pause` (default for updates), `continue`, `rollback`. */
  readonly failure_action?: string;
  /** How long to watch each updated replica for failure, in milliseconds. */
  readonly monitor?: number;
  /** Tolerated failure ratio, 0–1 (default 0). */
  readonly max_failure_ratio?: number;
  /** `stop-first` (default) or `start-first`. */
  readonly order?: string;
  readonly extensions?: Extensions;
}

export interface ResourcesSpec {
  readonly limits?: ResourceSpec;
  readonly reservations?: ResourceSpec;
  readonly extensions?: Extensions;
}

export interface ResourceSpec {
  /** Number of CPUs (fractional). */
  readonly cpus?: number;
  /** Memory, in bytes. */
  readonly memory?: number;
  /** Maximum number of PIDs (limits only). */
  readonly pids?: number;
  /** Device requests (reservations only). */
  readonly devices?: readonly DeviceRequestSpec[];
  /** Generic resources (reservations only). */
  readonly generic_resources?: readonly GenericResourceSpec[];
  readonly extensions?: Extensions;
}

/** A request for devices from a driver (GPUs). */
export interface DeviceRequestSpec {
  readonly capabilities?: readonly string[];
  readonly driver?: string;
  /** Number of devices, or `all`. Default `all` when `device_ids` is absent. */
  readonly count?: number | "all";
  readonly device_ids?: readonly string[];
  readonly options?: StringMap;
  readonly extensions?: Extensions;
}

export interface GenericResourceSpec {
  readonly discrete_resource_spec?: {
    readonly kind: string;
    readonly value: number;
    readonly extensions?: Extensions;
  };
  readonly extensions?: Extensions;
}

export interface RestartPolicySpec {
  /** `none`, `on-failure` or `any` (default). */
  readonly condition?: string;
  /** Wait between restart attempts, in milliseconds (default 5 000). */
  readonly delay?: number;
  /** Maximum attempts; absent = unlimited. */
  readonly max_attempts?: number;
  /** Window used to decide whether a restart succeeded, in milliseconds (absent = immediately). */
  readonly window?: number;
  readonly extensions?: Extensions;
}

export interface PlacementSpec {
  /** `node.labels.x==y`-style expressions; all must hold. */
  readonly constraints?: readonly string[];
  readonly preferences?: readonly { readonly spread: string; readonly extensions?: Extensions }[];
  /** At most this many replicas per node (absent = no limit). */
  readonly max_replicas_per_node?: number;
  readonly extensions?: Extensions;
}

export interface DeviceMappingSpec {
  /** Device path on the host. */
  readonly source: string;
  /** Path in the container (short syntax: defaults to `source`). */
  readonly target?: string;
  /** cgroup permissions (short syntax default `rwm`). */
  readonly permissions?: string;
  readonly extensions?: Extensions;
}

export interface ProviderSpec {
  readonly type: string;
  readonly options?: Readonly<
    Record<string, string | number | boolean | readonly (string | number | boolean)[]>
  >;
  readonly extensions?: Extensions;
}

export interface EnvFileSpec {
  /** Absolute path. */
  readonly path: string;
  /** A missing required file is an error; a missing optional one is skipped. Default true. */
  readonly required: boolean;
  /** File format (default: dotenv). */
  readonly format?: string;
}

export interface HealthcheckSpec {
  /**
   * `["CMD", prog, ...args]`, `["CMD-SHELL", "shell command"]` (a string in the file becomes this), or
   * `["NONE"]` (disabled; `disable: true` becomes this). Absent = the image's healthcheck command.
   */
  readonly test?: readonly string[];
  /** Per-check timeout, in milliseconds (default 30 000). */
  readonly timeout?: number;
  /** Time between checks, in milliseconds (default 30 000). */
  readonly interval?: number;
  /** Consecutive failures before unhealthy (default 3). */
  readonly retries?: number;
  /** Grace period after start during which failures do not count, in milliseconds (default 0). */
  readonly start_period?: number;
  /** Time between checks during the start period, in milliseconds (default 5 000). */
  readonly start_interval?: number;
  readonly extensions?: Extensions;
}

export interface LoggingSpec {
  /** Logging driver (default: the engine's, `json-file`). */
  readonly driver?: string;
  readonly options?: StringMap;
  readonly extensions?: Extensions;
}

export interface ServiceModelSpec {
  /** Environment variable set to the model's endpoint. */
  readonly endpoint_var?: string;
  /** Environment variable set to the model's name. */
  readonly model_var?: string;
  readonly extensions?: Extensions;
}

/** How a service joins one network. */
export interface ServiceNetworkSpec {
  /** Higher priority networks are connected first (default 0). */
  readonly priority?: number;
  /** Gateway priority: the highest becomes the default route (default 0). */
  readonly gw_priority?: number;
  /** Extra DNS names for the service on this network. */
  readonly aliases?: readonly string[];
  readonly interface_name?: string;
  readonly ipv4_address?: string;
  readonly ipv6_address?: string;
  readonly link_local_ips?: readonly string[];
  readonly mac_address?: string;
  readonly driver_opts?: StringMap;
  readonly extensions?: Extensions;
}

/** One port of the service, long syntax. */
export interface PortSpec {
  readonly name?: string;
  /** `ingress` (default, load-balanced) or `host`. */
  readonly mode: string;
  /** Host address to bind (default: all addresses). */
  readonly host_ip?: string;
  /** Container port. */
  readonly target: number;
  /** Host port or range (`"8080"`, `"8000-8010"`), as a string like compose-go; absent = not published / ephemeral. */
  readonly published?: string;
  /** `tcp` (default), `udp` or `sctp`. */
  readonly protocol: string;
  readonly app_protocol?: string;
  readonly extensions?: Extensions;
}

/** One mount of the service, long syntax. */
export interface VolumeMountSpec {
  /** `bind`, `volume`, `tmpfs`, `npipe`, `cluster` or `image`. */
  readonly type: string;
  /** Absolute host path (bind), volume key (volume; absent = anonymous), or image reference (image). */
  readonly source?: string;
  /** Absolute path in the container. */
  readonly target?: string;
  /** Default false. */
  readonly read_only?: boolean;
  readonly consistency?: string;
  readonly bind?: VolumeBindSpec;
  readonly volume?: VolumeVolumeSpec;
  readonly tmpfs?: VolumeTmpfsSpec;
  readonly image?: { readonly subpath?: string; readonly extensions?: Extensions };
  readonly extensions?: Extensions;
}

export interface VolumeBindSpec {
  /** `z` (shared) or `Z` (private) SELinux relabelling. */
  readonly selinux?: string;
  /** `rprivate` (default), `private`, `rshared`, `shared`, `rslave`, `slave`. */
  readonly propagation?: string;
  /**
   * Create the host path (as a directory) when it does not exist. True for short-syntax binds and
   * whenever a `bind:` mapping is given without it; a long-syntax bind without `bind:` creates nothing.
   */
  readonly create_host_path?: boolean;
  /** `enabled` (default), `disabled`, `writable`, `readonly`. */
  readonly recursive?: string;
  readonly extensions?: Extensions;
}

export interface VolumeVolumeSpec {
  readonly labels?: StringMap;
  /** Do not copy the image's content into an empty volume (default false). */
  readonly nocopy?: boolean;
  readonly subpath?: string;
  readonly extensions?: Extensions;
}

export interface VolumeTmpfsSpec {
  /** Size, in bytes (absent = unlimited, the kernel's default of half the RAM). */
  readonly size?: number;
  /** Permission bits of the mount's root (default 0o1777). */
  readonly mode?: number;
  readonly extensions?: Extensions;
}

/** `ulimits:` entry. A single number in the file sets both. */
export interface UlimitSpec {
  readonly soft: number;
  readonly hard: number;
  readonly extensions?: Extensions;
}

/** A service lifecycle hook (`post_start`, `pre_stop`, `develop.watch[].exec`). */
export interface ServiceHookSpec {
  readonly command: readonly string[];
  readonly user?: string;
  readonly privileged?: boolean;
  readonly working_dir?: string;
  readonly environment?: StringMap;
  readonly extensions?: Extensions;
}

/** A `pre_start` hook: a one-off container, by default from the service's own image. */
export interface PreStartHookSpec {
  /** Absent = the image's default command. */
  readonly command?: readonly string[];
  /** Image to run (default: the service's image). */
  readonly image?: string;
  readonly user?: string;
  readonly privileged?: boolean;
  readonly working_dir?: string;
  readonly environment?: StringMap;
  /** Run once per replica instead of once per service (default false). */
  readonly per_replica?: boolean;
  readonly extensions?: Extensions;
}

/** A top-level network. */
export interface NetworkSpec {
  /**
   * Name on the engine. Normalization sets `<project>_<key>` (or `<key>` for an external network) unless
   * the file names it; the deprecated `external: {name}` is moved here.
   */
  readonly name?: string;
  /** `bridge` (default on one node), `overlay`, … */
  readonly driver?: string;
  readonly driver_opts?: StringMap;
  readonly ipam?: IpamSpec;
  /** Created outside tsstack: never created nor removed, must exist. Default false. */
  readonly external?: boolean;
  readonly internal?: boolean;
  readonly attachable?: boolean;
  readonly labels?: StringMap;
  readonly enable_ipv4?: boolean;
  readonly enable_ipv6?: boolean;
  readonly extensions?: Extensions;
}

export interface IpamSpec {
  readonly driver?: string;
  readonly config?: readonly IpamPoolSpec[];
  readonly options?: StringMap;
  readonly extensions?: Extensions;
}

export interface IpamPoolSpec {
  readonly subnet?: string;
  readonly gateway?: string;
  readonly ip_range?: string;
  readonly aux_addresses?: StringMap;
  readonly extensions?: Extensions;
}

/** A top-level named volume. */
export interface VolumeSpec {
  /** Name on the engine; set by normalization like `NetworkSpec.name`. */
  readonly name?: string;
  /** Default `local`. */
  readonly driver?: string;
  readonly driver_opts?: StringMap;
  /** Created outside tsstack. Default false. */
  readonly external?: boolean;
  readonly labels?: StringMap;
  readonly extensions?: Extensions;
}

/** A top-level secret: exactly one of `file`, `environment` or `external` says where it comes from. */
export interface SecretSpec {
  /** Name on the engine; set by normalization like `NetworkSpec.name`. */
  readonly name?: string;
  /** Absolute path of the file holding the secret. */
  readonly file?: string;
  /** Environment variable holding the secret. */
  readonly environment?: string;
  readonly external?: boolean;
  readonly labels?: StringMap;
  readonly driver?: string;
  readonly driver_opts?: StringMap;
  readonly template_driver?: string;
  readonly extensions?: Extensions;
}

/** A top-level config: exactly one of `file`, `environment`, `content` or `external`. */
export interface ConfigSpec {
  /** Name on the engine; set by normalization like `NetworkSpec.name`. */
  readonly name?: string;
  /** Absolute path of the file. */
  readonly file?: string;
  readonly environment?: string;
  /** Inline content. */
  readonly content?: string;
  readonly external?: boolean;
  readonly labels?: StringMap;
  readonly template_driver?: string;
  readonly extensions?: Extensions;
}

/** A top-level AI model. */
export interface ModelSpec {
  readonly name?: string;
  /** Model reference (OCI artifact). */
  readonly model: string;
  readonly context_size?: number;
  readonly runtime_flags?: readonly string[];
  readonly extensions?: Extensions;
}
