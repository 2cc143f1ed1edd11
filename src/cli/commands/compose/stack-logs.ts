/**
 * The logs of a stack's containers merged into one view (`logs`, attached `up`): without `--follow`
 * every container's lines sorted by time; with it, lines as they arrive from all replicas at once.
 * stdout lines go to stdout and stderr lines to stderr, each with its container's prefix.
 */
import type { ContainerSummary, LogsOptions, Runtime } from "../../../runtime/runtime.js";
import type { CliIo } from "../../io.js";
import { LineSplitter, LogPrefixer, logName } from "./log-prefix.js";

export interface StackLogsOptions {
  readonly project: string;
  readonly follow: boolean;
  /** Lines from the end of each container's log; default all. */
  readonly tail?: number | "all";
  /** Unix seconds: only what was logged since (attached `up`: since the apply began). */
  readonly since?: number;
  /** Prefix each line with the time it was logged (`-t`). */
  readonly timestamps: boolean;
  readonly color: boolean;
  /** Ends a follow. */
  readonly signal?: AbortSignal;
  /** Following: told when a container's stream has ended (it stopped), with its log name. */
  readonly onEnd?: (name: string, container: ContainerSummary) => void | Promise<void>;
}

interface TimedLine {
  readonly time: string;
  readonly stream: "stdout" | "stderr";
  readonly text: string;
}

function logsOptions(opts: StackLogsOptions): LogsOptions {
  return {
    stdout: true,
    stderr: true,
    follow: opts.follow,
    ...(opts.tail !== undefined ? { tail: opts.tail } : {}),
    ...(opts.since !== undefined ? { since: opts.since } : {}),
    ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
  };
}

/** Writes the merged logs of `containers`; a follow returns when every stream ended or on abort. */
export async function writeStackLogs(
  io: CliIo,
  runtime: Runtime,
  containers: readonly ContainerSummary[],
  opts: StackLogsOptions,
): Promise<void> {
  const prefixer = new LogPrefixer({ color: opts.color });
  const names = containers.map((c) => logName(c, opts.project));
  prefixer.add(...names);
  const write = (name: string, line: TimedLine): void => {
    const text = opts.timestamps ? `${line.time} ${line.text}` : line.text;
    (line.stream === "stdout" ? io.stdout : io.stderr).write(prefixer.line(name, text));
  };
  if (!opts.follow) {
    const perContainer = await Promise.all(containers.map((c) => readLines(runtime, c, opts)));
    for (const { name, line } of mergeByTime(names, perContainer)) write(name, line);
    return;
  }
  await Promise.all(
    containers.map(async (c, i) => {
      const name = names[i] ?? "";
      await followLines(runtime, c, opts, (line) => {
        write(name, line);
      });
      if (opts.signal?.aborted !== true) await opts.onEnd?.(name, c);
    }),
  );
}

async function readLines(
  runtime: Runtime,
  c: ContainerSummary,
  opts: StackLogsOptions,
): Promise<TimedLine[]> {
  const lines: TimedLine[] = [];
  await followLines(runtime, c, { ...opts, follow: false }, (l) => lines.push(l));
  return lines;
}

/** Reads one container's log as whole lines, each stamped with the time its first part was logged. */
async function followLines(
  runtime: Runtime,
  c: ContainerSummary,
  opts: StackLogsOptions,
  onLine: (line: TimedLine) => void,
): Promise<void> {
  const splitter = new LineSplitter();
  const started = new Map<string, string>();
  const decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };
  try {
    for await (const entry of runtime.getContainer(c.Id).logs(logsOptions(opts))) {
      const time = started.get(entry.stream) ?? entry.time;
      const lines = splitter.push(entry.stream, decoders[entry.stream].decode(entry.line, { stream: true }));
      lines.forEach((text, i) => {
        onLine({ time: i === 0 ? time : entry.time, stream: entry.stream, text });
      });
      // A part of a line keeps the time of its beginning; a finished line lets the next one start.
      if (entry.line.at(-1) === 0x0a) started.delete(entry.stream);
      else if (lines.length > 0 || !started.has(entry.stream)) started.set(entry.stream, entry.time);
    }
  } catch (error) {
    if (opts.signal?.aborted !== true) throw error;
  }
  for (const stream of ["stdout", "stderr"] as const) {
    for (const text of splitter.flush(stream)) {
      onLine({ time: started.get(stream) ?? "", stream, text });
    }
  }
}

/**
 * All containers' lines in the order they were logged; equal times keep container order, and one
 * container's lines keep their own order.
 */
export function mergeByTime(
  names: readonly string[],
  perContainer: readonly (readonly TimedLine[])[],
): { name: string; line: TimedLine }[] {
  const all = perContainer.flatMap((lines, i) =>
    lines.map((line, j) => ({ name: names[i] ?? "", line, i, j, at: timeKey(line.time) })),
  );
  all.sort((a, b) => a.at - b.at || compareNs(a.line.time, b.line.time) || a.i - b.i || a.j - b.j);
  return all.map(({ name, line }) => ({ name, line }));
}

/** Milliseconds of an RFC 3339 time; unparsable times sort first. */
function timeKey(time: string): number {
  const ms = Date.parse(time);
  return Number.isNaN(ms) ? 0 : ms;
}

/** Below the millisecond: the fraction digits of two RFC 3339 times of the same millisecond. */
function compareNs(a: string, b: string): number {
  const frac = (t: string): number => Number((/\.(\d+)/.exec(t)?.[1] ?? "").padEnd(9, "0").slice(0, 9));
  return frac(a) - frac(b);
}
