/**
 * `Runtime` over the engine's unix socket: what the CLI uses to drive the daemon. Plain node:http
 * (dockerode costs ~200 ms to import, and the CLI must start fast). Errors come back as TsstackError
 * with the daemon's code (or one derived from the status), so the CLI handles them as it would the
 * same error from an in-process runtime.
 */
import { Agent, request, type IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import { PassThrough, Writable, type Readable } from "node:stream";
import { TsstackError } from "../common/errors.js";
import type {
  CommitOptions,
  Container,
  ContainerCreateOptions,
  ContainerInspect,
  ContainerPathStat,
  ContainerStats,
  ContainerSummary,
  ExecOptions,
  ExecProcess,
  ListContainersOptions,
  LogEntry,
  LogsOptions,
  NetworkVolumeOps,
  ObjectFilters,
  Runtime,
  RuntimeEvent,
  TopResult,
  WaitResult,
} from "../runtime/runtime.js";
import { PATH_STAT_HEADER } from "../runtime/path-stat.js";
import type {
  NetworkCreateOptions,
  NetworkCreateResult,
  NetworkInspect,
  NetworkPruneResult,
} from "../network/types.js";
import type {
  VolumeCreateOptions,
  VolumeInspect,
  VolumeListResult,
  VolumePruneResult,
} from "../volumes/manager.js";
import { ERROR_HEADER, errorCodeFor } from "./errors.js";
import { encodeFilters } from "./filters.js";
import { FrameDecoder, RAW_STREAM, StreamId } from "./framing.js";

/** The API version the client asks for (the one tsstack's daemon speaks). */
const API_PREFIX = "/v1.41";

export interface EngineVersion {
  readonly Version: string;
  readonly ApiVersion: string;
  readonly MinAPIVersion?: string;
  readonly Os: string;
  readonly Arch: string;
  readonly KernelVersion?: string;
  readonly [key: string]: unknown;
}

/** An entry of `GET /images/json`. */
export interface ImageSummary {
  readonly Id: string;
  readonly RepoTags: readonly string[];
  readonly RepoDigests: readonly string[];
  /** Unix seconds. */
  readonly Created: number;
  readonly Size: number;
  readonly Labels: Readonly<Record<string, string>> | null;
  readonly [key: string]: unknown;
}

/** `GET /images/{name}/json` (the fields tsstack reads; the rest as Docker sends them). */
export interface ImageInspect {
  readonly Id: string;
  readonly RepoTags: readonly string[];
  readonly RepoDigests: readonly string[];
  readonly Created: string;
  readonly Architecture: string;
  readonly Os: string;
  readonly Size: number;
  readonly Config: Readonly<Record<string, unknown>> | null;
  readonly [key: string]: unknown;
}

/** An entry of `DELETE /images/{name}`: one name untagged, or one image deleted. */
export type ImageDeleteItem = { readonly Untagged: string } | { readonly Deleted: string };

type Query = Readonly<Record<string, string | number | boolean | readonly string[] | undefined>>;

interface RequestOptions {
  readonly query?: Query;
  /** A JSON body. */
  readonly json?: unknown;
  /** A streamed body (archives). */
  readonly body?: Readable;
  readonly contentType?: string;
  readonly signal?: AbortSignal;
}

function queryString(query: Query | undefined): string {
  if (query === undefined) return "";
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value as readonly string[]) params.append(key, v);
    else params.set(key, typeof value === "boolean" ? (value ? "1" : "0") : String(value));
  }
  const text = params.toString();
  return text === "" ? "" : `?${text}`;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) parts.push(chunk);
  return Buffer.concat(parts);
}

function isAbort(error: unknown, signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true || (error instanceof Error && error.name === "AbortError");
}

export class ApiClient implements Runtime, NetworkVolumeOps {
  readonly #agent = new Agent({ keepAlive: true });

  constructor(readonly socketPath: string) {}

  /** Closes idle connections. Requests still running go on. */
  close(): void {
    this.#agent.destroy();
  }

  // --- transport ------------------------------------------------------------------------------------

