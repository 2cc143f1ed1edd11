/**
 * Wiring a container's or exec's streams to the terminal: output to the CLI's stdout/stderr, the
 * CLI's stdin into the process (`-i`), raw mode and window sizes for `-t` on a real terminal.
 */
import type { Readable } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import type { ExecProcess } from "../../../runtime/runtime.js";
import type { CliIo } from "../../io.js";

export interface StreamOptions {
  /** Forward the CLI's stdin (`-i`). */
  readonly stdin: boolean;
  /** The process has a TTY (`-t`): raw output, and raw input when stdin is a terminal. */
  readonly tty: boolean;
}

/**
 * Runs `proc` to its end with the terminal attached; resolves with its exit code once its output has
 * been written. Restores the terminal however it ends.
 */
export async function streamProcess(proc: ExecProcess, io: CliIo, opts: StreamOptions): Promise<number> {
  const cleanups: (() => void)[] = [];
  try {
    if (opts.tty) cleanups.push(forwardWindowSize(io, proc));
    if (opts.stdin && io.stdin !== undefined) {
      const stdin = io.stdin;
      if (opts.tty) cleanups.push(rawMode(stdin));
      stdin.pipe(proc.stdin);
      cleanups.push(() => {
        stdin.unpipe(proc.stdin);
        // A paused stdin no longer holds the event loop open, so the CLI can exit.
        stdin.pause();
      });
    } else {
      proc.stdin.end();
    }
    const [code] = await Promise.all([
      proc.exit,
      writeText(proc.stdout, io.stdout),
      writeText(proc.stderr, io.stderr),
    ]);
    return code;
  } finally {
    for (const cleanup of cleanups.reverse()) cleanup();
  }
}

/** Copies a byte stream to a text sink, decoding UTF-8 across chunk boundaries. */
export async function writeText(from: Readable, to: { write(chunk: string): unknown }): Promise<void> {
  const decoder = new StringDecoder("utf8");
  for await (const chunk of from as AsyncIterable<Buffer | string>) {
    const text = typeof chunk === "string" ? chunk : decoder.write(chunk);
    if (text !== "") to.write(text);
  }
  const rest = decoder.end();
  if (rest !== "") to.write(rest);
}

type MaybeTtyIn = Readable & { readonly isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };

/** Raw mode on a terminal stdin (keys go to the container, Ctrl-C included); returns the undo. */
function rawMode(stdin: MaybeTtyIn): () => void {
  if (stdin.isTTY !== true || typeof stdin.setRawMode !== "function") return () => undefined;
  stdin.setRawMode(true);
  return () => {
    stdin.setRawMode?.(false);
  };
}

interface MaybeTtyOut {
  readonly columns?: number;
  readonly rows?: number;
  on?(event: "resize", listener: () => void): unknown;
  off?(event: "resize", listener: () => void): unknown;
}

/** Sends the terminal's size now and on every resize, when stdout is a terminal. */
function forwardWindowSize(io: CliIo, proc: ExecProcess): () => void {
  const out = io.stdoutBytes as MaybeTtyOut | undefined;
  if (out === undefined || proc.resize === undefined) return () => undefined;
  const send = (): void => {
    if (typeof out.columns === "number" && typeof out.rows === "number" && out.columns > 0) {
      proc.resize?.({ rows: out.rows, columns: out.columns });
    }
  };
  send();
  out.on?.("resize", send);
  return () => {
    out.off?.("resize", send);
  };
}
