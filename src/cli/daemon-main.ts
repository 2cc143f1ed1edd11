/**
 * `tsstack daemon …` on its own: bin/tsstack.js comes here when the first argument is `daemon`, so
 * the long-running engine does not load (and hold in memory, ~4.5 MB) every other command of the
 * CLI. Same flags, help and exit codes as the daemon command of the whole CLI (main.ts).
 */
import { daemonCommand } from "./commands/daemon.js";
import { processIo, type CliIo } from "./io.js";
import { newProgram, runProgram } from "./run.js";

/** Runs `argv` (which starts with `daemon`); resolves to the process exit code. */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const program = newProgram(io);
  daemonCommand(program, io);
  for (const sub of program.commands) sub.exitOverride().configureOutput(program.configureOutput());
  return runProgram(program, argv, io);
}
