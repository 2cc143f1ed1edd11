/**
 * The pure scheduler: tasks × nodes → placements, like Swarm's: filters first (availability,
 * constraints, resource reservations, host ports, max replicas per node), then the spread strategy
 * (fewest tasks of the same service, then fewest tasks overall, then node id). Tasks are placed one at a
 * time in the order given, each seeing the placements made before it, so the result is deterministic.
 * Even one machine goes through here: a single node with no capacity limits.
 */
import { parseConstraint, satisfies } from "./constraints.js";
import type { HostPort, NodeInfo, Placement, ScheduleResult, Task, Unschedulable } from "./types.js";

/**
 * Place `tasks` on `nodes`, given the placements that already exist (running tasks hold their
 * reservations and host ports). A `global` task is placed once on every eligible node that has no
 * task of its service yet.
 */
export function schedule(
  tasks: readonly Task[],
  nodes: readonly NodeInfo[],
  existing: readonly Placement[],
): ScheduleResult {
  const sorted = [...nodes].sort((a, b) => compare(a.id, b.id));
  const state = new NodeState(sorted, existing);
  const placements: Placement[] = [];
  const unschedulable: Unschedulable[] = [];

  for (const task of tasks) {
    if (task.mode === "global") {
      const reasons: string[] = [];
      for (const node of sorted) {
        if (state.serviceCount(node.id, task.service) > 0) continue;
        const placed = { ...task, id: `${task.service}@${node.id}` };
        const fit = state.fit(placed, node);
        if (!fit.ok) {
          // A node the constraints rule out simply does not run a global service; only a node that
          // should run it but cannot (resources, ports) is worth reporting.
          if (fit.eligible) reasons.push(`node ${node.id}: ${fit.reason}`);
          continue;
        }
        const p: Placement = { task: placed, node: node.id, ...withPorts(fit.ports) };
        state.add(p);
        placements.push(p);
      }
      if (reasons.length > 0) unschedulable.push({ task, reasons });
      continue;
    }

    const candidates: NodeInfo[] = [];
    const chosenPorts = new Map<string, Placement["hostPorts"]>();
    const reasons: string[] = [];
    for (const node of sorted) {
      const fit = state.fit(task, node);
      if (!fit.ok) reasons.push(`node ${node.id}: ${fit.reason}`);
      else {
        candidates.push(node);
        chosenPorts.set(node.id, fit.ports);
      }
    }
    const best = candidates.sort(
      (a, b) =>
        state.serviceCount(a.id, task.service) - state.serviceCount(b.id, task.service) ||
        state.taskCount(a.id) - state.taskCount(b.id) ||
        compare(a.id, b.id),
    )[0];
    if (best === undefined) {
      unschedulable.push({ task, reasons: reasons.length > 0 ? reasons : ["no nodes"] });
      continue;
    }
    const p: Placement = { task, node: best.id, ...withPorts(chosenPorts.get(best.id)) };
    state.add(p);
    placements.push(p);
  }
  return { placements, unschedulable };
}

type ChosenPorts = NonNullable<Placement["hostPorts"]>;
type Fit =
  | { readonly ok: true; readonly ports: ChosenPorts }
  | { readonly ok: false; readonly eligible: boolean; readonly reason: string };

/** What each node has in use, updated as tasks are placed. */
class NodeState {
  private readonly tasks = new Map<string, Placement[]>();

  constructor(nodes: readonly NodeInfo[], existing: readonly Placement[]) {
    for (const n of nodes) this.tasks.set(n.id, []);
    for (const p of existing) this.add(p);
  }

  add(p: Placement): void {
    const list = this.tasks.get(p.node);
    if (list === undefined) this.tasks.set(p.node, [p]);
    else list.push(p);
  }

  taskCount(node: string): number {
    return this.tasks.get(node)?.length ?? 0;
  }

  serviceCount(node: string, service: string): number {
    return (this.tasks.get(node) ?? []).filter((p) => p.task.service === service).length;
  }

