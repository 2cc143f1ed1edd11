/**
 * `/networks` and `/volumes` of the daemon's API over a real embedded engine (real bridges, iptables
 * rules, volume directories), through raw HTTP and through `ApiClient`. Each engine has its own bridge
 * and chain prefix in a test-only subnet pool; after each test its networks are removed and no bridge
 * or rule of its prefixes may remain (useNetworkEngines).
 */
import { randomInt } from "node:crypto";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ApiClient } from "../../../src/api/client.js";
import { startApiServer } from "../../../src/api/server.js";
import type { NetworkInspect } from "../../../src/network/types.js";
import type { VolumeInspect, VolumeListResult } from "../../../src/volumes/manager.js";
import { canRunContainers } from "../../helpers/engine.js";
import { networkLeftovers, useNetworkEngines, type NetTestEngine } from "../network/helpers.js";
import { call, useTestServers, type Reply } from "./helpers.js";

const engines = useNetworkEngines();
const closers: (() => Promise<void>)[] = [];
// Registered after useNetworkEngines: runs first, while the engine is still open.
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

interface Served extends NetTestEngine {
  readonly socket: string;
  readonly client: ApiClient;
  /** A request with a JSON body (when given). */
  req(method: string, path: string, body?: unknown): Promise<Reply>;
}

async function served(): Promise<Served> {
  // Prefixes `tsva?`, the pool 10.233.0.0/18 and explicit subnets in 10.233.128-191 are this file's;
  // test/cli/network-volume.test.ts has `tsvc?` and 10.233.64.0/18, 10.233.192-254: files run side
  // by side (two engines picking from one pool at once could take the same /24), the tests of one
  // file one after the other, each cleaned up before the next.
  const tag = `a${randomInt(36).toString(36)}`;
  const e = await engines({
    network: {
      bridgePrefix: `tsv${tag}`,
      chainPrefix: `TSV${tag.toUpperCase()}`,
      subnetPool: "10.233.0.0/18",
    },
  });
  const socket = join(e.root, "api.sock");
  const server = await startApiServer({
    runtime: e.engine,
    root: e.root,
    socketPath: socket,
    version: "test",
  });
  const client = new ApiClient(socket);
  closers.push(async () => {
    client.close();
    await server.close();
  });
  return {
    ...e,
    socket,
    client,
    req: (method, path, body) =>
      call(
        socket,
        method,
        path,
        body === undefined
          ? {}
          : { body: JSON.stringify(body), headers: { "Content-Type": "application/json" } },
      ),
  };
}

function filters(f: Record<string, string[]>): string {
  return encodeURIComponent(JSON.stringify(f));
}

/** A /24 of the test pool away from the ones the pool hands out first. */
function someSubnet(): string {
  return `10.233.${randomInt(128, 192)}.0/24`;
}

async function runAttached(s: Served, network: string): Promise<string> {
  const created = await s.req("POST", "/containers/create?name=user", {
    Image: "busybox:latest",
    Cmd: ["sleep", "600"],
    StopTimeout: 1,
    HostConfig: { NetworkMode: network },
  });
  expect(created.status).toBe(201);
  const { Id } = created.json<{ Id: string }>();
  expect((await s.req("POST", `/containers/${Id}/start`)).status).toBe(204);
  return Id;
}

