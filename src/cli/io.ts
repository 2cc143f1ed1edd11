import { homedir } from "node:os";

/** The outside world of one CLI invocation; injected so tests run the CLI in-process. */
export interface CliIo {
  readonly stdout: { write(chunk: string): unknown };
  readonly stderr: { write(chunk: string): unknown };
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  readonly homeDir: string;
}

export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    homeDir: process.env["HOME"] ?? homedir(),
  };
}

/** Exit codes, like `docker compose`: usage errors and invalid stack files are 2. */
export const ExitCode = { ok: 0, failure: 1, usage: 2 } as const;
