/**
 * `tsstack network …` and `tsstack volume …` end to end: the CLI in-process (`main`) against a real
 * engine daemon on a temporary root and socket, with real bridges and iptables rules under a bridge
 * and chain prefix of its own in a test-only subnet pool. After each test the containers and networks
 * are removed, the daemon stopped, and no container, mount, bridge, veth, network namespace or
 * iptables rule of the engine may remain.
 */
import { randomInt } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ApiClient } from "../../src/api/client.js";
import type { NetworkInspect } from "../../src/network/types.js";
import { EmbeddedRuntime } from "../../src/runtime/embedded.js";
import type { VolumeInspect } from "../../src/volumes/manager.js";
import { useCliEngines, type CliEngine } from "../helpers/cli-engine.js";
import { canRunContainers } from "../helpers/engine.js";
import { useTmpDirs } from "../helpers/tmp.js";
import { networkLeftovers } from "../integration/network/helpers.js";

const tmp = useTmpDirs("tsstack-cli-netvol-");

interface Engine extends CliEngine {
  /** The daemon's API, for what the CLI has no command for yet (containers with volumes). */
  readonly client: ApiClient;
}

const startCliEngine = useCliEngines(tmp);

/** A daemon on a fresh root whose networks use their own prefixes; stopped and checked after the test. */
async function startEngine(): Promise<Engine> {
  // Prefixes `tsvc?`, the pool 10.233.64.0/18 and explicit subnets in 10.233.192-254 are this file's;
  // test/integration/api/networks-volumes.test.ts has `tsva?` and 10.233.0-191: files run side by
  // side (two engines picking from one pool at once could take the same /24), the tests of one file
  // one after the other, each cleaned up before the next.
  const tag = `c${randomInt(36).toString(36)}`;
  const network = {
    bridgePrefix: `tsv${tag}`,
    chainPrefix: `TSV${tag.toUpperCase()}`,
    subnetPool: "10.233.64.0/18",
    upstreamResolvers: [],
  };
  // Made once the daemon answers; the clean-up uses it if it got that far.
  const api: { client?: ApiClient } = {};
  const engine = await startCliEngine({
    openRuntime: (o) => EmbeddedRuntime.open({ ...o, exitPollMs: 200, network }),
    cleanUp: async () => {
      const { client } = api;
      if (client === undefined) return;
      for (const c of await client.listContainers({ all: true }))
        await client.getContainer(c.Id).remove({ force: true });
      for (const n of await client.listNetworks()) await client.removeNetwork(n.Id);
      client.close();
    },
    afterStop: () => {
      expect(networkLeftovers(network.bridgePrefix, network.chainPrefix)).toEqual([]);
    },
  });
  api.client = new ApiClient(engine.socket);
  return { ...engine, client: api.client };
}

const engineAvailable = existsSync(new URL("../../src/runtime/embedded.ts", import.meta.url));

