/**
 * Phase: normalization — the merged, schema-valid model (plain data) → the typed `StackSpec`.
 *
 * Does what compose-go does after validation, in its transform (canonical syntax), set-defaults and
 * normalize phases, so that `canonical.ts` can print what `docker compose config` prints:
 * - every short syntax to its long form (ports, volumes, depends_on, secrets/configs, build, devices,
 *   env_file, ulimits, gpus, networks lists, `key=value` lists → mappings, strings → lists);
 * - defaults the spec implies (build context and Dockerfile, port mode and protocol, dependency
 *   condition, secret target, bind `create_host_path`, device request count);
 * - `environment` and `labels` resolved: bare keys from the loader's environment, `env_file` and
 *   `label_file` contents merged under them;
 * - units: durations to milliseconds, sizes to bytes, CPU strings to numbers, modes to numbers;
 * - with `implicit` (the default), what compose-go's `Normalize` adds: the `default` network, dependencies
 *   implied by links and `service:` references, engine names of networks, volumes, secrets and configs.
 *
 * The input is never modified. Values the schema lets through but that cannot be understood (a port
 * `"80:80:80:80"`, a duration without unit…) are reported to `ctx.diags` with their position; the
 * phase carries on and reports everything it finds.
 */
import { isIP } from "node:net";
import { posix } from "node:path";
import type { Diagnostics } from "./diagnostics.js";
import { parseDotenv } from "./dotenv.js";
import { isMapping, type SourceMap, type YamlPath } from "./source.js";
import type {
  BlkioConfigSpec,
  BlkioRateSpec,
  BuildSpec,
  ConfigSpec,
  CredentialSpec,
  DependsOnSpec,
  DeploySpec,
  DevelopSpec,
  DeviceMappingSpec,
  DeviceRequestSpec,
  EnvFileSpec,
  Extensions,
  FileMountSpec,
  GenericResourceSpec,
  HealthcheckSpec,
  IpamPoolSpec,
  IpamSpec,
  LoggingSpec,
  ModelSpec,
  NetworkSpec,
  PlacementSpec,
  PortSpec,
  PreStartHookSpec,
  ProviderSpec,
  ResourceSpec,
  ResourcesSpec,
  RestartPolicySpec,
  SecretSpec,
  ServiceHookSpec,
  ServiceModelSpec,
  ServiceNetworkSpec,
  ServiceSpec,
  SshKeySpec,
  StackSpec,
  StringMap,
  UlimitSpec,
  UpdateConfigSpec,
  VolumeBindSpec,
  VolumeMountSpec,
  VolumeSpec,
  VolumeTmpfsSpec,
  VolumeVolumeSpec,
  WatchRuleSpec,
} from "./types.js";
import { parseBytes, parseDuration } from "./units.js";

/** What normalization needs from the loader. */
export interface NormalizeContext {
  readonly sources: SourceMap;
  readonly diags: Diagnostics;
  /** The project name, already decided by the loader (flag, `name:`, environment or directory). */
  readonly projectName: string;
  /** Absolute project directory: relative paths an earlier phase left are resolved against it. */
  readonly workingDir: string;
  /** The loader's environment: resolves bare `KEY` entries and substitutions in `env_file` contents. */
  readonly lookup: (name: string) => string | undefined;
  /** Reads a file (env and label files); throws an error with `code: "ENOENT"` when it does not exist. */
  readonly readFile: (path: string) => string;
  /** Home directory for `~` in paths an earlier phase left unexpanded. Default: `~` paths are left as written. */
  readonly homeDir?: string;
  /**
   * Add what Compose implies but the file does not say: the `default` network (for services with neither
   * `networks` nor `network_mode`), dependencies implied by `links`, `volumes_from` and `service:`
   * references, and the engine name (`<project>_<key>`, or `<key>` when external) of every network, volume,
   * secret and config. Default true. False reproduces compose-go's loader with `SkipNormalization`, which
   * is how its reference outputs (the conformance fixtures) were produced.
   */
  readonly implicit?: boolean;
}

type Raw = Record<string, unknown>;
type Path = YamlPath;
/** Reads one attribute from its raw value (never `undefined`: absent keys are not read). */
type FieldReader<T> = (n: Normalizer, value: unknown, path: Path) => T | undefined;

/** Normalizes a merged, schema-valid model. Problems go to `ctx.diags`; the result is always returned. */
export function normalize(model: Record<string, unknown>, ctx: NormalizeContext): StackSpec {
  return new Normalizer(model, ctx).stack();
}

class Normalizer {
  readonly #implicit: boolean;

  constructor(
    private readonly model: Raw,
    private readonly ctx: NormalizeContext,
  ) {
    this.#implicit = ctx.implicit ?? true;
  }

