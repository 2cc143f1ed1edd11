/** `/containers/…` (lifecycle, inspection, logs, stats) and `/commit`. */
import { setTimeout as sleep } from "node:timers/promises";
import {
  CONTAINER_NAME_RE,
  type ContainerCreateOptions,
  type LogEntry,
  type LogsOptions,
} from "../../runtime/runtime.js";
import { describeError, errorMessage, HttpError } from "../errors.js";
import { parseFilters, queryBool, queryInt, queryTime } from "../filters.js";
import { encodeFrame, MULTIPLEXED_STREAM, RAW_STREAM, StreamId } from "../framing.js";
import { route } from "../router.js";
import { endWithError, pumpOutput, writeChunk } from "../streams.js";
import { param, type ApiRoute, type Handler } from "./handler.js";

const STATS_INTERVAL_MS = 1000;

function container(ctx: Parameters<Handler>[0], s: Parameters<Handler>[1]) {
  return s.runtime.getContainer(param(ctx));
}

const list: Handler = async (ctx, s) => {
  const filters = parseFilters(ctx.query.get("filters"));
  const all = queryBool(ctx.query, "all");
  const limit = queryInt(ctx.query, "limit");
  let found = await s.runtime.listContainers({ all: all || (limit !== undefined && limit > 0), filters });
  // Docker's `limit`: the n most recently created, stopped ones included.
  if (limit !== undefined && limit > 0)
    found = [...found].sort((a, b) => b.Created - a.Created).slice(0, limit);
  ctx.json(200, found);
};

