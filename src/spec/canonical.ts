/**
 * The canonical rendering of a `StackSpec`: the plain-data model `docker compose config` prints (as YAML
 * or JSON), and the per-service configuration hash derived from it.
 *
 * Rendering follows compose-go's Go types and their YAML marshalling:
 * - keys in the order of the Go struct fields; maps (labels, environment, services…) sorted by key;
 *   `x-*` keys after the fields, sorted;
 * - durations as Go duration strings ("1m0s"), byte sizes as strings of digits ("52428800"), file
 *   modes as octal strings ("0440"), CPU counts as numbers;
 * - `omitempty`: zero values (false, 0, "", empty lists and maps) are left out, except where compose-go
 *   uses a pointer (e.g. `attach`, `replicas`, healthcheck durations) and so prints an explicit zero;
 * - compose-go's "opt-out" booleans (`env_file[].required`, `bind.create_host_path`) print only when false.
 *
 * Differences from compose-go, by design of the typed model: a ulimit whose soft and hard limits are equal
 * prints as one number; `healthcheck.disable: true` prints as `test: [NONE]` (its meaning); a bare
 * `environment` key the environment does not define is absent rather than `null`.
 */
import { createHash } from "node:crypto";
import { internalError } from "../common/errors.js";
import type {
  BuildSpec,
  DeploySpec,
  DeviceRequestSpec,
  Extensions,
  FileMountSpec,
  HealthcheckSpec,
  NetworkSpec,
  PortSpec,
  ResourceSpec,
  ServiceHookSpec,
  ServiceSpec,
  StackSpec,
  UlimitSpec,
  UpdateConfigSpec,
  VolumeMountSpec,
  VolumeSpec,
} from "./types.js";
import { formatDuration } from "./units.js";

type Obj = Record<string, unknown>;

/** The model as `docker compose config` prints it. Serialize with any YAML or JSON writer. */
export function toCanonical(spec: StackSpec): Obj {
  return new Renderer(true).stack(spec);
}

/**
 * Keys left out of the service hash, and why (docker/compose `ServiceHash` excludes the same, so a
 * container created by Compose and one created by tsstack agree on what counts as drift):
 * - `build`, `pull_policy`: how the image is obtained; a changed image shows up in `image` / the image
 *   digest the reconciler compares separately, not in the container's configuration.
 * - `scale`, `deploy.replicas`: how many containers, not what each one is; scaling adds or removes
 *   replicas without recreating the others.
 * - `depends_on`: start order only; the container itself is the same.
 * - `profiles`: whether the service is enabled, not how it runs.
 * - every `x-*` extension: metadata for tools (Compose's JSON form drops them too).
 */
export const HASH_EXCLUDED_KEYS: readonly string[] = [
  "build",
  "pull_policy",
  "scale",
  "deploy.replicas",
  "depends_on",
  "profiles",
  "x-*",
];

/**
 * A stable sha256 (hex) of one service's effective configuration: its canonical form without the keys in
 * `HASH_EXCLUDED_KEYS`, serialized as JSON with sorted keys. Equal for equivalent files (key order, short
 * or long syntax); different when anything that shapes the container changes (image, environment,
 * mounts, ports…). tsstack labels every container with it; a different hash means the container drifted.
 */
export function serviceConfigHash(spec: StackSpec, service: string): string {
  const svc = spec.services[service];
  if (svc === undefined)
    throw internalError(`serviceConfigHash: no service "${service}" in stack "${spec.name}"`);
  const canonical = new Renderer(false).service(svc);
  delete canonical["build"];
  delete canonical["pull_policy"];
  delete canonical["scale"];
  delete canonical["depends_on"];
  delete canonical["profiles"];
  const deploy = canonical["deploy"];
  if (isObj(deploy)) {
    delete deploy["replicas"];
    // `deploy: {replicas: 3}` and `scale: 3` must hash alike: an emptied deploy section says nothing.
    if (Object.keys(deploy).length === 0) delete canonical["deploy"];
  }
  return createHash("sha256").update(stableJson(canonical)).digest("hex");
}

