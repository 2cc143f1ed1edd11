/**
 * How the container commands reach the engine: through the daemon's socket (`connectEngine`), which
 * starts a daemon when none answers unless `TSSTACK_NO_AUTOSTART=1`, and says so on stderr.
 */
import type { Command } from "commander";
import type { Runtime } from "../../../runtime/runtime.js";
import { connectDaemon } from "../../engine-options.js";
import type { CliIo } from "../../io.js";

/** An open connection to the engine; disposing it lets the CLI exit. */
export interface EngineConnection extends AsyncDisposable {
  readonly runtime: Runtime;
  /** `docker inspect`'s image side (the top-level `inspect` falls back to images). */
  readonly inspectImage?: (name: string) => Promise<unknown>;
}

/** What the container commands need from the outside: injected so tests can supply their own. */
export interface ContainerContext {
  readonly io: CliIo;
  /** Connects for one command invocation (its `--root` and socket flags). */
  readonly connect: (cmd: Command) => Promise<EngineConnection>;
}

export function defaultContext(io: CliIo): ContainerContext {
  return {
    io,
    connect: async (cmd) => {
      const client = await connectDaemon(cmd, io);
      return {
        runtime: client,
        inspectImage: (name) => client.inspectImage(name),
        [Symbol.asyncDispose]: () => {
          client.close();
          return Promise.resolve();
        },
      };
    },
  };
}
