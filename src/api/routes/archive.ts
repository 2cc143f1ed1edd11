/**
 * `GET|HEAD|PUT /containers/{id}/archive?path=` (`docker cp`).
 *
 * Docker answers GET and HEAD with `X-Docker-Container-Path-Stat`: base64 of JSON
 * `{name, size, mode, mtime, linkTarget}` where `mode` is a Go `os.FileMode`. The runtime has no stat
 * call, so the stat is read from the first header of the archive `getArchive` returns (the entry for
 * the path itself); HEAD reads that header and drops the rest.
 */
import { posix } from "node:path";
import { Readable } from "node:stream";
import { TarReader, TarType, type TarEntry } from "../../runtime/images/tar.js";
import { describeError, HttpError } from "../errors.js";
import { route } from "../router.js";
import { writeChunk } from "../streams.js";
import { param, type ApiRoute, type Handler } from "./handler.js";

export const PATH_STAT_HEADER = "X-Docker-Container-Path-Stat";

export interface PathStat {
  readonly name: string;
  readonly size: number;
  /** Go `os.FileMode`: permission bits plus type bits (`ModeDir` = 1<<31, `ModeSymlink` = 1<<27, …). */
  readonly mode: number;
  /** RFC 3339. */
  readonly mtime: string;
  readonly linkTarget: string;
}

// Go's os.FileMode bits (io/fs). Above 2^31, so added arithmetically, never with `|`.
const GO_MODE = {
  dir: 2 ** 31,
  symlink: 2 ** 27,
  device: 2 ** 26,
  namedPipe: 2 ** 25,
  setuid: 2 ** 23,
  setgid: 2 ** 22,
  charDevice: 2 ** 21,
  sticky: 2 ** 20,
} as const;

/** The Go `os.FileMode` of a tar entry. */
export function goFileMode(entry: Pick<TarEntry, "type" | "mode">): number {
  let mode = entry.mode & 0o777;
  if ((entry.mode & 0o4000) !== 0) mode += GO_MODE.setuid;
  if ((entry.mode & 0o2000) !== 0) mode += GO_MODE.setgid;
  if ((entry.mode & 0o1000) !== 0) mode += GO_MODE.sticky;
  switch (entry.type) {
    case TarType.dir:
      return mode + GO_MODE.dir;
    case TarType.symlink:
      return mode + GO_MODE.symlink;
    case TarType.char:
      return mode + GO_MODE.device + GO_MODE.charDevice;
    case TarType.block:
      return mode + GO_MODE.device;
    case TarType.fifo:
      return mode + GO_MODE.namedPipe;
    default:
      return mode;
  }
}

/** Go's RFC 3339 with nanoseconds: the fraction without trailing zeros, none when whole. */
function rfc3339(seconds: number, fraction: string): string {
  const base = new Date(seconds * 1000).toISOString().replace(/\.\d+Z$/, "");
  const frac = fraction.replace(/0+$/, "");
  return `${base}${frac !== "" ? `.${frac}` : ""}Z`;
}

export function pathStat(requestedPath: string, entry: TarEntry): PathStat {
  const trimmed = requestedPath.replace(/\/+$/, "");
  return {
    name: trimmed === "" ? "/" : posix.basename(trimmed),
    size: entry.size,
    mode: goFileMode(entry),
    mtime: rfc3339(entry.mtime.seconds, entry.mtime.fraction),
    linkTarget: Buffer.from(entry.linkname, "latin1").toString("utf8"),
  };
}

export function encodePathStat(stat: PathStat): string {
  return Buffer.from(JSON.stringify(stat)).toString("base64");
}

/**
 * Reads an archive up to its first header: the entry, and the archive again as a stream that replays
 * what was read (for GET). `discard` drops the archive (for HEAD).
 */
async function peekFirstEntry(
  tar: Readable,
  what: string,
): Promise<{ entry: TarEntry; archive: Readable; discard: () => void }> {
  const it = (tar as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const seen: Buffer[] = [];
  let first: TarEntry | undefined;
  const reader = new TarReader({
    entry: (e) => {
      first ??= e;
    },
    data: () => undefined,
    entryEnd: () => undefined,
  });
  while (first === undefined) {
    const next = await it.next();
    if (next.done === true) {
      throw new HttpError(404, "container/path-not-found", `${what}: the runtime returned an empty archive`);
    }
    seen.push(next.value);
    reader.push(next.value);
  }
  async function* replay(): AsyncGenerator<Buffer> {
    yield* seen;
    for (;;) {
      const next = await it.next();
      if (next.done === true) return;
      yield next.value;
    }
  }
  return {
    entry: first,
    archive: Readable.from(replay(), { objectMode: false }),
    discard: () => tar.destroy(),
  };
}

function archivePath(ctx: Parameters<Handler>[0]): string {
  const path = ctx.query.get("path") ?? "";
  if (path === "") throw new HttpError(400, "container/invalid-parameter", "archive: no path given (path=)");
  return path;
}

const getArchive: Handler = async (ctx, s) => {
  const path = archivePath(ctx);
  const what = `${ctx.method} archive ${path} of container ${param(ctx)}`;
  const tar = await s.runtime.getContainer(param(ctx)).getArchive({ path });
  const { entry, archive, discard } = await peekFirstEntry(tar, what).catch((error: unknown) => {
    tar.destroy();
    throw error;
  });
  const stat = { [PATH_STAT_HEADER]: encodePathStat(pathStat(path, entry)) };
  if (ctx.method === "HEAD") {
    discard();
    ctx.empty(200, stat);
    return;
  }
  const out = ctx.stream(200, { ...stat, "Content-Type": "application/x-tar" });
  try {
    for await (const chunk of archive as AsyncIterable<Buffer>) if (!(await writeChunk(out, chunk))) break;
    out.end();
  } catch (error) {
    s.log(`${what}: failed mid-stream: ${describeError(error)}`);
    out.destroy();
  } finally {
    discard();
  }
};

const putArchive: Handler = async (ctx, s) => {
  const path = archivePath(ctx);
  await s.runtime.getContainer(param(ctx)).putArchive(ctx.bodyStream(), { path });
  ctx.empty(200);
};

export const archiveRoutes: readonly ApiRoute[] = [
  route("GET", "/containers/{id}/archive", getArchive),
  route("HEAD", "/containers/{id}/archive", getArchive),
  route("PUT", "/containers/{id}/archive", putArchive),
];
