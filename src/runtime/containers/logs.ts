/**
 * Reading the container log conmon writes in the CRI "k8s-file" format: one record per line,
 * `<RFC 3339 nano time> <stdout|stderr> <F|P> <content>`, where `P` marks a partial line (conmon
 * splits long lines) and `F` a full one whose newline was dropped.
 */
import { watch } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import type { LogEntry, LogsOptions } from "../runtime.js";

/** Parses one k8s-file record; undefined for a malformed line (skipped, as CRI readers do). */
export function parseLogLine(line: Buffer): LogEntry | undefined {
  const s1 = line.indexOf(0x20);
  if (s1 < 0) return undefined;
  const s2 = line.indexOf(0x20, s1 + 1);
  if (s2 < 0) return undefined;
  const stream = line.subarray(s1 + 1, s2).toString();
  if (stream !== "stdout" && stream !== "stderr") return undefined;
  const tag = line[s2 + 1];
  const full = tag === 0x46; /* F */
  if (!full && tag !== 0x50 /* P */) return undefined;
  const content = line.subarray(s2 + 3);
  return {
    stream,
    time: line.subarray(0, s1).toString(),
    line: full ? Buffer.concat([content, Buffer.from("\n")]) : Buffer.from(content),
  };
}

/** Unix seconds (with fraction) of an RFC 3339 time with nanoseconds. */
export function logTimeSeconds(time: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(time);
  if (m === null) return Number.NaN;
  const whole = Date.parse(`${m[1] ?? ""}${m[3] ?? ""}`) / 1000;
  return whole + Number(`0.${m[2] ?? "0"}`);
}

function wanted(entry: LogEntry, opts: LogsOptions): boolean {
  if (entry.stream === "stdout" && opts.stdout === false) return false;
  if (entry.stream === "stderr" && opts.stderr === false) return false;
  if (opts.since !== undefined || opts.until !== undefined) {
    const t = logTimeSeconds(entry.time);
    if (opts.since !== undefined && opts.since > 0 && t < opts.since) return false;
    if (opts.until !== undefined && opts.until > 0 && t > opts.until) return false;
  }
  return true;
}

/** Splits a buffer into complete lines; returns them and the unfinished rest. */
function splitLines(buf: Buffer): { lines: Buffer[]; rest: Buffer } {
  const lines: Buffer[] = [];
  let start = 0;
  for (let nl = buf.indexOf(0x0a, start); nl >= 0; nl = buf.indexOf(0x0a, start)) {
    lines.push(buf.subarray(start, nl));
    start = nl + 1;
  }
  return { lines, rest: buf.subarray(start) };
}

/**
 * Entries of a log file. With `follow`, keeps reading as conmon appends until `stillWriting()`
 * says the container is gone (then drains what is left) or the signal aborts.
 */
export async function* readLog(
  path: string,
  opts: LogsOptions,
  stillWriting: () => boolean,
  /** Resolves when the writer is gone (the container exited): a follow then ends without polling. */
  writerGone?: Promise<void>,
): AsyncGenerator<LogEntry> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(path, "r");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    if (opts.follow !== true) return;
    handle = undefined;
  }
  let pos = 0;
  let rest = Buffer.alloc(0);
  const readMore = async (): Promise<LogEntry[]> => {
    if (handle === undefined) {
      try {
        handle = await open(path, "r");
      } catch {
        return [];
      }
    }
    const out: LogEntry[] = [];
    const chunk = Buffer.alloc(256 * 1024);
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      const split = splitLines(Buffer.concat([rest, chunk.subarray(0, bytesRead)]));
      rest = Buffer.from(split.rest);
      for (const l of split.lines) {
        const e = parseLogLine(l);
        if (e !== undefined && wanted(e, opts)) out.push(e);
      }
    }
    return out;
  };
  try {
    let first = await readMore();
    if (opts.tail !== undefined && opts.tail !== "all") {
      // A tail counts lines, so partial records belong to the line they end with.
      let lines = 0;
      let i = first.length;
      while (i > 0 && lines < opts.tail) {
        i--;
        if (first[i]?.line.at(-1) === 0x0a) lines++;
        while (i > 0 && first[i - 1]?.line.at(-1) !== 0x0a) i--;
      }
      first = opts.tail <= 0 ? [] : first.slice(i);
    }
    yield* first;
    if (opts.follow !== true) return;
    const signal = opts.signal;
    for (;;) {
      if (signal?.aborted === true) return;
      const alive = stillWriting();
      yield* await readMore();
      if (!alive) {
        // conmon flushed and exited before the state said so: one last read gets the tail.
        yield* await readMore();
        return;
      }
      await waitForChange(path, 250, signal, writerGone);
    }
  } finally {
    await handle?.close();
  }
}

/** Resolves when the file changes, after `maxMs`, on abort or when the writer is gone, whichever is first. */
function waitForChange(
  path: string,
  maxMs: number,
  signal: AbortSignal | undefined,
  writerGone: Promise<void> | undefined,
): Promise<void> {
  return new Promise((resolve) => {
    let watcher: ReturnType<typeof watch> | undefined;
    const done = (): void => {
      clearTimeout(timer);
      watcher?.close();
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, maxMs);
    try {
      watcher = watch(path, { persistent: false }, done);
      watcher.on("error", done);
    } catch {
      // Not there yet: the timer polls.
    }
    signal?.addEventListener("abort", done, { once: true });
    void writerGone?.then(done);
  });
}
