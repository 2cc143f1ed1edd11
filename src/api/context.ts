/**
 * One request as route handlers see it, whether it came as a plain HTTP request or as an upgrade
 * request (`Connection: Upgrade`, `Upgrade: tcp`: Docker's connection hijack for attach and exec). On
 * an upgrade request Node hands over the raw socket before the body is read, so this module reads the
 * body (Content-Length or chunked) and writes responses itself there.
 */
import { STATUS_CODES, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { Readable, type Writable } from "node:stream";
import { HttpError } from "./errors.js";

/** Largest JSON request body accepted (a container config with a big environment fits many times). */
export const MAX_JSON_BODY = 4 * 1024 * 1024;

/** The two ends of a hijacked connection: what the client sends (stdin) and where output goes. */
export interface Hijacked {
  readonly input: Readable;
  readonly output: Writable;
}

export interface RequestContext {
  readonly method: string;
  /** Path without the API version prefix. */
  readonly path: string;
  readonly params: readonly string[];
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  /** Aborts when the client goes away or the server closes. */
  readonly signal: AbortSignal;
  /** Whether a response (or a hijack) has begun; after that, errors can only end the stream. */
  readonly started: boolean;
  /** The whole body, at most `limit` bytes (413 beyond). */
  readBody(limit?: number): Promise<Buffer>;
  /** The body as JSON; `undefined` for an empty body; 400 for bad JSON. */
  readJson(): Promise<unknown>;
  /** The body as a stream (archives). Plain requests only. */
  bodyStream(): Readable;
  json(status: number, body: unknown, headers?: Readonly<Record<string, string>>): void;
  /** A response without a body (204, or a HEAD answer). */
  empty(status: number, headers?: Readonly<Record<string, string>>): void;
  /** Starts a streamed response body; end it to finish the response. */
  stream(status: number, headers: Readonly<Record<string, string>>): Writable;
  /**
   * Takes over the connection: `101 UPGRADED` when the client asked for an upgrade, else a 200 whose
   * body is the output and whose request body is the input. On an upgrade, a request body (Docker
   * clients send an empty chunked one) is read first: the raw stream starts after it.
   */
  hijack(contentType: string): Promise<Hijacked>;
}

interface ContextBase {
  readonly method: string;
  readonly path: string;
  readonly params: readonly string[];
  readonly query: URLSearchParams;
  readonly signal: AbortSignal;
}

async function parseJson(ctx: { readBody(limit?: number): Promise<Buffer> }): Promise<unknown> {
  const body = await ctx.readBody(MAX_JSON_BODY);
  const text = body.toString("utf8");
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new HttpError(
      400,
      "api/invalid-json",
      `invalid JSON in request body: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}

function tooLarge(limit: number): HttpError {
  return new HttpError(413, "api/body-too-large", `request body exceeds ${limit} bytes`);
}

/** What both kinds of request context share: the request's line and headers, and `readJson`. */
abstract class ContextFields {
  readonly method: string;
  readonly path: string;
  readonly params: readonly string[];
  readonly query: URLSearchParams;
  readonly signal: AbortSignal;
  readonly headers: IncomingHttpHeaders;

  constructor(base: ContextBase, req: IncomingMessage) {
    ({
      method: this.method,
      path: this.path,
      params: this.params,
      query: this.query,
      signal: this.signal,
    } = base);
    this.headers = req.headers;
  }

  abstract readBody(limit?: number): Promise<Buffer>;

  readJson(): Promise<unknown> {
    return parseJson(this);
  }
}

/** A plain HTTP request: Node parses the body and frames the response. */
export class HttpContext extends ContextFields implements RequestContext {
  #hijacked = false;
  #bodyConsumed = false;

  constructor(
    base: ContextBase,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {
    super(base, req);
  }

  get started(): boolean {
    return this.#hijacked || this.res.headersSent;
  }

  async readBody(limit = MAX_JSON_BODY): Promise<Buffer> {
    this.#bodyConsumed = true;
    const declared = Number(this.req.headers["content-length"] ?? "0");
    if (declared > limit) throw tooLarge(limit);
    const parts: Buffer[] = [];
    let size = 0;
    for await (const chunk of this.req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) throw tooLarge(limit);
      parts.push(chunk);
    }
    return Buffer.concat(parts);
  }

  bodyStream(): Readable {
    return this.req;
  }

  json(status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
    const text = `${JSON.stringify(body)}\n`;
    this.res.writeHead(status, {
      ...headers,
      "Content-Type": "application/json",
      "Content-Length": String(Buffer.byteLength(text)),
    });
    this.res.end(text);
  }

  empty(status: number, headers: Readonly<Record<string, string>> = {}): void {
    this.res.writeHead(status, headers);
    this.res.end();
  }

  stream(status: number, headers: Readonly<Record<string, string>>): Writable {
    this.res.writeHead(status, headers);
    this.res.flushHeaders();
    return this.res;
  }

  hijack(contentType: string): Promise<Hijacked> {
    this.#hijacked = true;
    this.res.writeHead(200, { "Content-Type": contentType });
    this.res.flushHeaders();
    // A body already read as JSON (exec start) leaves no input: an ended stream, not a drained one
    // (piping an already ended stream would never end the destination).
    const input = this.#bodyConsumed ? Readable.from([]) : this.req;
    return Promise.resolve({ input, output: this.res });
  }
}

/**
 * An upgrade request: the socket is ours from the end of the headers on. Replies close the connection
 * afterwards (no keep-alive on a socket Node no longer parses).
 */
export class UpgradeContext extends ContextFields implements RequestContext {
  #started = false;
  #bodyRead: Promise<Buffer> | undefined;

  constructor(
    base: ContextBase,
    req: IncomingMessage,
    private readonly socket: Socket,
    private head: Buffer,
  ) {
    super(base, req);
  }

  get started(): boolean {
    return this.#started;
  }

  readBody(limit = MAX_JSON_BODY): Promise<Buffer> {
    this.#bodyRead ??= this.#readBody(limit);
    return this.#bodyRead;
  }

  async #readBody(limit: number): Promise<Buffer> {
    const chunked = /\bchunked\b/i.test(this.headers["transfer-encoding"] ?? "");
    const length = Number(this.headers["content-length"] ?? "0");
    if (!chunked && length > limit) throw tooLarge(limit);
    let buf = this.head;
    this.head = Buffer.alloc(0);
    for (;;) {
      const parsed = chunked
        ? parseChunkedBody(buf, limit)
        : buf.length >= length
          ? { body: buf.subarray(0, length), consumed: length }
          : undefined;
      if (parsed !== undefined) {
        const rest = buf.subarray(parsed.consumed);
        // What follows the body is the client's first stdin bytes: give them back to the socket.
        if (rest.length > 0) this.socket.unshift(rest);
        return parsed.body;
      }
      const next = await nextChunk(this.socket);
      if (next === undefined) {
        throw new HttpError(400, "api/invalid-request", "connection closed before the request body ended");
      }
      buf = buf.length === 0 ? next : Buffer.concat([buf, next]);
    }
  }

  bodyStream(): Readable {
    throw new HttpError(400, "api/invalid-request", `${this.method} ${this.path} cannot be upgraded`);
  }

  json(status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
    const text = `${JSON.stringify(body)}\n`;
    this.#writeHead(status, {
      ...headers,
      "Content-Type": "application/json",
      "Content-Length": String(Buffer.byteLength(text)),
    });
    this.socket.end(text);
  }

  empty(status: number, headers: Readonly<Record<string, string>> = {}): void {
    this.#writeHead(status, { ...headers, "Content-Length": "0" });
    this.socket.end();
  }

  stream(status: number, headers: Readonly<Record<string, string>>): Writable {
    // No length and no chunking: the body ends when the connection does.
    this.#writeHead(status, headers);
    return this.socket;
  }

  async hijack(contentType: string): Promise<Hijacked> {
    await this.readBody();
    this.#started = true;
    this.socket.write(
      `HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`,
    );
    return { input: this.socket, output: this.socket };
  }

  #writeHead(status: number, headers: Readonly<Record<string, string>>): void {
    this.#started = true;
    const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Unknown"}`, "Connection: close"];
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    this.socket.write(`${lines.join("\r\n")}\r\n\r\n`);
  }
}