  /**
   * The host ports the task would take on `node`, or why it cannot go there; `eligible` = the node
   * qualifies (availability, constraints) but is full.
   */
  fit(task: Task, node: NodeInfo): Fit {
    const no = (eligible: boolean, reason: string): Fit => ({ ok: false, eligible, reason });
    const availability = node.availability ?? "active";
    if (availability !== "active") return no(false, `node is ${availability}`);
    for (const text of task.constraints ?? []) {
      const c = parseConstraint(text);
      if (c === undefined)
        return no(false, `constraint "${text}" is not attribute==value or attribute!=value`);
      if (!satisfies(node, c)) return no(false, `constraint ${text} not satisfied`);
    }
    const max = task.maxReplicasPerNode;
    if (max !== undefined && max > 0 && this.serviceCount(node.id, task.service) >= max)
      return no(true, `max_replicas_per_node ${String(max)} reached`);
    const resources = this.resourceProblem(task, node);
    if (resources !== undefined) return no(true, resources);
    const ports = this.choosePorts(task, node);
    return typeof ports === "string" ? no(true, ports) : { ok: true, ports };
  }

  private resourceProblem(task: Task, node: NodeInfo): string | undefined {
    const cap = node.capacity;
    if (cap === undefined) return undefined;
    let cpu = 0;
    let mem = 0;
    for (const p of this.tasks.get(node.id) ?? []) {
      cpu += p.task.reservations?.nanoCpus ?? 0;
      mem += p.task.reservations?.memoryBytes ?? 0;
    }
    const wantCpu = task.reservations?.nanoCpus ?? 0;
    const wantMem = task.reservations?.memoryBytes ?? 0;
    if (wantCpu > 0 && cpu + wantCpu > cap.nanoCpus)
      return `insufficient cpu: ${cpus(wantCpu)} reserved, ${cpus(cap.nanoCpus - cpu)} free`;
    if (wantMem > 0 && mem + wantMem > cap.memoryBytes)
      return `insufficient memory: ${String(wantMem)} bytes reserved, ${String(cap.memoryBytes - mem)} free`;
    return undefined;
  }

  private choosePorts(task: Task, node: NodeInfo): ChosenPorts | string {
    const used: { ip?: string; port: number; protocol: string }[] = [];
    for (const p of this.tasks.get(node.id) ?? []) used.push(...(p.hostPorts ?? []));
    const chosen: { ip?: string; port: number; protocol: string }[] = [];
    for (const hp of task.hostPorts ?? []) {
      const port = hp.ports.find((candidate) => ![...used, ...chosen].some((u) => clashes(u, hp, candidate)));
      if (port === undefined) return `host port ${describe(hp)} already in use`;
      chosen.push({ ...(hp.ip !== undefined ? { ip: hp.ip } : {}), port, protocol: hp.protocol });
    }
    return chosen;
  }
}

/** Two bindings clash on the same port and protocol when either listens on all addresses or both on one. */
function clashes(u: { ip?: string; port: number; protocol: string }, hp: HostPort, port: number): boolean {
  if (u.port !== port || u.protocol !== hp.protocol) return false;
  return u.ip === undefined || hp.ip === undefined || u.ip === hp.ip;
}

function describe(hp: HostPort): string {
  const first = hp.ports[0] ?? 0;
  const last = hp.ports[hp.ports.length - 1] ?? first;
  const range = first === last ? String(first) : `${String(first)}-${String(last)}`;
  return `${hp.ip !== undefined ? `${hp.ip}:` : ""}${range}/${hp.protocol}`;
}

function withPorts(ports: Placement["hostPorts"]): { hostPorts?: Placement["hostPorts"] } {
  return ports !== undefined && ports.length > 0 ? { hostPorts: ports } : {};
}

function cpus(nano: number): string {
  return `${String(Math.round(nano / 1e6) / 1e3)} CPUs`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
