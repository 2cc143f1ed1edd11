/**
 * Running the host's network tools (ip, iptables-restore, iptables-save): a small injectable runner, so
 * failures read "creating bridge tssb1a2b: ip -batch - exited with code 2: RTNETLINK answers: File
 * exists" and tests could swap the runner.
 */
import { spawn } from "node:child_process";
import { TsstackError } from "../common/errors.js";
import type { CommandRunner } from "../common/shell.js";

export { ShellRunner, type CommandRunner } from "../common/shell.js";

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
