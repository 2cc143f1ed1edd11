/**
 * The `tsstack` command line. Subcommands follow `docker compose`: same flags, same output shapes,
 * errors on stderr, machine output on stdout, exit codes 0 (ok), 1 (failure), 2 (usage/invalid input).
 */
import type { Command } from "commander";
import { configCommand } from "./commands/config.js";
import { COMPOSE_COMMAND_NAMES, composeCommands } from "./commands/compose/commands.js";
import { daemonCommand } from "./commands/daemon.js";
import { CONTAINER_COMMAND_NAMES, containerCommands } from "./commands/container.js";
import { IMAGE_COMMAND_NAMES, imageCommands } from "./commands/image.js";
import { LOGIN_COMMAND_NAMES, loginCommands } from "./commands/login.js";
import { NETWORK_COMMAND_NAMES, networkCommands } from "./commands/network.js";
import { VOLUME_COMMAND_NAMES, volumeCommands } from "./commands/volume.js";
import { addEngineOptions } from "./engine-options.js";
import { processIo, type CliIo } from "./io.js";
import { addProjectOptions } from "./project-options.js";
import { newProgram, runProgram } from "./run.js";

export { isInvalidInput } from "./run.js";

export function buildProgram(io: CliIo): Command {
  const program = newProgram(io);
  addProjectOptions(program);
  addEngineOptions(program);
  configCommand(program, io);
  imageCommands(program, io);
  containerCommands(program, io);
  networkCommands(program, io);
  volumeCommands(program, io);
  loginCommands(program, io);
  daemonCommand(program, io);
  composeCommands(program, io);
  for (const sub of program.commands) sub.exitOverride().configureOutput(program.configureOutput());
  return program;
}

/** Runs the CLI; resolves to the process exit code. Never calls process.exit itself. */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const program = buildProgram(io);
  // docker's commands reuse -f and -p (filter, password) that compose's project options also claim:
  // for them, program options count only before the subcommand name, as docker's global flags do.
  const sub = subcommandName(program, argv);
  if (sub !== undefined && DOCKER_STYLE_COMMANDS.has(sub)) program.enablePositionalOptions();
  return runProgram(program, argv, io);
}

const DOCKER_STYLE_COMMANDS = new Set([
  ...IMAGE_COMMAND_NAMES,
  ...LOGIN_COMMAND_NAMES,
  ...CONTAINER_COMMAND_NAMES,
  ...NETWORK_COMMAND_NAMES,
  ...VOLUME_COMMAND_NAMES,
  // The compose commands take -f, -v, -t as their own (`logs -f`, `down -v`) and repeat the project
  // flags themselves (compose/project.ts).
  ...COMPOSE_COMMAND_NAMES,
]);

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
