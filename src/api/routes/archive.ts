/**
 * `GET|HEAD|PUT /containers/{id}/archive?path=` (`docker cp`).
 *
 * Docker answers GET and HEAD with `X-Docker-Container-Path-Stat`: base64 of JSON
 * `{name, size, mode, mtime, linkTarget}` where `mode` is a Go `os.FileMode`. HEAD asks the runtime
 * (`infoArchive`: no archive is made, and a running container is frozen for the stat alone); GET reads the stat from
 * the first header of the archive (the entry for the path itself), so both come from one look.
 */
import { Readable } from "node:stream";
import { TarReader, TarType, type TarEntry } from "../../runtime/images/tar.js";
import { goFileMode, goTime, PATH_STAT_HEADER, statName, type FileKind } from "../../runtime/path-stat.js";
import type { ContainerPathStat } from "../../runtime/runtime.js";
import { describeError, HttpError } from "../errors.js";
import { route } from "../router.js";
import { writeChunk } from "../streams.js";
import { param, type ApiRoute, type Handler } from "./handler.js";

/** The Go `os.FileMode` of a tar entry. */
export function tarEntryFileMode(entry: Pick<TarEntry, "type" | "mode">): number {
  return goFileMode(TAR_KINDS[entry.type] ?? "file", entry.mode);
}

const TAR_KINDS: Readonly<Record<string, FileKind>> = {
  [TarType.dir]: "dir",
  [TarType.symlink]: "symlink",
  [TarType.char]: "char",
  [TarType.block]: "block",
  [TarType.fifo]: "fifo",
};

/** The stat of `requestedPath` from its archive's first entry (the path itself). */
export function pathStat(requestedPath: string, entry: TarEntry): ContainerPathStat {
  return {
    name: statName(requestedPath),
    size: entry.size,
    mode: tarEntryFileMode(entry),
    mtime: goTime(entry.mtime.seconds, entry.mtime.fraction),
    linkTarget: Buffer.from(entry.linkname, "latin1").toString("utf8"),
  };
}

export function encodePathStat(stat: ContainerPathStat): string {
  return Buffer.from(JSON.stringify(stat)).toString("base64");
}

/**
 * Reads an archive up to its first header: the entry, and the archive again as a stream that replays
 * what was read. `discard` drops the archive.
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
  if (ctx.method === "HEAD") {
    const stat = await s.runtime.getContainer(param(ctx)).infoArchive({ path });
    ctx.empty(200, { [PATH_STAT_HEADER]: encodePathStat(stat) });
    return;
  }
  const tar = await s.runtime.getContainer(param(ctx)).getArchive({ path });
  const { entry, archive, discard } = await peekFirstEntry(tar, what).catch((error: unknown) => {
    tar.destroy();
    throw error;
  });
  const stat = { [PATH_STAT_HEADER]: encodePathStat(pathStat(path, entry)) };
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
