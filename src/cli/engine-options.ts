import { isAbsolute, resolve } from "node:path";
import type { Command } from "commander";
import type { CliIo } from "./io.js";

/** Where the engine keeps its state when neither `--root` nor `TSSTACK_ROOT` says otherwise. */
export const DEFAULT_ROOT = "/var/lib/tsstack";

/** Options of the engine a command talks to (global: given before the subcommand). */
export interface EngineFlags {
  root?: string;
}

export function addEngineOptions(cmd: Command): Command {
  return cmd.option("--root <dir>", `engine state directory (default: $TSSTACK_ROOT, else ${DEFAULT_ROOT})`);
}

/** The state root: `--root`, else `TSSTACK_ROOT`, else the default; relative paths from the cwd. */
export function engineRoot(flags: EngineFlags, io: CliIo): string {
  // An empty TSSTACK_ROOT counts as unset, as an empty variable does for docker's DOCKER_HOST.
  const fromEnv = io.env["TSSTACK_ROOT"] === "" ? undefined : io.env["TSSTACK_ROOT"];
  const root = flags.root ?? fromEnv ?? DEFAULT_ROOT;
  return isAbsolute(root) ? root : resolve(io.cwd, root);
}
