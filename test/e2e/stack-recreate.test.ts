/**
 * What `up` does when it recreates a service's containers, on the real embedded engine through the
 * engine's stack service: an image loaded again under the same tag is rolled out, and the containers'
 * anonymous volumes survive the replacement unless they are renewed (`up -V`). One fixture folder per
 * scenario under fixtures/.
 */
import { describe, expect, it } from "vitest";
import type { EngineStacks } from "../../src/reconciler/engine-stacks.js";
import type { EmbeddedRuntime } from "../../src/runtime/embedded.js";
import { addTestImage, canRunContainers, eventually, useEngines } from "../helpers/engine.js";
import { applied, request, sh, useStacks } from "./helpers.js";

const engines = useEngines();
const stacksOn = useStacks();

/** The name of the volume the container mounts at `target`. */
async function volumeAt(engine: EmbeddedRuntime, container: string, target: string): Promise<string> {
  const info = await engine.getContainer(container).inspect();
  const name = info.Mounts.find((m) => m.Type === "volume" && m.Destination === target)?.Name;
  if (name === undefined) throw new Error(`${container} mounts no volume at ${target}`);
  return name;
}

async function volumeNames(engine: EmbeddedRuntime): Promise<string[]> {
  return (await engine.listVolumes()).Volumes.map((v) => v.Name).sort();
}

/** `down -v`, then nothing of the stack remains: no container, no volume (anonymous ones included). */
async function takeDown(stacks: EngineStacks, engine: EmbeddedRuntime, name: string): Promise<void> {
  expect(await stacks.down(name, { volumes: true, timeout: 1 })).toEqual({ ok: true, errors: [] });
  expect(await engine.listContainers({ all: true })).toEqual([]);
  expect(await volumeNames(engine)).toEqual([]);
}

const short = (id: string): string => id.slice(0, "sha256:".length + 12);

describe.skipIf(!canRunContainers)("recreating a stack's containers", () => {
  it("recreates a service whose image was loaded again under the same tag, and then leaves it alone", async () => {
    const { root, engine } = await engines();
    const first = await addTestImage(root, "tsstack.local/hello:1");
    const stacks = await stacksOn(root, engine);
    const req = request("stack-image-changed");
    expect((await applied(stacks, "retag", req)).result).toEqual({ ok: true, errors: [] });
    const before = await engine.getContainer("retag-app-1").inspect();
    expect(before.Image).toBe(first);

    const second = await addTestImage(root, "tsstack.local/hello:1", { labels: { build: "2" } });
    expect(second).not.toBe(first);
    expect((await stacks.plan("retag", req)).text).toBe(
      `#1 container:app.1 recreate (image tsstack.local/hello:1 changed: ${short(first)} → ${short(second)})`,
    );
    expect((await applied(stacks, "retag", req)).result).toEqual({ ok: true, errors: [] });
    const after = await eventually(
      async () => {
        const c = await engine.getContainer("retag-app-1").inspect();
        return c.State.Running ? c : undefined;
      },
      { what: "retag-app-1 running again" },
    );
    expect(after.Id).not.toBe(before.Id);
    expect(after.Image).toBe(second);
    expect(after.Config.Labels["com.docker.compose.image"]).toBe(second);

    const again = await applied(stacks, "retag", req);
    expect(again.result.ok).toBe(true);
    expect(again.progress).toEqual([{ type: "plan", text: "" }]);
    expect((await engine.getContainer("retag-app-1").inspect()).Id).toBe(after.Id);
    await takeDown(stacks, engine, "retag");
  });

  it("keeps a recreated container's anonymous volume, and gives it a fresh one with renewAnonVolumes", async () => {
    const { root, engine } = await engines();
    const stacks = await stacksOn(root, engine);
    expect((await applied(stacks, "anon", request("stack-anon-volume"))).result.ok).toBe(true);
    expect(await sh(engine, "anon-app-1", "echo kept > /data/kept.txt")).toBe(0);
    const volume = await volumeAt(engine, "anon-app-1", "/data");
    const firstId = (await engine.getContainer("anon-app-1").inspect()).Id;

    const changed = request("stack-anon-volume", {}, ["changed.yml"]);
    expect((await stacks.plan("anon", changed)).text).toMatch(
      /container:app\.1 recreate .* keep-volumes \/data$/,
    );
    expect((await applied(stacks, "anon", changed)).result).toEqual({ ok: true, errors: [] });
    const secondId = (await engine.getContainer("anon-app-1").inspect()).Id;
    expect(secondId).not.toBe(firstId);
    expect(await volumeAt(engine, "anon-app-1", "/data")).toBe(volume);
    expect(await sh(engine, "anon-app-1", "grep -qx kept /data/kept.txt")).toBe(0);
    expect(await volumeNames(engine)).toEqual([volume]);

    const renewed = request("stack-anon-volume", { renewAnonVolumes: true }, ["changed-again.yml"]);
    expect((await stacks.plan("anon", renewed)).text).toMatch(/container:app\.1 recreate .* renew-volumes$/);
    expect((await applied(stacks, "anon", renewed)).result).toEqual({ ok: true, errors: [] });
    expect((await engine.getContainer("anon-app-1").inspect()).Id).not.toBe(secondId);
    const fresh = await volumeAt(engine, "anon-app-1", "/data");
    expect(fresh).not.toBe(volume);
    expect(await sh(engine, "anon-app-1", "test -e /data/kept.txt")).toBe(1);
    // The old volume went with the old container.
    expect(await volumeNames(engine)).toEqual([fresh]);
    // Spent with that apply: the same spec again changes nothing.
    const again = await applied(stacks, "anon", request("stack-anon-volume", {}, ["changed-again.yml"]));
    expect(again.progress).toEqual([{ type: "plan", text: "" }]);
    await takeDown(stacks, engine, "anon");
  });

  it("keeps the anonymous volume through a start-first replacement, where both containers share it", async () => {
    const { root, engine } = await engines();
    const stacks = await stacksOn(root, engine);
    expect((await applied(stacks, "anonroll", request("stack-anon-volume-start-first"))).result.ok).toBe(
      true,
    );
    expect(await sh(engine, "anonroll-app-1", "echo kept > /data/kept.txt")).toBe(0);
    const volume = await volumeAt(engine, "anonroll-app-1", "/data");

    const changed = request("stack-anon-volume-start-first", {}, ["changed.yml"]);
    expect((await stacks.plan("anonroll", changed)).text).toMatch(
      /container:app\.1 recreate start-first .* keep-volumes \/data$/,
    );
    expect((await applied(stacks, "anonroll", changed)).result).toEqual({ ok: true, errors: [] });
    expect((await engine.listContainers({ all: true })).map((c) => c.Names[0])).toEqual(["/anonroll-app-1"]);
    expect(await volumeAt(engine, "anonroll-app-1", "/data")).toBe(volume);
    expect(await sh(engine, "anonroll-app-1", "grep -qx kept /data/kept.txt")).toBe(0);

    const renewed = request("stack-anon-volume-start-first", { renewAnonVolumes: true }, [
      "changed-again.yml",
    ]);
    expect((await applied(stacks, "anonroll", renewed)).result).toEqual({ ok: true, errors: [] });
    const fresh = await volumeAt(engine, "anonroll-app-1", "/data");
    expect(fresh).not.toBe(volume);
    expect(await sh(engine, "anonroll-app-1", "test -e /data/kept.txt")).toBe(1);
    expect(await volumeNames(engine)).toEqual([fresh]);
    await takeDown(stacks, engine, "anonroll");
  });
});