  /** Sends a request; resolves with the response of a 2xx, throws the server's error otherwise. */
  send(method: string, path: string, opts: RequestOptions = {}): Promise<IncomingMessage> {
    const fullPath = `${API_PREFIX}${path}${queryString(opts.query)}`;
    const what = `${method} ${path}`;
    const payload = opts.json === undefined ? undefined : Buffer.from(JSON.stringify(opts.json));
    const headers: Record<string, string> = {};
    if (payload !== undefined) {
      headers["Content-Type"] = "application/json";
      headers["Content-Length"] = String(payload.length);
    } else if (opts.body !== undefined) {
      headers["Content-Type"] = opts.contentType ?? "application/x-tar";
    }
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(
        {
          socketPath: this.socketPath,
          path: fullPath,
          method,
          headers,
          agent: this.#agent,
          ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
        },
        (res) => {
          if ((res.statusCode ?? 500) < 400) {
            resolve(res);
            return;
          }
          readAll(res).then(
            (body) => {
              // HEAD replies carry their error in a header.
              const header = res.headers[ERROR_HEADER.toLowerCase()];
              if (body.length === 0 && typeof header === "string") body = Buffer.from(header, "base64");
              reject(this.#responseError(res.statusCode ?? 500, path, body));
            },
            (error: unknown) => {
              reject(this.#transportError(what, error));
            },
          );
        },
      );
      req.on("error", (error) => {
        reject(this.#transportError(what, error));
      });
      if (payload !== undefined) req.end(payload);
      else if (opts.body !== undefined) {
        opts.body.on("error", (error) => req.destroy(error));
        opts.body.pipe(req);
      } else req.end();
    });
  }

  async #json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.send(method, path, opts);
    const body = (await readAll(res)).toString("utf8");
    try {
      return JSON.parse(body) as T;
    } catch (error) {
      throw new TsstackError(
        "engine/bad-response",
        `${method} ${path}: the engine answered with invalid JSON`,
        {
          cause: error,
        },
      );
    }
  }

