/**
 * A small tar writer for test fixtures, hostile ones included: names are written exactly as given
 * (`../evil`, `/etc/evil`, `.wh.../..`), any type can be emitted, and PAX/GNU long-name headers can
 * be forced. Independent of the writers in src/runtime/images (tar.ts, tar-writer.ts), so the reader
 * is not tested against its own writer; only the field encodings of tar-format.ts are shared.
 */
import { spawnSync } from "node:child_process";
import { gzipSync } from "node:zlib";
import {
  BLOCK_SIZE as BLOCK,
  paxRecordLength,
  writeChecksum,
  writeOctal,
  type UstarFields,
} from "../../src/runtime/images/tar-format.js";

export interface EntryOptions {
  /** Permission bits (default 0644 for files, 0755 for directories, 0777 for symlinks). */
  mode?: number;
  uid?: number;
  gid?: number;
  /** Seconds since the epoch (default 1_700_000_000). */
  mtime?: number;
  /** PAX records written in an `x` header before this entry (e.g. `SCHILY.xattr.user.k`). */
  pax?: Record<string, string | Buffer>;
  /** How names/link targets longer than 100 bytes are written (default "gnu": `L`/`K` headers). */
  longNames?: "gnu" | "pax";
  /**
   * Edits the entry's header block before its checksum is computed, for fixtures no option covers
   * (USTAR prefix field, base-256 numbers, odd type flags, size fields on links).
   */
  patch?: (header: Buffer) => void;
}

interface HeaderFields extends UstarFields {
  devmajor: number;
  devminor: number;
  magic: "ustar" | "gnu";
  patch?: (header: Buffer) => void;
}

function header(f: HeaderFields): Buffer {
  const b = Buffer.alloc(BLOCK);
  Buffer.from(f.name, "utf8").copy(b, 0, 0, 100);
  writeOctal(b, 100, 8, f.mode);
  writeOctal(b, 108, 8, f.uid);
  writeOctal(b, 116, 8, f.gid);
  writeOctal(b, 124, 12, f.size);
  writeOctal(b, 136, 12, f.mtime);
  b.write(f.typeflag, 156, "latin1");
  Buffer.from(f.linkname, "utf8").copy(b, 157, 0, 100);
  b.write(f.magic === "gnu" ? "ustar  \0" : "ustar\x0000", 257, "latin1");
  writeOctal(b, 329, 8, f.devmajor);
  writeOctal(b, 337, 8, f.devminor);
  f.patch?.(b);
  writeChecksum(b);
  return b;
}

function padded(data: Buffer): Buffer[] {
  const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
  return pad > 0 ? [data, Buffer.alloc(pad)] : [data];
}

function paxData(records: Record<string, string | Buffer>): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of Object.entries(records)) {
    const body = Buffer.concat([Buffer.from(` ${key}=`), Buffer.from(value), Buffer.from("\n")]);
    parts.push(Buffer.from(String(paxRecordLength(body.length))), body);
  }
  return Buffer.concat(parts);
}

/** Writes tar members in order; `finish()` returns the archive (or hands chunks to `sink`). */
export class TarBuilder {
  private chunks: Buffer[] = [];
  private bytes = 0;

  /** With a sink, chunks are handed over as they are made instead of being collected. */
  constructor(private readonly sink?: (chunk: Buffer) => void) {}

  /** Bytes written so far. */
  get size(): number {
    return this.bytes;
  }

  file(name: string, content: string | Buffer = "", opts: EntryOptions = {}): this {
    const data = typeof content === "string" ? Buffer.from(content) : content;
    this.entry(name, "0", opts, { size: data.length, mode: 0o644 });
    if (data.length > 0) this.put(...padded(data));
    return this;
  }

  dir(name: string, opts: EntryOptions = {}): this {
    return this.entry(name, "5", opts, { mode: 0o755 });
  }

  symlink(name: string, target: string, opts: EntryOptions = {}): this {
    return this.entry(name, "2", opts, { mode: 0o777, linkname: target });
  }

