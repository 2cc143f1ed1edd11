/**
 * What a failed rolling update leads to, decided from data: the plan's `rollout` fields say what each
 * replacement's failure means, the apply outcome says which failed. Pure; the loop acts on the answer.
 */
import type { ApplyRequest } from "../api/stack-types.js";
import type { UpdateConfigSpec } from "../spec/types.js";
import type { ApplyOutcome } from "./applier.js";
import type { FailureAction, Plan } from "./plan.js";

/** One service whose update failed beyond what it tolerates. */
export interface UpdateFailure {
  readonly service: string;
  readonly action: FailureAction;
  /** `service web: update failed: container:web.1 recreate: new container … turned unhealthy …`. */
  readonly message: string;
}

/** The services whose rolling update failed beyond their `max_failure_ratio`, in plan order. */
export function updateFailures(plan: Plan, outcome: ApplyOutcome): UpdateFailure[] {
  const out = new Map<string, UpdateFailure>();
  for (const f of outcome.failures) {
    if (f.tolerated === true || f.code === "reconciler/aborted") continue;
    const op = plan.operations.find((o) => o.id === f.id);
    if (op?.rollout === undefined || op.service === undefined || out.has(op.service)) continue;
    out.set(op.service, {
      service: op.service,
      action: op.rollout.failureAction,
      message: `service ${op.service}: update failed: ${f.message}`,
    });
  }
  return [...out.values()];
}

/** The request a rollback applies, with the update policies the rolled-back services are replaced by. */
export interface Rollback {
  readonly request: ApplyRequest;
  /** Per rolled-back service: its `rollback_config`, used as its update policy for the rollback. */
  readonly updateConfig: Readonly<Record<string, UpdateConfigSpec>>;
}

/**
 * `current` with each of `services` put back to its definition in `previous` (so its config hash is the
 * previous one again); the rest of `current` stays. The rollback replaces containers as the failed
 * spec's `rollback_config` says (Swarm's semantics), defaulting to the `update_config` defaults.
 * Throws when a service has no previous definition: there is nothing to roll back to.
 */
export function rollbackRequest(
  current: ApplyRequest,
  previous: ApplyRequest | undefined,
  services: readonly string[],
): Rollback {
  const restored = { ...current.spec.services };
  const updateConfig: Record<string, UpdateConfigSpec> = {};
  for (const name of services) {
    const before = previous?.spec.services[name];
    if (before === undefined)
      throw new Error(
        `service ${name} cannot be rolled back: ${previous === undefined ? "the stack has no previous spec" : "the previous spec does not have it"}`,
      );
    restored[name] = before;
    updateConfig[name] = current.spec.services[name]?.deploy?.rollback_config ?? {};
  }
  return { request: { ...current, spec: { ...current.spec, services: restored } }, updateConfig };
}