/**
 * A stable sha256 (hex) of one top-level network's effective configuration, as `serviceConfigHash` does
 * for services: its canonical form without `name` (the identity it is found by), `external` (external
 * networks are never judged) and `x-*` extensions, with the default driver (`bridge`) made explicit so
 * that spelling the default out is no change. tsstack labels the networks it creates with it; `up`
 * recreates a network whose label differs (docker/compose `NetworkHash`, compose PR #12267).
 */
export function networkConfigHash(spec: StackSpec, key: string): string {
  const net = spec.networks[key];
  if (net === undefined)
    throw internalError(`networkConfigHash: no network "${key}" in stack "${spec.name}"`);
  return resourceHash(new Renderer(false).network(net), "bridge");
}

/**
 * A stable sha256 (hex) of one top-level volume's effective configuration (driver, default `local` as
 * docker/compose `VolumeHash` fills it in, driver_opts, labels), without `name`, `external` and `x-*`.
 * tsstack labels the volumes it creates with it; `up` only warns about a volume whose label differs.
 */
export function volumeConfigHash(spec: StackSpec, key: string): string {
  const vol = spec.volumes[key];
  if (vol === undefined) throw internalError(`volumeConfigHash: no volume "${key}" in stack "${spec.name}"`);
  return resourceHash(new Renderer(false).volume(vol), "local");
}

/** The hash of a network's or volume's canonical form, without its identity, default driver spelled out. */
function resourceHash(canonical: Record<string, unknown>, defaultDriver: string): string {
  delete canonical["name"];
  delete canonical["external"];
  canonical["driver"] ??= defaultDriver;
  return createHash("sha256").update(stableJson(canonical)).digest("hex");
}

class Renderer {
  constructor(private readonly withExtensions: boolean) {}

  stack(spec: StackSpec): Obj {
    return this.o(
      [
        ["name", spec.name],
        // compose-go prints `services` even when there are none; the other tables are omitempty.
        ["services", sortedMap(spec.services, (s) => this.service(s)) ?? {}],
        ["networks", mapOf(spec.networks, (n) => this.network(n))],
        ["volumes", mapOf(spec.volumes, (v) => this.volume(v))],
        [
          "secrets",
          mapOf(spec.secrets, (s) =>
            this.o(
              [
                ["name", str(s.name)],
                ["file", str(s.file)],
                ["environment", str(s.environment)],
                ["external", bool(s.external)],
                ["labels", sorted(s.labels)],
                ["driver", str(s.driver)],
                ["driver_opts", sorted(s.driver_opts)],
                ["template_driver", str(s.template_driver)],
              ],
              s.extensions,
            ),
          ),
        ],
        [
          "configs",
          mapOf(spec.configs, (c) =>
            this.o(
              [
                ["name", str(c.name)],
                ["file", str(c.file)],
                ["environment", str(c.environment)],
                ["content", str(c.content)],
                ["external", bool(c.external)],
                ["labels", sorted(c.labels)],
                ["template_driver", str(c.template_driver)],
              ],
              c.extensions,
            ),
          ),
        ],
        [
          "models",
          mapOf(spec.models, (m) =>
            this.o(
              [
                ["name", str(m.name)],
                ["model", str(m.model)],
                ["context_size", num(m.context_size)],
                ["runtime_flags", list(m.runtime_flags)],
              ],
              m.extensions,
            ),
          ),
        ],
      ],
      spec.extensions,
    );
  }

