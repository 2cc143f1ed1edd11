/**
 * What `up` does when a stack's network or volume definition changes, on the real embedded engine
 * through the engine's stack service: a changed network is recreated with the containers on it (as
 * docker compose does since compose#12267); a changed volume is kept with its data, with a warning. One
 * fixture folder per scenario under fixtures/.
 */
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import type { EngineStacks } from "../../src/reconciler/engine-stacks.js";
import { LABEL_CONFIG_HASH, LABEL_PROJECT } from "../../src/reconciler/labels.js";
import type { EmbeddedRuntime } from "../../src/runtime/embedded.js";
import { canRunContainers, eventually, useEngines } from "../helpers/engine.js";
import { applied, request, sh, useStacks } from "./helpers.js";

const engines = useEngines();
const stacksOn = useStacks();

function bridgeExists(name: string): boolean {
  try {
    execFileSync("ip", ["link", "show", name], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

function iptablesMention(name: string): string[] {
  return execFileSync("iptables-save", { encoding: "utf8" })
    .split("\n")
    .filter((l) => l.includes(name));
}

/**
 * `down -v`, then nothing of the stack remains: no container, network, volume, nor the bridges and
 * iptables rules of the networks it had.
 */
async function takeDown(
  stacks: EngineStacks,
  engine: EmbeddedRuntime,
  name: string,
  bridges: readonly string[],
): Promise<void> {
  expect(await stacks.down(name, { volumes: true, timeout: 1 })).toEqual({ ok: true, errors: [] });
  const filters = { label: [`${LABEL_PROJECT}=${name}`] };
  expect(await engine.listContainers({ all: true })).toEqual([]);
  expect(await engine.listNetworks({ filters })).toEqual([]);
  expect((await engine.listVolumes()).Volumes).toEqual([]);
  for (const bridge of bridges) {
    expect(bridgeExists(bridge)).toBe(false);
    expect(iptablesMention(bridge)).toEqual([]);
  }
}

describe.skipIf(!canRunContainers)("changed network and volume definitions", () => {
  it("recreates a changed network with the container on it, and then plans nothing", async () => {
    const { root, engine } = await engines();
    const stacks = await stacksOn(root, engine);
    const bridges: string[] = [];
    const network = async () => {
      const n = await engine.inspectNetwork("netchg_back");
      const bridge = n.Options["com.docker.network.bridge.name"];
      if (bridge !== undefined && !bridges.includes(bridge)) bridges.push(bridge);
      return n;
    };
    try {
      expect((await applied(stacks, "netchg", request("stack-network-changed"))).result.ok).toBe(true);
      const before = await network();
      expect(before.Internal).toBe(false);
      expect(before.Labels[LABEL_CONFIG_HASH]).toMatch(/^[0-9a-f]{64}$/);
      const oldContainer = (await engine.getContainer("netchg-web-1").inspect()).Id;

      const changed = request("stack-network-changed", {}, ["internal.yml"]);
      const planned = await stacks.plan("netchg", changed);
      expect(planned.operations.map((o) => `${o.target} ${o.kind}`)).toEqual([
        "container:web.1 stop",
        "container:web.1 remove",
        "network:netchg_back remove-network",
        "network:netchg_back create-network",
        "container:web.1 create",
      ]);
      expect(planned.operations[0]?.reason).toMatch(
        /^network netchg_back changed: config hash [0-9a-f]{7} → [0-9a-f]{7}$/,
      );

      expect((await applied(stacks, "netchg", changed)).result).toEqual({ ok: true, errors: [] });
      const after = await network();
      expect(after.Id).not.toBe(before.Id);
      expect(after.Internal).toBe(true);
      expect(after.Labels[LABEL_CONFIG_HASH]).not.toBe(before.Labels[LABEL_CONFIG_HASH]);
      const web = await eventually(
        async () => {
          const info = await engine.getContainer("netchg-web-1").inspect();
          return info.State.Running ? info : undefined;
        },
        { what: "netchg-web-1 running again" },
      );
      expect(web.Id).not.toBe(oldContainer);
      expect(Object.keys(web.NetworkSettings.Networks)).toEqual(["netchg_back"]);
      expect(Object.keys((await network()).Containers)).toEqual([web.Id]);

      const again = await applied(stacks, "netchg", changed);
      expect(again.progress).toEqual([{ type: "plan", text: "" }]);
      expect((await stacks.plan("netchg", changed)).text).toBe("");
    } finally {
      await takeDown(stacks, engine, "netchg", bridges);
    }
  });

  it("keeps a changed volume and its data, and warns how to apply the change", async () => {
    const { root, engine } = await engines();
    const stacks = await stacksOn(root, engine);
    try {
      expect((await applied(stacks, "volchg", request("stack-volume-changed"))).result.ok).toBe(true);
      expect(await sh(engine, "volchg-app-1", "echo kept > /data/kept.txt")).toBe(0);
      const volume = await engine.inspectVolume("volchg_data");
      expect(volume.Labels[LABEL_CONFIG_HASH]).toMatch(/^[0-9a-f]{64}$/);
      const container = (await engine.getContainer("volchg-app-1").inspect()).Id;

      const changed = request("stack-volume-changed", {}, ["labelled.yml"]);
      const warning =
        "! volume volchg_data exists but does not match the stack file (labels +tier=db); it is kept with its data. To apply the change: tsstack down -v, then up (this deletes the volume's data)";
      const planned = await stacks.plan("volchg", changed);
      expect(planned.operations).toEqual([]);
      expect(planned.text).toBe(warning);

      const { result, progress } = await applied(stacks, "volchg", changed);
      expect(result).toEqual({ ok: true, errors: [] });
      expect(progress).toEqual([{ type: "plan", text: warning }]);
      expect(await engine.inspectVolume("volchg_data")).toEqual(volume);
      expect((await engine.getContainer("volchg-app-1").inspect()).Id).toBe(container);
      expect(await sh(engine, "volchg-app-1", "grep -qx kept /data/kept.txt")).toBe(0);
    } finally {
      await takeDown(stacks, engine, "volchg", []);
    }
  });
});
