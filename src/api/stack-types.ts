/**
 * The engine's own stack endpoints (beside the Docker-shaped ones), as the daemon serves them and the
 * CLI's compose commands use them. The daemon keeps each applied stack's desired state and runs its
 * reconciler (src/reconciler), so a stack keeps converging after the CLI has gone.
 *
 *   POST   /tsstack/stacks/{name}/apply   body ApplyRequest  → NDJSON stream of StackProgress
 *   POST   /tsstack/stacks/{name}/plan    body ApplyRequest  → PlanResponse (nothing changes)
 *   POST   /tsstack/stacks/{name}/down    body DownRequest   → NDJSON stream of StackProgress
 *   GET    /tsstack/stacks                                   → StackSummary[]
 *   GET    /tsstack/stacks/{name}                            → StackStatus
 *
 * Containers, logs and events of a stack are the regular container endpoints filtered by the label
 * `com.docker.compose.project=<name>`.
 */
import type { StackSpec } from "../spec/types.js";

export interface ApplyOptions {
  readonly removeOrphans?: boolean;
  readonly forceRecreate?: boolean;
  readonly noRecreate?: boolean;
  /**
   * Recreated containers get fresh anonymous volumes instead of their predecessors', which are removed
   * with them (`--renew-anon-volumes`). One-shot, as `forceRecreate`. Default false.
   */
  readonly renewAnonVolumes?: boolean;
  /** `--scale svc=n`, over deploy.replicas / scale. */
  readonly scale?: Readonly<Record<string, number>>;
  /** Only these services (and their dependencies). */
  readonly services?: readonly string[];
  /** Resolve when every container is running, and healthy where it has a healthcheck (`--wait`). */
  readonly wait?: boolean;
  /** Seconds for `--wait` before giving up. */
  readonly waitTimeout?: number;
}

export interface ApplyRequest {
  readonly spec: StackSpec;
  /** The files the spec came from (for the com.docker.compose.project.config_files label). */
  readonly configFiles?: readonly string[];
  readonly workingDir?: string;
  readonly options?: ApplyOptions;
}

export interface DownRequest {
  /** Remove named volumes too (`down -v`). */
  readonly volumes?: boolean;
  readonly removeOrphans?: boolean;
  /** Stop timeout in seconds (`down -t`). */
  readonly timeout?: number;
}

export interface PlanResponse {
  /** `Plan.toString()`: one line per operation with its reason; empty when there is nothing to do. */
  readonly text: string;
  readonly operations: readonly {
    readonly id: number;
    readonly kind: string;
    readonly target: string;
    readonly reason: string;
    readonly after: readonly number[];
  }[];
}

/** One line of the apply/down stream. */
export type StackProgress =
  | { readonly type: "plan"; readonly text: string }
  | {
      readonly type: "op";
      readonly id: number;
      /** `container:web.2`, `network:app_default`, … */
      readonly target: string;
      readonly kind: string;
      readonly status: "started" | "done" | "failed" | "waiting";
      readonly message?: string;
    }
  | { readonly type: "result"; readonly ok: boolean; readonly errors: readonly string[] };

export interface StackSummary {
  readonly Name: string;
  /** Like docker compose ls: `running(3)`, `exited(1), running(2)`. */
  readonly Status: string;
  readonly ConfigFiles: string;
}

export interface StackStatus {
  readonly name: string;
  /** The reconciler's state: idle, observing, planning, applying, backoff, degraded. */
  readonly state: string;
  readonly lastError?: string;
  readonly services: readonly {
    readonly name: string;
    readonly desiredReplicas: number;
    readonly containers: readonly {
      readonly id: string;
      readonly name: string;
      readonly replica: number;
      readonly state: string;
      readonly health?: string;
    }[];
  }[];
}
