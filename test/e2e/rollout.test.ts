/**
 * Rolling updates on the real embedded engine (`deploy.update_config`, `rollback_config`), through the
 * engine's stack service: gated on health, watched for `monitor`, paused or rolled back on failure. One
 * fixture folder per scenario under fixtures/rollout-*.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { LABEL_CONFIG_HASH, LABEL_PROJECT } from "../../src/reconciler/labels.js";
import type { EmbeddedRuntime } from "../../src/runtime/embedded.js";
import { serviceConfigHash } from "../../src/spec/canonical.js";
import { canRunContainers, eventually, useEngines } from "../helpers/engine.js";
import { request, useStacks } from "./helpers.js";

const HEALTHCHECKS = existsSync(
  fileURLToPath(new URL("../../src/runtime/containers/health.ts", import.meta.url)),
);

const engines = useEngines();
const stacksOn = useStacks();

interface Seen {
  readonly name: string;
  readonly id: string;
  readonly running: boolean;
  readonly health: string | undefined;
  readonly hash: string | undefined;
  readonly env: readonly string[];
}

/** Every container of the project, inspected, by name. */
async function inspectAll(engine: EmbeddedRuntime, project: string): Promise<Map<string, Seen>> {
  const list = await engine.listContainers({
    all: true,
    filters: { label: [`${LABEL_PROJECT}=${project}`] },
  });
  const out = new Map<string, Seen>();
  for (const c of list) {
    const info = await engine
      .getContainer(c.Id)
      .inspect()
      .catch(() => undefined); // removed between list and inspect
    if (info === undefined) continue;
    const name = info.Name.replace(/^\//, "");
    out.set(name, {
      name,
      id: info.Id,
      running: info.State.Running,
      health: info.State.Health?.Status,
      hash: info.Config.Labels[LABEL_CONFIG_HASH],
      env: info.Config.Env,
    });
  }
  return out;
}

function healthyCount(seen: Map<string, Seen>): number {
  return [...seen.values()].filter((c) => c.running && c.health === "healthy").length;
}

async function allHealthy(engine: EmbeddedRuntime, project: string, n: number): Promise<Map<string, Seen>> {
  return eventually(
    async () => {
      const seen = await inspectAll(engine, project);
      return seen.size === n && healthyCount(seen) === n ? seen : undefined;
    },
    { what: `${String(n)} healthy replicas of ${project}` },
  );
}

describe.skipIf(!canRunContainers || !HEALTHCHECKS)("rolling updates on the embedded engine", () => {
  it("replaces 3 replicas start-first one at a time, never with fewer than 3 healthy", async () => {
    const { root, engine } = await engines();
    const stacks = await stacksOn(root, engine);
    expect((await stacks.apply("rollfirst", request("rollout-start-first"))).ok).toBe(true);
    const before = await allHealthy(engine, "rollfirst", 3);

    const changed = request("rollout-start-first", {}, ["changed.yml"]);
    let min = Number.POSITIVE_INFINITY;
    let polls = 0;
    const poll = { on: true };
    const poller = (async () => {
      while (poll.on) {
        min = Math.min(min, healthyCount(await inspectAll(engine, "rollfirst")));
        polls++;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const result = await stacks.apply("rollfirst", changed);
    poll.on = false;
    await poller;

    expect(result).toEqual({ ok: true, errors: [] });
    expect(polls).toBeGreaterThan(10);
    expect(min).toBeGreaterThanOrEqual(3);
    const after = await allHealthy(engine, "rollfirst", 3);
    expect([...after.keys()].sort()).toEqual(["rollfirst-web-1", "rollfirst-web-2", "rollfirst-web-3"]);
    const hash = serviceConfigHash(changed.spec, "web");
    for (const c of after.values()) {
      expect(c.id).not.toBe(before.get(c.name)?.id);
      expect(c.hash).toBe(hash);
      expect(c.env).toContain("VERSION=2");
    }
  });

  it("rolls a failing update back: the apply fails naming the service, and it ends on the old config", async () => {
    const { root, engine } = await engines();
    const stacks = await stacksOn(root, engine);
    const original = request("rollout-rollback");
    expect((await stacks.apply("rollback", original)).ok).toBe(true);
    const before = await allHealthy(engine, "rollback", 2);
    const oldHash = serviceConfigHash(original.spec, "web");
    expect([...before.values()].map((c) => c.hash)).toEqual([oldHash, oldHash]);

    const result = await stacks.apply("rollback", request("rollout-rollback", {}, ["changed.yml"]));
    expect(result.ok).toBe(false);
    expect(result.errors.join("\n")).toMatch(/service web: update failed: .*unhealthy.*rolled back/);

    const after = await allHealthy(engine, "rollback", 2);
    expect([...after.keys()].sort()).toEqual(["rollback-web-1", "rollback-web-2"]);
    for (const c of after.values()) {
      expect(c.hash).toBe(oldHash);
      expect(c.env).not.toContain("VERSION=2");
    }
    // The second replica never got the failing config.
    expect(after.get("rollback-web-2")?.id).toBe(before.get("rollback-web-2")?.id);
    const status = await stacks.status("rollback");
    expect(status.state).toBe("idle");
    expect(status.lastError).toMatch(/service web: update failed/);
    // The rolled-back spec is the stack's now: planning it changes nothing.
    expect((await stacks.plan("rollback", original)).text).toBe("");
  });

  it("pauses a failing update: the remaining old replicas are left untouched", async () => {
    const { root, engine } = await engines();
    const stacks = await stacksOn(root, engine);
    const original = request("rollout-pause");
    expect((await stacks.apply("rollpause", original)).ok).toBe(true);
    const before = await allHealthy(engine, "rollpause", 3);

    const changed = request("rollout-pause", {}, ["changed.yml"]);
    const result = await stacks.apply("rollpause", changed);
    expect(result.ok).toBe(false);
    expect(result.errors.join("\n")).toMatch(/service web: update failed: .*unhealthy/);

    const status = await stacks.status("rollpause");
    expect(status.state).toBe("degraded");
    expect(status.lastError).toMatch(/service web: update failed/);
    const after = await inspectAll(engine, "rollpause");
    expect([...after.keys()].sort()).toEqual(["rollpause-web-1", "rollpause-web-2", "rollpause-web-3"]);
    // The first batch was replaced (and stays, failed); the others were not touched.
    expect(after.get("rollpause-web-1")?.hash).toBe(serviceConfigHash(changed.spec, "web"));
    for (const name of ["rollpause-web-2", "rollpause-web-3"]) {
      expect(after.get(name)?.id).toBe(before.get(name)?.id);
      expect(after.get(name)?.hash).toBe(serviceConfigHash(original.spec, "web"));
      expect(after.get(name)?.health).toBe("healthy");
    }
  });

  it("goes on through failures with failure_action continue: every replica gets the new config", async () => {
    const { root, engine } = await engines();
    const stacks = await stacksOn(root, engine);
    expect((await stacks.apply("rollcont", request("rollout-continue"))).ok).toBe(true);
    const before = await allHealthy(engine, "rollcont", 2);

    const changed = request("rollout-continue", {}, ["changed.yml"]);
    const failed: string[] = [];
    const result = await stacks.apply("rollcont", changed, (p) => {
      if (p.type === "op" && p.status === "failed") failed.push(p.target);
    });
    expect(result).toEqual({ ok: true, errors: [] });
    // Both replacements failed their watch, the first did not stop the second.
    expect(failed).toEqual(["container:web.1", "container:web.2"]);
    const after = await inspectAll(engine, "rollcont");
    for (const c of after.values()) {
      expect(c.id).not.toBe(before.get(c.name)?.id);
      expect(c.hash).toBe(serviceConfigHash(changed.spec, "web"));
    }
  });
});
