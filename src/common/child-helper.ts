/** What the long-lived helper processes (common/shell.ts, common/host-helper.ts) share. */
import type { ChildProcessWithoutNullStreams } from "node:child_process";

/** Refs or unrefs a helper and its pipes: only a request in flight keeps the event loop alive. */
export function holdChild(child: ChildProcessWithoutNullStreams, on: boolean): void {
  const handles = [child, child.stdin, child.stdout, child.stderr] as unknown as {
    ref?: () => void;
    unref?: () => void;
  }[];
  for (const h of handles)
    if (on) h.ref?.();
    else h.unref?.();
}

/** Ends a helper by closing its stdin (it answers what it was given first), and waits for it. */
export async function endChild(child: ChildProcessWithoutNullStreams | undefined): Promise<void> {
  if (child?.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once("close", () => {
      resolve();
    });
    holdChild(child, true);
    child.stdin.end();
  });
}
