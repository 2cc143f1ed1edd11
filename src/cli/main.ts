/**
 * The `tsstack` command line. Subcommands follow `docker compose`: same flags, same output shapes,
 * errors on stderr, machine output on stdout, exit codes 0 (ok), 1 (failure), 2 (usage/invalid input).
 */
import type { Command } from "commander";
import { COMMAND_GROUPS } from "./command-groups.js";
import { addEngineOptions } from "./engine-options.js";
import { processIo, type CliIo } from "./io.js";
import { addProjectOptions } from "./project-options.js";
import { newProgram, runProgram } from "./run.js";

export { isInvalidInput } from "./run.js";

/**
 * The program with the commands `argv` needs: the group of its subcommand, or every group when it
 * names none the groups know (`--help`, `help`, a typo: commander then lists or suggests them all).
 */
export async function programFor(argv: readonly string[], io: CliIo): Promise<Command> {
  const program = newProgram(io);
  addProjectOptions(program);
  addEngineOptions(program);
  const sub = subcommandName(program, argv);
  const group = COMMAND_GROUPS.find((g) => sub !== undefined && g.names.includes(sub));
  for (const g of group !== undefined ? [group] : COMMAND_GROUPS) await g.register(program, io);
  if (group?.positionalOptions === true) program.enablePositionalOptions();
  for (const cmd of program.commands) cmd.exitOverride().configureOutput(program.configureOutput());
  return program;
}

/** Runs the CLI; resolves to the process exit code. Never calls process.exit itself. */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  return runProgram(await programFor(argv, io), argv, io);
}

/** The first operand of `argv`, skipping the program's options and their values. */
function subcommandName(program: Command, argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "--") return argv[i + 1];
    if (!arg.startsWith("-") || arg === "-") return arg;
    if (arg.includes("=")) continue;
    const option = program.options.find((o) => o.long === arg || o.short === arg);
    if (option?.required === true) i++;
  }
  return undefined;
}
