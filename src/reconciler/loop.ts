/**
 * The reconcile loop of one stack, as an xstate machine. It orchestrates and decides nothing: observing
 * the engine, planning (the pure planner) and applying are actors, so tests swap them with `.provide()`
 * and drive time with a simulated clock.
 *
 *   idle ──trigger──► observing ──► planning ──empty plan──► idle
 *                        ▲              │ plan
 *                        │              ▼
 *                        └──── ok ── applying ── failed ──► backoff ──delay──► observing
 *   planning/applying ── invalid spec, missing image ──► degraded (until a new spec)
 *   applying ── update failed, failure_action pause ──► degraded (the updated replicas stay)
 *   applying ── update failed, failure_action rollback ──► rollingBack (store) ──► observing
 *
 * Level-based: a trigger (a new spec, a container exit, a health change, the periodic resync) only
 * makes the loop look again; every pass re-reads the stored spec and the engine. Triggers that arrive
 * mid-pass are remembered and cause one more pass. Plain errors retry with exponential backoff, capped;
 * an invalid spec or an image the engine does not have is terminal until a new spec is applied.
 *
 * A rolling update that fails beyond its `max_failure_ratio` (see rollout.ts) either pauses — the loop
 * degrades with the reason — or rolls back: the failed services go back to their definition in the
 * previous spec, which becomes the stack's spec (stored, so a restarted daemon keeps it), and the
 * passes go on until it converges; the apply then still reports the update as failed. A rollback that
 * fails itself pauses.
 */
import { assign, fromCallback, fromPromise, setup, type ActorRefFrom, type EventObject } from "xstate";
import { TsstackError } from "../common/errors.js";
import type { ApplyRequest } from "../api/stack-types.js";
import type { ApplyOutcome } from "./applier.js";
import type { DesiredStack } from "./desired.js";
import type { ObservedStack } from "./observed.js";
import type { UpdateConfigSpec } from "../spec/types.js";
import type { Plan } from "./plan.js";
import { rollbackRequest, updateFailures, type Rollback } from "./rollout.js";

/** What the plan actor returns: the plan and the desired state it was made from (the applier needs both). */
export interface PlannedPass {
  readonly plan: Plan;
  readonly desired: DesiredStack;
}

export interface ObserveInput {
  readonly name: string;
}

export interface PlanInput {
  readonly name: string;
  readonly request: ApplyRequest;
  readonly observed: ObservedStack;
  /** The pass follows a user's apply: start stopped containers (as `up` does). Background passes do not. */
  readonly startStopped: boolean;
  /** `--force-recreate` of the apply this pass follows; only the first apply after it forces. */
  readonly forceRecreate: boolean;
  /** `--renew-anon-volumes` of the apply this pass follows; one-shot as `forceRecreate`. */
  readonly renewAnonVolumes: boolean;
  /** While rolled back: the update policies that replace the rolled-back services' own. */
  readonly updateConfig?: Readonly<Record<string, UpdateConfigSpec>>;
}

/** The rolled-back spec to store as the stack's. */
export interface PersistInput {
  readonly name: string;
  readonly request: ApplyRequest;
  readonly previous: ApplyRequest | undefined;
}

export interface ApplyInput {
  readonly name: string;
  readonly request: ApplyRequest;
  readonly planned: PlannedPass;
}

export type LoopEvent =
  | {
      readonly type: "SPEC_APPLIED";
      readonly request: ApplyRequest;
      /** The spec applied before this one: what a failed update rolls back to. */
      readonly previous?: ApplyRequest;
      readonly background?: boolean;
    }
  | { readonly type: "CONTAINER_EXITED"; readonly container?: string }
  | { readonly type: "HEALTH_CHANGED"; readonly container?: string }
  | { readonly type: "TIMER" }
  | { readonly type: "STOP" };

export interface LoopInput {
  readonly name: string;
  /** Periodic resync while idle. Default 10 000 ms. */
  readonly resyncMs?: number;
  /** First retry delay after an error; doubles per consecutive failure. Default 500 ms. */
  readonly backoffBaseMs?: number;
  /** Largest retry delay. Default 30 000 ms. */
  readonly backoffCapMs?: number;
  /** Apply rounds in a row that may leave a non-empty plan before it counts as an error. Default 3. */
  readonly maxRounds?: number;
}

