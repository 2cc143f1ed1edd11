/**
 * The start and exit fast paths of the embedded runtime, against real runc and conmon: create and
 * start in one runc call, runc's state and cgroups released without `runc delete`, removed containers'
 * files deleted from the trash in the background.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { processStartTime, releaseExited } from "../../../src/runtime/containers/conmon.js";
import { EmbeddedRuntime } from "../../../src/runtime/embedded.js";
import { canRunContainers, eventually, logText, RUNC, useEngines } from "../../helpers/engine.js";

const engines = useEngines();
const cgroupV2 = existsSync("/sys/fs/cgroup/cgroup.controllers");

/** The container's cgroup directories that exist (v1: one per controller; v2: one). */
function cgroupDirs(parent: string, id: string): string[] {
  if (cgroupV2) return [join("/sys/fs/cgroup", parent, id)].filter((p) => existsSync(p));
  return readdirSync("/sys/fs/cgroup")
    .map((controller) => join("/sys/fs/cgroup", controller, parent, id))
    .filter((p) => existsSync(p));
}

describe.skipIf(!canRunContainers)("embedded runtime: releasing exited containers", () => {
  it("an exit releases runc's state and every cgroup of the container, and it starts again", async () => {
    const cgroupParent = `tsstack-test-${randomBytes(4).toString("hex")}`;
    const { engine, runRoot } = await engines({ cgroupParent });
    const c = await engine.createContainer({
      Image: "busybox:latest",
      Cmd: ["sh", "-c", "echo run; while [ ! -e /tmp/go ]; do sleep 0.05; done; rm /tmp/go; exit 5"],
    });
    await c.start();
    // While it runs, runc has made its cgroups (one per controller on v1); the exit removes them all.
    expect(cgroupDirs(cgroupParent, c.id).length).toBeGreaterThan(0);
    expect(await (await c.exec({ Cmd: ["touch", "/tmp/go"] })).exit).toBe(0);
    expect(await c.wait()).toEqual({ StatusCode: 5 });
    await eventually(
      () => !existsSync(join(runRoot, "runc", c.id)) && cgroupDirs(cgroupParent, c.id).length === 0,
      {
        what: "runc state and cgroups released",
      },
    );
    await c.start();
    expect(await (await c.exec({ Cmd: ["touch", "/tmp/go"] })).exit).toBe(0);
    expect(await c.wait()).toEqual({ StatusCode: 5 });
    expect(await logText(engine, c.id)).toBe("run\nrun\n");
    await c.remove();
    await engine.close();
    expect(cgroupDirs(cgroupParent, c.id)).toEqual([]);
    // The engine's own parent cgroup goes with its last container.
    const parents = cgroupV2
      ? [join("/sys/fs/cgroup", cgroupParent)]
      : readdirSync("/sys/fs/cgroup").map((controller) => join("/sys/fs/cgroup", controller, cgroupParent));
    expect(parents.filter((p) => existsSync(p))).toEqual([]);
  });

  it("records the init's start time as runc saw it, which is what /proc says of the pid", async () => {
    const { engine, root } = await engines();
    const c = await engine.createContainer({ Image: "busybox:latest", Cmd: ["sleep", "300"] });
    await c.start();
    const { State } = await c.inspect();
    const rec = JSON.parse(readFileSync(join(root, "containers", c.id, "container.json"), "utf8")) as {
      state: { pid: number; pidStart?: string };
    };
    expect(rec.state.pid).toBe(State.Pid);
    expect(rec.state.pidStart).toMatch(/^\d+$/);
    expect(rec.state.pidStart).toBe(await processStartTime(State.Pid));
  });

  it("falls back to runc delete --force when the cgroup still holds a process", async () => {
    const { engine, runRoot } = await engines();
    const c = await engine.createContainer({ Image: "busybox:latest", Cmd: ["sleep", "300"] });
    await c.start();
    expect((await c.inspect()).State.Running).toBe(true);
    // The container's cgroup is busy: the rmdir fails, runc delete --force kills and releases it.
    await releaseExited(RUNC ?? "runc", join(runRoot, "runc"), c.id);
    expect(existsSync(join(runRoot, "runc", c.id))).toBe(false);
    await eventually(async () => (await c.inspect()).State.Status === "exited", { what: "exit recorded" });
    expect((await c.inspect()).State.ExitCode).toBe(137);
  });

  it("never removes a directory outside the cgroup file system that a state file names", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tsstack-release-"));
    const id = randomBytes(32).toString("hex");
    const victim = join(dir, `victim-${id}`);
    mkdirSync(victim);
    mkdirSync(join(dir, "runc", id), { recursive: true });
    writeFileSync(join(dir, "runc", id, "state.json"), JSON.stringify({ cgroup_paths: { memory: victim } }));
    // Not a state runc itself wrote: handed to runc, which refuses it; nothing is removed.
    try {
      await expect(releaseExited(RUNC ?? "runc", join(dir, "runc"), id)).rejects.toThrow(
        /runc delete failed/,
      );
      expect(existsSync(victim)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!canRunContainers)("embedded runtime: removal", () => {
  it("a removed container's files leave its directory at once and the trash empties", async () => {
    const { engine, root } = await engines();
    const c = await engine.createContainer({ Image: "busybox:latest", Cmd: ["sh", "-c", "echo x > /big"] });
    await c.start();
    await c.wait();
    await c.remove();
    expect(existsSync(join(root, "containers", c.id))).toBe(false);
    await eventually(() => readdirSync(join(root, "trash")).length === 0, { what: "trash emptied" });
  });

  it("an engine opened after a crash empties the trash it left", async () => {
    const { engine, root, runRoot } = await engines();
    await engine.close();
    const left = join(root, "trash", `${"a".repeat(64)}-0000`);
    mkdirSync(join(left, "upper", "deep"), { recursive: true });
    writeFileSync(join(left, "upper", "deep", "file"), "x");
    const again = await EmbeddedRuntime.open({ root, runRoot, exitPollMs: 200 });
    await again.close(); // waits for the trash
    expect(readdirSync(join(root, "trash"))).toEqual([]);
  });
});
