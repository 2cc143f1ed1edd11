import type { Command } from "commander";
import type { LoadOptions } from "../spec/load.js";
import type { CliIo } from "./io.js";

/** The project flags of `docker compose` (global: accepted before or after the subcommand). */
export interface ProjectFlags {
  file?: string[];
  projectName?: string;
  projectDirectory?: string;
  envFile?: string[];
  profile?: string[];
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/** The project flags; `fileShort: false` leaves `-f` to the command (`logs -f` follows) and keeps `--file`. */
export function addProjectOptions(cmd: Command, opts: { readonly fileShort?: boolean } = {}): Command {
  return cmd
    .option(
      opts.fileShort === false ? "--file <path>" : "-f, --file <path>",
      "stack file (repeatable; later files override earlier ones)",
      collect,
    )
    .option(
      "-p, --project-name <name>",
      "project name (default: `name:` in the file, else the directory name)",
    )
    .option(
      "--project-directory <dir>",
      "base directory for relative paths (default: the first file's directory)",
    )
    .option("--env-file <path>", "read variables from this file instead of .env (repeatable)", collect)
    .option(
      "--profile <name>",
      "enable services of this profile (repeatable; also TSSTACK_PROFILES)",
      collect,
    );
}

export function loadOptionsFrom(flags: ProjectFlags, io: CliIo): LoadOptions {
  return {
    files: flags.file,
    workingDir: io.cwd,
    projectName: flags.projectName,
    projectDirectory: flags.projectDirectory,
    envFiles: flags.envFile,
    profiles: flags.profile,
    environment: io.env,
    homeDir: io.homeDir,
  };
}