  stack(): StackSpec {
    const m = this.model;
    const services: Record<string, ServiceSpec> = {};
    const rawServices = isMapping(m["services"]) ? m["services"] : {};
    for (const [name, raw] of Object.entries(rawServices)) {
      services[name] = this.service(isMapping(raw) ? raw : {}, ["services", name]);
    }
    const networks = this.resources(m["networks"], ["networks"], (r, p) => this.network(r, p));
    if (this.#implicit) this.addDefaultNetwork(services, networks);
    const volumes = this.resources(m["volumes"], ["volumes"], (r, p) => this.volume(r, p));
    const secrets = this.resources(m["secrets"], ["secrets"], (r, p) => this.secret(r, p));
    const configs = this.resources(m["configs"], ["configs"], (r, p) => this.config(r, p));
    const models: Record<string, ModelSpec> = {};
    if (isMapping(m["models"])) {
      for (const [key, raw] of Object.entries(m["models"])) {
        models[key] = this.topModel(isMapping(raw) ? raw : {}, ["models", key]);
      }
    }
    if (this.#implicit) {
      for (const table of [networks, volumes, secrets, configs]) this.nameFromKey(table);
    }
    return prune({
      name: this.ctx.projectName,
      services,
      networks,
      volumes,
      secrets,
      configs,
      models,
      extensions: this.ext(m),
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Services

  /**
   * How each service attribute is read, in the order of `ServiceSpec`: the order of the result's keys
   * and of the problems reported. `derived` attributes come from several keys (or none), and are
   * computed by `service` itself.
   */
  static readonly #SERVICE_FIELDS: {
    readonly [K in keyof ServiceSpec]-?: FieldReader<ServiceSpec[K]> | "derived";
  } = {
    profiles: (n, v, p) => n.strList(v, p),
    annotations: (n, v, p) => n.stringMap(v, p),
    attach: (n, v, p) => n.bool(v, p),
    build: (n, v, p) => n.build(v, p),
    develop: (n, v, p) => n.develop(v, p),
    blkio_config: (n, v, p) => n.blkio(v, p),
    cap_add: (n, v, p) => n.strList(v, p),
    cap_drop: (n, v, p) => n.strList(v, p),
    cgroup_parent: (n, v, p) => n.str(v, p),
    cgroup: (n, v, p) => n.str(v, p),
    cpu_count: (n, v, p) => n.int(v, p),
    cpu_percent: (n, v, p) => n.num(v, p),
    cpu_period: (n, v, p) => n.micros(v, p),
    cpu_quota: (n, v, p) => n.micros(v, p),
    cpu_rt_period: (n, v, p) => n.micros(v, p),
    cpu_rt_runtime: (n, v, p) => n.micros(v, p),
    cpus: (n, v, p) => n.num(v, p),
    cpuset: (n, v, p) => n.str(v, p),
    cpu_shares: (n, v, p) => n.int(v, p),
    command: (n, v, p) => n.shellCommand(v, p),
    configs: (n, v, p) => n.fileMounts(v, p, undefined),
    container_name: (n, v, p) => n.str(v, p),
    credential_spec: (n, v, p) => n.credentialSpec(v, p),
    depends_on: "derived",
    deploy: (n, v, p) => n.deploy(v, p),
    device_cgroup_rules: (n, v, p) => n.strList(v, p),
    devices: (n, v, p) => n.devices(v, p),
    dns: (n, v, p) => n.strList(v, p),
    dns_opt: (n, v, p) => n.strList(v, p),
    dns_search: (n, v, p) => n.strList(v, p),
    domainname: (n, v, p) => n.str(v, p),
    entrypoint: (n, v, p) => n.shellCommand(v, p),
    provider: (n, v, p) => n.provider(v, p),
    environment: "derived",
    env_file: "derived",
    expose: (n, v, p) => n.strList(v, p),
    external_links: (n, v, p) => n.strList(v, p),
    extra_hosts: (n, v, p) => n.extraHosts(v, p),
    group_add: (n, v, p) => n.strList(v, p),
    gpus: (n, v, p) => n.gpus(v, p),
    hostname: (n, v, p) => n.str(v, p),
    healthcheck: (n, v, p) => n.healthcheck(v, p),
    image: (n, v, p) => n.str(v, p),
    init: (n, v, p) => n.bool(v, p),
    ipc: (n, v, p) => n.str(v, p),
    isolation: (n, v, p) => n.str(v, p),
    labels: "derived",
    label_file: "derived",
    links: (n, v, p) => n.strList(v, p),
    logging: (n, v, p) => n.logging(v, p),
    mac_address: (n, v, p) => n.str(v, p),
    mem_limit: (n, v, p) => n.bytes(v, p),
    mem_reservation: (n, v, p) => n.bytes(v, p),
    memswap_limit: (n, v, p) => n.bytes(v, p, true),
    mem_swappiness: (n, v, p) => n.int(v, p),
    models: (n, v, p) => n.serviceModels(v, p),
    network_mode: (n, v, p) => n.str(v, p),
    networks: (n, v, p) => n.serviceNetworks(v, p),
    oom_kill_disable: (n, v, p) => n.bool(v, p),
    oom_score_adj: (n, v, p) => n.int(v, p),
    pid: (n, v, p) => n.str(v, p),
    pids_limit: (n, v, p) => n.int(v, p),
    platform: (n, v, p) => n.str(v, p),
    ports: (n, v, p) => n.ports(v, p),
    post_start: (n, v, p) => n.list(v, p, (x, q) => n.hook(x, q)),
    pre_start: (n, v, p) => n.list(v, p, (x, q) => n.preStartHook(x, q)),
    pre_stop: (n, v, p) => n.list(v, p, (x, q) => n.hook(x, q)),
    privileged: (n, v, p) => n.bool(v, p),
    pull_policy: "derived",
    pull_refresh_after: (n, v, p) => n.duration(v, p),
    read_only: (n, v, p) => n.bool(v, p),
    restart: (n, v, p) => n.str(v, p),
    runtime: (n, v, p) => n.str(v, p),
    scale: (n, v, p) => n.int(v, p),
    secrets: (n, v, p) => n.fileMounts(v, p, "/run/secrets/"),
    security_opt: (n, v, p) => n.strList(v, p),
    shm_size: (n, v, p) => n.bytes(v, p),
    stdin_open: (n, v, p) => n.bool(v, p),
    stop_grace_period: (n, v, p) => n.duration(v, p),
    stop_signal: (n, v, p) => n.str(v, p),
    storage_opt: (n, v, p) => n.stringMap(v, p),
    sysctls: (n, v, p) => n.stringMap(v, p),
    tmpfs: (n, v, p) => n.strList(v, p),
    tty: (n, v, p) => n.bool(v, p),
    ulimits: (n, v, p) => n.ulimits(v, p),
    use_api_socket: (n, v, p) => n.bool(v, p),
    user: (n, v, p) => n.str(v, p),
    userns_mode: (n, v, p) => n.str(v, p),
    uts: (n, v, p) => n.str(v, p),
    volumes: (n, v, p) => n.list(v, p, (x, q) => n.volumeMount(x, q)),
    volumes_from: (n, v, p) => n.strList(v, p),
    working_dir: (n, v, p) => n.str(v, p),
    extensions: "derived",
  };

  /** `#SERVICE_FIELDS` as an ordered list, and the place of each attribute read from its own key. */
  static readonly #SERVICE_ORDER = Object.entries(Normalizer.#SERVICE_FIELDS);
  static readonly #SERVICE_RANK = new Map(
    Normalizer.#SERVICE_ORDER.flatMap(([k, read], rank) => (read === "derived" ? [] : [[k, rank] as const])),
  );

  private service(raw: Raw, path: Path): ServiceSpec {
    const environment = this.environment(raw, path);
    const labels = this.labels(raw, path);
    let depends_on = this.dependsOn(raw["depends_on"], keyPath(raw, path, "depends_on"));
    if (this.#implicit) depends_on = this.implicitDependencies(raw, depends_on);
    const pullPolicy = this.str(raw["pull_policy"], keyPath(raw, path, "pull_policy"));
    const derived: Record<string, unknown> = {
      depends_on,
      environment: environment.environment,
      env_file: environment.files,
      labels: labels.labels,
      label_file: labels.files,
      // A synonym compose-go's Normalize rewrites; done unconditionally since it changes no meaning.
      pull_policy: pullPolicy === "if_not_present" ? "missing" : pullPolicy,
      extensions: this.ext(raw),
    };
    // Every other attribute is undefined when its key is absent, so only the keys present are read
    // (a service has a handful of the ~95): in `#SERVICE_FIELDS` order, like one object literal would.
    const ranks: number[] = [];
    for (const k of Object.keys(raw)) {
      const rank = Normalizer.#SERVICE_RANK.get(k);
      if (rank !== undefined) ranks.push(rank);
    }
    ranks.sort((a, b) => a - b);
    const values: unknown[] = [];
    for (const rank of ranks) {
      const [k, read] = Normalizer.#SERVICE_ORDER[rank] ?? [];
      if (k !== undefined && typeof read === "function") values[rank] = read(this, raw[k], [...path, k]);
    }
    const out: Record<string, unknown> = {};
    Normalizer.#SERVICE_ORDER.forEach(([k, read], rank) => {
      const v = read === "derived" ? derived[k] : values[rank];
      if (v !== undefined) out[k] = v;
    });
    return out;
  }

  /**
   * `environment` over the `env_file` contents. compose-go order: bare keys resolve from the loader's
   * environment first; each file's substitutions see the loader's environment, then the service's own
   * `environment`, then earlier files; a key the service declares wins over every file, and a declared
   * key the environment does not define is removed even when a file set it (Compose passes it unset).
   */
  private environment(raw: Raw, path: Path): { environment?: StringMap; files?: EnvFileSpec[] } {
    const declared = this.mappingWithEquals(raw["environment"], [...path, "environment"]);
    const own = new Map<string, string | undefined>();
    for (const [k, v] of declared ?? []) own.set(k, v ?? this.ctx.lookup(k));
    const files = this.envFiles(raw["env_file"], [...path, "env_file"]);
    const env = new Map<string, string>();
    files?.forEach((file, i) => {
      const vars = this.readDotenv(file.path, file.required, [...path, "env_file", i], "env file", (n) => {
        return this.ctx.lookup(n) ?? own.get(n) ?? env.get(n);
      });
      for (const [k, v] of vars) env.set(k, v);
    });
    for (const [k, v] of own) {
      if (v === undefined) env.delete(k);
      else env.set(k, v);
    }
    return { environment: env.size > 0 ? Object.fromEntries(env) : undefined, files };
  }

  /** `labels` over the `label_file` contents. Label files see only the labels read before them. */
  private labels(raw: Raw, path: Path): { labels?: StringMap; files?: string[] } {
    const declared = this.stringMap(raw["labels"], [...path, "labels"]);
    const files = this.strList(raw["label_file"], [...path, "label_file"])?.map((f) => this.hostPath(f));
    const labels = new Map<string, string>();
    files?.forEach((file, i) => {
      const vars = this.readDotenv(file, true, [...path, "label_file", i], "label file", (n) =>
        labels.get(n),
      );
      for (const [k, v] of vars) labels.set(k, v);
    });
    for (const [k, v] of Object.entries(declared ?? {})) labels.set(k, v);
    return { labels: labels.size > 0 ? Object.fromEntries(labels) : undefined, files };
  }

  private envFiles(value: unknown, path: Path): EnvFileSpec[] | undefined {
    if (value === undefined || value === null) return undefined;
    const items = typeof value === "string" ? [value] : value;
    if (!Array.isArray(items)) return this.typeError(path, "a path or a list of paths", value);
    const out: EnvFileSpec[] = [];
    items.forEach((item: unknown, i) => {
      const p = typeof value === "string" ? path : [...path, i];
      if (typeof item === "string") {
        out.push({ path: this.hostPath(item), required: true });
      } else if (isMapping(item)) {
        const file = this.str(item["path"], [...p, "path"]);
        if (file === undefined) return;
        const format = this.str(item["format"], [...p, "format"]);
        if (format !== undefined && format !== "dotenv") {
          this.error(
            "normalize/env-file-format",
            [...p, "format"],
            `unsupported env file format "${format}"`,
          );
        }
        out.push(
          prune({
            path: this.hostPath(file),
            required: this.bool(item["required"], [...p, "required"]) ?? true,
            format,
          }),
        );
      } else {
        this.typeError(p, "a path or a mapping with `path`", item);
      }
    });
    return out;
  }

  private readDotenv(
    file: string,
    required: boolean,
    path: Path,
    what: "env file" | "label file",
    lookup: (name: string) => string | undefined,
  ): Map<string, string> {
    const code = what === "env file" ? "normalize/env-file" : "normalize/label-file";
    let text: string;
    try {
      text = this.ctx.readFile(file);
    } catch (e) {
      if (errorCode(e) === "ENOENT") {
        if (required) {
          this.error(
            `${code}-missing`,
            path,
            `${what} ${file} not found`,
            what === "env file" ? "create it, or mark it `required: false`" : undefined,
          );
        }
      } else {
        this.error(`${code}-unreadable`, path, `cannot read ${what} ${file}: ${message(e)}`);
      }
      return new Map();
    }
    try {
      return parseDotenv(text, lookup, file);
    } catch (e) {
      this.error(`${code}-invalid`, path, `invalid ${what}: ${message(e)}`);
      return new Map();
    }
  }

  private dependsOn(value: unknown, path: Path): Record<string, DependsOnSpec> | undefined {
    if (value === undefined || value === null) return undefined;
    const out: Record<string, DependsOnSpec> = {};
    if (Array.isArray(value)) {
      value.forEach((item: unknown, i) => {
        const name = this.str(item, [...path, i]);
        if (name !== undefined) out[name] = { condition: "service_started", required: true };
      });
      return out;
    }
    if (!isMapping(value)) return this.typeError(path, "a list or a mapping of services", value);
    for (const [name, dep] of Object.entries(value)) {
      const p = [...path, name];
      const d = isMapping(dep) ? dep : {};
      out[name] = prune({
        condition: this.str(d["condition"], [...p, "condition"]) ?? "service_started",
        restart: this.bool(d["restart"], [...p, "restart"]),
        required: this.bool(d["required"], [...p, "required"]) ?? true,
        extensions: this.ext(d),
      });
    }
    return out;
  }

  /**
   * compose-go's Normalize: a link, a `service:` namespace reference and a `volumes_from` entry each
   * imply a dependency (links and namespaces restart with their dependency, volumes_from does not).
   */
  private implicitDependencies(
    raw: Raw,
    declared: Record<string, DependsOnSpec> | undefined,
  ): Record<string, DependsOnSpec> | undefined {
    const deps: Record<string, DependsOnSpec> = { ...declared };
    const add = (name: string, restart: boolean): void => {
      if (name !== "" && !(name in deps))
        deps[name] = { condition: "service_started", restart, required: true };
    };
    for (const link of stringsOf(raw["links"])) {
      const parts = link.split(":");
      add(parts.length === 2 ? (parts[0] ?? "") : link, true);
    }
    for (const key of ["network_mode", "ipc", "pid", "uts", "cgroup"]) {
      const ref = raw[key];
      if (typeof ref === "string" && ref.startsWith("service:")) add(ref.slice("service:".length), true);
    }
    for (const vol of stringsOf(raw["volumes_from"])) {
      if (!vol.startsWith("container:")) add(vol.split(":")[0] ?? "", false);
    }
    return Object.keys(deps).length > 0 ? deps : undefined;
  }

  private build(value: unknown, path: Path): BuildSpec | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value === "string") return { context: this.contextPath(value), dockerfile: "Dockerfile" };
    if (!isMapping(value)) return this.typeError(path, "a path or a mapping", value);
    const at = (k: string): Path => keyPath(value, path, k);
    const context = this.str(value["context"], at("context")) ?? ".";
    const dockerfile = this.str(value["dockerfile"], at("dockerfile"));
    const inline = this.str(value["dockerfile_inline"], at("dockerfile_inline"));
    return prune<BuildSpec>({
      context: this.contextPath(context),
      dockerfile: dockerfile ?? (inline === undefined ? "Dockerfile" : undefined),
      dockerfile_inline: inline,
      entitlements: this.strList(value["entitlements"], at("entitlements")),
      args: this.resolvedMapping(value["args"], at("args")),
      provenance: this.boolOrString(value["provenance"], at("provenance")),
      sbom: this.boolOrString(value["sbom"], at("sbom")),
      ssh: this.ssh(value["ssh"], at("ssh")),
      labels: this.stringMap(value["labels"], at("labels")),
      cache_from: this.strList(value["cache_from"], at("cache_from")),
      cache_to: this.strList(value["cache_to"], at("cache_to")),
      no_cache: this.bool(value["no_cache"], at("no_cache")),
      no_cache_filter: this.strList(value["no_cache_filter"], at("no_cache_filter")),
      additional_contexts: this.additionalContexts(value["additional_contexts"], at("additional_contexts")),
      pull: this.bool(value["pull"], at("pull")),
      extra_hosts: this.extraHosts(value["extra_hosts"], at("extra_hosts")),
      isolation: this.str(value["isolation"], at("isolation")),
      network: this.str(value["network"], at("network")),
      target: this.str(value["target"], at("target")),
      secrets: this.fileMounts(value["secrets"], at("secrets"), undefined),
      shm_size: this.bytes(value["shm_size"], at("shm_size")),
      tags: this.strList(value["tags"], at("tags")),
      ulimits: this.ulimits(value["ulimits"], at("ulimits")),
      platforms: this.strList(value["platforms"], at("platforms")),
      privileged: this.bool(value["privileged"], at("privileged")),
      extensions: this.ext(value),
    });
  }

  private ssh(value: unknown, path: Path): SshKeySpec[] | undefined {
    if (value === undefined || value === null) return undefined;
    const out: SshKeySpec[] = [];
    if (typeof value === "string" || Array.isArray(value)) {
      const items: unknown[] = typeof value === "string" ? [value] : value;
      items.forEach((item, i) => {
        const p = typeof value === "string" ? path : [...path, i];
        const s = this.str(item, p);
        if (s === undefined) return;
        const eq = s.indexOf("=");
        if (eq >= 0) out.push({ id: s.slice(0, eq), path: s.slice(eq + 1) });
        else if (s === "default") out.push({ id: s });
        else this.error("normalize/ssh", p, `invalid ssh key "${s}": expected "default" or "id=path"`);
      });
      return out;
    }
    if (!isMapping(value)) return this.typeError(path, "a list or a mapping", value);
    for (const [id, v] of Object.entries(value)) {
      const p = this.str(v, [...path, id]);
      out.push(p === undefined || p === "" ? { id } : { id, path: p });
    }
    return out;
  }

  private additionalContexts(value: unknown, path: Path): StringMap | undefined {
    if (value === undefined || value === null) return undefined;
    const out: Record<string, string> = {};
    if (Array.isArray(value)) {
      value.forEach((item: unknown, i) => {
        const s = this.str(item, [...path, i]);
        if (s === undefined) return;
        const eq = s.indexOf("=");
        if (eq < 0) {
          this.error("normalize/mapping", [...path, i], `invalid value "${s}", expected name=context`);
          return;
        }
        out[s.slice(0, eq)] = this.contextPath(s.slice(eq + 1));
      });
      return out;
    }
    const map = this.stringMap(value, path);
    for (const [k, v] of Object.entries(map ?? {})) out[k] = this.contextPath(v);
    return out;
  }

  private develop(value: unknown, path: Path): DevelopSpec | undefined {
    if (value === undefined || value === null) return undefined;
    if (!isMapping(value)) return this.typeError(path, "a mapping", value);
    const watch = this.list(value["watch"], [...path, "watch"], (v, p): WatchRuleSpec | undefined => {
      if (!isMapping(v)) return this.typeError(p, "a mapping", v);
      const at = (k: string): Path => keyPath(v, p, k);
      return prune<WatchRuleSpec>({
        path: this.hostPath(this.str(v["path"], at("path")) ?? ""),
        action: this.str(v["action"], at("action")) ?? "",
        target: this.str(v["target"], at("target")),
        ignore: this.strList(v["ignore"], at("ignore")),
        include: this.strList(v["include"], at("include")),
        exec: this.hook(v["exec"], at("exec")),
        initial_sync: this.bool(v["initial_sync"], at("initial_sync")),
        extensions: this.ext(v),
      });
    });
    return prune({ watch, extensions: this.ext(value) });
  }

  private blkio(value: unknown, path: Path): BlkioConfigSpec | undefined {
    if (value === undefined || value === null) return undefined;
    if (!isMapping(value)) return this.typeError(path, "a mapping", value);
    const rates = (key: string, bytes: boolean): BlkioRateSpec[] | undefined =>
      this.list(value[key], [...path, key], (v, p) => {
        if (!isMapping(v)) return this.typeError(p, "a mapping with path and rate", v);
        const rate = bytes ? this.bytes(v["rate"], [...p, "rate"]) : this.int(v["rate"], [...p, "rate"]);
        return { path: this.str(v["path"], [...p, "path"]) ?? "", rate: rate ?? 0 };
      });
    return prune<BlkioConfigSpec>({
      weight: this.int(value["weight"], [...path, "weight"]),
      weight_device: this.list(value["weight_device"], [...path, "weight_device"], (v, p) => {
        if (!isMapping(v)) return this.typeError(p, "a mapping with path and weight", v);
        return {
          path: this.str(v["path"], [...p, "path"]) ?? "",
          weight: this.int(v["weight"], [...p, "weight"]) ?? 0,
        };
      }),
      device_read_bps: rates("device_read_bps", true),
      device_read_iops: rates("device_read_iops", false),
      device_write_bps: rates("device_write_bps", true),
      device_write_iops: rates("device_write_iops", false),
    });
  }

  private credentialSpec(value: unknown, path: Path): CredentialSpec | undefined {
    if (value === undefined || value === null) return undefined;
    if (!isMapping(value)) return this.typeError(path, "a mapping", value);
    return prune<CredentialSpec>({
      config: this.str(value["config"], [...path, "config"]),
      file: this.str(value["file"], [...path, "file"]),
      registry: this.str(value["registry"], [...path, "registry"]),
      extensions: this.ext(value),
    });
  }

  private deploy(value: unknown, path: Path): DeploySpec | undefined {
    if (value === undefined || value === null) return undefined;
    if (!isMapping(value)) return this.typeError(path, "a mapping", value);
    const at = (k: string): Path => keyPath(value, path, k);
    return prune<DeploySpec>({
      mode: this.str(value["mode"], at("mode")),
      replicas: this.int(value["replicas"], at("replicas")),
      labels: this.stringMap(value["labels"], at("labels")),
      update_config: this.updateConfig(value["update_config"], at("update_config")),
      rollback_config: this.updateConfig(value["rollback_config"], at("rollback_config")),
      resources: this.resourcesSpec(value["resources"], at("resources")),
      restart_policy: this.restartPolicy(value["restart_policy"], at("restart_policy")),
      placement: this.placement(value["placement"], at("placement")),
      endpoint_mode: this.str(value["endpoint_mode"], at("endpoint_mode")),
      extensions: this.ext(value),
    });
  }

  private updateConfig(value: unknown, path: Path): UpdateConfigSpec | undefined {
    if (value === undefined || value === null) return undefined;
    if (!isMapping(value)) return this.typeError(path, "a mapping", value);
    const at = (k: string): Path => keyPath(value, path, k);
    return prune<UpdateConfigSpec>({
      parallelism: this.int(value["parallelism"], at("parallelism")),
      delay: this.duration(value["delay"], at("delay")),
      failure_action: this.str(value["failure_action"], at("failure_action")),
      monitor: this.duration(value["monitor"], at("monitor")),
      max_failure_ratio: this.num(value["max_failure_ratio"], at("max_failure_ratio")),
      order: this.str(value["order"], at("order")),
      extensions: this.ext(value),
    });
  }

  private resourcesSpec(value: unknown, path: Path): ResourcesSpec | undefined {
    if (value === undefined || value === null) return undefined;
    if (!isMapping(value)) return this.typeError(path, "a mapping", value);
    return prune<ResourcesSpec>({
      limits: this.resource(value["limits"], [...path, "limits"]),
      reservations: this.resource(value["reservations"], [...path, "reservations"]),
      extensions: this.ext(value),
    });
  }

  private resource(value: unknown, path: Path): ResourceSpec | undefined {
    if (value === undefined || value === null) return undefined;
    if (!isMapping(value)) return this.typeError(path, "a mapping", value);
    const at = (k: string): Path => keyPath(value, path, k);
    return prune<ResourceSpec>({
      cpus: this.num(value["cpus"], at("cpus")),
      memory: this.bytes(value["memory"], at("memory")),
      pids: this.int(value["pids"], at("pids")),
      devices: this.list(value["devices"], at("devices"), (v, p) => this.deviceRequest(v, p)),
      generic_resources: this.list(value["generic_resources"], at("generic_resources"), (v, p) =>
        this.genericResource(v, p),
      ),
      extensions: this.ext(value),
    });
  }

  private genericResource(value: unknown, path: Path): GenericResourceSpec | undefined {
    if (!isMapping(value)) return this.typeError(path, "a mapping", value);
    const spec = value["discrete_resource_spec"];
    const p: Path = [...path, "discrete_resource_spec"];
    return prune<GenericResourceSpec>({
      discrete_resource_spec: isMapping(spec)
        ? prune({
            kind: this.str(spec["kind"], [...p, "kind"]) ?? "",
            value: this.int(spec["value"], [...p, "value"]) ?? 0,
            extensions: this.ext(spec),
          })
        : undefined,
      extensions: this.ext(value),
    });
  }

  /** compose-go's device request defaults: without `count` nor `device_ids`, all devices. */
  private deviceRequest(value: unknown, path: Path): DeviceRequestSpec | undefined {
    if (!isMapping(value)) return this.typeError(path, "a mapping", value);
    const at = (k: string): Path => keyPath(value, path, k);
    const deviceIds = this.strList(value["device_ids"], at("device_ids"));
    let count: number | "all" | undefined;
    const rawCount = value["count"];
    if (rawCount === "all" || rawCount === -1) count = "all";
    else count = this.int(rawCount, at("count"));
    if (count !== undefined && deviceIds !== undefined) {
      this.error("normalize/device-request", path, '"count" and "device_ids" are exclusive: set one of them');
    }
    return prune<DeviceRequestSpec>({
      capabilities: this.strList(value["capabilities"], at("capabilities")),
      driver: this.str(value["driver"], at("driver")),
      count: count ?? (deviceIds === undefined ? "all" : undefined),
      device_ids: deviceIds,
      options: this.stringMap(value["options"], at("options")),
      extensions: this.ext(value),
    });
  }

  private gpus(value: unknown, path: Path): DeviceRequestSpec[] | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value === "string") return [{ count: "all" }];
    return this.list(value, path, (v, p) => this.deviceRequest(v, p));
  }

  private restartPolicy(value: unknown, path: Path): RestartPolicySpec | undefined {
    if (value === undefined || value === null) return undefined;
    if (!isMapping(value)) return this.typeError(path, "a mapping", value);
    const at = (k: string): Path => keyPath(value, path, k);
    return prune<RestartPolicySpec>({
      condition: this.str(value["condition"], at("condition")),
      delay: this.duration(value["delay"], at("delay")),
      max_attempts: this.int(value["max_attempts"], at("max_attempts")),
      window: this.duration(value["window"], at("window")),
      extensions: this.ext(value),
    });
  }

  private placement(value: unknown, path: Path): PlacementSpec | undefined {
    if (value === undefined || value === null) return undefined;
    if (!isMapping(value)) return this.typeError(path, "a mapping", value);
    const at = (k: string): Path => keyPath(value, path, k);
    return prune<PlacementSpec>({
      constraints: this.strList(value["constraints"], at("constraints")),
      preferences: this.list(value["preferences"], at("preferences"), (v, p) => {
        if (!isMapping(v)) return this.typeError(p, "a mapping", v);
        return prune({ spread: this.str(v["spread"], [...p, "spread"]) ?? "", extensions: this.ext(v) });
      }),
      max_replicas_per_node: this.int(value["max_replicas_per_node"], at("max_replicas_per_node")),
      extensions: this.ext(value),
    });
  }

  private devices(value: unknown, path: Path): DeviceMappingSpec[] | undefined {
    return this.list(value, path, (v, p): DeviceMappingSpec | undefined => {
      if (isMapping(v)) {
        return prune<DeviceMappingSpec>({
          source: this.str(v["source"], [...p, "source"]) ?? "",
          target: this.str(v["target"], [...p, "target"]),
          permissions: this.str(v["permissions"], [...p, "permissions"]),
          extensions: this.ext(v),
        });
      }
      const s = this.str(v, p);
      if (s === undefined) return undefined;
      // compose-go: SOURCE[:TARGET[:PERMISSIONS]], target defaults to the source, permissions to rwm.
      const parts = s.split(":");
      if (parts.length > 3) {
        this.error(
          "normalize/device",
          p,
          `confusing device mapping "${s}"`,
          "use the long syntax {source, target, permissions}",
        );
        return undefined;
      }
      const [source = "", target, permissions] = parts;
      return {
        source,
        target: target === undefined || target === "" ? source : target,
        permissions: permissions ?? "rwm",
      };
    });
  }

  private provider(value: unknown, path: Path): ProviderSpec | undefined {
    if (value === undefined || value === null) return undefined;
    if (!isMapping(value)) return this.typeError(path, "a mapping", value);
    const options: Record<string, string | number | boolean | (string | number | boolean)[]> = {};
    const rawOptions = value["options"];
    if (isMapping(rawOptions)) {
      for (const [k, v] of Object.entries(rawOptions)) {
        if (isScalar(v)) options[k] = v;
        else if (Array.isArray(v)) options[k] = v.filter(isScalar);
        else this.typeError([...path, "options", k], "a string, number, boolean or a list of them", v);
      }
    }
    return prune<ProviderSpec>({
      type: this.str(value["type"], [...path, "type"]) ?? "",
      options: isMapping(rawOptions) ? options : undefined,
      extensions: this.ext(value),
    });
  }

  /** compose-go's HostsList: `host=ip`, `host:ip` (first separator wins), a mapping; `[v6]` brackets dropped. */
  private extraHosts(value: unknown, path: Path): string[] | undefined {
    if (value === undefined || value === null) return undefined;
    const out: string[] = [];
    const add = (host: string, ips: string[], p: Path): void => {
      if (host === "" || host.includes(":") || host.includes("=")) {
        this.error("normalize/extra-hosts", p, `bad host name "${host}"`);
        return;
      }
      for (const ip of ips) {
        const bare = ip.length > 2 && ip.startsWith("[") && ip.endsWith("]") ? ip.slice(1, -1) : ip;
        out.push(`${host}=${bare}`);
      }
    };
    if (Array.isArray(value)) {
      value.forEach((item: unknown, i) => {
        const s = this.str(item, [...path, i]);
        if (s === undefined) return;
        const sep = [s.indexOf("="), s.indexOf(":")].find((n) => n >= 0);
        if (sep === undefined) {
          this.error(
            "normalize/extra-hosts",
            [...path, i],
            `invalid extra host "${s}": missing IP address`,
            'write "host=ip"',
          );
          return;
        }
        add(s.slice(0, sep), s.slice(sep + 1).split(","), [...path, i]);
      });
      return out;
    }
    if (!isMapping(value)) return this.typeError(path, "a list or a mapping", value);
    for (const [host, ips] of Object.entries(value)) {
      const p = [...path, host];
      if (Array.isArray(ips))
        add(
          host,
          ips.map((ip) => this.str(ip, p) ?? ""),
          p,
        );
      else add(host, [this.str(ips, p) ?? ""], p);
    }
    return out;
  }

  private healthcheck(value: unknown, path: Path): HealthcheckSpec | undefined {
    if (value === undefined || value === null) return undefined;
    if (!isMapping(value)) return this.typeError(path, "a mapping", value);
    const at = (k: string): Path => keyPath(value, path, k);
    const rawTest = value["test"];
    let test: string[] | undefined;
    // A string is run by the container's shell; `disable: true` is the same as `test: [NONE]`.
    if (typeof rawTest === "string") test = ["CMD-SHELL", rawTest];
    else test = this.strList(rawTest, at("test"));
    if (this.bool(value["disable"], at("disable")) === true) test = ["NONE"];
    return prune<HealthcheckSpec>({
      test,
      timeout: this.duration(value["timeout"], at("timeout")),
      interval: this.duration(value["interval"], at("interval")),
      retries: this.int(value["retries"], at("retries")),
      start_period: this.duration(value["start_period"], at("start_period")),
      start_interval: this.duration(value["start_interval"], at("start_interval")),
      extensions: this.ext(value),
    });
  }

  private logging(value: unknown, path: Path): LoggingSpec | undefined {
    if (value === undefined || value === null) return undefined;
    if (!isMapping(value)) return this.typeError(path, "a mapping", value);
    return prune<LoggingSpec>({
      driver: this.str(value["driver"], [...path, "driver"]),
      options: this.stringMap(value["options"], [...path, "options"]),
      extensions: this.ext(value),
    });
  }

  private serviceModels(value: unknown, path: Path): Record<string, ServiceModelSpec | null> | undefined {
    if (value === undefined || value === null) return undefined;
    const out: Record<string, ServiceModelSpec | null> = {};
    if (Array.isArray(value)) {
      value.forEach((item: unknown, i) => {
        const name = this.str(item, [...path, i]);
        if (name !== undefined) out[name] = null;
      });
      return out;
    }
    if (!isMapping(value)) return this.typeError(path, "a list or a mapping", value);
    for (const [name, m] of Object.entries(value)) {
      out[name] = isMapping(m)
        ? prune({
            endpoint_var: this.str(m["endpoint_var"], [...path, name, "endpoint_var"]),
            model_var: this.str(m["model_var"], [...path, name, "model_var"]),
            extensions: this.ext(m),
          })
        : null;
    }
    return out;
  }

  private serviceNetworks(value: unknown, path: Path): Record<string, ServiceNetworkSpec | null> | undefined {
    if (value === undefined || value === null) return undefined;
    const out: Record<string, ServiceNetworkSpec | null> = {};
    if (Array.isArray(value)) {
      value.forEach((item: unknown, i) => {
        const name = this.str(item, [...path, i]);
        if (name !== undefined) out[name] = null;
      });
      return out;
    }
    if (!isMapping(value)) return this.typeError(path, "a list or a mapping", value);
    for (const [name, n] of Object.entries(value)) {
      if (!isMapping(n)) {
        out[name] = null;
        continue;
      }
      const at = (k: string): Path => [...path, name, k];
      out[name] = prune<ServiceNetworkSpec>({
        priority: this.int(n["priority"], at("priority")),
        gw_priority: this.int(n["gw_priority"], at("gw_priority")),
        aliases: this.strList(n["aliases"], at("aliases")),
        interface_name: this.str(n["interface_name"], at("interface_name")),
        ipv4_address: this.str(n["ipv4_address"], at("ipv4_address")),
        ipv6_address: this.str(n["ipv6_address"], at("ipv6_address")),
        link_local_ips: this.strList(n["link_local_ips"], at("link_local_ips")),
        mac_address: this.str(n["mac_address"], at("mac_address")),
        driver_opts: this.stringMap(n["driver_opts"], at("driver_opts")),
        extensions: this.ext(n),
      });
    }
    return out;
  }

  /** Ports: numbers and short-syntax strings expand to one entry per container port. */
  private ports(value: unknown, path: Path): PortSpec[] | undefined {
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value)) return this.typeError(path, "a list", value);
    const out: PortSpec[] = [];
    value.forEach((item: unknown, i) => {
      const p: Path = [...path, i];
      if (typeof item === "number") {
        if (!Number.isInteger(item) || item < 0 || item > 65535) {
          this.error("normalize/port", p, `invalid port ${item}: must be an integer between 0 and 65535`);
          return;
        }
        out.push({ mode: "ingress", target: item, protocol: "tcp" });
      } else if (typeof item === "string") {
        const parsed = parsePortSpec(item);
        if (typeof parsed === "string") {
          this.error(
            "normalize/port",
            p,
            `invalid port "${item}": ${parsed}`,
            "use [[IP:]HOST:]CONTAINER[/PROTOCOL], e.g. 127.0.0.1:8080:80/tcp",
          );
        } else {
          out.push(...parsed);
        }
      } else if (isMapping(item)) {
        const port = this.longPort(item, p);
        if (port !== undefined) out.push(port);
      } else {
        this.typeError(p, "a port number, a string or a mapping", item);
      }
    });
    return out;
  }

  private longPort(raw: Raw, path: Path): PortSpec | undefined {
    const at = (k: string): Path => keyPath(raw, path, k);
    const target = this.int(raw["target"], at("target"));
    if (target === undefined) {
      this.error("normalize/port", path, "a port needs `target`, the port inside the container");
      return undefined;
    }
    if (target < 0 || target > 65535) {
      this.error("normalize/port", at("target"), `invalid port ${target}: must be between 0 and 65535`);
    }
    return prune<PortSpec>({
      name: this.str(raw["name"], at("name")),
      mode: this.str(raw["mode"], at("mode")) ?? "ingress",
      host_ip: this.str(raw["host_ip"], at("host_ip")),
      target,
      published: this.str(raw["published"], at("published")),
      protocol: this.str(raw["protocol"], at("protocol")) ?? "tcp",
      app_protocol: this.str(raw["app_protocol"], at("app_protocol")),
      extensions: this.ext(raw),
    });
  }

  private volumeMount(value: unknown, path: Path): VolumeMountSpec | undefined {
    if (typeof value === "string") {
      const parsed = parseVolumeSpec(value);
      if (typeof parsed === "string") {
        this.error(
          "normalize/volume",
          path,
          `invalid volume "${value}": ${parsed}`,
          "use SOURCE:TARGET[:MODE], or the long syntax",
        );
        return undefined;
      }
      // The parsed fields, `source` (a bind's made absolute) moved last; no rest/spread, which is slow.
      const out: MutableVolume = { type: parsed.type };
      const fields: Record<string, unknown> = out;
      for (const k of Object.keys(parsed) as (keyof VolumeMountSpec)[]) {
        if (k !== "source" && k !== "type" && parsed[k] !== undefined) fields[k] = parsed[k];
      }
      const source = parsed.source;
      if (source !== undefined) out.source = parsed.type === "bind" ? this.hostPath(source) : source;
      return out;
    }
    if (!isMapping(value)) return this.typeError(path, "a string or a mapping", value);
    const at = (k: string): Path => keyPath(value, path, k);
    const type = this.str(value["type"], at("type")) ?? "volume";
    const source = this.str(value["source"], at("source"));
    const bind = value["bind"];
    const vol = value["volume"];
    const tmpfs = value["tmpfs"];
    const image = value["image"];
    return prune<VolumeMountSpec>({
      type,
      source: source !== undefined && type === "bind" ? this.hostPath(source) : source,
      target: this.str(value["target"], at("target")),
      read_only: this.bool(value["read_only"], at("read_only")),
      consistency: this.str(value["consistency"], at("consistency")),
      bind: isMapping(bind)
        ? prune<VolumeBindSpec>({
            selinux: this.str(bind["selinux"], [...at("bind"), "selinux"]),
            propagation: this.str(bind["propagation"], [...at("bind"), "propagation"]),
            // compose-go's defaultVolumeBind: a `bind:` mapping creates the host path unless told not to.
            create_host_path:
              this.bool(bind["create_host_path"], [...at("bind"), "create_host_path"]) ?? true,
            recursive: this.str(bind["recursive"], [...at("bind"), "recursive"]),
            extensions: this.ext(bind),
          })
        : undefined,
      volume: isMapping(vol)
        ? prune<VolumeVolumeSpec>({
            labels: this.stringMap(vol["labels"], [...at("volume"), "labels"]),
            nocopy: this.bool(vol["nocopy"], [...at("volume"), "nocopy"]),
            subpath: this.str(vol["subpath"], [...at("volume"), "subpath"]),
            extensions: this.ext(vol),
          })
        : undefined,
      tmpfs: isMapping(tmpfs)
        ? prune<VolumeTmpfsSpec>({
            size: this.bytes(tmpfs["size"], [...at("tmpfs"), "size"]),
            mode: this.fileMode(tmpfs["mode"], [...at("tmpfs"), "mode"]),
            extensions: this.ext(tmpfs),
          })
        : undefined,
      image: isMapping(image)
        ? prune({
            subpath: this.str(image["subpath"], [...at("image"), "subpath"]),
            extensions: this.ext(image),
          })
        : undefined,
      extensions: this.ext(value),
    });
  }

  /** Secrets and configs of a service or a build. `defaultTargetDir` gives secrets `/run/secrets/<source>`. */
  private fileMounts(
    value: unknown,
    path: Path,
    defaultTargetDir: string | undefined,
  ): FileMountSpec[] | undefined {
    return this.list(value, path, (v, p): FileMountSpec | undefined => {
      if (typeof v === "string") {
        return defaultTargetDir === undefined
          ? { source: v }
          : { source: v, target: `${defaultTargetDir}${v}` };
      }
      if (!isMapping(v)) return this.typeError(p, "a name or a mapping", v);
      const source = this.str(v["source"], [...p, "source"]) ?? "";
      const target = this.str(v["target"], [...p, "target"]);
      return prune<FileMountSpec>({
        source,
        target: target ?? (defaultTargetDir === undefined ? undefined : `${defaultTargetDir}${source}`),
        uid: this.str(v["uid"], [...p, "uid"]),
        gid: this.str(v["gid"], [...p, "gid"]),
        mode: this.fileMode(v["mode"], [...p, "mode"]),
        extensions: this.ext(v),
      });
    });
  }

  /** A single number sets both limits. */
  private ulimits(value: unknown, path: Path): Record<string, UlimitSpec> | undefined {
    if (value === undefined || value === null) return undefined;
    if (!isMapping(value)) return this.typeError(path, "a mapping", value);
    const out: Record<string, UlimitSpec> = {};
    for (const [name, v] of Object.entries(value)) {
      const p = [...path, name];
      if (isMapping(v)) {
        const soft = this.int(v["soft"], [...p, "soft"]);
        const hard = this.int(v["hard"], [...p, "hard"]);
        if (soft === undefined || hard === undefined) {
          this.error("normalize/ulimit", p, `ulimit "${name}" needs both soft and hard`);
          continue;
        }
        out[name] = prune({ soft, hard, extensions: this.ext(v) });
      } else {
        const n = this.int(v, p);
        if (n !== undefined) out[name] = { soft: n, hard: n };
      }
    }
    return out;
  }

  private hook(value: unknown, path: Path): ServiceHookSpec | undefined {
    if (value === undefined || value === null) return undefined;
    if (!isMapping(value)) return this.typeError(path, "a mapping", value);
    const at = (k: string): Path => keyPath(value, path, k);
    return prune<ServiceHookSpec>({
      command: this.shellCommand(value["command"], at("command")) ?? [],
      user: this.str(value["user"], at("user")),
      privileged: this.bool(value["privileged"], at("privileged")),
      working_dir: this.str(value["working_dir"], at("working_dir")),
      environment: this.resolvedMapping(value["environment"], at("environment")),
      extensions: this.ext(value),
    });
  }

  private preStartHook(value: unknown, path: Path): PreStartHookSpec | undefined {
    if (!isMapping(value)) return this.typeError(path, "a mapping", value);
    const at = (k: string): Path => keyPath(value, path, k);
    return prune<PreStartHookSpec>({
      command: this.shellCommand(value["command"], at("command")),
      image: this.str(value["image"], at("image")),
      user: this.str(value["user"], at("user")),
      privileged: this.bool(value["privileged"], at("privileged")),
      working_dir: this.str(value["working_dir"], at("working_dir")),
      environment: this.resolvedMapping(value["environment"], at("environment")),
      per_replica: this.bool(value["per_replica"], at("per_replica")),
      extensions: this.ext(value),
    });
  }

  /** `command` / `entrypoint`: a string is split like compose-go does (go-shellwords, no expansion). */
  private shellCommand(value: unknown, path: Path): string[] | undefined {
    if (value === undefined || value === null) return undefined;
    if (Array.isArray(value)) return value.map((v: unknown, i) => this.str(v, [...path, i]) ?? "");
    if (typeof value !== "string") return this.typeError(path, "a string or a list of strings", value);
    const r = splitShellWords(value);
    if ("error" in r) {
      this.error(
        "normalize/command",
        path,
        `cannot split "${value}" into arguments: ${r.error}`,
        "write the command as a list of arguments",
      );
      return undefined;
    }
    if (r.rest !== undefined) {
      // go-shellwords stops at an unquoted shell operator and Compose runs what came before it.
      this.warn(
        "normalize/command-shell-operator",
        path,
        `"${r.rest}" is not passed to the program: Compose does not run a shell, and stops at the unquoted operator`,
        `to run a shell, write ["sh", "-c", ${JSON.stringify(value)}]`,
      );
    }
    return r.args;
  }

  // ---------------------------------------------------------------------------------------------
  // Top-level resources

  private resources<T>(value: unknown, path: Path, fn: (raw: Raw, path: Path) => T): Record<string, T> {
    const out: Record<string, T> = {};
    if (!isMapping(value)) return out;
    // A null entry declares the resource with every default.
    for (const [key, raw] of Object.entries(value)) out[key] = fn(isMapping(raw) ? raw : {}, [...path, key]);
    return out;
  }

  /**
   * `external: {name: x}` (deprecated) → `name: x, external: true`, as compose-go's transformMaybeExternal;
   * a conflicting `name` is an error.
   */
  private external(raw: Raw, path: Path): { name?: string; external?: boolean } {
    let name = this.str(raw["name"], [...path, "name"]);
    const ext = raw["external"];
    if (!isMapping(ext)) return { name, external: this.bool(ext, [...path, "external"]) };
    const extName = this.str(ext["name"], [...path, "external", "name"]);
    if (extName !== undefined) {
      this.warn(
        "normalize/deprecated-external-name",
        [...path, "external", "name"],
        "`external.name` is deprecated",
        "set `name` and `external: true` instead",
        "key",
      );
      if (name !== undefined && name !== extName) {
        this.error(
          "normalize/external-name",
          [...path, "external", "name"],
          `name "${name}" and external.name "${extName}" conflict`,
          "only use `name`",
        );
      }
      name ??= extName;
    }
    return { name, external: true };
  }

  private network(raw: Raw, path: Path): NetworkSpec {
    const at = (k: string): Path => keyPath(raw, path, k);
    return prune<NetworkSpec>({
      ...this.external(raw, path),
      driver: this.str(raw["driver"], at("driver")),
      driver_opts: this.stringMap(raw["driver_opts"], at("driver_opts")),
      ipam: this.ipam(raw["ipam"], at("ipam")),
      internal: this.bool(raw["internal"], at("internal")),
      attachable: this.bool(raw["attachable"], at("attachable")),
      labels: this.stringMap(raw["labels"], at("labels")),
      enable_ipv4: this.bool(raw["enable_ipv4"], at("enable_ipv4")),
      enable_ipv6: this.bool(raw["enable_ipv6"], at("enable_ipv6")),
      extensions: this.ext(raw),
    });
  }

  private ipam(value: unknown, path: Path): IpamSpec | undefined {
    if (value === undefined || value === null) return undefined;
    if (!isMapping(value)) return this.typeError(path, "a mapping", value);
    return prune<IpamSpec>({
      driver: this.str(value["driver"], [...path, "driver"]),
      config: this.list(value["config"], [...path, "config"], (v, p): IpamPoolSpec | undefined => {
        if (!isMapping(v)) return this.typeError(p, "a mapping", v);
        return prune<IpamPoolSpec>({
          subnet: this.str(v["subnet"], [...p, "subnet"]),
          gateway: this.str(v["gateway"], [...p, "gateway"]),
          ip_range: this.str(v["ip_range"], [...p, "ip_range"]),
          aux_addresses: this.stringMap(v["aux_addresses"], [...p, "aux_addresses"]),
          extensions: this.ext(v),
        });
      }),
      options: this.stringMap(value["options"], [...path, "options"]),
      extensions: this.ext(value),
    });
  }

  private volume(raw: Raw, path: Path): VolumeSpec {
    const at = (k: string): Path => keyPath(raw, path, k);
    const driver = this.str(raw["driver"], at("driver"));
    let driverOpts = this.stringMap(raw["driver_opts"], at("driver_opts"));
    // The local driver with `o: bind` is a bind mount in disguise: its device is a host path.
    const device = driverOpts?.["device"];
    if (
      (driver === undefined || driver === "local") &&
      driverOpts?.["o"] === "bind" &&
      device !== undefined
    ) {
      driverOpts = { ...driverOpts, device: this.hostPath(device) };
    }
    return prune<VolumeSpec>({
      ...this.external(raw, path),
      driver,
      driver_opts: driverOpts,
      labels: this.stringMap(raw["labels"], at("labels")),
      extensions: this.ext(raw),
    });
  }

  private secret(raw: Raw, path: Path): SecretSpec {
    const at = (k: string): Path => keyPath(raw, path, k);
    const file = this.str(raw["file"], at("file"));
    return prune<SecretSpec>({
      ...this.external(raw, path),
      file: file === undefined ? undefined : this.hostPath(file),
      environment: this.str(raw["environment"], at("environment")),
      labels: this.stringMap(raw["labels"], at("labels")),
      driver: this.str(raw["driver"], at("driver")),
      driver_opts: this.stringMap(raw["driver_opts"], at("driver_opts")),
      template_driver: this.str(raw["template_driver"], at("template_driver")),
      extensions: this.ext(raw),
    });
  }

  private config(raw: Raw, path: Path): ConfigSpec {
    const at = (k: string): Path => keyPath(raw, path, k);
    const file = this.str(raw["file"], at("file"));
    return prune<ConfigSpec>({
      ...this.external(raw, path),
      file: file === undefined ? undefined : this.hostPath(file),
      environment: this.str(raw["environment"], at("environment")),
      content: this.str(raw["content"], at("content")),
      labels: this.stringMap(raw["labels"], at("labels")),
      template_driver: this.str(raw["template_driver"], at("template_driver")),
      extensions: this.ext(raw),
    });
  }

  private topModel(raw: Raw, path: Path): ModelSpec {
    const at = (k: string): Path => keyPath(raw, path, k);
    return prune<ModelSpec>({
      name: this.str(raw["name"], at("name")),
      model: this.str(raw["model"], at("model")) ?? "",
      context_size: this.int(raw["context_size"], at("context_size")),
      runtime_flags: this.strList(raw["runtime_flags"], at("runtime_flags")),
      extensions: this.ext(raw),
    });
  }

  /** compose-go's normalizeNetworks: `default` exists only when some service uses it. */
  private addDefaultNetwork(
    services: Record<string, ServiceSpec>,
    networks: Record<string, NetworkSpec>,
  ): void {
    let used = false;
    for (const svc of Object.values(services)) {
      if (svc.network_mode !== undefined) continue;
      if (svc.networks === undefined || Object.keys(svc.networks).length === 0) {
        // `svc` is this normalizer's own, new object: set in place (a spread copy of every service
        // costs more than the rest of this function).
        (svc as { networks?: ServiceSpec["networks"] }).networks = { default: null };
        used = true;
      } else if ("default" in svc.networks) {
        used = true;
      }
    }
    if (used && !("default" in networks)) networks["default"] = {};
  }

  /** compose-go's setNameFromKey: `<project>_<key>`, or the key itself for an external resource. */
  private nameFromKey<T extends { readonly name?: string; readonly external?: boolean }>(
    table: Record<string, T>,
  ): void {
    for (const [key, r] of Object.entries(table)) {
      if (r.name !== undefined) continue;
      table[key] = { ...r, name: r.external === true ? key : `${this.ctx.projectName}_${key}` };
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Scalars, lists and mappings

  private str(v: unknown, path: Path): string | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v === "string") return v;
    if (typeof v === "number" || typeof v === "boolean") return String(v);
    return this.typeError(path, "a string", v);
  }

  private boolOrString(v: unknown, path: Path): string | boolean | undefined {
    if (typeof v === "boolean") return v;
    return this.str(v, path);
  }

  /** Booleans, and the strings compose-go's interpolation casts (`true`, `yes`, `on`, `y`, and their opposites). */
  private bool(v: unknown, path: Path): boolean | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v === "boolean") return v;
    if (typeof v === "string") {
      const s = v.toLowerCase();
      if (["true", "yes", "y", "on"].includes(s)) return true;
      if (["false", "no", "n", "off"].includes(s)) return false;
    }
    return this.typeError(path, "a boolean (true or false)", v);
  }

  private int(v: unknown, path: Path): number | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v === "number" && Number.isInteger(v)) return v;
    if (typeof v === "string" && /^\s*[-+]?\d+\s*$/.test(v)) return Number.parseInt(v, 10);
    return this.typeError(path, "an integer", v);
  }

  private num(v: unknown, path: Path): number | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v === "number" && Number.isFinite(v)) return v;
    if (typeof v === "string" && /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(v)) return Number(v);
    return this.typeError(path, "a number", v);
  }

  /** CPU periods: a number of microseconds, or (like Compose) a duration string. */
  private micros(v: unknown, path: Path): number | undefined {
    if (typeof v === "string" && !/^\s*[-+]?\d+\s*$/.test(v)) {
      const ms = parseDuration(v);
      if (ms !== undefined) return Math.round(ms * 1000);
    }
    return this.int(v, path);
  }

  private duration(v: unknown, path: Path): number | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v === "string") {
      const ms = parseDuration(v);
      if (ms !== undefined) return ms;
      this.error(
        "normalize/duration",
        path,
        `invalid duration "${v}"`,
        'use a number with a unit: "1m30s", "10s", "500ms" (units: h, m, s, ms, us, ns)',
      );
      return undefined;
    }
    return this.typeError(path, 'a duration such as "10s"', v);
  }

  /** Byte sizes: a number of bytes or a string with a binary unit ("50M", "1.5g"). `-1` only where allowed. */
  private bytes(v: unknown, path: Path, allowMinusOne = false): number | undefined {
    if (v === undefined || v === null) return undefined;
    if (allowMinusOne && (v === -1 || v === "-1")) return -1;
    if (typeof v === "number" || typeof v === "string") {
      const n = parseBytes(v);
      if (n !== undefined) return n;
      this.error(
        "normalize/bytes",
        path,
        `invalid size ${JSON.stringify(v)}`,
        'use a number of bytes or a number with a unit: "512k", "50M", "1.5g"',
      );
      return undefined;
    }
    return this.typeError(path, 'a size such as "50M"', v);
  }

  /** File modes: numbers are the bits (YAML `0440` is already octal), strings are read as octal like compose-go. */
  private fileMode(v: unknown, path: Path): number | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v === "number" && Number.isInteger(v) && v >= 0) return v;
    if (typeof v === "string" && /^\s*(0o?)?[0-7]+\s*$/.test(v))
      return Number.parseInt(v.trim().replace(/^0o/, ""), 8);
    this.error(
      "normalize/file-mode",
      path,
      `invalid file mode ${JSON.stringify(v)}`,
      'use octal digits, e.g. 0440 or "0440"',
    );
    return undefined;
  }

  /** A string or a list of strings → a list. */
  private strList(v: unknown, path: Path): string[] | undefined {
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) {
      const s = this.str(v, path);
      return s === undefined ? undefined : [s];
    }
    const out: string[] = [];
    v.forEach((item: unknown, i) => {
      const s = typeof item === "string" ? item : this.str(item, [...path, i]);
      if (s !== undefined) out.push(s);
    });
    return out;
  }

  private list<T>(v: unknown, path: Path, fn: (item: unknown, path: Path) => T | undefined): T[] | undefined {
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) return this.typeError(path, "a list", v);
    const out: T[] = [];
    v.forEach((item: unknown, i) => {
      const r = fn(item, [...path, i]);
      if (r !== undefined) out.push(r);
    });
    return out;
  }

  /**
   * compose-go's `Mapping` / `Labels`: a mapping, or a list of `KEY=VALUE`; a key without value (`KEY`,
   * `KEY:` null) is the empty string. Numbers and booleans become their text.
   */
  private stringMap(v: unknown, path: Path): Record<string, string> | undefined {
    const m = this.mappingWithEquals(v, path);
    if (m === undefined) return undefined;
    const out: Record<string, string> = {};
    for (const [k, val] of m) out[k] = val ?? "";
    return out;
  }

  /** Environment-like mappings (`build.args`, hook environment): bare keys resolved, unset ones dropped. */
  private resolvedMapping(v: unknown, path: Path): Record<string, string> | undefined {
    const m = this.mappingWithEquals(v, path);
    if (m === undefined) return undefined;
    const out: Record<string, string> = {};
    for (const [k, val] of m) {
      const resolved = val ?? this.ctx.lookup(k);
      if (resolved !== undefined) out[k] = resolved;
    }
    return out;
  }

  /** compose-go's `MappingWithEquals`: like `stringMap`, but a key without value stays `null` (unresolved). */
  private mappingWithEquals(v: unknown, path: Path): Map<string, string | null> | undefined {
    if (v === undefined || v === null) return undefined;
    const out = new Map<string, string | null>();
    if (Array.isArray(v)) {
      v.forEach((item: unknown, i) => {
        const s = typeof item === "string" ? item : this.str(item, [...path, i]);
        if (s === undefined) return;
        const eq = s.indexOf("=");
        if (eq < 0) out.set(s, null);
        else out.set(s.slice(0, eq), s.slice(eq + 1));
      });
      return out;
    }
    if (!isMapping(v)) return this.typeError(path, "a mapping or a list of KEY=VALUE", v);
    for (const [k, val] of Object.entries(v))
      out.set(k, val === null ? null : (this.str(val, [...path, k]) ?? null));
    return out;
  }

  /** The `x-*` keys of a mapping. */
  private ext(raw: Raw): Extensions | undefined {
    let out: Record<`x-${string}`, unknown> | undefined;
    for (const k of Object.keys(raw)) {
      if (isExtensionKey(k)) (out ??= {})[k] = raw[k];
    }
    return out;
  }

  // ---------------------------------------------------------------------------------------------
  // Paths

  /** A host path: `~` expanded (when the home directory is known), relative paths made absolute. */
  private hostPath(p: string): string {
    const home = this.ctx.homeDir;
    if (home !== undefined && (p === "~" || p.startsWith("~/"))) return posix.join(home, p.slice(1));
    if (p.startsWith("~") || posix.isAbsolute(p) || isWindowsPath(p)) return p;
    return posix.join(this.ctx.workingDir, p);
  }

  /** A build context: URLs, `service:` and `docker-image://`-style references are not paths. */
  private contextPath(p: string): string {
    if (p.includes("://") || p.startsWith("service:") || isRemoteContext(p)) return p;
    return this.hostPath(p);
  }

  // ---------------------------------------------------------------------------------------------
  // Diagnostics

  private error(code: string, path: Path, message: string, hint?: string): void {
    this.ctx.diags.error(code, path, message, this.ctx.sources.locate(this.model, path), hint);
  }

  private warn(
    code: string,
    path: Path,
    message: string,
    hint?: string,
    part: "key" | "value" = "value",
  ): void {
    this.ctx.diags.warn(code, path, message, this.ctx.sources.locate(this.model, path, part), hint);
  }

  /** A value of the wrong type: the schema should have caught it, so say plainly what was expected. */
  // T is inferred from the caller's return type, so that `return this.typeError(…)` type-checks anywhere.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
  private typeError<T = never>(path: Path, expected: string, got: unknown): T | undefined {
    this.error("normalize/type", path, `must be ${expected}, not ${describe(got)}`);
    return undefined;
  }
}

