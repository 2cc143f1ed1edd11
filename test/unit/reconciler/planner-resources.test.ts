/**
 * The planner and changed network and volume definitions: a network whose config-hash label differs
 * from its definition is recreated with the containers on it (docker/compose #12267); a volume never is,
 * the plan only warns.
 */
import { describe, expect, it } from "vitest";
import { desiredStack, type DesiredOptions } from "../../../src/reconciler/desired.js";
import type { ObservedContainer, ObservedResource, ObservedStack } from "../../../src/reconciler/observed.js";
import { plan, type PlanOptions } from "../../../src/reconciler/planner.js";
import { networkConfigHash, volumeConfigHash } from "../../../src/spec/canonical.js";
import type { StackSpec } from "../../../src/spec/types.js";
import { observedContainer, stackFrom } from "./stack.js";

/** Service hashes that never drift: only networks and volumes change in these tests. */
const hash: DesiredOptions["hash"] = (_spec, service) => `${service}-hash`;

const ctr = (service: string, replica: number, extra: Partial<ObservedContainer> = {}): ObservedContainer =>
  observedContainer(service, replica, `${service}-hash`, extra);

const STACK = stackFrom(`
services:
  db:
    image: postgres
    volumes: [data:/var/lib/postgresql/data]
  web:
    image: nginx
    scale: 2
    networks: [front]
    volumes: [/cache]
    depends_on: {db: {condition: service_started}}
  api:
    image: api
    networks: [front, default]
    depends_on: {web: {condition: service_started, restart: true}}
networks:
  front: {internal: true}
volumes:
  data: {driver_opts: {type: tmpfs, device: tmpfs}}
`);

const OLD = "0123456789abcdef";
const FRONT = networkConfigHash(STACK, "front");
const DEFAULT = networkConfigHash(STACK, "default");
const DATA = volumeConfigHash(STACK, "data");
const short = (h: string): string => h.slice(0, 7);

const network = (key: string, configHash: string | undefined, containers?: string[]): ObservedResource => ({
  name: `proj_${key}`,
  key,
  ...(configHash !== undefined ? { configHash } : {}),
  ...(containers !== undefined ? { containers } : {}),
});

const UP: ObservedStack = {
  containers: [
    ctr("db", 1),
    ctr("web", 1, { volumes: [{ name: "anon-web-1", target: "/cache" }] }),
    ctr("web", 2, { volumes: [{ name: "anon-web-2", target: "/cache" }] }),
    ctr("api", 1),
  ],
  networks: [network("default", DEFAULT), network("front", FRONT)],
  volumes: [{ name: "proj_data", key: "data", configHash: DATA }],
};

const withNetworks = (...networks: ObservedResource[]): ObservedStack => ({ ...UP, networks });

const planOf = (observed: ObservedStack, opts?: PlanOptions, spec: StackSpec = STACK): string[] =>
  plan(desiredStack(spec, { hash }), observed, opts).toString().split("\n").filter(Boolean);

