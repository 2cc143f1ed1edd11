/**
 * The `tsstack` command line. Subcommands follow `docker compose`: same flags, same output shapes,
 * errors on stderr, machine output on stdout, exit codes 0 (ok), 1 (failure), 2 (usage/invalid input).
 */
import type { Command } from "commander";
import { COMMAND_GROUPS } from "./command-groups.js";
import { UsageError } from "./commands/config.js";
import { addEngineOptions } from "./engine-options.js";
import { ExitCode, processIo, type CliIo } from "./io.js";
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
  const program = await programFor(argv, io);
  let args: string[];
  try {
    args = dockerBooleanFlags(program, argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.stderr.write(`tsstack: ${e.message}\n`);
    return ExitCode.usage;
  }
  return runProgram(program, args, io);
}

/**
 * docker's boolean flags take `--flag=false` (`run --sig-proxy=false`); commander's booleans take
 * `--no-flag`. Among the options of the subcommand `argv` runs (up to its first operand: what
 * follows belongs to the container's command), `--flag=true|false` becomes `--flag`/`--no-flag`
 * where the command has both; any other value is a usage error.
 */
export function dockerBooleanFlags(program: Command, argv: readonly string[]): string[] {
  const out = [...argv];
  let cmd: Command = program;
  let i = 0;
  for (; i < out.length; i++) {
    const arg = out[i] ?? "";
    if (arg === "--") break;
    if (arg.startsWith("-") && arg !== "-") {
      const eq = arg.indexOf("=");
      const name = eq < 0 ? arg : arg.slice(0, eq);
      const option = cmd.options.find((o) => o.long === name || o.short === name);
      const value = arg.slice(eq + 1);
      if (eq >= 0 && option !== undefined && !option.required && !option.optional) {
        const negated = cmd.options.some((o) => o.long === `--no-${name.slice(2)}`);
        if (negated && value !== "true" && value !== "false")
          throw new UsageError(`invalid value "${value}" for ${name}: use ${name}=true or ${name}=false`);
        if (negated) out[i] = value === "true" ? name : `--no-${name.slice(2)}`;
      } else if (eq < 0 && option?.required === true) i++;
      continue;
    }
    // An operand: a subcommand of the current command, or the first operand of the leaf command.
    const sub = cmd.commands.find((c) => c.name() === arg || c.aliases().includes(arg));
    if (sub === undefined) break;
    cmd = sub;
  }
  return out;
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
