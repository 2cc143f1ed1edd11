import { describe, expect, it } from "vitest";
import { createActor, fromPromise, SimulatedClock, waitFor } from "xstate";
import type { ApplyRequest } from "../../../src/api/stack-types.js";
import { TsstackError } from "../../../src/common/errors.js";
import type { ApplyOutcome } from "../../../src/reconciler/applier.js";
import { desiredStack } from "../../../src/reconciler/desired.js";
import {
  backoffDelay,
  stackLoopMachine,
  type ApplyInput,
  type LoopState,
  type ObserveInput,
  type PlanInput,
  type PlannedPass,
} from "../../../src/reconciler/loop.js";
import type { ObservedStack } from "../../../src/reconciler/observed.js";
import { plan } from "../../../src/reconciler/planner.js";
import { stackFrom } from "./stack.js";

const SPEC = stackFrom(`
services:
  web: {image: busybox, command: [sleep, "1000"], network_mode: none, deploy: {replicas: 2}}
`);
const REQUEST: ApplyRequest = { spec: SPEC };

/**
 * A fake engine: `observe` returns its containers; `apply` performs the plan on them, or fails with the
 * next queued error. Planning is the real, pure planner.
 */
function world() {
  let containers: ObservedStack["containers"] = [];
  const applyErrors: (TsstackError | undefined)[] = [];
  const calls = { observe: 0, plan: 0, apply: 0 };
  const planInputs: PlanInput[] = [];
  const planError: { next: Error | undefined } = { next: undefined };
  /** While set, applies wait for it. */
  const gate: { promise: Promise<void> | undefined } = { promise: undefined };
  const machine = stackLoopMachine.provide({
    actors: {
      observe: fromPromise<ObservedStack, ObserveInput>(() => {
        calls.observe++;
        return Promise.resolve({ containers, networks: [], volumes: [] });
      }),
      plan: fromPromise<PlannedPass, PlanInput>(({ input }) => {
        calls.plan++;
        planInputs.push(input);
        if (planError.next !== undefined) return Promise.reject(planError.next);
        const desired = desiredStack(input.request.spec, { hash: () => "h1" });
        return Promise.resolve({ plan: plan(desired, input.observed, input), desired });
      }),
      apply: fromPromise<ApplyOutcome, ApplyInput>(async ({ input }) => {
        calls.apply++;
        await gate.promise;
        const error = applyErrors.shift();
        if (error !== undefined)
          return {
            ok: false,
            failures: [{ id: 1, target: "container:web.1", code: error.code, message: error.message }],
            skipped: [],
          };
        for (const op of input.planned.plan.operations) {
          if (op.kind === "create" && op.service !== undefined && op.replica !== undefined)
            containers = [
              ...containers,
              {
                id: `id-${op.service}-${String(op.replica)}`,
                name: op.name ?? "",
                service: op.service,
                replica: op.replica,
                configHash: "h1",
                state: "running",
              },
            ];
        }
        return { ok: true, failures: [], skipped: [] };
      }),
    },
  });
  const clock = new SimulatedClock();
  const actor = createActor(machine, { input: { name: "proj" }, clock });
  actor.start();
  const until = (state: LoopState) => waitFor(actor, (s) => s.value === state);
  return {
    actor,
    clock,
    calls,
    planInputs,
    planError,
    applyErrors,
    gate,
    until,
    setContainers: (c: ObservedStack["containers"]) => {
      containers = c;
    },
    get containers() {
      return containers;
    },
  };
}

