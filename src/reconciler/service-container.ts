/**
 * One replica of a service as the body of `POST /containers/create`: the translation docker compose does
 * in `pkg/compose/create.go` (`getCreateConfigs`), from the normalized `StackSpec` instead of compose-go's
 * model. Pure: names of networks, volumes and sibling containers come from the caller.
 *
 * Where tsstack differs from Compose, and why:
 * - Maps Compose iterates in Go map order (environment, depends_on label, ulimits, mounts) come out
 *   sorted or in file order, so equal specs give byte-equal bodies.
 * - Bind mounts use `HostConfig.Mounts` (with `CreateMountpoint` for `create_host_path`) rather than the
 *   legacy `Binds` strings; only a bind with an SELinux relabel (`z`/`Z`), which `Mounts` cannot say,
 *   goes to `Binds`.
 * - `MaximumRetryCount` is sent only with `on-failure`: the engine refuses it with other policies, where
 *   Compose forwards `deploy.restart_policy.max_attempts` regardless.
 */
import { posix } from "node:path";
import { TsstackError } from "../common/errors.js";
import type { ContainerCreateOptions, HealthConfig, HostConfig, MountSpec } from "../runtime/runtime.js";
import type {
  HealthcheckSpec,
  ServiceNetworkSpec,
  ServiceSpec,
  StackSpec,
  VolumeMountSpec,
} from "../spec/types.js";
import {
  LABEL_CONFIG_FILES,
  LABEL_CONFIG_HASH,
  LABEL_CONTAINER_NUMBER,
  LABEL_DEPENDS_ON,
  LABEL_IMAGE,
  LABEL_ONEOFF,
  LABEL_PROJECT,
  LABEL_SERVICE,
  LABEL_VERSION,
  LABEL_WORKING_DIR,
} from "./labels.js";

export interface ContainerOptionsContext {
  /** `serviceConfigHash(spec, service)`, stored in the config-hash label. */
  readonly configHash: string;
  /** Engine name of a network, by stack key. Default: the spec's `name` (normalization sets `<project>_<key>`). */
  readonly networkNames?: (key: string) => string;
  /** Engine name of a named volume, by stack key. Default: the spec's `name` (`<project>_<key>`). */
  readonly volumeNames?: (key: string) => string;
  /**
   * The container a `network_mode: service:<name>` service joins, as `container:<this>`. Compose resolves
   * it to a running container's id at create time; default: the name of the service's replica 1.
   */
  readonly serviceContainer?: (service: string) => string;
  /** Project directory, for the working_dir label. Absent = label left out. */
  readonly workingDir?: string;
  /** Stack files, for the config_files label (comma-joined). Absent = label left out. */
  readonly configFiles?: readonly string[];
  /** Image digest or id the container is created from, for the image label. Absent = label left out. */
  readonly imageDigest?: string;
  /** Version written to the version label. Absent = label left out. */
  readonly version?: string;
  /** Add the service name and the network's `aliases` to each endpoint (default true; `run` turns it off). */
  readonly useNetworkAliases?: boolean;
  /**
   * Existing volumes to mount where the container would get anonymous ones, by target (normalized, as
   * `DesiredService.anonymousVolumes`): a `volumes` entry without a source mounts the volume named here
   * instead, and a target no entry mounts (an image `VOLUME`) gets a volume mount of it. Compose's
   * inherited volumes when it recreates a container. Default: none.
   */
  readonly inheritedVolumes?: ReadonlyMap<string, string>;
}

/** Compose's container name: `<project>-<service>-<replica>`, or the service's `container_name`. */
export function containerName(spec: StackSpec, service: string, replica: number): string {
  return spec.services[service]?.container_name ?? `${spec.name}-${service}-${String(replica)}`;
}

/** The image a service runs: its `image`, or `<project>-<service>` for a service that is only built. */
export function serviceImage(spec: StackSpec, service: string): string {
  return spec.services[service]?.image ?? `${spec.name}-${service}`;
}

