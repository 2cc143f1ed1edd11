import { describe, expect, it } from "vitest";
import { parseConstraint } from "../../../src/scheduler/constraints.js";
import { schedule } from "../../../src/scheduler/scheduler.js";
import { LOCAL_NODE, taskFor } from "../../../src/scheduler/tasks.js";
import type { NodeInfo, Placement, Task } from "../../../src/scheduler/types.js";
import { stackFrom } from "../reconciler/stack.js";

const GiB = 1024 ** 3;
const node = (id: string, extra: Partial<NodeInfo> = {}): NodeInfo => ({
  id,
  hostname: `host-${id}`,
  role: "worker",
  capacity: { nanoCpus: 4e9, memoryBytes: 8 * GiB },
  ...extra,
});
const N1 = node("n1", { role: "manager", labels: { zone: "a", ssd: "true" } });
const N2 = node("n2", { labels: { zone: "b" } });
const N3 = node("n3", { labels: { zone: "a" } });
const CLUSTER = [N3, N1, N2]; // given out of order: ties break by id, not by position

const task = (service: string, replica: number, extra: Partial<Task> = {}): Task => ({
  id: `${service}.${String(replica)}`,
  service,
  replica,
  ...extra,
});
const replicas = (service: string, n: number, extra: Partial<Task> = {}): Task[] =>
  Array.from({ length: n }, (_, i) => task(service, i + 1, extra));

/** `task→node` pairs, the readable form of a result. */
const where = (placements: readonly Placement[]): string[] => placements.map((p) => `${p.task.id}→${p.node}`);

interface Case {
  name: string;
  tasks: Task[];
  nodes?: NodeInfo[];
  existing?: Placement[];
  placed: string[];
  unschedulable?: Record<string, string[]>;
}

const cases: Case[] = [
  {
    name: "spreads replicas over nodes in node id order",
    tasks: replicas("web", 4),
    placed: ["web.1→n1", "web.2→n2", "web.3→n3", "web.4→n1"],
  },
  {
    name: "prefers the node with fewest tasks of the service, then fewest tasks overall",
    tasks: replicas("web", 2),
    existing: [
      { task: task("web", 9), node: "n1" },
      { task: task("db", 1), node: "n2" },
    ],
    placed: ["web.1→n3", "web.2→n2"],
  },
  {
    name: "honours node.hostname, node.role and node.labels constraints with == and !=",
    tasks: [
      task("a", 1, { constraints: ["node.hostname==HOST-N2"] }),
      task("b", 1, { constraints: ["node.role == manager"] }),
      task("c", 1, { constraints: ["node.labels.zone==a", "node.role!=manager"] }),
      task("d", 1, { constraints: ["node.labels.ssd!=true"] }),
    ],
    placed: ["a.1→n2", "b.1→n1", "c.1→n3", "d.1→n2"],
  },
  {
    name: "reports every node's reason when no node satisfies the constraints",
    tasks: [task("a", 1, { constraints: ["node.labels.zone==c"] })],
    placed: [],
    unschedulable: {
      "a.1": [
        "node n1: constraint node.labels.zone==c not satisfied",
        "node n2: constraint node.labels.zone==c not satisfied",
        "node n3: constraint node.labels.zone==c not satisfied",
      ],
    },
  },
  {
    name: "refuses a malformed constraint",
    tasks: [task("a", 1, { constraints: ["zone=a"] })],
    nodes: [N1],
    placed: [],
    unschedulable: { "a.1": ['node n1: constraint "zone=a" is not attribute==value or attribute!=value'] },
  },
  {
    name: "subtracts existing and new reservations from node capacity",
    tasks: replicas("big", 3, { reservations: { nanoCpus: 3e9, memoryBytes: GiB } }),
    nodes: [N1, N2],
    existing: [{ task: task("db", 1, { reservations: { memoryBytes: 7.5 * GiB } }), node: "n2" }],
    placed: ["big.1→n1"],
    unschedulable: {
      "big.2": [
        "node n1: insufficient cpu: 3 CPUs reserved, 1 CPUs free",
        `node n2: insufficient memory: ${String(GiB)} bytes reserved, ${String(0.5 * GiB)} free`,
      ],
      "big.3": [
        "node n1: insufficient cpu: 3 CPUs reserved, 1 CPUs free",
        `node n2: insufficient memory: ${String(GiB)} bytes reserved, ${String(0.5 * GiB)} free`,
      ],
    },
  },
  {
    name: "never puts two tasks publishing the same host port on one node",
    tasks: replicas("web", 3, { hostPorts: [{ ports: [8080], protocol: "tcp" }] }),
    nodes: [N1, N2],
    placed: ["web.1→n1", "web.2→n2"],
    unschedulable: {
      "web.3": ["node n1: host port 8080/tcp already in use", "node n2: host port 8080/tcp already in use"],
    },
  },
  {
    name: "lets the same port coexist on other protocols and other addresses, and uses a range's free ports",
    tasks: [
      task("dns", 1, { hostPorts: [{ ports: [53], protocol: "udp" }] }),
      task("a", 1, { hostPorts: [{ ip: "127.0.0.1", ports: [80], protocol: "tcp" }] }),
      task("b", 1, { hostPorts: [{ ip: "127.0.0.2", ports: [80], protocol: "tcp" }] }),
      task("c", 1, { hostPorts: [{ ports: [80], protocol: "tcp" }] }),
      task("d", 1, { hostPorts: [{ ports: [80, 81], protocol: "tcp" }] }),
      task("e", 1, { hostPorts: [{ ports: [80, 81], protocol: "tcp" }] }),
    ],
    nodes: [N1],
    existing: [{ task: task("x", 1), node: "n1", hostPorts: [{ port: 53, protocol: "tcp" }] }],
    placed: ["dns.1→n1", "a.1→n1", "b.1→n1", "d.1→n1"],
    unschedulable: {
      "c.1": ["node n1: host port 80/tcp already in use"],
      "e.1": ["node n1: host port 80-81/tcp already in use"],
    },
  },
  {
    name: "stops at max_replicas_per_node",
    tasks: replicas("web", 5, { maxReplicasPerNode: 2 }),
    nodes: [N1, N2],
    placed: ["web.1→n1", "web.2→n2", "web.3→n1", "web.4→n2"],
    unschedulable: {
      "web.5": ["node n1: max_replicas_per_node 2 reached", "node n2: max_replicas_per_node 2 reached"],
    },
  },
  {
    name: "places a global task once on every eligible node that lacks one",
    tasks: [task("agent", 0, { id: "agent", mode: "global", constraints: ["node.labels.zone==a"] })],
    existing: [{ task: task("agent", 0, { id: "agent@n1", mode: "global" }), node: "n1" }],
    placed: ["agent@n3→n3"],
  },
  {
    name: "skips drained and paused nodes",
    tasks: replicas("web", 2),
    nodes: [node("n1", { availability: "drain" }), node("n2", { availability: "pause" }), node("n3")],
    placed: ["web.1→n3", "web.2→n3"],
  },
  {
    name: "has nowhere to place anything without nodes",
    tasks: replicas("web", 1),
    nodes: [],
    placed: [],
    unschedulable: { "web.1": ["no nodes"] },
  },
  {
    name: "places everything on a single local node without capacity limits",
    tasks: replicas("web", 3, { reservations: { nanoCpus: 64e9 } }),
    nodes: [LOCAL_NODE],
    placed: ["web.1→local", "web.2→local", "web.3→local"],
  },
];

