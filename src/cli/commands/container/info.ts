/** `ps`, `inspect`, `logs`, `top`, `stats`: reading containers, with docker's output. */
import { setTimeout as sleep } from "node:timers/promises";
import type { Command } from "commander";
import { TsstackError } from "../../../common/errors.js";
import type { ContainerStats, ContainerSummary, LogEntry, LogsOptions } from "../../../runtime/runtime.js";
import { table, tabwrite, writeFormatted } from "../../format.js";
import type { CliIo } from "../../io.js";
import { UsageError } from "../config.js";
import type { ContainerContext } from "./engine.js";
import { ExitStatus } from "./exit-codes.js";
import { psRow, PS_HEADERS, PS_TABLE_COLUMNS } from "./ps-format.js";
import { collect, now } from "./shared.js";
import { previousCpu, statsRow, STATS_DEFAULT_FORMAT, STATS_HEADERS } from "./stats-format.js";
import { parseTimestamp } from "./time-args.js";

// --- ps ----------------------------------------------------------------------------------------------

interface PsFlags {
  all?: boolean;
  quiet?: boolean;
  trunc?: boolean;
  format?: string;
  filter?: string[];
  last?: string;
  latest?: boolean;
  size?: boolean;
}

const PS_FILTER_KEYS = ["label", "name", "id", "status"] as const;
const STATUSES = ["created", "restarting", "running", "removing", "paused", "exited", "dead"];

/** `-f key=value` flags → the engine's filters; unknown keys and statuses are usage errors. */
export function parsePsFilters(specs: readonly string[]): Record<string, string[]> {
  const filters: Record<string, string[]> = {};
  for (const spec of specs) {
    const eq = spec.indexOf("=");
    const key = eq === -1 ? spec : spec.slice(0, eq);
    const value = eq === -1 ? "" : spec.slice(eq + 1);
    if (!(PS_FILTER_KEYS as readonly string[]).includes(key) || value === "") {
      throw new UsageError(
        `invalid filter "${spec}" (supported: label=KEY[=VALUE], name=NAME, id=ID, status=STATUS)`,
      );
    }
    if (key === "status" && !STATUSES.includes(value)) {
      throw new UsageError(`invalid filter "${spec}": status is one of ${STATUSES.join(", ")}`);
    }
    (filters[key] ??= []).push(value);
  }
  return filters;
}

export function definePs(cmd: Command, ctx: ContainerContext): Command {
  return cmd
    .description("list containers (running ones unless -a)")
    .option("-a, --all", "show all containers, not only running ones")
    .option("-q, --quiet", "only show container ids")
    .option("--no-trunc", "don't truncate output")
    .option("--format <format>", "table (default), json, or a Go-style template such as '{{.ID}} {{.Names}}'")
    .option("-f, --filter <filter>", "filter: label=KEY[=VALUE], name=NAME, id=ID, status=STATUS", collect)
    .option("-n, --last <n>", "show the n last created containers (all states)")
    .option("-l, --latest", "show the latest created container (all states)")
    .option("-s, --size", "accepted for docker compatibility (sizes are not reported)")
    .action(async (flags: PsFlags, c: Command) => {
      const filters = parsePsFilters(flags.filter ?? []);
      let last = flags.latest === true ? 1 : undefined;
      if (flags.last !== undefined) {
        if (!/^-?\d+$/.test(flags.last)) throw new UsageError(`invalid value "${flags.last}" for --last`);
        last = Number(flags.last) >= 0 ? Number(flags.last) : undefined;
      }
      // A status filter or --last looks at every container, as in docker.
      const all = flags.all === true || filters["status"] !== undefined || last !== undefined;
      await using engine = await ctx.connect(c);
      let containers = await engine.runtime.listContainers({ all, filters });
      containers = [...containers].sort((a, b) => b.Created - a.Created);
      if (last !== undefined) containers = containers.slice(0, last);
      writePs(ctx.io, containers, flags);
    });
}

export function writePs(io: CliIo, containers: readonly ContainerSummary[], flags: PsFlags): void {
  const rows = containers.map((s) => psRow(s, { truncate: flags.trunc !== false, now: now(io) }));
  if (flags.quiet === true) {
    for (const row of rows) io.stdout.write(`${row.ID}\n`);
    return;
  }
  const format = flags.format ?? "table";
  if (format === "table") {
    io.stdout.write(table(PS_TABLE_COLUMNS, rows as unknown as Record<string, unknown>[], PS_HEADERS));
    return;
  }
  writeFormatted(io, format, rows, PS_HEADERS);
}

