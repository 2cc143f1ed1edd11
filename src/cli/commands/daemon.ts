/**
 * `tsstack daemon`: runs the engine in the foreground (systemd runs it so; the CLI also starts it on
 * demand, detached). Logs go to stderr, one timestamped line each. SIGTERM or SIGINT shut it down;
 * containers keep running.
 */
import { resolve } from "node:path";
import type { Command } from "commander";
import { addEngineOptions, engineRoot, engineSocket, type EngineFlags } from "../engine-options.js";
import type { CliIo } from "../io.js";

interface DaemonFlags extends EngineFlags {
  runRoot?: string;
}

export function daemonCommand(program: Command, io: CliIo): void {
  addEngineOptions(
    program
      .command("daemon")
      .description("run the tsstack engine: the runtime, served on a unix socket (Docker Engine API)")
      .option("--run-root <dir>", "runtime state directory (default: /run/tsstack/<hash of the root>)"),
  ).action(async (_flags: unknown, cmd: Command) => {
    const flags = cmd.optsWithGlobals<DaemonFlags>();
    const now = io.now ?? (() => new Date());
    // Loaded on use: the engine (runtime, networking, reconcilers, xstate) is most of the code, and
    // every other command (and --help, --version) would otherwise pay for loading it.
    const { runDaemon } = await import("../../api/daemon.js");
    await runDaemon({
      root: engineRoot(flags, io),
      socket: engineSocket(flags, io),
      ...(flags.runRoot !== undefined ? { runRoot: resolve(io.cwd, flags.runRoot) } : {}),
      log: (line) => io.stderr.write(`${now().toISOString()} ${line}\n`),
    });
  });
}
