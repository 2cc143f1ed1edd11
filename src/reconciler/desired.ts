/**
 * What a stack should look like, reduced to what the planner compares: per service the number of
 * replicas, the config hash, the image id its reference resolves to, dependencies and update policy;
 * the networks and volumes to exist, with their config hashes. Built from a `StackSpec` and what the
 * caller found out about the services' images (pure).
 */
import { TsstackError, internalError } from "../common/errors.js";
import { taskFor } from "../scheduler/tasks.js";
import type { Task } from "../scheduler/types.js";
import { networkConfigHash, serviceConfigHash, volumeConfigHash } from "../spec/canonical.js";
import type { ServiceSpec, StackSpec, UpdateConfigSpec } from "../spec/types.js";
import type { FailureAction } from "./plan.js";
import { normalizeTarget, serviceImage } from "./service-container.js";

export type DependencyCondition = "service_started" | "service_healthy" | "service_completed_successfully";

/** One `depends_on` entry. */
export interface DesiredDependency {
  readonly service: string;
  readonly condition: DependencyCondition;
  /** A missing or failing dependency only warns when false. */
  readonly required: boolean;
  /** Restart this service when the dependency is recreated. */
  readonly restart: boolean;
}

/** `deploy.update_config` with its defaults applied. */
export interface UpdatePolicy {
  /** Replicas replaced at once; 0 = all at once. Default 1. */
  readonly parallelism: number;
  /** Default `stop-first`. */
  readonly order: "stop-first" | "start-first";
  /** Wait between batches, in milliseconds. Default 0. */
  readonly delay: number;
  /** How long each replaced replica is watched for failure, in milliseconds. Default 5000, as Swarm. */
  readonly monitor: number;
  /** Default `pause`; an unknown value counts as `pause`. */
  readonly failureAction: FailureAction;
  /** Default 0. */
  readonly maxFailureRatio: number;
}

/** What the engine's image store says about an image reference, as looked up by the caller. */
export interface ImageFacts {
  /** The image id (`sha256:…`) the reference resolves to now. */
  readonly id: string;
  /** The image's `VOLUME` paths. */
  readonly volumes: readonly string[];
}

export interface DesiredService {
  readonly name: string;
  /** The image reference the service runs (`image`, or `<project>-<service>` for a built one). */
  readonly image: string;
  /**
   * The id `image` resolves to in the engine's store now; absent when it was not looked up or is not
   * there. A container created from another id runs an outdated image.
   */
  readonly imageId?: string;
  /**
   * Targets (normalized paths) where the service's containers get anonymous volumes: its `volumes`
   * entries without a source, and the image's `VOLUME`s nothing else is mounted on (only when the
   * image was looked up). A replacement container can take the old one's volumes over there.
   */
  readonly anonymousVolumes: readonly string[];
  /** `replicated`: `replicas` containers; `global`: one per node (one on a single node). */
  readonly mode: "replicated" | "global";
  readonly replicas: number;
  readonly configHash: string;
  /** Fixed `container_name`; such a service has one replica. */
  readonly containerName?: string;
  readonly dependsOn: readonly DesiredDependency[];
  /** Present when the service sets `deploy.update_config`: replacements then go in batches. */
  readonly update?: UpdatePolicy;
  /** Keys of the networks it joins (none with `network_mode`) and of the named volumes it mounts. */
  readonly networks: readonly string[];
  readonly volumes: readonly string[];
  /** The scheduler's task for replica 1; other replicas differ only in `id` and `replica`. */
  readonly task: Task;
}

export interface DesiredResource {
  /** Key in the stack file. */
  readonly key: string;
  /** Name on the engine. */
  readonly name: string;
  /** Created outside tsstack: never created nor removed. */
  readonly external: boolean;
  /**
   * `networkConfigHash` / `volumeConfigHash` of its definition, put on it as the config-hash label when
   * tsstack creates it; absent for external ones. An existing one labelled otherwise has diverged.
   */
  readonly configHash?: string;
  /** Volumes: what the definition asks the engine for, to tell what differs from an existing volume. */
  readonly config?: VolumeConfig;
}

/** A volume's settings as the engine reports them, user labels only. */
export interface VolumeConfig {
  readonly driver: string;
  readonly options: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
}

