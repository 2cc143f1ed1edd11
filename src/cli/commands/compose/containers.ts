/**
 * The stack's containers through the runtime, found by compose's project label: `ps`, `logs`,
 * `start`, `stop`, `restart`, `events`.
 */
import { Option, type Command } from "commander";
import { table, writeFormatted } from "../../format.js";
import type { CliIo } from "../../io.js";
import { UsageError } from "../config.js";
import { ExitStatus } from "../container/exit-codes.js";
import { now } from "../container/shared.js";
import { parseTimestamp } from "../container/time-args.js";
import { checkServices, parseSeconds } from "./apply-options.js";
import { actOnContainers, type ContainerAction } from "./container-actions.js";
import { formatEvent, isStackEvent } from "./event-format.js";
import { progressMode } from "./progress.js";
import { resolveProject, stackContainers } from "./project.js";
import { COMPOSE_PS_COLUMNS, COMPOSE_PS_HEADERS, composePsRow, sortForPs } from "./ps-format.js";
import { INTERRUPTED_EXIT_CODE, type ComposeContext } from "./stack-api.js";
import { writeStackLogs } from "./stack-logs.js";
import { useColor } from "./log-prefix.js";

/** The project (and, with a stack file, a check of the services named). */
async function stackOf(c: Command, io: CliIo, services: readonly string[]): Promise<string> {
  const { name, loaded } = await resolveProject(c, io);
  if (loaded !== undefined) checkServices(loaded.spec, services);
  return name;
}

/**
 * Runs `body` with a signal aborted by the first Ctrl-C; exits 130 when that is how it ended.
 */
async function untilInterrupt(
  ctx: ComposeContext,
  body: (signal: AbortSignal) => Promise<void>,
): Promise<void> {
  const abort = new AbortController();
  const off = ctx.onInterrupt(() => {
    abort.abort();
  });
  try {
    await body(abort.signal);
  } finally {
    off();
  }
  if (abort.signal.aborted) throw new ExitStatus(INTERRUPTED_EXIT_CODE);
}

// --- ps ----------------------------------------------------------------------------------------------

interface PsFlags {
  all?: boolean;
  quiet?: boolean;
  services?: boolean;
  format: string;
  trunc?: boolean;
}

export function definePs(cmd: Command, ctx: ComposeContext): Command {
  return cmd
    .description("list the stack's containers (running ones unless -a)")
    .argument("[services...]", "only these services")
    .option("-a, --all", "show stopped containers too")
    .option("-q, --quiet", "only show container ids")
    .option("--services", "only show the services' names")
    .option(
      "--format <format>",
      "table, json, or a Go-style template such as '{{.Name}} {{.Health}}'",
      "table",
    )
    .option("--no-trunc", "don't truncate output")
    .action(async (services: string[], flags: PsFlags, c: Command) => {
      const project = await stackOf(c, ctx.io, services);
      await using conn = await ctx.connect(c);
      const containers = await stackContainers(conn.runtime, project, { all: flags.all === true, services });
      writeComposePs(ctx.io, containers, flags);
    });
}

export function writeComposePs(
  io: CliIo,
  containers: Parameters<typeof composePsRow>[0][],
  flags: PsFlags,
): void {
  const rows = sortForPs(
    containers.map((ct) => composePsRow(ct, { truncate: flags.trunc !== false, now: now(io) })),
  );
  if (flags.quiet === true) {
    for (const row of rows) io.stdout.write(`${row.ID}\n`);
    return;
  }
  if (flags.services === true) {
    for (const service of new Set(rows.map((r) => r.Service))) io.stdout.write(`${service}\n`);
    return;
  }
  if (flags.format === "table") {
    io.stdout.write(
      table(COMPOSE_PS_COLUMNS, rows as unknown as Record<string, unknown>[], COMPOSE_PS_HEADERS),
    );
    return;
  }
  writeFormatted(io, flags.format, rows, COMPOSE_PS_HEADERS);
}

// --- logs --------------------------------------------------------------------------------------------