describe("plan with a changed network", () => {
  const change = `network proj_front changed: config hash ${short(OLD)} → ${short(FRONT)}`;

  it("recreates the network after removing its containers, then creates them again on it", () => {
    const observed: ObservedStack = {
      ...withNetworks(network("default", DEFAULT), network("front", OLD)),
      // A stopped one is only removed.
      containers: UP.containers.map((c) => (c.name === "proj-web-2" ? { ...c, state: "exited" } : c)),
    };
    expect(planOf(observed)).toEqual([
      `#1 container:web.1 stop (${change})`,
      `#2 container:web.1 remove (${change}) after #1`,
      `#3 container:web.2 remove (${change})`,
      `#4 container:api.1 stop (${change})`,
      `#5 container:api.1 remove (${change}) after #4`,
      `#6 network:proj_front remove-network (config hash ${short(OLD)} → ${short(FRONT)}) after #2,#3,#5`,
      `#7 network:proj_front create-network (config hash ${short(OLD)} → ${short(FRONT)}) after #6`,
      `#8 container:web.1 create (${change}) after #2,#7 wait db:service_started keep-volumes /cache`,
      `#9 container:web.2 create (${change}) after #3,#7 wait db:service_started keep-volumes /cache`,
      `#10 container:api.1 create (${change}) after #5,#7,#8,#9 wait web:service_started`,
    ]);
  });

  it("recreates them stop-first whatever their update_config says", () => {
    const spec = stackFrom(`
services:
  web:
    image: nginx
    networks: [front]
    deploy: {update_config: {order: start-first}}
networks:
  front: {}
`);
    const observed: ObservedStack = {
      containers: [ctr("web", 1)],
      networks: [network("front", OLD)],
      volumes: [],
    };
    const now = short(networkConfigHash(spec, "front"));
    const why = `network proj_front changed: config hash ${short(OLD)} → ${now}`;
    expect(planOf(observed, {}, spec)).toEqual([
      `#1 container:web.1 stop (${why})`,
      `#2 container:web.1 remove (${why}) after #1`,
      `#3 network:proj_front remove-network (config hash ${short(OLD)} → ${now}) after #2`,
      `#4 network:proj_front create-network (config hash ${short(OLD)} → ${now}) after #3`,
      `#5 container:web.1 create (${why}) after #2,#4`,
    ]);
  });

  it("gives a recreated replica fresh anonymous volumes with --renew-anon-volumes", () => {
    const ops = plan(
      desiredStack(STACK, { hash }),
      withNetworks(network("default", DEFAULT), network("front", OLD)),
      {
        renewAnonVolumes: true,
      },
    ).operations;
    const web1 = ops.filter((op) => op.target === "container:web.1");
    expect(web1.map((op) => [op.kind, op.removeVolumes, op.inheritVolumes])).toEqual([
      ["stop", undefined, undefined],
      ["remove", true, undefined],
      ["create", undefined, undefined],
    ]);
  });

  it("leaves a network without the config-hash label alone: it predates the label", () => {
    expect(planOf(withNetworks(network("default", undefined), network("front", undefined)))).toEqual([]);
  });

  it("never touches an external network", () => {
    const spec = stackFrom(`
services:
  web: {image: nginx, networks: [front]}
networks:
  front: {external: true, name: shared}
`);
    const observed: ObservedStack = {
      containers: [ctr("web", 1)],
      // Labelled as if a stack had created it with another definition.
      networks: [{ name: "shared", key: "front", configHash: OLD }],
      volumes: [],
    };
    expect(planOf(observed, {}, spec)).toEqual([]);
  });

  it("keeps the network and its containers with --no-recreate, and says so", () => {
    expect(
      planOf(withNetworks(network("default", DEFAULT), network("front", OLD)), { noRecreate: true }),
    ).toEqual([`! ${change}; --no-recreate keeps it and its containers`]);
  });

  it("keeps the network when a container it cannot re-create is attached, and says so", () => {
    const observed: ObservedStack = {
      ...withNetworks(network("default", DEFAULT), network("front", OLD, ["web1id", "old1id", "oneoffid"])),
      containers: [...UP.containers, ctr("old", 1)],
    };
    expect(planOf(observed)).toEqual([
      "! container:old.1 (proj-old-1) is an orphan: service old is not in the stack; --remove-orphans removes it",
      `! ${change}, but it is kept: proj-old-1 (an orphan; --remove-orphans removes it), container oneoffid still uses it`,
    ]);
  });

  it("removes an attached orphan first with --remove-orphans", () => {
    const observed: ObservedStack = {
      ...withNetworks(network("default", DEFAULT), network("front", OLD, ["old1id"])),
      containers: [ctr("db", 1), ctr("web", 1), ctr("web", 2), ctr("old", 1, { state: "exited" })],
    };
    const d = desiredStack(STACK, { hash, services: ["web"] });
    expect(plan(d, observed, { removeOrphans: true }).toString().split("\n")).toEqual([
      "#1 container:old.1 remove (orphan: service old is not in the stack)",
      `#2 container:web.1 stop (${change})`,
      `#3 container:web.1 remove (${change}) after #2`,
      `#4 container:web.2 stop (${change})`,
      `#5 container:web.2 remove (${change}) after #4`,
      `#6 network:proj_front remove-network (config hash ${short(OLD)} → ${short(FRONT)}) after #1,#3,#5`,
      `#7 network:proj_front create-network (config hash ${short(OLD)} → ${short(FRONT)}) after #6`,
      `#8 container:web.1 create (${change}) after #3,#7 wait db:service_started`,
      `#9 container:web.2 create (${change}) after #5,#7 wait db:service_started`,
    ]);
  });

  it("plans nothing once the network and its containers are back", () => {
    expect(plan(desiredStack(STACK, { hash }), UP).toString()).toBe("");
  });
});

