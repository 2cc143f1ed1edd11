/**
 * Exit statuses of the container commands, as the docker CLI chooses them.
 *
 * `run`, `start -a` and `exec` exit with the container's (or exec's) own exit code, so their own
 * failures use codes a program rarely returns: 125 when tsstack or the engine failed (bad flag value,
 * daemon unreachable, create refused, image missing), 126 when the command cannot be invoked
 * (permission denied, a directory), 127 when it is not found. Like docker, which command failed is
 * read from the runtime's start error: its code (`…/command-not-found`, `…/command-not-executable`)
 * when it has one, else the same message fragments docker matches ("executable file not found",
 * "no such file or directory", "permission denied", "is a directory"). Parse errors of the command
 * line itself (an unknown flag) stay usage errors (2), found by commander before anything runs.
 */
import { TsstackError } from "../../../common/errors.js";

/** Ends the CLI with `exitCode`; main prints `message` (when not empty) on stderr. */
export class ExitStatus extends Error {
  override readonly name = "ExitStatus";
  constructor(
    readonly exitCode: number,
    message = "",
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const RunExitCode = { engineFailed: 125, cannotInvoke: 126, notFound: 127 } as const;

/** `run`/`create`: anything failing before the container starts (flags, engine, create) is 125. */
export function engineFailure(err: unknown): ExitStatus {
  if (err instanceof ExitStatus) return err;
  return new ExitStatus(RunExitCode.engineFailed, errorMessage(err), { cause: err });
}

/** A failed start (`run`, `start -a`) or exec: 127 not found, 126 cannot invoke, else 125. */
export function startFailure(err: unknown): ExitStatus {
  if (err instanceof ExitStatus) return err;
  const code = err instanceof TsstackError ? err.code : "";
  const message = errorMessage(err);
  let status: number = RunExitCode.engineFailed;
  if (code.endsWith("/command-not-found")) status = RunExitCode.notFound;
  else if (code.endsWith("/command-not-executable")) status = RunExitCode.cannotInvoke;
  else if (/executable file not found|no such file or directory/i.test(message))
    status = RunExitCode.notFound;
  else if (/permission denied|is a directory/i.test(message)) status = RunExitCode.cannotInvoke;
  return new ExitStatus(status, message, { cause: err });
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