/** A mount target as the engine compares them: normalized, no trailing slash. */
export function normalizeTarget(path: string): string {
  const p = posix.normalize(path);
  return p.length > 1 && p.endsWith("/") ? p.slice(0, -1) : p;
}

/**
 * The service's networks, primary first: highest `priority` first, then by key (compose-go's
 * `NetworksByPriority`). The primary network becomes `HostConfig.NetworkMode`.
 */
export function networksByPriority(svc: ServiceSpec): string[] {
  const entries = Object.entries(svc.networks ?? {});
  entries.sort(([a, na], [b, nb]) => {
    const pa = na?.priority ?? 0;
    const pb = nb?.priority ?? 0;
    return pa === pb ? compareStrings(a, b) : pb - pa;
  });
  return entries.map(([key]) => key);
}

/** Translate replica `replica` (1-based) of `service` into a container create body. */
export function containerOptionsFor(
  spec: StackSpec,
  service: string,
  replica: number,
  opts: ContainerOptionsContext,
): ContainerCreateOptions {
  const svc = spec.services[service];
  if (svc === undefined) throw invalid(spec, service, `no service "${service}" in the stack`);
  const networkName =
    opts.networkNames ?? ((key: string) => spec.networks[key]?.name ?? `${spec.name}_${key}`);
  const volumeName = opts.volumeNames ?? ((key: string) => spec.volumes[key]?.name ?? `${spec.name}_${key}`);
  const name = containerName(spec, service, replica);

  const { exposed, bindings } = ports(svc);
  const { mounts, binds } = mountsFor(spec, service, svc, volumeName, opts.inheritedVolumes ?? new Map());
  const network = networking(spec, service, svc, name, networkName, opts);

  const hostConfig: Mutable<HostConfig> = {};
  set(hostConfig, "NetworkMode", network.mode);
  set(hostConfig, "PortBindings", bindings);
  set(hostConfig, "Mounts", mounts);
  set(hostConfig, "Binds", binds);
  set(hostConfig, "RestartPolicy", restartPolicy(svc));
  Object.assign(hostConfig, resources(svc));
  set(hostConfig, "ReadonlyRootfs", svc.read_only);
  set(hostConfig, "Tmpfs", tmpfs(svc.tmpfs));
  set(hostConfig, "CapAdd", nonEmpty(svc.cap_add));
  set(hostConfig, "CapDrop", nonEmpty(svc.cap_drop));
  set(hostConfig, "Privileged", svc.privileged);
  set(hostConfig, "Sysctls", nonEmptyMap(svc.sysctls));
  set(hostConfig, "Ulimits", ulimits(svc));
  set(hostConfig, "Devices", devices(svc));
  set(hostConfig, "Init", svc.init);
  set(hostConfig, "ShmSize", svc.shm_size);
  set(hostConfig, "SecurityOpt", nonEmpty(svc.security_opt));
  set(hostConfig, "Dns", nonEmpty(svc.dns));
  set(hostConfig, "DnsSearch", nonEmpty(svc.dns_search));
  // compose-go stores `host=ip`; the engine reads `host:ip` (Compose's `ExtraHosts.AsList(":")`).
  set(hostConfig, "ExtraHosts", nonEmpty(svc.extra_hosts?.map((h) => h.replace("=", ":"))));

  const body: Mutable<ContainerCreateOptions> = { name, Image: serviceImage(spec, service) };
  set(body, "Cmd", svc.command);
  set(body, "Entrypoint", svc.entrypoint);
  set(body, "Env", env(svc));
  set(body, "WorkingDir", svc.working_dir);
  set(body, "User", svc.user);
  set(body, "Hostname", svc.hostname);
  body.Labels = labels(spec, service, svc, replica, opts);
  set(body, "Tty", svc.tty);
  set(body, "OpenStdin", svc.stdin_open);
  set(body, "StopSignal", svc.stop_signal);
  // Whole seconds, truncated like Compose's `ToSeconds`.
  if (svc.stop_grace_period !== undefined) body.StopTimeout = Math.trunc(svc.stop_grace_period / 1000);
  set(body, "Healthcheck", healthcheck(svc.healthcheck));
  set(body, "ExposedPorts", exposed);
  set(body, "NetworkingConfig", network.config);
  body.HostConfig = hostConfig;
  return body;
}

