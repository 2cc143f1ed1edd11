/**
 * Starting containers under conmon, and the runc calls around it.
 *
 * conmon (the supervisor podman uses) runs `runc create` (or `run --detach`) in a session of its own:
 * it holds the container's stdio, writes the k8s-file log, and when the container exits writes its
 * exit code to `<exitDir>/<id>` and `<persistDir>/exit` (128+signal for a signal), plus
 * `<persistDir>/oom` when the kernel OOM-killed it. None of that needs the engine to be alive, which
 * is what makes the daemon crash-proof. The protocol (conmon API version 1): the pipe named by
 * `_OCI_SYNCPIPE` receives `{"data": <pid>}` after `runc create` (or `{"data": -1, "message": …}`).
 * (`_OCI_STARTPIPE`, which would hold conmon back until the caller writes to it, is not used.)
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { readFile, rm, rmdir } from "node:fs/promises";
import { join } from "node:path";
import { TsstackError } from "../../common/errors.js";
import { hostHelper, SyscallError } from "../../common/host-helper.js";

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
  /**
   * Start the container in the same runc call (`runc run --detach` instead of `runc create`): one
   * process fewer than create + `runc start`. Only when nothing has to happen between the two (an
   * attach that must see the first output does).
   */
  readonly startNow?: boolean;
}

/**
 * What conmon runs as its "runtime" when the container starts at once: a shell that turns conmon's
 * `create` into `run --detach` and hands every other argument to runc ($0) unchanged. Inline (`sh -c`)
 * rather than a file, so it works from any install and on a noexec file system.
 */
const RUN_DETACHED_SCRIPT =
  'd=; for a do shift; if [ -z "$d" ] && [ "$a" = create ]; then d=1; set -- "$@" run --detach; else set -- "$@" "$a"; fi; done; exec "$0" "$@"';

/**
 * Runs `runc create` under a new conmon; resolves with the container's init pid once it exists
 * (created, not started: call `runc start` next; with `startNow`, already started). On failure the error quotes what conmon and runc
 * said, and nothing of the container is left running (conmon exits when create fails).
 */
export async function startConmon(opts: ConmonStartOptions): Promise<{ pid: number; conmonPid: number }> {
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
    opts.startNow === true ? "/bin/sh" : opts.runc,
    ...(opts.startNow === true
      ? ["--runtime-arg", "-c", "--runtime-arg", RUN_DETACHED_SCRIPT, "--runtime-arg", opts.runc]
      : []),
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
    // Fork once, not twice: conmon stays the host helper's child (in its own session), and a start is
    // ~8 ms faster. A daemon (and so a helper) that dies leaves it to init, like the double-forked one.
    "--sync",
  ];
  if (opts.terminal === true) args.push("-t");
  if (opts.stdin === true) args.push("-i");
  const what = `starting container ${opts.name} (${opts.id.slice(0, 12)}) under conmon`;
  // Through the host helper: no fork of the daemon (common/host-helper.ts). cwd: conmon also writes an
  // `oom` file into its working directory (as well as the persist dir).
  let sync: string;
  let stderr: string;
  let conmonPid: number;
  try {
    ({
      sync,
      stderr,
      pid: conmonPid,
    } = await hostHelper("supervisors").spawnSupervisor([opts.conmon, ...args], {
      env: { PATH: process.env["PATH"] ?? "/usr/sbin:/usr/bin" },
      cwd: opts.bundle,
      timeoutMs: opts.timeoutMs ?? 30_000,
    }));
  } catch (e) {
    const timedOut = e instanceof SyscallError && e.errno === "ETIMEDOUT";
    const reason = timedOut
      ? `runc create did not finish within ${(opts.timeoutMs ?? 30_000) / 1000} s`
      : e instanceof Error
        ? e.message
        : String(e);
    throw new TsstackError("runtime/start-failed", `${what}: ${reason}`, { cause: e });
  }
  const fail = (why: string): TsstackError => {
    const said = stderr.trim();
    return new TsstackError("runtime/start-failed", `${what}: ${why}${said === "" ? "" : `: ${said}`}`);
  };
  if (sync === "") throw fail("conmon exited before the container was created");
  let msg: { data?: unknown; message?: unknown };
  try {
    msg = JSON.parse(sync) as { data?: unknown; message?: unknown };
  } catch {
    throw fail(`unreadable message from conmon: ${JSON.stringify(sync.slice(0, 200))}`);
  }
  if (typeof msg.data === "number" && msg.data > 0) return { pid: msg.data, conmonPid };
  throw fail(typeof msg.message === "string" ? cleanRuncMessage(msg.message) : "runc create failed");
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

