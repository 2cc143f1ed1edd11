/**
 * The engine on the cgroup v2 (unified) hierarchy. This VM mounts cgroup v1, with an empty cgroup2
 * at /sys/fs/cgroup/unified: a daemon started in a private mount namespace where that cgroup2 is
 * mounted at /sys/fs/cgroup sees a v2 host, as runc inside it does. Containers then run in v2
 * cgroups, pause freezes through cgroup.freeze, stats read cpu.stat, and exits remove the cgroups.
 * The controllers (memory, pids, cpu) stay bound to the v1 hierarchies on this machine, so limits
 * cannot be shown on v2 here: a limit whose controller is missing is refused, saying which. On a v2 host every other test
 * already runs on v2, and this one is skipped.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { addTestImage, canRunContainers, eventually, runcContainers } from "../helpers/engine.js";
import { useTmpDirs } from "../helpers/tmp.js";
import { BIN, connected } from "./helpers.js";

const UNIFIED = "/sys/fs/cgroup/unified";
const hybrid =
  !existsSync("/sys/fs/cgroup/cgroup.controllers") && existsSync(join(UNIFIED, "cgroup.controllers"));
const built = existsSync(BIN) && existsSync(new URL("../../dist/cli/main.js", import.meta.url));
const tmp = useTmpDirs("tsstack-e2e-cgv2-");

const daemons: ChildProcess[] = [];
afterEach(() => {
  for (const d of daemons.splice(0)) if (d.exitCode === null && d.signalCode === null) d.kill("SIGKILL");
});

/** `tsstack daemon` in a private mount namespace whose /sys/fs/cgroup is the cgroup2 hierarchy. */
function startV2Daemon(root: string, socket: string): ChildProcess {
  const log = openSync(join(root, "daemon.log"), "a");
  const d = spawn(
    "unshare",
    [
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      'mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec "$@"',
      "sh",
      process.execPath,
      BIN,
      "daemon",
      "--root",
      root,
      "--socket",
      socket,
      "--run-root",
      join(root, "run"),
    ],
    { stdio: ["ignore", log, log] },
  );
  daemons.push(d);
  return d;
}

/** The container's cgroup v2 path (the `0::` line of /proc/<pid>/cgroup), as the host sees it. */
function v2CgroupOf(pid: number): string {
  const line = readFileSync(`/proc/${pid}/cgroup`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("0::"));
  return join(UNIFIED, line?.slice(3) ?? "/");
}

describe.skipIf(!canRunContainers || !built || !hybrid)("the engine on cgroup v2", () => {
  it("runs, pauses, measures and cleans up containers in v2 cgroups", async () => {
    const root = await tmp();
    const socket = join(root, "engine.sock");
    await addTestImage(root);
    const daemon = startV2Daemon(root, socket);
    const client = await connected(socket);
    const seen: { parent?: string } = {};
    try {
      const c = await client.createContainer({ Image: "busybox:latest", Cmd: ["sleep", "300"] });
      await c.start();
      const { State, Id } = await c.inspect();
      expect(State.Status).toBe("running");
      // In its own v2 cgroup, <parent>/<id>, which holds the container's init.
      const cgroup = v2CgroupOf(State.Pid);
      expect(cgroup.endsWith(`/${Id}`)).toBe(true);
      seen.parent = join(cgroup, "..");
      expect(readFileSync(join(cgroup, "cgroup.procs"), "utf8").split("\n")).toContain(String(State.Pid));

      // pause/unpause: the v2 freezer.
      await c.pause();
      expect(readFileSync(join(cgroup, "cgroup.freeze"), "utf8").trim()).toBe("1");
      expect((await c.inspect()).State).toMatchObject({ Status: "paused", Paused: true });
      await c.unpause();
      expect(readFileSync(join(cgroup, "cgroup.freeze"), "utf8").trim()).toBe("0");

      // stats from cpu.stat (the v2 file; v1 reads cpuacct.usage).
      const p = await c.exec({ Cmd: ["sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"] });
      p.stdin.end();
      expect(await p.exit).toBe(0);
      const usageUsec = Number(
        /^usage_usec (\d+)$/m.exec(readFileSync(join(cgroup, "cpu.stat"), "utf8"))?.[1],
      );
      const stats = await c.stats();
      expect(stats.cpu_stats.cpu_usage.total_usage).toBeGreaterThan(0);
      expect(stats.cpu_stats.cpu_usage.total_usage).toBeLessThanOrEqual((usageUsec + 1_000_000) * 1000);

      // The exit releases the cgroup.
      await c.stop({ t: 1 });
      expect((await c.inspect()).State.Status).toBe("exited");
      await eventually(() => !existsSync(cgroup), { what: `removal of ${cgroup}` });

      // A limit needs a controller this hierarchy lacks here: refused with the reason, nothing left.
      const limited = await client.createContainer({
        Image: "busybox:latest",
        Cmd: ["true"],
        HostConfig: { PidsLimit: 10 },
      });
      const refused = await limited.start().catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(Error);
      expect((refused as Error).message).toMatch(
        /^starting container \S+: its limits need the cgroup v2 controller "pids", which this host's \/sys\/fs\/cgroup does not offer \(it has: [^)]*\); enable it/,
      );
      expect((await limited.inspect()).State.Status).not.toBe("running");

      await c.remove();
      await limited.remove({ force: true });
    } finally {
      client.close();
      daemon.kill("SIGTERM");
      await eventually(() => daemon.exitCode !== null || daemon.signalCode !== null, {
        what: "the daemon to stop",
      });
    }
    expect(runcContainers(join(root, "run"))).toEqual([]);
    // The closed engine removed its parent cgroup too.
    expect(seen.parent).toBeDefined();
    expect(existsSync(seen.parent ?? "")).toBe(false);
  });
});
