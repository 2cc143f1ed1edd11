/**
 * Renders pull/push progress: on a TTY, one line per blob redrawn in place plus an overall line (as
 * `docker pull` does); otherwise plain append-only lines (`sha256:abcd… downloading 12.3 MB / 40.1 MB`)
 * that log collectors and CI keep readable: a line per phase change and at most one per blob per
 * interval while bytes flow.
 */
import type { TransferProgress } from "../types.js";

/** The bit of a stream the renderer needs (process.stdout/stderr fit). */
export interface ProgressOutput {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

export interface ProgressRendererOptions {
  /** Redraw in place. Default: `output.isTTY`. */
  readonly tty?: boolean;
  /** Clock in ms (tests inject one). Default: `Date.now`. */
  readonly now?: () => number;
  /**
   * TTY: minimum time between redraws; plain: minimum time between two byte-count lines of one blob.
   * Default: 100 ms on a TTY, 1000 ms otherwise. Phase changes are always shown.
   */
  readonly intervalMs?: number;
}

/** Decimal units, as Docker prints them: `512 B`, `12.3 MB`. */
export function formatBytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit] ?? ""}`;
}

/** `sha256:0123456789ab…`: enough to tell layers apart on one screen. */
export function shortDigest(digest: string): string {
  const [algo, hex = ""] = digest.split(":", 2);
  return `${algo ?? ""}:${hex.slice(0, 12)}…`;
}

/** One blob's status line, without a trailing newline. */
export function formatProgressLine(p: TransferProgress): string {
  const id = shortDigest(p.digest);
  switch (p.phase) {
    case "exists":
      return `${id} already exists`;
    case "mounted":
      return `${id} mounted from another repository`;
    case "downloading":
    case "uploading":
      return `${id} ${p.phase} ${formatBytes(p.done)} / ${formatBytes(p.total)}`;
    case "verifying":
    case "unpacking":
      return `${id} ${p.phase}`;
    case "complete":
      return `${id} complete ${formatBytes(p.total)}`;
  }
}

/** Sum over blobs; a blob that exists or was mounted counts as done (nothing left to move). */
export function overallLine(blobs: Iterable<TransferProgress>): string {
  let done = 0;
  let total = 0;
  let finished = 0;
  let count = 0;
  for (const p of blobs) {
    count++;
    total += p.total;
    const settled = p.phase === "exists" || p.phase === "mounted" || p.phase === "complete";
    done += settled ? p.total : p.done;
    if (settled) finished++;
  }
  return `total ${formatBytes(done)} / ${formatBytes(total)} (${finished}/${count} blobs done)`;
}

const TERMINAL = new Set<TransferProgress["phase"]>(["exists", "mounted", "complete"]);

export class ProgressRenderer {
  private readonly blobs = new Map<string, TransferProgress>();
  private readonly lastPlain = new Map<string, { phase: TransferProgress["phase"]; at: number }>();
  private readonly tty: boolean;
  private readonly now: () => number;
  private readonly intervalMs: number;
  private drawnLines = 0;
  private lastDraw = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly output: ProgressOutput,
    opts: ProgressRendererOptions = {},
  ) {
    this.tty = opts.tty ?? output.isTTY === true;
    this.now = opts.now ?? Date.now;
    this.intervalMs = opts.intervalMs ?? (this.tty ? 100 : 1000);
  }

  /** Pass as `onProgress`: `onProgress: (p) => renderer.update(p)`. */
  update(p: TransferProgress): void {
    const previous = this.blobs.get(p.digest);
    this.blobs.set(p.digest, p);
    if (this.tty) {
      const phaseChanged = previous?.phase !== p.phase;
      if (phaseChanged || this.now() - this.lastDraw >= this.intervalMs) this.redraw();
      return;
    }
    const last = this.lastPlain.get(p.digest);
    const at = this.now();
    if (last?.phase === p.phase && (TERMINAL.has(p.phase) || at - last.at < this.intervalMs)) return;
    this.lastPlain.set(p.digest, { phase: p.phase, at });
    this.output.write(`${formatProgressLine(p)}\n`);
  }

  /** Draws the final state (TTY) or prints the overall line (plain). */
  finish(): void {
    if (this.tty) this.redraw();
    else if (this.blobs.size > 0) this.output.write(`${overallLine(this.blobs.values())}\n`);
  }

  private redraw(): void {
    this.lastDraw = this.now();
    // Cursor to the start of the block drawn last time, then rewrite each line cleared (ESC[2K).
    let text = this.drawnLines > 0 ? `\x1b[${this.drawnLines}F` : "";
    const lines = [...[...this.blobs.values()].map(formatProgressLine), overallLine(this.blobs.values())];
    for (const line of lines) text += `\x1b[2K${line}\n`;
    this.drawnLines = lines.length;
    this.output.write(text);
  }
}
