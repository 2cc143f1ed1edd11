/**
 * Running host tools through one long-lived shell (ip, iptables-restore, mount, umount): on a small
 * VM a spawn from the daemon's large Node process blocks its event loop for milliseconds (the fork
 * of the whole process, then the wait for the child's exec); the shell's own fork+exec is cheap.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { randomBytes } from "node:crypto";
import { endChild, holdChild } from "./child-helper.js";
import { TsstackError } from "./errors.js";

export type CommandRunner = (file: string, args: readonly string[], input?: string) => Promise<string>;

/**
 * A runner that sends commands through one long-lived `/bin/sh` instead of spawning each: on a small
 * VM, a spawn from Node costs ~6 ms, of which the fork of the large Node process is half; the shell's
 * own fork+exec of `ip` costs ~3 ms. Container starts run two `ip` batches, so this is most of the
 * networking's share of a start. Requests run one at a time; each one's output and error output come
 * back merged, up to a marker line carrying its exit status. `close()` ends the shell (also unref'ed,
 * so a forgotten close never keeps the process alive).
 */
export class ShellRunner {
  #child: ChildProcessWithoutNullStreams | undefined;
  #tail: Promise<unknown> = Promise.resolve();
  #buffer = "";
  #waiter: ((line: string | undefined) => void) | undefined;

  readonly #errorCode: string;
  readonly #timeoutMs: number;
  /** Why the current shell is unusable (it could not start), if it is. */
  #broken: Error | undefined;

  /**
   * `errorCode`: the code of the errors `run` throws (the caller's domain: network, rootfs…).
   * `timeoutMs`: a request taking longer fails and the shell is replaced (a hung `umount` must not
   * hold every later request); default 60 s.
   */
  constructor(errorCode = "network/command-failed", opts: { readonly timeoutMs?: number } = {}) {
    this.#errorCode = errorCode;
    this.#timeoutMs = opts.timeoutMs ?? 60_000;
  }

  /** Runs a command; resolves with its output (stdout and stderr merged), rejects when it fails. */
  readonly run: CommandRunner = async (file, args, input) => {
    const { code, output } = await this.status(file, args, { input });
    if (code === 0) return output;
    throw new TsstackError(
      this.#errorCode,
      `${file} ${args.join(" ")} exited with code ${String(code)}: ${output.trim()}`,
    );
  };

  /**
   * Runs a command, in `cwd` when given (the shell's own directory does not change); resolves with
   * its exit status and merged output whatever the status. Rejects only when the shell itself ends.
   */
  status(
    file: string,
    args: readonly string[],
    opts: { readonly input?: string | undefined; readonly cwd?: string | undefined } = {},
  ): Promise<{ code: number; output: string }> {
    const result = this.#tail.then(() => this.#request(file, args, opts.input, opts.cwd));
    this.#tail = result.catch(() => undefined);
    return result;
  }

  #shell(): ChildProcessWithoutNullStreams {
    if (
      this.#child !== undefined &&
      this.#broken === undefined &&
      this.#child.exitCode === null &&
      this.#child.signalCode === null
    )
      return this.#child;
    this.#broken = undefined;
    // Its own process group: a timeout ends the shell with whatever it runs, and Ctrl-C on a
    // foreground daemon does not reach it.
    const child = spawn("/bin/sh", [], {
      stdio: ["pipe", "pipe", "pipe"],
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C" },
      detached: true,
    });
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (d: string) => {
      this.#buffer += d;
      this.#waiter?.(undefined);
    });
    child.stderr.on("data", () => undefined);
    child.stdin.on("error", () => undefined);
    child.on("close", () => {
      this.#waiter?.(undefined);
    });
    // A shell that cannot start (EAGAIN, ENOMEM…) fails its request, and the next one tries anew.
    child.on("error", (e) => {
      this.#broken = e;
      this.#waiter?.(undefined);
    });
    this.#child = child;
    holdChild(child, false);
    this.#buffer = "";
    return child;
  }

  async #request(
    file: string,
    args: readonly string[],
    input: string | undefined,
    cwd: string | undefined,
  ): Promise<{ code: number; output: string }> {
    const sh = this.#shell();
    holdChild(sh, true);
    try {
      return await this.#exchange(sh, file, args, input, cwd);
    } finally {
      holdChild(sh, false);
    }
  }

  async #exchange(
    sh: ChildProcessWithoutNullStreams,
    file: string,
    args: readonly string[],
    input: string | undefined,
    cwd: string | undefined,
  ): Promise<{ code: number; output: string }> {
    const token = randomBytes(8).toString("hex");
    const quote = (a: string): string => `'${a.replace(/'/g, "'\\''")}'`;
    const quoted = [file, ...args].map(quote).join(" ");
    const stdin =
      input !== undefined && input !== ""
        ? ` <<'TSS_${token}'\n${input.endsWith("\n") ? input : `${input}\n`}TSS_${token}\n`
        : " </dev/null\n";
    const marker = `@@tss-${token}:`;
    // With a cwd, a subshell changes directory, so the next request starts where the shell is.
    const command =
      cwd === undefined ? `{ ${quoted}${stdin}}` : `( cd ${quote(cwd)} && exec ${quoted}${stdin})`;
    sh.stdin.write(`${command} 2>&1; echo "\n${marker}$?"\n`);
    const what = `${file} ${args.join(" ")}`;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      // The shell goes (with it the request's output so far); the next request starts a new one.
      this.#broken = new Error(`did not finish within ${this.#timeoutMs / 1000} s`);
      try {
        if (sh.pid !== undefined) process.kill(-sh.pid, "SIGKILL");
      } catch {
        sh.kill("SIGKILL");
      }
      this.#waiter?.(undefined);
    }, this.#timeoutMs);
    try {
      return await this.#await(sh, marker, what, () => timedOut);
    } finally {
      clearTimeout(timer);
    }
  }

  async #await(
    sh: ChildProcessWithoutNullStreams,
    marker: string,
    what: string,
    timedOut: () => boolean,
  ): Promise<{ code: number; output: string }> {
    for (;;) {
      const at = this.#buffer.indexOf(marker);
      const end = at < 0 ? -1 : this.#buffer.indexOf("\n", at);
      if (end >= 0) {
        const output = this.#buffer.slice(0, at).replace(/\n$/, "");
        const code = Number(this.#buffer.slice(at + marker.length, end));
        this.#buffer = this.#buffer.slice(end + 1);
        return { code, output };
      }
      if (timedOut() || this.#broken !== undefined)
        throw new TsstackError(this.#errorCode, `${what}: ${this.#broken?.message ?? "timed out"}`);
      if (sh.exitCode !== null || sh.signalCode !== null)
        throw new TsstackError(this.#errorCode, `${what}: the helper shell ended`);
      await new Promise<void>((resolve) => {
        this.#waiter = () => {
          this.#waiter = undefined;
          resolve();
        };
      });
    }
  }

  /** Ends the shell (after the requests already queued). */
  async close(): Promise<void> {
    await this.#tail;
    const child = this.#child;
    this.#child = undefined;
    await endChild(child);
  }
}