  service(s: ServiceSpec): Obj {
    return this.o(
      [
        ["profiles", list(s.profiles)],
        ["annotations", sorted(s.annotations)],
        ["attach", s.attach],
        ["build", s.build && this.build(s.build)],
        [
          "develop",
          s.develop &&
            this.o(
              [
                [
                  "watch",
                  list(s.develop.watch, (w) =>
                    this.o(
                      [
                        ["path", str(w.path)],
                        ["action", str(w.action)],
                        ["target", str(w.target)],
                        ["exec", w.exec && this.hook(w.exec)],
                        ["include", list(w.include)],
                        ["ignore", list(w.ignore)],
                        ["initial_sync", bool(w.initial_sync)],
                      ],
                      w.extensions,
                    ),
                  ),
                ],
              ],
              s.develop.extensions,
            ),
        ],
        [
          "blkio_config",
          s.blkio_config &&
            this.o([
              ["weight", num(s.blkio_config.weight)],
              [
                "weight_device",
                list(s.blkio_config.weight_device, (d) => ({ path: d.path, weight: d.weight })),
              ],
              [
                "device_read_bps",
                list(s.blkio_config.device_read_bps, (d) => ({ path: d.path, rate: bytes(d.rate) })),
              ],
              [
                "device_read_iops",
                list(s.blkio_config.device_read_iops, (d) => ({ path: d.path, rate: bytes(d.rate) })),
              ],
              [
                "device_write_bps",
                list(s.blkio_config.device_write_bps, (d) => ({ path: d.path, rate: bytes(d.rate) })),
              ],
              [
                "device_write_iops",
                list(s.blkio_config.device_write_iops, (d) => ({ path: d.path, rate: bytes(d.rate) })),
              ],
            ]),
        ],
        ["cap_add", list(s.cap_add)],
        ["cap_drop", list(s.cap_drop)],
        ["cgroup_parent", str(s.cgroup_parent)],
        ["cgroup", str(s.cgroup)],
        ["cpu_count", num(s.cpu_count)],
        ["cpu_percent", num(s.cpu_percent)],
        ["cpu_period", num(s.cpu_period)],
        ["cpu_quota", num(s.cpu_quota)],
        ["cpu_rt_period", num(s.cpu_rt_period)],
        ["cpu_rt_runtime", num(s.cpu_rt_runtime)],
        ["cpus", num(s.cpus)],
        ["cpuset", str(s.cpuset)],
        ["cpu_shares", num(s.cpu_shares)],
        // A ShellCommand: an explicitly empty command is printed (it clears the image's CMD).
        ["command", s.command && [...s.command]],
        ["configs", list(s.configs, (c) => this.fileMount(c))],
        ["container_name", str(s.container_name)],
        [
          "credential_spec",
          s.credential_spec &&
            this.o(
              [
                ["config", str(s.credential_spec.config)],
                ["file", str(s.credential_spec.file)],
                ["registry", str(s.credential_spec.registry)],
              ],
              s.credential_spec.extensions,
            ),
        ],
        [
          "depends_on",
          sortedMap(s.depends_on, (d) =>
            this.o(
              [
                ["condition", str(d.condition)],
                ["restart", bool(d.restart)],
                ["required", d.required],
              ],
              d.extensions,
            ),
          ),
        ],
        ["deploy", s.deploy && this.deploy(s.deploy)],
        ["device_cgroup_rules", list(s.device_cgroup_rules)],
        [
          "devices",
          list(s.devices, (d) =>
            this.o(
              [
                ["source", str(d.source)],
                ["target", str(d.target)],
                ["permissions", str(d.permissions)],
              ],
              d.extensions,
            ),
          ),
        ],
        ["dns", list(s.dns)],
        ["dns_opt", list(s.dns_opt)],
        ["dns_search", list(s.dns_search)],
        ["domainname", str(s.domainname)],
        ["entrypoint", s.entrypoint && [...s.entrypoint]],
        [
          "provider",
          s.provider &&
            this.o(
              [
                ["type", str(s.provider.type)],
                ["options", sortedMap(s.provider.options, (v) => (typeof v === "object" ? [...v] : v))],
              ],
              s.provider.extensions,
            ),
        ],
        ["environment", sorted(s.environment)],
        [
          "env_file",
          list(s.env_file, (f) =>
            this.o([
              ["path", str(f.path)],
              ["required", f.required ? undefined : false],
              ["format", str(f.format)],
            ]),
          ),
        ],
        ["expose", list(s.expose)],
        ["external_links", list(s.external_links)],
        ["extra_hosts", s.extra_hosts && s.extra_hosts.length > 0 ? [...s.extra_hosts].sort() : undefined],
        ["group_add", list(s.group_add)],
        ["gpus", list(s.gpus, (g) => this.deviceRequest(g))],
        ["hostname", str(s.hostname)],
        ["healthcheck", s.healthcheck && this.healthcheck(s.healthcheck)],
        ["image", str(s.image)],
        ["init", s.init],
        ["ipc", str(s.ipc)],
        ["isolation", str(s.isolation)],
        ["labels", sorted(s.labels)],
        ["label_file", list(s.label_file)],
        ["links", list(s.links)],
        [
          "logging",
          s.logging &&
            this.o(
              [
                ["driver", str(s.logging.driver)],
                ["options", sorted(s.logging.options)],
              ],
              s.logging.extensions,
            ),
        ],
        ["mac_address", str(s.mac_address)],
        ["mem_limit", bytes(s.mem_limit)],
        ["mem_reservation", bytes(s.mem_reservation)],
        ["memswap_limit", bytes(s.memswap_limit)],
        ["mem_swappiness", bytes(s.mem_swappiness)],
        [
          "models",
          sortedMap(s.models, (m) =>
            m === null
              ? null
              : this.o(
                  [
                    ["endpoint_var", str(m.endpoint_var)],
                    ["model_var", str(m.model_var)],
                  ],
                  m.extensions,
                ),
          ),
        ],
        ["network_mode", str(s.network_mode)],
        [
          "networks",
          sortedMap(s.networks, (n) =>
            n === null
              ? null
              : this.o(
                  [
                    ["priority", num(n.priority)],
                    ["gw_priority", num(n.gw_priority)],
                    ["aliases", list(n.aliases)],
                    ["interface_name", str(n.interface_name)],
                    ["ipv4_address", str(n.ipv4_address)],
                    ["ipv6_address", str(n.ipv6_address)],
                    ["link_local_ips", list(n.link_local_ips)],
                    ["mac_address", str(n.mac_address)],
                    ["driver_opts", sorted(n.driver_opts)],
                  ],
                  n.extensions,
                ),
          ),
        ],
        ["oom_kill_disable", bool(s.oom_kill_disable)],
        ["oom_score_adj", num(s.oom_score_adj)],
        ["pid", str(s.pid)],
        ["pids_limit", num(s.pids_limit)],
        ["platform", str(s.platform)],
        ["ports", list(s.ports, (p) => this.port(p))],
        ["post_start", list(s.post_start, (h) => this.hook(h))],
        [
          "pre_start",
          list(s.pre_start, (h) =>
            this.o(
              [
                ["command", h.command && [...h.command]],
                ["image", str(h.image)],
                ["user", str(h.user)],
                ["privileged", bool(h.privileged)],
                ["working_dir", str(h.working_dir)],
                ["environment", sorted(h.environment)],
                ["per_replica", bool(h.per_replica)],
              ],
              h.extensions,
            ),
          ),
        ],
        ["pre_stop", list(s.pre_stop, (h) => this.hook(h))],
        ["privileged", bool(s.privileged)],
        ["pull_policy", str(s.pull_policy)],
        [
          "pull_refresh_after",
          s.pull_refresh_after === undefined ? undefined : formatDuration(s.pull_refresh_after),
        ],
        ["read_only", bool(s.read_only)],
        ["restart", str(s.restart)],
        ["runtime", str(s.runtime)],
        ["scale", s.scale],
        ["secrets", list(s.secrets, (c) => this.fileMount(c))],
        ["security_opt", list(s.security_opt)],
        ["shm_size", bytes(s.shm_size)],
        ["stdin_open", bool(s.stdin_open)],
        ["stop_grace_period", duration(s.stop_grace_period)],
        ["stop_signal", str(s.stop_signal)],
        ["storage_opt", sorted(s.storage_opt)],
        ["sysctls", sorted(s.sysctls)],
        ["tmpfs", list(s.tmpfs)],
        ["tty", bool(s.tty)],
        ["ulimits", sortedMap(s.ulimits, (u) => this.ulimit(u))],
        ["use_api_socket", bool(s.use_api_socket)],
        ["user", str(s.user)],
        ["userns_mode", str(s.userns_mode)],
        ["uts", str(s.uts)],
        ["volumes", list(s.volumes, (v) => this.volumeMount(v))],
        ["volumes_from", list(s.volumes_from)],
        ["working_dir", str(s.working_dir)],
      ],
      s.extensions,
    );
  }

