/**
 * The planner: desired state + observed state → `Plan`. Pure and level-based: it looks only at what it
 * is given, so the same inputs give the same plan and a converged stack gives an empty one.
 *
 * Per service (dependencies first):
 * - containers are matched to replicas by their container-number label; when several claim one number
 *   (a crash mid-replacement) the best is kept (current config, running, expected name) and the others
 *   removed;
 * - the lowest-numbered containers are kept up to the wanted count, the rest removed, highest first;
 *   missing replicas get the lowest free numbers and go through the scheduler;
 * - a kept container whose config hash differs, or that was created from another image id than the one
 *   its service's image reference resolves to now (an image pulled or loaded again under the same tag),
 *   is recreated (`--force-recreate`: all, `--no-recreate`: none), in batches with
 *   `deploy.update_config`, each replacement carrying how it is watched and how many failures the update
 *   tolerates (`RolloutWatch`) and the old container's anonymous volumes the new one takes over (none
 *   with `renewAnonVolumes`); a stopped one is started; a `restart: true` dependent of a recreated
 *   service is restarted;
 * - a service's containers start after its networks, volumes and dependencies' operations, and wait for
 *   the `depends_on` conditions.
 * Containers of services the stack no longer declares are orphans: reported, removed with
 * `removeOrphans`. A network whose definition changed is recreated with the containers on it
 * (`replaceDivergedNetworks`); a volume whose definition changed is kept, with a note.
 */
import { schedule } from "../scheduler/scheduler.js";
import { LOCAL_NODE } from "../scheduler/tasks.js";
import type { NodeInfo, Placement } from "../scheduler/types.js";
import type { DesiredResource, DesiredService, DesiredStack } from "./desired.js";
import type { ObservedContainer, ObservedResource, ObservedStack } from "./observed.js";
import { Plan, type InheritedVolume, type Operation } from "./plan.js";

export interface PlanOptions {
  /** Recreate every container of the converged services, changed or not (`--force-recreate`). Default false. */
  readonly forceRecreate?: boolean;
  /** Never recreate a changed container (`--no-recreate`); wins over `forceRecreate`. Default false. */
  readonly noRecreate?: boolean;
  /** Remove containers of services the stack no longer declares (`--remove-orphans`). Default false. */
  readonly removeOrphans?: boolean;
  /**
   * Recreate containers created from another image id than their service's image reference resolves to
   * now, as `up` does. Default true; the background loop passes false, so an image pulled again under
   * the same tag is rolled out by the next `up`, not behind the user's back.
   */
  readonly recreateChangedImages?: boolean;
  /**
   * A replacement gets fresh anonymous volumes and the old container's go with it
   * (`--renew-anon-volumes`). Default false: the new container takes the old one's over.
   */
  readonly renewAnonVolumes?: boolean;
  /**
   * Start exited containers of unchanged services. Default true, as `up` does; the background loop
   * passes false so a container that exited under `restart: no` stays exited. Containers that were
   * created but never started are started either way.
   */
  readonly startStopped?: boolean;
  /** Nodes to place new replicas on. Default: the single local node. */
  readonly nodes?: readonly NodeInfo[];
}

export interface DownOptions {
  /** Also remove the stack's named volumes and the containers' anonymous volumes (`down -v`). Default false. */
  readonly volumes?: boolean;
  /** Also remove containers (and networks) of services the stack no longer declares. Default false. */
  readonly removeOrphans?: boolean;
}

