/**
 * The container commands end to end: the CLI in-process (`main`) against a real engine daemon on a
 * temporary root and socket, running real containers (runc + conmon) of the busybox test image.
 *
 * The daemon runs in this process (`runDaemon` with a stop signal) so each test can stop it and check
 * that nothing is left behind; one test starts it the way users get it, through `connectEngine`'s
 * auto-start.
 */
import { existsSync, readdirSync } from "node:fs";
import { lstat, mkdir, readFile, readlink, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli, useCliEngines, type CliEngine } from "../helpers/cli-engine.js";
import { addTestImage, canRunContainers, eventually } from "../helpers/engine.js";
import { useTmpDirs } from "../helpers/tmp.js";

/** The embedded runtime the daemon serves (until it exists, these tests are skipped). */
const engineAvailable = existsSync(new URL("../../src/runtime/embedded.ts", import.meta.url));

const tmp = useTmpDirs("tsstack-cli-ctr-");

const startEngineOf = useCliEngines(tmp);

/** A daemon on a fresh root (busybox:latest in its store), stopped and checked after the test. */
function startEngine(): Promise<CliEngine> {
  return startEngineOf({
    cleanUp: async (engine) => {
      const ids = (await engine.cli(["ps", "-a", "-q", "--no-trunc"])).stdout
        .split("\n")
        .filter((l) => l !== "");
      if (ids.length > 0) await engine.cli(["rm", "-f", ...ids]);
    },
  });
}

