/**
 * The embedded runtime against real runc and conmon, as root: lifecycle, logs, exec, isolation.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { ContainerRecord } from "../../../src/runtime/containers/record.js";
import type { Container } from "../../../src/runtime/runtime.js";
import { canRunContainers, eventually, logText, runcContainers, useEngines } from "../../helpers/engine.js";

const engines = useEngines();

describe.skipIf(!canRunContainers)("embedded runtime: lifecycle", () => {
  it("runs a command to completion and records its exit code and output", async () => {
    const { engine } = await engines();
    const c = await engine.createContainer({
      name: "hello",
      Image: "busybox:latest",
      Cmd: ["sh", "-c", "echo out; echo err >&2; exit 3"],
    });
    await c.start();
    expect(await c.wait()).toEqual({ StatusCode: 3 });
    const info = await c.inspect();
    expect(info.State).toMatchObject({ Status: "exited", Running: false, ExitCode: 3, OOMKilled: false });
    expect(await logText(engine, "hello", { stderr: false })).toBe("out\n");
    expect(await logText(engine, "hello", { stdout: false })).toBe("err\n");
  });
});

describe.skipIf(!canRunContainers)("embedded runtime: stop, kill, pause, remove", () => {
  it("stop sends the stop signal and kills after the grace period", async () => {
    const { engine } = await engines();
    // Ignores SIGTERM: only SIGKILL after the 1 s grace period ends it.
    const c = await engine.createContainer({
      Image: "busybox:latest",
      Cmd: ["sh", "-c", "trap '' TERM; echo ready; while true; do sleep 0.1; done"],
    });
    await c.start();
    await eventually(async () => (await logText(engine, c.id)).includes("ready"), { what: "ready" });
    const t0 = Date.now();
    await c.stop({ t: 1 });
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(1000);
    expect(took).toBeLessThan(5000);
    expect((await c.inspect()).State).toMatchObject({ Status: "exited", ExitCode: 137 });
  });

  it("stop ends a process that handles SIGTERM without waiting for the grace period", async () => {
    const { engine } = await engines();
    const c = await engine.createContainer({
      Image: "busybox:latest",
      Cmd: ["sh", "-c", "trap 'exit 42' TERM; echo ready; while true; do sleep 0.1; done"],
    });
    await c.start();
    await eventually(async () => (await logText(engine, c.id)).includes("ready"), { what: "ready" });
    const t0 = Date.now();
    await c.stop({ t: 10 });
    expect(Date.now() - t0).toBeLessThan(3000);
    expect((await c.inspect()).State.ExitCode).toBe(42);
  });

  it("kill, pause and unpause act on the running container", async () => {
    const { engine } = await engines();
    const c = await engine.createContainer({ Image: "busybox:latest", Cmd: ["sleep", "300"] });
    await c.start();
    await c.pause();
    expect((await c.inspect()).State).toMatchObject({ Status: "paused", Paused: true, Running: true });
    await expect(c.pause()).rejects.toMatchObject({ code: "container/paused" });
    await c.unpause();
    expect((await c.inspect()).State.Status).toBe("running");
    await c.kill({ signal: "SIGKILL" });
    expect((await c.inspect()).State).toMatchObject({ Status: "exited", ExitCode: 137 });
    await expect(c.kill()).rejects.toMatchObject({ code: "container/not-running" });
  });

  it("kill, stop and rm -f of a container that ended a moment ago, its exit not yet recorded", async () => {
    const { engine } = await engines();
    // Each act runs under the container's lock, taken while its process runs and held until it has
    // ended: the engine cannot record the exit first, so the act meets a record saying running.
    const act = async (fn: (rec: ContainerRecord) => Promise<void>): Promise<Container> => {
      const c = await engine.createContainer({ Image: "busybox:latest", Cmd: ["sleep", "0.5"] });
      await c.start();
      await engine.withRecord(c.id, async (rec) => {
        expect(rec.state.status).toBe("running");
        const pid = rec.state.pid;
        await eventually(() => !existsSync(`/proc/${pid}`), { what: `the end of process ${pid}` });
        expect(rec.state.status).toBe("running");
        await fn(rec);
      });
      return c;
    };
    const killed = await act(async (rec) => {
      // As docker's: not running (the exit it found is recorded).
      await expect(engine.killLocked(rec, "SIGKILL")).rejects.toMatchObject({
        code: "container/not-running",
      });
    });
    const stopped = await act((rec) => engine.stopLocked(rec, 0));
    const removed = await act((rec) => engine.removeLocked(rec, true));
    for (const c of [killed, stopped])
      expect((await c.inspect()).State).toMatchObject({ Status: "exited", ExitCode: 0 });
    await expect(removed.inspect()).rejects.toMatchObject({ code: "container/not-found" });
  });

  it("refuses to remove a running container without force, and removes it with force", async () => {
    const { engine, root } = await engines();
    const c = await engine.createContainer({ name: "busy", Image: "busybox:latest", Cmd: ["sleep", "300"] });
    await c.start();
    await expect(c.remove()).rejects.toMatchObject({ code: "container/conflict" });
    await c.remove({ force: true });
    await expect(c.inspect()).rejects.toMatchObject({ code: "container/not-found" });
    expect(await engine.listContainers({ all: true })).toEqual([]);
    const { readdir } = await import("node:fs/promises");
    expect(await readdir(`${root}/containers`)).toEqual([]);
  });

  it("restarts a stopped container with its writable layer kept", async () => {
    const { engine } = await engines();
    const c = await engine.createContainer({
      Image: "busybox:latest",
      Cmd: ["sh", "-c", "cat /data 2>/dev/null; echo run >> /data"],
    });
    await c.start();
    await c.wait();
    await c.start();
    await c.wait();
    expect(await logText(engine, c.id)).toBe("run\n");
  });

  it("names are unique and ids are 64 hex characters", async () => {
    const { engine } = await engines();
    const a = await engine.createContainer({ name: "same", Image: "busybox:latest" });
    expect((await a.inspect()).Id).toMatch(/^[a-f0-9]{64}$/);
    await expect(engine.createContainer({ name: "same", Image: "busybox:latest" })).rejects.toMatchObject({
      code: "container/conflict",
    });
    await expect(engine.createContainer({ name: "-bad", Image: "busybox:latest" })).rejects.toMatchObject({
      code: "container/invalid-config",
    });
    await expect(engine.createContainer({ Image: "nope:latest" })).rejects.toMatchObject({
      code: "image/not-found",
    });
    const b = await engine.createContainer({ Image: "busybox:latest" });
    expect((await b.inspect()).Name).toMatch(/^\/[a-z]+_[a-z]+_[0-9a-f]{4}$/);
  });

  it("removes an auto-remove container when it exits", async () => {
    const { engine } = await engines();
    const c = await engine.createContainer({
      Image: "busybox:latest",
      Cmd: ["true"],
      HostConfig: { AutoRemove: true },
    });
    const removed = c.wait({ condition: "removed" });
    await c.start();
    await removed;
    expect(await engine.listContainers({ all: true })).toEqual([]);
  });
});

describe.skipIf(!canRunContainers)("embedded runtime: exec, logs, top, stats", () => {
  it("exec runs in the container with env, user and working dir, and reports its pid", async () => {
    const { engine, root } = await engines();
    const c = await engine.createContainer({ Image: "busybox:latest", Cmd: ["sleep", "300"] });
    await c.start();
    const p = await c.exec({
      Cmd: ["sh", "-c", "echo $FOO; id -u; pwd; exit 5"],
      Env: ["FOO=bar"],
      User: "nobody",
      WorkingDir: "/tmp",
    });
    p.stdin.end();
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    expect(await p.exit).toBe(5);
    expect(out).toBe("bar\n65534\n/tmp\n");

    // The exec's host pid (Docker's exec inspect Pid): the process itself, kept after it ends.
    const sleeper = await c.exec({ Cmd: ["sleep", "300"] });
    sleeper.stdin.end();
    await eventually(() => (sleeper.pid?.() ?? 0) > 0, { what: "the exec's pid" });
    const pid = sleeper.pid?.() ?? 0;
    // runc writes the pid as it starts the process, which may not have exec'd `sleep` yet.
    await eventually(() => readFileSync(`/proc/${pid}/cmdline`, "utf8") === "sleep\x00300\x00", {
      what: `process ${pid} to be the exec's sleep`,
    });
    process.kill(pid, "SIGKILL");
    expect(await sleeper.exit).toBe(137);
    expect(sleeper.pid?.()).toBe(pid);
    // runc's pid files go with the execs.
    const dir = join(root, "containers", c.id);
    expect(readdirSync(dir).filter((n) => n.startsWith("exec-"))).toEqual([]);
  });

  it("logs follow until the container exits, with tail and timestamps", async () => {
    const { engine } = await engines();
    const c = await engine.createContainer({
      Image: "busybox:latest",
      Cmd: ["sh", "-c", "for i in 1 2 3 4 5; do echo line$i; sleep 0.1; done"],
    });
    await c.start();
    const lines: string[] = [];
    for await (const e of c.logs({ follow: true })) lines.push(e.line.toString());
    expect(lines.join("")).toBe("line1\nline2\nline3\nline4\nline5\n");
    const tail: string[] = [];
    for await (const e of c.logs({ tail: 2 })) {
      expect(e.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+/);
      tail.push(e.line.toString());
    }
    expect(tail).toEqual(["line4\n", "line5\n"]);
  });

  it("top lists the container's processes and stats reads its cgroup", async () => {
    const { engine } = await engines();
    const c = await engine.createContainer({
      Image: "busybox:latest",
      Cmd: ["sleep", "300"],
      HostConfig: { Memory: 64 * 1024 * 1024, PidsLimit: 50 },
    });
    await c.start();
    const top = await c.top();
    expect(top.Titles).toContain("PID");
    expect(top.Processes.some((p) => p.at(-1)?.includes("sleep 300"))).toBe(true);
    const stats = await c.stats();
    expect(stats.memory_stats.limit).toBe(64 * 1024 * 1024);
    expect(stats.memory_stats.usage).toBeGreaterThan(0);
    expect(stats.pids_stats).toMatchObject({ current: 1, limit: 50 });
    expect(stats.cpu_stats.cpu_usage.total_usage).toBeGreaterThan(0);
  });
});

/** Docker's 14 default capabilities as the kernel prints them in /proc/<pid>/status. */
const DOCKER_DEFAULT_CAP_MASK = "00000000a80425fb";

