import { describe, expect, it } from "vitest";
import { createActor, fromPromise, SimulatedClock, waitFor } from "xstate";
import type { ApplyRequest } from "../../../src/api/stack-types.js";
import type { ApplyOutcome } from "../../../src/reconciler/applier.js";
import { desiredStack } from "../../../src/reconciler/desired.js";
import {
  afterUpdateFailure,
  stackLoopMachine,
  type ApplyInput,
  type ObserveInput,
  type PersistInput,
  type PlanInput,
  type PlannedPass,
} from "../../../src/reconciler/loop.js";
import type { ObservedContainer, ObservedStack } from "../../../src/reconciler/observed.js";
import { plan } from "../../../src/reconciler/planner.js";
import { rollbackRequest, updateFailures } from "../../../src/reconciler/rollout.js";
import { stackFrom } from "./stack.js";

const OLD = stackFrom(`
services:
  web:
    image: nginx
    environment: {VERSION: "1"}
    deploy:
      replicas: 4
      update_config: {parallelism: 2, monitor: 1s, failure_action: rollback, max_failure_ratio: 0.5}
      rollback_config: {parallelism: 0, order: start-first}
  db: {image: postgres}
`);
const NEW = stackFrom(`
services:
  web:
    image: nginx
    environment: {VERSION: "2"}
    deploy:
      replicas: 4
      update_config: {parallelism: 2, monitor: 1s, failure_action: rollback, max_failure_ratio: 0.5}
      rollback_config: {parallelism: 0, order: start-first}
  db: {image: postgres}
`);
const OLD_REQ: ApplyRequest = { spec: OLD };
const NEW_REQ: ApplyRequest = { spec: NEW };

const ctr = (
  service: string,
  replica: number,
  hash: string,
  state: ObservedContainer["state"] = "running",
): ObservedContainer => ({
  id: `${service}${String(replica)}-${hash}`,
  name: `proj-${service}-${String(replica)}`,
  service,
  replica,
  configHash: hash,
  state,
});

/** Hashes by VERSION, so tests read them: `web-v1`, `web-v2`. */
const hashOf = (spec: typeof OLD, service: string): string =>
  `${service}-v${spec.services[service]?.environment?.["VERSION"] ?? "0"}`;

function observedAt(version: number, n = 4): ObservedStack {
  return {
    containers: [
      ...Array.from({ length: n }, (_, i) => ctr("web", i + 1, `web-v${String(version)}`)),
      ctr("db", 1, "db-v0"),
    ],
    networks: [{ name: "proj_default" }],
    volumes: [],
  };
}