/**
 * Keys the service sets that `containerOptionsFor` does not translate (the create body has no field for
 * them yet), in file order. The caller warns about them rather than silently running something else.
 */
export function untranslatedServiceKeys(svc: ServiceSpec): string[] {
  const handled = new Set<string>(TRANSLATED_KEYS);
  return Object.keys(svc).filter((k) => !handled.has(k) && !k.startsWith("x-"));
}

/** Keys that shape the create body, plus the ones that do not belong in it (build, deploy's swarm parts…). */
const TRANSLATED_KEYS = [
  // translated
  "image",
  "command",
  "entrypoint",
  "environment",
  "env_file",
  "working_dir",
  "user",
  "hostname",
  "labels",
  "label_file",
  "container_name",
  "ports",
  "expose",
  "volumes",
  "secrets",
  "configs",
  "networks",
  "network_mode",
  "restart",
  "deploy",
  "mem_limit",
  "memswap_limit",
  "cpus",
  "pids_limit",
  "cpu_shares",
  "cpuset",
  "read_only",
  "tmpfs",
  "cap_add",
  "cap_drop",
  "privileged",
  "sysctls",
  "ulimits",
  "devices",
  "init",
  "stop_signal",
  "stop_grace_period",
  "shm_size",
  "security_opt",
  "dns",
  "dns_search",
  "extra_hosts",
  "tty",
  "stdin_open",
  "healthcheck",
  // not part of a container's create body
  "build",
  "pull_policy",
  "scale",
  "depends_on",
  "profiles",
  "attach",
  "develop",
  "post_start",
  "pre_start",
  "pre_stop",
  "extensions",
  "platform",
];

function labels(
  spec: StackSpec,
  service: string,
  svc: ServiceSpec,
  replica: number,
  opts: ContainerOptionsContext,
): Record<string, string> {
  // The service's own labels first: Compose's labels win over a user label with the same key.
  const out: Record<string, string> = { ...svc.labels };
  out[LABEL_PROJECT] = spec.name;
  out[LABEL_SERVICE] = service;
  out[LABEL_CONTAINER_NUMBER] = String(replica);
  out[LABEL_CONFIG_HASH] = opts.configHash;
  out[LABEL_ONEOFF] = "False";
  if (opts.workingDir !== undefined) out[LABEL_WORKING_DIR] = opts.workingDir;
  if (opts.configFiles !== undefined) out[LABEL_CONFIG_FILES] = opts.configFiles.join(",");
  out[LABEL_DEPENDS_ON] = Object.entries(svc.depends_on ?? {})
    .sort(([a], [b]) => compareStrings(a, b))
    .map(([dep, d]) => `${dep}:${d.condition}:${String(d.restart ?? false)}`)
    .join(",");
  if (opts.imageDigest !== undefined) out[LABEL_IMAGE] = opts.imageDigest;
  if (opts.version !== undefined) out[LABEL_VERSION] = opts.version;
  return out;
}

function env(svc: ServiceSpec): string[] | undefined {
  if (svc.environment === undefined) return undefined;
  return Object.entries(svc.environment)
    .sort(([a], [b]) => compareStrings(a, b))
    .map(([k, v]) => `${k}=${v}`);
}

