/**
 * The engine's stacks: one reconcile loop per applied stack, its desired state stored under
 * `<root>/stacks` so the next daemon resumes it, and the operations the stack endpoints serve (apply,
 * plan, down, list, status). Every change to a stack's containers goes through its loop — an apply only
 * hands the loop a new spec and waits for the pass it causes — so two applies never run at once.
 */
import { createActor, fromCallback, fromPromise, type ActorOptions, type AnyActorLogic } from "xstate";
import { TsstackError } from "../common/errors.js";
import { imageUseCheck } from "../runtime/containers/record.js";
import { readImageConfig } from "../runtime/images/inspect.js";
import { ImageStore } from "../runtime/images/store.js";
import type {
  ApplyRequest,
  DownRequest,
  PlanResponse,
  StackProgress,
  StackStatus,
  StackSummary,
} from "../api/stack-types.js";
import type { StackSpec } from "../spec/types.js";
import { applyPlan, type ApplierOptions, type ApplyOutcome } from "./applier.js";
import { desiredStack, type DesiredStack, type ImageFacts } from "./desired.js";
import { LABEL_CONFIG_FILES, LABEL_PROJECT } from "./labels.js";
import {
  stackLoopMachine,
  type LoopInput,
  type LoopState,
  type PlanInput,
  type StackLoopActor,
} from "./loop.js";
import type { ObservedStack } from "./observed.js";
import type { Plan } from "./plan.js";
import { plan as makePlan, planDown } from "./planner.js";
import { serviceImage } from "./service-container.js";
import { STACK_NAME_RE, StackStore } from "./stack-store.js";
import { observeStack, type StackRuntime } from "./stack-runtime.js";

/** The outcome an apply or a down reports (the last line of its stream). */
export interface StackResult {
  readonly ok: boolean;
  readonly errors: readonly string[];
}

/** What the stack endpoints need; `EngineStacks` is the engine's implementation. */
export interface StackService {
  apply(name: string, req: ApplyRequest, onProgress?: (p: StackProgress) => void): Promise<StackResult>;
  plan(name: string, req: ApplyRequest): Promise<PlanResponse>;
  down(name: string, req: DownRequest, onProgress?: (p: StackProgress) => void): Promise<StackResult>;
  list(): Promise<StackSummary[]>;
  status(name: string): Promise<StackStatus>;
}

export interface EngineStacksOptions {
  /** The engine's state root: specs go to `<root>/stacks`, images are looked up in its store. */
  readonly root: string;
  readonly runtime: StackRuntime;
  readonly log?: (line: string) => void;
  /** Whether an image is in the store. Default: the image store under `root`. */
  readonly hasImage?: (ref: string) => Promise<boolean>;
  /**
   * The id and `VOLUME`s of each of `refs` the store has (missing ones left out); every plan looks the
   * stack's images up, to recreate containers whose image changed under its tag and to know where they
   * get anonymous volumes. Default: the image store under `root`.
   */
  readonly inspectImages?: (refs: readonly string[]) => Promise<ReadonlyMap<string, ImageFacts>>;
  /** Loop timing (resync, backoff); defaults as in `LoopInput`. */
  readonly loop?: Omit<LoopInput, "name">;
  /** Applier tuning (parallelism, timeouts, polling); defaults as in `ApplierOptions`. */
  readonly applier?: Pick<
    ApplierOptions,
    "parallelism" | "dependencyTimeoutMs" | "readyTimeoutMs" | "pollMs"
  >;
  /** The loops' clock (tests). Default: real timers. */
  readonly clock?: ActorOptions<AnyActorLogic>["clock"];
  /** Now, for `appliedAt` and `--wait`. Default `Date.now`. */
  readonly now?: () => number;
}

/** `--wait` without `--wait-timeout`. */
const DEFAULT_WAIT_S = 120;
const WAIT_POLL_MS = 200;
const SETTLED: readonly LoopState[] = ["idle", "backoff", "degraded"];