describe("plan with a changed volume", () => {
  it("keeps the volume and its data, and warns with what differs and how to apply it", () => {
    const observed: ObservedStack = {
      ...UP,
      volumes: [
        {
          name: "proj_data",
          key: "data",
          configHash: OLD,
          config: {
            driver: "local",
            options: { type: "tmpfs", device: "tmpfs", o: "size=1m" },
            labels: { tier: "db" },
          },
        },
      ],
    };
    expect(planOf(observed)).toEqual([
      "! volume proj_data exists but does not match the stack file (driver_opts -o; labels -tier); it is kept with its data. To apply the change: tsstack down -v, then up (this deletes the volume's data)",
    ]);
  });

  it("names the hashes when the engine does not say what the volume is", () => {
    expect(planOf({ ...UP, volumes: [{ name: "proj_data", key: "data", configHash: OLD }] })).toEqual([
      `! volume proj_data exists but does not match the stack file (config hash ${short(OLD)} → ${short(DATA)}); it is kept with its data. To apply the change: tsstack down -v, then up (this deletes the volume's data)`,
    ]);
  });

  it("leaves a volume without the config-hash label alone", () => {
    expect(planOf({ ...UP, volumes: [{ name: "proj_data", key: "data" }] })).toEqual([]);
  });
});

describe("network and volume config hashes", () => {
  const netHash = (yaml: string): string => networkConfigHash(stackFrom(yaml), "n");
  const BASE = "services: {s: {image: x, networks: [n]}}\nnetworks:\n  n:";

  it("change with what the network is, not with how the file spells it", () => {
    const base = netHash(`${BASE} {}`);
    expect(netHash(`${BASE} {driver: bridge}`)).toBe(base);
    expect(netHash(`${BASE} {x-note: hello}`)).toBe(base);
    expect(netHash(`${BASE} {internal: true}`)).not.toBe(base);
    expect(netHash(`${BASE} {labels: {a: b}}`)).not.toBe(base);
    expect(netHash(`${BASE} {driver_opts: {com.docker.network.bridge.name: br-x}}`)).not.toBe(base);
    expect(netHash(`${BASE} {ipam: {config: [{subnet: 10.9.0.0/24}]}}`)).not.toBe(
      netHash(`${BASE} {ipam: {config: [{subnet: 10.8.0.0/24}]}}`),
    );
  });

  it("give a volume's default driver explicitly or not alike", () => {
    const volHash = (def: string): string =>
      volumeConfigHash(stackFrom(`services: {s: {image: x, volumes: [v:/v]}}\nvolumes:\n  v: ${def}`), "v");
    expect(volHash("{driver: local}")).toBe(volHash("{}"));
    expect(volHash("{labels: {a: b}}")).not.toBe(volHash("{}"));
  });

  it("are what desiredStack carries, and nothing for external resources", () => {
    const d = desiredStack(STACK, { hash });
    expect(d.networks.map((n) => [n.key, n.configHash])).toEqual([
      ["front", FRONT],
      ["default", DEFAULT],
    ]);
    expect(d.volumes[0]?.configHash).toBe(DATA);
    const ext = desiredStack(
      stackFrom("services: {s: {image: x, networks: [n]}}\nnetworks: {n: {external: true}}"),
    );
    expect(ext.networks[0]?.configHash).toBeUndefined();
  });
});
