/**
 * Stacks on the real embedded engine, through the engine's stack service (the reconcile loop, the
 * planner and the applier together): one fixture folder per scenario under fixtures/stack-*.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { StackProgress } from "../../src/api/stack-types.js";
import { LABEL_PROJECT } from "../../src/reconciler/labels.js";
import type { EmbeddedRuntime } from "../../src/runtime/embedded.js";
import { canRunContainers, eventually, useEngines } from "../helpers/engine.js";
import { applied, FIXTURES, request, useStacks } from "./helpers.js";

const HEALTHCHECKS = existsSync(
  fileURLToPath(new URL("../../src/runtime/containers/health.ts", import.meta.url)),
);

const engines = useEngines();
const stacksOn = useStacks();

/** name → id, state of the project's containers. */
async function containersOf(
  engine: EmbeddedRuntime,
  project: string,
): Promise<Map<string, { id: string; state: string }>> {
  const list = await engine.listContainers({
    all: true,
    filters: { label: [`${LABEL_PROJECT}=${project}`] },
  });
  return new Map(list.map((c) => [(c.Names[0] ?? "").replace(/^\//, ""), { id: c.Id, state: c.State }]));
}

describe.skipIf(!canRunContainers)("stacks on the embedded engine", () => {
  it("brings a stack up as <project>-<service>-<n>, and a second apply with no change touches nothing", async () => {
    const { root, engine } = await engines();
    const stacks = await stacksOn(root, engine);
    const first = await applied(stacks, "idem", request("stack-idempotent"));
    expect(first.result).toEqual({ ok: true, errors: [] });
    expect(first.progress[0]).toMatchObject({ type: "plan" });
    const before = await containersOf(engine, "idem");
    expect([...before.keys()].sort()).toEqual(["idem-app-1", "idem-db-1"]);
    expect([...before.values()].map((c) => c.state)).toEqual(["running", "running"]);

    const second = await applied(stacks, "idem", request("stack-idempotent"));
    expect(second.result.ok).toBe(true);
    expect(second.progress).toEqual([{ type: "plan", text: "" }]);
    expect(await containersOf(engine, "idem")).toEqual(before);
    expect((await stacks.plan("idem", request("stack-idempotent"))).text).toBe("");
    const status = await stacks.status("idem");
    expect(status.state).toBe("idle");
    expect(status.services.map((s) => [s.name, s.desiredReplicas, s.containers.length])).toEqual([
      ["db", 1, 1],
      ["app", 1, 1],
    ]);
    expect(await stacks.list()).toEqual([
      { Name: "idem", Status: "running(2)", ConfigFiles: join(FIXTURES, "stack-idempotent", "stack.yml") },
    ]);
  });

  it("recreates only the service whose config changed", async () => {
    const { root, engine } = await engines();
    const stacks = await stacksOn(root, engine);
    expect((await stacks.apply("change", request("stack-change-one"))).ok).toBe(true);
    const before = await containersOf(engine, "change");

    const changed = request("stack-change-one", {}, ["changed.yml"]);
    const planned = await stacks.plan("change", changed);
    expect(planned.operations.map((o) => `${o.target} ${o.kind}`)).toEqual(["container:app.1 recreate"]);
    const { result } = await applied(stacks, "change", changed);
    expect(result).toEqual({ ok: true, errors: [] });
    const after = await containersOf(engine, "change");
    expect(after.get("change-db-1")).toEqual(before.get("change-db-1"));
    expect(after.get("change-app-1")?.id).not.toBe(before.get("change-app-1")?.id);
    expect(after.get("change-app-1")?.state).toBe("running");
    expect(after.size).toBe(2);
    const env = (await engine.getContainer("change-app-1").inspect()).Config.Env;
    expect(env).toContain("VERSION=2");
  });

  it("scales 1 → 3 → 1, keeping the lowest-numbered replica", async () => {
    const { root, engine } = await engines();
    const stacks = await stacksOn(root, engine);
    expect((await stacks.apply("scale", request("stack-scale"))).ok).toBe(true);
    const one = await containersOf(engine, "scale");
    expect([...one.keys()]).toEqual(["scale-web-1"]);

    expect((await stacks.apply("scale", request("stack-scale", { scale: { web: 3 } }))).ok).toBe(true);
    const three = await containersOf(engine, "scale");
    expect([...three.keys()].sort()).toEqual(["scale-web-1", "scale-web-2", "scale-web-3"]);
    expect(three.get("scale-web-1")).toEqual(one.get("scale-web-1"));

    expect((await stacks.apply("scale", request("stack-scale", { scale: { web: 1 } }))).ok).toBe(true);
    expect(await containersOf(engine, "scale")).toEqual(one);
  });

  it.skipIf(!HEALTHCHECKS)(
    "starts a service_healthy dependent only once its dependency is healthy",
    async () => {
      const { root, engine } = await engines();
      const stacks = await stacksOn(root, engine);
      const { result, progress } = await applied(stacks, "healthy", request("stack-healthy-dependency"));
      expect(result).toEqual({ ok: true, errors: [] });
      expect(progress).toContainEqual(
        expect.objectContaining({
          type: "op",
          status: "waiting",
          message: "waiting for db (service_healthy)",
        }),
      );
      const db = await engine.getContainer("healthy-db-1").inspect();
      const app = await engine.getContainer("healthy-app-1").inspect();
      expect(db.State.Health?.Status).toBe("healthy");
      expect(app.State.Running).toBe(true);
      // db creates its ready file 2 s after it starts.
      expect(Date.parse(app.State.StartedAt) - Date.parse(db.State.StartedAt)).toBeGreaterThanOrEqual(1900);
    },
  );

  it("replaces replicas start-first and leaves them under their final names", async () => {
    const { root, engine } = await engines();
    const stacks = await stacksOn(root, engine);
    expect((await stacks.apply("rolling", request("stack-start-first"))).ok).toBe(true);
    const before = await containersOf(engine, "rolling");

    const changed = request("stack-start-first", {}, ["changed.yml"]);
    expect((await stacks.plan("rolling", changed)).text).toMatch(
      /container:web\.1 recreate start-first .* batch 1/,
    );
    const { result } = await applied(stacks, "rolling", changed);
    expect(result).toEqual({ ok: true, errors: [] });
    const after = await containersOf(engine, "rolling");
    expect([...after.keys()].sort()).toEqual(["rolling-web-1", "rolling-web-2"]);
    for (const [name, c] of after) {
      expect(c.state).toBe("running");
      expect(c.id).not.toBe(before.get(name)?.id);
    }
    expect((await stacks.plan("rolling", changed)).text).toBe("");
  });

  it("creates the stack's network and volume, and down -v removes them", async () => {
    const { root, engine } = await engines();
    const stacks = await stacksOn(root, engine);
    const { result } = await applied(stacks, "netapp", request("stack-network"));
    expect(result).toEqual({ ok: true, errors: [] });
    const filters = { label: [`${LABEL_PROJECT}=netapp`] };
    expect((await engine.listNetworks({ filters })).map((n) => n.Name)).toEqual(["netapp_default"]);
    expect((await engine.listVolumes({ filters })).Volumes.map((v) => v.Name)).toEqual(["netapp_data"]);
    expect((await applied(stacks, "netapp", request("stack-network"))).progress).toEqual([
      { type: "plan", text: "" },
    ]);

    expect(await stacks.down("netapp", { volumes: true, timeout: 1 })).toEqual({ ok: true, errors: [] });
    expect(await engine.listNetworks({ filters })).toEqual([]);
    expect((await engine.listVolumes({ filters })).Volumes).toEqual([]);
  });

  it("takes a stack down: no labelled container remains and the spec is forgotten", async () => {
    const { root, engine } = await engines();
    const stacks = await stacksOn(root, engine);
    expect((await stacks.apply("downapp", request("stack-down"))).ok).toBe(true);
    expect((await containersOf(engine, "downapp")).size).toBe(3);

    const progress: StackProgress[] = [];
    const result = await stacks.down("downapp", { timeout: 1 }, (p) => progress.push(p));
    expect(result).toEqual({ ok: true, errors: [] });
    expect(progress.filter((p) => p.type === "op" && p.status === "done").length).toBeGreaterThanOrEqual(3);
    expect((await containersOf(engine, "downapp")).size).toBe(0);
    expect(existsSync(join(root, "stacks", "downapp.json"))).toBe(false);
    expect(await stacks.list()).toEqual([]);
    await expect(stacks.status("downapp")).rejects.toMatchObject({ code: "stack/not-found" });
  });

  it("turns degraded, changing nothing, when a service's image is not in the store", async () => {
    const { root, engine } = await engines();
    const stacks = await stacksOn(root, engine);
    const { result } = await applied(stacks, "missing", request("stack-missing-image"));
    expect(result.ok).toBe(false);
    expect(result.errors[0]).toMatch(
      /service ghost: image no-such-image:1.0 is not in the engine's image store/,
    );
    expect((await containersOf(engine, "missing")).size).toBe(0);
    expect((await stacks.status("missing")).state).toBe("degraded");
  });

  it("brings back a replica removed behind its back, and resumes a stored stack after a restart", async () => {
    const { root, engine } = await engines();
    const stacks = await stacksOn(root, engine);
    expect((await stacks.apply("heals", request("stack-heals"))).ok).toBe(true);
    const removed = (await containersOf(engine, "heals")).get("heals-web-2");
    await engine.getContainer("heals-web-2").remove({ force: true });
    await eventually(
      async () => {
        const c = (await containersOf(engine, "heals")).get("heals-web-2");
        return c !== undefined && c.id !== removed?.id && c.state === "running";
      },
      { what: "heals-web-2 recreated by the loop" },
    );

    // A new engine-stacks on the same root (a daemon restart) picks the stored spec up again.
    await stacks.close();
    const again = await stacksOn(root, engine);
    await engine.getContainer("heals-web-1").remove({ force: true });
    await eventually(
      async () => (await containersOf(engine, "heals")).get("heals-web-1")?.state === "running",
      {
        what: "heals-web-1 recreated by the resumed loop",
      },
    );
    expect((await again.status("heals")).state).toMatch(/idle|observing|planning|applying/);
  });
});
