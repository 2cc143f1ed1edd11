/**
 * What a stack looks like on the engine, reduced to what the planner compares: its labelled containers
 * (service, replica number, config hash, image id, volumes, state, health), networks and volumes.
 */
import type { ContainerStatus, ContainerSummary } from "../runtime/runtime.js";
import type { VolumeConfig } from "./desired.js";
import { normalizeTarget } from "./service-container.js";
import {
  LABEL_CONFIG_HASH,
  LABEL_CONTAINER_NUMBER,
  LABEL_NETWORK,
  LABEL_ONEOFF,
  LABEL_PROJECT,
  LABEL_SERVICE,
  LABEL_VOLUME,
} from "./labels.js";

export type HealthStatus = "starting" | "healthy" | "unhealthy";

export interface ObservedContainer {
  readonly id: string;
  /** Without Docker's leading `/`. */
  readonly name: string;
  readonly service: string;
  /** From the container-number label; `undefined` when absent or not a positive integer. */
  readonly replica: number | undefined;
  /** From the config-hash label; `undefined` when absent. */
  readonly configHash: string | undefined;
  /** The id of the image the container was created from; absent when the engine does not say. */
  readonly imageId?: string;
  /**
   * The volumes it mounts, by name, as of its last start (a container that never started lists none:
   * its anonymous volumes do not exist yet).
   */
  readonly volumes?: readonly ObservedVolumeMount[];
  readonly state: ContainerStatus;
  /** Absent for containers without a healthcheck. */
  readonly health?: HealthStatus;
  /** Node running it (clusters); absent = the local node. */
  readonly node?: string;
}

export interface ObservedVolumeMount {
  /** The volume's name (64 hex digits for an anonymous one). */
  readonly name: string;
  /** Normalized, as `DesiredService.anonymousVolumes`. */
  readonly target: string;
}

/** A network or volume carrying the stack's project label. */
export interface ObservedResource {
  readonly name: string;
  /** Key in the stack file, from the network/volume label. */
  readonly key?: string;
  /** From the config-hash label; absent on ones created before tsstack labelled them (never judged). */
  readonly configHash?: string;
  /**
   * Networks: ids of the containers attached to it, when the engine lists them (the embedded engine
   * does, Docker's list does not). It may name containers the stack does not manage (one-off `run`s).
   */
  readonly containers?: readonly string[];
  /** Volumes: driver, options and user labels, when the engine lists them. */
  readonly config?: VolumeConfig;
}

/** A network or volume as the engine lists it; the fields beyond `Name` and `Labels` are optional. */
export interface ListedResource {
  readonly Name: string;
  readonly Labels?: Readonly<Record<string, string>> | null;
  /** Networks: attached containers by id. */
  readonly Containers?: Readonly<Record<string, unknown>> | null;
  /** Volumes. */
  readonly Driver?: string;
  readonly Options?: Readonly<Record<string, string>> | null;
}

export interface ObservedStack {
  /** The stack's service containers (one-off `run` containers excluded). */
  readonly containers: readonly ObservedContainer[];
  readonly networks: readonly ObservedResource[];
  readonly volumes: readonly ObservedResource[];
}

/**
 * A listed container as the planner sees it; `undefined` for a container that is not a service
 * container of `project` (other projects, unlabelled, one-off).
 */
export function observedContainer(project: string, c: ContainerSummary): ObservedContainer | undefined {
  const labels = c.Labels;
  const service = labels[LABEL_SERVICE];
  if (labels[LABEL_PROJECT] !== project || service === undefined) return undefined;
  if (labels[LABEL_ONEOFF]?.toLowerCase() === "true") return undefined;
  const number = labels[LABEL_CONTAINER_NUMBER];
  const replica = number !== undefined && /^[1-9][0-9]*$/.test(number) ? Number(number) : undefined;
  const health = healthFromStatus(c.Status);
  const volumes = c.Mounts.flatMap((m) =>
    m.Type === "volume" && m.Name !== undefined && m.Name !== ""
      ? [{ name: m.Name, target: normalizeTarget(m.Destination) }]
      : [],
  );
  return {
    id: c.Id,
    name: (c.Names[0] ?? c.Id).replace(/^\//, ""),
    service,
    replica,
    configHash: labels[LABEL_CONFIG_HASH],
    ...(c.ImageID !== "" ? { imageId: c.ImageID } : {}),
    ...(volumes.length > 0 ? { volumes } : {}),
    state: c.State,
    ...(health !== undefined ? { health } : {}),
  };
}

/** The stack's part of what the engine lists. Networks and volumes are given with their labels. */
export function observedStack(
  project: string,
  containers: readonly ContainerSummary[],
  networks: readonly ListedResource[],
  volumes: readonly ListedResource[],
): ObservedStack {
  const own = (r: ListedResource, label: string) => {
    const key = r.Labels?.[label];
    const hash = r.Labels?.[LABEL_CONFIG_HASH];
    return {
      name: r.Name,
      ...(key !== undefined ? { key } : {}),
      ...(hash !== undefined ? { configHash: hash } : {}),
    };
  };
  return {
    containers: containers.flatMap((c) => observedContainer(project, c) ?? []),
    networks: networks
      .filter((n) => n.Labels?.[LABEL_PROJECT] === project)
      .map((n) => ({
        ...own(n, LABEL_NETWORK),
        ...(n.Containers !== undefined && n.Containers !== null
          ? { containers: Object.keys(n.Containers) }
          : {}),
      })),
    volumes: volumes
      .filter((v) => v.Labels?.[LABEL_PROJECT] === project)
      .map((v) => ({
        ...own(v, LABEL_VOLUME),
        ...(v.Driver !== undefined
          ? {
              config: {
                driver: v.Driver,
                options: { ...(v.Options ?? {}) },
                labels: userLabels(v.Labels ?? {}),
              },
            }
          : {}),
      })),
  };
}

/** Labels without the ones tsstack (and Compose) put on what they create. */
function userLabels(labels: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(labels).filter(([k]) => !k.startsWith("com.docker.compose.")));
}

/** Docker's list `Status` ends with `(healthy)`, `(unhealthy)` or `(health: starting)`. */
function healthFromStatus(status: string): HealthStatus | undefined {
  if (status.endsWith("(healthy)")) return "healthy";
  if (status.endsWith("(unhealthy)")) return "unhealthy";
  if (status.endsWith("(health: starting)")) return "starting";
  return undefined;
}
