/**
 * The daemon's lifecycle (socket, pid file, shutdown) and connectEngine's start-on-demand. The
 * runtime served is the recording double (runtime-double.ts): the lead's end-to-end tests run the
 * daemon with the embedded runtime.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { ApiClient } from "../../../src/api/client.js";
import { connectEngine, pidFilePath, runDaemon } from "../../../src/api/daemon.js";
import { TsstackError } from "../../../src/common/errors.js";
import { useTmpDirs } from "../../helpers/tmp.js";
import { eventually, useTestServers } from "./helpers.js";
import { RecordingRuntime } from "./runtime-double.js";

const tmp = useTmpDirs("tsstack-api-daemon-");
const startServer = useTestServers();
const FAKE_DAEMON = fileURLToPath(new URL("./fixtures/fake-daemon.ts", import.meta.url));

/** Detached daemons started by a test; killed (and awaited) after it. */
const started: number[] = [];
afterEach(async () => {
  for (const pid of started.splice(0)) {
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      continue;
    }
    await eventually(() => {
      expect(() => process.kill(pid, 0)).toThrow();
    }, 10_000);
  }
});

function closableDouble(): RecordingRuntime & { close(): Promise<void>; closed: boolean } {
  const runtime = Object.assign(new RecordingRuntime(), {
    closed: false,
    close(this: { closed: boolean }) {
      this.closed = true;
      return Promise.resolve();
    },
  });
  return runtime;
}

describe("runDaemon", () => {
  it("serves the runtime, writes a pid file, and on stop removes both and closes the runtime", async () => {
    const dir = await tmp();
    const socket = join(dir, "run", "engine.sock");
    const runtime = closableDouble();
    const stop = new AbortController();
    const lines: string[] = [];
    let ready = false;
    const running = runDaemon({
      root: join(dir, "root"),
      socket,
      log: (l) => lines.push(l),
      stop: stop.signal,
      openRuntime: () => Promise.resolve(runtime),
      onReady: () => {
        ready = true;
      },
    });
    await eventually(() => {
      expect(ready).toBe(true);
    });
    expect(pidFilePath(socket)).toBe(join(dir, "run", "engine.pid"));
    expect(readFileSync(pidFilePath(socket), "utf8")).toBe(`${process.pid}\n`);
    const client = new ApiClient(socket);
    await client.ping();
    client.close();
    stop.abort();
    await running;
    expect(existsSync(socket)).toBe(false);
    expect(existsSync(pidFilePath(socket))).toBe(false);
    expect(runtime.closed).toBe(true);
    expect(lines[0]).toContain(`listening on ${socket}`);
    expect(lines.at(-1)).toContain("containers keep running");
  });

  it("refuses to start on a socket a live engine serves, and closes the runtime it opened", async () => {
    const { socketPath } = await startServer();
    const runtime = closableDouble();
    const error = await runDaemon({
      root: await tmp(),
      socket: socketPath,
      log: () => undefined,
      openRuntime: () => Promise.resolve(runtime),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TsstackError);
    expect((error as TsstackError).code).toBe("engine/already-running");
    expect((error as Error).message).toContain(socketPath);
    expect(runtime.closed).toBe(true);
  });
});

describe("connectEngine", () => {
  it("returns a client of a running engine without starting one", async () => {
    const { socketPath, root } = await startServer();
    const messages: string[] = [];
    const client = await connectEngine({
      root,
      socket: socketPath,
      env: {},
      onStart: (m) => messages.push(m),
      autoStart: true,
    });
    expect((await client.version()).ApiVersion).toBe("1.41");
    expect(messages).toEqual([]);
    client.close();
  });

  it("without autoStart, says how to start one", async () => {
    const dir = await tmp();
    const error = await connectEngine({
      root: dir,
      socket: join(dir, "none.sock"),
      env: {},
      onStart: () => undefined,
      autoStart: false,
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "engine/unavailable" });
    expect((error as Error).message).toContain("tsstack daemon");
  });

  it("starts a detached daemon, says so, and waits until it answers", async () => {
    const dir = await tmp();
    const socket = join(dir, "engine.sock");
    const messages: string[] = [];
    const client = await connectEngine({
      root: dir,
      socket,
      env: process.env,
      onStart: (m) => messages.push(m),
      autoStart: true,
      command: [process.execPath, "--import", "tsx", FAKE_DAEMON],
    });
    expect(messages).toHaveLength(1);
    const pid = Number(/pid (\d+)/.exec(messages[0] ?? "")?.[1]);
    started.push(pid);
    expect(messages[0]).toBe(
      `started the tsstack engine (pid ${pid}, socket ${socket}, log ${join(dir, "daemon.log")})`,
    );
    await client.ping();
    client.close();
    // The pid file is written just after the socket is bound.
    await eventually(() => {
      expect(readFileSync(pidFilePath(socket), "utf8")).toBe(`${pid}\n`);
    });
    // SIGTERM shuts it down cleanly: socket and pid file go.
    process.kill(pid, "SIGTERM");
    await eventually(() => {
      expect(existsSync(socket)).toBe(false);
      expect(existsSync(pidFilePath(socket))).toBe(false);
    }, 10_000);
    expect(readFileSync(join(dir, "daemon.log"), "utf8")).toContain("shutting down (SIGTERM)");
  });

  it("fails fast with the tail of the daemon log when the daemon exits", async () => {
    const dir = await tmp();
    const error = await connectEngine({
      root: dir,
      socket: join(dir, "engine.sock"),
      env: process.env,
      onStart: () => undefined,
      autoStart: true,
      command: [process.execPath, "-e", "console.error('boom: no runc here'); process.exit(3)"],
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "engine/start-failed" });
    expect((error as Error).message).toContain("exited with code 3");
    expect((error as Error).message).toContain("boom: no runc here");
  });

  it("gives up after the start timeout, quoting the log", async () => {
    const dir = await tmp();
    const messages: string[] = [];
    const error = await connectEngine({
      root: dir,
      socket: join(dir, "engine.sock"),
      env: process.env,
      onStart: (m) => messages.push(m),
      autoStart: true,
      startTimeoutMs: 300,
      command: [process.execPath, "-e", "console.log('still warming up'); setTimeout(() => {}, 60000)"],
    }).catch((e: unknown) => e);
    started.push(Number(/pid (\d+)/.exec(messages[0] ?? "")?.[1]));
    expect(error).toMatchObject({ code: "engine/start-failed" });
    expect((error as Error).message).toContain("did not answer within 0.3 s");
    await eventually(() => {
      // The child may not have flushed its first line before the timeout on a loaded machine.
      expect(readFileSync(join(dir, "daemon.log"), "utf8")).toContain("still warming up");
    });
  });
});
