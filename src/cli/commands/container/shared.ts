/** Small pieces every container command file uses. */
import type { CliIo } from "../../io.js";
import { ExitStatus } from "./exit-codes.js";

/** commander's accumulator for repeatable flags (`-e A=1 -e B=2`). */
export const collect = (value: string, previous: string[] | undefined): string[] => [
  ...(previous ?? []),
  value,
];

/**
 * docker's way with several containers: act on each in turn, go on after a failure, report every
 * failure on stderr, and exit 1 when any failed.
 */
export async function forEachContainer(
  io: CliIo,
  refs: readonly string[],
  act: (ref: string) => Promise<void>,
): Promise<void> {
  let failed = false;
  for (const ref of refs) {
    try {
      await act(ref);
    } catch (e) {
      failed = true;
      io.stderr.write(`tsstack: ${e instanceof Error ? e.message : String(e)}\n`);
    }
  }
  if (failed) throw new ExitStatus(1);
}

export function now(io: CliIo): Date {
  return io.now?.() ?? new Date();
}