  private build(b: BuildSpec): Obj {
    return this.o(
      [
        ["context", str(b.context)],
        ["dockerfile", str(b.dockerfile)],
        ["dockerfile_inline", str(b.dockerfile_inline)],
        ["entitlements", list(b.entitlements)],
        ["args", sorted(b.args)],
        ["provenance", b.provenance],
        ["sbom", b.sbom],
        ["ssh", list(b.ssh, (k) => (k.path === undefined ? k.id : `${k.id}=${k.path}`))],
        ["labels", sorted(b.labels)],
        ["cache_from", list(b.cache_from)],
        ["cache_to", list(b.cache_to)],
        ["no_cache", bool(b.no_cache)],
        ["no_cache_filter", list(b.no_cache_filter)],
        ["additional_contexts", sorted(b.additional_contexts)],
        ["pull", bool(b.pull)],
        ["extra_hosts", b.extra_hosts && b.extra_hosts.length > 0 ? [...b.extra_hosts].sort() : undefined],
        ["isolation", str(b.isolation)],
        ["network", str(b.network)],
        ["target", str(b.target)],
        ["secrets", list(b.secrets, (c) => this.fileMount(c))],
        ["shm_size", bytes(b.shm_size)],
        ["tags", list(b.tags)],
        ["ulimits", sortedMap(b.ulimits, (u) => this.ulimit(u))],
        ["platforms", list(b.platforms)],
        ["privileged", bool(b.privileged)],
      ],
      b.extensions,
    );
  }