describe("rolling update plans", () => {
  it("carry how each replacement is watched and how many failures the update tolerates", () => {
    const p = plan(desiredStack(NEW, { hash: hashOf }), observedAt(1));
    expect(p.toString().split("\n")).toEqual([
      "#1 container:web.1 recreate stop-first (config hash changed: web-v1 → web-v2) batch 1 on-failure rollback",
      "#2 container:web.2 recreate stop-first (config hash changed: web-v1 → web-v2) batch 1 on-failure rollback",
      "#3 container:web.3 recreate stop-first (config hash changed: web-v1 → web-v2) after #1,#2 batch 2 on-failure rollback",
      "#4 container:web.4 recreate stop-first (config hash changed: web-v1 → web-v2) after #1,#2 batch 2 on-failure rollback",
    ]);
    // max_failure_ratio 0.5 of 4 replacements.
    expect(p.operations[0]?.rollout).toEqual({ monitor: 1000, failureAction: "rollback", maxFailures: 2 });
  });

  it("default to a 5 s monitor, pausing on the first failure; continue tolerates every failure", () => {
    const spec = (action: string) =>
      stackFrom(`
services:
  web: {image: nginx, deploy: {replicas: 2, update_config: {failure_action: ${action}}}}
`);
    const rollout = (action: string) =>
      plan(desiredStack(spec(action), { hash: () => "web-v2" }), {
        ...observedAt(1, 2),
        containers: observedAt(1, 2).containers.filter((c) => c.service === "web"),
      }).operations[0]?.rollout;
    expect(rollout("pause")).toEqual({ monitor: 5000, failureAction: "pause", maxFailures: 0 });
    expect(rollout("continue")).toEqual({ monitor: 5000, failureAction: "continue", maxFailures: 2 });
  });

  it("roll back with rollback_config as the update policy, to the previous config hash", () => {
    const back = rollbackRequest(NEW_REQ, OLD_REQ, ["web"]);
    const d = desiredStack(back.request.spec, { hash: hashOf, updateConfig: back.updateConfig });
    const p = plan(d, {
      ...observedAt(1),
      containers: [
        ctr("web", 1, "web-v2"),
        ctr("web", 2, "web-v2"),
        ctr("web", 3, "web-v1"),
        ctr("web", 4, "web-v1"),
        ctr("db", 1, "db-v0"),
      ],
    });
    expect(p.toString().split("\n")).toEqual([
      "#1 container:web.1 recreate start-first (config hash changed: web-v2 → web-v1) batch 1",
      "#2 container:web.2 recreate start-first (config hash changed: web-v2 → web-v1) batch 1",
    ]);
  });

  it("start a created container that never ran even in a background pass (an interrupted up)", () => {
    const p = plan(
      desiredStack(OLD, { hash: hashOf }),
      {
        ...observedAt(1),
        containers: observedAt(1).containers.map((c) => (c.replica === 4 ? { ...c, state: "created" } : c)),
      },
      { startStopped: false },
    );
    expect(p.toString()).toBe("#1 container:web.4 start (container is created)");
  });
});

describe("after a failed update", () => {
  const planned: PlannedPass = {
    plan: plan(desiredStack(NEW, { hash: hashOf }), observedAt(1)),
    desired: desiredStack(NEW, { hash: hashOf }),
  };
  const failed = (tolerated = false): ApplyOutcome => ({
    ok: false,
    failures: [
      {
        id: 1,
        target: "container:web.1",
        code: "reconciler/update-failed",
        message: "container:web.1 recreate: new container proj-web-1 turned unhealthy",
        ...(tolerated ? { tolerated } : {}),
      },
    ],
    skipped: [3, 4],
  });

  it("names the service and the cause; tolerated failures do not count", () => {
    expect(updateFailures(planned.plan, failed())).toEqual([
      {
        service: "web",
        action: "rollback",
        message:
          "service web: update failed: container:web.1 recreate: new container proj-web-1 turned unhealthy",
      },
    ]);
    expect(updateFailures(planned.plan, failed(true))).toEqual([]);
  });

  it("rolls back to the previous spec of the failed service, keeping the rest of the new spec", () => {
    const next = afterUpdateFailure(
      { request: NEW_REQ, previous: OLD_REQ, rollback: undefined, planned },
      failed(),
    );
    expect(next?.kind).toBe("rollback");
    if (next?.kind !== "rollback") return;
    expect(next.rollback.request.spec.services["web"]).toBe(OLD.services["web"]);
    expect(next.rollback.request.spec.services["db"]).toBe(NEW.services["db"]);
    expect(next.rollback.updateConfig).toEqual({ web: { parallelism: 0, order: "start-first" } });
    expect(next.errors).toEqual([
      "service web: update failed: container:web.1 recreate: new container proj-web-1 turned unhealthy; rolled back to the previous spec",
    ]);
  });

  it("pauses when there is nothing to roll back to, or when the rollback itself failed", () => {
    const none = afterUpdateFailure(
      { request: NEW_REQ, previous: undefined, rollback: undefined, planned },
      failed(),
    );
    expect(none).toEqual({
      kind: "pause",
      errors: [
        "service web: update failed: container:web.1 recreate: new container proj-web-1 turned unhealthy",
        "service web cannot be rolled back: the stack has no previous spec",
      ],
    });
    const again = afterUpdateFailure(
      {
        request: NEW_REQ,
        previous: OLD_REQ,
        rollback: { ...rollbackRequest(NEW_REQ, OLD_REQ, ["web"]), errors: [] },
        planned,
      },
      failed(),
    );
    expect(again?.kind).toBe("pause");
  });
});