interface Entry {
  readonly actor: StackLoopActor;
  request: ApplyRequest;
}

export class EngineStacks implements StackService {
  readonly #rt: StackRuntime;
  readonly #store: StackStore;
  readonly #log: (line: string) => void;
  readonly #hasImage: (ref: string) => Promise<boolean>;
  readonly #inspectImages: (refs: readonly string[]) => Promise<ReadonlyMap<string, ImageFacts>>;
  readonly #loops = new Map<string, Entry>();
  readonly #listeners = new Map<string, Set<(p: StackProgress) => void>>();
  readonly #closing = new AbortController();
  readonly #now: () => number;

  private constructor(private readonly opts: EngineStacksOptions) {
    this.#rt = opts.runtime;
    this.#store = new StackStore(opts.root);
    this.#log = opts.log ?? (() => undefined);
    this.#hasImage = opts.hasImage ?? ((ref) => imageInStore(opts.root, ref));
    this.#inspectImages = opts.inspectImages ?? ((refs) => imagesInStore(opts.root, refs));
    this.#now = opts.now ?? Date.now;
  }

  /** Opens the stacks of `root` and resumes reconciling every stored one. */
  static async open(opts: EngineStacksOptions): Promise<EngineStacks> {
    const stacks = new EngineStacks(opts);
    const stored = await stacks.#store.list((file, error) => {
      stacks.#log(`stacks: skipping ${file}: ${message(error)}`);
    });
    for (const s of stored) {
      stacks.#log(`stacks: resuming stack ${s.name} (applied ${s.appliedAt})`);
      stacks.#loop(s.name, s.request).actor.send({
        type: "SPEC_APPLIED",
        request: s.request,
        ...(s.previous !== undefined ? { previous: s.previous } : {}),
        background: true,
      });
    }
    return stacks;
  }

  /** Stops every loop (after its running apply, whose waits are cut short). Containers keep running. */
  async close(): Promise<void> {
    this.#closing.abort();
    await Promise.all([...this.#loops.keys()].map((name) => this.#stopLoop(name)));
  }

  async apply(
    name: string,
    req: ApplyRequest,
    onProgress: (p: StackProgress) => void = () => undefined,
  ): Promise<StackResult> {
    this.#checkOpen();
    checkRequest(name, req);
    const stored = await this.#store.put(name, req, new Date(this.#now()).toISOString());
    const entry = this.#loop(name, stored.request);
    entry.request = stored.request;

    const sent = { plan: false };
    const listener = (p: StackProgress): void => {
      // Only the first plan: later passes of the same apply re-plan what is left.
      if (p.type === "plan") {
        if (sent.plan) return;
        sent.plan = true;
      }
      onProgress(p);
    };
    this.#listen(name, listener);
    let result: StackResult;
    try {
      entry.actor.send({
        type: "SPEC_APPLIED",
        request: { ...stored.request, options: { ...req.options } },
        ...(stored.previous !== undefined ? { previous: stored.previous } : {}),
      });
      result = await settled(entry.actor, entry.actor.getSnapshot().context.generation);
    } finally {
      this.#unlisten(name, listener);
    }
    if (!sent.plan) onProgress({ type: "plan", text: "" });
    if (result.ok && req.options?.wait === true) return this.#waitRunning(name, req);
    return result;
  }

  async plan(name: string, req: ApplyRequest): Promise<PlanResponse> {
    this.#checkOpen();
    checkRequest(name, req);
    const desired = desiredOf(req, undefined, await this.#imagesOf(req));
    const observed = await observeStack(this.#rt, name);
    const p = planFor(req, desired, observed, {
      startStopped: true,
      forceRecreate: req.options?.forceRecreate === true,
      renewAnonVolumes: req.options?.renewAnonVolumes === true,
    });
    return planResponse(p);
  }

  async down(
    name: string,
    req: DownRequest,
    onProgress: (p: StackProgress) => void = () => undefined,
  ): Promise<StackResult> {
    this.#checkOpen();
    if (!STACK_NAME_RE.test(name))
      throw new TsstackError("reconciler/invalid-request", `invalid stack name "${name}"`);
    // The loop first, so nothing brings the stack back while it goes; then its spec, so the next daemon
    // does not either.
    await this.#stopLoop(name);
    const stored = await this.#store.get(name);
    await this.#store.delete(name);
    const observed = await observeStack(this.#rt, name);
    const spec = stored?.request.spec ?? emptySpec(name);
    const desired =
      stored !== undefined ? desiredStack(stored.request.spec) : unmanagedDesired(name, observed);
    const p = planDown(desired, observed, {
      ...(req.volumes !== undefined ? { volumes: req.volumes } : {}),
      // Without a stored spec every container is an orphan: down removes them all.
      removeOrphans: stored === undefined || req.removeOrphans === true,
    });
    onProgress({ type: "plan", text: p.toString() });
    const outcome = await applyPlan(
      p,
      { spec, desired },
      {
        ...this.opts.applier,
        runtime: this.#rt,
        onProgress,
        signal: this.#closing.signal,
        ...(req.timeout !== undefined ? { stopTimeout: req.timeout } : {}),
      },
    );
    this.#log(
      `stacks: stack ${name} down: ${outcome.ok ? "done" : `${String(outcome.failures.length)} failed`}`,
    );
    return resultOf(outcome);
  }

  async list(): Promise<StackSummary[]> {
    this.#checkOpen();
    const containers = await this.#rt.listContainers({ all: true, filters: { label: [LABEL_PROJECT] } });
    const names = new Set([
      ...this.#loops.keys(),
      ...containers.flatMap((c) => c.Labels[LABEL_PROJECT] ?? []),
    ]);
    return [...names].sort().map((name) => {
      const mine = containers.filter((c) => c.Labels[LABEL_PROJECT] === name);
      const counts = new Map<string, number>();
      for (const c of mine) counts.set(c.State, (counts.get(c.State) ?? 0) + 1);
      const status = [...counts.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([state, n]) => `${state}(${String(n)})`)
        .join(", ");
      const files =
        this.#loops.get(name)?.request.configFiles?.join(",") ??
        mine.find((c) => c.Labels[LABEL_CONFIG_FILES] !== undefined)?.Labels[LABEL_CONFIG_FILES] ??
        "";
      return { Name: name, Status: status, ConfigFiles: files };
    });
  }

  async status(name: string): Promise<StackStatus> {
    this.#checkOpen();
    const entry = this.#loops.get(name);
    const observed = await observeStack(this.#rt, name);
    if (entry === undefined && observed.containers.length === 0)
      throw new TsstackError("stack/not-found", `No such stack: ${name}`);
    let desired: DesiredStack | undefined;
    try {
      desired = entry !== undefined ? desiredOf(entry.request) : undefined;
    } catch {
      desired = undefined; // a degraded stack's spec may not resolve; its containers still show
    }
    const services = [
      ...(desired?.services.map((s) => ({ name: s.name, desiredReplicas: s.replicas })) ?? []),
      ...[...new Set(observed.containers.map((c) => c.service))]
        .filter((s) => desired?.services.some((d) => d.name === s) !== true)
        .map((s) => ({ name: s, desiredReplicas: 0 })),
    ];
    const snapshot = entry?.actor.getSnapshot();
    const errors =
      snapshot === undefined || snapshot.context.errors.length > 0
        ? (snapshot?.context.errors ?? [])
        : (snapshot.context.rollback?.errors ?? []);
    const out = [];
    for (const svc of services) {
      const containers = [];
      for (const c of observed.containers
        .filter((o) => o.service === svc.name)
        .sort((a, b) => (a.replica ?? 0) - (b.replica ?? 0))) {
        const health = await this.#rt
          .getContainer(c.id)
          .inspect()
          .then((i) => i.State.Health?.Status)
          .catch(() => c.health);
        containers.push({
          id: c.id,
          name: c.name,
          replica: c.replica ?? 0,
          state: c.state,
          ...(health !== undefined ? { health } : {}),
        });
      }
      out.push({ ...svc, containers });
    }
    return {
      name,
      // A stack whose containers carry the label but that this engine was never asked to apply.
      state: snapshot !== undefined ? snapshot.value : "unmanaged",
      ...(errors.length > 0 ? { lastError: errors.join("; ") } : {}),
      services: out,
    };
  }

  // --- loops --------------------------------------------------------------------------------------

  #loop(name: string, request: ApplyRequest): Entry {
    const existing = this.#loops.get(name);
    if (existing !== undefined) return existing;
    const machine = stackLoopMachine.provide({
      actors: {
        observe: fromPromise(({ input }) => observeStack(this.#rt, input.name)),
        plan: fromPromise(async ({ input }) => {
          const desired = desiredOf(input.request, input.updateConfig, await this.#imagesOf(input.request));
          const p = planFor(input.request, desired, input.observed, input);
          if (!p.isEmpty) this.#log(`stacks: stack ${input.name}: plan\n${p.toString()}`);
          this.#emit(input.name, { type: "plan", text: p.toString() });
          return { plan: p, desired };
        }),
        apply: fromPromise(async ({ input, signal }) => {
          const outcome = await applyPlan(
            input.planned.plan,
            {
              spec: input.request.spec,
              desired: input.planned.desired,
              ...(input.request.workingDir !== undefined ? { workingDir: input.request.workingDir } : {}),
              ...(input.request.configFiles !== undefined ? { configFiles: input.request.configFiles } : {}),
            },
            {
              ...this.opts.applier,
              runtime: this.#rt,
              hasImage: this.#hasImage,
              onProgress: (p) => {
                this.#emit(input.name, p);
              },
              signal: AbortSignal.any([signal, this.#closing.signal]),
            },
          );
          for (const f of outcome.failures) this.#log(`stacks: stack ${input.name}: ${f.message}`);
          return outcome;
        }),
        persist: fromPromise(async ({ input }) => {
          this.#log(`stacks: stack ${input.name}: rolled back, storing the rolled-back spec`);
          const stored = await this.#store.put(
            input.name,
            input.request,
            new Date(this.#now()).toISOString(),
            input.previous,
          );
          const entry = this.#loops.get(input.name);
          if (entry !== undefined) entry.request = stored.request;
          return undefined;
        }),
        events: fromCallback(({ input, sendBack }) => {
          const ac = new AbortController();
          void (async () => {
            for await (const e of this.#rt.getEvents({ signal: ac.signal })) {
              if (e.Type !== "container" || e.Actor.Attributes[LABEL_PROJECT] !== input.name) continue;
              const container = e.Actor.Attributes["name"] ?? e.Actor.ID;
              if (e.Action === "die" || e.Action === "destroy")
                sendBack({ type: "CONTAINER_EXITED", container });
              else if (e.Action.startsWith("health_status")) sendBack({ type: "HEALTH_CHANGED", container });
            }
          })().catch((error: unknown) => {
            if (!ac.signal.aborted) this.#log(`stacks: stack ${input.name}: events ended: ${message(error)}`);
          });
          return () => {
            ac.abort();
          };
        }),
      },
    });
    const actor = createActor(machine, {
      input: { name, ...this.opts.loop },
      ...(this.opts.clock !== undefined ? { clock: this.opts.clock } : {}),
    });
    actor.subscribe({
      error: (error: unknown) => {
        this.#log(`stacks: stack ${name}: the loop failed: ${message(error)}`);
      },
    });
    actor.start();
    const entry: Entry = { actor, request };
    this.#loops.set(name, entry);
    return entry;
  }

  async #stopLoop(name: string): Promise<void> {
    const entry = this.#loops.get(name);
    if (entry === undefined) return;
    this.#loops.delete(name);
    entry.actor.send({ type: "STOP" });
    await new Promise<void>((resolve) => {
      if (entry.actor.getSnapshot().status !== "active") {
        resolve();
        return;
      }
      const sub = entry.actor.subscribe({
        next: (s) => {
          if (s.status !== "active") {
            sub.unsubscribe();
            resolve();
          }
        },
        complete: () => {
          resolve();
        },
      });
    });
    entry.actor.stop();
  }

  #listen(name: string, fn: (p: StackProgress) => void): void {
    const set = this.#listeners.get(name) ?? new Set();
    set.add(fn);
    this.#listeners.set(name, set);
  }

  #unlisten(name: string, fn: (p: StackProgress) => void): void {
    this.#listeners.get(name)?.delete(fn);
  }

  #emit(name: string, p: StackProgress): void {
    for (const fn of this.#listeners.get(name) ?? []) fn(p);
  }

  /** The store's facts about the images of the request's services. */
  #imagesOf(req: ApplyRequest): Promise<ReadonlyMap<string, ImageFacts>> {
    const refs = new Set(Object.keys(req.spec.services).map((s) => serviceImage(req.spec, s)));
    return this.#inspectImages([...refs]);
  }

  #checkOpen(): void {
    if (this.#closing.signal.aborted)
      throw new TsstackError("engine/closed", "the engine's stacks are closed");
  }

  /** `--wait`: until every container of the converged services runs, and is healthy where it has a healthcheck. */
  async #waitRunning(name: string, req: ApplyRequest): Promise<StackResult> {
    const timeoutS = req.options?.waitTimeout ?? DEFAULT_WAIT_S;
    const deadline = this.#now() + timeoutS * 1000;
    const services = new Set(desiredOf(req).services.map((s) => s.name));
    for (;;) {
      const observed = await observeStack(this.#rt, name);
      const pending: string[] = [];
      for (const c of observed.containers.filter((o) => services.has(o.service))) {
        const st = (await this.#rt.getContainer(c.id).inspect()).State;
        if (!st.Running) pending.push(`${c.name} is ${st.Status}`);
        else if (st.Health !== undefined && st.Health.Status !== "healthy")
          pending.push(`${c.name} is ${st.Health.Status}`);
      }
      if (pending.length === 0) return { ok: true, errors: [] };
      if (this.#now() >= deadline)
        return { ok: false, errors: [`not ready after ${String(timeoutS)} s: ${pending.join(", ")}`] };
      await new Promise((r) => setTimeout(r, WAIT_POLL_MS));
    }
  }
}

/** Resolves when a pass for `generation` (or a later one) has settled, or the loop stopped. */
function settled(actor: StackLoopActor, generation: number): Promise<StackResult> {
  return new Promise((resolve) => {
    const check = (): boolean => {
      const s = actor.getSnapshot();
      if (s.status !== "active") {
        resolve({
          ok: false,
          errors: ["the stack's reconciler stopped (the stack was taken down or the engine is closing)"],
        });
        return true;
      }
      if (s.context.settledGeneration < generation || !SETTLED.includes(s.value)) return false;
      // Converged on the previous spec: the update this apply asked for still failed.
      const rolledBack = s.context.rollback?.errors;
      if (s.value === "idle" && rolledBack !== undefined) resolve({ ok: false, errors: rolledBack });
      else if (s.value === "idle") resolve({ ok: true, errors: [] });
      else
        resolve({
          ok: false,
          errors: [
            ...s.context.errors,
            s.value === "degraded"
              ? "the stack is degraded: fix the spec (or load the missing image) and apply again"
              : "the engine keeps retrying in the background",
          ],
        });
      return true;
    };
    if (check()) return;
    const sub = actor.subscribe({
      next: () => {
        if (check()) sub.unsubscribe();
      },
      complete: () => {
        check();
      },
    });
  });
}

function checkRequest(name: string, req: ApplyRequest): void {
  if (!STACK_NAME_RE.test(name))
    throw new TsstackError("reconciler/invalid-request", `invalid stack name "${name}"`);
  if (req.spec.name !== name)
    throw new TsstackError(
      "reconciler/invalid-request",
      `stack ${name}: the spec is for stack "${req.spec.name}"`,
    );
  // Unknown services, bad scales: refused before anything is stored or changed.
  desiredOf(req);
}

function desiredOf(
  req: ApplyRequest,
  updateConfig?: PlanInput["updateConfig"],
  images?: ReadonlyMap<string, ImageFacts>,
): DesiredStack {
  const o = req.options ?? {};
  return desiredStack(req.spec, {
    ...(o.scale !== undefined ? { scale: o.scale } : {}),
    ...(o.services !== undefined ? { services: o.services } : {}),
    ...(updateConfig !== undefined ? { updateConfig } : {}),
    ...(images !== undefined ? { images } : {}),
  });
}

function planFor(
  req: ApplyRequest,
  desired: DesiredStack,
  observed: ObservedStack,
  pass: {
    readonly startStopped: boolean;
    readonly forceRecreate: boolean;
    readonly renewAnonVolumes: boolean;
  },
): Plan {
  const o = req.options ?? {};
  return makePlan(desired, observed, {
    forceRecreate: pass.forceRecreate,
    noRecreate: o.noRecreate === true,
    removeOrphans: o.removeOrphans === true,
    startStopped: pass.startStopped,
    // Passes that follow a user's apply, as `up` checks images; background passes leave a re-pulled
    // tag to the next `up`.
    recreateChangedImages: pass.startStopped,
    renewAnonVolumes: pass.renewAnonVolumes,
  });
}

function planResponse(p: Plan): PlanResponse {
  return {
    text: p.toString(),
    operations: p.operations.map((o) => ({
      id: o.id,
      kind: o.kind,
      target: o.target,
      reason: o.reason,
      after: o.after,
    })),
  };
}

function resultOf(outcome: ApplyOutcome): StackResult {
  return {
    ok: outcome.ok,
    errors: [
      ...outcome.failures.map((f) => f.message),
      ...(outcome.skipped.length > 0 ? [`${String(outcome.skipped.length)} operations not run`] : []),
    ],
  };
}

function emptySpec(name: string): StackSpec {
  return { name, services: {}, networks: {}, volumes: {}, secrets: {}, configs: {}, models: {} };
}

/** A stack the engine has no spec for: every container is an orphan; its networks and volumes go with it. */
function unmanagedDesired(name: string, observed: ObservedStack): DesiredStack {
  return {
    project: name,
    services: [],
    allServices: [],
    networks: observed.networks.map((n) => ({ key: n.key ?? n.name, name: n.name, external: false })),
    volumes: observed.volumes.map((v) => ({ key: v.key ?? v.name, name: v.name, external: false })),
  };
}

async function imageInStore(root: string, ref: string): Promise<boolean> {
  const store = await ImageStore.open(root, { inUse: imageUseCheck(root), housekeeping: false });
  try {
    return (await store.resolve(ref)) !== undefined;
  } finally {
    await store.close();
  }
}

/**
 * The id and `VOLUME`s of each reference the store under `root` has. A reference the store cannot
 * parse is left out like a missing one (creating its container reports it); a store that cannot be
 * opened fails the lookup, so no plan is made without knowing the images.
 */
async function imagesInStore(root: string, refs: readonly string[]): Promise<Map<string, ImageFacts>> {
  const out = new Map<string, ImageFacts>();
  if (refs.length === 0) return out;
  const store = await ImageStore.open(root, { inUse: imageUseCheck(root), housekeeping: false });
  try {
    for (const ref of refs) {
      const image = await store.resolve(ref).catch(() => undefined);
      if (image === undefined) continue;
      const config = await readImageConfig(store, image);
      out.set(ref, { id: image.id, volumes: Object.keys(config.config?.Volumes ?? {}) });
    }
  } finally {
    await store.close();
  }
  return out;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