// -----------------------------------------------------------------------------------------------
// Ports: docker/go-connections `nat.ParsePortSpec`, as compose-go's ParsePortConfig uses it

/**
 * Parses `[[IP:]HOST:]CONTAINER[/PROTOCOL]`, where HOST and CONTAINER may be ranges. Returns one entry per
 * container port, or an error message. Entries are ordered like compose-go orders them: by the text
 * `port/proto`, so `"998-1001"` gives 1000, 1001, 998, 999.
 */
export function parsePortSpec(raw: string): PortSpec[] | string {
  const parts = raw.split(":");
  const n = parts.length;
  let containerPort = parts[n - 1] ?? "";
  let ip = "";
  let hostPort = "";
  if (n === 2) hostPort = parts[0] ?? "";
  else if (n >= 3) {
    ip = parts.slice(0, n - 2).join(":");
    hostPort = parts[n - 2] ?? "";
  }
  // SplitProtoPort
  let proto = "tcp";
  const protoParts = containerPort.split("/");
  if (containerPort === "" || (protoParts[0] ?? "") === "") {
    containerPort = "";
    proto = "";
  } else if (protoParts.length > 1) {
    containerPort = protoParts[0] ?? "";
    if ((protoParts[1] ?? "") !== "") proto = protoParts[1] ?? "";
  }
  if (ip.startsWith("[")) {
    if (!ip.endsWith("]")) return `invalid IP address ${ip}`;
    ip = ip.slice(1, -1);
  }
  if (ip !== "" && isIP(ip) === 0) return `invalid IP address: ${ip}`;
  if (containerPort === "") return "no container port specified";
  const container = parsePortRange(containerPort);
  if (container === undefined) return `invalid container port: ${containerPort}`;
  let host: [number, number] = [0, 0];
  if (hostPort !== "") {
    const h = parsePortRange(hostPort);
    if (h === undefined) return `invalid host port: ${hostPort}`;
    host = h;
  }
  const [start, end] = container;
  const [hostStart, hostEnd] = host;
  // A host range with a single container port is the range to allocate the host port from.
  if (hostPort !== "" && end - start !== hostEnd - hostStart && end !== start) {
    return `invalid ranges specified for container and host ports: ${containerPort} and ${hostPort}`;
  }
  const protocol = proto.toLowerCase();
  if (!["tcp", "udp", "sctp"].includes(protocol)) return `invalid protocol: ${proto}`;
  const out: { key: string; port: PortSpec }[] = [];
  for (let i = 0; i <= end - start; i++) {
    let published = hostPort === "" ? "" : String(hostStart + i);
    if (start === end && hostStart !== hostEnd) published = `${published}-${hostEnd}`;
    out.push({
      key: `${start + i}/${protocol}`,
      port: prune<PortSpec>({
        mode: "ingress",
        host_ip: ip === "" ? undefined : ip,
        target: start + i,
        published: published === "" ? undefined : published,
        protocol,
      }),
    });
  }
  out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return out.map((o) => o.port);
}

