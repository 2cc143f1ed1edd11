/**
 * HostHelper: mount(2)/umount2(2) through one long-lived helper. Calls reach the kernel as given
 * (flags, data, relative paths from `cwd`), failures carry their errno, requests sent together are
 * answered each in turn, and a helper that dies fails what it held and is replaced on the next call.
 */
import { execFileSync } from "node:child_process";
import { mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { HostHelper, MNT_DETACH, SyscallError } from "../../../src/common/host-helper.js";
import { isMountPoint } from "../../../src/runtime/containers/rootfs.js";
import { useTmpDirs } from "../../helpers/tmp.js";

const isRoot = process.getuid?.() === 0;
const tmp = useTmpDirs("tsstack-mount-syscalls-");

const helpers: HostHelper[] = [];
const mounted: string[] = [];
afterEach(async () => {
  for (const target of mounted.splice(0).reverse())
    if (await isMountPoint(target)) execFileSync("umount", ["-l", target]);
  for (const h of helpers.splice(0)) await h.close();
  // The supervisors the tests started (`sleep 29`) are gone with them.
  const left = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l === "sleep 29");
  expect(left).toEqual([]);
});

function helper(opts?: { timeoutMs?: number }): HostHelper {
  const h = new HostHelper(opts);
  helpers.push(h);
  return h;
}

/** The helpers this test process runs (its children). */
function helperPids(): number[] {
  try {
    return execFileSync(
      "pgrep",
      ["-P", String(process.pid), "-f", "import errno, json, os, sys, threading"],
      {
        encoding: "utf8",
      },
    )
      .split("\n")
      .filter((l) => l !== "")
      .map(Number);
  } catch {
    return [];
  }
}