/** The operations that bring `observed` to `desired`. */
export function plan(desired: DesiredStack, observed: ObservedStack, opts: PlanOptions = {}): Plan {
  const b = new Builder();
  const nodes = opts.nodes ?? [LOCAL_NODE];

  // Networks and volumes first: every container that uses one runs after its creation.
  const networkOps = new Map<string, number>();
  const observedNetworks = new Set(observed.networks.map((n) => n.name));
  for (const n of desired.networks) {
    if (n.external || observedNetworks.has(n.name)) continue;
    networkOps.set(
      n.key,
      b.add({ kind: "create-network", target: `network:${n.name}`, reason: "missing", name: n.name }),
    );
  }
  const volumeOps = new Map<string, number>();
  const observedVolumes = new Set(observed.volumes.map((v) => v.name));
  for (const v of desired.volumes) {
    if (v.external || observedVolumes.has(v.name)) continue;
    volumeOps.set(
      v.key,
      b.add({ kind: "create-volume", target: `volume:${v.name}`, reason: "missing", name: v.name }),
    );
  }
  // A volume is never recreated: that would lose its data. docker compose asks, and without a terminal
  // keeps it; so does tsstack, saying how to apply the change by hand.
  for (const v of desired.volumes) {
    const seen = observed.volumes.find((o) => o.name === v.name);
    if (v.external || !diverged(v.configHash, seen?.configHash)) continue;
    b.note(
      `volume ${v.name} exists but does not match the stack file (${volumeDifference(v, seen)}); it is kept with its data. To apply the change: tsstack down -v, then up (this deletes the volume's data)`,
    );
  }

  const declared = new Set(desired.allServices);
  /** Orphans this plan removes (`removeOrphans`), by id: their remove operation. */
  const removedOrphans = new Map<string, number>();
  for (const c of observed.containers) {
    if (declared.has(c.service)) continue;
    const why = `orphan: service ${c.service} is not in the stack`;
    if (opts.removeOrphans === true) removedOrphans.set(c.id, b.stopAndRemove(c, why, []));
    else
      b.note(
        `${target(c)} (${c.name}) is an orphan: service ${c.service} is not in the stack; --remove-orphans removes it`,
      );
  }

  // Which containers keep a replica slot, for every service before any is placed: kept containers hold
  // their node's resources and ports for every new replica, whichever service it belongs to.
  const placements: Placement[] = [];
  const sorted = desired.services.map((svc) => {
    const mine = observed.containers.filter((c) => c.service === svc.name);
    // A global service runs once on every node that qualifies; a replicated one as many times as asked.
    const replicas = svc.mode === "global" ? schedule([svc.task], nodes, []).placements.length : svc.replicas;
    const { kept, surplus } = sortOut(desired.project, svc, replicas, mine);
    for (const c of kept) {
      const number = c.replica ?? 0;
      placements.push({
        task: { ...svc.task, id: `${svc.name}.${String(number)}`, replica: number },
        node: c.node ?? LOCAL_NODE.id,
        ...hostPortsOf(svc),
      });
    }
    return { svc, mine, replicas, kept, surplus };
  });

  const replaced = replaceDivergedNetworks(b, desired, observed, opts, sorted, removedOrphans, networkOps);

  const bringUp = new Map<string, number[]>();
  const recreated = new Set<string>();
  for (const { svc, mine, replicas, kept, surplus } of sorted) {
    const resourceOps = [
      ...svc.networks.flatMap((k) => networkOps.get(k) ?? []),
      ...svc.volumes.flatMap((k) => volumeOps.get(k) ?? []),
    ];
    const dependencyOps = svc.dependsOn.flatMap((d) => bringUp.get(d.service) ?? []);
    const startAfter = [...resourceOps, ...dependencyOps];
    const waitFor = svc.dependsOn.length > 0 ? { waitFor: svc.dependsOn } : {};
    const ops: number[] = [];

    // Surplus first: duplicates and scaled-away replicas free their ports before anything starts.
    const freed = new Map<number, number[]>();
    for (const { container, why } of surplus) {
      const removed = replaced.get(container.id)?.removed ?? b.stopAndRemove(container, why, []);
      if (container.replica !== undefined)
        freed.set(container.replica, [...(freed.get(container.replica) ?? []), removed]);
    }

    const replacements: ObservedContainer[] = [];
    for (const c of kept) {
      const number = c.replica ?? 0;
      const gone = replaced.get(c.id);
      if (gone !== undefined) {
        // Removed for a recreated network: created again on the new one, taking its volumes over.
        ops.push(
          b.add({
            kind: "create",
            target: target(c),
            reason: gone.reason,
            after: [...startAfter, gone.removed],
            service: svc.name,
            replica: number,
            name: svc.containerName ?? `${desired.project}-${svc.name}-${String(number)}`,
            node: c.node ?? LOCAL_NODE.id,
            ...waitFor,
            ...(gone.inheritVolumes.length > 0 ? { inheritVolumes: gone.inheritVolumes } : {}),
          }),
        );
        recreated.add(svc.name);
        continue;
      }
      const drifted = c.configHash !== svc.configHash;
      const imageChanged = opts.recreateChangedImages !== false && imageChangedFor(c, svc);
      if (c.state === "dead") replacements.push(c);
      else if (opts.noRecreate !== true && (opts.forceRecreate === true || drifted || imageChanged))
        replacements.push(c);
      else {
        const expected = svc.containerName ?? `${desired.project}-${svc.name}-${String(number)}`;
        const before = [...(freed.get(number) ?? [])];
        // A replacement interrupted after the old container went but before the rename.
        if (c.name !== expected) {
          const renamed = b.add({
            kind: "rename",
            target: target(c),
            reason: `named ${c.name}`,
            after: before,
            ...containerFields(c),
            name: expected,
          });
          ops.push(renamed);
          before.push(renamed);
        }
        if (drifted)
          b.note(
            `${target(c)} runs an old config (hash ${short(c.configHash)}, now ${short(svc.configHash)}); --no-recreate keeps it`,
          );
        else if (imageChanged)
          b.note(
            `${target(c)} runs an old image of ${svc.image} (${shortId(c.imageId)}, now ${shortId(svc.imageId)}); --no-recreate keeps it`,
          );
        // A created container never ran (an `up` was interrupted between create and start): it is
        // started even by background passes, which leave only containers that ran and exited alone.
        if (c.state === "created" || (c.state === "exited" && opts.startStopped !== false))
          ops.push(
            b.add({
              kind: "start",
              target: target(c),
              reason: `container is ${c.state}`,
              after: [...startAfter, ...before],
              ...containerFields(c),
              ...waitFor,
            }),
          );
      }
    }

    // Replacements, in batches when the service has an update policy.
    const policy = svc.update;
    let order = policy?.order;
    if (order === "start-first" && hasFixedHostPorts(svc) && nodes.length === 1) {
      order = "stop-first";
      b.note(
        `service ${svc.name} publishes fixed host ports, so its replicas are replaced stop-first, not start-first`,
      );
    }
    const size = policy === undefined || policy.parallelism === 0 ? replacements.length : policy.parallelism;
    let previousBatch: number[] = [];
    for (let i = 0; i < replacements.length; i += Math.max(size, 1)) {
      const batch = replacements.slice(i, i + Math.max(size, 1));
      const batchNumber = i / Math.max(size, 1) + 1;
      const ids = batch.map((c) =>
        b.add({
          kind: "recreate",
          target: target(c),
          reason: recreateReason(c, svc, opts),
          after: [...startAfter, ...previousBatch, ...(freed.get(c.replica ?? 0) ?? [])],
          ...containerFields(c),
          ...waitFor,
          ...anonymousVolumesOf(c, svc, opts),
          ...(policy !== undefined
            ? {
                batch: batchNumber,
                order,
                ...(batchNumber > 1 && policy.delay > 0 ? { delay: policy.delay } : {}),
                rollout: {
                  monitor: policy.monitor,
                  failureAction: policy.failureAction,
                  // `continue` goes on whatever fails.
                  maxFailures:
                    policy.failureAction === "continue"
                      ? replacements.length
                      : Math.floor(policy.maxFailureRatio * replacements.length),
                },
              }
            : {}),
        }),
      );
      ops.push(...ids);
      previousBatch = ids;
    }
    if (replacements.length > 0) recreated.add(svc.name);

    // A dependent with `restart: true` restarts when its dependency was replaced.
    const restartFor = svc.dependsOn
      .filter((d) => d.restart && recreated.has(d.service))
      .map((d) => d.service);
    if (restartFor.length > 0) {
      for (const c of kept) {
        if (c.state !== "running" || replacements.includes(c) || replaced.has(c.id)) continue;
        ops.push(
          b.add({
            kind: "restart",
            target: target(c),
            reason: `dependency ${restartFor.join(", ")} was recreated`,
            after: startAfter,
            ...containerFields(c),
            ...waitFor,
          }),
        );
      }
    }

    // Missing replicas: the lowest free numbers, placed by the scheduler.
    const want = replicas - kept.length;
    if (want > 0) {
      const taken = new Set(mine.map((c) => c.replica));
      const numbers: number[] = [];
      const count = svc.mode === "global" ? Math.max(want, nodes.length) : want;
      for (let n = 1; numbers.length < count; n++) if (!taken.has(n)) numbers.push(n);
      const tasks =
        svc.mode === "global"
          ? [svc.task]
          : numbers.map((n) => ({ ...svc.task, id: `${svc.name}.${String(n)}`, replica: n }));
      const result = schedule(tasks, nodes, placements);
      const reason = kept.length === 0 ? "missing" : `scale ${String(kept.length)} → ${String(replicas)}`;
      for (const [i, placed] of result.placements.entries()) {
        // Global placements come back per node; they take the free replica numbers in node order.
        const replica = svc.mode === "global" ? (numbers[i] ?? 0) : placed.task.replica;
        const p = { ...placed, task: { ...placed.task, id: `${svc.name}.${String(replica)}`, replica } };
        placements.push(p);
        const name = svc.containerName ?? `${desired.project}-${svc.name}-${String(replica)}`;
        ops.push(
          b.add({
            kind: "create",
            target: `container:${svc.name}.${String(p.task.replica)}`,
            reason,
            after: startAfter,
            service: svc.name,
            replica: p.task.replica,
            name,
            node: p.node,
            ...waitFor,
          }),
        );
      }
      for (const u of result.unschedulable)
        b.note(`container:${u.task.id} cannot be placed: ${u.reasons.join("; ")}`);
    }
    // Dependents wait for the whole of this service's bring-up, or, if it has nothing to do, for what it
    // waited for, so ordering stays transitive.
    bringUp.set(svc.name, ops.length > 0 ? ops : dependencyOps);
  }
  return b.build();
}

