/**
 * The applier: executes a `Plan` against the engine. It decides nothing — what to create, replace,
 * stop or remove, in which order, in which batches and waiting for what is all in the plan — it only
 * translates each operation into engine calls, runs independent operations in parallel (bounded),
 * honours `after` edges, `waitFor` conditions and batch delays, and reports progress per operation.
 *
 * An operation fails alone: the operations after it (transitively) are skipped, independent ones go
 * on, and the outcome lists every failure. A rolling update's replacement is watched for its
 * `rollout.monitor` window; while a service's failed replacements stay within the plan's
 * `rollout.maxFailures`, they do not block what comes after them. The reconciler's next pass
 * re-observes and re-plans, so a half-applied plan is just another observed state.
 *
 * The runtime has no rename (Docker's `POST /containers/{id}/rename`). Where a plan needs one — a
 * start-first replacement, and the `rename` operation — the applier uses the container handle's
 * `rename({name})` when the runtime offers it, and otherwise replaces the container a second time
 * under its final name: start-first keeps a running replica throughout, at the cost of one more
 * container start.
 *
 * A replacement mounts the old container's anonymous volumes the plan lists (`inheritVolumes`) instead
 * of fresh ones, and removes the old container without them; with the plan's `removeVolumes` the old
 * container's anonymous volumes go with it. The engine counts a volume in use while any container
 * (running or not) mounts it, so during a start-first replacement old and new container share it.
 */
import { TsstackError } from "../common/errors.js";
import type { ContainerInspect } from "../runtime/runtime.js";
import type { StackProgress } from "../api/stack-types.js";
import type { StackSpec } from "../spec/types.js";
import type { DesiredDependency, DesiredService, DesiredStack } from "./desired.js";
import {
  LABEL_CONFIG_HASH,
  LABEL_NETWORK,
  LABEL_ONEOFF,
  LABEL_PROJECT,
  LABEL_SERVICE,
  LABEL_VOLUME,
} from "./labels.js";
import type { InheritedVolume, Operation, Plan } from "./plan.js";
import { containerName, containerOptionsFor, normalizeTarget, serviceImage } from "./service-container.js";
import type { StackRuntime } from "./stack-runtime.js";

/** What the plan was made from: the translation of operations into engine calls needs it. */
export interface ApplyContext {
  readonly spec: StackSpec;
  readonly desired: DesiredStack;
  /** For the working_dir label. */
  readonly workingDir?: string;
  /** For the config_files label. */
  readonly configFiles?: readonly string[];
}

export interface ApplierOptions {
  readonly runtime: StackRuntime;
  /** Operations run at once. Default 4. */
  readonly parallelism?: number;
  /**
   * Whether an image is in the engine's store. When given, every image the plan creates containers from
   * is checked before anything is done, so a missing image fails the whole apply up front (and a
   * stop-first replacement never stops the old container for nothing). Default: not checked; the
   * container create then fails with `image/not-found`.
   */
  readonly hasImage?: (ref: string) => Promise<boolean>;
  /** How long a start waits for its `depends_on` conditions. Default 60 000 ms. */
  readonly dependencyTimeoutMs?: number;
  /** How long a start-first replacement waits for the new container to run (and be healthy). Default 60 000 ms. */
  readonly readyTimeoutMs?: number;
  /** How often waited-for containers are inspected. Default 100 ms. */
  readonly pollMs?: number;
  /** Seconds before `stop` operations kill (`down -t`). Default: each container's StopTimeout. */
  readonly stopTimeout?: number;
  readonly onProgress?: (progress: StackProgress) => void;
  /** Stops launching operations; waits end early. Running engine calls finish. */
  readonly signal?: AbortSignal;
  /** Injected for tests: monotonic milliseconds and a sleep. Default `performance.now` and a timer. */
  readonly now?: () => number;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface OperationFailure {
  readonly id: number;
  readonly target: string;
  /** A rolling update's replacement that failed within its `rollout.maxFailures`: the apply went on. */
  readonly tolerated?: boolean;
  /** The error's code (`image/not-found`, `container/conflict`, …); `internal` when it had none. */
  readonly code: string;
  readonly message: string;
}

export interface ApplyOutcome {
  /** Every operation ran, and every failure was tolerated. */
  readonly ok: boolean;
  readonly failures: readonly OperationFailure[];
  /** Operations not run because one they come after failed (or the apply was aborted). */
  readonly skipped: readonly number[];
}

const DEFAULT_PARALLELISM = 4;
const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_POLL_MS = 100;

/** Runs `plan`; never throws for an operation's failure (see the outcome). */
export async function applyPlan(plan: Plan, ctx: ApplyContext, opts: ApplierOptions): Promise<ApplyOutcome> {
  const applier = new Applier(ctx, opts);
  return applier.run(plan);
}

type OpState = "pending" | "running" | "done" | "failed" | "skipped";

class Applier {
  readonly #rt: StackRuntime;
  readonly #emit: (p: StackProgress) => void;
  readonly #now: () => number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #poll: number;