export interface DesiredStack {
  readonly project: string;
  /** The services to converge (all, or the requested ones and their dependencies), dependencies first. */
  readonly services: readonly DesiredService[];
  /** Every service the stack declares: containers of other services are orphans. */
  readonly allServices: readonly string[];
  /** Networks and volumes the converged services use, in declaration order. */
  readonly networks: readonly DesiredResource[];
  readonly volumes: readonly DesiredResource[];
}

export interface DesiredOptions {
  /** `--scale svc=n`: wins over `scale` and `deploy.replicas`. */
  readonly scale?: Readonly<Record<string, number>>;
  /** Converge only these services (and, unless `noDeps`, what they depend on). Default: all. */
  readonly services?: readonly string[];
  /** With `services`: leave their dependencies alone (`--no-deps`). Default false. */
  readonly noDeps?: boolean;
  /**
   * Update policies that replace the services' own `deploy.update_config`: a rollback re-applies the
   * previous spec of a service with its `rollback_config` (the config hash stays the previous one's).
   */
  readonly updateConfig?: Readonly<Record<string, UpdateConfigSpec>>;
  /**
   * The services' images as the engine's store has them, by reference (`serviceImage`). A reference
   * missing here leaves `imageId` unset and contributes no image `VOLUME`s. Default: none.
   */
  readonly images?: ReadonlyMap<string, ImageFacts>;
  /** Injected for tests; default `serviceConfigHash`. */
  readonly hash?: (spec: StackSpec, service: string) => string;
}

/** The desired state of `spec`. Throws `reconciler/invalid-request` for unknown services or a bad scale. */
export function desiredStack(spec: StackSpec, opts: DesiredOptions = {}): DesiredStack {
  const all = Object.keys(spec.services);
  for (const name of [...(opts.services ?? []), ...Object.keys(opts.scale ?? {})]) {
    if (spec.services[name] === undefined)
      throw invalidRequest(spec, `no service "${name}" in the stack (it has: ${all.join(", ") || "none"})`);
  }
  const selected = selectServices(spec, opts);
  const hash = opts.hash ?? serviceConfigHash;
  const services = dependencyOrder(spec, selected).map((name) => desiredService(spec, name, opts, hash));

  const networkKeys = new Set<string>();
  const volumeKeys = new Set<string>();
  for (const name of selected) {
    const svc = spec.services[name];
    if (svc?.network_mode === undefined)
      for (const key of Object.keys(svc?.networks ?? {})) networkKeys.add(key);
    for (const v of svc?.volumes ?? [])
      if (v.type === "volume" && v.source !== undefined) volumeKeys.add(v.source);
  }
  return {
    project: spec.name,
    services,
    allServices: all,
    networks: Object.entries(spec.networks)
      .filter(([key]) => networkKeys.has(key))
      .map(([key, n]) => ({
        ...resource(spec, key, n.name, n.external),
        ...(n.external !== true ? { configHash: networkConfigHash(spec, key) } : {}),
      })),
    volumes: Object.entries(spec.volumes)
      .filter(([key]) => volumeKeys.has(key))
      .map(([key, v]) => ({
        ...resource(spec, key, v.name, v.external),
        ...(v.external !== true
          ? {
              configHash: volumeConfigHash(spec, key),
              config: { driver: v.driver ?? "local", options: v.driver_opts ?? {}, labels: v.labels ?? {} },
            }
          : {}),
      })),
  };
}

