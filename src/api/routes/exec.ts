/**
 * `POST /containers/{id}/exec`, `POST /exec/{id}/start`, `GET /exec/{id}/json`, `POST /exec/{id}/resize`.
 * Docker splits an exec into a stored configuration and its start; the runtime's `exec` starts at
 * once, so the configuration waits here (in memory) for the start.
 */
import { describeError, errorMessage, HttpError } from "../errors.js";
import { queryInt } from "../filters.js";
import { MULTIPLEXED_STREAM, RAW_STREAM } from "../framing.js";
import { route } from "../router.js";
import type { ExecConfig } from "../services.js";
import { endWithError, pumpOutput } from "../streams.js";
import { param, type ApiRoute, type Handler } from "./handler.js";

function execConfig(body: unknown): ExecConfig {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new HttpError(
      400,
      "container/invalid-config",
      "exec: the request body must be an exec configuration",
    );
  }
  const config = body as Record<string, unknown>;
  const cmd = config["Cmd"];
  if (!Array.isArray(cmd) || cmd.length === 0 || !cmd.every((c): c is string => typeof c === "string")) {
    throw new HttpError(400, "container/invalid-config", "No exec command specified");
  }
  return config as unknown as ExecConfig;
}

const create: Handler = async (ctx, s) => {
  const config = execConfig(await ctx.readJson());
  const { Id, State } = await s.runtime.getContainer(param(ctx)).inspect();
  if (State.Paused) {
    throw new HttpError(
      409,
      "container/paused",
      `Container ${Id} is paused, unpause the container before exec`,
    );
  }
  if (!State.Running) throw new HttpError(409, "container/not-running", `Container ${Id} is not running`);
  ctx.json(201, { Id: s.execs.create(Id, config).id });
};

const start: Handler = async (ctx, s) => {
  const record = s.execs.get(param(ctx));
  const body = (await ctx.readJson()) as { Detach?: boolean; Tty?: boolean } | undefined;
  if (record.started) {
    throw new HttpError(409, "container/conflict", `exec ${record.id} has already been started`);
  }
  record.started = true;
  const config = record.config;
  const tty = body?.Tty ?? config.Tty ?? false;
  let proc;
  try {
    proc = await s.runtime
      .getContainer(record.containerId)
      .exec(s.execs.toExecOptions({ ...config, Tty: tty }));
  } catch (error) {
    record.started = false;
    throw error;
  }
  const ended = s.execs.started(record, proc);
  if (body?.Detach === true) {
    proc.stdin.end();
    proc.stdout.resume();
    proc.stderr.resume();
    ctx.empty(200);
    return;
  }
  const { input, output } = await ctx.hijack(tty ? RAW_STREAM : MULTIPLEXED_STREAM);
  try {
    if (config.AttachStdin === true) input.pipe(proc.stdin);
    else proc.stdin.end();
    await pumpOutput(proc, output, {
      tty,
      stdout: config.AttachStdout ?? true,
      stderr: config.AttachStderr ?? true,
    });
    // The exit code is recorded before the stream ends: a client that inspects the exec on EOF sees it.
    await ended;
    output.end();
  } catch (error) {
    if (ctx.signal.aborted) return;
    s.log(`POST ${ctx.path}: exec failed mid-stream: ${describeError(error)}`);
    endWithError(output, !tty, errorMessage(error));
  } finally {
    input.unpipe();
  }
};

const inspect: Handler = (ctx, s) => {
  const r = s.execs.get(param(ctx));
  ctx.json(200, {
    ID: r.id,
    ContainerID: r.containerId,
    Running: r.running,
    ExitCode: r.exitCode,
    Pid: r.process?.pid?.() ?? 0,
    OpenStdin: r.config.AttachStdin ?? false,
    OpenStdout: r.config.AttachStdout ?? true,
    OpenStderr: r.config.AttachStderr ?? true,
    CanRemove: false,
    DetachKeys: r.config.DetachKeys ?? "",
    ProcessConfig: {
      tty: r.config.Tty ?? false,
      entrypoint: r.config.Cmd[0] ?? "",
      arguments: r.config.Cmd.slice(1),
      privileged: r.config.Privileged ?? false,
      user: r.config.User ?? "",
    },
  });
  return Promise.resolve();
};

const resize: Handler = (ctx, s) => {
  const r = s.execs.get(param(ctx));
  const rows = queryInt(ctx.query, "h");
  const columns = queryInt(ctx.query, "w");
  if (r.process === undefined || !r.running) {
    throw new HttpError(409, "container/not-running", `exec ${r.id} is not running`);
  }
  if (rows !== undefined && columns !== undefined) r.process.resize?.({ rows, columns });
  ctx.empty(200);
  return Promise.resolve();
};

export const execRoutes: readonly ApiRoute[] = [
  route("POST", "/containers/{id}/exec", create),
  route("POST", "/exec/{id}/start", start),
  route("GET", "/exec/{id}/json", inspect),
  route("POST", "/exec/{id}/resize", resize),
];
