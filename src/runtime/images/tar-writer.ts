/**
 * A streaming tar writer (POSIX ustar, with PAX extended headers for long names and huge sizes).
 * Used to write `docker save` / OCI layout archives and test layers. Output is deterministic: the
 * same entries give the same bytes (no host uid/gid names, no current time).
 */
import { TsstackError } from "../../common/errors.js";
import {
  BLOCK_SIZE,
  MAX_OCTAL_12,
  paxRecordLength,
  writeChecksum,
  writeOctal,
  type UstarFields,
} from "./tar-format.js";

export type TarEntryType = "file" | "directory" | "symlink" | "hardlink";

export interface TarWriteEntry {
  /** Path inside the archive, `/`-separated, without a leading `/`; directories may end in `/`. */
  readonly name: string;
  readonly type: TarEntryType;
  /** Permission bits. Default 0o644 for files, 0o755 for directories, 0o777 for links. */
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  /** Seconds since the epoch. Default 0, for reproducible archives. */
  readonly mtime?: number;
  /** Target of a symlink or hard link. */
  readonly linkname?: string;
  /**
   * Content of a file: bytes, or a factory for a stream of exactly `size` bytes (the header is written
   * before the body, so the size must be known up front).
   */
  readonly body?: Uint8Array | { readonly size: number; readonly open: () => AsyncIterable<Uint8Array> };
}

/** Encodes entries as a tar stream, ending with the two zero blocks. */
export async function* writeTar(
  entries: Iterable<TarWriteEntry> | AsyncIterable<TarWriteEntry>,
): AsyncGenerator<Buffer> {
  for await (const entry of entries) {
    const body = entry.body;
    const size =
      entry.type !== "file" || body === undefined ? 0 : body instanceof Uint8Array ? body.length : body.size;
    yield* headerBlocks(entry, size);
    if (body === undefined || size === 0) continue;
    if (body instanceof Uint8Array) {
      yield Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    } else {
      let written = 0;
      for await (const chunk of body.open()) {
        written += chunk.length;
        if (written > size) break;
        yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      }
      // The header already promised `size` bytes: a source of another length would corrupt the archive.
      if (written !== size) {
        throw new TsstackError(
          "image/tar-write",
          `writing tar entry ${entry.name}: its source gave ${written > size ? "more than " : ""}${written} bytes, expected ${size}`,
        );
      }
    }
    const pad = (BLOCK_SIZE - (size % BLOCK_SIZE)) % BLOCK_SIZE;
    if (pad > 0) yield Buffer.alloc(pad);
  }
  yield Buffer.alloc(BLOCK_SIZE * 2);
}

/** Encodes a whole archive into memory (tests and small archives). */
export async function tarToBuffer(
  entries: Iterable<TarWriteEntry> | AsyncIterable<TarWriteEntry>,
): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of writeTar(entries)) parts.push(chunk);
  return Buffer.concat(parts);
}

function* headerBlocks(entry: TarWriteEntry, size: number): Generator<Buffer> {
  const name = entry.type === "directory" && !entry.name.endsWith("/") ? `${entry.name}/` : entry.name;
  const linkname = entry.linkname ?? "";
  const split = splitUstarName(name);
  const pax: [string, string][] = [];
  if (split === undefined) pax.push(["path", name]);
  if (Buffer.byteLength(linkname) > 100) pax.push(["linkpath", linkname]);
  if (size > MAX_OCTAL_12) pax.push(["size", String(size)]);
  if (pax.length > 0) {
    const records = Buffer.from(pax.map(([k, v]) => paxRecord(k, v)).join(""));
    // Like GNU tar and Go's archive/tar: a PAX header named after the entry, in a PaxHeaders dir.
    yield header({
      name: truncateUtf8(`PaxHeaders.0/${baseName(name)}`, 100),
      prefix: "",
      typeflag: "x",
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: records.length,
      mtime: entry.mtime ?? 0,
      linkname: "",
    });
    yield records;
    const pad = (BLOCK_SIZE - (records.length % BLOCK_SIZE)) % BLOCK_SIZE;
    if (pad > 0) yield Buffer.alloc(pad);
  }
  const typeflag = { file: "0", directory: "5", symlink: "2", hardlink: "1" }[entry.type];
  const defaultMode = { file: 0o644, directory: 0o755, symlink: 0o777, hardlink: 0o644 }[entry.type];
  yield header({
    name: split?.name ?? truncateUtf8(name, 100),
    prefix: split?.prefix ?? "",
    typeflag,
    mode: entry.mode ?? defaultMode,
    uid: entry.uid ?? 0,
    gid: entry.gid ?? 0,
    size: size > MAX_OCTAL_12 ? 0 : size,
    mtime: entry.mtime ?? 0,
    linkname: truncateUtf8(linkname, 100),
  });
}

interface HeaderFields extends UstarFields {
  prefix: string;
}

function header(f: HeaderFields): Buffer {
  const b = Buffer.alloc(BLOCK_SIZE);
  b.write(f.name, 0, 100, "utf8");
  writeOctal(b, 100, 8, f.mode & 0o7777);
  writeOctal(b, 108, 8, f.uid);
  writeOctal(b, 116, 8, f.gid);
  writeOctal(b, 124, 12, f.size);
  writeOctal(b, 136, 12, Math.max(0, Math.floor(f.mtime)));
  b.write(f.typeflag, 156, 1, "ascii");
  b.write(f.linkname, 157, 100, "utf8");
  b.write("ustar\u000000", 257, 8, "ascii");
  writeOctal(b, 329, 8, 0);
  writeOctal(b, 337, 8, 0);
  b.write(f.prefix, 345, 155, "utf8");
  writeChecksum(b);
  return b;
}

/** A ustar name of ≤100 bytes, or a prefix (≤155) + `/` + name (≤100); `undefined` if neither fits. */
function splitUstarName(name: string): { name: string; prefix: string } | undefined {
  if (!/^[\x20-\x7e]*$/.test(name)) return undefined; // non-ASCII goes in PAX, which is UTF-8 by definition
  if (name.length <= 100) return { name, prefix: "" };
  for (let i = name.indexOf("/"); i !== -1; i = name.indexOf("/", i + 1)) {
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (prefix.length <= 155 && rest.length <= 100 && rest.length > 0) return { name: rest, prefix };
  }
  return undefined;
}

/** A PAX record `"<len> <key>=<value>\n"`, where `<len>` counts the whole record, itself included. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  return `${paxRecordLength(Buffer.byteLength(body))}${body}`;
}

function baseName(name: string): string {
  const trimmed = name.endsWith("/") ? name.slice(0, -1) : name;
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}

function truncateUtf8(s: string, bytes: number): string {
  const buf = Buffer.from(s);
  return buf.length <= bytes ? s : buf.subarray(0, bytes).toString("utf8");
}