interface LogsFlags {
  follow?: boolean;
  tail?: string;
  timestamps?: boolean;
  color?: boolean;
  since?: string;
}

/** `--tail N|all`: a negative count is all, as in docker. */
export function parseTail(text: string | undefined): number | "all" | undefined {
  if (text === undefined || text === "all") return text;
  if (!/^-?\d+$/.test(text)) throw new UsageError(`invalid value "${text}" for --tail: a number or all`);
  return Number(text) < 0 ? "all" : Number(text);
}

export function defineLogs(cmd: Command, ctx: ComposeContext): Command {
  return cmd
    .description("print the logs of the stack's containers, merged, each line prefixed with its container")
    .argument("[services...]", "only these services")
    .option("-f, --follow", "follow the output until Ctrl-C")
    .option("-n, --tail <n>", "number of lines from the end of each container's log (default: all)")
    .option("-t, --timestamps", "show timestamps")
    .option("--no-color", "no colours in the prefixes")
    .option("--since <time>", "only after: RFC 3339 time, Unix timestamp, or duration (10m)")
    .action(async (services: string[], flags: LogsFlags, c: Command) => {
      const tail = parseTail(flags.tail);
      const since =
        flags.since === undefined ? undefined : parseTimestamp("--since", flags.since, now(ctx.io));
      const project = await stackOf(c, ctx.io, services);
      await using conn = await ctx.connect(c);
      const containers = await stackContainers(conn.runtime, project, { all: true, services });
      const opts = {
        project,
        timestamps: flags.timestamps === true,
        color: useColor(ctx.io, flags.color),
        ...(tail !== undefined ? { tail } : {}),
        ...(since !== undefined ? { since } : {}),
      };
      if (flags.follow !== true) {
        await writeStackLogs(ctx.io, conn.runtime, containers, { ...opts, follow: false });
        return;
      }
      await untilInterrupt(ctx, (signal) =>
        writeStackLogs(ctx.io, conn.runtime, containers, { ...opts, follow: true, signal }),
      );
    });
}

// --- start, stop, restart ----------------------------------------------------------------------------

/** `start`, `stop`, `restart` of the stack's containers (all, or those of the services named). */
export function defineLifecycle(action: Exclude<ContainerAction, "kill">) {
  return (cmd: Command, ctx: ComposeContext): Command => {
    cmd
      .description(`${action} the stack's containers (all, or those of the services named)`)
      .argument("[services...]", "only these services");
    if (action !== "start")
      cmd.option("-t, --timeout <seconds>", "seconds to wait for a container to stop before killing it");
    return cmd.action(async (services: string[], flags: { timeout?: string }, c: Command) => {
      const timeout = parseSeconds("--timeout", flags.timeout);
      const project = await stackOf(c, ctx.io, services);
      await using conn = await ctx.connect(c);
      // As compose: start acts on the stopped containers, stop on the running ones, restart on all.
      const containers = (
        await stackContainers(conn.runtime, project, { all: action !== "stop", services })
      ).filter((ct) => action !== "start" || ct.State !== "running");
      await actOnContainers(ctx.io, conn.runtime, containers, action, {
        project,
        mode: progressMode(undefined, ctx.io.stdout.isTTY === true),
        ...(timeout !== undefined ? { timeout } : {}),
      });
    });
  };
}

// --- events ------------------------------------------------------------------------------------------

export function defineEvents(cmd: Command, ctx: ComposeContext): Command {
  return cmd
    .description("print the runtime events of the stack's containers as they happen, until Ctrl-C")
    .argument("[services...]", "only these services")
    .addOption(new Option("--json", "one JSON object per event"))
    .action(async (services: string[], flags: { json?: boolean }, c: Command) => {
      const project = await stackOf(c, ctx.io, services);
      await using conn = await ctx.connect(c);
      await untilInterrupt(ctx, async (signal) => {
        for await (const e of conn.runtime.getEvents({ signal })) {
          if (isStackEvent(e, project, services))
            ctx.io.stdout.write(formatEvent(e, { json: flags.json === true }));
        }
      });
    });
}