const create: Handler = async (ctx, s) => {
  const body = await ctx.readJson();
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new HttpError(
      400,
      "container/invalid-config",
      "config cannot be empty in order to create a container",
    );
  }
  const config = body as Record<string, unknown>;
  if (typeof config["Image"] !== "string" || config["Image"] === "") {
    throw new HttpError(400, "container/invalid-config", "creating a container: no image given (Image)");
  }
  const name = ctx.query.get("name") ?? "";
  if (name !== "" && !CONTAINER_NAME_RE.test(name)) {
    throw new HttpError(
      400,
      "container/invalid-config",
      `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`,
    );
  }
  // The name comes from the query only, as with Docker; a `name` in the body is not part of the API.
  const { name: _ignored, ...rest } = config;
  const options = {
    ...rest,
    ...(name !== "" ? { name: name.replace(/^\//, "") } : {}),
  } as ContainerCreateOptions;
  const created = await s.runtime.createContainer(options);
  const { Id } = await created.inspect();
  ctx.json(201, { Id, Warnings: [] });
};

const inspect: Handler = async (ctx, s) => {
  ctx.json(200, await container(ctx, s).inspect());
};

const start: Handler = async (ctx, s) => {
  await container(ctx, s).start();
  ctx.empty(204);
};

const stop: Handler = async (ctx, s) => {
  const t = queryInt(ctx.query, "t");
  const signal = ctx.query.get("signal") ?? "";
  await container(ctx, s).stop({ ...(t !== undefined ? { t } : {}), ...(signal !== "" ? { signal } : {}) });
  ctx.empty(204);
};

const restart: Handler = async (ctx, s) => {
  const t = queryInt(ctx.query, "t");
  await container(ctx, s).restart(t !== undefined ? { t } : {});
  ctx.empty(204);
};

const kill: Handler = async (ctx, s) => {
  const signal = ctx.query.get("signal") ?? "";
  await container(ctx, s).kill(signal !== "" ? { signal } : {});
  ctx.empty(204);
};

const pause: Handler = async (ctx, s) => {
  await container(ctx, s).pause();
  ctx.empty(204);
};

const unpause: Handler = async (ctx, s) => {
  await container(ctx, s).unpause();
  ctx.empty(204);
};

const remove: Handler = async (ctx, s) => {
  await container(ctx, s).remove({ force: queryBool(ctx.query, "force"), v: queryBool(ctx.query, "v") });
  ctx.empty(204);
};

const WAIT_CONDITIONS = ["not-running", "next-exit", "removed"] as const;

/**
 * The wait is registered before the headers go out, and they go out at once: a client that starts
 * the container after seeing them (as `docker run` does) cannot miss the exit. A failure after that
 * is reported in the body, as Docker does.
 */
const wait: Handler = async (ctx, s) => {
  const raw = ctx.query.get("condition") ?? "";
  const condition = raw === "" ? "not-running" : WAIT_CONDITIONS.find((c) => c === raw);
  if (condition === undefined) {
    throw new HttpError(
      400,
      "container/invalid-parameter",
      `invalid condition ${JSON.stringify(raw)} for wait`,
    );
  }
  const c = container(ctx, s);
  await c.inspect();
  const result = c.wait({ condition });
  result.catch(() => undefined);
  const out = ctx.stream(200, { "Content-Type": "application/json" });
  try {
    out.end(`${JSON.stringify(await result)}\n`);
  } catch (error) {
    s.log(`POST ${ctx.path}: wait failed after the response began: ${describeError(error)}`);
    out.end(`${JSON.stringify({ StatusCode: -1, Error: { Message: errorMessage(error) } })}\n`);
  }
};

function logsOptions(ctx: Parameters<Handler>[0]): LogsOptions & { stdout: boolean; stderr: boolean } {
  const q = ctx.query;
  const stdout = queryBool(q, "stdout");
  const stderr = queryBool(q, "stderr");
  if (!stdout && !stderr) {
    throw new HttpError(
      400,
      "container/invalid-parameter",
      "Bad parameters: you must choose at least one stream",
    );
  }
  const since = queryTime(q, "since");
  const until = queryTime(q, "until");
  const tailRaw = q.get("tail") ?? "all";
  let tail: number | "all" = "all";
  if (tailRaw !== "all" && tailRaw !== "") {
    tail = Number(tailRaw);
    // Docker treats a negative or unparsable tail as "all".
    if (!Number.isInteger(tail) || tail < 0) tail = "all";
  }
  return {
    follow: queryBool(q, "follow"),
    stdout,
    stderr,
    // Docker: since=0 means "from the beginning", as absent does.
    ...(since !== undefined && since !== 0 ? { since } : {}),
    ...(until !== undefined && until !== 0 ? { until } : {}),
    timestamps: queryBool(q, "timestamps"),
    tail,
    signal: ctx.signal,
  };
}

/** One log entry as Docker sends it: the optional timestamp prefixes each entry. */
function logPayload(entry: LogEntry, timestamps: boolean): Buffer {
  return timestamps ? Buffer.concat([Buffer.from(`${entry.time} `), entry.line]) : entry.line;
}

const logs: Handler = async (ctx, s) => {
  const opts = logsOptions(ctx);
  const c = container(ctx, s);
  const tty = (await c.inspect()).Config.Tty;
  // Headers go out at once (a follow may wait long for its first line); inspect has already turned
  // an unknown container into a 404.
  const out = ctx.stream(200, { "Content-Type": tty ? RAW_STREAM : MULTIPLEXED_STREAM });
  try {
    for await (const entry of c.logs(opts)) {
      if ((entry.stream === "stdout" && !opts.stdout) || (entry.stream === "stderr" && !opts.stderr))
        continue;
      const payload = logPayload(entry, opts.timestamps === true);
      const stream = entry.stream === "stdout" ? StreamId.stdout : StreamId.stderr;
      if (!(await writeChunk(out, tty ? payload : encodeFrame(stream, payload)))) break;
    }
    out.end();
  } catch (error) {
    if (ctx.signal.aborted) return;
    s.log(`GET ${ctx.path}: reading logs failed mid-stream: ${describeError(error)}`);
    endWithError(out, !tty, errorMessage(error));
  }
};

const top: Handler = async (ctx, s) => {
  const psArgs = ctx.query.get("ps_args") ?? "";
  ctx.json(200, await container(ctx, s).top(psArgs !== "" ? { ps_args: psArgs } : {}));
};

const stats: Handler = async (ctx, s) => {
  const c = container(ctx, s);
  const stream = queryBool(ctx.query, "stream", true) && !queryBool(ctx.query, "one-shot");
  const first = await c.stats();
  if (!stream) {
    ctx.json(200, first);
    return;
  }
  const out = ctx.stream(200, { "Content-Type": "application/json" });
  let sample = first;
  try {
    for (;;) {
      if (!(await writeChunk(out, `${JSON.stringify(sample)}\n`))) return;
      await sleep(STATS_INTERVAL_MS, undefined, { signal: ctx.signal });
      sample = await c.stats();
    }
  } catch (error) {
    if (ctx.signal.aborted) return;
    // The container went away (or stopped answering): end the stream as Docker does.
    s.log(`GET ${ctx.path}: stats ended: ${describeError(error)}`);
  } finally {
    out.end();
  }
};

const exportFs: Handler = async (ctx, s) => {
  const tar = await container(ctx, s).export();
  const out = ctx.stream(200, { "Content-Type": "application/x-tar" });
  try {
    for await (const chunk of tar as AsyncIterable<Buffer>) if (!(await writeChunk(out, chunk))) break;
    out.end();
  } catch (error) {
    s.log(`GET ${ctx.path}: export failed mid-stream: ${describeError(error)}`);
    out.destroy();
  } finally {
    tar.destroy();
  }
};

const commit: Handler = async (ctx, s) => {
  const q = ctx.query;
  const id = q.get("container") ?? "";
  if (id === "") throw new HttpError(400, "container/invalid-parameter", "commit: no container given");
  // The body may carry a container config to apply; tsstack takes config changes through `changes`.
  await ctx.readBody();
  const text = (name: string) => {
    const v = q.get(name) ?? "";
    return v !== "" ? { [name]: v } : {};
  };
  const changes = q.getAll("changes").filter((c) => c.trim() !== "");
  const result = await s.runtime.getContainer(id).commit({
    ...text("repo"),
    ...text("tag"),
    ...text("comment"),
    ...text("author"),
    ...(changes.length > 0 ? { changes } : {}),
    pause: queryBool(q, "pause", true),
  });
  ctx.json(201, { Id: result.Id });
};

const resize: Handler = async (ctx, s) => {
  const rows = queryInt(ctx.query, "h");
  const columns = queryInt(ctx.query, "w");
  const { Id } = await container(ctx, s).inspect();
  // The runtime resizes a TTY through the attach session holding it; without one there is nothing to do.
  if (rows !== undefined && columns !== undefined) {
    for (const p of s.attachments.of(Id)) p.resize?.({ rows, columns });
  }
  ctx.empty(200);
};

/**
 * `docker attach` / `docker run` without `-d`: the container's output (after its past logs, with
 * `logs=1`) and, with `stdin=1`, the client's input, over a hijacked connection.
 */
const attach: Handler = async (ctx, s) => {
  const q = ctx.query;
  const wantStdin = queryBool(q, "stdin");
  const stdout = queryBool(q, "stdout");
  const stderr = queryBool(q, "stderr");
  const live = queryBool(q, "stream");
  const withLogs = queryBool(q, "logs");
  if (!live && !withLogs) {
    throw new HttpError(400, "container/invalid-parameter", "Bad parameters: you must choose logs or stream");
  }
  const c = container(ctx, s);
  const info = await c.inspect();
  const tty = info.Config.Tty;
  const proc = live ? await c.attach({ stdin: wantStdin, signal: ctx.signal }) : undefined;
  const detach = proc === undefined ? undefined : s.attachments.add(info.Id, proc);
  const { input, output } = await ctx.hijack(tty ? RAW_STREAM : MULTIPLEXED_STREAM);
  try {
    if (withLogs && (stdout || stderr)) {
      for await (const entry of c.logs({ stdout, stderr, signal: ctx.signal })) {
        const chunk = tty
          ? entry.line
          : encodeFrame(entry.stream === "stdout" ? StreamId.stdout : StreamId.stderr, entry.line);
        if (!(await writeChunk(output, chunk))) break;
      }
    }
    if (proc !== undefined) {
      if (wantStdin) input.pipe(proc.stdin);
      else proc.stdin.end();
      await pumpOutput(proc, output, { tty, stdout, stderr });
    }
    output.end();
  } catch (error) {
    if (ctx.signal.aborted) return;
    s.log(`POST ${ctx.path}: attach failed mid-stream: ${describeError(error)}`);
    endWithError(output, !tty, errorMessage(error));
  } finally {
    detach?.();
    input.unpipe();
  }
};

export const containerRoutes: readonly ApiRoute[] = [
  route("GET", "/containers/json", list),
  route("POST", "/containers/create", create),
  route("GET", "/containers/{id}/json", inspect),
  route("POST", "/containers/{id}/start", start),
  route("POST", "/containers/{id}/stop", stop),
  route("POST", "/containers/{id}/restart", restart),
  route("POST", "/containers/{id}/kill", kill),
  route("POST", "/containers/{id}/pause", pause),
  route("POST", "/containers/{id}/unpause", unpause),
  route("POST", "/containers/{id}/wait", wait),
  route("DELETE", "/containers/{id}", remove),
  route("GET", "/containers/{id}/logs", logs),
  route("GET", "/containers/{id}/top", top),
  route("GET", "/containers/{id}/stats", stats),
  route("GET", "/containers/{id}/export", exportFs),
  route("POST", "/containers/{id}/resize", resize),
  route("POST", "/containers/{id}/attach", attach),
  route("POST", "/commit", commit),
];