/** The operations of `down`: stop dependents before their dependencies, remove, then networks (and volumes). */
export function planDown(desired: DesiredStack, observed: ObservedStack, opts: DownOptions = {}): Plan {
  const b = new Builder();
  const why = opts.volumes === true ? "stack down -v" : "stack down";
  const declared = new Set(desired.allServices);
  const removes: number[] = [];
  const orphans = observed.containers.filter((c) => !declared.has(c.service));
  if (opts.removeOrphans === true) {
    for (const c of orphans)
      removes.push(b.stopAndRemove(c, `orphan: service ${c.service} is not in the stack`, [], opts.volumes));
  } else {
    for (const c of orphans)
      b.note(
        `${target(c)} (${c.name}) is an orphan: service ${c.service} is not in the stack; --remove-orphans removes it`,
      );
  }

  // Reverse dependency order: a service stops after every service that depends on it has stopped.
  const stops = new Map<string, number[]>();
  const dependents = (name: string): string[] =>
    desired.services.filter((s) => s.dependsOn.some((d) => d.service === name)).map((s) => s.name);
  for (const svc of [...desired.services].reverse()) {
    const after = dependents(svc.name).flatMap((d) => stops.get(d) ?? []);
    const ids: number[] = [];
    const mine = observed.containers
      .filter((c) => c.service === svc.name)
      .sort((x, y) => (y.replica ?? 0) - (x.replica ?? 0));
    for (const c of mine) {
      const { stop, remove } = b.stopThenRemove(c, why, after, opts.volumes);
      ids.push(stop ?? remove);
      removes.push(remove);
    }
    stops.set(svc.name, ids.length > 0 ? ids : after);
  }

  const declaredNetworks = new Set(desired.networks.map((n) => n.name));
  for (const n of observed.networks) {
    // An undeclared network may still serve a kept orphan; it goes only with the orphans.
    if (!declaredNetworks.has(n.name) && opts.removeOrphans !== true) continue;
    if (desired.networks.some((d) => d.name === n.name && d.external)) continue;
    b.add({
      kind: "remove-network",
      target: `network:${n.name}`,
      reason: why,
      after: removes,
      name: n.name,
    });
  }
  if (opts.volumes === true) {
    const observedVolumes = new Set(observed.volumes.map((v) => v.name));
    for (const v of desired.volumes) {
      if (v.external || !observedVolumes.has(v.name)) continue;
      b.add({
        kind: "remove-volume",
        target: `volume:${v.name}`,
        reason: why,
        after: removes,
        name: v.name,
      });
    }
  }
  return b.build();
}