/** `80` or `8000-8010`: Go's ParseUint(…, 10, 16) on each end. */
function parsePortRange(s: string): [number, number] | undefined {
  const parse = (t: string | undefined): number | undefined => {
    if (t === undefined || !/^\d+$/.test(t)) return undefined;
    const v = Number(t);
    return v <= 65535 ? v : undefined;
  };
  if (!s.includes("-")) {
    const v = parse(s);
    return v === undefined ? undefined : [v, v];
  }
  const [a, b] = s.split("-");
  const start = parse(a);
  const end = parse(b);
  if (start === undefined || end === undefined || end < start) return undefined;
  return [start, end];
}

// -----------------------------------------------------------------------------------------------
// Volumes: compose-go `format.ParseVolume`

type MutableVolume = { -readonly [K in keyof VolumeMountSpec]: VolumeMountSpec[K] } & { type: string };

/**
 * Parses `[SOURCE:]TARGET[:OPTIONS]` (options: `ro`, `rw`, `nocopy`, `z`, `Z`, propagation modes). A source
 * starting with `.`, `/` or `~` makes a bind mount (which creates a missing host path, the legacy
 * behaviour), anything else a named volume. Returns an error message when it cannot be read.
 */
export function parseVolumeSpec(spec: string): VolumeMountSpec | string {
  const volume: MutableVolume = { type: "volume" };
  if (spec.length === 0) return "empty volume specification";
  // compose-go shortcut: one or two characters can only be a container path.
  if (spec.length <= 2) return { type: "volume", target: cleanPath(spec) };
  let buffer = "";
  let inVar = 0;
  // Go ranges over code points; going over UTF-16 code units instead gives the same result, as only
  // ASCII characters are looked at and the drive-letter test measures `buffer` in code units anyway.
  let bind: { -readonly [K in keyof VolumeBindSpec]: VolumeBindSpec[K] } | undefined;
  let nocopy = false;
  for (let i = 0; i <= spec.length; i++) {
    const c = i < spec.length ? spec.charAt(i) : END;
    // `${…}` (left by `$${…}` escapes) may contain colons.
    if (c === "$" && spec.charAt(i + 1) === "{") {
      inVar++;
      buffer += c;
      continue;
    }
    if (c === "}" && inVar > 0) {
      inVar--;
      buffer += c;
      continue;
    }
    if (c === ":" && buffer.length === 1 && /\p{L}/u.test(buffer)) {
      buffer += c; // a Windows drive letter
    } else if ((c === ":" || c === END) && inVar === 0) {
      if (buffer === "") return "empty section between colons";
      if (volume.source === undefined && c === END) volume.target = buffer;
      else if (volume.source === undefined) volume.source = buffer;
      else if (volume.target === undefined) volume.target = buffer;
      else if (c === ":") return "too many colons";
      else {
        for (const option of buffer.split(",")) {
          if (option === "ro") volume.read_only = true;
          else if (option === "rw") volume.read_only = false;
          else if (option === "nocopy") nocopy = true;
          else if (option === "z" || option === "Z") (bind ??= {}).selinux = option;
          else if (PROPAGATIONS.has(option)) (bind ??= {}).propagation = option;
          // Unknown options are ignored, as compose-go does.
        }
      }
      buffer = "";
    } else {
      buffer += c;
    }
  }
  if (volume.source !== undefined && isFilePath(volume.source)) {
    volume.type = "bind";
    // Short syntax binds create a missing host path, for compatibility with docker-compose v1.
    volume.bind = { ...bind, create_host_path: true };
  } else {
    volume.type = "volume";
    if (bind !== undefined) volume.bind = bind;
    volume.volume = nocopy ? { nocopy: true } : {};
  }
  if (volume.read_only === false) delete volume.read_only;
  if (volume.target !== undefined) volume.target = cleanPath(volume.target);
  return volume;
}