  constructor(
    private readonly ctx: ApplyContext,
    private readonly opts: ApplierOptions,
  ) {
    this.#rt = opts.runtime;
    this.#emit = opts.onProgress ?? (() => undefined);
    this.#now = opts.now ?? (() => performance.now());
    this.#sleep = opts.sleep ?? sleep;
    this.#poll = opts.pollMs ?? DEFAULT_POLL_MS;
  }

  async run(plan: Plan): Promise<ApplyOutcome> {
    const failures: OperationFailure[] = [];
    const skipped: number[] = [];
    const ops = plan.operations;
    const known = new Set(ops.map((o) => o.id));
    for (const op of ops)
      for (const a of op.after)
        if (!known.has(a))
          throw new TsstackError(
            "internal",
            `internal: plan #${String(op.id)} is after unknown #${String(a)}`,
          );

    const missing = await this.#missingImages(ops);
    if (missing.length > 0) {
      for (const m of missing)
        failures.push({ id: 0, target: `service:${m.service}`, code: "image/not-found", message: m.message });
      return { ok: false, failures, skipped: ops.map((o) => o.id) };
    }

    const state = new Map<number, OpState>(ops.map((o) => [o.id, "pending"]));
    const byId = new Map(ops.map((o) => [o.id, o]));
    // Failed replacements per service; within the plan's budget they count as done for ordering.
    const failedReplacements = new Map<string, number>();
    const tolerated = (id: number): boolean => {
      const op = byId.get(id);
      if (state.get(id) !== "failed" || op?.rollout === undefined || op.service === undefined) return false;
      return (failedReplacements.get(op.service) ?? 0) <= op.rollout.maxFailures;
    };
    const settled = (id: number): boolean => state.get(id) === "done" || tolerated(id);
    const max = Math.max(1, this.opts.parallelism ?? DEFAULT_PARALLELISM);
    let running = 0;
    await new Promise<void>((resolve) => {
      const pump = (): void => {
        // Skip what comes after a failure (transitively: a skipped op skips its dependents next round).
        for (let changed = true; changed;) {
          changed = false;
          for (const op of ops) {
            if (state.get(op.id) !== "pending") continue;
            const blocker = op.after.find(
              (a) => (state.get(a) === "failed" && !tolerated(a)) || state.get(a) === "skipped",
            );
            const aborted = this.opts.signal?.aborted === true;
            if (blocker === undefined && !aborted) continue;
            state.set(op.id, "skipped");
            skipped.push(op.id);
            changed = true;
            this.#emit({
              type: "op",
              id: op.id,
              target: op.target,
              kind: op.kind,
              status: "failed",
              message: aborted ? "not run: the apply was aborted" : `not run: #${String(blocker)} failed`,
            });
          }
        }
        for (const op of ops) {
          if (running >= max) break;
          if (state.get(op.id) !== "pending") continue;
          if (!op.after.every(settled)) continue;
          state.set(op.id, "running");
          running++;
          this.#emit({ type: "op", id: op.id, target: op.target, kind: op.kind, status: "started" });
          this.#execute(op)
            .then(
              () => {
                state.set(op.id, "done");
                this.#emit({ type: "op", id: op.id, target: op.target, kind: op.kind, status: "done" });
              },
              (error: unknown) => {
                state.set(op.id, "failed");
                if (op.rollout !== undefined && op.service !== undefined)
                  failedReplacements.set(op.service, (failedReplacements.get(op.service) ?? 0) + 1);
                const code = error instanceof TsstackError ? error.code : "internal";
                const message = error instanceof Error ? error.message : String(error);
                failures.push({ id: op.id, target: op.target, code, message });
                this.#emit({
                  type: "op",
                  id: op.id,
                  target: op.target,
                  kind: op.kind,
                  status: "failed",
                  message,
                });
              },
            )
            .finally(() => {
              running--;
              pump();
            });
        }
        if (running === 0) resolve();
      };
      pump();
    });
    const judged = failures.map((f) => (tolerated(f.id) ? { ...f, tolerated: true } : f));
    return {
      ok: judged.every((f) => f.tolerated === true) && skipped.length === 0,
      failures: judged,
      skipped,
    };
  }

  /** Images of the services the plan creates containers for that are not in the store. */
  async #missingImages(ops: readonly Operation[]): Promise<{ service: string; message: string }[]> {
    const has = this.opts.hasImage;
    if (has === undefined) return [];
    const services = new Set(
      ops.flatMap((o) =>
        (o.kind === "create" || o.kind === "recreate" || o.kind === "rename") && o.service !== undefined
          ? [o.service]
          : [],
      ),
    );
    const out: { service: string; message: string }[] = [];
    for (const service of services) {
      const image = serviceImage(this.ctx.spec, service);
      if (!(await has(image)))
        out.push({
          service,
          message: `service ${service}: image ${image} is not in the engine's image store (pull or load it first: tsstack pull ${image})`,
        });
    }
    return out;
  }

  async #execute(op: Operation): Promise<void> {
    if (op.delay !== undefined && op.delay > 0) await this.#sleep(op.delay, this.opts.signal);
    try {
      await this.#dispatch(op);
    } catch (error) {
      if (error instanceof TsstackError && error.message.startsWith(op.target)) throw error;
      const code = error instanceof TsstackError ? error.code : "internal";
      const message = error instanceof Error ? error.message : String(error);
      throw new TsstackError(code, `${op.target} ${op.kind}: ${message}`, { cause: error });
    }
  }

  async #dispatch(op: Operation): Promise<void> {
    switch (op.kind) {
      case "create-network":
        return this.#createNetwork(required(op, op.name, "name"));
      case "create-volume":
        return this.#createVolume(required(op, op.name, "name"));
      case "create": {
        const svc = this.#service(op);
        const replica = required(op, op.replica, "replica");
        // A replica re-created after its network was (`inheritVolumes`) keeps its anonymous volumes.
        const id = await this.#createContainer(
          svc,
          replica,
          op.name ?? this.#finalName(svc, replica),
          op.inheritVolumes,
        );
        await this.#waitForDependencies(op);
        await this.#rt.getContainer(id).start();
        return;
      }
      case "start":
        await this.#waitForDependencies(op);
        await this.#rt.getContainer(required(op, op.container, "container").id).start();
        return;
      case "restart":
        await this.#waitForDependencies(op);
        await this.#rt.getContainer(required(op, op.container, "container").id).restart();
        return;
      case "recreate":
        return op.order === "start-first" ? this.#replaceStartFirst(op) : this.#replaceStopFirst(op);
      case "rename":
        return this.#rename(op, required(op, op.container, "container").id, required(op, op.name, "name"));
      case "stop":
        return this.#stop(required(op, op.container, "container").id, this.opts.stopTimeout);
      case "remove":
        return this.#remove(required(op, op.container, "container").id, op.removeVolumes === true);
      case "remove-network":
        return ignoreNotFound(this.#rt.removeNetwork(required(op, op.name, "name")));
      case "remove-volume":
        return ignoreNotFound(this.#rt.removeVolume(required(op, op.name, "name")));
    }
  }

  // --- containers ---------------------------------------------------------------------------------

  #service(op: Operation): DesiredService {
    const name = required(op, op.service, "service");
    const svc = this.ctx.desired.services.find((s) => s.name === name);
    if (svc === undefined)
      throw new TsstackError(
        "internal",
        `internal: ${op.target}: service ${name} is not converged by this plan`,
      );
    return svc;
  }

  #finalName(svc: DesiredService, replica: number): string {
    return containerName(this.ctx.spec, svc.name, replica);
  }

  /** Creates replica `replica` of `svc` as `name`, mounting `inherited` volumes where it would get anonymous ones. */
  async #createContainer(
    svc: DesiredService,
    replica: number,
    name: string,
    inherited: readonly InheritedVolume[] = [],
  ): Promise<string> {
    const { spec, desired } = this.ctx;
    const netNames = new Map(desired.networks.map((n) => [n.key, n.name]));
    const volNames = new Map(desired.volumes.map((v) => [v.key, v.name]));
    const body = containerOptionsFor(spec, svc.name, replica, {
      configHash: svc.configHash,
      // Compose's image label; what the planner compares is the engine's own record of the image id.
      ...(svc.imageId !== undefined ? { imageDigest: svc.imageId } : {}),
      ...(inherited.length > 0
        ? { inheritedVolumes: new Map(inherited.map((v) => [normalizeTarget(v.target), v.name])) }
        : {}),
      networkNames: (key) => netNames.get(key) ?? spec.networks[key]?.name ?? `${spec.name}_${key}`,
      volumeNames: (key) => volNames.get(key) ?? spec.volumes[key]?.name ?? `${spec.name}_${key}`,
      ...(this.ctx.workingDir !== undefined ? { workingDir: this.ctx.workingDir } : {}),
      ...(this.ctx.configFiles !== undefined ? { configFiles: this.ctx.configFiles } : {}),
    });
    try {
      const c = await this.#rt.createContainer({ ...body, name });
      return c.id;
    } catch (error) {
      if (error instanceof TsstackError && error.code === "image/not-found")
        throw new TsstackError("image/not-found", `service ${svc.name}: ${error.message}`, { cause: error });
      throw error;
    }
  }

  /** Stop-first: the old container goes, then the new one is created under the final name and started. */
  async #replaceStopFirst(op: Operation): Promise<void> {
    const svc = this.#service(op);
    const replica = required(op, op.replica, "replica");
    const old = required(op, op.container, "container");
    await this.#stop(old.id, undefined);
    // Without its anonymous volumes unless they are renewed: the new container takes them over. Between
    // the two, no container uses them (only a `volume prune` right then could take them).
    await this.#remove(old.id, op.removeVolumes === true);
    const final = this.#finalName(svc, replica);
    const id = await this.#createContainer(svc, replica, final, op.inheritVolumes);
    await this.#waitForDependencies(op);
    await this.#rt.getContainer(id).start();
    // A failed replacement stays, as Swarm leaves it: what follows is the loop's call (pause or roll back).
    if (op.rollout !== undefined) await this.#monitor(id, final, op.rollout.monitor);
  }

  /**
   * Start-first: the new container starts under a temporary name (Compose's `<old id[:12]>_<name>`) and
   * must run (and be healthy, with a healthcheck) before the old one is stopped and removed; then the new
   * one gets the final name.
   */
  async #replaceStartFirst(op: Operation): Promise<void> {
    const svc = this.#service(op);
    const replica = required(op, op.replica, "replica");
    const old = required(op, op.container, "container");
    const final = this.#finalName(svc, replica);
    const temp = `${old.id.slice(0, 12)}_${final}`;
    // Inherited volumes are mounted by both containers until the old one goes.
    const id = await this.#createContainer(svc, replica, temp, op.inheritVolumes);
    try {
      await this.#waitForDependencies(op);
      await this.#rt.getContainer(id).start();
      await this.#waitReady(id, temp);
      // Watched while the old one still serves: a failed replacement leaves the replica as it was.
      if (op.rollout !== undefined) await this.#monitor(id, temp, op.rollout.monitor);
    } catch (error) {
      // The old container still serves; the failed new one must not stay around as a duplicate. Its
      // fresh anonymous volumes go with it; inherited ones stay, the old container still uses them.
      await this.#remove(id, true).catch(() => undefined);
      throw error;
    }
    await this.#stop(old.id, undefined);
    await this.#remove(old.id, op.removeVolumes === true);
    await this.#rename(op, id, final);
  }

  /**
   * Gives container `id` the name `name`: the runtime's rename when it has one, else a new container
   * (current config, the anonymous volumes of `id`) under `name`, started when the old one ran, then the
   * old one removed.
   */
  async #rename(op: Operation, id: string, name: string): Promise<void> {
    const handle = this.#rt.getContainer(id) as { rename?: (o: { readonly name: string }) => Promise<void> };
    if (typeof handle.rename === "function") {
      await handle.rename({ name });
      return;
    }
    const svc = this.#service(op);
    const replica = required(op, op.replica, "replica");
    const info = await this.#rt.getContainer(id).inspect();
    const running = info.State.Running;
    // The same container under another name: it keeps its data, whatever the replacement that led here.
    const anonymous = new Set(svc.anonymousVolumes);
    const volumes = info.Mounts.flatMap((m) =>
      m.Type === "volume" && m.Name !== undefined && anonymous.has(normalizeTarget(m.Destination))
        ? [{ name: m.Name, target: normalizeTarget(m.Destination) }]
        : [],
    );
    const next = await this.#createContainer(svc, replica, name, volumes);
    if (running) {
      await this.#rt.getContainer(next).start();
      try {
        await this.#waitReady(next, name);
      } catch (error) {
        await this.#remove(next, false).catch(() => undefined);
        throw error;
      }
    }
    await this.#stop(id, undefined);
    await this.#remove(id, false);
  }

  async #stop(id: string, t: number | undefined): Promise<void> {
    try {
      await this.#rt.getContainer(id).stop(t !== undefined ? { t } : {});
    } catch (error) {
      // Already stopped or gone is what a stop wants.
      if (
        error instanceof TsstackError &&
        (error.code === "container/not-found" || error.code === "container/not-running")
      )
        return;
      throw error;
    }
  }

  async #remove(id: string, volumes: boolean): Promise<void> {
    // Forced: a restart policy may have restarted the container since it was stopped.
    await ignoreNotFound(this.#rt.getContainer(id).remove({ force: true, v: volumes }));
  }

  /** Until the container runs and, with a healthcheck, is healthy; fails if it exits or turns unhealthy. */
  async #waitReady(id: string, name: string): Promise<void> {
    const timeout = this.opts.readyTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    const deadline = this.#now() + timeout;
    for (;;) {
      const st = (await this.#rt.getContainer(id).inspect()).State;
      if (st.Running && (st.Health === undefined || st.Health.Status === "healthy")) return;
      if (st.Health?.Status === "unhealthy")
        throw new TsstackError("reconciler/unhealthy", `new container ${name} is unhealthy`);
      if (!st.Running && !st.Restarting && st.Status !== "created")
        throw new TsstackError(
          "reconciler/exited",
          `new container ${name} exited with code ${String(st.ExitCode)}`,
        );
      if (this.#now() >= deadline)
        throw new TsstackError(
          "reconciler/timeout",
          `new container ${name} was not ready within ${String(timeout)} ms`,
        );
      await this.#sleep(this.#poll, this.opts.signal);
      this.#checkAborted();
    }
  }

  /**
   * A rolling update's watch of a new container for `ms`: it fails if the container stops running or
   * turns unhealthy, or, with a healthcheck, is not healthy when the window ends.
   */
  async #monitor(id: string, name: string, ms: number): Promise<void> {
    const deadline = this.#now() + ms;
    for (;;) {
      const st = (await this.#rt.getContainer(id).inspect()).State;
      if (st.Health?.Status === "unhealthy")
        throw new TsstackError(
          "reconciler/update-failed",
          `new container ${name} turned unhealthy within the ${String(ms)} ms monitor window`,
        );
      if (!st.Running || st.Restarting)
        throw new TsstackError(
          "reconciler/update-failed",
          `new container ${name} exited with code ${String(st.ExitCode)} within the ${String(ms)} ms monitor window`,
        );
      const left = deadline - this.#now();
      if (left <= 0) {
        if (st.Health !== undefined && st.Health.Status !== "healthy")
          throw new TsstackError(
            "reconciler/update-failed",
            `new container ${name} was not healthy (${st.Health.Status}) at the end of the ${String(ms)} ms monitor window`,
          );
        return;
      }
      await this.#sleep(Math.min(this.#poll, left), this.opts.signal);
      this.#checkAborted();
    }
  }

  // --- depends_on ---------------------------------------------------------------------------------

  async #waitForDependencies(op: Operation): Promise<void> {
    for (const dep of op.waitFor ?? []) {
      this.#emit({
        type: "op",
        id: op.id,
        target: op.target,
        kind: op.kind,
        status: "waiting",
        message: `waiting for ${dep.service} (${dep.condition})`,
      });
      try {
        await this.#waitForDependency(dep);
      } catch (error) {
        if (dep.required) throw error;
        this.#emit({
          type: "op",
          id: op.id,
          target: op.target,
          kind: op.kind,
          status: "waiting",
          message: `warning: optional dependency ${dep.service}: ${error instanceof Error ? error.message : String(error)}`,
        });
      }
    }
  }

  async #waitForDependency(dep: DesiredDependency): Promise<void> {
    const timeout = this.opts.dependencyTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    const deadline = this.#now() + timeout;
    let last: string;
    for (;;) {
      const verdict = await this.#dependencyState(dep);
      if (verdict.kind === "ok") return;
      if (verdict.kind === "failed")
        throw new TsstackError(
          "reconciler/dependency-failed",
          `dependency ${dep.service} (${dep.condition}) failed: ${verdict.why}`,
        );
      last = verdict.why;
      if (this.#now() >= deadline)
        throw new TsstackError(
          "reconciler/dependency-timeout",
          `dependency ${dep.service} did not reach ${dep.condition} within ${String(timeout)} ms: ${last}`,
        );
      await this.#sleep(this.#poll, this.opts.signal);
      this.#checkAborted();
    }
  }

  async #dependencyState(
    dep: DesiredDependency,
  ): Promise<{ kind: "ok" } | { kind: "wait"; why: string } | { kind: "failed"; why: string }> {
    const project = this.ctx.desired.project;
    const listed = await this.#rt.listContainers({
      all: true,
      filters: { label: [`${LABEL_PROJECT}=${project}`, `${LABEL_SERVICE}=${dep.service}`] },
    });
    // Checked here too: not every engine ANDs label filters as Docker does.
    const containers = listed.filter(
      (c) =>
        c.Labels[LABEL_PROJECT] === project &&
        c.Labels[LABEL_SERVICE] === dep.service &&
        c.Labels[LABEL_ONEOFF]?.toLowerCase() !== "true",
    );
    if (containers.length === 0) {
      const wanted = this.ctx.desired.services.find((s) => s.name === dep.service)?.replicas;
      return wanted === 0 ? { kind: "ok" } : { kind: "wait", why: "it has no container" };
    }
    for (const c of containers) {
      let info: ContainerInspect;
      try {
        info = await this.#rt.getContainer(c.Id).inspect();
      } catch (error) {
        if (error instanceof TsstackError && error.code === "container/not-found")
          return { kind: "wait", why: "its container went away" };
        throw error;
      }
      const verdict = conditionOf(dep.condition, info);
      if (verdict.kind !== "ok") return verdict;
    }
    return { kind: "ok" };
  }

  #checkAborted(): void {
    if (this.opts.signal?.aborted === true)
      throw new TsstackError("reconciler/aborted", "the apply was aborted");
  }

  // --- networks and volumes -----------------------------------------------------------------------

  async #createNetwork(name: string): Promise<void> {
    const { spec, desired } = this.ctx;
    const wanted = desired.networks.find((n) => n.name === name);
    const key = wanted?.key;
    const n = key !== undefined ? spec.networks[key] : undefined;
    const pools = n?.ipam?.config ?? [];
    await this.#rt.createNetwork({
      Name: name,
      CheckDuplicate: true,
      ...(n?.driver !== undefined ? { Driver: n.driver } : {}),
      ...(n?.internal !== undefined ? { Internal: n.internal } : {}),
      ...(n?.attachable !== undefined ? { Attachable: n.attachable } : {}),
      ...(n?.enable_ipv6 !== undefined ? { EnableIPv6: n.enable_ipv6 } : {}),
      ...(n?.driver_opts !== undefined ? { Options: n.driver_opts } : {}),
      ...(n?.ipam !== undefined
        ? {
            IPAM: {
              ...(n.ipam.driver !== undefined ? { Driver: n.ipam.driver } : {}),
              ...(n.ipam.options !== undefined ? { Options: n.ipam.options } : {}),
              Config: pools.map((p) => ({
                ...(p.subnet !== undefined ? { Subnet: p.subnet } : {}),
                ...(p.gateway !== undefined ? { Gateway: p.gateway } : {}),
                ...(p.ip_range !== undefined ? { IPRange: p.ip_range } : {}),
              })),
            },
          }
        : {}),
      Labels: {
        ...(n?.labels ?? {}),
        [LABEL_PROJECT]: desired.project,
        ...(key !== undefined ? { [LABEL_NETWORK]: key } : {}),
        ...(wanted?.configHash !== undefined ? { [LABEL_CONFIG_HASH]: wanted.configHash } : {}),
      },
    });
  }

  async #createVolume(name: string): Promise<void> {
    const { spec, desired } = this.ctx;
    const wanted = desired.volumes.find((v) => v.name === name);
    const key = wanted?.key;
    const v = key !== undefined ? spec.volumes[key] : undefined;
    await this.#rt.createVolume({
      Name: name,
      ...(v?.driver !== undefined ? { Driver: v.driver } : {}),
      ...(v?.driver_opts !== undefined ? { DriverOpts: v.driver_opts } : {}),
      Labels: {
        ...(v?.labels ?? {}),
        [LABEL_PROJECT]: desired.project,
        ...(key !== undefined ? { [LABEL_VOLUME]: key } : {}),
        ...(wanted?.configHash !== undefined ? { [LABEL_CONFIG_HASH]: wanted.configHash } : {}),
      },
    });
  }
}

