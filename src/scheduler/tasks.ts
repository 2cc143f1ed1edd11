/** Scheduler tasks from a service of a `StackSpec`. */
import type { StackSpec } from "../spec/types.js";
import type { HostPort, NodeInfo, Task } from "./types.js";

/**
 * The task of replica `replica` of `service` (or its global task, for `deploy.mode: global`): its
 * constraints, reservations, max replicas per node, and the host ports it publishes.
 *
 * Every published port counts as a host port, `mode: ingress` included: tsstack has no routing mesh, so
 * a published port is bound on the node that runs the replica.
 */
export function taskFor(spec: StackSpec, service: string, replica: number): Task {
  const svc = spec.services[service];
  const deploy = svc?.deploy;
  const reservations = deploy?.resources?.reservations;
  const hostPorts: HostPort[] = [];
  for (const p of svc?.ports ?? []) {
    if (p.published === undefined || p.published === "") continue;
    const [from = 0, to = from] = p.published.split("-").map(Number);
    const ports: number[] = [];
    for (let port = from; port <= to; port++) ports.push(port);
    hostPorts.push({ ...(p.host_ip !== undefined ? { ip: p.host_ip } : {}), ports, protocol: p.protocol });
  }
  const global = deploy?.mode === "global" || deploy?.mode === "global-job";
  return {
    id: global ? service : `${service}.${String(replica)}`,
    service,
    replica: global ? 0 : replica,
    mode: global ? "global" : "replicated",
    ...(deploy?.placement?.constraints !== undefined ? { constraints: deploy.placement.constraints } : {}),
    ...(reservations?.cpus !== undefined || reservations?.memory !== undefined
      ? {
          reservations: {
            ...(reservations.cpus !== undefined ? { nanoCpus: Math.round(reservations.cpus * 1e9) } : {}),
            ...(reservations.memory !== undefined ? { memoryBytes: reservations.memory } : {}),
          },
        }
      : {}),
    ...(hostPorts.length > 0 ? { hostPorts } : {}),
    ...(deploy?.placement?.max_replicas_per_node !== undefined
      ? { maxReplicasPerNode: deploy.placement.max_replicas_per_node }
      : {}),
  };
}

/** The single node tsstack schedules on when it is not part of a cluster: no capacity limits. */
export const LOCAL_NODE = {
  id: "local",
  hostname: "localhost",
  role: "manager",
} as const satisfies NodeInfo;