/** `expose` and `ports` → ExposedPorts; published ports → PortBindings (several bindings per port allowed). */
function ports(svc: ServiceSpec): {
  exposed: Record<string, object> | undefined;
  bindings: Record<string, { HostIp: string; HostPort: string }[]> | undefined;
} {
  const exposed: Record<string, object> = {};
  for (const e of svc.expose ?? []) {
    const [range = "", proto = "tcp"] = e.split("/");
    const [from, to] = range.split("-").map(Number);
    if (from === undefined || Number.isNaN(from)) continue;
    for (let p = from; p <= (to ?? from); p++) exposed[`${String(p)}/${proto}`] = {};
  }
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const p of svc.ports ?? []) {
    const key = `${String(p.target)}/${p.protocol}`;
    exposed[key] = {};
    (bindings[key] ??= []).push({ HostIp: p.host_ip ?? "", HostPort: p.published ?? "" });
  }
  return {
    exposed: Object.keys(exposed).length > 0 ? exposed : undefined,
    bindings: Object.keys(bindings).length > 0 ? bindings : undefined,
  };
}

function mountsFor(
  spec: StackSpec,
  service: string,
  svc: ServiceSpec,
  volumeName: (key: string) => string,
  inherited: ReadonlyMap<string, string>,
): { mounts: MountSpec[] | undefined; binds: string[] | undefined } {
  const mounts: MountSpec[] = [];
  const binds: string[] = [];
  for (const v of svc.volumes ?? []) {
    if (v.target === undefined) throw invalid(spec, service, `a ${v.type} mount has no target`);
    switch (v.type) {
      case "bind":
        if (v.bind?.selinux !== undefined) binds.push(bindString(v, v.target));
        else mounts.push(bindMount(v, v.target));
        break;
      case "volume":
        mounts.push(volumeMount(v, v.target, volumeName, inherited));
        break;
      case "tmpfs":
        mounts.push({
          Type: "tmpfs",
          Target: v.target,
          ...(v.read_only === true ? { ReadOnly: true } : {}),
          ...(v.tmpfs !== undefined
            ? {
                TmpfsOptions: {
                  ...(v.tmpfs.size !== undefined ? { SizeBytes: v.tmpfs.size } : {}),
                  ...(v.tmpfs.mode !== undefined ? { Mode: v.tmpfs.mode } : {}),
                },
              }
            : {}),
        });
        break;
      default:
        throw invalid(spec, service, `mounts of type "${v.type}" (target ${v.target}) are not supported`);
    }
  }
  // Inherited volumes where no entry mounts anything: the image's VOLUMEs, which would be anonymous.
  const targeted = new Set([
    ...mounts.map((m) => normalizeTarget(m.Target)),
    ...binds.map((b) => normalizeTarget(b.split(":")[1] ?? "")),
    ...(svc.tmpfs ?? []).map((t) => normalizeTarget(t.split(":")[0] ?? t)),
  ]);
  for (const [target, name] of inherited)
    if (!targeted.has(target)) mounts.push({ Type: "volume", Source: name, Target: target });
  // Secrets and configs backed by a file are read-only binds, as Compose does outside Swarm. Those from
  // `environment`/`content` are written into the container by the executor, not mounted from the host.
  const taken = new Set(mounts.map((m) => m.Target));
  const fileMount = (source: string | undefined, target: string): void => {
    if (source === undefined || taken.has(target)) return;
    taken.add(target);
    mounts.push({ Type: "bind", Source: source, Target: target, ReadOnly: true });
  };
  for (const s of svc.secrets ?? []) {
    const target = s.target ?? `/run/secrets/${s.source}`;
    fileMount(spec.secrets[s.source]?.file, target.startsWith("/") ? target : `/run/secrets/${target}`);
  }
  for (const c of svc.configs ?? []) {
    const target = c.target ?? `/${c.source}`;
    fileMount(spec.configs[c.source]?.file, target.startsWith("/") ? target : `/${target}`);
  }
  return {
    mounts: mounts.length > 0 ? mounts : undefined,
    binds: binds.length > 0 ? binds : undefined,
  };
}

function bindMount(v: VolumeMountSpec, target: string): MountSpec {
  const bindOptions: { Propagation?: string; CreateMountpoint?: boolean } = {};
  if (v.bind?.propagation !== undefined) bindOptions.Propagation = v.bind.propagation;
  if (v.bind?.create_host_path === true) bindOptions.CreateMountpoint = true;
  return {
    Type: "bind",
    ...(v.source !== undefined ? { Source: v.source } : {}),
    Target: target,
    ...(v.read_only === true ? { ReadOnly: true } : {}),
    ...(Object.keys(bindOptions).length > 0 ? { BindOptions: bindOptions } : {}),
  };
}