/** A container the plan removes for a recreated network, to create again once the network is back. */
interface NetworkCasualty {
  /** The remove operation. */
  readonly removed: number;
  /** Names the network (the first one, when several changed). */
  readonly reason: string;
  readonly inheritVolumes: readonly InheritedVolume[];
}

/**
 * Networks whose config-hash label differs from their definition's hash are recreated, as docker
 * compose does since PR #12267: the stack's containers attached to one are stopped and removed (a
 * network with endpoints cannot go), the network removed and created again, and the containers created
 * again after it (`create` operations, stop-first by construction whatever `update_config` says: the old
 * container has to be gone before the network can). Not judged: external networks and networks without
 * the label (created before tsstack labelled them). Kept, with a note: every network under
 * `--no-recreate`, and a network used by a container this plan does not re-create (a service the `up` does
 * not converge, a kept orphan, a container outside the stack), whose removal would fail.
 *
 * Adds the operations, points `networkOps` at the new networks' creations, and returns the removed
 * containers by id.
 */
function replaceDivergedNetworks(
  b: Builder,
  desired: DesiredStack,
  observed: ObservedStack,
  opts: PlanOptions,
  services: readonly {
    readonly svc: DesiredService;
    readonly kept: readonly ObservedContainer[];
    readonly surplus: readonly { readonly container: ObservedContainer }[];
  }[],
  removedOrphans: ReadonlyMap<string, number>,
  networkOps: Map<string, number>,
): Map<string, NetworkCasualty> {
  const out = new Map<string, NetworkCasualty>();
  const converged = new Map(services.map((s) => [s.svc.name, s]));
  const known = new Set(observed.containers.map((c) => c.id));
  for (const n of desired.networks) {
    const seen = observed.networks.find((o) => o.name === n.name);
    if (n.external || seen === undefined || !diverged(n.configHash, seen.configHash)) continue;
    const hashes = `config hash ${short(seen.configHash)} → ${short(n.configHash)}`;
    const change = `network ${n.name} changed: ${hashes}`;
    if (opts.noRecreate === true) {
      b.note(`${change}; --no-recreate keeps it and its containers`);
      continue;
    }
    const listed = new Set(seen.containers ?? []);
    const attached = observed.containers.filter(
      (c) => listed.has(c.id) || converged.get(c.service)?.svc.networks.includes(n.key) === true,
    );
    const blockers = [
      ...attached.flatMap((c) =>
        converged.has(c.service) || removedOrphans.has(c.id)
          ? []
          : [
              `${c.name} (${desired.allServices.includes(c.service) ? `service ${c.service} is not part of this up` : "an orphan; --remove-orphans removes it"})`,
            ],
      ),
      ...[...listed].filter((id) => !known.has(id)).map((id) => `container ${id.slice(0, 12)}`),
    ];
    if (blockers.length > 0) {
      b.note(`${change}, but it is kept: ${blockers.join(", ")} still uses it`);
      continue;
    }
    const removes: number[] = [];
    for (const c of attached) {
      const orphan = removedOrphans.get(c.id);
      if (orphan !== undefined) {
        removes.push(orphan);
        continue;
      }
      const done = out.get(c.id);
      if (done !== undefined) {
        removes.push(done.removed);
        continue;
      }
      const entry = converged.get(c.service);
      const svc = entry?.svc;
      // A kept replica comes back with its anonymous volumes (or fresh ones with --renew-anon-volumes);
      // a surplus one just goes.
      const volumes =
        svc !== undefined && entry?.kept.includes(c) === true ? anonymousVolumesOf(c, svc, opts) : {};
      const removed = b.stopAndRemove(c, change, [], volumes.removeVolumes);
      out.set(c.id, { removed, reason: change, inheritVolumes: volumes.inheritVolumes ?? [] });
      removes.push(removed);
    }
    const target = `network:${n.name}`;
    const removed = b.add({ kind: "remove-network", target, reason: hashes, after: removes, name: n.name });
    networkOps.set(
      n.key,
      b.add({ kind: "create-network", target, reason: hashes, after: [removed], name: n.name }),
    );
  }
  return out;
}

