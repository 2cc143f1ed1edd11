/**
 * The engine process (`tsstack daemon`) and the CLI's way to reach it (`connectEngine`), starting it on
 * demand.
 *
 * The daemon owns the node's runtime and serves it on a unix socket. Containers do not depend on it:
 * conmon supervises them, so stopping (or losing) the daemon leaves them running, and the next daemon
 * re-adopts them.
 */
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { mkdir, open, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeFileAtomic } from "../common/atomic.js";
import { TsstackError } from "../common/errors.js";
import { acquireLock } from "../common/lock.js";
import { EngineStacks } from "../reconciler/engine-stacks.js";
import { isStackRuntime } from "../reconciler/stack-runtime.js";
import { EmbeddedRuntime } from "../runtime/embedded.js";
import type { Runtime } from "../runtime/runtime.js";
import { ApiClient } from "./client.js";
import { errorMessage } from "./errors.js";
import { startApiServer } from "./server.js";

/** A runtime the daemon can close on shutdown. */
export type ClosableRuntime = Runtime & { close(): Promise<void> };

export interface DaemonOptions {
  /** The engine's state root. */
  readonly root: string;
  /** Where to listen. The pid file goes next to it (see `pidFilePath`). */
  readonly socket: string;
  /** Runtime state (runc state, exit files). Default: the embedded runtime's (`/run/tsstack/<hash>`). */
  readonly runRoot?: string;
  /** One line per event worth a log entry (already without a trailing newline). */
  readonly log: (line: string) => void;
  /** Shuts the daemon down like SIGTERM does (tests, embedding). */
  readonly stop?: AbortSignal;
  /** Opens the runtime to serve. Default: `EmbeddedRuntime.open`. */
  readonly openRuntime?: (opts: {
    readonly root: string;
    readonly runRoot?: string;
    readonly log: (line: string) => void;
  }) => Promise<ClosableRuntime>;
  /** Called once the socket answers. */
  readonly onReady?: (info: { readonly socket: string; readonly pid: number }) => void;
}

/** `/run/tsstack/tsstack.sock` → `/run/tsstack/tsstack.pid`; any other name gets `.pid` appended. */
export function pidFilePath(socket: string): string {
  const name = basename(socket);
  return join(
    dirname(socket),
    name.endsWith(".sock") ? `${name.slice(0, -".sock".length)}.pid` : `${name}.pid`,
  );
}

/** package.json sits two levels up from both src/api and dist/api. */
function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      version?: string;
    };
    return pkg.version ?? "unknown";
  } catch {
    return "unknown";
  }
}

/**
 * Runs the engine until SIGTERM or SIGINT (or `stop`): opens the runtime, serves it on the socket,
 * writes the pid file; then closes the server (ending every connection), the runtime, and removes the
 * socket and the pid file. Containers keep running.
 */
export async function runDaemon(opts: DaemonOptions): Promise<void> {
  const { log } = opts;
  await mkdir(opts.root, { recursive: true });
  await mkdir(dirname(opts.socket), { recursive: true, mode: 0o755 });
  const open =
    opts.openRuntime ??
    ((o: { root: string; runRoot?: string; log: (line: string) => void }) => EmbeddedRuntime.open(o));
  const runtime = await open({
    root: opts.root,
    ...(opts.runRoot !== undefined ? { runRoot: opts.runRoot } : {}),
    log,
  });
  const pidFile = pidFilePath(opts.socket);
  let server: Awaited<ReturnType<typeof startApiServer>>;
  let stacks: EngineStacks | undefined;
  try {
    // The stored stacks resume reconciling now, before the socket answers.
    stacks = isStackRuntime(runtime) ? await EngineStacks.open({ root: opts.root, runtime, log }) : undefined;
    // Two daemons started at once (two CLI commands auto-starting one) must not both judge an old
    // socket stale and remove each other's: the check and the bind happen under this lock.
    const startLock = await acquireLock(`${opts.socket}.lock`, {
      timeoutMs: 10_000,
      pollMs: 50,
      resource: `engine socket ${opts.socket}`,
    });
    try {
      server = await startApiServer({
        runtime,
        root: opts.root,
        socketPath: opts.socket,
        version: packageVersion(),
        log,
        ...(stacks !== undefined ? { stacks } : {}),
      });
    } finally {
      await startLock.release();
    }
  } catch (error) {
    await stacks?.close().catch(() => undefined);
    await runtime.close().catch(() => undefined);
    throw error;
  }

  const shutdown = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    shutdown.abort(signal);
  };
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  const stopRequested = (): void => {
    shutdown.abort("stop requested");
  };
  opts.stop?.addEventListener("abort", stopRequested);
  if (opts.stop?.aborted === true) stopRequested();
  const stopped = new Promise<string>((resolve) => {
    if (shutdown.signal.aborted) resolve(String(shutdown.signal.reason));
    shutdown.signal.addEventListener("abort", () => {
      resolve(String(shutdown.signal.reason));
    });
  });

  try {
    await writeFileAtomic(pidFile, `${process.pid}\n`);
    log(
      `tsstack engine ${packageVersion()} listening on ${opts.socket} (pid ${process.pid}, root ${opts.root})`,
    );
    opts.onReady?.({ socket: opts.socket, pid: process.pid });
    const reason = await stopped;
    log(`shutting down (${reason}); containers keep running`);
  } finally {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
    opts.stop?.removeEventListener("abort", stopRequested);
    await server.close().catch((error: unknown) => {
      log(`closing the API server: ${errorMessage(error)}`);
    });
    await stacks?.close().catch((error: unknown) => {
      log(`stopping the stacks' reconcilers: ${errorMessage(error)}`);
    });
    await runtime.close().catch((error: unknown) => {
      log(`closing the runtime: ${errorMessage(error)}`);
    });
    await unlink(pidFile).catch(() => undefined);
  }
}