  async #empty(method: string, path: string, opts: RequestOptions = {}): Promise<void> {
    const res = await this.send(method, path, opts);
    res.resume();
    await new Promise<void>((resolve, reject) => {
      res.on("end", resolve);
      res.on("error", reject);
    });
  }

  /**
   * Docker's connection hijack: the request asks for an upgrade; on `101` the socket carries the raw
   * stream both ways. A server that answers a plain 200 instead gets its body read as the output.
   */
  hijack(
    path: string,
    opts: { query?: Query; json?: unknown },
  ): Promise<{ socket: Socket | Readable; input?: Socket; contentType: string }> {
    const fullPath = `${API_PREFIX}${path}${queryString(opts.query)}`;
    const what = `POST ${path}`;
    const payload = Buffer.from(opts.json === undefined ? "" : JSON.stringify(opts.json));
    return new Promise((resolve, reject) => {
      const req = request({
        socketPath: this.socketPath,
        path: fullPath,
        method: "POST",
        agent: false,
        headers: {
          Connection: "Upgrade",
          Upgrade: "tcp",
          "Content-Type": "application/json",
          "Content-Length": String(payload.length),
        },
      });
      req.on("upgrade", (res: IncomingMessage, socket: Socket, head: Buffer) => {
        if (head.length > 0) socket.unshift(head);
        resolve({ socket, input: socket, contentType: res.headers["content-type"] ?? "" });
      });
      req.on("response", (res: IncomingMessage) => {
        const status = res.statusCode ?? 500;
        if (status >= 400) {
          readAll(res).then(
            (body) => {
              reject(this.#responseError(status, path, body));
            },
            (error: unknown) => {
              reject(this.#transportError(what, error));
            },
          );
          return;
        }
        resolve({ socket: res, contentType: res.headers["content-type"] ?? "" });
      });
      req.on("error", (error) => {
        reject(this.#transportError(what, error));
      });
      req.end(payload);
    });
  }

  #responseError(status: number, path: string, body: Buffer): TsstackError {
    let message = body.toString("utf8").trim();
    let code: string | undefined;
    try {
      const json = JSON.parse(message) as { message?: unknown; code?: unknown };
      if (typeof json.message === "string") message = json.message;
      if (typeof json.code === "string") code = json.code;
    } catch {
      // Not JSON: the text is the message.
    }
    if (message === "") message = `the engine answered HTTP ${status} to ${path}`;
    return new TsstackError(errorCodeFor(status, path, code), message);
  }

  #transportError(what: string, error: unknown): Error {
    if (error instanceof TsstackError || (error instanceof Error && error.name === "AbortError"))
      return error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ECONNREFUSED") {
      return new TsstackError(
        "engine/unavailable",
        `cannot reach the tsstack engine at ${this.socketPath} (${code}); is \`tsstack daemon\` running?`,
        { cause: error },
      );
    }
    return new TsstackError(
      "engine/connection-failed",
      `${what} on ${this.socketPath}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }

  // --- system ---------------------------------------------------------------------------------------

  /** Resolves when the engine answers `/_ping`. */
  async ping(): Promise<void> {
    await this.#empty("GET", "/_ping");
  }

  version(): Promise<EngineVersion> {
    return this.#json("GET", "/version");
  }

  // --- Runtime --------------------------------------------------------------------------------------

  async createContainer(opts: ContainerCreateOptions): Promise<Container> {
    const { name, ...config } = opts;
    const { Id } = await this.#json<{ Id: string }>("POST", "/containers/create", {
      query: { name },
      json: config,
    });
    return this.getContainer(Id);
  }

  getContainer(idOrName: string): Container {
    return new ClientContainer(this, idOrName);
  }

  listContainers(opts: ListContainersOptions = {}): Promise<ContainerSummary[]> {
    return this.#json("GET", "/containers/json", {
      query: { all: opts.all === true ? true : undefined, filters: encodeFilters(opts.filters) },
    });
  }

  async *getEvents(opts: { readonly signal?: AbortSignal } = {}): AsyncIterable<RuntimeEvent> {
    if (opts.signal?.aborted === true) return;
    const res = await this.send("GET", "/events", opts.signal !== undefined ? { signal: opts.signal } : {});
    let pending = "";
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) {
        pending += chunk.toString("utf8");
        let nl: number;
        while ((nl = pending.indexOf("\n")) >= 0) {
          const line = pending.slice(0, nl).trim();
          pending = pending.slice(nl + 1);
          if (line !== "") yield JSON.parse(line) as RuntimeEvent;
        }
      }
    } catch (error) {
      if (isAbort(error, opts.signal)) return;
      throw error;
    } finally {
      res.destroy();
    }
  }

  // --- images ---------------------------------------------------------------------------------------

  listImages(): Promise<ImageSummary[]> {
    return this.#json("GET", "/images/json");
  }

  inspectImage(name: string): Promise<ImageInspect> {
    return this.#json("GET", `/images/${encodeURI(name)}/json`);
  }

  removeImage(name: string, opts: { readonly force?: boolean } = {}): Promise<ImageDeleteItem[]> {
    return this.#json("DELETE", `/images/${encodeURI(name)}`, {
      query: { force: opts.force === true ? true : undefined },
    });
  }

  // --- networks -------------------------------------------------------------------------------------

  createNetwork(opts: NetworkCreateOptions): Promise<NetworkCreateResult> {
    return this.#json("POST", "/networks/create", { json: opts });
  }

  listNetworks(opts: { readonly filters?: ObjectFilters } = {}): Promise<NetworkInspect[]> {
    return this.#json("GET", "/networks", { query: { filters: encodeFilters(opts.filters) } });
  }

  inspectNetwork(idOrName: string): Promise<NetworkInspect> {
    return this.#json("GET", `/networks/${encodeURIComponent(idOrName)}`);
  }

  removeNetwork(idOrName: string): Promise<void> {
    return this.#empty("DELETE", `/networks/${encodeURIComponent(idOrName)}`);
  }

  pruneNetworks(opts: { readonly filters?: ObjectFilters } = {}): Promise<NetworkPruneResult> {
    return this.#json("POST", "/networks/prune", { query: { filters: encodeFilters(opts.filters) } });
  }

  // --- volumes --------------------------------------------------------------------------------------

  createVolume(opts: VolumeCreateOptions = {}): Promise<VolumeInspect> {
    return this.#json("POST", "/volumes/create", { json: opts });
  }

  listVolumes(opts: { readonly filters?: ObjectFilters } = {}): Promise<VolumeListResult> {
    return this.#json("GET", "/volumes", { query: { filters: encodeFilters(opts.filters) } });
  }

  inspectVolume(name: string): Promise<VolumeInspect> {
    return this.#json("GET", `/volumes/${encodeURIComponent(name)}`);
  }

  removeVolume(name: string, opts: { readonly force?: boolean } = {}): Promise<void> {
    return this.#empty("DELETE", `/volumes/${encodeURIComponent(name)}`, {
      query: { force: opts.force === true ? true : undefined },
    });
  }

  /** Anonymous volumes only, unless the filter `all=true` (Docker ≥ 23). */
  pruneVolumes(opts: { readonly filters?: ObjectFilters } = {}): Promise<VolumePruneResult> {
    return this.#json("POST", "/volumes/prune", { query: { filters: encodeFilters(opts.filters) } });
  }

  // --- for ClientContainer --------------------------------------------------------------------------

  /** @internal */
  json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    return this.#json(method, path, opts);
  }

  /** @internal */
  empty(method: string, path: string, opts: RequestOptions = {}): Promise<void> {
    return this.#empty(method, path, opts);
  }
}

/** A container handle: no I/O until a method is called, like dockerode's. */
class ClientContainer implements Container {
  readonly #path: string;

  constructor(
    private readonly client: ApiClient,
    readonly id: string,
  ) {
    this.#path = `/containers/${encodeURIComponent(id)}`;
  }

  inspect(): Promise<ContainerInspect> {
    return this.client.json("GET", `${this.#path}/json`);
  }

  start(): Promise<void> {
    return this.client.empty("POST", `${this.#path}/start`);
  }

  stop(opts: { readonly t?: number; readonly signal?: string } = {}): Promise<void> {
    return this.client.empty("POST", `${this.#path}/stop`, { query: { t: opts.t, signal: opts.signal } });
  }

  restart(opts: { readonly t?: number } = {}): Promise<void> {
    return this.client.empty("POST", `${this.#path}/restart`, { query: { t: opts.t } });
  }

  kill(opts: { readonly signal?: string } = {}): Promise<void> {
    return this.client.empty("POST", `${this.#path}/kill`, { query: { signal: opts.signal } });
  }

  pause(): Promise<void> {
    return this.client.empty("POST", `${this.#path}/pause`);
  }

  unpause(): Promise<void> {
    return this.client.empty("POST", `${this.#path}/unpause`);
  }

  remove(opts: { readonly force?: boolean; readonly v?: boolean } = {}): Promise<void> {
    return this.client.empty("DELETE", this.#path, {
      query: { force: opts.force === true ? true : undefined, v: opts.v === true ? true : undefined },
    });
  }

  wait(opts: { readonly condition?: "not-running" | "next-exit" | "removed" } = {}): Promise<WaitResult> {
    return this.client.json("POST", `${this.#path}/wait`, { query: { condition: opts.condition } });
  }

  /**
   * Always asks for timestamps (a LogEntry carries its time) and takes them off the line again. With a
   * TTY the stream is raw: entries are cut at newlines, all on stdout.
   */
  async *logs(opts: LogsOptions = {}): AsyncIterable<LogEntry> {
    if (opts.signal?.aborted === true) return;
    const both = opts.stdout === undefined && opts.stderr === undefined;
    const res = await this.client.send("GET", `${this.#path}/logs`, {
      query: {
        follow: opts.follow === true ? true : undefined,
        stdout: both || opts.stdout === true,
        stderr: both || opts.stderr === true,
        since: opts.since,
        until: opts.until,
        timestamps: true,
        tail: opts.tail,
      },
      ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    });
    const raw = (res.headers["content-type"] ?? "").startsWith(RAW_STREAM);
    try {
      if (raw) {
        let pending: Buffer = Buffer.alloc(0);
        for await (const chunk of res as AsyncIterable<Buffer>) {
          pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
          let nl: number;
          while ((nl = pending.indexOf(0x0a)) >= 0) {
            yield logEntry("stdout", pending.subarray(0, nl + 1));
            pending = pending.subarray(nl + 1);
          }
        }
        if (pending.length > 0) yield logEntry("stdout", pending);
      } else {
        const decoder = new FrameDecoder();
        for await (const chunk of res as AsyncIterable<Buffer>) {
          for (const frame of decoder.push(chunk)) {
            if (frame.stream === StreamId.systemerr) {
              throw new TsstackError(
                "engine/stream-error",
                `reading logs of ${this.id}: ${frame.payload.toString().trim()}`,
              );
            }
            yield logEntry(frame.stream === StreamId.stderr ? "stderr" : "stdout", frame.payload);
          }
        }
        decoder.end();
      }
    } catch (error) {
      if (isAbort(error, opts.signal)) return;
      throw error;
    } finally {
      res.destroy();
    }
  }

  async exec(opts: ExecOptions): Promise<ExecProcess> {
    const tty = opts.Tty === true;
    const { Id } = await this.client.json<{ Id: string }>("POST", `${this.#path}/exec`, {
      json: {
        AttachStdin: true,
        AttachStdout: true,
        AttachStderr: true,
        Tty: tty,
        Cmd: opts.Cmd,
        ...(opts.Env !== undefined ? { Env: opts.Env } : {}),
        ...(opts.User !== undefined ? { User: opts.User } : {}),
        ...(opts.WorkingDir !== undefined ? { WorkingDir: opts.WorkingDir } : {}),
        ...(opts.Privileged !== undefined ? { Privileged: opts.Privileged } : {}),
      },
    });
    const execPath = `/exec/${encodeURIComponent(Id)}`;
    const conn = await this.client.hijack(`${execPath}/start`, { json: { Detach: false, Tty: tty } });
    const streams = streamProcess(conn, tty);
    const exit = streams.ended.then(async () => {
      const info = await this.client.json<{ ExitCode: number | null }>("GET", `${execPath}/json`);
      return info.ExitCode ?? -1;
    });
    // A caller may never await `exit`; its rejection must not crash the process.
    exit.catch(() => undefined);
    return {
      stdin: streams.stdin,
      stdout: streams.stdout,
      stderr: streams.stderr,
      exit,
      resize: (size) => {
        this.client
          .empty("POST", `${execPath}/resize`, { query: { h: size.rows, w: size.columns } })
          .catch(() => undefined);
      },
    };
  }

  async attach(opts: { readonly stdin?: boolean; readonly signal?: AbortSignal } = {}): Promise<ExecProcess> {
    const tty = (await this.inspect()).Config.Tty;
    const conn = await this.client.hijack(`${this.#path}/attach`, {
      query: { stream: true, stdin: opts.stdin === true, stdout: true, stderr: true },
    });
    const streams = streamProcess(conn, tty);
    const onAbort = (): void => {
      streams.destroy();
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    const exit = streams.ended.then(
      async () => {
        opts.signal?.removeEventListener("abort", onAbort);
        if (opts.signal?.aborted === true) throw detached(this.id);
        return (await this.wait()).StatusCode;
      },
      (error: unknown) => {
        opts.signal?.removeEventListener("abort", onAbort);
        throw opts.signal?.aborted === true ? detached(this.id) : error;
      },
    );
    // Callers that detach need not await `exit`; a rejection nobody waits for must not crash them.
    exit.catch(() => undefined);
    return {
      stdin: streams.stdin,
      stdout: streams.stdout,
      stderr: streams.stderr,
      exit,
      resize: (size) => {
        this.client
          .empty("POST", `${this.#path}/resize`, { query: { h: size.rows, w: size.columns } })
          .catch(() => undefined);
      },
    };
  }

  top(opts: { readonly ps_args?: string } = {}): Promise<TopResult> {
    return this.client.json("GET", `${this.#path}/top`, { query: { ps_args: opts.ps_args } });
  }

  stats(): Promise<ContainerStats> {
    return this.client.json("GET", `${this.#path}/stats`, { query: { stream: false } });
  }

  export(): Promise<Readable> {
    return this.client.send("GET", `${this.#path}/export`);
  }

  commit(opts: CommitOptions = {}): Promise<{ Id: string }> {
    return this.client.json("POST", "/commit", {
      query: {
        container: this.id,
        repo: opts.repo,
        tag: opts.tag,
        comment: opts.comment,
        author: opts.author,
        changes: opts.changes,
        pause: opts.pause,
      },
    });
  }

  getArchive(opts: { readonly path: string }): Promise<Readable> {
    return this.client.send("GET", `${this.#path}/archive`, { query: { path: opts.path } });
  }

  async infoArchive(opts: { readonly path: string }): Promise<ContainerPathStat> {
    const res = await this.client.send("HEAD", `${this.#path}/archive`, { query: { path: opts.path } });
    res.resume();
    const header = res.headers[PATH_STAT_HEADER.toLowerCase()];
    try {
      if (typeof header !== "string") throw new Error(`no ${PATH_STAT_HEADER} header`);
      return JSON.parse(Buffer.from(header, "base64").toString("utf8")) as ContainerPathStat;
    } catch (error) {
      throw new TsstackError(
        "engine/bad-response",
        `HEAD ${this.#path}/archive?path=${opts.path}: the engine's path stat is unreadable`,
        { cause: error },
      );
    }
  }

  async putArchive(tar: Readable, opts: { readonly path: string }): Promise<void> {
    const res = await this.client.send("PUT", `${this.#path}/archive`, {
      query: { path: opts.path },
      body: tar,
    });
    res.resume();
  }
}

function detached(id: string): TsstackError {
  return new TsstackError("engine/detached", `attach to ${id}: detached before the container stopped`);
}

function logEntry(stream: "stdout" | "stderr", payload: Buffer): LogEntry {
  const space = payload.indexOf(0x20);
  if (space < 0) return { stream, time: "", line: payload };
  return { stream, time: payload.toString("latin1", 0, space), line: payload.subarray(space + 1) };
}

/**
 * The process side of a hijacked connection: stdout/stderr demultiplexed (or raw with a TTY), stdin
 * writing to the connection and half-closing it at its end. `ended` resolves when the output ends.
 */
function streamProcess(
  conn: { socket: Socket | Readable; input?: Socket },
  tty: boolean,
): { stdin: Writable; stdout: PassThrough; stderr: PassThrough; ended: Promise<void>; destroy(): void } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const source = conn.socket;
  const target = conn.input;
  const stdin = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (target === undefined || target.destroyed) {
        callback();
        return;
      }
      target.write(chunk, (error) => {
        callback(error ?? null);
      });
    },
    final(callback) {
      // Half-close: the server sees stdin end and keeps sending output.
      if (target !== undefined && !target.destroyed) target.end();
      callback();
    },
  });
  stdin.on("error", () => undefined);
  const ended = (async () => {
    const decoder = new FrameDecoder();
    try {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        if (tty) {
          if (!stdout.write(chunk)) await new Promise((r) => stdout.once("drain", r));
          continue;
        }
        for (const frame of decoder.push(chunk)) {
          if (frame.stream === StreamId.systemerr) {
            throw new TsstackError("engine/stream-error", frame.payload.toString("utf8").trim());
          }
          const out = frame.stream === StreamId.stderr ? stderr : stdout;
          if (!out.write(frame.payload)) await new Promise((r) => out.once("drain", r));
        }
      }
      decoder.end();
    } finally {
      // The error (if any) goes to `exit`: destroying the streams with it would crash a caller that
      // has no error listener on them.
      stdout.end();
      stderr.end();
    }
  })();
  return {
    stdin,
    stdout,
    stderr,
    ended,
    destroy: () => {
      source.destroy();
      target?.destroy();
    },
  };
}