describe("the stack loop", () => {
  it("starts idle and does nothing without a spec, even on triggers", () => {
    const w = world();
    w.actor.send({ type: "TIMER" });
    w.actor.send({ type: "CONTAINER_EXITED" });
    w.clock.increment(60_000);
    expect(w.actor.getSnapshot().value).toBe("idle");
    expect(w.calls.observe).toBe(0);
  });

  it("converges a new spec: observe, plan, apply, then observe again to an empty plan and idle", async () => {
    const w = world();
    w.actor.send({ type: "SPEC_APPLIED", request: REQUEST });
    await w.until("idle");
    expect(w.containers.map((c) => c.name)).toEqual(["proj-web-1", "proj-web-2"]);
    expect(w.calls).toEqual({ observe: 2, plan: 2, apply: 1 });
    const ctx = w.actor.getSnapshot().context;
    expect(ctx.settledGeneration).toBe(1);
    expect(ctx.errors).toEqual([]);
  });

  it("retries with exponential backoff after an error, then converges", async () => {
    const w = world();
    w.applyErrors.push(
      new TsstackError("container/conflict", "name in use"),
      new TsstackError("container/conflict", "name in use"),
    );
    w.actor.send({ type: "SPEC_APPLIED", request: REQUEST });
    await w.until("backoff");
    expect(w.actor.getSnapshot().context.errors).toEqual(["name in use"]);
    expect(backoffDelay(w.actor.getSnapshot().context)).toBe(500);

    w.clock.increment(499);
    expect(w.actor.getSnapshot().value).toBe("backoff");
    expect(w.calls.apply).toBe(1);
    w.clock.increment(1);
    await waitFor(w.actor, (s) => s.value === "backoff" && s.context.attempt === 2);
    expect(w.calls.apply).toBe(2);
    // The second failure doubles the delay.
    w.clock.increment(999);
    expect(w.calls.apply).toBe(2);
    w.clock.increment(1);
    await w.until("idle");
    expect(w.calls.apply).toBe(3);
    expect(w.containers).toHaveLength(2);
    expect(w.actor.getSnapshot().context.attempt).toBe(0);
  });

  it("caps the backoff delay", () => {
    expect(backoffDelay({ attempt: 1, backoffBaseMs: 500, backoffCapMs: 30_000 })).toBe(500);
    expect(backoffDelay({ attempt: 4, backoffBaseMs: 500, backoffCapMs: 30_000 })).toBe(4000);
    expect(backoffDelay({ attempt: 20, backoffBaseMs: 500, backoffCapMs: 30_000 })).toBe(30_000);
  });

  it("turns degraded on an invalid spec and stays so, whatever the triggers, until a new spec", async () => {
    const w = world();
    w.planError.next = new TsstackError("reconciler/invalid-request", 'no service "nope" in the stack');
    w.actor.send({ type: "SPEC_APPLIED", request: REQUEST });
    await w.until("degraded");
    expect(w.actor.getSnapshot().context.errors).toEqual(['no service "nope" in the stack']);
    const observed = w.calls.observe;
    w.actor.send({ type: "CONTAINER_EXITED" });
    w.actor.send({ type: "TIMER" });
    w.clock.increment(10 * 60_000);
    expect(w.actor.getSnapshot().value).toBe("degraded");
    expect(w.calls.observe).toBe(observed);

    w.planError.next = undefined;
    w.actor.send({ type: "SPEC_APPLIED", request: REQUEST });
    await w.until("idle");
    expect(w.containers).toHaveLength(2);
  });

  it("turns degraded when the apply reports a missing image", async () => {
    const w = world();
    w.applyErrors.push(new TsstackError("image/not-found", "service web: image busybox is not in the store"));
    w.actor.send({ type: "SPEC_APPLIED", request: REQUEST });
    await w.until("degraded");
    w.clock.increment(60_000);
    expect(w.actor.getSnapshot().value).toBe("degraded");
    expect(w.calls.apply).toBe(1);
  });

  it("re-plans on CONTAINER_EXITED: a vanished replica is created again", async () => {
    const w = world();
    w.actor.send({ type: "SPEC_APPLIED", request: REQUEST });
    await w.until("idle");
    w.setContainers(w.containers.filter((c) => c.replica !== 2));
    w.actor.send({ type: "CONTAINER_EXITED", container: "proj-web-2" });
    expect(w.actor.getSnapshot().value).toBe("observing");
    await w.until("idle");
    expect(w.containers.map((c) => c.name).sort()).toEqual(["proj-web-1", "proj-web-2"]);
    expect(w.calls.apply).toBe(2);
  });

  it("passes startStopped only for the passes of a user's apply, not for background ones", async () => {
    const w = world();
    w.actor.send({ type: "SPEC_APPLIED", request: REQUEST });
    await w.until("idle");
    w.actor.send({ type: "HEALTH_CHANGED" });
    await w.until("idle");
    expect(w.planInputs.map((p) => p.startStopped)).toEqual([true, true, false]);
  });

  it("resyncs periodically while idle", async () => {
    const w = world();
    w.actor.send({ type: "SPEC_APPLIED", request: REQUEST });
    await w.until("idle");
    const observed = w.calls.observe;
    w.clock.increment(9_999);
    expect(w.calls.observe).toBe(observed);
    w.clock.increment(1);
    await w.until("idle");
    expect(w.calls.observe).toBe(observed + 1);
  });

  it("forces a recreate for one apply only", async () => {
    const w = world();
    w.actor.send({ type: "SPEC_APPLIED", request: REQUEST });
    await w.until("idle");
    w.actor.send({ type: "SPEC_APPLIED", request: { spec: SPEC, options: { forceRecreate: true } } });
    await w.until("idle");
    expect(w.planInputs.map((p) => p.forceRecreate)).toEqual([false, false, true, false]);
  });

  it("renews anonymous volumes for one apply only", async () => {
    const w = world();
    w.actor.send({ type: "SPEC_APPLIED", request: REQUEST });
    await w.until("idle");
    w.actor.send({ type: "SPEC_APPLIED", request: { spec: SPEC, options: { renewAnonVolumes: true } } });
    await w.until("idle");
    // Nothing to recreate: the option is spent all the same, a later pass does not renew.
    w.actor.send({ type: "TIMER" });
    await w.until("idle");
    expect(w.planInputs.map((p) => p.renewAnonVolumes)).toEqual([false, false, true, false]);
  });

  it("finishes a running apply before it stops", async () => {
    const w = world();
    let open = (): void => undefined;
    w.gate.promise = new Promise((resolve) => (open = resolve));
    w.actor.send({ type: "SPEC_APPLIED", request: REQUEST });
    await w.until("applying");
    w.actor.send({ type: "STOP" });
    expect(w.actor.getSnapshot().value).toBe("applying");
    open();
    await waitFor(w.actor, (s) => s.status === "done");
    expect(w.containers).toHaveLength(2);
  });
});