describe("the stack loop on a failed update", () => {
  /** A fake engine whose first web replacement fails its watch; every other operation succeeds. */
  function world() {
    let containers = observedAt(1).containers;
    const persisted: PersistInput[] = [];
    const machine = stackLoopMachine.provide({
      actors: {
        observe: fromPromise<ObservedStack, ObserveInput>(() =>
          Promise.resolve({ ...observedAt(1), containers }),
        ),
        plan: fromPromise<PlannedPass, PlanInput>(({ input }) => {
          const desired = desiredStack(input.request.spec, {
            hash: hashOf,
            ...(input.updateConfig !== undefined ? { updateConfig: input.updateConfig } : {}),
          });
          return Promise.resolve({ plan: plan(desired, input.observed, input), desired });
        }),
        apply: fromPromise<ApplyOutcome, ApplyInput>(({ input }) => {
          const ops = input.planned.plan.operations;
          const wanted = hashOf(input.request.spec, "web");
          const first = ops[0];
          // The new config fails on its first replacement; batch 2 is then not run.
          if (wanted === "web-v2" && first !== undefined) {
            containers = containers.map((c) =>
              c.replica === 1 && c.service === "web" ? { ...c, configHash: wanted } : c,
            );
            return Promise.resolve({
              ok: false,
              failures: [
                {
                  id: first.id,
                  target: first.target,
                  code: "reconciler/update-failed",
                  message: "web.1 turned unhealthy",
                },
              ],
              skipped: ops.filter((o) => o.batch === 2).map((o) => o.id),
            });
          }
          for (const op of ops)
            containers = containers.map((c) =>
              c.service === op.service && c.replica === op.replica ? { ...c, configHash: wanted } : c,
            );
          return Promise.resolve({ ok: true, failures: [], skipped: [] });
        }),
        persist: fromPromise<undefined, PersistInput>(({ input }) => {
          persisted.push(input);
          return Promise.resolve(undefined);
        }),
      },
    });
    const actor = createActor(machine, { input: { name: "proj" }, clock: new SimulatedClock() });
    actor.start();
    return { actor, persisted, containers: () => containers };
  }

  it("rolls back: stores the rolled-back spec and converges on it, keeping the errors", async () => {
    const w = world();
    w.actor.send({ type: "SPEC_APPLIED", request: NEW_REQ, previous: OLD_REQ });
    await waitFor(w.actor, (s) => s.value === "idle" && s.context.rollback !== undefined);
    expect(w.containers().map((c) => c.configHash)).toEqual([
      "web-v1",
      "web-v1",
      "web-v1",
      "web-v1",
      "db-v0",
    ]);
    expect(w.persisted).toHaveLength(1);
    expect(w.persisted[0]?.request.spec.services["web"]).toBe(OLD.services["web"]);
    expect(w.persisted[0]?.previous).toBe(OLD_REQ);
    expect(w.actor.getSnapshot().context.rollback?.errors).toEqual([
      "service web: update failed: web.1 turned unhealthy; rolled back to the previous spec",
    ]);
  });

  it("pauses without a previous spec: degraded, the replaced replica stays, the others untouched", async () => {
    const w = world();
    w.actor.send({ type: "SPEC_APPLIED", request: NEW_REQ });
    await waitFor(w.actor, (s) => s.value === "degraded");
    expect(w.containers().map((c) => c.configHash)).toEqual([
      "web-v2",
      "web-v1",
      "web-v1",
      "web-v1",
      "db-v0",
    ]);
    expect(w.persisted).toEqual([]);
    expect(w.actor.getSnapshot().context.errors[0]).toBe(
      "service web: update failed: web.1 turned unhealthy",
    );
  });
});