describe.skipIf(!engineAvailable || !canRunContainers)("container commands against a real engine", () => {
  it("runs a command in the foreground and removes the container with --rm", async () => {
    const e = await startEngine();
    const r = await e.cli(["run", "--rm", "busybox", "echo", "hi"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("hi\n");
    expect(r.code).toBe(0);
    expect((await e.cli(["ps", "-a", "-q"])).stdout).toBe("");
  });

  it("refuses to remove an image a container uses, and removes it once the container is gone", async () => {
    const e = await startEngine();
    const created = await e.cli(["create", "--name", "user", "busybox", "true"]);
    expect(created.code).toBe(0);
    const refused = await e.cli(["rmi", "busybox:latest"]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/a container uses it/);
    expect((await e.cli(["rm", "user"])).code).toBe(0);
    expect((await e.cli(["rmi", "busybox:latest"])).code).toBe(0);
  });

  it("feeds stdin to the container with -i", async () => {
    const e = await startEngine();
    const r = await e.cli(["run", "--rm", "-i", "busybox", "sh", "-c", "read a; read b; echo $b-$a"], {
      stdin: "one\ntwo\n",
    });
    expect(r.stderr).toBe("");
    expect(r).toMatchObject({ code: 0, stdout: "two-one\n" });
  });

  it("exits with the container's exit code, separating its stdout and stderr", async () => {
    const e = await startEngine();
    const r = await e.cli(["run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    expect(r).toMatchObject({ code: 3, stdout: "out\n", stderr: "err\n" });
  });

  it("forwards Ctrl-C to the attached container's process (--sig-proxy), not with --sig-proxy=false", async () => {
    const e = await startEngine();
    let send: ((signal: NodeJS.Signals) => void) | undefined;
    let subscribed: readonly NodeJS.Signals[] = [];
    const onSignals = (signals: readonly NodeJS.Signals[], listener: (s: NodeJS.Signals) => void) => {
      subscribed = signals;
      send = listener;
      return () => {
        send = undefined;
      };
    };
    const script = "trap 'echo got INT; exit 7' INT; touch /tmp/ready; while :; do sleep 0.1; done";
    const ready = async (name: string): Promise<boolean> =>
      (await e.cli(["exec", name, "test", "-e", "/tmp/ready"])).code === 0;

    const proxied = e.cli(["run", "--name", "trapper", "busybox", "sh", "-c", script], { onSignals });
    await eventually(() => ready("trapper"), { what: "the trap set" });
    expect(subscribed).toContain("SIGINT");
    send?.("SIGINT");
    expect(await proxied).toMatchObject({ code: 7, stdout: "got INT\n" });
    // The run is over: it listens no more.
    expect(send).toBeUndefined();

    subscribed = [];
    const plain = e.cli(["run", "--sig-proxy=false", "--name", "plain", "busybox", "sh", "-c", script], {
      onSignals,
    });
    await eventually(() => ready("plain"), { what: "the trap set" });
    expect(subscribed).toEqual([]);
    expect((await e.cli(["kill", "-s", "INT", "plain"])).code).toBe(0);
    expect(await plain).toMatchObject({ code: 7, stdout: "got INT\n" });
  });

  it("exits 127 for a command that is not found and 125 for an image that is not there", async () => {
    const e = await startEngine();
    const notFound = await e.cli(["run", "--rm", "busybox", "no-such-command"]);
    expect(notFound.code).toBe(127);
    const noImage = await e.cli(["run", "--rm", "nothere:1"]);
    expect(noImage.code).toBe(125);
    expect(noImage.stderr).toContain("tsstack pull nothere:1");
  });

  it("runs detached, lists, shows logs, stops and removes like docker", async () => {
    const e = await startEngine();
    const run = await e.cli([
      "run",
      "-d",
      "--name",
      "web",
      "busybox",
      "sh",
      "-c",
      "echo started; exec sleep 300",
    ]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    const id = run.stdout.trim();

    const ps = await e.cli(["ps"]);
    expect(ps.stdout.split("\n")[0]).toMatch(
      /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/,
    );
    // The COMMAND text is the engine's summary (docker joins the words unquoted), cut at 20 characters.
    expect(ps.stdout).toMatch(
      new RegExp(`^${id.slice(0, 12)}\\s+busybox\\s+"sh -c .*…"\\s+.* ago\\s+Up .*\\s+web$`, "m"),
    );

    await eventually(async () => (await e.cli(["logs", "web"])).stdout === "started\n", {
      what: "the log line",
    });
    expect((await e.cli(["inspect", "--format", "{{.State.Status}} {{.Id}}", "web"])).stdout).toBe(
      `running ${id}\n`,
    );

    expect(await e.cli(["stop", "-t", "1", "web"])).toMatchObject({ code: 0, stdout: "web\n" });
    expect((await e.cli(["ps", "-a", "--format", "{{.Names}} {{.State}}"])).stdout).toBe("web exited\n");
    expect((await e.cli(["wait", "web"])).stdout).toMatch(/^\d+\n$/);
    expect(await e.cli(["rm", "web", "nope"])).toMatchObject({ code: 1, stdout: "web\n" });
    expect((await e.cli(["ps", "-a", "-q"])).stdout).toBe("");
  });

  it("execs in a running container with its exit code and stdin", async () => {
    const e = await startEngine();
    expect((await e.cli(["run", "-d", "--name", "box", "busybox", "sleep", "300"])).code).toBe(0);
    const r = await e.cli(["exec", "box", "sh", "-c", "echo out; echo err >&2; exit 4"]);
    expect(r).toMatchObject({ code: 4, stdout: "out\n", stderr: "err\n" });
    const env = await e.cli([
      "exec",
      "-e",
      "GREETING=hello",
      "-w",
      "/tmp",
      "box",
      "sh",
      "-c",
      'echo "$GREETING $(pwd)"',
    ]);
    expect(env.stdout).toBe("hello /tmp\n");
    const cat = await e.cli(["exec", "-i", "box", "cat"], { stdin: "piped\n" });
    expect(cat).toMatchObject({ code: 0, stdout: "piped\n" });
  });

  it("copies files and directories both ways, and a tar to stdout", async () => {
    const e = await startEngine();
    const host = await tmp();
    expect((await e.cli(["run", "-d", "--name", "box", "busybox", "sleep", "300"])).code).toBe(0);

    await writeFile(join(host, "in.txt"), "from the host\n");
    expect((await e.cli(["cp", join(host, "in.txt"), "box:/tmp/"])).code).toBe(0);
    // Paused for the copy only: running again when cp returns (its look at the destination pauses nothing).
    const { State } = (JSON.parse((await e.cli(["inspect", "box"])).stdout) as [{ State: object }])[0];
    expect(State).toMatchObject({ Status: "running", Paused: false });
    expect(await e.cli(["exec", "box", "cat", "/tmp/in.txt"])).toMatchObject({
      code: 0,
      stdout: "from the host\n",
    });
    // A missing destination name is the new name.
    expect((await e.cli(["cp", join(host, "in.txt"), "box:/tmp/renamed.txt"])).code).toBe(0);
    expect((await e.cli(["exec", "box", "cat", "/tmp/renamed.txt"])).stdout).toBe("from the host\n");

    expect(
      (await e.cli(["exec", "box", "sh", "-c", "mkdir /d && echo x > /d/f && ln -s / /d/root"])).code,
    ).toBe(0);
    expect((await e.cli(["cp", "box:/d", host])).code).toBe(0);
    expect(await readFile(join(host, "d", "f"), "utf8")).toBe("x\n");
    expect((await lstat(join(host, "d", "root"))).isSymbolicLink()).toBe(true);
    expect(await readlink(join(host, "d", "root"))).toBe("/");

    const tar = await e.cli(["cp", "box:/etc/passwd", "-"]);
    expect(tar.code).toBe(0);
    expect(tar.bytes.subarray(0, 6).toString()).toBe("passwd");
  });

  it("never writes through a symlink that is already in the host destination", async () => {
    const e = await startEngine();
    const host = await tmp();
    expect((await e.cli(["run", "-d", "--name", "box", "busybox", "sleep", "300"])).code).toBe(0);
    expect((await e.cli(["exec", "box", "sh", "-c", "mkdir /d && echo container > /d/f"])).code).toBe(0);
    await writeFile(join(host, "outside.txt"), "keep me\n");
    await mkdir(join(host, "dest", "d"), { recursive: true });
    await symlink(join(host, "outside.txt"), join(host, "dest", "d", "f"));
    expect((await e.cli(["cp", "box:/d", join(host, "dest")])).code).toBe(0);
    expect(await readFile(join(host, "outside.txt"), "utf8")).toBe("keep me\n");
    expect((await lstat(join(host, "dest", "d", "f"))).isFile()).toBe(true);
    expect(await readFile(join(host, "dest", "d", "f"), "utf8")).toBe("container\n");
  });

  it("shows processes and resource usage, pauses, restarts, kills and exports", async () => {
    const e = await startEngine();
    expect(
      (await e.cli(["run", "-d", "--name", "box", "--memory", "64m", "busybox", "sleep", "300"])).code,
    ).toBe(0);
    const top = await e.cli(["top", "box"]);
    expect(top.stdout.split("\n")[0]).toMatch(/PID/);
    expect(top.stdout).toContain("sleep 300");
    const stats = await e.cli([
      "stats",
      "--no-stream",
      "--format",
      "{{.Name}} {{.MemUsage}} {{.PIDs}}",
      "box",
    ]);
    expect(stats.stdout).toMatch(/^box \S+ \/ 64MiB 1\n$/);
    expect((await e.cli(["pause", "box"])).stdout).toBe("box\n");
    expect((await e.cli(["ps", "--format", "{{.State}}"])).stdout).toBe("paused\n");
    expect((await e.cli(["unpause", "box"])).stdout).toBe("box\n");
    expect((await e.cli(["restart", "-t", "1", "box"])).stdout).toBe("box\n");
    const out = join(await tmp(), "fs.tar");
    const exp = await e.cli(["export", "-o", out, "box"]);
    expect(exp.stderr).toBe("");
    expect(exp.code).toBe(0);
    expect((await readFile(out)).length).toBeGreaterThan(1024 * 1024);
    expect((await e.cli(["kill", "box"])).stdout).toBe("box\n");
    expect((await e.cli(["wait", "box"])).stdout).toBe("137\n");
  });

  it("starts a stopped container attached and exits with its code", async () => {
    const e = await startEngine();
    const created = await e.cli(["create", "--name", "once", "busybox", "sh", "-c", "echo again; exit 5"]);
    expect(created.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    expect(await e.cli(["start", "-a", "once"])).toMatchObject({ code: 5, stdout: "again\n" });
    expect(await e.cli(["logs", "--tail", "1", "-t", "once"])).toMatchObject({
      stdout: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\S+ again\n$/) as unknown,
    });
  });

  it("commits a container to a new image that runs", async () => {
    const e = await startEngine();
    expect((await e.cli(["run", "-d", "--name", "box", "busybox", "sleep", "300"])).code).toBe(0);
    expect((await e.cli(["exec", "box", "sh", "-c", "echo baked > /baked"])).code).toBe(0);
    const commit = await e.cli(["commit", "-c", 'CMD ["cat", "/baked"]', "box", "baked:1"]);
    expect(commit.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect((await e.cli(["run", "--rm", "baked:1"])).stdout).toBe("baked\n");
  });
});

describe.skipIf(!engineAvailable || !canRunContainers)("starting the engine on demand", () => {
  it("starts a daemon through connectEngine when none answers, and says so", async () => {
    const { connectEngine } = await import("../../src/api/daemon.js");
    const root = await tmp();
    const socket = join(root, "engine.sock");
    await addTestImage(root);
    // This daemon keeps its runtime state in the default place, /run/tsstack/<hash of the root>.
    const runDirBefore = existsSync("/run/tsstack") ? readdirSync("/run/tsstack") : undefined;
    // From the sources (bin/tsstack.js runs the build): a tiny entry that runs main.
    const entry = join(root, "entry.mjs");
    await writeFile(
      entry,
      `import { main } from ${JSON.stringify(new URL("../../src/cli/main.ts", import.meta.url).pathname)};\nprocess.exitCode = await main(process.argv.slice(2));\n`,
    );
    const messages: string[] = [];
    const client = await connectEngine({
      root,
      socket,
      env: process.env,
      autoStart: true,
      onStart: (m) => messages.push(m),
      command: [process.execPath, "--import", "tsx", entry],
    });
    try {
      expect(messages).toHaveLength(1);
      const r = await runCli(["--root", root, "--socket", socket, "run", "--rm", "busybox", "echo", "hi"], {
        env: { TSSTACK_NO_AUTOSTART: "1" },
      });
      expect(r.stdout).toBe("hi\n");
    } finally {
      client.close();
      const pid = Number((await readFile(join(root, "engine.pid"), "utf8")).trim());
      process.kill(pid, "SIGTERM");
      await eventually(() => !existsSync(join(root, "engine.pid")), { what: "the daemon to stop" });
    }
    // ... and leaves none of it behind, not even /run/tsstack when it made it.
    expect(existsSync("/run/tsstack") ? readdirSync("/run/tsstack") : undefined).toEqual(runDirBefore);
  });
});