export interface LoopContext {
  readonly name: string;
  readonly request: ApplyRequest | undefined;
  readonly previous: ApplyRequest | undefined;
  /** Set when a failed update was rolled back, until the next spec: why, and the rollback's policies. */
  readonly rollback: (Rollback & { readonly errors: readonly string[] }) | undefined;
  /** Bumped by every SPEC_APPLIED. */
  readonly generation: number;
  /** The generation the current (or last) pass works for. */
  readonly passGeneration: number;
  /** The generation of the last pass that settled (idle, backoff or degraded). */
  readonly settledGeneration: number;
  readonly startStopped: boolean;
  readonly forceRecreate: boolean;
  readonly renewAnonVolumes: boolean;
  readonly observed: ObservedStack | undefined;
  readonly planned: PlannedPass | undefined;
  /** Consecutive failed passes (drives the backoff). */
  readonly attempt: number;
  /** Consecutive applies that did not converge. */
  readonly rounds: number;
  /** A trigger arrived during a pass: look once more. */
  readonly pending: boolean;
  readonly stopRequested: boolean;
  /** The errors of the last failed pass; empty after a converged one. */
  readonly errors: readonly string[];
  readonly resyncMs: number;
  readonly backoffBaseMs: number;
  readonly backoffCapMs: number;
  readonly maxRounds: number;
}

