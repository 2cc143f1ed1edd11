/**
 * mount(2) and umount2(2) for Node, which has neither: one long-lived Python helper (Debian's
 * python3 with ctypes, libpython3-stdlib) makes the system calls on request. A container start and
 * exit each mount or unmount an overlay; through util-linux's `mount`/`umount` (a fork and exec, then
 * libmount's work) that cost 4-8 ms each on our 2-core VMs, the system call alone ~1-2 ms.
 *
 * Requests are JSON lines answered in order, one at a time (`[errno, "ENAME", "message"]`). The
 * helper runs in its own process group (Ctrl-C on a foreground daemon does not reach it), holds the
 * event loop only while a request is in flight, and is replaced after a request that times out (a
 * hung unmount must not hold every later one) or when it dies.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync } from "node:fs";
import { TsstackError } from "./errors.js";

const PYTHON = "/usr/bin/python3";

const HELPER = `
import ctypes, errno, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
c = ctypes.c_char_p
libc.mount.argtypes = (c, c, c, ctypes.c_ulong, c)
libc.umount2.argtypes = (c, ctypes.c_int)
def b(s):
    return None if s is None else os.fsencode(s)
for line in sys.stdin:
    err = 0
    try:
        r = json.loads(line)
        os.chdir(r.get("cwd") or "/")
        if r["op"] == "mount":
            rc = libc.mount(b(r["source"]), b(r["target"]), b(r["fstype"]), r.get("flags", 0), b(r.get("data")))
        else:
            rc = libc.umount2(b(r["target"]), r.get("flags", 0))
        if rc != 0:
            err = ctypes.get_errno()
    except OSError as e:
        err = e.errno or errno.EIO
    except Exception:
        err = errno.EINVAL
    sys.stdout.write(json.dumps([err, errno.errorcode.get(err, "") if err else "", os.strerror(err) if err else ""]) + "\\n")
    sys.stdout.flush()
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

type Request =
  | {
      readonly op: "mount";
      readonly source: string;
      readonly target: string;
      readonly fstype: string;
      readonly flags?: number;
      readonly data?: string;
      readonly cwd?: string;
    }
  | { readonly op: "umount"; readonly target: string; readonly flags?: number };

interface Pending {
  readonly resolve: () => void;
  readonly reject: (errno: string, reason: string) => void;
  readonly timer: NodeJS.Timeout;
}

export class MountSyscalls {
  #child: ChildProcessWithoutNullStreams | undefined;
  #buffer = "";
  readonly #pending: Pending[] = [];
  readonly #timeoutMs: number;

  /** `timeoutMs`: a request taking longer fails and the helper is replaced; default 60 s. */
  constructor(opts: { readonly timeoutMs?: number } = {}) {
    this.#timeoutMs = opts.timeoutMs ?? 60_000;
  }

  /** mount(2); `cwd` is the directory relative paths in `data` (overlay lowerdirs) start from. */
  mount(
    source: string,
    target: string,
    fstype: string,
    data: string,
    opts: { readonly flags?: number; readonly cwd?: string } = {},
  ): Promise<void> {
    return this.#call({ op: "mount", source, target, fstype, data, ...opts });
  }

  /** umount2(2). */
  umount(target: string, flags = 0): Promise<void> {
    return this.#call({ op: "umount", target, flags });
  }

  #call(req: Request): Promise<void> {
    const what =
      req.op === "mount" ? `mount(2) of ${req.fstype} at ${req.target}` : `umount2(2) of ${req.target}`;
    let child: ChildProcessWithoutNullStreams;
    try {
      child = this.#helper();
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#fail(child, "ETIMEDOUT", `did not finish within ${this.#timeoutMs / 1000} s`);
      }, this.#timeoutMs);
      this.#pending.push({
        resolve,
        reject: (errno, reason) => {
          reject(new SyscallError(errno, reason, what));
        },
        timer,
      });
      this.#hold(child, true);
      child.stdin.write(`${JSON.stringify(req)}\n`);
    });
  }

  #helper(): ChildProcessWithoutNullStreams {
    if (this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null)
      return this.#child;
    if (!existsSync(PYTHON))
      throw new TsstackError(
        "host/missing-tool",
        `mounting needs ${PYTHON} with ctypes (install the Debian packages python3-minimal and libpython3-stdlib)`,
      );
    const child = spawn(PYTHON, ["-I", "-S", "-c", HELPER], {
      stdio: ["pipe", "pipe", "pipe"],
      env: { LC_ALL: "C" },
      detached: true,
    });
    this.#child = child;
    this.#buffer = "";
    let said = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (d: string) => {
      this.#buffer += d;
      this.#answer(child);
    });
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (d: string) => {
      if (said.length < 2000) said += d;
    });
    child.stdin.on("error", () => undefined);
    const gone = (why: string): void => {
      this.#fail(child, "ECHILD", `the mount helper (${PYTHON}) ${why}`);
    };
    child.on("error", (e) => {
      gone(`could not run: ${e.message}`);
    });
    child.on("close", (code, signal) => {
      gone(`ended (${signal ?? `exit code ${String(code)}`})${said.trim() === "" ? "" : `: ${said.trim()}`}`);
    });
    this.#hold(child, false);
    return child;
  }

  #answer(child: ChildProcessWithoutNullStreams): void {
    for (let nl = this.#buffer.indexOf("\n"); nl >= 0; nl = this.#buffer.indexOf("\n")) {
      const line = this.#buffer.slice(0, nl);
      this.#buffer = this.#buffer.slice(nl + 1);
      const p = this.#pending.shift();
      if (p === undefined) continue;
      clearTimeout(p.timer);
      let reply: [number, string, string];
      try {
        reply = JSON.parse(line) as [number, string, string];
      } catch {
        p.reject("EPROTO", `unreadable reply from the mount helper: ${JSON.stringify(line)}`);
        continue;
      }
      if (reply[0] === 0) p.resolve();
      else p.reject(reply[1] || `errno ${reply[0]}`, `${reply[1]} (${reply[2]})`);
    }
    if (this.#pending.length === 0) this.#hold(child, false);
  }

  /** Fails every request in flight and ends the helper; the next request starts a new one. */
  #fail(child: ChildProcessWithoutNullStreams, errno: string, reason: string): void {
    if (this.#child !== child) return;
    this.#child = undefined;
    for (const p of this.#pending.splice(0)) {
      clearTimeout(p.timer);
      p.reject(errno, reason);
    }
    try {
      if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, "SIGKILL");
    } catch {
      child.kill("SIGKILL");
    }
  }

  /** Only a request in flight keeps the event loop alive. */
  #hold(child: ChildProcessWithoutNullStreams, on: boolean): void {
    const handles = [child, child.stdin, child.stdout, child.stderr] as unknown as {
      ref?: () => void;
      unref?: () => void;
    }[];
    for (const h of handles)
      if (on) h.ref?.();
      else h.unref?.();
  }

  /** Ends the helper once the requests in flight are answered (it reads stdin to its end). */
  async close(): Promise<void> {
    const child = this.#child;
    if (child?.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once("close", () => {
        resolve();
      });
      this.#hold(child, true);
      child.stdin.end();
    });
  }
}