const END = "\u0000";
const PROPAGATIONS = new Set(["rprivate", "private", "rshared", "shared", "rslave", "slave"]);

function isFilePath(source: string): boolean {
  if (source === "") return false;
  if (".~/".includes(source.charAt(0))) return true;
  if (source.startsWith("\\\\")) return true;
  return isWindowsPath(source);
}

function isWindowsPath(p: string): boolean {
  return /^\p{L}:/u.test(p);
}

/** Go's `path.Clean`: like posix.normalize, minus the trailing slash. */
function cleanPath(p: string): string {
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith("/") ? n.slice(0, -1) : n;
}

function isRemoteContext(p: string): boolean {
  return ["https://", "http://", "git://", "ssh://", "github.com/", "git@"].some((prefix) =>
    p.startsWith(prefix),
  );
}

// -----------------------------------------------------------------------------------------------
// Commands: mattn/go-shellwords `Parse` (ParseEnv and ParseBacktick off), as compose-go uses it

export type ShellWords = { readonly args: string[]; readonly rest?: string } | { readonly error: string };

/**
 * Splits a command line into arguments the way compose-go does: spaces separate, single quotes are
 * literal, double quotes and backslashes escape (`\t` and `\n` become tab and newline outside single
 * quotes), nothing is expanded. At an unquoted `;`, `&`, `|`, `<` or `>` it stops: `rest` is the text
 * that is left out (a `2>`-style file descriptor number included).
 */
