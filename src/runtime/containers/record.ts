/**
 * A container as the engine persists it: `<root>/containers/<id>/container.json`, written atomically
 * after every state change, so a crashed daemon restarts from the last complete state and re-adopts
 * the containers conmon kept running.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { ImageConfig } from "../images/types.js";
import type { HealthState } from "./health.js";
import type { ContainerCreateOptions, ContainerInspect, ContainerStatus, MountPoint } from "../runtime.js";

export const RECORD_FILE = "container.json";
export const RECORD_VERSION = 1;
/** Docker's zero time, for StartedAt/FinishedAt of a container that never started or finished. */
export const ZERO_TIME = "0001-01-01T00:00:00Z";

export interface ContainerRecord {
  readonly version: number;
  readonly id: string;
  readonly name: string;
  /** RFC 3339. */
  readonly created: string;
  /** The image as the create call named it. */
  readonly image: string;
  /** Config digest of the image. */
  readonly imageId: string;
  /** The image's unpacked layers, lowest first (overlayfs lowerdirs, reversed). */
  readonly snapshots: readonly string[];
  readonly imageConfig: ImageConfig;
  readonly config: Omit<ContainerCreateOptions, "name">;
  state: {
    status: ContainerStatus;
    /** Host pid of the container's init while running. */
    pid: number;
    /**
     * That process's start time (field 22 of /proc/<pid>/stat): with the pid, its identity, so a
     * signal never reaches a process that reused the pid. Absent in records of older engines.
     */
    pidStart?: string;
    conmonPid: number;
    exitCode: number;
    oomKilled: boolean;
    error: string;
    startedAt: string;
    finishedAt: string;
    /** A stop or kill the user asked for (restart policies leave such exits alone). */
    stoppedByUser: boolean;
    restartCount: number;
    /** Network settings of the current (or last) run, as inspect shows them. */
    network?: ContainerInspect["NetworkSettings"];
    /** Volume, bind and tmpfs mounts of the current (or last) run. */
    mounts?: MountPoint[];
    /** Healthcheck state of the current (or last) run, for containers with a healthcheck. */
    health?: HealthState;
  };
}

/**
 * The image store's in-use check for one store opening (`ImageStore.open(root, { inUse })`): the
 * containers' records are read once, at the first question (a prune asks once per image). Safe to
 * keep for the opening: creating a container takes the store's lock, so no new user can appear
 * meanwhile; one removed meanwhile only keeps its image a little longer.
 */
export function imageUseCheck(root: string): (imageId: string) => boolean {
  let used: Set<string> | undefined;
  return (imageId) => (used ??= imagesInUse(root)).has(imageId);
}

/**
 * Image ids that containers under `root` use, read from disk (synchronously: the image store calls
 * its in-use check inside its own critical section). Any process opening the store under the same
 * root (the daemon, or an image command) sees the same answer.
 */
export function imagesInUse(root: string): Set<string> {
  const dir = join(root, "containers");
  const used = new Set<string>();
  let ids: string[];
  try {
    ids = readdirSync(dir);
  } catch {
    return used;
  }
  for (const id of ids) {
    try {
      const rec = JSON.parse(readFileSync(join(dir, id, RECORD_FILE), "utf8")) as { imageId?: unknown };
      if (typeof rec.imageId === "string") used.add(rec.imageId);
    } catch {
      // A container directory without a readable record holds no image.
    }
  }
  return used;
}