async function runToEnd(
  engine: Awaited<ReturnType<typeof engines>>["engine"],
  opts: Parameters<Awaited<ReturnType<typeof engines>>["engine"]["createContainer"]>[0],
): Promise<{ code: number; out: string; oom: boolean }> {
  const c = await engine.createContainer(opts);
  await c.start();
  const { StatusCode } = await c.wait();
  return { code: StatusCode, out: await logText(engine, c.id), oom: (await c.inspect()).State.OOMKilled };
}

describe.skipIf(!canRunContainers)("embedded runtime: isolation and limits", () => {
  it("the container sees itself as PID 1 with its own hostname and none of the host's processes or files", async () => {
    const { engine, root } = await engines();
    const { code, out } = await runToEnd(engine, {
      Image: "busybox:latest",
      Hostname: "boxy",
      Cmd: [
        "sh",
        "-c",
        `echo pid=$$; hostname; ps -o pid | wc -l; test -e ${root} && echo host-visible; true`,
      ],
    });
    expect(code).toBe(0);
    const [pid, hostname, psLines, ...rest] = out.trim().split("\n");
    expect(pid).toBe("pid=1");
    expect(hostname).toBe("boxy");
    // Header + sh + ps + wc at most: no host process is visible.
    expect(Number(psLines)).toBeLessThanOrEqual(4);
    expect(rest).toEqual([]);
  });

  it("has Docker's default capabilities, no inheritable ones, no-new-privileges and seccomp", async () => {
    const { engine } = await engines();
    const { out } = await runToEnd(engine, {
      Image: "busybox:latest",
      Cmd: ["grep", "-E", "^(CapEff|CapInh|NoNewPrivs|Seccomp):", "/proc/self/status"],
    });
    expect(out).toMatch(new RegExp(`CapEff:\\s+${DOCKER_DEFAULT_CAP_MASK}`));
    expect(out).toMatch(/CapInh:\s+0000000000000000/);
    expect(out).toMatch(/NoNewPrivs:\s+1/);
    expect(out).toMatch(/Seccomp:\s+2/);
    const optOut = await runToEnd(engine, {
      Image: "busybox:latest",
      Cmd: ["grep", "NoNewPrivs", "/proc/self/status"],
      HostConfig: { SecurityOpt: ["no-new-privileges=false"] },
    });
    expect(optOut.out).toMatch(/NoNewPrivs:\s+0/);
  });

  it("masks /proc paths and mounts /proc/sys read-only", async () => {
    const { engine } = await engines();
    const { out } = await runToEnd(engine, {
      Image: "busybox:latest",
      Cmd: [
        "sh",
        "-c",
        "wc -c < /proc/timer_list; (echo 1 > /proc/sys/kernel/domainname) 2>/dev/null && echo writable || echo refused",
      ],
    });
    expect(out.trim().split("\n")).toEqual(["0", "refused"]);
  });

  it("OOM-kills a container over its memory limit and reports it", async () => {
    const { engine } = await engines();
    const mem = 16 * 1024 * 1024;
    // tail keeps the whole newline-free line in memory.
    const { code, oom } = await runToEnd(engine, {
      Image: "busybox:latest",
      Cmd: ["sh", "-c", "head -c 200000000 /dev/zero | tail"],
      HostConfig: { Memory: mem, MemorySwap: mem },
    });
    expect(oom).toBe(true);
    expect(code).toBe(137);
  });

  it("holds the pids limit", async () => {
    const { engine } = await engines();
    const { out } = await runToEnd(engine, {
      Image: "busybox:latest",
      Cmd: [
        "sh",
        "-c",
        "for i in $(seq 1 20); do sleep 5 & done 2>/dev/null; ps -o pid | tail -n +2 | wc -l",
      ],
      HostConfig: { PidsLimit: 8 },
    });
    expect(Number(out.trim().split("\n").at(-1))).toBeLessThanOrEqual(8);
  });

  it("refuses a working dir under /proc/self/fd at create and creates a missing one at start", async () => {
    const { engine } = await engines();
    await expect(
      engine.createContainer({ Image: "busybox:latest", WorkingDir: "/proc/self/fd/7" }),
    ).rejects.toMatchObject({ code: "container/invalid-config" });
    const { out } = await runToEnd(engine, { Image: "busybox:latest", WorkingDir: "/new/dir", Cmd: ["pwd"] });
    expect(out).toBe("/new/dir\n");
  });

  it("read-only rootfs, tmpfs, user and init", async () => {
    const { engine } = await engines();
    const { out } = await runToEnd(engine, {
      Image: "busybox:latest",
      User: "nobody",
      Cmd: [
        "sh",
        "-c",
        "touch /x 2>/dev/null || echo ro; touch /scratch/y && echo tmpfs-ok; id -u; cat /proc/1/cmdline | tr '\\0' ' ' ; echo",
      ],
      HostConfig: { ReadonlyRootfs: true, Tmpfs: { "/scratch": "mode=1777" }, Init: true },
    });
    const lines = out.trim().split("\n");
    expect(lines.slice(0, 3)).toEqual(["ro", "tmpfs-ok", "65534"]);
    expect(lines[3]).toContain("/sbin/docker-init");
  });
});