/** compose-go's `ServiceVolumeConfig.String()`: `source:target:rw|ro[,z|Z][,propagation]`. */
function bindString(v: VolumeMountSpec, target: string): string {
  const options = [v.read_only === true ? "ro" : "rw"];
  if (v.bind?.selinux !== undefined) options.push(v.bind.selinux);
  if (v.bind?.propagation !== undefined) options.push(v.bind.propagation);
  return `${v.source ?? ""}:${target}:${options.join(",")}`;
}

function volumeMount(
  v: VolumeMountSpec,
  target: string,
  volumeName: (key: string) => string,
  inherited: ReadonlyMap<string, string>,
): MountSpec {
  const volumeOptions: { NoCopy?: boolean; Subpath?: string } = {};
  if (v.volume?.nocopy === true) volumeOptions.NoCopy = true;
  if (v.volume?.subpath !== undefined) volumeOptions.Subpath = v.volume.subpath;
  // Absent source: an anonymous volume, named by the engine, unless an old container's is taken over.
  const source = v.source !== undefined ? volumeName(v.source) : inherited.get(normalizeTarget(target));
  return {
    Type: "volume",
    ...(source !== undefined ? { Source: source } : {}),
    Target: target,
    ...(v.read_only === true ? { ReadOnly: true } : {}),
    ...(Object.keys(volumeOptions).length > 0 ? { VolumeOptions: volumeOptions } : {}),
  };
}

type EndpointsConfig = Record<string, { Aliases?: string[]; IPAMConfig?: { IPv4Address: string } }>;

function networking(
  spec: StackSpec,
  service: string,
  svc: ServiceSpec,
  name: string,
  networkName: (key: string) => string,
  opts: ContainerOptionsContext,
): { mode: string | undefined; config: { EndpointsConfig: EndpointsConfig } | undefined } {
  if (svc.network_mode !== undefined) {
    const mode = svc.network_mode;
    if (mode.startsWith("service:")) {
      const other = mode.slice("service:".length);
      const target = opts.serviceContainer?.(other) ?? containerName(spec, other, 1);
      return { mode: `container:${target}`, config: undefined };
    }
    return { mode, config: undefined };
  }
  const keys = networksByPriority(svc);
  const primary = keys[0];
  if (primary === undefined) return { mode: "none", config: undefined };
  const useAliases = opts.useNetworkAliases ?? true;
  const endpoints: EndpointsConfig = {};
  for (const key of keys) {
    const cfg: ServiceNetworkSpec | null | undefined = svc.networks?.[key];
    // Compose's getAliases: the container name always; the service name and the network's aliases for
    // service containers (not for `run`).
    const aliases = [name, ...(useAliases ? [service, ...(cfg?.aliases ?? [])] : [])];
    endpoints[networkName(key)] = {
      Aliases: aliases,
      ...(cfg?.ipv4_address !== undefined ? { IPAMConfig: { IPv4Address: cfg.ipv4_address } } : {}),
    };
  }
  return { mode: networkName(primary), config: { EndpointsConfig: endpoints } };
}

/** Compose's `getRestartPolicy`: `restart:`, overridden by `deploy.restart_policy`. */
function restartPolicy(svc: ServiceSpec): { Name: string; MaximumRetryCount?: number } | undefined {
  let name: string | undefined;
  let max: number | undefined;
  if (svc.restart !== undefined) {
    const [cond = "", attempts] = svc.restart.split(":");
    name = engineRestartPolicy(cond);
    max = attempts !== undefined ? Number(attempts) : undefined;
  }
  const policy = svc.deploy?.restart_policy;
  if (policy !== undefined) {
    name = engineRestartPolicy(policy.condition ?? "any");
    max = policy.max_attempts;
  }
  if (name === undefined) return undefined;
  return name === "on-failure" && max !== undefined && max > 0
    ? { Name: name, MaximumRetryCount: max }
    : { Name: name };
}

