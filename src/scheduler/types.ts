/** The scheduler's data: tasks to place, nodes to place them on, and the result. */

/** A node that can run tasks. */
export interface NodeInfo {
  /** Stable id; the last tie-breaker of the spread strategy. */
  readonly id: string;
  readonly hostname: string;
  readonly role: "manager" | "worker";
  /** Only `active` nodes take new tasks (default `active`). */
  readonly availability?: "active" | "pause" | "drain";
  /** `node.labels.*` (set by the operator). */
  readonly labels?: Readonly<Record<string, string>>;
  /** `engine.labels.*` (reported by the node's engine). */
  readonly engineLabels?: Readonly<Record<string, string>>;
  readonly platform?: { readonly os: string; readonly arch: string };
  /** What the node offers to reservations. Absent = unlimited (a single local node by default). */
  readonly capacity?: { readonly nanoCpus: number; readonly memoryBytes: number };
}

/** A host port a task binds on its node. */
export interface HostPort {
  /** Host address; absent = all addresses (conflicts with every address). */
  readonly ip?: string;
  /** Candidate ports: one, or a published range of which the engine takes any free one. */
  readonly ports: readonly number[];
  readonly protocol: string;
}

/** One container to place: a replica of a service (or, in global mode, the service once per node). */
export interface Task {
  /** `web.2` for replica 2; global tasks get `web@<node id>` when placed. */
  readonly id: string;
  readonly service: string;
  /** 1-based replica number; 0 for a global task not yet placed. */
  readonly replica: number;
  /** `replicated` (default): place this task once; `global`: once on every eligible node. */
  readonly mode?: "replicated" | "global";
  /** `deploy.placement.constraints`, as written. */
  readonly constraints?: readonly string[];
  /** `deploy.resources.reservations`. */
  readonly reservations?: { readonly nanoCpus?: number; readonly memoryBytes?: number };
  readonly hostPorts?: readonly HostPort[];
  /** `deploy.placement.max_replicas_per_node`. */
  readonly maxReplicasPerNode?: number;
}

export interface Placement {
  readonly task: Task;
  readonly node: string;
  /** The host ports chosen from each of the task's `hostPorts` (same order). */
  readonly hostPorts?: readonly { readonly ip?: string; readonly port: number; readonly protocol: string }[];
}

export interface Unschedulable {
  readonly task: Task;
  /** Why no node fits, one entry per node (`node n1: …`), or `no nodes`. */
  readonly reasons: readonly string[];
}

export interface ScheduleResult {
  /** New placements, in task order. */
  readonly placements: readonly Placement[];
  readonly unschedulable: readonly Unschedulable[];
}
