/**
 * Running the host's network tools (ip, iptables-restore, iptables-save): a small injectable runner, so
 * failures read "creating bridge tssb1a2b: ip -batch - exited with code 2: RTNETLINK answers: File
 * exists" and tests could swap the runner.
 */
import { TsstackError } from "../common/errors.js";
import type { CommandRunner } from "../common/shell.js";

export { ShellRunner, type CommandRunner } from "../common/shell.js";

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