describe.skipIf(!canRunContainers)("embedded runtime: surviving the engine", () => {
  it("a reopened engine re-adopts a running container and records an exit that happened meanwhile", async () => {
    const { engine, root, runRoot } = await engines();
    const { EmbeddedRuntime } = await import("../../../src/runtime/embedded.js");
    const runner = await engine.createContainer({
      name: "runner",
      Image: "busybox:latest",
      Cmd: ["sleep", "300"],
    });
    const quitter = await engine.createContainer({
      name: "quitter",
      Image: "busybox:latest",
      Cmd: ["sh", "-c", "read x < /dev/null; sleep 1; exit 7"],
    });
    await runner.start();
    await quitter.start();
    // The engine goes away without stopping anything (the kill -9 test of the daemon covers a real crash).
    await engine.close();
    await new Promise((r) => setTimeout(r, 1500));
    const again = await EmbeddedRuntime.open({ root, runRoot, exitPollMs: 200 });
    try {
      expect((await again.getContainer("runner").inspect()).State.Status).toBe("running");
      expect((await again.getContainer("quitter").inspect()).State).toMatchObject({
        Status: "exited",
        ExitCode: 7,
      });
      await again.getContainer("runner").stop({ t: 0 });
      expect((await again.getContainer("runner").inspect()).State.ExitCode).toBe(137);
    } finally {
      await again.getContainer("runner").remove({ force: true });
      await again.getContainer("quitter").remove({ force: true });
      await again.close();
    }
  });

  it("a reopened engine ends a run the previous one started but never recorded, and starts it anew", async () => {
    const { engine, root, runRoot } = await engines();
    const { EmbeddedRuntime } = await import("../../../src/runtime/embedded.js");
    const c = await engine.createContainer({ name: "lost", Image: "busybox:latest", Cmd: ["sleep", "300"] });
    await c.start();
    const { Pid } = (await c.inspect()).State;
    const recordFile = join(root, "containers", c.id, "container.json");
    const conmonPid = Number(
      execFileSync("pgrep", ["-f", `^/usr/bin/conmon .*-c ${c.id}`], { encoding: "utf8" }).trim(),
    );
    expect(conmonPid).toBeGreaterThan(0);
    // The record knows its conmon.
    expect((JSON.parse(readFileSync(recordFile, "utf8")) as ContainerRecord).state.conmonPid).toBe(conmonPid);
    await engine.close();
    // As if the engine had died between conmon's start and the record's "running": it says created.
    const rec = JSON.parse(readFileSync(recordFile, "utf8")) as ContainerRecord;
    writeFileSync(recordFile, JSON.stringify({ ...rec, state: { ...rec.state, status: "created", pid: 0 } }));
    const again = await EmbeddedRuntime.open({ root, runRoot, exitPollMs: 200 });
    try {
      // The lost run is ended: its init and its conmon are gone, runc holds nothing for it.
      expect(existsSync(`/proc/${Pid}`) && !readFileSync(`/proc/${Pid}/stat`, "utf8").includes(") Z ")).toBe(
        false,
      );
      await eventually(() => !existsSync(`/proc/${conmonPid}`), { what: `the end of conmon ${conmonPid}` });
      expect(runcContainers(runRoot)).toEqual([]);
      const lost = again.getContainer("lost");
      expect((await lost.inspect()).State.Status).toBe("created");
      // A new run starts clean, and no exit of the old one lands in it.
      await lost.start();
      await new Promise((r) => setTimeout(r, 300));
      expect((await lost.inspect()).State).toMatchObject({ Status: "running" });
    } finally {
      await again.getContainer("lost").remove({ force: true });
      await again.close();
    }
  });
});