/** The next chunk the socket receives, or `undefined` at its end; leaves the socket paused. */
function nextChunk(socket: Socket): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const onData = (chunk: Buffer): void => {
      done();
      socket.pause();
      resolve(chunk);
    };
    const onEnd = (): void => {
      done();
      resolve(undefined);
    };
    const done = (): void => {
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("close", onEnd);
    };
    socket.on("data", onData);
    socket.once("end", onEnd);
    socket.once("close", onEnd);
    socket.resume();
  });
}

/**
 * Decodes an HTTP/1.1 chunked body at the start of `buf`: the body and how many bytes it took
 * (terminating chunk and trailers included), or `undefined` if `buf` does not hold all of it yet.
 */
export function parseChunkedBody(buf: Buffer, limit: number): { body: Buffer; consumed: number } | undefined {
  const parts: Buffer[] = [];
  let size = 0;
  let at = 0;
  for (;;) {
    const eol = buf.indexOf("\r\n", at);
    if (eol < 0) return undefined;
    const sizeText = buf.toString("latin1", at, eol).split(";")[0]?.trim() ?? "";
    if (!/^[0-9a-fA-F]+$/.test(sizeText)) {
      throw new HttpError(
        400,
        "api/invalid-request",
        `bad chunk size ${JSON.stringify(sizeText)} in request body`,
      );
    }
    const chunkSize = parseInt(sizeText, 16);
    at = eol + 2;
    if (chunkSize === 0) {
      // Trailers (usually none), then an empty line.
      for (;;) {
        const end = buf.indexOf("\r\n", at);
        if (end < 0) return undefined;
        const empty = end === at;
        at = end + 2;
        if (empty) return { body: Buffer.concat(parts), consumed: at };
      }
    }
    size += chunkSize;
    if (size > limit) throw tooLarge(limit);
    if (buf.length < at + chunkSize + 2) return undefined;
    parts.push(buf.subarray(at, at + chunkSize));
    at += chunkSize;
    if (buf.toString("latin1", at, at + 2) !== "\r\n") {
      throw new HttpError(400, "api/invalid-request", "chunk not followed by CRLF in request body");
    }
    at += 2;
  }
}
