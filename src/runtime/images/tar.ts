/**
 * A streaming tar reader and a minimal tar header writer, for layer extraction (unpack.ts).
 *
 * The reader follows Go's `archive/tar` (what containerd and Docker use to apply layers), so a layer
 * means here what it means to them: USTAR, PAX and GNU headers; PAX records override USTAR fields;
 * GNU long names/links override PAX; header-only types (links, devices, dirs, fifos) carry no data
 * whatever their size field says; a zero block ends the archive (a second one is optional); PAX
 * global headers are read and ignored.
 *
 * Names are kept as "byte strings" (latin1-decoded), never as UTF-8: latin1 maps every byte to one
 * UTF-16 unit and back, so a name written out again is byte-for-byte the name read, and `/` and `.`
 * checks see exactly the bytes the kernel will see. Use `displayName` for messages.
 *
 * The writer exists so that the extractor can forward a canonical re-encoding of each validated header
 * instead of the original bytes: whatever the next tar implementation makes of a header, it is the
 * header we validated.
 */
import { TsstackError } from "../../common/errors.js";
import {
  BLOCK_SIZE,
  MAX_OCTAL_12,
  MAX_OCTAL_8,
  headerChecksums,
  paxRecordLength,
  writeChecksum,
  writeOctal,
  type UstarFields,
} from "./tar-format.js";

export { BLOCK_SIZE };

/** Largest PAX/GNU long-name payload we buffer (Go's `maxSpecialFileSize`). */
const MAX_META_SIZE = 1 << 20;

/** Largest uid/gid Linux can represent (2^32 - 2; -1 means "unchanged" to chown). */
const MAX_ID = 0xfffffffe;

const NO_XATTRS: ReadonlyMap<string, string> = new Map();

/** Header types an entry can have after normalization. */
export const TarType = {
  file: "0",
  hardlink: "1",
  symlink: "2",
  char: "3",
  block: "4",
  dir: "5",
  fifo: "6",
} as const;
export type TarType = (typeof TarType)[keyof typeof TarType];

/** A timestamp as tar carries it: whole seconds plus the fraction digits PAX gave, if any. */
export interface TarTime {
  readonly seconds: number;
  /** Decimal fraction digits (at most 9, no trailing precision invented), e.g. "5" for .5 s. */
  readonly fraction: string;
}

/** One archive member, with PAX and GNU extensions already merged. Strings are byte strings. */
export interface TarEntry {
  readonly name: string;
  readonly type: TarType;
  /** Permission bits including setuid/setgid/sticky (`mode & 0o7777`). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Bytes of data that follow the header (0 for header-only types). */
  readonly size: number;
  readonly mtime: TarTime;
  readonly linkname: string;
  readonly devmajor: number;
  readonly devminor: number;
  /** `SCHILY.xattr.*` records: attribute name → raw value (byte strings). */
  readonly xattrs: ReadonlyMap<string, string>;
}

/**
 * Receives the archive as it is parsed. Calls come in order: entry, data…, entryEnd, entry, … Input
 * after the end-of-archive marker is not parsed (the caller still hashes it).
 */
export interface TarSink {
  entry(entry: TarEntry): void;
  /** A view into a pushed chunk: the next bytes of the current entry's data (padding excluded). */
  data(chunk: Buffer): void;
  entryEnd(): void;
}

/** Human-readable form of a byte-string name for error messages (UTF-8 decoded, JSON-quoted). */
export function displayName(name: string): string {
  return JSON.stringify(Buffer.from(name, "latin1").toString("utf8"));
}

function corrupt(message: string): TsstackError {
  return new TsstackError("layer/corrupt", message);
}

// ---------------------------------------------------------------------------------------------------
// Header field decoding

/** NUL-terminated string field (bytes after the first NUL are ignored, as in Go and GNU tar). */
function parseString(block: Buffer, start: number, end: number): string {
  const nul = block.indexOf(0, start);
  return block.toString("latin1", start, nul >= 0 && nul < end ? nul : end);
}

/** Octal or GNU base-256 numeric field. Returns undefined for a malformed field. */
function parseNumeric(block: Buffer, start: number, end: number): number | undefined {
  const first = block[start] ?? 0;
  if ((first & 0x80) !== 0) {
    // Base-256 (GNU/star): big-endian two's complement, the top bit of the first byte a marker.
    const negative = (first & 0x40) !== 0;
    const inv = negative ? 0xff : 0;
    let x = 0n;
    for (let i = start; i < end; i++) {
      let c = (block[i] ?? 0) ^ inv;
      if (i === start) c &= 0x7f;
      x = (x << 8n) | BigInt(c);
    }
    if (x > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
    return negative ? -Number(x) - 1 : Number(x);
  }
  const text = block.toString("latin1", start, end).replace(/^[ \0]+|[ \0]+$/g, "");
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) return undefined;
  const value = parseInt(text, 8);
  return Number.isSafeInteger(value) ? value : undefined;
}