describe.skipIf(!canRunContainers)("embedded runtime: restart policies", () => {
  it("restarts a crashed container under restart always within a second", async () => {
    const { engine } = await engines();
    const c = await engine.createContainer({
      Image: "busybox:latest",
      Cmd: ["sh", "-c", "echo up; sleep 300"],
      HostConfig: { RestartPolicy: { Name: "always" } },
    });
    await c.start();
    const first = (await c.inspect()).State.Pid;
    const died = c.wait({ condition: "next-exit" });
    process.kill(first, "SIGKILL");
    await died;
    const t0 = Date.now();
    const again = await eventually(
      async () => {
        const s = (await c.inspect()).State;
        return s.Status === "running" && s.Pid !== first ? s : undefined;
      },
      { what: "the restarted container" },
    );
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(again.Pid).not.toBe(first);
    expect((await c.inspect()).RestartCount).toBe(1);
    // A stop the user asks for is final.
    await c.stop({ t: 0 });
    await new Promise((r) => setTimeout(r, 400));
    expect((await c.inspect()).State.Status).toBe("exited");
  });

  it("gives up after the on-failure maximum", async () => {
    const { engine } = await engines();
    const c = await engine.createContainer({
      Image: "busybox:latest",
      Cmd: ["sh", "-c", "echo try; exit 3"],
      HostConfig: { RestartPolicy: { Name: "on-failure", MaximumRetryCount: 2 } },
    });
    await c.start();
    await eventually(async () => (await c.inspect()).RestartCount === 2, { what: "two restarts" });
    await eventually(async () => (await c.inspect()).State.Status === "exited", { what: "the final exit" });
    await new Promise((r) => setTimeout(r, 700));
    const info = await c.inspect();
    expect(info.RestartCount).toBe(2);
    expect(info.State).toMatchObject({ Status: "exited", ExitCode: 3 });
    expect(await logText(engine, c.id)).toBe("try\ntry\ntry\n");
  });
});