describe.skipIf(!canRunContainers)("networks through the API", () => {
  it("creates, lists, inspects and removes a network on versioned and unversioned paths", async () => {
    const s = await served();
    const subnet = someSubnet();
    const created = await s.req("POST", "/v1.41/networks/create", {
      Name: "front",
      Labels: { tier: "web" },
      IPAM: { Config: [{ Subnet: subnet }] },
    });
    expect(created.status).toBe(201);
    const { Id, Warning } = created.json<{ Id: string; Warning: string }>();
    expect(Id).toMatch(/^[0-9a-f]{64}$/);
    expect(Warning).toBe("");
    expect((await s.req("POST", "/networks/create", { Name: "back", Internal: true })).status).toBe(201);
    // The engine's bridge exists under the engine's prefix.
    expect(networkLeftovers(s.prefix, s.chains).filter((l) => l.startsWith("link "))).toHaveLength(2);

    const all = await s.req("GET", "/networks");
    expect(all.status).toBe(200);
    expect(all.json<NetworkInspect[]>().map((n) => n.Name)).toEqual(["front", "back"]);
    const labelled = await s.req("GET", `/v1.41/networks?filters=${filters({ label: ["tier=web"] })}`);
    expect(labelled.json<NetworkInspect[]>().map((n) => n.Name)).toEqual(["front"]);

    for (const ref of ["front", Id, Id.slice(0, 12)]) {
      const inspect = await s.req("GET", `/networks/${ref}`);
      expect(inspect.status).toBe(200);
      expect(inspect.json<NetworkInspect>()).toMatchObject({
        Name: "front",
        Id,
        Driver: "bridge",
        Scope: "local",
        Labels: { tier: "web" },
        IPAM: { Config: [{ Subnet: subnet }] },
      });
    }
    expect((await s.req("GET", "/networks/back")).json<NetworkInspect>().Internal).toBe(true);

    const removed = await s.req("DELETE", "/v1.41/networks/front");
    expect(removed.status).toBe(204);
    const gone = await s.req("GET", "/networks/front");
    expect(gone.status).toBe(404);
    expect(gone.json()).toMatchObject({ code: "network/not-found" });
    expect((await s.req("DELETE", `/networks/${Id}`)).status).toBe(404);
  });

  it("answers a taken name with 409, an invalid request with 400 and a missing network with 404", async () => {
    const s = await served();
    expect((await s.req("POST", "/networks/create", { Name: "twice" })).status).toBe(201);
    const status = async (r: Promise<Reply>): Promise<[number, unknown]> => {
      const reply = await r;
      return [reply.status, reply.json<{ code?: string }>().code];
    };
    expect(await status(s.req("POST", "/networks/create", { Name: "twice" }))).toEqual([
      409,
      "network/conflict",
    ]);
    for (const body of [
      { Name: "x1", Driver: "overlay" },
      { Name: "x2", EnableIPv6: true },
      { Name: "x3", Labels: "tier=web" },
      { Name: "x4", IPAM: { Config: [{ Subnet: "10.233.0.0/99" }] } },
      { Name: "x5", IPAM: { Config: [{ Subnet: someSubnet(), AuxiliaryAddresses: { r: "10.233.0.9" } }] } },
      { Driver: "bridge" },
    ])
      expect(await status(s.req("POST", "/networks/create", body))).toEqual([400, "network/invalid-config"]);
    expect((await s.req("POST", "/networks/create", [])).status).toBe(400);
    expect(await status(s.req("GET", `/networks?filters=${filters({ colour: ["red"] })}`))).toEqual([
      400,
      "network/invalid-filter",
    ]);
    expect(await status(s.req("DELETE", "/networks/nope"))).toEqual([404, "network/not-found"]);
    // Nothing of the refused creates was made.
    expect((await s.req("GET", "/networks")).json<NetworkInspect[]>().map((n) => n.Name)).toEqual(["twice"]);
  });

  it("refuses to remove a network a running container is attached to, and prunes only unused ones", async () => {
    const s = await served();
    for (const Name of ["used", "idle"])
      expect((await s.req("POST", "/networks/create", { Name })).status).toBe(201);
    const id = await runAttached(s, "used");

    const refused = await s.req("DELETE", "/networks/used");
    expect(refused.status).toBe(409);
    expect(refused.json()).toMatchObject({ code: "network/in-use" });
    expect(refused.json<{ message: string }>().message).toContain("user");

    const pruned = await s.req("POST", "/v1.41/networks/prune");
    expect(pruned.status).toBe(200);
    expect(pruned.json()).toEqual({ NetworksDeleted: ["idle"] });

    expect((await s.req("DELETE", `/containers/${id}?force=1`)).status).toBe(204);
    expect((await s.req("POST", "/networks/prune")).json()).toEqual({ NetworksDeleted: ["used"] });
  });

  it("gives ApiClient callers the engine's objects and error codes", async () => {
    const s = await served();
    const { Id } = await s.client.createNetwork({ Name: "viaclient", Labels: { a: "1" } });
    await expect(s.client.createNetwork({ Name: "viaclient" })).rejects.toMatchObject({
      code: "network/conflict",
    });
    expect((await s.client.listNetworks({ filters: { label: ["a=1"] } })).map((n) => n.Id)).toEqual([Id]);
    expect(await s.client.listNetworks({ filters: { label: ["a=2"] } })).toEqual([]);
    expect((await s.client.inspectNetwork("viaclient")).Id).toBe(Id);
    await s.client.removeNetwork(Id);
    await expect(s.client.inspectNetwork("viaclient")).rejects.toMatchObject({ code: "network/not-found" });
    expect(await s.client.pruneNetworks()).toEqual({ NetworksDeleted: [] });

    const v = await s.client.createVolume({ Name: "cv", Labels: { a: "1" } });
    expect(v).toMatchObject({ Name: "cv", Driver: "local", Labels: { a: "1" } });
    expect((await s.client.listVolumes({ filters: { name: ["^cv$"] } })).Volumes.map((x) => x.Name)).toEqual([
      "cv",
    ]);
    expect(await s.client.inspectVolume("cv")).toEqual(v);
    await s.client.removeVolume("cv");
    await expect(s.client.removeVolume("cv")).rejects.toMatchObject({ code: "volume/not-found" });
    await s.client.removeVolume("cv", { force: true });
    await expect(s.client.createVolume({ Name: "/bad" })).rejects.toMatchObject({
      code: "volume/invalid-name",
    });
    expect(await s.client.pruneVolumes({ filters: { all: ["true"] } })).toEqual({
      VolumesDeleted: [],
      SpaceReclaimed: 0,
    });
  });
});