/** Both hashes known and different: a resource without the label is not judged, as Compose does. */
function diverged(desired: string | undefined, observed: string | undefined): boolean {
  return desired !== undefined && observed !== undefined && desired !== observed;
}

/** What differs between a volume's definition and the existing volume, as far as the engine says. */
function volumeDifference(want: DesiredResource, seen: ObservedResource | undefined): string {
  const diffs: string[] = [];
  const have = seen?.config;
  if (want.config !== undefined && have !== undefined) {
    if (want.config.driver !== have.driver) diffs.push(`driver ${have.driver} → ${want.config.driver}`);
    const options = mapDifference(have.options, want.config.options);
    if (options !== "") diffs.push(`driver_opts ${options}`);
    const labels = mapDifference(have.labels, want.config.labels);
    if (labels !== "") diffs.push(`labels ${labels}`);
  }
  if (diffs.length === 0) diffs.push(`config hash ${short(seen?.configHash)} → ${short(want.configHash)}`);
  return diffs.join("; ");
}

/** `a=1 → a=2, +b=3, -c` for the keys that differ; empty when none does. */
function mapDifference(
  have: Readonly<Record<string, string>>,
  want: Readonly<Record<string, string>>,
): string {
  const keys = [...new Set([...Object.keys(have), ...Object.keys(want)])].sort();
  return keys
    .flatMap((k) => {
      const [h, w] = [have[k], want[k]];
      if (h === w) return [];
      if (h === undefined) return [`+${k}=${w ?? ""}`];
      if (w === undefined) return [`-${k}`];
      return [`${k}=${h} → ${k}=${w}`];
    })
    .join(", ");
}