/** Whether one container meets a `depends_on` condition. No healthcheck counts as healthy once running. */
export function conditionOf(
  condition: DesiredDependency["condition"],
  info: Pick<ContainerInspect, "State" | "HostConfig">,
): { kind: "ok" } | { kind: "wait"; why: string } | { kind: "failed"; why: string } {
  const st = info.State;
  const policy = info.HostConfig.RestartPolicy?.Name ?? "no";
  const willRestart = policy !== "" && policy !== "no";
  switch (condition) {
    case "service_started":
      if (st.Running) return { kind: "ok" };
      return { kind: "wait", why: `it is ${st.Status}` };
    case "service_healthy":
      if (st.Health?.Status === "unhealthy") return { kind: "failed", why: "it is unhealthy" };
      if (st.Running && (st.Health === undefined || st.Health.Status === "healthy")) return { kind: "ok" };
      if ((st.Status === "exited" || st.Status === "dead") && !willRestart)
        return { kind: "failed", why: `it exited with code ${String(st.ExitCode)}` };
      return {
        kind: "wait",
        why: st.Health !== undefined ? `its health is ${st.Health.Status}` : `it is ${st.Status}`,
      };
    case "service_completed_successfully":
      if (st.Status === "exited" || st.Status === "dead")
        return st.ExitCode === 0
          ? { kind: "ok" }
          : { kind: "failed", why: `it exited with code ${String(st.ExitCode)}` };
      return { kind: "wait", why: `it is ${st.Status}` };
  }
}

function required<T>(op: Operation, value: T | undefined, field: string): T {
  if (value === undefined)
    throw new TsstackError("internal", `internal: plan #${String(op.id)} ${op.kind} has no ${field}`);
  return value;
}

async function ignoreNotFound(p: Promise<void>): Promise<void> {
  try {
    await p;
  } catch (error) {
    if (error instanceof TsstackError && error.code.endsWith("/not-found")) return;
    throw error;
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