describe.skipIf(!engineAvailable || !canRunContainers)("network commands against a real engine", () => {
  it("creates, lists, inspects, removes and prunes networks like docker network", async () => {
    const e = await startEngine();
    const third = randomInt(192, 255);
    const created = await e.cli([
      "network",
      "create",
      "--subnet",
      `10.233.${third}.0/24`,
      "--gateway",
      `10.233.${third}.254`,
      "--label",
      "tier=web",
      "-o",
      "com.docker.network.driver.mtu=1400",
      "front",
    ]);
    expect(created.stderr).toBe("");
    expect(created).toMatchObject({ code: 0, stdout: expect.stringMatching(/^[0-9a-f]{64}\n$/) as unknown });
    const frontId = created.stdout.trim();
    expect(await e.cli(["network", "create", "--internal", "back"])).toMatchObject({ code: 0, stderr: "" });

    const ls = await e.cli(["network", "ls"]);
    expect(ls.code).toBe(0);
    const [header, ...rows] = ls.stdout.trimEnd().split("\n");
    expect(header).toMatch(/^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE$/);
    // Sorted by name, ids cut to 12 characters.
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(/^[0-9a-f]{12}\s+back\s+bridge\s+local$/);
    expect(rows[1]).toMatch(new RegExp(`^${frontId.slice(0, 12)}\\s+front\\s+bridge\\s+local$`));
    expect((await e.cli(["network", "ls", "-q", "--no-trunc", "-f", "name=fro"])).stdout).toBe(
      `${frontId}\n`,
    );
    expect((await e.cli(["network", "ls", "--format", "{{.Name}} {{.Internal}} {{.Labels}}"])).stdout).toBe(
      "back true \nfront false tier=web\n",
    );
    expect((await e.cli(["network", "ls", "-f", "colour=red"])).code).toBe(2);

    const inspect = await e.cli(["network", "inspect", "front"]);
    expect(inspect.code).toBe(0);
    const [front] = JSON.parse(inspect.stdout) as NetworkInspect[];
    expect(front).toMatchObject({
      Id: frontId,
      Name: "front",
      IPAM: { Config: [{ Subnet: `10.233.${third}.0/24`, Gateway: `10.233.${third}.254` }] },
      Options: { "com.docker.network.driver.mtu": "1400" },
      Labels: { tier: "web" },
    });
    const some = await e.cli(["network", "inspect", "--format", "{{.Name}} {{.Internal}}", "back", "nope"]);
    expect(some).toMatchObject({ code: 1, stdout: "back true\n" });
    expect(some.stderr).toContain("No such network: nope");

    const twice = await e.cli(["network", "create", "front"]);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(/front.*already exists/);
    const v6 = await e.cli(["network", "create", "--ipv6", "six"]);
    expect(v6.code).toBe(2);
    expect(v6.stderr).toMatch(/--ipv6 is not supported: tsstack's networks are IPv4-only/);
    expect((await e.cli(["network", "create", "-d", "overlay", "ov"])).code).toBe(2);

    expect(await e.cli(["network", "rm", "front", "nope"])).toMatchObject({ code: 1, stdout: "front\n" });
    expect((await e.cli(["network", "rm", "-f", "nope"])).code).toBe(0);
    // Without -f the prompt decides; an empty answer keeps everything.
    expect(await e.cli(["network", "prune"], { stdin: "\n" })).toMatchObject({
      code: 0,
      stdout: expect.stringContaining("Are you sure you want to continue? [y/N]") as unknown,
    });
    expect((await e.cli(["network", "ls", "-q"])).stdout.split("\n")).toHaveLength(2);
    expect(await e.cli(["network", "prune", "-f"])).toMatchObject({
      code: 0,
      stdout: "Deleted Networks:\nback\n\n",
    });
    expect((await e.cli(["network", "ls", "-q"])).stdout).toBe("");
  });

  it("refuses to remove a network a running container is attached to", async () => {
    const e = await startEngine();
    expect((await e.cli(["network", "create", "used"])).code).toBe(0);
    const run = await e.cli(["run", "-d", "--name", "web", "--network", "used", "busybox", "sleep", "600"]);
    expect(run.code).toBe(0);

    const refused = await e.cli(["network", "rm", "used"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/network used .*has active endpoints \(web\)/);
    expect((await e.cli(["network", "prune", "-f"])).stdout).toBe("");

    expect((await e.cli(["rm", "-f", "web"])).code).toBe(0);
    expect(await e.cli(["network", "rm", "used"])).toMatchObject({ code: 0, stdout: "used\n" });
  });
});

describe.skipIf(!engineAvailable || !canRunContainers)("volume commands against a real engine", () => {
  it("creates, lists, inspects and removes volumes like docker volume", async () => {
    const e = await startEngine();
    expect(await e.cli(["volume", "create", "--label", "app=db", "data"])).toMatchObject({
      code: 0,
      stdout: "data\n",
    });
    const anonymous = await e.cli(["volume", "create"]);
    expect(anonymous.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    const anonName = anonymous.stdout.trim();
    expect((await e.cli(["volume", "create", "--name", "other"])).stdout).toBe("other\n");
    expect((await e.cli(["volume", "create", "--name", "x1", "x2"])).code).toBe(2);
    expect((await e.cli(["volume", "create", "-d", "nfs", "x3"])).code).toBe(2);

    const ls = await e.cli(["volume", "ls"]);
    expect(ls.code).toBe(0);
    expect(ls.stdout.split("\n")[0]).toMatch(/^DRIVER\s+VOLUME NAME$/);
    expect(ls.stdout).toMatch(/^local\s+data$/m);
    expect(ls.stdout).toMatch(new RegExp(`^local\\s+${anonName}$`, "m"));
    expect((await e.cli(["volume", "ls", "-q", "-f", "label=app=db"])).stdout).toBe("data\n");
    expect(
      (await e.cli(["volume", "ls", "--format", "{{.Name}}:{{.Labels}}", "-f", "name=^data$"])).stdout,
    ).toBe("data:app=db\n");

    const inspect = await e.cli(["volume", "inspect", "data"]);
    const [data] = JSON.parse(inspect.stdout) as VolumeInspect[];
    expect(data).toMatchObject({ Name: "data", Driver: "local", Labels: { app: "db" }, Scope: "local" });
    expect(data?.Mountpoint.startsWith(join(e.root, "volumes"))).toBe(true);
    const missing = await e.cli(["volume", "inspect", "--format", "{{.Name}}", "data", "nope"]);
    expect(missing).toMatchObject({ code: 1, stdout: "data\n" });
    expect(missing.stderr).toContain("No such volume: nope");

    expect(await e.cli(["volume", "rm", "data", "nope", anonName])).toMatchObject({
      code: 1,
      stdout: `data\n${anonName}\n`,
    });
    expect((await e.cli(["volume", "rm", "-f", "nope"])).code).toBe(0);
    expect((await e.cli(["volume", "ls", "-q"])).stdout).toBe("other\n");
  });

  it("fails to remove a volume a container uses, with exit 1 and the reason", async () => {
    const e = await startEngine();
    expect((await e.cli(["volume", "create", "data"])).code).toBe(0);
    const holder = await e.client.createContainer({
      name: "holder",
      Image: "busybox:latest",
      Cmd: ["true"],
      HostConfig: { Binds: ["data:/data"] },
    });

    const refused = await e.cli(["volume", "rm", "data"]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe("");
    expect(refused.stderr).toMatch(/^tsstack: remove data: volume is in use - \[[0-9a-f]{64}\]\n$/);
    expect((await e.cli(["volume", "prune", "-f", "-a"])).stdout).toBe("Total reclaimed space: 0B\n");

    await holder.remove();
    expect(await e.cli(["volume", "rm", "data"])).toMatchObject({ code: 0, stdout: "data\n" });
  });

  it("prunes anonymous volumes, and with -a named ones too", async () => {
    const e = await startEngine();
    expect((await e.cli(["volume", "create", "named"])).code).toBe(0);
    // A container's anonymous volume outlives it when removed without -v.
    const c = await e.client.createContainer({
      Image: "busybox:latest",
      Cmd: ["sh", "-c", "echo kept > /anon/file"],
      HostConfig: { Mounts: [{ Type: "volume", Target: "/anon" }] },
    });
    await c.start();
    expect((await c.wait()).StatusCode).toBe(0);
    await c.remove();
    const anon = (await e.cli(["volume", "ls", "-q", "-f", "name=^[0-9a-f]{64}$"])).stdout.trim();
    expect(anon).toMatch(/^[0-9a-f]{64}$/);

    const declined = await e.cli(["volume", "prune"], { stdin: "no\n" });
    expect(declined.stdout).toBe(
      "WARNING! This will remove anonymous local volumes not used by at least one container.\n" +
        "Are you sure you want to continue? [y/N] \n",
    );
    const pruned = await e.cli(["volume", "prune"], { stdin: "y\n" });
    expect(pruned.code).toBe(0);
    expect(pruned.stdout).toMatch(
      new RegExp(`\\[y/N\\] Deleted Volumes:\\n${anon}\\n\\nTotal reclaimed space: \\d+(\\.\\d+)?k?B\\n$`),
    );
    expect((await e.cli(["volume", "ls", "-q"])).stdout).toBe("named\n");
    expect((await e.cli(["volume", "prune", "-f", "-a"])).stdout).toBe(
      "Deleted Volumes:\nnamed\n\nTotal reclaimed space: 0B\n",
    );
    expect((await e.cli(["volume", "ls", "-q"])).stdout).toBe("");
  });
});
