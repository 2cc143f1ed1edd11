/**
 * What Node cannot do cheaply, done by long-lived Python helpers (Debian's python3 with ctypes,
 * libpython3-stdlib): mount(2) and umount2(2), which Node has no call for, and starting container
 * supervisors (conmon) without forking the daemon.
 *
 * - A container start and exit each mount or unmount an overlay; through util-linux's
 *   `mount`/`umount` (a fork and exec, then libmount's work) that cost 4-8 ms each on our 2-core VMs,
 *   the system call alone ~1-2 ms.
 * - A spawn from Node forks the whole daemon (tens of MB) and blocks its event loop until the child
 *   has exec'd, ~2-3 ms per container start; the helper's fork of a small process is a fraction of
 *   that and blocks nobody. The supervisor gets its own session (as `detached` would give it), so
 *   neither the helper's end nor a signal to its group reaches it; the helper reaps it when it ends.
 *
 * Requests are JSON lines with an id; mounts are made one at a time in order, each spawn waits for its
 * supervisor's first message on a thread of its own, and replies carry the id. Mounts and starts go
 * to two helpers (`hostHelper(role)`), so a slow mount never delays a start. A failure of the helper
 * itself (not the kernel's answer) is the errno name `EHELPER`. The helper runs in its
 * own process group (Ctrl-C on a foreground daemon does not reach it), holds the event loop only while
 * a request is in flight, and ends when the daemon does (its stdin closes). A mount that times out
 * (a hung unmount must not hold every later one) or a helper that dies fails what it held, and the
 * next request starts a new helper.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync } from "node:fs";
import { endChild, holdChild } from "./child-helper.js";
import { TsstackError } from "./errors.js";

const PYTHON = "/usr/bin/python3";

const HELPER = `
import errno, json, os, sys, threading
# Imported on first use: a mounts helper never loads subprocess, a supervisors helper never ctypes.
libc = None
out = threading.Lock()
parent = os.getppid()
def orphaned():
    # The daemon died (this helper was handed to init): it will never record what starts now.
    return os.getppid() != parent
def load_libc():
    global libc, ctypes
    import ctypes
    lib = ctypes.CDLL(None, use_errno=True)
    c = ctypes.c_char_p
    lib.mount.argtypes = (c, c, c, ctypes.c_ulong, c)
    lib.umount2.argtypes = (c, ctypes.c_int)
    libc = lib
def b(s):
    return None if s is None else os.fsencode(s)
def reply(rid, err, **extra):
    msg = dict(id=rid, errno=err, name=errno.errorcode.get(err, "") if err else "", text=os.strerror(err) if err else "")
    msg.update(extra)
    with out:
        sys.stdout.write(json.dumps(msg) + "\\n")
        sys.stdout.flush()
def helper_error(rid, e):
    # Not the kernel's answer: never to be mistaken for one (EINVAL means "not mounted" to callers).
    reply(rid, -1, name="EHELPER", text="%s: %s" % (type(e).__name__, e))
def syscall(r):
    if libc is None:
        load_libc()
    os.chdir(r.get("cwd") or "/")
    if r["op"] == "mount":
        rc = libc.mount(b(r["source"]), b(r["target"]), b(r["fstype"]), r.get("flags", 0), b(r.get("data")))
    else:
        rc = libc.umount2(b(r["target"]), r.get("flags", 0))
    return ctypes.get_errno() if rc != 0 else 0
def read_line(fd):
    buf = b""
    while b"\\n" not in buf and len(buf) < 1 << 20:
        d = os.read(fd, 65536)
        if not d:
            break
        buf += d
    return buf.split(b"\\n", 1)[0]
def supervise(r):
    rid = r.get("id")
    fds = []
    try:
        import subprocess
        rs, ws = os.pipe()
        fds += [rs, ws]
        re, we = os.pipe()
        fds += [re, we]
        env = dict(r["env"], _OCI_SYNCPIPE=str(ws))
        if orphaned():
            return reply(rid, errno.ECANCELED)
        try:
            p = subprocess.Popen(r["argv"], env=env, cwd=r["cwd"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=we, pass_fds=(ws,), start_new_session=True)
        except OSError as e:
            return reply(rid, e.errno or errno.EIO)
        for fd in (ws, we):
            fds.remove(fd)
            os.close(fd)
        threading.Thread(target=p.wait, daemon=True).start()
        first = read_line(rs)
        if orphaned():
            # Started for a daemon that is gone: end it rather than leave a run nobody recorded.
            try:
                os.killpg(p.pid, 9)
            except OSError:
                pass
        try:
            ok = json.loads(first).get("data", -1) > 0
        except Exception:
            ok = False
        # A supervisor that failed exits: its error output is whole. One that runs keeps it open.
        os.set_blocking(re, not ok)
        said = b""
        try:
            while len(said) < 1 << 16:
                d = os.read(re, 65536)
                if not d:
                    break
                said += d
        except BlockingIOError:
            pass
        reply(rid, 0, sync=first.decode(errors="replace"), stderr=said.decode(errors="replace"), child=p.pid)
    except Exception as e:
        helper_error(rid, e)
    finally:
        for fd in fds:
            os.close(fd)
for line in sys.stdin:
    try:
        r = json.loads(line)
        rid = r.get("id")
        op = r.get("op")
    except Exception:
        continue
    if op == "spawn":
        # Not a daemon thread: at the end of stdin, a start in flight is still answered.
        threading.Thread(target=supervise, args=(r,)).start()
    elif op in ("mount", "umount"):
        try:
            reply(rid, syscall(r))
        except OSError as e:
            reply(rid, e.errno or errno.EIO)
        except Exception as e:
            helper_error(rid, e)
    else:
        reply(rid, -1, name="EHELPER", text="unknown request %r" % (op,))
`;

/** umount2(2) flags. */
export const MNT_DETACH = 2;
export const UMOUNT_NOFOLLOW = 8;

