/**
 * The engine process (`tsstack daemon`). The CLI's way to reach it, starting it on demand, is
 * `connectEngine` in connect.ts (re-exported here).
 *
 * The daemon owns the node's runtime and serves it on a unix socket. Containers do not depend on it:
 * conmon supervises them, so stopping (or losing) the daemon leaves them running, and the next daemon
 * re-adopts them.
 */
import { readFileSync } from "node:fs";
import { mkdir, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { writeFileAtomic } from "../common/atomic.js";
import { acquireLock } from "../common/lock.js";
import { EngineStacks } from "../reconciler/engine-stacks.js";
import { isStackRuntime } from "../reconciler/stack-runtime.js";
import { EmbeddedRuntime } from "../runtime/embedded.js";
import type { Runtime } from "../runtime/runtime.js";
import { errorMessage } from "./errors.js";
import { startApiServer } from "./server.js";

export { connectEngine, type ConnectEngineOptions } from "./connect.js";

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
