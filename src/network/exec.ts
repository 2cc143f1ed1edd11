/**
 * Running the host's network tools (ip, iptables-restore, iptables-save): a small injectable runner, so
 * failures read "creating bridge tssb1a2b: ip -batch - exited with code 2: RTNETLINK answers: File
 * exists" and tests could swap the runner.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { randomBytes } from "node:crypto";
import { TsstackError } from "../common/errors.js";

export type CommandRunner = (file: string, args: readonly string[], input?: string) => Promise<string>;

/** Runs `file` with `args`, feeding `input` on stdin; resolves with stdout, rejects with stderr. */
export const runCommand: CommandRunner = (file, args, input) =>
  new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    child.on("error", (e) => {
      reject(
        new TsstackError("network/command-failed", `${file} ${args.join(" ")}: ${e.message}`, { cause: e }),
      );
    });
    child.on("close", (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString());
      else
        reject(
          new TsstackError(
            "network/command-failed",
            `${file} ${args.join(" ")} exited with code ${String(code)}: ${Buffer.concat(err).toString().trim()}`,
          ),
        );
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(input ?? "");
  });

/** Prefixes a runner's failures with what was being done. */
export async function run(
  runner: CommandRunner,
  what: string,
  file: string,
  args: readonly string[],
  input?: string,
): Promise<string> {
  try {
    return await runner(file, args, input);
  } catch (e) {
    if (e instanceof TsstackError) throw new TsstackError(e.code, `${what}: ${e.message}`, { cause: e });
    throw e;
  }
}

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

  readonly run: CommandRunner = (file, args, input) => {
    const result = this.#tail.then(() => this.#request(file, args, input));
    this.#tail = result.catch(() => undefined);
    return result;
  };

  #shell(): ChildProcessWithoutNullStreams {
    if (this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null)
      return this.#child;
    const child = spawn("/bin/sh", [], {
      stdio: ["pipe", "pipe", "pipe"],
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C" },
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
    this.#child = child;
    this.#hold(child, false);
    this.#buffer = "";
    return child;
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

  async #request(file: string, args: readonly string[], input: string | undefined): Promise<string> {
    const sh = this.#shell();
    this.#hold(sh, true);
    try {
      return await this.#exchange(sh, file, args, input);
    } finally {
      this.#hold(sh, false);
    }
  }

  async #exchange(
    sh: ChildProcessWithoutNullStreams,
    file: string,
    args: readonly string[],
    input: string | undefined,
  ): Promise<string> {
    const token = randomBytes(8).toString("hex");
    const quoted = [file, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
    const stdin =
      input !== undefined && input !== ""
        ? ` <<'TSS_${token}'\n${input.endsWith("\n") ? input : `${input}\n`}TSS_${token}\n`
        : " </dev/null\n";
    const marker = `@@tss-${token}:`;
    sh.stdin.write(`{ ${quoted}${stdin}} 2>&1; echo "\n${marker}$?"\n`);
    for (;;) {
      const at = this.#buffer.indexOf(marker);
      const end = at < 0 ? -1 : this.#buffer.indexOf("\n", at);
      if (end >= 0) {
        const output = this.#buffer.slice(0, at).replace(/\n$/, "");
        const code = Number(this.#buffer.slice(at + marker.length, end));
        this.#buffer = this.#buffer.slice(end + 1);
        if (code === 0) return output;
        throw new TsstackError(
          "network/command-failed",
          `${file} ${args.join(" ")} exited with code ${code}: ${output.trim()}`,
        );
      }
      if (sh.exitCode !== null || sh.signalCode !== null)
        throw new TsstackError("network/command-failed", `${file} ${args.join(" ")}: the helper shell ended`);
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