export interface ConnectEngineOptions {
  /** The engine's state root (passed to a daemon started here; its log goes to `<root>/daemon.log`). */
  readonly root: string;
  readonly socket: string;
  /** Environment of a daemon started here. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Told once when a daemon was started here, with its pid, socket and log file. */
  readonly onStart: (message: string) => void;
  /** Start a daemon when none answers. Without, that is an `engine/unavailable` error. */
  readonly autoStart: boolean;
  /**
   * The tsstack command line to start a daemon with; `daemon --root R --socket S` is appended.
   * Default: this Node binary running bin/tsstack.js of this package.
   */
  readonly command?: readonly string[];
  /** How long a started daemon may take to answer. Default 10 s. */
  readonly startTimeoutMs?: number;
}

const START_TIMEOUT_MS = 10_000;
const START_POLL_MS = 50;
const LOG_TAIL_BYTES = 4096;

/**
 * An ApiClient on the engine's socket. When no engine answers and `autoStart` is set, starts one
 * (detached, in its own session, output to `<root>/daemon.log`) and waits until it answers.
 */
export async function connectEngine(opts: ConnectEngineOptions): Promise<ApiClient> {
  const client = new ApiClient(opts.socket);
  try {
    await client.ping();
    return client;
  } catch (error) {
    if (!(error instanceof TsstackError) || error.code !== "engine/unavailable") {
      client.close();
      throw error;
    }
    if (!opts.autoStart) {
      client.close();
      throw new TsstackError(
        "engine/unavailable",
        `no tsstack engine answers on ${opts.socket}; start one with \`tsstack daemon --socket ${opts.socket}\``,
        { cause: error },
      );
    }
  }
  try {
    await startDaemon(opts, client);
    return client;
  } catch (error) {
    client.close();
    throw error;
  }
}

async function startDaemon(opts: ConnectEngineOptions, client: ApiClient): Promise<void> {
  await mkdir(opts.root, { recursive: true });
  const logFile = join(opts.root, "daemon.log");
  const command = opts.command ?? [
    process.execPath,
    fileURLToPath(new URL("../../bin/tsstack.js", import.meta.url)),
  ];
  const [file, ...args] = command;
  if (file === undefined) throw new TsstackError("internal", "internal: empty daemon command");
  // Only what this start writes is quoted on failure: the log accumulates over starts.
  const logStart = await stat(logFile).then(
    (s) => s.size,
    () => 0,
  );
  const fd = openSync(logFile, "a", 0o600);
  let child;
  try {
    child = spawn(file, [...args, "daemon", "--root", opts.root, "--socket", opts.socket], {
      detached: true,
      stdio: ["ignore", fd, fd],
      env: opts.env,
    });
  } finally {
    closeSync(fd);
  }
  let exited: string | undefined;
  child.once("exit", (code, signal) => {
    exited = signal !== null ? `was killed by ${signal}` : `exited with code ${code ?? "?"}`;
  });
  let spawnError: Error | undefined;
  child.once("error", (error) => {
    spawnError = error;
  });
  child.unref();
  const pid = child.pid;
  if (pid !== undefined) {
    opts.onStart(`started the tsstack engine (pid ${pid}, socket ${opts.socket}, log ${logFile})`);
  }

  const timeoutMs = opts.startTimeoutMs ?? START_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await client.ping();
      return;
    } catch (error) {
      if (!(error instanceof TsstackError) || error.code !== "engine/unavailable") throw error;
    }
    const what = `starting the tsstack engine (${[file, ...args].join(" ")} daemon, pid ${pid ?? "?"}) for ${opts.socket}`;
    if (spawnError !== undefined) {
      throw new TsstackError("engine/start-failed", `${what}: ${spawnError.message}`, { cause: spawnError });
    }
    // The exit may come before the child's last log lines are on disk: read the log after it.
    const failure =
      exited !== undefined
        ? `it ${exited}`
        : Date.now() >= deadline
          ? `it did not answer within ${timeoutMs / 1000} s`
          : undefined;
    if (failure !== undefined) {
      const tail = await logTail(logFile, logStart);
      throw new TsstackError(
        "engine/start-failed",
        `${what}: ${failure}; ${tail === "" ? `its log ${logFile} is empty` : `its log ${logFile} ends with:\n${tail}`}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, START_POLL_MS));
  }
}

/** The last lines written to `file` after `from`, at most LOG_TAIL_BYTES. */
async function logTail(file: string, from: number): Promise<string> {
  try {
    const handle = await open(file, "r");
    try {
      const size = (await handle.stat()).size;
      const start = Math.max(from, size - LOG_TAIL_BYTES);
      const buf = Buffer.alloc(Math.max(0, size - start));
      await handle.read(buf, 0, buf.length, start);
      let text = buf.toString("utf8");
      if (start > from) text = text.slice(text.indexOf("\n") + 1);
      return text.trimEnd();
    } finally {
      await handle.close();
    }
  } catch {
    return "";
  }
}