// --- inspect -----------------------------------------------------------------------------------------

export function defineInspect(cmd: Command, ctx: ContainerContext): Command {
  return inspectCommand(cmd, ctx, false);
}

/** docker's top-level `inspect`: a container, else an image of that name. */
export function defineInspectAny(cmd: Command, ctx: ContainerContext): Command {
  return inspectCommand(cmd, ctx, true);
}

function inspectCommand(cmd: Command, ctx: ContainerContext, images: boolean): Command {
  return cmd
    .description(
      images
        ? "show detailed information on containers or images (Docker-shaped JSON)"
        : "show detailed information on containers (Docker-shaped JSON)",
    )
    .argument(images ? "<name...>" : "<container...>", "names or ids")
    .option("-f, --format <template>", "format with a Go-style template, e.g. '{{.State.Status}}'")
    .option("-s, --size", "accepted for docker compatibility (sizes are not reported)")
    .action(async (refs: string[], flags: { format?: string }, c: Command) => {
      await using engine = await ctx.connect(c);
      const found: unknown[] = [];
      const missing: string[] = [];
      const isNotFound = (e: unknown): boolean => e instanceof TsstackError && e.code.endsWith("/not-found");
      for (const ref of refs) {
        try {
          found.push(await engine.runtime.getContainer(ref).inspect());
        } catch (e) {
          if (!isNotFound(e)) throw e;
          const image =
            images && engine.inspectImage !== undefined
              ? await engine.inspectImage(ref).catch((err: unknown) => {
                  if (!isNotFound(err)) throw err;
                  return undefined;
                })
              : undefined;
          if (image !== undefined) found.push(image);
          else missing.push(ref);
        }
      }
      if (flags.format !== undefined) writeFormatted(ctx.io, flags.format, found, {});
      else ctx.io.stdout.write(`${JSON.stringify(found, null, 4)}\n`);
      for (const ref of missing) {
        ctx.io.stderr.write(`tsstack: No such ${images ? "object" : "container"}: ${ref}\n`);
      }
      if (missing.length > 0) throw new ExitStatus(1);
    });
}

// --- logs --------------------------------------------------------------------------------------------

interface LogsFlags {
  follow?: boolean;
  tail?: string;
  timestamps?: boolean;
  since?: string;
  until?: string;
}

/** The runtime's logs options for the flags; the clock resolves relative `--since 10m`. */
export function logsOptions(flags: LogsFlags, at: Date): LogsOptions {
  let tail: number | "all" | undefined;
  if (flags.tail !== undefined && flags.tail !== "all") {
    if (!/^-?\d+$/.test(flags.tail))
      throw new UsageError(`invalid value "${flags.tail}" for --tail: a number or all`);
    // docker reads a negative count as all.
    tail = Number(flags.tail) < 0 ? "all" : Number(flags.tail);
  }
  return {
    stdout: true,
    stderr: true,
    follow: flags.follow === true,
    timestamps: flags.timestamps === true,
    ...(tail !== undefined ? { tail } : {}),
    ...(flags.since !== undefined ? { since: parseTimestamp("--since", flags.since, at) } : {}),
    ...(flags.until !== undefined ? { until: parseTimestamp("--until", flags.until, at) } : {}),
  };
}

export function defineLogs(cmd: Command, ctx: ContainerContext): Command {
  return cmd
    .description("print a container's output (stdout to stdout, stderr to stderr)")
    .argument("<container>", "name or id")
    .option("-f, --follow", "follow the output until the container stops")
    .option("-n, --tail <n>", "number of lines from the end (default: all)")
    .option("-t, --timestamps", "show timestamps")
    .option("--since <time>", "only after: RFC 3339 time, Unix timestamp, or duration (10m)")
    .option("--until <time>", "only before: RFC 3339 time, Unix timestamp, or duration (10m)")
    .action(async (ref: string, flags: LogsFlags, c: Command) => {
      const opts = logsOptions(flags, now(ctx.io));
      await using engine = await ctx.connect(c);
      await writeLogs(ctx.io, engine.runtime.getContainer(ref).logs(opts), flags.timestamps === true);
    });
}

/**
 * Writes each entry to the matching CLI stream. With timestamps, each line is prefixed once: an
 * entry continuing a partial line on its stream is not prefixed again.
 */
