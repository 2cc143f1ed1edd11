/**
 * Running a commander program as the `tsstack` CLI: the program's shape (name, version, output,
 * errors thrown instead of exiting) and the mapping of what ends a command to an exit code.
 */
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { TsstackError } from "../common/errors.js";
import { formatIssue, SpecError } from "../spec/diagnostics.js";
import { UsageError } from "./commands/config.js";
import { ExitStatus } from "./commands/container/exit-codes.js";
import { ExitCode, type CliIo } from "./io.js";

/** package.json sits two levels up from both src/cli and dist/cli. */
function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

/** The `tsstack` program, without its commands. */
export function newProgram(io: CliIo): Command {
  return new Command("tsstack")
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
}

/** Parses `argv` and runs the command; resolves to the process exit code (never exits itself). */
export async function runProgram(program: Command, argv: readonly string[], io: CliIo): Promise<number> {
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
