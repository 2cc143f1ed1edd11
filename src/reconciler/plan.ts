/**
 * A plan: the operations that bring a stack from what is observed to what is desired, as a DAG (each
 * operation lists the ones it runs after), each with the reason it is needed. Plain data, built by the
 * planner and executed by the applier, which decides nothing. Its text form is stable: planner tests
 * compare it, and it is what `tsstack plan` and `up --dry-run` print.
 */
import { LOCAL_NODE } from "../scheduler/tasks.js";
import type { DesiredDependency } from "./desired.js";

export type OperationKind =
  | "create-network"
  | "create-volume"
  /** Create and start a container for a replica. */
  | "create"
  /** Start an existing, stopped container. */
  | "start"
  /** Restart a running container (a `restart: true` dependency was replaced). */
  | "restart"
  /**
   * Replace a replica's container by a new one from the current config, then start it. `stop-first`:
   * stop and remove the old container, then create and start the new one. `start-first`: create the new
   * one under a temporary name, start it and wait until it runs (and is healthy, with a healthcheck),
   * then stop and remove the old one and give the new one its name.
   */
  | "recreate"
  /** Give a kept container its replica's name (`name`), after an interrupted start-first replacement. */
  | "rename"
  | "stop"
  | "remove"
  | "remove-network"
  | "remove-volume";

export interface Operation {
  /** 1-based, in plan order; `after` refers to these. */
  readonly id: number;
  readonly kind: OperationKind;
  /** `container:<service>.<replica>` (or `container:<name>` without a replica), `network:<name>`, `volume:<name>`. */
  readonly target: string;
  readonly reason: string;
  /** Operations that must have finished first; sorted, possibly empty. */
  readonly after: readonly number[];
  /** Container operations: the service and replica. */
  readonly service?: string;
  readonly replica?: number;
  /** The existing container acted on (start, restart, recreate, stop, remove). */
  readonly container?: { readonly id: string; readonly name: string };
  /** The name of the container, network or volume to create, or a container's new name (rename). */
  readonly name?: string;
  /** Node the new container goes to (create), as placed by the scheduler. */
  readonly node?: string;
  /**
   * Before starting the container (create, start, recreate), wait for these dependencies to reach their
   * condition (running, healthy, exited 0), as observed then; not-`required` ones only warn.
   */
  readonly waitFor?: readonly DesiredDependency[];
  /** Rolling update (`deploy.update_config`): 1-based batch, and how to replace. */
  readonly batch?: number;
  readonly order?: "stop-first" | "start-first";
  /** Milliseconds to wait before this operation (the update delay between batches). */
  readonly delay?: number;
  /** Rolling update: how the replacement is watched, and what its failure means (`recreate` only). */
  readonly rollout?: RolloutWatch;
  /**
   * `remove`: also remove the container's anonymous volumes (`down -v`). `recreate`: the old container's
   * anonymous volumes go with it, the new one gets fresh ones (`up --renew-anon-volumes`).
   */
  readonly removeVolumes?: boolean;
  /**
   * `recreate`, and `create` of a replica removed for its recreated network: the old container's
   * anonymous volumes the new one mounts at the same targets instead of fresh ones, so their data
   * survives the replacement (Compose's default).
   */
  readonly inheritVolumes?: readonly InheritedVolume[];
}

/** An existing (anonymous) volume a new container mounts at `target`. */
export interface InheritedVolume {
  readonly name: string;
  readonly target: string;
}

/**
 * How a rolling update judges one replacement. The new container is watched for `monitor` ms after it
 * starts: it fails if it exits or turns unhealthy, or (with a healthcheck) is not healthy at the end.
 * Up to `maxFailures` failed replacements of the service are tolerated: operations after a tolerated
 * failure still run. Beyond that the update stops there, and `failureAction` tells the loop what to do
 * next (`pause`: leave the stack degraded; `rollback`: re-apply the service's previous spec).
 */
export interface RolloutWatch {
  readonly monitor: number;
  readonly failureAction: FailureAction;
  readonly maxFailures: number;
}

export type FailureAction = "pause" | "continue" | "rollback";

export class Plan {
  constructor(
    readonly operations: readonly Operation[],
    /** What the plan does not do but the user should know (orphans kept, unschedulable replicas…). */
    readonly notes: readonly string[] = [],
  ) {}

  get isEmpty(): boolean {
    return this.operations.length === 0;
  }

  /**
   * One line per operation:
   * `#3 container:web.2 recreate (config hash changed: 1a2b3c4 → 5d6e7f8) after #1,#2`, with, when set,
   * the replacement order, ` on <node>` (unless the local node), ` batch N`, ` delay Nms`,
   * ` on-failure continue|rollback` (not for the default, pause), ` wait db:service_healthy,…`, and for
   * a recreate ` keep-volumes /data,…` (anonymous volumes taken over) or ` renew-volumes`; then one line
   * per note, starting with `! `. Empty for a plan with nothing to do and nothing to say.
   */
  toString(): string {
    const lines = this.operations.map((op) => {
      let line = `#${String(op.id)} ${op.target} ${op.kind}`;
      if (op.order !== undefined) line += ` ${op.order}`;
      line += ` (${op.reason})`;
      if (op.node !== undefined && op.node !== LOCAL_NODE.id) line += ` on ${op.node}`;
      if (op.after.length > 0) line += ` after ${op.after.map((id) => `#${String(id)}`).join(",")}`;
      if (op.batch !== undefined) line += ` batch ${String(op.batch)}`;
      if (op.delay !== undefined && op.delay > 0) line += ` delay ${String(op.delay)}ms`;
      if (op.rollout !== undefined && op.rollout.failureAction !== "pause")
        line += ` on-failure ${op.rollout.failureAction}`;
      if (op.waitFor !== undefined && op.waitFor.length > 0)
        line += ` wait ${op.waitFor.map((d) => `${d.service}:${d.condition}`).join(",")}`;
      if (op.inheritVolumes !== undefined && op.inheritVolumes.length > 0)
        line += ` keep-volumes ${op.inheritVolumes.map((v) => v.target).join(",")}`;
      if (op.kind === "recreate" && op.removeVolumes === true) line += " renew-volumes";
      return line;
    });
    for (const note of this.notes) lines.push(`! ${note}`);
    return lines.join("\n");
  }
}