function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK_SIZE; i += 4) {
    if (block.readUInt32LE(i) !== 0) return false;
  }
  return true;
}

/** Checks the header checksum; tar writers disagree on signedness, so both sums are accepted. */
function checksumOk(block: Buffer): boolean {
  const stored = parseNumeric(block, 148, 156);
  if (stored === undefined) return false;
  const { unsigned, signed } = headerChecksums(block);
  return stored === unsigned || stored === signed;
}

type HeaderFormat = "v7" | "ustar" | "star" | "gnu";

function headerFormat(block: Buffer): HeaderFormat {
  const magic = block.toString("latin1", 257, 263);
  if (magic === "ustar\0") return block.toString("latin1", 508, 512) === "tar\0" ? "star" : "ustar";
  if (magic === "ustar " && block.toString("latin1", 263, 265) === " \0") return "gnu";
  return "v7";
}

/** Header fields as written in one block, before PAX/GNU extensions are applied. */
interface RawHeader extends UstarFields {
  devmajor: number;
  devminor: number;
}

function decodeHeader(block: Buffer, offset: number): RawHeader {
  if (!checksumOk(block)) throw corrupt(`bad tar header checksum at offset ${offset}`);
  const format = headerFormat(block);
  let name = parseString(block, 0, 100);
  let devmajor = 0;
  let devminor = 0;
  if (format !== "v7") {
    devmajor = parseNumeric(block, 329, 337) ?? -1;
    devminor = parseNumeric(block, 337, 345) ?? -1;
    // GNU's own format keeps atime/ctime where USTAR has the prefix; star's prefix is shorter.
    const prefix =
      format === "ustar"
        ? parseString(block, 345, 500)
        : format === "star"
          ? parseString(block, 345, 476)
          : "";
    if (prefix !== "") name = `${prefix}/${name}`;
  }
  const fields = {
    mode: parseNumeric(block, 100, 108),
    uid: parseNumeric(block, 108, 116),
    gid: parseNumeric(block, 116, 124),
    size: parseNumeric(block, 124, 136),
    mtime: parseNumeric(block, 136, 148),
  };
  const { mode, uid, gid, size, mtime } = fields;
  if (
    mode === undefined ||
    uid === undefined ||
    gid === undefined ||
    size === undefined ||
    mtime === undefined ||
    devmajor < 0 ||
    devminor < 0 ||
    size < 0
  ) {
    throw corrupt(`malformed numeric field in tar header of entry ${displayName(name)} at offset ${offset}`);
  }
  return {
    name,
    typeflag: String.fromCharCode(block[156] ?? 0),
    mode,
    uid,
    gid,
    size,
    mtime,
    linkname: parseString(block, 157, 257),
    devmajor,
    devminor,
  };
}

/** Parses PAX records (`"<len> <key>=<value>\n"`), as Go's `parsePAX`/`parsePAXRecord` do. */
export function parsePaxRecords(data: string, where: string): Map<string, string> {
  const records = new Map<string, string>();
  let rest = data;
  while (rest.length > 0) {
    const space = rest.indexOf(" ");
    const lenText = space > 0 ? rest.slice(0, space) : "";
    const len = /^[0-9]+$/.test(lenText) ? Number(lenText) : Number.NaN;
    if (!(len >= 5 && len <= rest.length) || rest[len - 1] !== "\n" || len <= space + 1) {
      throw corrupt(`malformed PAX record in ${where}`);
    }
    const record = rest.slice(space + 1, len - 1);
    rest = rest.slice(len);
    const eq = record.indexOf("=");
    if (eq <= 0) throw corrupt(`malformed PAX record in ${where}`);
    const key = record.slice(0, eq);
    const value = record.slice(eq + 1);
    if (key.includes("\0") || ((key === "path" || key === "linkpath") && value.includes("\0"))) {
      throw corrupt(`PAX record ${JSON.stringify(key)} contains NUL in ${where}`);
    }
    records.set(key, value);
  }
  return records;
}

