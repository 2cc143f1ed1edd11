/**
 * The `tsstack` command line. Subcommands follow `docker compose`: same flags, same output shapes,
 * errors on stderr, machine output on stdout, exit codes 0 (ok), 1 (failure), 2 (usage/invalid input).
 */
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { TsstackError } from "../common/errors.js";
import { formatIssue, SpecError } from "../spec/diagnostics.js";
import { configCommand, UsageError } from "./commands/config.js";
import { COMPOSE_COMMAND_NAMES, composeCommands } from "./commands/compose/commands.js";
import { daemonCommand } from "./commands/daemon.js";
import { CONTAINER_COMMAND_NAMES, containerCommands } from "./commands/container.js";
import { ExitStatus } from "./commands/container/exit-codes.js";
import { IMAGE_COMMAND_NAMES, imageCommands } from "./commands/image.js";
import { LOGIN_COMMAND_NAMES, loginCommands } from "./commands/login.js";
import { NETWORK_COMMAND_NAMES, networkCommands } from "./commands/network.js";
import { VOLUME_COMMAND_NAMES, volumeCommands } from "./commands/volume.js";
import { addEngineOptions } from "./engine-options.js";
import { ExitCode, processIo, type CliIo } from "./io.js";
import { addProjectOptions } from "./project-options.js";

/** package.json sits two levels up from both src/cli and dist/cli. */
function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

export function buildProgram(io: CliIo): Command {
  const program = new Command("tsstack")
    .description(
      "Declarative multi-container orchestrator: Compose-compatible stack files in, running containers out.",
    )
    .version(version(), "-v, --version", "print the version")
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .exitOverride()
    .showHelpAfterError("(run with --help for usage)");
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
  try {
    await program.parseAsync([...argv], { from: "user" });
    return ExitCode.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end through here too, with exit code 0.
      if (e.exitCode === 0) return ExitCode.ok;
      return ExitCode.usage;
    }
    if (e instanceof ExitStatus) {
      // `run`, `exec`, `start -a`: the container's own exit code, or docker's 125/126/127.
      if (e.message !== "") io.stderr.write(`tsstack: ${e.message}\n`);
      return e.exitCode;
    }
    if (e instanceof UsageError) {
      io.stderr.write(`tsstack: ${e.message}\n`);
      return ExitCode.usage;
    }
    if (e instanceof SpecError) {
      io.stderr.write(`${e.message}\n`);
      for (const w of e.issues.filter((i) => i.severity === "warning"))
        io.stderr.write(`  ${formatIssue(w)}\n`);
      return ExitCode.usage;
    }
    if (e instanceof TsstackError) {
      io.stderr.write(`tsstack: ${e.message}\n`);
      return isInvalidInput(e.code) ? ExitCode.usage : ExitCode.failure;
    }
    io.stderr.write(`tsstack: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return ExitCode.failure;
  }
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

/**
 * Errors caused by what the user gave (a stack file, an image reference, an archive or layer that is
 * malformed or hostile) exit 2 like usage errors; failures of the world (registry down, disk full) exit 1.
 */
export function isInvalidInput(code: string): boolean {
  return (
    code.startsWith("spec/") ||
    /\/invalid(-|$)/.test(code) ||
    code === "layer/hostile" ||
    code === "layer/corrupt"
  );
}