/**
 * Releases what runc holds for a container whose init has exited, as `runc delete` would: its
 * cgroups (the paths runc recorded in its state.json) and its state directory, without starting a
 * runc process (a few milliseconds saved on every exit). When a cgroup still holds processes (a PID
 * namespace shared with the host leaves the init's children running) or the state is unreadable, it
 * falls back to `runc delete --force`, which kills what is left. A container runc does not know is
 * left alone.
 */
export async function releaseExited(bin: string, root: string, id: string): Promise<void> {
  const dir = join(root, id);
  let paths: string[];
  try {
    const state = JSON.parse(await readFile(join(dir, "state.json"), "utf8")) as {
      cgroup_paths?: Record<string, unknown>;
    };
    paths = [...new Set(Object.values(state.cgroup_paths ?? {}))].filter(
      (p): p is string => typeof p === "string" && p !== "",
    );
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT" && !existsSync(dir)) return;
    await runc(bin, root, ["delete", "--force", id], `deleting container ${id}`);
    return;
  }
  // Only cgroups, and only this container's: a state file is never a licence to remove anything else.
  if (paths.some((p) => !p.startsWith("/sys/fs/cgroup/") || !p.includes(id) || p.includes(".."))) {
    await runc(bin, root, ["delete", "--force", id], `deleting container ${id}`);
    return;
  }
  try {
    // cgroup v1 mounts some controllers together (cpu,cpuacct): the second name is gone already.
    await Promise.all(
      paths.map((p) =>
        rmdir(p).catch((e: unknown) => {
          if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
        }),
      ),
    );
  } catch {
    await runc(bin, root, ["delete", "--force", id], `deleting container ${id}`);
    return;
  }
  await rm(dir, { recursive: true, force: true });
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

/**
 * A process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat), or undefined when
 * the process is gone. With the pid it names one process for good: pids are reused, start times are
 * not (runc checks the same before it signals a container's init).
 */
export async function processStartTime(pid: number): Promise<string | undefined> {
  await Promise.resolve();
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  let stat: string;
  try {
    // Synchronous: a /proc read is microseconds, a thread-pool round trip far more (on every signal).
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid …": comm may hold spaces and parentheses, so count from the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return fields[19];
}

/**
 * The start time runc recorded for a container's init (`init_process_start` in its state.json, the
 * same clock ticks as /proc/<pid>/stat field 22), or undefined when runc holds no state for it.
 */
export async function runcInitStart(root: string, id: string): Promise<string | undefined> {
  await Promise.resolve();
  try {
    // Synchronous: a small file on tmpfs, read on every start.
    const state = JSON.parse(readFileSync(join(root, id, "state.json"), "utf8")) as {
      init_process_start?: unknown;
    };
    const start = state.init_process_start;
    return typeof start === "number" && Number.isSafeInteger(start) && start > 0 ? String(start) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Sends `signal` (a number) to `pid` if it is still the process that started at `startTime`; false
 * when it is not (gone, or the pid now names another process), so the caller can ask runc instead.
 */
export async function signalIfSame(pid: number, startTime: string, signal: number): Promise<boolean> {
  if ((await processStartTime(pid)) !== startTime) return false;
  try {
    process.kill(pid, signal);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw e;
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