function parsePaxTime(value: string, what: string): TarTime {
  const m = /^(-?[0-9]+)(?:\.([0-9]+))?$/.exec(value);
  const seconds = m?.[1] === undefined ? Number.NaN : Number(m[1]);
  if (!Number.isSafeInteger(seconds))
    throw corrupt(`malformed PAX mtime ${JSON.stringify(value)} of ${what}`);
  return { seconds, fraction: (m?.[2] ?? "").slice(0, 9).replace(/0+$/, "") };
}

function parsePaxInt(value: string, key: string, what: string, max: number): number {
  const n = /^[0-9]+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n > max) {
    throw corrupt(`malformed PAX ${key} ${JSON.stringify(value)} of ${what}`);
  }
  return n;
}

// ---------------------------------------------------------------------------------------------------
// Streaming reader

const enum State {
  Header,
  /** Data of a PAX/GNU meta header, buffered. */
  Meta,
  /** Data of a real entry, streamed to the sink. */
  Data,
  /** Padding after data, up to the next block boundary. */
  Padding,
  /** One zero block seen; a second one (or the end of input) ends the archive. */
  Zero,
  End,
}

interface PendingMeta {
  pax?: Map<string, string>;
  longName?: string;
  longLink?: string;
}

/**
 * Incremental tar reader: `push` chunks as they come, `finish` at end of input. Throws TsstackError
 * `layer/corrupt` for malformed or truncated archives and `layer/unsupported` for members this reader
 * deliberately does not handle (sparse files, multi-volume and vendor types).
 */
export class TarReader {
  private state = State.Header;
  /** Partial header or meta payload spanning chunks. */
  private buf = Buffer.alloc(BLOCK_SIZE);
  private bufLen = 0;
  /** Bytes left in the current Meta/Data/Padding section. */
  private remaining = 0;
  private padAfter = 0;
  private offset = 0;
  private metaType = "";
  private metaName = "";
  private meta: PendingMeta = {};

  constructor(private readonly sink: TarSink) {}

  push(chunk: Buffer): void {
    let off = 0;
    const len = chunk.length;
    while (off < len) {
      switch (this.state) {
        case State.Data: {
          const n = Math.min(this.remaining, len - off);
          this.sink.data(chunk.subarray(off, off + n));
          off += n;
          this.remaining -= n;
          if (this.remaining === 0) this.endData();
          break;
        }
        case State.Padding: {
          const n = Math.min(this.remaining, len - off);
          off += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = State.Header;
          break;
        }
        case State.Meta: {
          const n = Math.min(this.remaining, len - off);
          chunk.copy(this.buf, this.bufLen, off, off + n);
          this.bufLen += n;
          off += n;
          this.remaining -= n;
          if (this.remaining === 0) this.endMeta();
          break;
        }
        case State.Header:
        case State.Zero: {
          let block: Buffer;
          if (this.bufLen === 0 && len - off >= BLOCK_SIZE) {
            block = chunk.subarray(off, off + BLOCK_SIZE);
            off += BLOCK_SIZE;
          } else {
            const n = Math.min(BLOCK_SIZE - this.bufLen, len - off);
            chunk.copy(this.buf, this.bufLen, off, off + n);
            this.bufLen += n;
            off += n;
            if (this.bufLen < BLOCK_SIZE) break;
            block = this.buf;
            this.bufLen = 0;
          }
          const at = this.offset;
          this.offset += BLOCK_SIZE;
          this.header(block, at);
          break;
        }
        case State.End:
          off = len;
          break;
      }
    }
  }

  /** End of input. A missing end-of-archive marker is accepted at a member boundary, as in Go. */
  finish(): void {
    if (this.state === State.End || this.state === State.Zero) return;
    const { pax, longName, longLink } = this.meta;
    const metaPending = pax !== undefined || longName !== undefined || longLink !== undefined;
    if (this.state === State.Header && this.bufLen === 0 && !metaPending) return;
    throw corrupt(`tar archive is truncated (input ends inside a member near offset ${this.offset})`);
  }

  private header(block: Buffer, at: number): void {
    if (isZeroBlock(block)) {
      if (this.state === State.Zero) this.state = State.End;
      else this.state = State.Zero;
      return;
    }
    if (this.state === State.Zero) {
      throw corrupt(`tar archive has a lone zero block followed by data at offset ${at}`);
    }
    const raw = decodeHeader(block, at);
    switch (raw.typeflag) {
      case "x":
      case "g":
      case "L":
      case "K":
        if (raw.size > MAX_META_SIZE) {
          throw corrupt(`tar meta header of ${displayName(raw.name)} is too large (${raw.size} bytes)`);
        }
        this.metaType = raw.typeflag;
        this.metaName = raw.name;
        if (this.buf.length < raw.size) this.buf = Buffer.alloc(Math.max(raw.size, BLOCK_SIZE));
        this.bufLen = 0;
        this.startSection(State.Meta, raw.size);
        if (raw.size === 0) this.endMeta();
        return;
      default:
        this.realEntry(raw);
    }
  }