function engineRestartPolicy(condition: string): string {
  switch (condition) {
    case "none":
    case "no":
      return "no";
    case "any":
    case "always":
      return "always";
    default:
      return condition;
  }
}

/** Compose's `getDeployResources` for the fields the create body carries: `deploy.resources.limits` win. */
function resources(svc: ServiceSpec): Partial<HostConfig> {
  const out: Mutable<HostConfig> = {};
  const limits = svc.deploy?.resources?.limits;
  const memory = limits?.memory ?? svc.mem_limit;
  if (memory !== undefined && memory !== 0) out.Memory = memory;
  if (svc.memswap_limit !== undefined && svc.memswap_limit !== 0) out.MemorySwap = svc.memswap_limit;
  const cpus = limits?.cpus ?? svc.cpus;
  if (cpus !== undefined && cpus !== 0) out.NanoCpus = Math.round(cpus * 1e9);
  if (svc.cpu_shares !== undefined && svc.cpu_shares !== 0) out.CpuShares = svc.cpu_shares;
  if (svc.cpuset !== undefined) out.CpusetCpus = svc.cpuset;
  const pids = limits?.pids !== undefined && limits.pids > 0 ? limits.pids : svc.pids_limit;
  if (pids !== undefined && pids !== 0) out.PidsLimit = pids;
  return out;
}

function tmpfs(entries: readonly string[] | undefined): Record<string, string> | undefined {
  if (entries === undefined || entries.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const t of entries) {
    const i = t.indexOf(":");
    if (i < 0) out[t] = "";
    else out[t.slice(0, i)] = t.slice(i + 1);
  }
  return out;
}

function ulimits(svc: ServiceSpec): { Name: string; Soft: number; Hard: number }[] | undefined {
  const entries = Object.entries(svc.ulimits ?? {});
  if (entries.length === 0) return undefined;
  return entries
    .sort(([a], [b]) => compareStrings(a, b))
    .map(([Name, u]) => ({ Name, Soft: u.soft, Hard: u.hard }));
}

function devices(
  svc: ServiceSpec,
): { PathOnHost: string; PathInContainer: string; CgroupPermissions: string }[] | undefined {
  if (svc.devices === undefined || svc.devices.length === 0) return undefined;
  return svc.devices.map((d) => ({
    PathOnHost: d.source,
    PathInContainer: d.target ?? d.source,
    CgroupPermissions: d.permissions ?? "rwm",
  }));
}

/** Milliseconds → the engine's nanoseconds; unset fields stay unset so the engine's defaults apply. */
function healthcheck(h: HealthcheckSpec | undefined): HealthConfig | undefined {
  if (h === undefined) return undefined;
  const ns = (ms: number | undefined): number | undefined =>
    ms === undefined ? undefined : Math.round(ms * 1e6);
  const out: Mutable<HealthConfig> = {};
  set(out, "Test", h.test);
  set(out, "Interval", ns(h.interval));
  set(out, "Timeout", ns(h.timeout));
  set(out, "Retries", h.retries);
  set(out, "StartPeriod", ns(h.start_period));
  set(out, "StartInterval", ns(h.start_interval));
  return out;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Assign only defined values, so the body has no `undefined` keys and compares cleanly. */
function set<T extends object, K extends keyof T>(obj: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) obj[key] = value;
}

function nonEmpty<T>(list: readonly T[] | undefined): readonly T[] | undefined {
  return list !== undefined && list.length > 0 ? list : undefined;
}

function nonEmptyMap(
  map: Readonly<Record<string, string>> | undefined,
): Readonly<Record<string, string>> | undefined {
  return map !== undefined && Object.keys(map).length > 0 ? map : undefined;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function invalid(spec: StackSpec, service: string, why: string): TsstackError {
  return new TsstackError(
    "reconciler/invalid-service",
    `translating service "${service}" of stack "${spec.name}" into a container: ${why}`,
  );
}