  private deploy(d: DeploySpec): Obj {
    const resources = d.resources;
    const placement = d.placement;
    return this.o(
      [
        ["mode", str(d.mode)],
        ["replicas", d.replicas],
        ["labels", sorted(d.labels)],
        ["update_config", d.update_config && this.updateConfig(d.update_config)],
        ["rollback_config", d.rollback_config && this.updateConfig(d.rollback_config)],
        // `resources` and `placement` are Go struct values: omitted when empty.
        [
          "resources",
          resources &&
            nonEmpty(
              this.o(
                [
                  ["limits", resources.limits && this.resource(resources.limits)],
                  ["reservations", resources.reservations && this.resource(resources.reservations)],
                ],
                resources.extensions,
              ),
            ),
        ],
        [
          "restart_policy",
          d.restart_policy &&
            this.o(
              [
                ["condition", str(d.restart_policy.condition)],
                ["delay", duration(d.restart_policy.delay)],
                ["max_attempts", d.restart_policy.max_attempts],
                ["window", duration(d.restart_policy.window)],
              ],
              d.restart_policy.extensions,
            ),
        ],
        [
          "placement",
          placement &&
            nonEmpty(
              this.o(
                [
                  ["constraints", list(placement.constraints)],
                  [
                    "preferences",
                    list(placement.preferences, (p) => this.o([["spread", str(p.spread)]], p.extensions)),
                  ],
                  ["max_replicas_per_node", num(placement.max_replicas_per_node)],
                ],
                placement.extensions,
              ),
            ),
        ],
        ["endpoint_mode", str(d.endpoint_mode)],
      ],
      d.extensions,
    );
  }

  private updateConfig(u: UpdateConfigSpec): Obj {
    return this.o(
      [
        ["parallelism", u.parallelism],
        ["delay", u.delay === 0 ? undefined : duration(u.delay)],
        ["failure_action", str(u.failure_action)],
        ["monitor", u.monitor === 0 ? undefined : duration(u.monitor)],
        ["max_failure_ratio", num(u.max_failure_ratio)],
        ["order", str(u.order)],
      ],
      u.extensions,
    );
  }

