/** HTTP over a unix socket for the API tests, and servers that are closed after each test. */
import { request, type IncomingHttpHeaders } from "node:http";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { afterEach } from "vitest";
import { startApiServer, type ApiServer, type ApiServerOptions } from "../../../src/api/server.js";
import { useTmpDirs } from "../../helpers/tmp.js";
import { RecordingRuntime } from "./runtime-double.js";

export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly text: string;
  /** The body parsed, typed as the test expects it (an unchecked cast, for assertions). */
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
  json<T = unknown>(): T;
}

export async function call(
  socketPath: string,
  method: string,
  path: string,
  opts: { body?: string | Buffer; headers?: Record<string, string> } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers: opts.headers ?? {} }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => {
        parts.push(c);
      });
      res.on("error", reject);
      res.on("end", () => {
        const body = Buffer.concat(parts);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body,
          text: body.toString("utf8"),
          // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
          json: <T>() => JSON.parse(body.toString("utf8")) as T,
        });
      });
    });
    req.on("error", reject);
    // A server may answer before it has read the whole body (413) and close: the rest of the write
    // then fails on the socket after the response, where Node no longer listens.
    req.on("socket", (socket) => socket.on("error", () => undefined));
    req.end(opts.body);
  });
}

/**
 * A raw HTTP/1.1 request written on a fresh connection; resolves once the response head has arrived,
 * with the socket (positioned after the head) for the rest.
 */
export async function rawExchange(
  socketPath: string,
  head: string,
  body: Buffer | string = "",
): Promise<{ statusLine: string; headers: Record<string, string>; socket: Socket; rest: Buffer }> {
  const socket = connect(socketPath);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  socket.write(head);
  if (body.length > 0) socket.write(body);
  let buf = Buffer.alloc(0);
  for (;;) {
    const chunk = await new Promise<Buffer>((resolve, reject) => {
      socket.once("data", resolve);
      socket.once("error", reject);
      socket.once("end", () => {
        reject(new Error(`connection ended; got ${JSON.stringify(buf.toString())}`));
      });
      socket.resume();
    });
    socket.removeAllListeners("end").removeAllListeners("error").removeAllListeners("data");
    socket.pause();
    buf = Buffer.concat([buf, chunk]);
    const end = buf.indexOf("\r\n\r\n");
    if (end < 0) continue;
    const [statusLine = "", ...lines] = buf.toString("latin1", 0, end).split("\r\n");
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(":");
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    return { statusLine, headers, socket, rest: buf.subarray(end + 4) };
  }
}

/** Everything the socket sends until it ends, after `rest`. */
export async function readToEnd(socket: Socket, rest: Buffer = Buffer.alloc(0)): Promise<Buffer> {
  const parts = [rest];
  for await (const chunk of socket as AsyncIterable<Buffer>) parts.push(chunk);
  return Buffer.concat(parts);
}

/** Polls `check` until it returns without throwing, for at most `timeoutMs`. */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 5000, stepMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() >= deadline) throw error;
    }
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

export interface TestServer {
  readonly server: ApiServer;
  readonly runtime: RecordingRuntime;
  readonly socketPath: string;
  readonly root: string;
  readonly logs: string[];
}

/** Starts servers over the Runtime double in temporary directories; all are closed after each test. */
export function useTestServers(): (opts?: Partial<ApiServerOptions>) => Promise<TestServer> {
  const tmp = useTmpDirs("tsstack-api-");
  const servers: ApiServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  return async (opts = {}) => {
    const dir = await tmp();
    const runtime = new RecordingRuntime();
    const logs: string[] = [];
    const socketPath = opts.socketPath ?? join(dir, "engine.sock");
    const server = await startApiServer({
      runtime,
      root: dir,
      socketPath,
      version: "0.0.0-test",
      log: (line) => logs.push(line),
      ...opts,
    });
    servers.push(server);
    return { server, runtime, socketPath, root: opts.root ?? dir, logs };
  };
}