function desiredService(
  spec: StackSpec,
  name: string,
  opts: DesiredOptions,
  hash: (spec: StackSpec, service: string) => string,
): DesiredService {
  const svc = spec.services[name];
  if (svc === undefined) throw internalError(`desiredService: no service "${name}"`);
  const mode = svc.deploy?.mode === "global" || svc.deploy?.mode === "global-job" ? "global" : "replicated";
  const replicas = mode === "global" ? 1 : (opts.scale?.[name] ?? svc.scale ?? svc.deploy?.replicas ?? 1);
  if (!Number.isInteger(replicas) || replicas < 0)
    throw invalidRequest(spec, `service "${name}": ${String(replicas)} is not a number of replicas`);
  if (svc.container_name !== undefined && replicas > 1)
    throw invalidRequest(
      spec,
      `service "${name}" sets container_name "${svc.container_name}", so it cannot have ${String(replicas)} replicas`,
    );
  const u = opts.updateConfig?.[name] ?? svc.deploy?.update_config;
  const image = serviceImage(spec, name);
  const facts = opts.images?.get(image);
  return {
    name,
    image,
    ...(facts !== undefined ? { imageId: facts.id } : {}),
    anonymousVolumes: anonymousTargets(svc, facts?.volumes ?? []),
    mode,
    replicas,
    configHash: hash(spec, name),
    ...(svc.container_name !== undefined ? { containerName: svc.container_name } : {}),
    dependsOn: Object.entries(svc.depends_on ?? {})
      .filter(([dep]) => spec.services[dep] !== undefined)
      .map(([dep, d]) => ({
        service: dep,
        condition: condition(d.condition),
        required: d.required,
        restart: d.restart ?? false,
      })),
    ...(u !== undefined
      ? {
          update: {
            parallelism: u.parallelism ?? 1,
            order: u.order === "start-first" ? "start-first" : "stop-first",
            delay: u.delay ?? 0,
            monitor: u.monitor ?? DEFAULT_MONITOR_MS,
            failureAction: failureAction(u.failure_action),
            maxFailureRatio: u.max_failure_ratio ?? 0,
          },
        }
      : {}),
    networks: svc.network_mode === undefined ? Object.keys(svc.networks ?? {}) : [],
    volumes: [
      ...new Set(
        (svc.volumes ?? []).flatMap((v) => (v.type === "volume" && v.source !== undefined ? [v.source] : [])),
      ),
    ],
    task: taskFor(spec, name, 1),
  };
}

const DEFAULT_MONITOR_MS = 5000;

/**
 * Where the engine gives the service's containers anonymous volumes: `volumes` entries of type volume
 * without a source, then the image's `VOLUME`s that no other mount (nor a `tmpfs` entry) covers, as the
 * engine's mount parsing does. In file order, without duplicates.
 */
function anonymousTargets(svc: ServiceSpec, imageVolumes: readonly string[]): string[] {
  const out = new Set<string>();
  const mounted = new Set<string>();
  for (const v of svc.volumes ?? []) {
    if (v.target === undefined) continue;
    const target = normalizeTarget(v.target);
    mounted.add(target);
    if (v.type === "volume" && v.source === undefined) out.add(target);
  }
  for (const t of svc.tmpfs ?? []) mounted.add(normalizeTarget(t.split(":")[0] ?? t));
  for (const path of imageVolumes) {
    const target = normalizeTarget(path);
    if (!mounted.has(target)) out.add(target);
  }
  return [...out];
}

function failureAction(a: string | undefined): FailureAction {
  return a === "continue" || a === "rollback" ? a : "pause";
}

function condition(c: string): DependencyCondition {
  return c === "service_healthy" || c === "service_completed_successfully" ? c : "service_started";
}

/** The requested services plus, unless `noDeps`, everything they depend on, transitively. */
function selectServices(spec: StackSpec, opts: DesiredOptions): Set<string> {
  if (opts.services === undefined || opts.services.length === 0) return new Set(Object.keys(spec.services));
  const out = new Set<string>();
  const visit = (name: string): void => {
    const svc = spec.services[name];
    if (out.has(name) || svc === undefined) return;
    out.add(name);
    if (opts.noDeps !== true) for (const dep of Object.keys(svc.depends_on ?? {})) visit(dep);
  };
  for (const name of opts.services) visit(name);
  return out;
}

/** `names` with every service after its dependencies; ties keep declaration order. */
function dependencyOrder(spec: StackSpec, names: ReadonlySet<string>): string[] {
  const out: string[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (name: string): void => {
    const s = state.get(name);
    if (s === "done") return;
    // The spec's semantic checks reject cycles; meeting one here is a bug.
    if (s === "visiting") throw internalError(`dependency cycle through service "${name}" in "${spec.name}"`);
    state.set(name, "visiting");
    for (const dep of Object.keys(spec.services[name]?.depends_on ?? {})) if (names.has(dep)) visit(dep);
    state.set(name, "done");
    out.push(name);
  };
  for (const name of Object.keys(spec.services)) if (names.has(name)) visit(name);
  return out;
}

function resource(spec: StackSpec, key: string, name: string | undefined, external: boolean | undefined) {
  return { key, name: name ?? `${spec.name}_${key}`, external: external ?? false };
}

function invalidRequest(spec: StackSpec, why: string): TsstackError {
  return new TsstackError("reconciler/invalid-request", `planning stack "${spec.name}": ${why}`);
}
