/**
 * The engine's HTTP server: a subset of the Docker Engine API (v1.41) on a unix socket, over a
 * `Runtime`. Docker clients (the docker CLI, dockerode, docker compose) talk to it unchanged; tsstack's
 * own CLI talks to it through `ApiClient` (client.ts).
 *
 * Routes live in routes/*.ts; this module owns the socket, dispatch, error replies and shutdown.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect, type Socket } from "node:net";
import { lstat, unlink } from "node:fs/promises";
import { TsstackError } from "../common/errors.js";
import type { StackService } from "../reconciler/engine-stacks.js";
import type { Runtime } from "../runtime/runtime.js";
import { HttpContext, UpgradeContext, type RequestContext } from "./context.js";
import { describeError, ERROR_HEADER, errorMessage, HttpError, httpStatusOf } from "./errors.js";
import { archiveRoutes } from "./routes/archive.js";
import { containerRoutes } from "./routes/containers.js";
import { execRoutes } from "./routes/exec.js";
import type { ApiRoute, Handler } from "./routes/handler.js";
import { imageRoutes } from "./routes/images.js";
import { networkRoutes } from "./routes/networks.js";
import { stackRoutes } from "./routes/stacks.js";
import { API_VERSION, systemRoutes } from "./routes/system.js";
import { volumeRoutes } from "./routes/volumes.js";
import { matchRoute, stripApiVersion, type RouteMatch } from "./router.js";
import { AttachRegistry, EventHub, ExecRegistry, type ApiServices } from "./services.js";

export const ROUTES: readonly ApiRoute[] = [
  ...systemRoutes,
  ...containerRoutes,
  ...archiveRoutes,
  ...execRoutes,
  ...imageRoutes,
  ...networkRoutes,
  ...volumeRoutes,
  ...stackRoutes,
];

export interface ApiServerOptions {
  readonly runtime: Runtime;
  /** The engine's state root (the image store lives under it). */
  readonly root: string;
  readonly socketPath: string;
  /** Permissions of the socket file. Default 0o600: root only, as the engine can run anything. */
  readonly mode?: number;
  /** Reported by `/version` and `/info`. */
  readonly version: string;
  /** The engine's stacks, served under /tsstack/stacks. Default: none (those routes answer 501). */
  readonly stacks?: StackService;
  /** One line per failed request (and per server-side trouble). Default: nothing. */
  readonly log?: (line: string) => void;
}

export interface ApiServer {
  readonly socketPath: string;
  /** Ends every connection (streams included), stops listening and removes the socket file. */
  close(): Promise<void>;
}

/** How long to wait for an answer on an existing socket before calling it stale. */
const PROBE_TIMEOUT_MS = 1000;

/**
 * Listens on `socketPath`. An existing socket file nobody answers on (a crashed daemon's) is removed
 * first; one a live server answers on is left alone and this fails with `engine/already-running`.
 */