  private resource(r: ResourceSpec): Obj {
    return this.o(
      [
        ["cpus", num(r.cpus)],
        ["memory", bytes(r.memory)],
        ["pids", num(r.pids)],
        ["devices", list(r.devices, (d) => this.deviceRequest(d))],
        [
          "generic_resources",
          list(r.generic_resources, (g) =>
            this.o(
              [
                [
                  "discrete_resource_spec",
                  g.discrete_resource_spec &&
                    this.o(
                      [
                        ["kind", g.discrete_resource_spec.kind],
                        ["value", g.discrete_resource_spec.value],
                      ],
                      g.discrete_resource_spec.extensions,
                    ),
                ],
              ],
              g.extensions,
            ),
          ),
        ],
      ],
      r.extensions,
    );
  }

  private deviceRequest(d: DeviceRequestSpec): Obj {
    return this.o(
      [
        ["capabilities", list(d.capabilities)],
        ["driver", str(d.driver)],
        ["count", d.count === 0 ? undefined : d.count],
        ["device_ids", list(d.device_ids)],
        ["options", sorted(d.options)],
      ],
      d.extensions,
    );
  }

  private healthcheck(h: HealthcheckSpec): Obj {
    return this.o(
      [
        ["test", list(h.test)],
        ["timeout", duration(h.timeout)],
        ["interval", duration(h.interval)],
        ["retries", h.retries],
        ["start_period", duration(h.start_period)],
        ["start_interval", duration(h.start_interval)],
      ],
      h.extensions,
    );
  }

  private hook(h: ServiceHookSpec): Obj {
    return this.o(
      [
        ["command", [...h.command]],
        ["user", str(h.user)],
        ["privileged", bool(h.privileged)],
        ["working_dir", str(h.working_dir)],
        ["environment", sorted(h.environment)],
      ],
      h.extensions,
    );
  }

  private fileMount(f: FileMountSpec): Obj {
    return this.o(
      [
        ["source", str(f.source)],
        ["target", str(f.target)],
        ["uid", str(f.uid)],
        ["gid", str(f.gid)],
        ["mode", f.mode === undefined ? undefined : fileMode(f.mode)],
      ],
      f.extensions,
    );
  }

  private port(p: PortSpec): Obj {
    return this.o(
      [
        ["name", str(p.name)],
        ["mode", str(p.mode)],
        ["host_ip", str(p.host_ip)],
        ["target", num(p.target)],
        ["published", str(p.published)],
        ["protocol", str(p.protocol)],
        ["app_protocol", str(p.app_protocol)],
      ],
      p.extensions,
    );
  }

  private volumeMount(v: VolumeMountSpec): Obj {
    return this.o(
      [
        ["type", str(v.type)],
        ["source", str(v.source)],
        ["target", str(v.target)],
        ["read_only", bool(v.read_only)],
        ["consistency", str(v.consistency)],
        [
          "bind",
          v.bind &&
            this.o(
              [
                ["selinux", str(v.bind.selinux)],
                ["propagation", str(v.bind.propagation)],
                // Opt-out: true is the default and is not printed.
                ["create_host_path", v.bind.create_host_path === false ? false : undefined],
                ["recursive", str(v.bind.recursive)],
              ],
              v.bind.extensions,
            ),
        ],
        [
          "volume",
          v.volume &&
            this.o(
              [
                ["labels", sorted(v.volume.labels)],
                ["nocopy", bool(v.volume.nocopy)],
                ["subpath", str(v.volume.subpath)],
              ],
              v.volume.extensions,
            ),
        ],
        [
          "tmpfs",
          v.tmpfs &&
            this.o(
              [
                ["size", bytes(v.tmpfs.size)],
                ["mode", num(v.tmpfs.mode)],
              ],
              v.tmpfs.extensions,
            ),
        ],
        ["image", v.image && this.o([["subpath", str(v.image.subpath)]], v.image.extensions)],
      ],
      v.extensions,
    );
  }

  private ulimit(u: UlimitSpec): unknown {
    if (u.soft === u.hard && u.extensions === undefined) return u.soft;
    return this.o(
      [
        ["soft", u.soft],
        ["hard", u.hard],
      ],
      u.extensions,
    );
  }