export function splitShellWords(line: string): ShellWords {
  const args: string[] = [];
  let buf = "";
  let escaped = false;
  let doubleQuoted = false;
  let singleQuoted = false;
  let backQuote = false;
  let dollarQuote = false;
  /** 0: no argument in progress; 1: plain characters; 2: a quoted section closed (keeps `""`). */
  let got = 0;
  let stop = -1;
  const chars = Array.from(line); // code points, as Go ranges over a string
  let offset = 0;
  loop: for (let i = 0; i < chars.length; offset += (chars[i] ?? "").length, i++) {
    const r = chars[i] ?? "";
    if (escaped) {
      escaped = false;
      if (backQuote || dollarQuote) {
        buf += `\\${r}`;
      } else {
        buf += r === "t" ? "\t" : r === "n" ? "\n" : r;
      }
      got = 1;
      continue;
    }
    if (r === "\\") {
      if (singleQuoted) buf += r;
      else escaped = true;
      continue;
    }
    if (r === " " || r === "\t" || r === "\r" || r === "\n") {
      if (singleQuoted || doubleQuoted || backQuote || dollarQuote) {
        buf += r;
      } else if (got !== 0) {
        args.push(buf);
        buf = "";
        got = 0;
      }
      continue;
    }
    switch (r) {
      case "`":
        if (!singleQuoted && !doubleQuoted && !dollarQuote) backQuote = !backQuote;
        break;
      case ")":
        if (!singleQuoted && !doubleQuoted && !backQuote) {
          if (!dollarQuote) return { error: "unexpected )" };
          buf += r;
          dollarQuote = false;
          got = 1;
          continue;
        }
        break;
      case "(":
        if (!singleQuoted && !doubleQuoted && !backQuote) {
          if (!dollarQuote && buf.endsWith("$") && !buf.endsWith("\\$")) {
            dollarQuote = true;
            buf += r;
            continue;
          }
          return { error: "unexpected (" };
        }
        break;
      case '"':
        if (!singleQuoted && !dollarQuote && !backQuote) {
          if (doubleQuoted) got = 2;
          doubleQuoted = !doubleQuoted;
          continue;
        }
        break;
      case "'":
        if (!doubleQuoted && !dollarQuote && !backQuote) {
          if (singleQuoted) got = 2;
          singleQuoted = !singleQuoted;
          continue;
        }
        break;
      case ";":
      case "&":
      case "|":
      case "<":
      case ">":
        if (!(singleQuoted || doubleQuoted || backQuote || dollarQuote)) {
          stop = offset;
          if (r === ">" && buf !== "" && /^\d+$/.test(buf)) {
            // `2>file`: the descriptor number belongs to the redirection, not to the arguments.
            stop -= buf.length;
            got = 0;
          }
          break loop;
        }
        break;
    }
    got = 1;
    buf += r;
  }
  if (got !== 0) args.push(buf);
  if (escaped || singleQuoted || doubleQuoted || backQuote || dollarQuote) {
    return {
      error: singleQuoted || doubleQuoted ? "unterminated quote" : "unterminated escape or substitution",
    };
  }
  return stop < 0 ? { args } : { args, rest: line.slice(stop) };
}

