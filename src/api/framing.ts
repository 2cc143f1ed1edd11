/**
 * Docker's multiplexed stream framing (moby `pkg/stdcopy`), used by logs, attach and exec of containers
 * without a TTY: each frame is an 8-byte header `[stream, 0, 0, 0, size as uint32 big-endian]` followed
 * by `size` bytes of payload. Containers with a TTY send raw bytes instead (one stream, no framing).
 */
import { TsstackError } from "../common/errors.js";

/** Stream ids of the frame header. `systemerr` carries an error the server hit mid-stream. */
export const StreamId = { stdin: 0, stdout: 1, stderr: 2, systemerr: 3 } as const;
export type StreamId = (typeof StreamId)[keyof typeof StreamId];

export const FRAME_HEADER_SIZE = 8;
const MAX_FRAME_PAYLOAD = 0xffffffff;

export interface Frame {
  readonly stream: StreamId;
  readonly payload: Buffer;
}

/** Content type of a multiplexed body (what Docker sends for non-TTY logs, attach and exec). */
export const MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream";
/** Content type of a raw body (TTY containers). */
export const RAW_STREAM = "application/vnd.docker.raw-stream";

/** One frame: header and payload in one buffer, so that a frame is written with one `write`. */
export function encodeFrame(stream: StreamId, payload: Uint8Array | string): Buffer {
  const body = typeof payload === "string" ? Buffer.from(payload, "utf8") : payload;
  if (body.length > MAX_FRAME_PAYLOAD) {
    throw new TsstackError("internal", `internal: frame payload of ${body.length} bytes exceeds uint32`);
  }
  const frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE + body.length);
  frame.writeUInt32BE(0, 0);
  frame[0] = stream;
  frame.writeUInt32BE(body.length, 4);
  frame.set(body, FRAME_HEADER_SIZE);
  return frame;
}

/**
 * Incremental decoder: `push` chunks as they arrive (frames may span chunks, chunks may hold several
 * frames), `end` when the input ends. A header with an unknown stream id is corrupt input, not data.
 */
export class FrameDecoder {
  #pending: Buffer[] = [];
  #pendingLength = 0;

  push(chunk: Uint8Array): Frame[] {
    if (chunk.length > 0) {
      this.#pending.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      this.#pendingLength += chunk.length;
    }
    const frames: Frame[] = [];
    for (;;) {
      if (this.#pendingLength < FRAME_HEADER_SIZE) break;
      const head = this.#peek(FRAME_HEADER_SIZE);
      const stream = head[0] ?? -1;
      if (!isStreamId(stream) || head[1] !== 0 || head[2] !== 0 || head[3] !== 0) {
        throw new TsstackError(
          "api/bad-stream",
          `reading a multiplexed stream: bad frame header ${head.toString("hex")} (is the container a TTY?)`,
        );
      }
      const size = head.readUInt32BE(4);
      if (this.#pendingLength < FRAME_HEADER_SIZE + size) break;
      const whole = this.#take(FRAME_HEADER_SIZE + size);
      frames.push({ stream, payload: whole.subarray(FRAME_HEADER_SIZE) });
    }
    return frames;
  }

  /** Throws if the input ended inside a frame. */
  end(): void {
    if (this.#pendingLength > 0) {
      throw new TsstackError(
        "api/bad-stream",
        `reading a multiplexed stream: input ended inside a frame (${this.#pendingLength} bytes left over)`,
      );
    }
  }

  #peek(n: number): Buffer {
    const first = this.#pending[0];
    if (first !== undefined && first.length >= n) return first.subarray(0, n);
    const joined = Buffer.concat(this.#pending);
    this.#pending = [joined];
    return joined.subarray(0, n);
  }

  #take(n: number): Buffer {
    const joined = this.#peek(n);
    const all = this.#pending[0] ?? Buffer.alloc(0);
    const rest = all.subarray(n);
    this.#pending = rest.length > 0 ? [rest, ...this.#pending.slice(1)] : this.#pending.slice(1);
    this.#pendingLength -= n;
    // Copy: the payload must not pin (or alias) the larger chunk it came in.
    return Buffer.from(joined);
  }
}

function isStreamId(n: number): n is StreamId {
  return n === 0 || n === 1 || n === 2 || n === 3;
}