export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const log = opts.log ?? (() => undefined);
  const mode = opts.mode ?? 0o600;
  await clearStaleSocket(opts.socketPath);

  const events = new EventHub(opts.runtime, log);
  const services: ApiServices = {
    runtime: opts.runtime,
    root: opts.root,
    version: opts.version,
    log,
    events,
    execs: new ExecRegistry(),
    attachments: new AttachRegistry(),
    ...(opts.stacks !== undefined ? { stacks: opts.stacks } : {}),
  };
  const closing = new AbortController();
  const hijacked = new Set<Socket>();

  const server = createServer((req, res) => {
    void dispatch(req, { kind: "http", res });
  });
  // Streams (events, logs, attach) last as long as the client wants: no request timeout on a local
  // root-only socket.
  server.requestTimeout = 0;
  server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
    hijacked.add(socket);
    socket.on("close", () => hijacked.delete(socket));
    socket.on("error", (error) => {
      log(`${req.method ?? "?"} ${req.url ?? "?"}: connection error: ${errorMessage(error)}`);
    });
    void dispatch(req, { kind: "upgrade", socket, head });
  });

  type Transport = { kind: "http"; res: ServerResponse } | { kind: "upgrade"; socket: Socket; head: Buffer };

  async function dispatch(req: IncomingMessage, transport: Transport): Promise<void> {
    const method = req.method ?? "GET";
    const url = new URL(req.url ?? "/", "http://tsstack");
    const { path } = stripApiVersion(url.pathname);
    const aborter = new AbortController();
    const signal = AbortSignal.any([aborter.signal, closing.signal]);
    if (transport.kind === "http") {
      const { res } = transport;
      res.setHeader("Api-Version", API_VERSION);
      res.setHeader("Server", `tsstack/${opts.version} (linux)`);
      res.on("close", () => {
        if (!res.writableFinished) aborter.abort();
      });
    } else {
      transport.socket.on("close", () => {
        aborter.abort();
      });
    }

    let match: RouteMatch<Handler>;
    try {
      match = matchRoute(ROUTES, method, path);
    } catch (error) {
      match = { kind: "not-found" };
      log(`${method} ${url.pathname}: bad path: ${errorMessage(error)}`);
    }
    const params = match.kind === "found" ? match.params : [];
    const base = { method, path, params, query: url.searchParams, signal };
    const ctx: RequestContext =
      transport.kind === "http"
        ? new HttpContext(base, req, transport.res)
        : new UpgradeContext(base, req, transport.socket, transport.head);
    try {
      if (match.kind === "not-found") {
        throw new HttpError(404, "api/not-found", `page not found: ${method} ${url.pathname}`);
      }
      if (match.kind === "method-not-allowed") {
        throw new HttpError(
          405,
          "api/method-not-allowed",
          `${method} is not allowed on ${url.pathname} (allowed: ${match.allow.join(", ")})`,
        );
      }
      await match.route.handler(ctx, services);
      if (!ctx.started) {
        throw new TsstackError("internal", `internal: ${match.route.template} returned without replying`);
      }
    } catch (error) {
      const status = httpStatusOf(error);
      log(`${method} ${url.pathname}${url.search}: ${status}: ${describeError(error)}`);
      if (ctx.started) {
        // Mid-stream: nothing left to say in HTTP; the client sees the stream end.
        if (transport.kind === "http") transport.res.destroy();
        else transport.socket.destroy();
        return;
      }
      const code = error instanceof TsstackError ? error.code : undefined;
      const headers: Record<string, string> =
        match.kind === "method-not-allowed" ? { Allow: match.allow.join(", ") } : {};
      // An oversized body is not worth draining: answer and drop the connection.
      if (status === 413) headers["Connection"] = "close";
      const body = { message: errorMessage(error), ...(code !== undefined ? { code } : {}) };
      // A reply to HEAD has no body: the error goes in a header too (a tsstack extension), cut short
      // enough for any client's header limit (Node's is 16 KiB).
      if (method === "HEAD")
        headers[ERROR_HEADER] = Buffer.from(
          JSON.stringify({ ...body, message: body.message.slice(0, 2000) }),
        ).toString("base64");
      try {
        ctx.json(status, body, headers);
      } catch (replyError) {
        log(`${method} ${url.pathname}: replying with the error failed: ${errorMessage(replyError)}`);
      }
    }
  }

  await listen(server, opts.socketPath, mode);
  events.start();

  let closed: Promise<void> | undefined;
  return {
    socketPath: opts.socketPath,
    close: () => {
      closed ??= (async () => {
        closing.abort();
        const stopped = new Promise<void>((resolve) => {
          server.close(() => {
            resolve();
          });
        });
        server.closeAllConnections();
        for (const socket of hijacked) socket.destroy();
        await stopped;
        await events.close();
        await unlink(opts.socketPath).catch(() => undefined);
      })();
      return closed;
    },
  };
}

/** Listens with the socket created under a umask that already gives `mode`: no window of wider access. */
async function listen(server: Server, socketPath: string, mode: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      reject(
        new TsstackError(
          error.code === "EADDRINUSE" ? "engine/already-running" : "engine/listen-failed",
          `listening on ${socketPath}: ${error.message}`,
          { cause: error },
        ),
      );
    };
    server.once("error", onError);
    // The bind happens synchronously inside listen(): the umask is restored before anything else runs.
    const previous = process.umask(~mode & 0o777);
    try {
      server.listen(socketPath, () => {
        server.off("error", onError);
        resolve();
      });
    } finally {
      process.umask(previous);
    }
  });
}

/**
 * Removes `socketPath` if it is a socket nobody answers on. A live listener, or a file that is not a
 * socket, is not ours to remove.
 */
async function clearStaleSocket(socketPath: string): Promise<void> {
  const info = await lstat(socketPath).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  });
  if (info === undefined) return;
  if (!info.isSocket()) {
    throw new TsstackError(
      "engine/listen-failed",
      `listening on ${socketPath}: the path exists and is not a socket; refusing to remove it`,
    );
  }
  if (await answers(socketPath)) {
    throw new TsstackError(
      "engine/already-running",
      `listening on ${socketPath}: another tsstack engine (or another server) is running on this socket`,
    );
  }
  await unlink(socketPath).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  });
}

/** Whether something accepts connections on the socket. */
export function answers(socketPath: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(socketPath);
    const done = (alive: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(alive);
    };
    // A listener too busy to accept within the timeout is still alive: never delete its socket.
    const timer = setTimeout(() => {
      done(true);
    }, timeoutMs);
    socket.once("connect", () => {
      done(true);
    });
    socket.once("error", () => {
      done(false);
    });
  });
}