// -----------------------------------------------------------------------------------------------
// Helpers

/** Drops the keys whose value is `undefined`, so that absent fields are absent (not `undefined`). */
function prune<T extends object>(o: T): T {
  // Called on object literals of known fields (never a `__proto__` key), mostly undefined ones.
  const out: Record<string, unknown> = {};
  for (const k in o) {
    const v = o[k];
    if (v !== undefined) out[k] = v;
  }
  return out as T;
}

/**
 * The path of `raw[key]`; for an absent key, the path of `raw` itself. Every reader returns
 * `undefined` for an absent value without reporting anything, so that path is never used, and not
 * building it spares an allocation for each of the many keys a mapping may have but seldom does.
 */
function keyPath(raw: Raw, path: Path, key: string): Path {
  return raw[key] === undefined ? path : [...path, key];
}

function isExtensionKey(k: string): k is `x-${string}` {
  return k.startsWith("x-");
}

function isScalar(v: unknown): v is string | number | boolean {
  return typeof v === "string" || typeof v === "number" || typeof v === "boolean";
}

function stringsOf(v: unknown): string[] {
  if (typeof v === "string") return [v];
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === "string") : [];
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "string") return `the string ${JSON.stringify(v)}`;
  if (typeof v === "number" || typeof v === "boolean") return `${typeof v} ${v}`;
  return typeof v;
}

function errorCode(e: unknown): unknown {
  return typeof e === "object" && e !== null && "code" in e ? e.code : undefined;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