describe("schedule", () => {
  it.each(cases)("$name", ({ tasks, nodes, existing, placed, unschedulable }) => {
    const result = schedule(tasks, nodes ?? CLUSTER, existing ?? []);
    expect(where(result.placements)).toEqual(placed);
    expect(Object.fromEntries(result.unschedulable.map((u) => [u.task.id, u.reasons]))).toEqual(
      unschedulable ?? {},
    );
  });

  it("records the host port chosen from a published range", () => {
    const result = schedule(
      [task("a", 1, { hostPorts: [{ ports: [8000, 8001], protocol: "tcp" }] })],
      [N1],
      [{ task: task("b", 1), node: "n1", hostPorts: [{ port: 8000, protocol: "tcp" }] }],
    );
    expect(result.placements[0]?.hostPorts).toEqual([{ port: 8001, protocol: "tcp" }]);
  });

  it("is deterministic: the same input gives the same placements", () => {
    const tasks = replicas("web", 7);
    expect(schedule(tasks, CLUSTER, [])).toEqual(schedule(tasks, [...CLUSTER].reverse(), []));
  });
});

describe("parseConstraint", () => {
  it.each([
    ["node.labels.zone==a", { attribute: "node.labels.zone", operator: "==", value: "a" }],
    [" node.role != manager ", { attribute: "node.role", operator: "!=", value: "manager" }],
  ])("parses %s", (text, expected) => {
    expect(parseConstraint(text)).toMatchObject(expected);
  });
  it.each(["node.role", "node.role==", "node.role=manager"])("refuses %s", (text) => {
    expect(parseConstraint(text)).toBeUndefined();
  });
});

describe("taskFor", () => {
  it("takes constraints, reservations, max per node and published ports from the service", () => {
    const spec = stackFrom(`
services:
  web:
    image: nginx
    ports: ["127.0.0.1:8080:80", "9000-9001:9000/udp", "3000"]
    deploy:
      placement: {constraints: [node.role==worker], max_replicas_per_node: 2}
      resources: {reservations: {cpus: "0.25", memory: 64m}}
  agent:
    image: agent
    deploy: {mode: global}
`);
    expect(taskFor(spec, "web", 2)).toEqual({
      id: "web.2",
      service: "web",
      replica: 2,
      mode: "replicated",
      constraints: ["node.role==worker"],
      reservations: { nanoCpus: 250_000_000, memoryBytes: 64 * 1024 * 1024 },
      hostPorts: [
        { ip: "127.0.0.1", ports: [8080], protocol: "tcp" },
        { ports: [9000, 9001], protocol: "udp" },
      ],
      maxReplicasPerNode: 2,
    });
    expect(taskFor(spec, "agent", 1)).toEqual({ id: "agent", service: "agent", replica: 0, mode: "global" });
  });
});
