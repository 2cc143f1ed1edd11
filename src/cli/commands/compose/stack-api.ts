/**
 * What the compose commands need from the engine: its stack endpoints (src/api/stack-types.ts) and the
 * container runtime for a stack's containers (ps, logs, start/stop, events). Injected through
 * `ComposeContext` so tests drive the commands with fakes, and the real connection goes through
 * `connectEngine` (starting the daemon on demand, as the container commands do).
 */
import type { Command } from "commander";
import type {
  ApplyRequest,
  DownRequest,
  PlanResponse,
  StackProgress,
  StackStatus,
  StackSummary,
} from "../../../api/stack-types.js";
import type { Runtime } from "../../../runtime/runtime.js";
import { connectDaemon, engineSocket, type EngineFlags } from "../../engine-options.js";
import type { CliIo } from "../../io.js";

/** Exit status of a command ended by Ctrl-C (128 + SIGINT), as compose's. */
export const INTERRUPTED_EXIT_CODE = 130;

/** The end of an apply or down stream: its `result` line. */
export interface StackResult {
  readonly ok: boolean;
  readonly errors: readonly string[];
}

/**
 * The daemon's stack endpoints. `StackClient` (src/api/stack-client.ts) implements it over the socket;
 * the methods are exactly its, so it is a drop-in.
 */
export interface StackApi {
  /** Streams every progress line to `onProgress`; resolves with the result line. */
  apply(name: string, req: ApplyRequest, onProgress: (p: StackProgress) => void): Promise<StackResult>;
  plan(name: string, req: ApplyRequest): Promise<PlanResponse>;
  down(name: string, req: DownRequest, onProgress: (p: StackProgress) => void): Promise<StackResult>;
  list(): Promise<StackSummary[]>;
  status(name: string): Promise<StackStatus>;
}

/** An open connection to the engine; disposing it lets the CLI exit. */
export interface ComposeConnection extends AsyncDisposable {
  readonly stacks: StackApi;
  readonly runtime: Runtime;
}

/** The outside world of the compose commands, injected so tests supply their own. */
export interface ComposeContext {
  readonly io: CliIo;
  /** Connects for one command invocation (its `--root` and `--socket` flags). */
  readonly connect: (cmd: Command) => Promise<ComposeConnection>;
  /**
   * Calls `listener` on each Ctrl-C (SIGINT) until the returned function is called; attached `up`
   * stops the stack on the first and kills it on the second. Default: the process's SIGINT.
   */
  readonly onInterrupt: (listener: () => void) => () => void;
}

export function defaultComposeContext(io: CliIo): ComposeContext {
  return {
    io,
    connect: (cmd) => connectCompose(cmd, io),
    onInterrupt: (listener) => {
      process.on("SIGINT", listener);
      return () => {
        process.off("SIGINT", listener);
      };
    },
  };
}

interface ClosableStackApi extends StackApi {
  close?(): void;
}

async function loadStackClient(socket: string): Promise<ClosableStackApi> {
  const { StackClient } = await import("../../../api/stack-client.js");
  return new StackClient(socket);
}

async function connectCompose(cmd: Command, io: CliIo): Promise<ComposeConnection> {
  const client = await connectDaemon(cmd, io);
  const socket = engineSocket(cmd.optsWithGlobals<EngineFlags>(), io);
  let stacks: ClosableStackApi;
  try {
    stacks = await loadStackClient(socket);
  } catch (error) {
    client.close();
    throw error;
  }
  return {
    stacks,
    runtime: client,
    [Symbol.asyncDispose]: () => {
      stacks.close?.();
      client.close();
      return Promise.resolve();
    },
  };
}