/** A failed system call: `errno` is its name (`EBUSY`, `EINVAL`…), `reason` the errno and its text. */
export class SyscallError extends Error {
  constructor(
    readonly errno: string,
    readonly reason: string,
    call: string,
  ) {
    super(`${call}: ${reason}`);
    this.name = "SyscallError";
  }
}

interface Reply {
  readonly id: number;
  readonly errno: number;
  readonly name: string;
  readonly text: string;
  /** spawn: the supervisor's first line on its sync pipe ("" when it ended without one). */
  readonly sync?: string;
  /** spawn: its error output so far (all of it when it has ended). */
  readonly stderr?: string;
  /** spawn: the supervisor's pid. */
  readonly child?: number;
}

interface Pending {
  readonly resolve: (reply: Reply) => void;
  readonly reject: (errno: string, reason: string) => void;
  readonly timer: NodeJS.Timeout;
}

export class HostHelper {
  #child: ChildProcessWithoutNullStreams | undefined;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  readonly #timeoutMs: number;

  /** `timeoutMs`: a mount taking longer fails and the helper is replaced; default 60 s. */
  constructor(opts: { readonly timeoutMs?: number } = {}) {
    this.#timeoutMs = opts.timeoutMs ?? 60_000;
  }

  /** mount(2); `cwd` is the directory relative paths in `data` (overlay lowerdirs) start from. */
  async mount(
    source: string,
    target: string,
    fstype: string,
    data: string,
    opts: { readonly flags?: number; readonly cwd?: string } = {},
  ): Promise<void> {
    await this.#call(`mount(2) of ${fstype} at ${target}`, {
      op: "mount",
      source,
      target,
      fstype,
      data,
      ...opts,
    });
  }

  /** umount2(2). */
  async umount(target: string, flags = 0): Promise<void> {
    await this.#call(`umount2(2) of ${target}`, { op: "umount", target, flags });
  }

  /**
   * Starts a supervisor that reports on the pipe named by `_OCI_SYNCPIPE` (conmon's protocol), in a
   * session of its own, with stdin and stdout on /dev/null; resolves with its first message line
   * ("" if it ended without one) and its error output so far. A `timeoutMs` that passes fails the
   * call only: the supervisor and the helper carry on.
   */
  async spawnSupervisor(
    argv: readonly string[],
    opts: {
      readonly env: Readonly<Record<string, string>>;
      readonly cwd: string;
      readonly timeoutMs: number;
    },
  ): Promise<{ sync: string; stderr: string; pid: number }> {
    const reply = await this.#call(
      `starting ${argv[0] ?? "a process"}`,
      { op: "spawn", argv, env: opts.env, cwd: opts.cwd },
      { timeoutMs: opts.timeoutMs, replaceOnTimeout: false },
    );
    return { sync: reply.sync ?? "", stderr: reply.stderr ?? "", pid: reply.child ?? 0 };
  }

  #call(
    what: string,
    req: Record<string, unknown>,
    opts: { readonly timeoutMs?: number; readonly replaceOnTimeout?: boolean } = {},
  ): Promise<Reply> {
    let child: ChildProcessWithoutNullStreams;
    try {
      child = this.#helper();
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    const id = this.#nextId++;
    const timeoutMs = opts.timeoutMs ?? this.#timeoutMs;
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        const reason = `did not finish within ${timeoutMs / 1000} s`;
        if (opts.replaceOnTimeout !== false) {
          this.#fail(child, "ETIMEDOUT", reason, id);
          return;
        }
        const p = this.#pending.get(id);
        this.#pending.delete(id);
        p?.reject("ETIMEDOUT", reason);
        if (this.#pending.size === 0) holdChild(child, false);
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (reply) => {
          if (reply.errno === 0) resolve(reply);
          else
            reject(
              new SyscallError(reply.name || `errno ${reply.errno}`, `${reply.name} (${reply.text})`, what),
            );
        },
        reject: (errno, reason) => {
          reject(new SyscallError(errno, reason, what));
        },
        timer,
      });
      holdChild(child, true);
      child.stdin.write(`${JSON.stringify({ ...req, id })}\n`);
    });
  }

  #helper(): ChildProcessWithoutNullStreams {
    if (this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null)
      return this.#child;
    if (!existsSync(PYTHON))
      throw new TsstackError(
        "host/missing-tool",
        `tsstack's host helper needs ${PYTHON} with ctypes (install the Debian packages python3-minimal and libpython3-stdlib)`,
      );
    const child = spawn(PYTHON, ["-I", "-S", "-c", HELPER], {
      stdio: ["pipe", "pipe", "pipe"],
      env: { LC_ALL: "C", PATH: process.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin" },
      detached: true,
    });
    this.#child = child;
    let said = "";
    // Each helper's own buffer: a replaced one's late output never mixes into its successor's.
    let buffer = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (d: string) => {
      if (this.#child !== child) return;
      buffer = this.#answer(child, buffer + d);
    });
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (d: string) => {
      if (said.length < 2000) said += d;
    });
    child.stdin.on("error", () => undefined);
    const gone = (why: string): void => {
      this.#fail(child, "ECHILD", `the host helper (${PYTHON}) ${why}`);
    };
    child.on("error", (e) => {
      gone(`could not run: ${e.message}`);
    });
    child.on("close", (code, signal) => {
      gone(`ended (${signal ?? `exit code ${String(code)}`})${said.trim() === "" ? "" : `: ${said.trim()}`}`);
    });
    holdChild(child, false);
    return child;
  }

  /** Settles the requests whose replies are whole in `buffer`; returns the rest. */
  #answer(child: ChildProcessWithoutNullStreams, buffer: string): string {
    let rest = buffer;
    for (let nl = rest.indexOf("\n"); nl >= 0; nl = rest.indexOf("\n")) {
      const line = rest.slice(0, nl);
      rest = rest.slice(nl + 1);
      let reply: Reply;
      try {
        reply = JSON.parse(line) as Reply;
      } catch {
        continue;
      }
      const p = this.#pending.get(reply.id);
      if (p === undefined) continue; // timed out meanwhile
      this.#pending.delete(reply.id);
      clearTimeout(p.timer);
      p.resolve(reply);
    }
    if (this.#pending.size === 0) holdChild(child, false);
    return rest;
  }

  /**
   * Fails every request in flight and ends the helper; the next request starts a new one. With
   * `culprit` (the request that hung), the others fail as ECANCELED: theirs is not the fault.
   */
  #fail(child: ChildProcessWithoutNullStreams, errno: string, reason: string, culprit?: number): void {
    if (this.#child !== child) return;
    this.#child = undefined;
    const pending = [...this.#pending.entries()];
    this.#pending.clear();
    for (const [id, p] of pending) {
      clearTimeout(p.timer);
      if (culprit === undefined || id === culprit) p.reject(errno, reason);
      else p.reject("ECANCELED", `the host helper was replaced: another request ${reason}`);
    }
    try {
      if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, "SIGKILL");
    } catch {
      child.kill("SIGKILL");
    }
  }

  /** Ends the helper once the requests in flight are answered (it reads stdin to its end). */
  close(): Promise<void> {
    return endChild(this.#child);
  }
}

const shared = new Map<"mounts" | "supervisors", HostHelper>();

/**
 * The helpers of this process (each started on first use): one for mounts, one for supervisor
 * starts, so that a hung unmount (whose helper gets replaced) never holds up or fails a start.
 */
export function hostHelper(role: "mounts" | "supervisors"): HostHelper {
  let h = shared.get(role);
  if (h === undefined) {
    h = new HostHelper();
    shared.set(role, h);
  }
  return h;
}