export async function writeLogs(
  io: CliIo,
  entries: AsyncIterable<LogEntry>,
  timestamps: boolean,
): Promise<void> {
  const decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };
  const atLineStart = { stdout: true, stderr: true };
  for await (const entry of entries) {
    const out = entry.stream === "stderr" ? io.stderr : io.stdout;
    const text = decoders[entry.stream].decode(entry.line, { stream: true });
    out.write(timestamps && atLineStart[entry.stream] ? `${entry.time} ${text}` : text);
    atLineStart[entry.stream] = entry.line.at(-1) === 0x0a;
  }
  for (const stream of ["stdout", "stderr"] as const) {
    const rest = decoders[stream].decode();
    if (rest !== "") (stream === "stderr" ? io.stderr : io.stdout).write(rest);
  }
}

// --- top ---------------------------------------------------------------------------------------------

export function defineTop(cmd: Command, ctx: ContainerContext): Command {
  return cmd
    .description("show the processes of a running container")
    .argument("<container>", "name or id")
    .argument("[ps-options...]", "options for ps (default -ef)")
    .passThroughOptions()
    .action(async (ref: string, psOptions: string[], _flags: unknown, c: Command) => {
      await using engine = await ctx.connect(c);
      const result = await engine.runtime
        .getContainer(ref)
        .top(psOptions.length > 0 ? { ps_args: psOptions.join(" ") } : {});
      // docker's tabwriter for top: minimum width 20, padding 3.
      ctx.io.stdout.write(tabwrite([result.Titles, ...result.Processes], { minWidth: 20, padding: 3 }));
    });
}

// --- stats -------------------------------------------------------------------------------------------

interface StatsFlags {
  all?: boolean;
  stream?: boolean;
  trunc?: boolean;
  format?: string;
}

/** How long `stats` waits between two samples when the engine sent only one (docker's interval). */
const SAMPLE_INTERVAL_MS = 1000;

export function defineStats(cmd: Command, ctx: ContainerContext): Command {
  return cmd
    .description("show containers' resource usage (running ones unless named or -a)")
    .argument("[container...]", "names or ids (default: all running containers)")
    .option("-a, --all", "show all containers, not only running ones")
    .option("--no-stream", "print one sample and exit")
    .option("--no-trunc", "don't truncate output")
    .option(
      "--format <format>",
      "table (default), json, or a Go-style template such as '{{.Name}} {{.CPUPerc}}'",
    )
    .action(async (refs: string[], flags: StatsFlags, c: Command) => {
      const { io } = ctx;
      await using engine = await ctx.connect(c);
      const runtime = engine.runtime;
      let targets: { id: string; name: string }[];
      if (refs.length > 0) {
        targets = [];
        for (const ref of refs) {
          const info = await runtime.getContainer(ref).inspect();
          targets.push({ id: info.Id, name: info.Name.replace(/^\//, "") });
        }
      } else {
        const list = await runtime.listContainers({ all: flags.all === true });
        targets = list.map((s) => ({ id: s.Id, name: (s.Names[0] ?? "").replace(/^\//, "") }));
      }
      const sample = async (): Promise<(ContainerStats | undefined)[]> =>
        Promise.all(
          targets.map((t) =>
            runtime
              .getContainer(t.id)
              .stats()
              .catch(() => undefined),
          ),
        );
      const format = flags.format ?? "table";
      let earlier: (ContainerStats | undefined)[] | undefined;
      let current = await sample();
      // CPU % needs two readings: the engine's precpu_stats, or else a second sample a second later.
      if (current.some((s) => s?.precpu_stats.system_cpu_usage === 0)) {
        await sleep(SAMPLE_INTERVAL_MS);
        earlier = current;
        current = await sample();
      }
      for (;;) {
        const rows = targets.flatMap((t, i) => {
          const cur = current[i];
          return cur === undefined
            ? []
            : [statsRow(t, cur, previousCpu(cur, earlier?.[i]), flags.trunc !== false)];
        });
        if (flags.stream !== false && io.stdout.isTTY === true) io.stdout.write("\u001b[2J\u001b[H");
        writeFormatted(io, format === "table" ? STATS_DEFAULT_FORMAT : format, rows, STATS_HEADERS);
        if (flags.stream === false) return;
        await sleep(SAMPLE_INTERVAL_MS);
        earlier = current;
        current = await sample();
      }
    });
}
