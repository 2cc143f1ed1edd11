/**
 * Starting containers under conmon, and the runc calls around it.
 *
 * conmon (the supervisor podman uses) runs `runc create`, then double-forks away from us: it holds the
 * container's stdio, writes the k8s-file log, and when the container exits writes its exit code to
 * `<exitDir>/<id>` and `<persistDir>/exit` (128+signal for a signal), plus `<persistDir>/oom` when the
 * kernel OOM-killed it. None of that needs the engine to be alive, which is what makes the daemon
 * crash-proof. The protocol (conmon API version 1): fd 3 (`_OCI_SYNCPIPE`) receives
 * `{"data": <pid>}` after `runc create` (or `{"data": -1, "message": …}`), and conmon waits to read
 * fd 4 (`_OCI_STARTPIPE`) before it does anything, so the caller could place it in a cgroup first.
 */
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import type { Readable, Writable } from "node:stream";
import { TsstackError } from "../../common/errors.js";

export const RUNC_PATHS = ["/usr/sbin/runc", "/usr/bin/runc"] as const;
export const CONMON_PATHS = ["/usr/bin/conmon", "/usr/libexec/podman/conmon"] as const;

/** The first existing path of `candidates`, or an error naming the Debian package to install. */
export function findBinary(what: string, candidates: readonly string[], pkg: string): string {
  const found = candidates.find((p) => existsSync(p));
  if (found === undefined)
    throw new TsstackError(
      "runtime/missing-binary",
      `${what} is not installed (looked for ${candidates.join(", ")}): install the Debian package ${pkg}`,
    );
  return found;
}

export interface ConmonStartOptions {
  readonly conmon: string;
  readonly runc: string;
  /** runc's `--root` (its state directory, one per engine). */
  readonly runcRoot: string;
  readonly id: string;
  readonly name: string;
  readonly bundle: string;
  readonly logPath: string;
  readonly exitDir: string;
  readonly persistDir: string;
  readonly pidFile: string;
  readonly conmonPidFile: string;
  /** Allocate a terminal (the bundle's config.json must say `terminal: true`). */
  readonly terminal?: boolean;
  /** Keep a stdin pipe open for attach. */
  readonly stdin?: boolean;
  /** Give up waiting for `runc create` after this long. Default 30 s. */
  readonly timeoutMs?: number;
}

/**
 * Runs `runc create` under a new conmon; resolves with the container's init pid once it exists
 * (created, not started: call `runc start` next). On failure the error quotes what conmon and runc
 * said, and nothing of the container is left running (conmon exits when create fails).
 */