  hardlink(name: string, target: string, opts: EntryOptions = {}): this {
    return this.entry(name, "1", opts, { mode: 0o644, linkname: target });
  }

  charDevice(name: string, major: number, minor: number, opts: EntryOptions = {}): this {
    return this.entry(name, "3", opts, { mode: 0o666, devmajor: major, devminor: minor });
  }

  blockDevice(name: string, major: number, minor: number, opts: EntryOptions = {}): this {
    return this.entry(name, "4", opts, { mode: 0o660, devmajor: major, devminor: minor });
  }

  fifo(name: string, opts: EntryOptions = {}): this {
    return this.entry(name, "6", opts, { mode: 0o644 });
  }

  /** A PAX global header (`g`). */
  globalPax(records: Record<string, string>): this {
    const data = paxData(records);
    this.put(header({ ...this.base("pax_global_header", "g"), size: data.length }), ...padded(data));
    return this;
  }

  /** Any raw bytes (for corrupt fixtures). */
  raw(bytes: Buffer): this {
    this.put(bytes);
    return this;
  }

  /** Ends the archive with two zero blocks; returns it when there is no sink. */
  finish(): Buffer {
    this.put(Buffer.alloc(BLOCK * 2));
    const out = Buffer.concat(this.chunks);
    this.chunks = [];
    return out;
  }

  private base(name: string, typeflag: string): HeaderFields {
    return {
      name,
      typeflag,
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: 0,
      mtime: 1_700_000_000,
      linkname: "",
      devmajor: 0,
      devminor: 0,
      magic: "ustar",
    };
  }

  private entry(name: string, typeflag: string, opts: EntryOptions, defaults: Partial<HeaderFields>): this {
    const fields: HeaderFields = {
      ...this.base(name, typeflag),
      ...defaults,
      ...(opts.mode === undefined ? {} : { mode: opts.mode }),
      ...(opts.uid === undefined ? {} : { uid: opts.uid }),
      ...(opts.gid === undefined ? {} : { gid: opts.gid }),
      ...(opts.mtime === undefined ? {} : { mtime: opts.mtime }),
      ...(opts.patch === undefined ? {} : { patch: opts.patch }),
    };
    const pax: Record<string, string | Buffer> = { ...opts.pax };
    const long = opts.longNames ?? "gnu";
    if (Buffer.byteLength(name) > 100) {
      if (long === "pax") pax["path"] = name;
      else this.gnuLong("L", name);
      fields.name = name.slice(0, 99);
    }
    if (Buffer.byteLength(fields.linkname) > 100) {
      if (long === "pax") pax["linkpath"] = fields.linkname;
      else this.gnuLong("K", fields.linkname);
      fields.linkname = fields.linkname.slice(0, 99);
    }
    if (Object.keys(pax).length > 0) {
      const data = paxData(pax);
      this.put(header({ ...this.base("PaxHeaders/x", "x"), size: data.length }), ...padded(data));
    }
    this.put(header(fields));
    return this;
  }

  private gnuLong(typeflag: "L" | "K", value: string): void {
    const data = Buffer.from(`${value}\0`);
    this.put(
      header({ ...this.base("././@LongLink", typeflag), size: data.length, magic: "gnu" }),
      ...padded(data),
    );
  }

  private put(...bufs: Buffer[]): void {
    for (const b of bufs) {
      this.bytes += b.length;
      if (this.sink) this.sink(b);
      else this.chunks.push(b);
    }
  }
}

export function gzip(tar: Buffer): Buffer {
  return gzipSync(tar);
}

/** Compresses with the `zstd` CLI (Debian package `zstd`), as layers made by buildkit are. */
export function zstd(tar: Buffer): Buffer {
  const r = spawnSync("zstd", ["-q", "-c", "-3"], { input: tar, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`zstd failed: ${r.stderr.toString()}`);
  return r.stdout;
}