describe.skipIf(!canRunContainers)("embedded runtime: commit, export, copy", () => {
  async function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of s) chunks.push(Buffer.from(c as Buffer));
    return Buffer.concat(chunks);
  }

  it("commit turns the container's changes into a runnable image", async () => {
    const { engine } = await engines();
    const c = await engine.createContainer({
      Image: "busybox:latest",
      Cmd: ["sh", "-c", "echo made > /made.txt; rm /bin/wc"],
    });
    await c.start();
    await c.wait();
    const { Id } = await c.commit({ repo: "committed", tag: "v1", changes: ['CMD ["cat", "/made.txt"]'] });
    expect(Id).toMatch(/^sha256:[a-f0-9]{64}$/);
    const d = await engine.createContainer({ Image: "committed:v1" });
    await d.start();
    expect(await d.wait()).toEqual({ StatusCode: 0 });
    expect(await logText(engine, d.id)).toBe("made\n");
    const e = await engine.createContainer({
      Image: "committed:v1",
      Cmd: ["sh", "-c", "test -e /bin/wc || echo gone"],
    });
    await e.start();
    await e.wait();
    expect(await logText(engine, e.id)).toBe("gone\n");
  });

  it("export and copy work on a running container, which runs on after the paused copy-in", async () => {
    const { engine } = await engines();
    const c = await engine.createContainer({
      Image: "busybox:latest",
      Cmd: ["sh", "-c", "echo hi > /greeting; sleep 300"],
    });
    await c.start();
    await eventually(
      async () => {
        const p = await c.exec({ Cmd: ["cat", "/greeting"] });
        p.stdin.end();
        return (await p.exit) === 0;
      },
      { what: "the greeting file" },
    );
    const tarball = await readAll(await c.export());
    expect(tarball.includes(Buffer.from("bin/busybox"))).toBe(true);
    const got = await readAll(await c.getArchive({ path: "/greeting" }));
    expect(got.subarray(0, 8).toString()).toBe("greeting");
    // Copy it back in under another directory.
    const { Readable } = await import("node:stream");
    await c.putArchive(Readable.from([got]), { path: "/tmp" });
    const p = await c.exec({ Cmd: ["cat", "/tmp/greeting"] });
    p.stdin.end();
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    expect(await p.exit).toBe(0);
    expect(out).toBe("hi\n");
    // The container was paused for the copy and runs again.
    expect((await c.inspect()).State.Status).toBe("running");
  });
});