export function startConmon(opts: ConmonStartOptions): Promise<{ pid: number }> {
  const args = [
    "--api-version",
    "1",
    "-c",
    opts.id,
    "-u",
    opts.id,
    "-n",
    opts.name,
    "-r",
    opts.runc,
    "-b",
    opts.bundle,
    "-p",
    opts.pidFile,
    "-P",
    opts.conmonPidFile,
    "-l",
    `k8s-file:${opts.logPath}`,
    "--exit-dir",
    opts.exitDir,
    "--persist-dir",
    opts.persistDir,
    "--socket-dir-path",
    opts.persistDir,
    "--runtime-arg",
    "--root",
    "--runtime-arg",
    opts.runcRoot,
    "--log-level",
    "error",
  ];
  if (opts.terminal === true) args.push("-t");
  if (opts.stdin === true) args.push("-i");
  const what = `starting container ${opts.name} (${opts.id.slice(0, 12)}) under conmon`;
  return new Promise((resolve, reject) => {
    // detached: conmon gets its own session, so a signal to the daemon's process group (Ctrl-C on a
    // foreground daemon) never reaches the containers' supervisors.
    // cwd: conmon also writes an `oom` file into its working directory (as well as the persist dir).
    const child = spawn(opts.conmon, args, {
      cwd: opts.bundle,
      stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"],
      env: { _OCI_SYNCPIPE: "3", _OCI_STARTPIPE: "4", PATH: process.env["PATH"] ?? "/usr/sbin:/usr/bin" },
      detached: true,
    });
    child.unref();
    const stderr: Buffer[] = [];
    const [, , errStream, syncStream, startStream] = child.stdio as unknown as [
      null,
      null,
      Readable,
      Readable,
      Writable,
    ];
    errStream.on("data", (d: Buffer) => stderr.push(d));
    let sync = "";
    let settled = false;
    const finish = (error: Error | undefined, pid?: number): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // Our ends of the pipes must not keep the event loop (or conmon's writes) waiting.
      syncStream.destroy();
      errStream.destroy();
      if (error !== undefined) reject(error);
      else resolve({ pid: pid ?? 0 });
    };
    const timer = setTimeout(() => {
      finish(new TsstackError("runtime/start-failed", `${what}: runc create did not finish within 30 s`));
    }, opts.timeoutMs ?? 30_000);
    timer.unref();
    const fail = (why: string): void => {
      const said = Buffer.concat(stderr).toString().trim();
      finish(new TsstackError("runtime/start-failed", `${what}: ${why}${said === "" ? "" : `: ${said}`}`));
    };
    child.on("error", (e) => {
      fail(e.message);
    });
    syncStream.setEncoding("utf8");
    syncStream.on("data", (chunk: string) => {
      sync += chunk;
      const nl = sync.indexOf("\n");
      if (nl < 0) return;
      let msg: { data?: unknown; message?: unknown };
      try {
        msg = JSON.parse(sync.slice(0, nl)) as { data?: unknown; message?: unknown };
      } catch {
        fail(`unreadable message from conmon: ${JSON.stringify(sync.slice(0, 200))}`);
        return;
      }
      if (typeof msg.data === "number" && msg.data > 0) finish(undefined, msg.data);
      else fail(typeof msg.message === "string" ? cleanRuncMessage(msg.message) : "runc create failed");
    });
    syncStream.on("end", () => {
      fail("conmon exited before the container was created");
    });
    startStream.on("error", () => undefined);
    startStream.end("0");
  });
}

/** runc prints logrus lines (`time="…" level=error msg="…"`); keep the message. */
export function cleanRuncMessage(text: string): string {
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
  const msgs = lines.map((l) => /\bmsg="((?:[^"\\]|\\.)*)"/.exec(l)?.[1]?.replace(/\\"/g, '"') ?? l);
  return msgs.join("; ");
}

export interface RuncResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `runc --root <root> …`; a failure names the action and quotes runc. */
export function runc(
  bin: string,
  root: string,
  args: readonly string[],
  what: string,
  opts: { readonly timeoutMs?: number } = {},
): Promise<RuncResult> {
  return new Promise((resolve, reject) => {
    execFile(
      bin,
      ["--root", root, ...args],
      { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve({ stdout, stderr });
          return;
        }
        const said = cleanRuncMessage(stderr);
        reject(
          new TsstackError(
            "runtime/runc-failed",
            `${what}: runc ${args[0] ?? ""} failed${said === "" ? `: ${error.message}` : `: ${said}`}`,
            { cause: error },
          ),
        );
      },
    );
  });
}

/** `runc state`: the runtime's view of one container, or undefined when runc does not know it. */
export async function runcState(
  bin: string,
  root: string,
  id: string,
): Promise<{ status: string; pid: number } | undefined> {
  try {
    const { stdout } = await runc(bin, root, ["state", id], `reading the state of container ${id}`);
    const s = JSON.parse(stdout) as { status?: unknown; pid?: unknown };
    return {
      status: typeof s.status === "string" ? s.status : "unknown",
      pid: typeof s.pid === "number" ? s.pid : 0,
    };
  } catch {
    return undefined;
  }
}

/** Whether a process exists (signal 0; EPERM still means it exists). */
export function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