  volume(v: VolumeSpec): Obj {
    return this.o(
      [
        ["name", str(v.name)],
        ["driver", str(v.driver)],
        ["driver_opts", sorted(v.driver_opts)],
        ["external", bool(v.external)],
        ["labels", sorted(v.labels)],
      ],
      v.extensions,
    );
  }

  network(n: NetworkSpec): Obj {
    const ipam = n.ipam;
    return this.o(
      [
        ["name", str(n.name)],
        ["driver", str(n.driver)],
        ["driver_opts", sorted(n.driver_opts)],
        [
          "ipam",
          ipam &&
            nonEmpty(
              this.o(
                [
                  ["driver", str(ipam.driver)],
                  [
                    "config",
                    list(ipam.config, (c) =>
                      this.o(
                        [
                          ["subnet", str(c.subnet)],
                          ["gateway", str(c.gateway)],
                          ["ip_range", str(c.ip_range)],
                          ["aux_addresses", sorted(c.aux_addresses)],
                        ],
                        c.extensions,
                      ),
                    ),
                  ],
                  ["options", sorted(ipam.options)],
                ],
                ipam.extensions,
              ),
            ),
        ],
        ["external", bool(n.external)],
        ["internal", bool(n.internal)],
        ["attachable", bool(n.attachable)],
        ["labels", sorted(n.labels)],
        ["enable_ipv4", n.enable_ipv4],
        ["enable_ipv6", n.enable_ipv6],
      ],
      n.extensions,
    );
  }

  /** An object with `entries` in order (undefined values left out), then the `x-*` keys sorted. */
  private o(entries: readonly (readonly [string, unknown])[], extensions?: Extensions): Obj {
    const out: Obj = {};
    for (const [k, v] of entries) if (v !== undefined) out[k] = v;
    if (this.withExtensions && extensions !== undefined) {
      for (const k of Object.keys(extensions).sort()) out[k] = (extensions as Obj)[k];
    }
    return out;
  }
}

// Go `omitempty` for value (non-pointer) fields: the zero value is left out.
function str(v: string | undefined): string | undefined {
  return v === "" ? undefined : v;
}
function bool(v: boolean | undefined): true | undefined {
  return v === true ? true : undefined;
}
function num(v: number | undefined): number | undefined {
  return v === 0 ? undefined : v;
}
function bytes(v: number | undefined): string | undefined {
  return v === undefined || v === 0 ? undefined : String(v);
}

function duration(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : formatDuration(ms);
}

/** Go's `%#o`: "0440"; zero is "0". */
function fileMode(mode: number): string {
  return mode === 0 ? "0" : `0${mode.toString(8)}`;
}

function list<T>(items: readonly T[] | undefined, fn?: (item: T) => unknown): unknown[] | undefined {
  if (items === undefined || items.length === 0) return undefined;
  return fn === undefined ? [...items] : items.map(fn);
}

/** A string map with sorted keys; empty → absent. */
function sorted(m: Readonly<Record<string, string>> | undefined): Obj | undefined {
  return sortedMap(m, (v) => v);
}

function sortedMap<T>(m: Readonly<Record<string, T>> | undefined, fn: (v: T) => unknown): Obj | undefined {
  if (m === undefined) return undefined;
  const keys = Object.keys(m).sort();
  if (keys.length === 0) return undefined;
  const out: Obj = {};
  for (const k of keys) out[k] = fn(m[k] as T);
  return out;
}

/** A top-level table, sorted by key; absent when it has no entries (an empty entry prints as `{}`). */
function mapOf<T>(m: Readonly<Record<string, T>>, fn: (v: T) => unknown): Obj | undefined {
  return sortedMap(m, fn);
}

function nonEmpty(o: Obj): Obj | undefined {
  return Object.keys(o).length === 0 ? undefined : o;
}

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** JSON with object keys sorted at every level: the same data always gives the same text. */
function stableJson(v: unknown): string {
  return JSON.stringify(v, (_key, value: unknown) => {
    if (!isObj(value)) return value;
    const out: Obj = {};
    for (const k of Object.keys(value).sort()) out[k] = value[k];
    return out;
  });
}
