import { isAbsolute, resolve } from "node:path";
import type { Command } from "commander";
import type { ApiClient } from "../api/client.js";
import type { CliIo } from "./io.js";

/** Where the engine keeps its state when neither `--root` nor `TSSTACK_ROOT` says otherwise. */
export const DEFAULT_ROOT = "/var/lib/tsstack";

/** Where the engine (`tsstack daemon`) listens when neither `--socket` nor `TSSTACK_SOCKET` says otherwise. */
export const DEFAULT_SOCKET = "/run/tsstack/tsstack.sock";

/** Options of the engine a command talks to (global: given before the subcommand). */
export interface EngineFlags {
  root?: string;
  socket?: string;
}

export function addEngineOptions(cmd: Command): Command {
  return cmd
    .option("--root <dir>", `engine state directory (default: $TSSTACK_ROOT, else ${DEFAULT_ROOT})`)
    .option("--socket <path>", `engine API socket (default: $TSSTACK_SOCKET, else ${DEFAULT_SOCKET})`);
}

/** The state root: `--root`, else `TSSTACK_ROOT`, else the default; relative paths from the cwd. */
export function engineRoot(flags: EngineFlags, io: CliIo): string {
  // An empty TSSTACK_ROOT counts as unset, as an empty variable does for docker's DOCKER_HOST.
  const fromEnv = io.env["TSSTACK_ROOT"] === "" ? undefined : io.env["TSSTACK_ROOT"];
  const root = flags.root ?? fromEnv ?? DEFAULT_ROOT;
  return isAbsolute(root) ? root : resolve(io.cwd, root);
}

/** The engine's socket: `--socket`, else `TSSTACK_SOCKET`, else the default; relative paths from the cwd. */
export function engineSocket(flags: EngineFlags, io: CliIo): string {
  const fromEnv = io.env["TSSTACK_SOCKET"] === "" ? undefined : io.env["TSSTACK_SOCKET"];
  const socket = flags.socket ?? fromEnv ?? DEFAULT_SOCKET;
  return isAbsolute(socket) ? socket : resolve(io.cwd, socket);
}

/**
 * The engine daemon for one command invocation (its `--root` and `--socket` flags), through its socket
 * (`connectEngine`): started when none answers unless `TSSTACK_NO_AUTOSTART=1`, and said so on stderr.
 * The caller closes the client.
 */
export async function connectDaemon(cmd: Command, io: CliIo): Promise<ApiClient> {
  // Loaded on use: --help and the commands that do not talk to the engine need no HTTP client.
  const { connectEngine } = await import("../api/connect.js");
  const flags = cmd.optsWithGlobals<EngineFlags>();
  return connectEngine({
    root: engineRoot(flags, io),
    socket: engineSocket(flags, io),
    env: io.env,
    autoStart: io.env["TSSTACK_NO_AUTOSTART"] !== "1",
    onStart: (message: string) => {
      io.stderr.write(`${message}\n`);
    },
  });
}
