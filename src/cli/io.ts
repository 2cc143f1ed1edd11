import { homedir } from "node:os";
import type { Readable, Writable } from "node:stream";

/** The outside world of one CLI invocation; injected so tests run the CLI in-process. */
export interface CliIo {
  /** `isTTY` switches progress output to redraw-in-place, as docker does. */
  readonly stdout: { write(chunk: string): unknown; readonly isTTY?: boolean };
  readonly stderr: { write(chunk: string): unknown };
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  readonly homeDir: string;
  /** Standard input as bytes (`image load`, `import -`, `login --password-stdin`). Absent: none. */
  readonly stdin?: Readable & { readonly isTTY?: boolean };
  /** Standard output as a byte stream, for archives (`image save`). Absent: binary output refused. */
  readonly stdoutBytes?: Writable & { readonly isTTY?: boolean };
  /** Clock for "2 hours ago" and import timestamps. Default: the system clock. */
  readonly now?: () => Date;
  /**
   * Calls `listener` for each of `signals` the process receives until the returned function is
   * called (`run` forwards them to its container). Default: the process's own signal handlers.
   */
  readonly onSignals?: (
    signals: readonly NodeJS.Signals[],
    listener: (signal: NodeJS.Signals) => void,
  ) => () => void;
}

/** The process's signals, for `CliIo.onSignals`. */
export function processSignals(
  signals: readonly NodeJS.Signals[],
  listener: (signal: NodeJS.Signals) => void,
): () => void {
  for (const s of signals) process.on(s, listener);
  return () => {
    for (const s of signals) process.off(s, listener);
  };
}

export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    homeDir: process.env["HOME"] ?? homedir(),
    stdin: process.stdin,
    stdoutBytes: process.stdout,
  };
}

/** Exit codes, like `docker compose`: usage errors and invalid stack files are 2. */
export const ExitCode = { ok: 0, failure: 1, usage: 2 } as const;
