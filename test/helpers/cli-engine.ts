/**
 * The CLI in-process (`main`) against a real engine daemon on a temporary root and socket: what the
 * end-to-end CLI tests (test/cli) share. The daemon runs in this process (`runDaemon` with a stop
 * signal), so each test can stop it and check that nothing of it is left behind.
 */
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { afterEach } from "vitest";
import type { DaemonOptions } from "../../src/api/daemon.js";
import type { CliIo } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";
import { addTestImage, assertNoLeftovers } from "./engine.js";

/** One run of the CLI: its exit code and output (`bytes`: what it wrote to its binary stdout). */
export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly bytes: Buffer;
}

export interface CliRunOptions {
  readonly stdin?: string | Buffer;
  readonly cwd?: string;
  readonly env?: Record<string, string>;
  /** The CLI's signals (default: none ever arrive). */
  readonly onSignals?: CliIo["onSignals"];
}

/** `main(argv)` with captured output, neither stdout nor stdin a terminal. */
export async function runCli(argv: string[], opts: CliRunOptions = {}): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  const bytes: Buffer[] = [];
  const stdoutBytes = Object.assign(new PassThrough(), { isTTY: false });
  stdoutBytes.on("data", (c: Buffer) => bytes.push(c));
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s), isTTY: false },
    stderr: { write: (s: string) => (stderr += s) },
    env: opts.env ?? {},
    cwd: opts.cwd ?? "/",
    homeDir: "/root",
    stdoutBytes,
    // Never the test process's own signals.
    onSignals: opts.onSignals ?? (() => () => undefined),
    ...(opts.stdin !== undefined
      ? { stdin: Object.assign(Readable.from([Buffer.from(opts.stdin)]), { isTTY: false }) }
      : {}),
  };
  const code = await main(argv, io);
  return { code, stdout, stderr, bytes: Buffer.concat(bytes) };
}

export interface CliEngine {
  readonly root: string;
  readonly runRoot: string;
  readonly socket: string;
  /** `main` with this engine's --root/--socket and no auto-start. */
  cli(argv: string[], opts?: Omit<CliRunOptions, "env">): Promise<CliRun>;
}

export interface CliEngineOptions {
  /** The daemon's runtime (default: the embedded one on the engine's root). */
  readonly openRuntime?: DaemonOptions["openRuntime"];
  /** After the test, before the daemon stops: take down what the test left (stacks, containers…). */
  readonly cleanUp?: (engine: CliEngine) => Promise<void>;
  /** After the daemon stopped and left nothing behind: the caller's own checks. */
  readonly afterStop?: () => void;
}

/**
 * `startEngine()` for one test file: a daemon on a fresh root (from `tmp`, with busybox:latest in
 * its store); after each test it is cleaned up, stopped, and checked to leave nothing behind. Call at
 * the top level after `useTmpDirs` (after-hooks run in reverse: the daemon stops before its root goes).
 */
export function useCliEngines(tmp: () => Promise<string>): (opts?: CliEngineOptions) => Promise<CliEngine> {
  const stops: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop();
  });
  return async (opts = {}) => {
    const { runDaemon } = await import("../../src/api/daemon.js");
    const root = await tmp();
    const runRoot = join(root, "run");
    const socket = join(root, "engine.sock");
    await addTestImage(root);
    const stop = new AbortController();
    let ready!: () => void;
    const isReady = new Promise<void>((resolve) => (ready = resolve));
    const running = runDaemon({
      root,
      runRoot,
      socket,
      stop: stop.signal,
      log: () => undefined,
      onReady: ready,
      ...(opts.openRuntime !== undefined ? { openRuntime: opts.openRuntime } : {}),
    });
    await Promise.race([isReady, running]);
    const engine: CliEngine = {
      root,
      runRoot,
      socket,
      cli: (argv, runOpts = {}) =>
        runCli(["--root", root, "--socket", socket, ...argv], {
          ...runOpts,
          env: { TSSTACK_NO_AUTOSTART: "1" },
        }),
    };
    stops.push(async () => {
      await opts.cleanUp?.(engine);
      stop.abort();
      await running;
      assertNoLeftovers({ root, runRoot });
      opts.afterStop?.();
    });
    return engine;
  };
}