type NewOperation = Omit<Operation, "id" | "after"> & { readonly after?: readonly number[] };

/** Numbers operations in the order they are added and normalizes their `after` lists. */
class Builder {
  private readonly ops: Operation[] = [];
  private readonly notes: string[] = [];

  add(op: NewOperation): number {
    const id = this.ops.length + 1;
    const after = [...new Set(op.after ?? [])].sort((x, y) => x - y);
    this.ops.push({ ...op, id, after });
    return id;
  }

  note(text: string): void {
    this.notes.push(text);
  }

  /** Stop (when running) then remove; returns the remove operation's id. */
  stopAndRemove(
    c: ObservedContainer,
    reason: string,
    after: readonly number[],
    removeVolumes?: boolean,
  ): number {
    return this.stopThenRemove(c, reason, after, removeVolumes).remove;
  }

  stopThenRemove(
    c: ObservedContainer,
    reason: string,
    after: readonly number[],
    removeVolumes?: boolean,
  ): { stop: number | undefined; remove: number } {
    const running = c.state === "running" || c.state === "restarting" || c.state === "paused";
    const stop = running
      ? this.add({ kind: "stop", target: target(c), reason, after, ...containerFields(c) })
      : undefined;
    const remove = this.add({
      kind: "remove",
      target: target(c),
      reason,
      after: stop !== undefined ? [stop] : after,
      ...containerFields(c),
      ...(removeVolumes === true ? { removeVolumes: true } : {}),
    });
    return { stop, remove };
  }

  build(): Plan {
    return new Plan(this.ops, this.notes);
  }
}

/** Which containers keep a replica slot, and which go (with why). */
function sortOut(
  project: string,
  svc: DesiredService,
  replicas: number,
  containers: readonly ObservedContainer[],
): { kept: ObservedContainer[]; surplus: { container: ObservedContainer; why: string }[] } {
  const surplus: { container: ObservedContainer; why: string }[] = [];
  const byNumber = new Map<number, ObservedContainer[]>();
  for (const c of containers) {
    if (c.replica === undefined) surplus.push({ container: c, why: "no replica number label" });
    else byNumber.set(c.replica, [...(byNumber.get(c.replica) ?? []), c]);
  }
  const best: ObservedContainer[] = [];
  for (const [number, group] of byNumber) {
    const [first, ...rest] = [...group].sort(
      (x, y) => rank(project, svc, x) - rank(project, svc, y) || compare(x.id, y.id),
    );
    if (first === undefined) continue;
    best.push(first);
    for (const c of rest) surplus.push({ container: c, why: `duplicate of replica ${String(number)}` });
  }
  best.sort((x, y) => (x.replica ?? 0) - (y.replica ?? 0));
  const kept = best.slice(0, replicas);
  // Scaled away: highest numbers first.
  for (const c of best.slice(replicas).reverse())
    surplus.push({ container: c, why: `scale ${String(best.length)} → ${String(replicas)}` });
  return { kept, surplus };
}

