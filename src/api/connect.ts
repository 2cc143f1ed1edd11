/**
 * How the CLI reaches the engine: an API client on its socket, starting a daemon on demand when none
 * answers. Kept apart from the daemon itself (daemon.ts), which imports the whole engine: a CLI
 * command must not load the runtime, the reconcilers and xstate only to talk to them.
 */
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { mkdir, open, stat } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { TsstackError } from "../common/errors.js";
import { ApiClient } from "./client.js";

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