describe.skipIf(!canRunContainers)("volumes through the API", () => {
  it("creates, lists, inspects and removes volumes", async () => {
    const s = await served();
    const created = await s.req("POST", "/v1.41/volumes/create", { Name: "data", Labels: { app: "db" } });
    expect(created.status).toBe(201);
    const data = created.json<VolumeInspect>();
    expect(data).toMatchObject({ Name: "data", Driver: "local", Scope: "local", Labels: { app: "db" } });
    expect(data.Mountpoint.startsWith(join(s.root, "volumes"))).toBe(true);
    // Creating an existing volume gives it back, as Docker does.
    expect((await s.req("POST", "/volumes/create", { Name: "data" })).json()).toEqual(data);
    const anonymous = await s.req("POST", "/volumes/create");
    expect(anonymous.status).toBe(201);
    const anonName = anonymous.json<VolumeInspect>().Name;
    expect(anonName).toMatch(/^[0-9a-f]{64}$/);

    const list = await s.req("GET", "/volumes");
    expect(list.status).toBe(200);
    expect(
      list
        .json<VolumeListResult>()
        .Volumes.map((v) => v.Name)
        .sort(),
    ).toEqual([anonName, "data"].sort());
    const byLabel = await s.req("GET", `/volumes?filters=${filters({ label: ["app=db"] })}`);
    expect(byLabel.json<VolumeListResult>()).toEqual({ Volumes: [data], Warnings: null });
    expect((await s.req("GET", "/volumes/data")).json()).toEqual(data);

    expect((await s.req("DELETE", "/v1.41/volumes/data")).status).toBe(204);
    const gone = await s.req("GET", "/volumes/data");
    expect(gone.status).toBe(404);
    expect(gone.json()).toMatchObject({ code: "volume/not-found" });
    expect((await s.req("DELETE", "/volumes/data")).status).toBe(404);
    expect((await s.req("DELETE", "/volumes/data?force=1")).status).toBe(204);
    expect((await s.req("DELETE", `/volumes/${anonName}`)).status).toBe(204);
  });

  it("answers invalid names, options and filters with 400", async () => {
    const s = await served();
    for (const [body, code] of [
      [{ Name: "a/b" }, "volume/invalid-name"],
      [{ Name: "vv", Driver: "nfs" }, "volume/invalid-config"],
      [{ Name: "vv", DriverOpts: { type: "nfs" } }, "volume/invalid-config"],
      [{ Name: "vv", Labels: ["x"] }, "volume/invalid-config"],
    ] as const) {
      const r = await s.req("POST", "/volumes/create", body);
      expect([r.status, r.json<{ code: string }>().code]).toEqual([400, code]);
    }
    const r = await s.req("GET", `/volumes?filters=${filters({ colour: ["red"] })}`);
    expect([r.status, r.json<{ code: string }>().code]).toEqual([400, "volume/invalid-filter"]);
    expect((await s.req("GET", "/volumes")).json<VolumeListResult>().Volumes).toEqual([]);
  });

  it("refuses to remove a volume a container uses, and prunes anonymous volumes unless all is asked for", async () => {
    const s = await served();
    for (const body of [
      { Name: "keep" },
      { Name: "loose" },
      { Name: "anon", Labels: { "com.docker.volume.anonymous": "" } },
    ])
      expect((await s.req("POST", "/volumes/create", body)).status).toBe(201);
    // A created container (never started) already holds its volumes.
    const created = await s.req("POST", "/containers/create?name=holder", {
      Image: "busybox:latest",
      Cmd: ["true"],
      HostConfig: { Binds: ["keep:/data"] },
    });
    expect(created.status).toBe(201);

    const refused = await s.req("DELETE", "/volumes/keep");
    expect(refused.status).toBe(409);
    expect(refused.json()).toMatchObject({ code: "volume/in-use" });

    const anonymousOnly = await s.req("POST", "/volumes/prune");
    expect(anonymousOnly.json()).toEqual({ VolumesDeleted: ["anon"], SpaceReclaimed: 0 });
    const all = await s.req("POST", `/v1.41/volumes/prune?filters=${filters({ all: ["true"] })}`);
    expect(all.json()).toEqual({ VolumesDeleted: ["loose"], SpaceReclaimed: 0 });

    expect((await s.req("DELETE", "/containers/holder")).status).toBe(204);
    expect((await s.req("DELETE", "/volumes/keep")).status).toBe(204);
  });
});

describe("a runtime without networks and volumes", () => {
  const servers = useTestServers();

  it("answers 501 on the network and volume routes", async () => {
    const { socketPath } = await servers();
    for (const [method, path, code] of [
      ["GET", "/networks", "network/unsupported"],
      ["POST", "/v1.41/networks/create", "network/unsupported"],
      ["DELETE", "/networks/x", "network/unsupported"],
      ["GET", "/volumes", "volume/unsupported"],
      ["POST", "/volumes/prune", "volume/unsupported"],
    ] as const) {
      const r = await call(socketPath, method, path);
      expect(r.status).toBe(501);
      expect(r.json()).toMatchObject({ code });
      expect(r.json<{ message: string }>().message).toMatch(/does not manage (networks|volumes)/);
    }
  });
});