  private realEntry(raw: RawHeader): void {
    const { pax, longName, longLink } = this.meta;
    this.meta = {};
    let name = raw.name;
    let linkname = raw.linkname;
    let size = raw.size;
    let uid = raw.uid;
    let gid = raw.gid;
    let mtime: TarTime = { seconds: raw.mtime, fraction: "" };
    let xattrs: Map<string, string> | undefined;
    if (pax !== undefined) {
      const paxPath = pax.get("path");
      const what = `entry ${displayName(paxPath === undefined || paxPath === "" ? name : paxPath)}`;
      for (const [key, value] of pax) {
        if (key.startsWith("GNU.sparse.")) {
          throw new TsstackError("layer/unsupported", `sparse files are not supported (${what})`);
        }
        if (key.startsWith("SCHILY.xattr.")) {
          xattrs ??= new Map();
          xattrs.set(key.slice("SCHILY.xattr.".length), value);
        }
        // An empty value keeps the header's own field (Go's mergePAX).
        if (value === "") continue;
        if (key === "path") name = value;
        else if (key === "linkpath") linkname = value;
        else if (key === "size") size = parsePaxInt(value, key, what, Number.MAX_SAFE_INTEGER);
        else if (key === "uid") uid = parsePaxInt(value, key, what, MAX_ID);
        else if (key === "gid") gid = parsePaxInt(value, key, what, MAX_ID);
        else if (key === "mtime") mtime = parsePaxTime(value, what);
      }
    }
    if (longName !== undefined) name = longName;
    if (longLink !== undefined) linkname = longLink;
    if (uid > MAX_ID || gid > MAX_ID || uid < 0 || gid < 0) {
      throw corrupt(`entry ${displayName(name)} has an out-of-range uid/gid (${uid}:${gid})`);
    }

    let type: TarType;
    switch (raw.typeflag) {
      case "\0":
        // Old tars mark directories only by a trailing slash.
        type = name.endsWith("/") ? TarType.dir : TarType.file;
        break;
      case "0":
      case "7": // contiguous file: a regular file everywhere but on a few historic systems
        type = TarType.file;
        break;
      case "1":
      case "2":
      case "3":
      case "4":
      case "5":
      case "6":
        type = raw.typeflag;
        size = 0; // header-only types: the size field is not a data length (Go: isHeaderOnlyType)
        break;
      case "S":
        throw new TsstackError(
          "layer/unsupported",
          `sparse files are not supported (entry ${displayName(name)})`,
        );
      default:
        throw new TsstackError(
          "layer/unsupported",
          `entry ${displayName(name)} has unsupported tar type ${JSON.stringify(raw.typeflag)}`,
        );
    }

    this.sink.entry({
      name,
      type,
      mode: raw.mode & 0o7777,
      uid,
      gid,
      size,
      mtime,
      linkname,
      devmajor: raw.devmajor,
      devminor: raw.devminor,
      xattrs: xattrs ?? NO_XATTRS,
    });
    this.startSection(State.Data, size);
    if (size === 0) this.endData();
  }

  private startSection(state: State, size: number): void {
    this.state = state;
    this.remaining = size;
    this.padAfter = (BLOCK_SIZE - (size % BLOCK_SIZE)) % BLOCK_SIZE;
    this.offset += size + this.padAfter;
  }

  private endData(): void {
    this.sink.entryEnd();
    this.afterSection();
  }

  private afterSection(): void {
    this.remaining = this.padAfter;
    this.state = this.padAfter > 0 ? State.Padding : State.Header;
  }

  private endMeta(): void {
    const data = this.buf.toString("latin1", 0, this.bufLen);
    const where = `${this.metaType === "g" ? "global " : ""}meta header ${displayName(this.metaName)}`;
    this.bufLen = 0;
    if (this.buf.length > BLOCK_SIZE) this.buf = Buffer.alloc(BLOCK_SIZE);
    switch (this.metaType) {
      case "x":
        // A second PAX header replaces the first (Go keeps only the latest).
        this.meta.pax = parsePaxRecords(data, where);
        break;
      case "g":
        // Global headers are validated and ignored (containerd and Docker ignore them), and like in
        // Go they end whatever meta headers came before.
        parsePaxRecords(data, where);
        this.meta = {};
        break;
      case "L": {
        const nul = data.indexOf("\0");
        this.meta.longName = nul >= 0 ? data.slice(0, nul) : data;
        break;
      }
      default: {
        const nul = data.indexOf("\0");
        this.meta.longLink = nul >= 0 ? data.slice(0, nul) : data;
      }
    }
    this.afterSection();
  }
}