/** Error codes that no retry can fix: the stack stays degraded until a new spec is applied. */
const TERMINAL = [/^spec\//, /^reconciler\/invalid/, /^image\/not-found$/, /^container\/invalid/];

export function isTerminalCode(code: string): boolean {
  return TERMINAL.some((re) => re.test(code));
}

/** After a failed apply: roll back, pause (degrade), or neither (the usual retry rules). Pure. */
export function afterUpdateFailure(
  ctx: Pick<LoopContext, "request" | "previous" | "rollback" | "planned">,
  outcome: ApplyOutcome,
):
  | { readonly kind: "rollback"; readonly rollback: Rollback; readonly errors: readonly string[] }
  | { readonly kind: "pause"; readonly errors: readonly string[] }
  | undefined {
  if (ctx.planned === undefined || ctx.request === undefined) return undefined;
  const failed = updateFailures(ctx.planned.plan, outcome);
  if (failed.length === 0) return undefined;
  const errors = failed.map((f) => f.message);
  const back = failed.filter((f) => f.action === "rollback").map((f) => f.service);
  // A rollback that fails pauses: rolling back again could only loop.
  if (back.length === 0 || ctx.rollback !== undefined) return { kind: "pause", errors };
  try {
    const rollback = rollbackRequest(ctx.request, ctx.previous, back);
    return {
      kind: "rollback",
      rollback,
      errors: errors.map((e) => `${e}; rolled back to the previous spec`),
    };
  } catch (error) {
    return { kind: "pause", errors: [...errors, messageOf(error)] };
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function codeOf(error: unknown): string {
  return error instanceof TsstackError ? error.code : "internal";
}

export function backoffDelay(ctx: Pick<LoopContext, "attempt" | "backoffBaseMs" | "backoffCapMs">): number {
  return Math.min(ctx.backoffCapMs, ctx.backoffBaseMs * 2 ** Math.max(0, ctx.attempt - 1));
}

const notProvided = (what: string) => () =>
  Promise.reject(new TsstackError("internal", `internal: the stack loop's ${what} actor was not provided`));

export const stackLoopMachine = setup({
  types: {
    context: {} as LoopContext,
    events: {} as LoopEvent,
    input: {} as LoopInput,
  },
  actors: {
    observe: fromPromise<ObservedStack, ObserveInput>(notProvided("observe")),
    plan: fromPromise<PlannedPass, PlanInput>(notProvided("plan")),
    apply: fromPromise<ApplyOutcome, ApplyInput>(notProvided("apply")),
    /** Stores a rolled-back spec as the stack's; default: not stored. */
    persist: fromPromise<undefined, PersistInput>(() => Promise.resolve(undefined)),
    /** Sends CONTAINER_EXITED / HEALTH_CHANGED for the stack's containers; default: none. */
    events: fromCallback<EventObject, ObserveInput>(() => undefined),
  },
  delays: {
    resync: ({ context }) => context.resyncMs,
    backoff: ({ context }) => backoffDelay(context),
  },
  guards: {
    hasRequest: ({ context }) => context.request !== undefined,
    pending: ({ context }) => context.pending && context.request !== undefined,
    stopRequested: ({ context }) => context.stopRequested,
    newerSpec: ({ context }) => context.generation > context.passGeneration,
  },
  actions: {
    takeSpec: assign(({ context, event }) => {
      if (event.type !== "SPEC_APPLIED") return {};
      const user = event.background !== true;
      return {
        request: event.request,
        previous: event.previous,
        rollback: undefined,
        generation: context.generation + 1,
        startStopped: user,
        forceRecreate: user && event.request.options?.forceRecreate === true,
        renewAnonVolumes: user && event.request.options?.renewAnonVolumes === true,
        attempt: 0,
        rounds: 0,
        errors: [],
      };
    }),
    queue: assign({ pending: true }),
    settle: assign(({ context }) => ({ settledGeneration: context.passGeneration })),
    /**
     * `--force-recreate` and `--renew-anon-volumes` hold for one apply; a spec that came during the apply
     * brings its own.
     */
    applied: assign(({ context }) => {
      const newer = context.generation > context.passGeneration;
      return {
        forceRecreate: newer ? context.forceRecreate : false,
        renewAnonVolumes: newer ? context.renewAnonVolumes : false,
      };
    }),
  },
}).createMachine({
  id: "stack",
  context: ({ input }) => ({
    name: input.name,
    request: undefined,
    previous: undefined,
    rollback: undefined,
    generation: 0,
    passGeneration: 0,
    settledGeneration: 0,
    startStopped: false,
    forceRecreate: false,
    renewAnonVolumes: false,
    observed: undefined,
    planned: undefined,
    attempt: 0,
    rounds: 0,
    pending: false,
    stopRequested: false,
    errors: [],
    resyncMs: input.resyncMs ?? 10_000,
    backoffBaseMs: input.backoffBaseMs ?? 500,
    backoffCapMs: input.backoffCapMs ?? 30_000,
    maxRounds: input.maxRounds ?? 3,
  }),
  invoke: { src: "events", input: ({ context }) => ({ name: context.name }) },
  initial: "idle",
  on: {
    SPEC_APPLIED: { target: ".observing", actions: "takeSpec", reenter: true },
    STOP: ".stopped",
  },
  states: {
    idle: {
      entry: "settle",
      always: { guard: "pending", target: "observing" },
      after: { resync: { guard: "hasRequest", target: "observing" } },
      on: {
        CONTAINER_EXITED: { guard: "hasRequest", target: "observing" },
        HEALTH_CHANGED: { guard: "hasRequest", target: "observing" },
        TIMER: { guard: "hasRequest", target: "observing" },
      },
    },
    observing: {
      entry: assign(({ context }) => ({ pending: false, passGeneration: context.generation })),
      invoke: {
        src: "observe",
        input: ({ context }) => ({ name: context.name }),
        onDone: { target: "planning", actions: assign({ observed: ({ event }) => event.output }) },
        onError: {
          target: "backoff",
          actions: assign(({ context, event }) => ({
            attempt: context.attempt + 1,
            errors: [`observing stack ${context.name}: ${messageOf(event.error)}`],
          })),
        },
      },
      on: {
        CONTAINER_EXITED: { actions: "queue" },
        HEALTH_CHANGED: { actions: "queue" },
        TIMER: { actions: "queue" },
      },
    },
    planning: {
      invoke: {
        src: "plan",
        input: ({ context }) => {
          // Reached only from observing, which needs a request to be entered with one.
          if (context.request === undefined || context.observed === undefined)
            throw new TsstackError("internal", "internal: planning without a spec or an observation");
          return {
            name: context.name,
            request: context.request,
            observed: context.observed,
            startStopped: context.startStopped,
            forceRecreate: context.forceRecreate,
            renewAnonVolumes: context.renewAnonVolumes,
            ...(context.rollback !== undefined ? { updateConfig: context.rollback.updateConfig } : {}),
          };
        },
        onDone: [
          {
            guard: ({ event }) => event.output.plan.isEmpty,
            target: "idle",
            // Converged: the apply's one-shot options are spent even when they had nothing to act on.
            actions: assign({
              planned: undefined,
              attempt: 0,
              rounds: 0,
              errors: [],
              startStopped: false,
              forceRecreate: false,
              renewAnonVolumes: false,
            }),
          },
          {
            guard: ({ context }) => context.rounds >= context.maxRounds,
            target: "backoff",
            actions: assign(({ context, event }) => ({
              attempt: context.attempt + 1,
              rounds: 0,
              errors: [
                `stack ${context.name} did not converge after ${String(context.maxRounds)} applies; still to do: ${event.output.plan.toString().split("\n")[0] ?? ""}`,
              ],
            })),
          },
          { target: "applying", actions: assign({ planned: ({ event }) => event.output }) },
        ],
        onError: [
          {
            guard: ({ event }) => isTerminalCode(codeOf(event.error)),
            target: "degraded",
            actions: assign({ errors: ({ event }) => [messageOf(event.error)] }),
          },
          {
            target: "backoff",
            actions: assign(({ context, event }) => ({
              attempt: context.attempt + 1,
              errors: [messageOf(event.error)],
            })),
          },
        ],
      },
      on: {
        CONTAINER_EXITED: { actions: "queue" },
        HEALTH_CHANGED: { actions: "queue" },
        TIMER: { actions: "queue" },
      },
    },
    applying: {
      invoke: {
        src: "apply",
        input: ({ context }) => {
          if (context.request === undefined || context.planned === undefined)
            throw new TsstackError("internal", "internal: applying without a spec or a plan");
          return { name: context.name, request: context.request, planned: context.planned };
        },
        onDone: [
          { guard: "stopRequested", target: "stopped" },
          {
            guard: ({ event }) => event.output.ok,
            target: "observing",
            actions: ["applied", assign(({ context }) => ({ rounds: context.rounds + 1 }))],
          },
          // A new spec came during the failed apply: try it now, not after a backoff.
          { guard: "newerSpec", target: "observing", actions: "applied" },
          {
            guard: ({ context, event }) => afterUpdateFailure(context, event.output)?.kind === "rollback",
            target: "rollingBack",
            actions: [
              "applied",
              assign(({ context, event }) => {
                const next = afterUpdateFailure(context, event.output);
                if (next?.kind !== "rollback") return {};
                return {
                  request: next.rollback.request,
                  rollback: { ...next.rollback, errors: next.errors },
                  rounds: 0,
                  attempt: 0,
                  errors: next.errors,
                };
              }),
            ],
          },
          {
            guard: ({ context, event }) => afterUpdateFailure(context, event.output)?.kind === "pause",
            target: "degraded",
            actions: [
              "applied",
              assign(({ context, event }) => ({
                errors: afterUpdateFailure(context, event.output)?.errors ?? [],
              })),
            ],
          },
          {
            guard: ({ event }) => event.output.failures.some((f) => isTerminalCode(f.code)),
            target: "degraded",
            actions: [
              "applied",
              assign({ errors: ({ event }) => event.output.failures.map((f) => f.message) }),
            ],
          },
          {
            target: "backoff",
            actions: [
              "applied",
              assign(({ context, event }) => ({
                attempt: context.attempt + 1,
                errors:
                  event.output.failures.length > 0
                    ? event.output.failures.map((f) => f.message)
                    : ["the apply was interrupted"],
              })),
            ],
          },
        ],
        onError: [
          { guard: "stopRequested", target: "stopped" },
          { guard: "newerSpec", target: "observing", actions: "applied" },
          {
            target: "backoff",
            actions: [
              "applied",
              assign(({ context, event }) => ({
                attempt: context.attempt + 1,
                errors: [`applying stack ${context.name}: ${messageOf(event.error)}`],
              })),
            ],
          },
        ],
      },
      on: {
        // A new spec waits for the running apply: two applies of one stack never overlap.
        SPEC_APPLIED: { actions: ["takeSpec", "queue"] },
        STOP: { actions: assign({ stopRequested: true }) },
        CONTAINER_EXITED: { actions: "queue" },
        HEALTH_CHANGED: { actions: "queue" },
        TIMER: { actions: "queue" },
      },
    },
    rollingBack: {
      invoke: {
        src: "persist",
        input: ({ context }) => {
          if (context.request === undefined)
            throw new TsstackError("internal", "internal: rolling back without a spec");
          return { name: context.name, request: context.request, previous: context.previous };
        },
        // Not stored is not fatal: the loop still converges on the rolled-back spec until a restart.
        onDone: [{ guard: "stopRequested", target: "stopped" }, { target: "observing" }],
        onError: [{ guard: "stopRequested", target: "stopped" }, { target: "observing" }],
      },
      on: {
        SPEC_APPLIED: { actions: ["takeSpec", "queue"] },
        STOP: { actions: assign({ stopRequested: true }) },
      },
    },
    backoff: {
      entry: "settle",
      after: { backoff: "observing" },
    },
    degraded: {
      entry: "settle",
    },
    stopped: { type: "final" },
  },
});

export type StackLoopActor = ActorRefFrom<typeof stackLoopMachine>;

/** The states a stack's status reports. */
export type LoopState =
  "idle" | "observing" | "planning" | "applying" | "rollingBack" | "backoff" | "degraded" | "stopped";

export function loopState(actor: StackLoopActor): LoopState {
  return actor.getSnapshot().value;
}
