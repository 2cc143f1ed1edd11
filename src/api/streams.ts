/** Writing process output to a client connection, framed or raw, with backpressure. */
import type { Readable, Writable } from "node:stream";
import type { ExecProcess } from "../runtime/runtime.js";
import { encodeFrame, StreamId } from "./framing.js";

/** Writes and waits for `drain` when the connection's buffer is full; false once it is gone. */
export async function writeChunk(output: Writable, chunk: Buffer | string): Promise<boolean> {
  if (output.destroyed || output.writableEnded) return false;
  if (output.write(chunk)) return true;
  return new Promise<boolean>((resolve) => {
    const done = (ok: boolean) => () => {
      output.off("drain", onDrain);
      output.off("close", onClose);
      resolve(ok);
    };
    const onDrain = done(true);
    const onClose = done(false);
    output.once("drain", onDrain);
    output.once("close", onClose);
  });
}

/**
 * Copies a process's output to the connection until both of its streams end: multiplexed frames, or
 * raw bytes for a TTY (whose stdout carries everything). Unwanted streams are drained so that the
 * process never blocks on a full pipe; so is everything once the client has gone.
 */
export async function pumpOutput(
  process: Pick<ExecProcess, "stdout" | "stderr">,
  output: Writable,
  opts: { readonly tty: boolean; readonly stdout: boolean; readonly stderr: boolean },
): Promise<void> {
  const copy = async (source: Readable, stream: StreamId, wanted: boolean): Promise<void> => {
    let open = wanted;
    for await (const chunk of source as AsyncIterable<Buffer>) {
      if (!open) continue;
      open = await writeChunk(output, opts.tty ? chunk : encodeFrame(stream, chunk));
    }
  };
  await Promise.all([
    copy(process.stdout, StreamId.stdout, opts.stdout),
    copy(process.stderr, StreamId.stderr, opts.stderr && !opts.tty),
  ]);
}

/** Ends the connection's output, after an error frame when the stream is multiplexed. */
export function endWithError(output: Writable, multiplexed: boolean, message: string): void {
  if (output.destroyed || output.writableEnded) return;
  if (multiplexed) output.end(encodeFrame(StreamId.systemerr, `${message}\n`));
  else output.destroy();
}