describe.skipIf(!canRunContainers)("embedded runtime: attach and TTYs", () => {
  async function collect(s: NodeJS.ReadableStream): Promise<string> {
    let out = "";
    for await (const c of s) out += (c as Buffer).toString();
    return out;
  }

  it("attach with stdin feeds the main process and streams its stdout and stderr apart", async () => {
    const { engine } = await engines();
    const c = await engine.createContainer({
      Image: "busybox:latest",
      Cmd: ["sh", "-c", "read line; echo got:$line; echo oops >&2; exit 4"],
      OpenStdin: true,
    });
    await c.start();
    const a = await c.attach({ stdin: true });
    const out = collect(a.stdout);
    const err = collect(a.stderr);
    a.stdin.write("hello\n");
    a.stdin.end();
    expect(await a.exit).toBe(4);
    expect(await out).toBe("got:hello\n");
    expect(await err).toBe("oops\n");
  });

  it("attach to a TTY container and exec with a TTY get a terminal", async () => {
    const { engine } = await engines();
    const c = await engine.createContainer({
      Image: "busybox:latest",
      Cmd: ["sh", "-c", "test -t 0 && echo tty-in; test -t 1 && echo tty-out; read x; echo bye"],
      Tty: true,
      OpenStdin: true,
    });
    await c.start();
    const a = await c.attach({ stdin: true });
    const out = collect(a.stdout);
    a.stdin.write("x\n");
    expect(await a.exit).toBe(0);
    expect(await out).toMatch(/bye/);
    // What the log recorded from the start includes the lines printed before the attach.
    expect(await logText(engine, c.id)).toMatch(/tty-in\r?\n.*tty-out/s);

    const d = await engine.createContainer({ Image: "busybox:latest", Cmd: ["sleep", "300"] });
    await d.start();
    const e = await d.exec({ Cmd: ["sh", "-c", "test -t 1 && echo is-a-tty; exit 6"], Tty: true });
    const eout = collect(e.stdout);
    e.stdin.end();
    expect(await e.exit).toBe(6);
    expect(await eout).toMatch(/is-a-tty/);
  });
});