// ---------------------------------------------------------------------------------------------------
// Writer

/** What the writer needs to know about one member: an entry, xattrs optional. Strings are byte strings. */
export interface TarHeaderFields extends Omit<TarEntry, "xattrs"> {
  readonly xattrs?: ReadonlyMap<string, string>;
}

/** A PAX record of byte strings (latin1: one character per byte). */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  return `${paxRecordLength(body.length)}${body}`;
}

/** Writes one USTAR block at `at` (which need not be zeroed). */
function writeUstar(
  block: Buffer,
  at: number,
  f: TarHeaderFields,
  typeflag: string,
  size: number,
  mtime: number,
): void {
  block.fill(0, at, at + BLOCK_SIZE);
  block.write(f.name, at, Math.min(f.name.length, 100), "latin1");
  writeOctal(block, at + 100, 8, f.mode & 0o7777);
  writeOctal(block, at + 108, 8, Math.min(f.uid, MAX_OCTAL_8));
  writeOctal(block, at + 116, 8, Math.min(f.gid, MAX_OCTAL_8));
  writeOctal(block, at + 124, 12, size);
  writeOctal(block, at + 136, 12, mtime);
  block.write(typeflag, at + 156, 1, "latin1");
  if (f.linkname !== "") block.write(f.linkname, at + 157, Math.min(f.linkname.length, 100), "latin1");
  block.write("ustar\x0000", at + 257, 8, "latin1");
  writeOctal(block, at + 329, 8, f.devmajor);
  writeOctal(block, at + 337, 8, f.devminor);
  writeChecksum(block, at);
}

/** PAX records for the fields of `f` that USTAR cannot hold ("" when none). */
function paxRecordsFor(f: TarHeaderFields): string {
  let records = "";
  if (f.name.length > 100) records += paxRecord("path", f.name);
  if (f.linkname.length > 100) records += paxRecord("linkpath", f.linkname);
  if (f.size > MAX_OCTAL_12) records += paxRecord("size", String(f.size));
  if (f.uid > MAX_OCTAL_8) records += paxRecord("uid", String(f.uid));
  if (f.gid > MAX_OCTAL_8) records += paxRecord("gid", String(f.gid));
  const { seconds, fraction } = f.mtime;
  if (fraction !== "" || seconds < 0 || seconds > MAX_OCTAL_12) {
    records += paxRecord("mtime", fraction === "" ? String(seconds) : `${seconds}.${fraction}`);
  }
  if (f.xattrs) for (const [key, value] of f.xattrs) records += paxRecord(`SCHILY.xattr.${key}`, value);
  return records;
}

/** Reserves `size` bytes of output and says where to write them. */
export type Reserve = (size: number) => { buf: Buffer; at: number };

/**
 * Encodes one member's header into space from `reserve`: a USTAR block, preceded by a PAX header when
 * a field does not fit USTAR (long names, large sizes/ids, sub-second or out-of-range mtimes, xattrs).
 * Data and padding are the caller's.
 */
export function encodeHeader(f: TarHeaderFields, reserve: Reserve): void {
  const records = paxRecordsFor(f);
  const ustarSize = Math.min(f.size, MAX_OCTAL_12);
  const ustarMtime = Math.min(Math.max(f.mtime.seconds, 0), MAX_OCTAL_12);
  if (records === "") {
    const { buf, at } = reserve(BLOCK_SIZE);
    writeUstar(buf, at, f, f.type, ustarSize, ustarMtime);
    return;
  }
  const paxLength = Buffer.byteLength(records, "latin1");
  const padded = Math.ceil(paxLength / BLOCK_SIZE) * BLOCK_SIZE;
  const { buf, at } = reserve(BLOCK_SIZE + padded + BLOCK_SIZE);
  const paxFields = {
    ...f,
    name: "PaxHeader",
    linkname: "",
    mode: 0o644,
    uid: 0,
    gid: 0,
    devmajor: 0,
    devminor: 0,
  };
  writeUstar(buf, at, paxFields, "x", paxLength, 0);
  buf.fill(0, at + BLOCK_SIZE, at + BLOCK_SIZE + padded);
  buf.write(records, at + BLOCK_SIZE, paxLength, "latin1");
  writeUstar(buf, at + BLOCK_SIZE + padded, f, f.type, ustarSize, ustarMtime);
}