describe.runIf(isRoot)("HostHelper", () => {
  it("mounts with the data given, relative lowerdirs from cwd, and unmounts", async () => {
    const d = await tmp();
    const h = helper();
    await Promise.all(["lower", "upper", "work", "merged"].map((n) => mkdir(join(d, n))));
    await writeFile(join(d, "lower", "f"), "from the lower layer\n");
    await mkdir(join(d, "links"));
    await symlink(join(d, "lower"), join(d, "links", "0"));
    const target = join(d, "merged");
    mounted.push(target);
    await h.mount("overlay", target, "overlay", `lowerdir=0,upperdir=${d}/upper,workdir=${d}/work`, {
      cwd: join(d, "links"),
    });
    expect(await isMountPoint(target)).toBe(true);
    expect(await readFile(join(target, "f"), "utf8")).toBe("from the lower layer\n");
    await h.umount(target);
    expect(await isMountPoint(target)).toBe(false);
  });

  it("fails with the errno and names the call; answers concurrent requests each in turn", async () => {
    const d = await tmp();
    const h = helper();
    const target = join(d, "t");
    await mkdir(target);
    mounted.push(target);
    const results = await Promise.allSettled([
      h.umount(target), // not a mount point
      h.mount("tmpfs", target, "tmpfs", "size=1m"),
      h.mount("none", join(d, "missing"), "tmpfs", ""),
      h.umount(target, MNT_DETACH),
    ]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "fulfilled", "rejected", "fulfilled"]);
    const [notMounted, , missing] = results as PromiseRejectedResult[];
    expect(notMounted?.reason).toBeInstanceOf(SyscallError);
    expect(notMounted?.reason).toMatchObject({
      errno: "EINVAL",
      message: `umount2(2) of ${target}: EINVAL (Invalid argument)`,
    });
    expect(missing?.reason).toMatchObject({ errno: "ENOENT" });
    // A failure of the helper itself is never taken for the kernel's answer (EINVAL: not mounted).
    await expect(h.umount(join(d, "\ud800"))).rejects.toMatchObject({
      errno: "EHELPER",
      message: expect.stringContaining("UnicodeEncodeError") as unknown as string,
    });
    expect((missing?.reason as Error).message).toContain(`mount(2) of tmpfs at ${join(d, "missing")}`);
    expect(await isMountPoint(target)).toBe(false);
  });

  it("replaces a helper that died, failing only what it held", async () => {
    const d = await tmp();
    const h = helper();
    const before = new Set(helperPids());
    await expect(h.umount(join(d, "x"))).rejects.toMatchObject({ errno: "ENOENT" });
    const mine = helperPids().filter((p) => !before.has(p));
    expect(mine).toHaveLength(1);
    process.kill(mine[0] ?? 0, "SIGKILL");
    // The next call starts a new helper.
    const target = join(d, "t");
    await mkdir(target);
    mounted.push(target);
    await expect(
      (async () => {
        for (let i = 0; ; i++) {
          try {
            await h.mount("tmpfs", target, "tmpfs", "size=1m");
            return;
          } catch (e) {
            // The kill may land while the call is in flight: that call fails with ECHILD, once.
            if (i > 0 || !(e instanceof SyscallError) || e.errno !== "ECHILD") throw e;
          }
        }
      })(),
    ).resolves.toBeUndefined();
    expect(await isMountPoint(target)).toBe(true);
    await h.umount(target);
    await h.close();
    expect(helperPids().filter((p) => !before.has(p))).toEqual([]);
  });

  it("starts a supervisor in its own session and hands back its first sync line and error output", async () => {
    const h = helper();
    const env = { PATH: "/usr/bin:/bin" };
    // conmon's protocol: the pid on the pipe named by _OCI_SYNCPIPE, then it runs on.
    const ok = await h.spawnSupervisor(
      ["/bin/sh", "-c", 'echo "{\\"data\\": $$}" >&$_OCI_SYNCPIPE; exec sleep 29'],
      { env, cwd: "/tmp", timeoutMs: 10_000 },
    );
    const pid = (JSON.parse(ok.sync) as { data: number }).data;
    try {
      expect(pid).toBeGreaterThan(0);
      expect(ok.pid).toBe(pid);
      const [sid, ppid] = execFileSync("ps", ["-o", "sid=,ppid=", "-p", String(pid)], { encoding: "utf8" })
        .trim()
        .split(/\s+/)
        .map(Number);
      expect(sid).toBe(pid);
      expect(helperPids()).toContain(ppid);
      // A mount request meanwhile is answered at once, not after the supervisor.
      await expect(h.umount("/nonexistent-tsstack-path")).rejects.toMatchObject({ errno: "ENOENT" });
    } finally {
      process.kill(pid, "SIGKILL");
    }
    // A supervisor that fails says why on the pipe and on stderr, and ends.
    const failed = await h.spawnSupervisor(
      ["/bin/sh", "-c", 'echo \'{"data": -1, "message": "nope"}\' >&$_OCI_SYNCPIPE; echo why >&2; exit 1'],
      { env, cwd: "/", timeoutMs: 10_000 },
    );
    expect(failed).toMatchObject({ sync: '{"data": -1, "message": "nope"}', stderr: "why\n" });
    expect(
      await h.spawnSupervisor(["/bin/sh", "-c", "echo gone >&2"], { env, cwd: "/", timeoutMs: 10_000 }),
    ).toMatchObject({ sync: "", stderr: "gone\n" });
    await expect(
      h.spawnSupervisor(["/nonexistent/conmon"], { env, cwd: "/", timeoutMs: 10_000 }),
    ).rejects.toMatchObject({
      errno: "ENOENT",
      message: expect.stringContaining("starting /nonexistent/conmon") as unknown as string,
    });
  });

  it("fails only the start that times out; the helper and the supervisor carry on", async () => {
    const h = helper();
    const d = await tmp();
    const pidFile = join(d, "pid");
    const slow = h.spawnSupervisor(["/bin/sh", "-c", `echo $$ > ${pidFile}; exec sleep 29`], {
      env: { PATH: "/usr/bin:/bin" },
      cwd: "/",
      timeoutMs: 300,
    });
    await expect(slow).rejects.toMatchObject({ errno: "ETIMEDOUT" });
    const pid = Number(await readFile(pidFile, "utf8"));
    try {
      expect(() => process.kill(pid, 0)).not.toThrow();
      await expect(h.umount(join(d, "nothing"))).rejects.toMatchObject({ errno: "ENOENT" });
    } finally {
      process.kill(pid, "SIGKILL");
    }
  });
});
