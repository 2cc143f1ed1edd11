/**
 * The engine as the reconciler sees it: the container `Runtime` plus the engine's network and volume
 * operations (Docker's `/networks` and `/volumes`), and how a stack is observed through it. The
 * embedded runtime has all of them; a runtime without them (a test double, a bare Docker-shaped client)
 * cannot run stacks.
 */
import type { NetworkCreateOptions, NetworkCreateResult, NetworkInspect } from "../network/types.js";
import type { Runtime } from "../runtime/runtime.js";
import type { VolumeCreateOptions, VolumeInspect, VolumeListResult } from "../volumes/manager.js";
import { LABEL_PROJECT } from "./labels.js";
import { observedStack, type ObservedStack } from "./observed.js";

type Filters = Readonly<Record<string, readonly string[]>>;

export interface StackRuntime extends Runtime {
  createNetwork(opts: NetworkCreateOptions): Promise<NetworkCreateResult>;
  listNetworks(opts?: { readonly filters?: Filters }): Promise<NetworkInspect[]>;
  removeNetwork(idOrName: string): Promise<void>;
  createVolume(opts?: VolumeCreateOptions): Promise<VolumeInspect>;
  listVolumes(opts?: { readonly filters?: Filters }): Promise<VolumeListResult>;
  removeVolume(name: string, opts?: { readonly force?: boolean }): Promise<void>;
}

const STACK_METHODS = [
  "createNetwork",
  "listNetworks",
  "removeNetwork",
  "createVolume",
  "listVolumes",
  "removeVolume",
] as const;

/** Whether `runtime` has the network and volume operations stacks need. */
export function isStackRuntime(runtime: Runtime): runtime is StackRuntime {
  const r = runtime as unknown as Record<string, unknown>;
  return STACK_METHODS.every((m) => typeof r[m] === "function");
}

/** Selects a project's labelled resources. */
export function projectFilter(project: string): Filters {
  return { label: [`${LABEL_PROJECT}=${project}`] };
}

/** The stack's containers (stopped ones included), networks and volumes, as the planner sees them. */
export async function observeStack(runtime: StackRuntime, project: string): Promise<ObservedStack> {
  const filters = projectFilter(project);
  const [containers, networks, volumes] = await Promise.all([
    runtime.listContainers({ all: true, filters }),
    runtime.listNetworks({ filters }),
    runtime.listVolumes({ filters }),
  ]);
  return observedStack(project, containers, networks, volumes.Volumes);
}