describe.skipIf(!canRunContainers)("embedded runtime: exec terminal size", () => {
  it("resizes an exec's terminal, and the process inside sees the new size", async () => {
    const { engine } = await engines();
    const c = await engine.createContainer({ Image: "busybox:latest", Cmd: ["sleep", "300"] });
    await c.start();
    const e = await c.exec({
      Cmd: ["sh", "-c", "while :; do stty size; sleep 0.05; done"],
      Tty: true,
    });
    let out = "";
    e.stdout.on("data", (d: Buffer) => (out += d.toString()));
    expect(typeof e.resize).toBe("function");
    await eventually(
      () => {
        e.resize?.({ rows: 33, columns: 101 });
        return out.includes("33 101");
      },
      { what: "the new size inside the container" },
    );
    e.resize?.({ rows: 12, columns: 40 });
    await eventually(() => out.slice(out.lastIndexOf("33 101")).includes("12 40"), {
      what: "the second size",
    });
    e.kill?.();
    await e.exit;
  });
});

describe.skipIf(!canRunContainers)("embedded runtime: healthchecks", () => {
  it("reports starting, then healthy, then unhealthy as the probe's result changes, with events", async () => {
    const { engine } = await engines();
    const ms = 1e6;
    const c = await engine.createContainer({
      Image: "busybox:latest",
      Cmd: ["sh", "-c", "sleep 0.6; touch /tmp/ok; sleep 1.5; rm /tmp/ok; sleep 300"],
      Healthcheck: {
        Test: ["CMD-SHELL", "test -e /tmp/ok"],
        Interval: 150 * ms,
        Timeout: 1000 * ms,
        Retries: 2,
        StartPeriod: 1500 * ms,
        StartInterval: 100 * ms,
      },
    });
    const events: string[] = [];
    const ac = new AbortController();
    const collecting = (async () => {
      for await (const e of engine.getEvents({ signal: ac.signal }))
        if (e.Action.startsWith("health_status")) events.push(e.Action);
    })();
    await c.start();
    expect((await c.inspect()).State.Health?.Status).toBe("starting");
    await eventually(async () => (await c.inspect()).State.Health?.Status === "healthy", { what: "healthy" });
    expect((await engine.listContainers())[0]?.Status).toMatch(/\(healthy\)$/);
    await eventually(async () => (await c.inspect()).State.Health?.Status === "unhealthy", {
      what: "unhealthy",
    });
    const h = (await c.inspect()).State.Health;
    expect(h?.FailingStreak).toBeGreaterThanOrEqual(2);
    expect(h?.Log.length).toBeGreaterThan(0);
    ac.abort();
    await collecting;
    expect(events).toEqual(["health_status: healthy", "health_status: unhealthy"]);
  });
});

describe.skipIf(!canRunContainers)("embedded runtime: names and filters", () => {
  it("renames a container, refusing a name in use", async () => {
    const { engine } = await engines();
    const a = await engine.createContainer({ name: "first", Image: "busybox:latest", Cmd: ["true"] });
    await engine.createContainer({ name: "taken", Image: "busybox:latest", Cmd: ["true"] });
    await expect(a.rename?.({ name: "taken" })).rejects.toMatchObject({ code: "container/conflict" });
    await a.rename?.({ name: "second" });
    expect((await engine.getContainer("second").inspect()).Name).toBe("/second");
    await expect(engine.getContainer("first").inspect()).rejects.toMatchObject({
      code: "container/not-found",
    });
  });

  it("requires every label filter to match, and any of several names", async () => {
    const { engine } = await engines();
    await engine.createContainer({ name: "w1", Image: "busybox:latest", Labels: { p: "x", s: "web" } });
    await engine.createContainer({ name: "d1", Image: "busybox:latest", Labels: { p: "x", s: "db" } });
    const names = async (filters: Record<string, string[]>): Promise<string[]> =>
      (await engine.listContainers({ all: true, filters })).map((c) => c.Names[0] ?? "").sort();
    expect(await names({ label: ["p=x", "s=db"] })).toEqual(["/d1"]);
    expect(await names({ label: ["p=x"] })).toEqual(["/d1", "/w1"]);
    expect(await names({ name: ["^w1$", "^d1$"] })).toEqual(["/d1", "/w1"]);
    await expect(engine.listContainers({ all: true, filters: { name: ["("] } })).rejects.toMatchObject({
      code: "container/invalid-filter",
    });
  });
});