/** Lower is better: current config, then running, then the expected name (not a temporary one). */
function rank(project: string, svc: DesiredService, c: ObservedContainer): number {
  const expected = svc.containerName ?? `${project}-${svc.name}-${String(c.replica ?? 0)}`;
  return (
    (c.configHash === svc.configHash ? 0 : 4) +
    (c.state === "running" ? 0 : 2) +
    (c.name === expected ? 0 : 1)
  );
}

function recreateReason(c: ObservedContainer, svc: DesiredService, opts: PlanOptions): string {
  if (c.state === "dead") return "container is dead";
  if (c.configHash !== svc.configHash)
    return c.configHash === undefined
      ? "config hash label missing"
      : `config hash changed: ${short(c.configHash)} → ${short(svc.configHash)}`;
  if (opts.recreateChangedImages !== false && imageChangedFor(c, svc))
    return `image ${svc.image} changed: ${shortId(c.imageId)} → ${shortId(svc.imageId)}`;
  return opts.forceRecreate === true ? "--force-recreate" : "recreate";
}

/** Both ids known and different: a container whose image id is unknown is not judged by it. */
function imageChangedFor(c: ObservedContainer, svc: DesiredService): boolean {
  return c.imageId !== undefined && svc.imageId !== undefined && c.imageId !== svc.imageId;
}

/**
 * What a replacement does with the old container's anonymous volumes: by default the new container
 * mounts the old one's volumes at the targets where it gets anonymous ones (Compose's inherited
 * volumes), so their data survives; with `renewAnonVolumes` it gets fresh ones and the old ones are
 * removed with the old container. Without it, volumes at targets the new config no longer mounts
 * anonymously stay behind unused, as Compose leaves them (`volume prune` removes them).
 */
function anonymousVolumesOf(
  c: ObservedContainer,
  svc: DesiredService,
  opts: PlanOptions,
): Pick<Operation, "inheritVolumes" | "removeVolumes"> {
  const mounted = c.volumes ?? [];
  if (opts.renewAnonVolumes === true) return mounted.length > 0 ? { removeVolumes: true } : {};
  const anonymous = new Set(svc.anonymousVolumes);
  const inherited = mounted.filter((v) => anonymous.has(v.target));
  return inherited.length > 0
    ? { inheritVolumes: inherited.map((v) => ({ name: v.name, target: v.target })) }
    : {};
}

function hostPortsOf(svc: DesiredService): Pick<Placement, "hostPorts"> {
  const ports = (svc.task.hostPorts ?? []).flatMap((hp) => {
    const port = hp.ports[0];
    return port === undefined
      ? []
      : [{ ...(hp.ip !== undefined ? { ip: hp.ip } : {}), port, protocol: hp.protocol }];
  });
  return ports.length > 0 ? { hostPorts: ports } : {};
}

function hasFixedHostPorts(svc: DesiredService): boolean {
  return (svc.task.hostPorts ?? []).some((hp) => hp.ports.length === 1);
}

function target(c: ObservedContainer): string {
  return c.replica !== undefined ? `container:${c.service}.${String(c.replica)}` : `container:${c.name}`;
}

function containerFields(c: ObservedContainer): Pick<Operation, "service" | "replica" | "container"> {
  return {
    service: c.service,
    ...(c.replica !== undefined ? { replica: c.replica } : {}),
    container: { id: c.id, name: c.name },
  };
}

function short(hash: string | undefined): string {
  return (hash ?? "none").slice(0, 7);
}

/** The algorithm and the first 12 hex digits (`sha256:1a2b3c4d5e6f`), as Docker shortens image ids. */
function shortId(id: string | undefined): string {
  if (id === undefined) return "none";
  return id.slice(0, id.indexOf(":") + 1 + 12);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
