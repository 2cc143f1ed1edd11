/**
 * USTAR header primitives shared by the layer reader/re-encoder (tar.ts), the archive writer
 * (tar-writer.ts) and the test fixture builder: block size, numeric field encoding, the header
 * checksum and the length prefix of a PAX record.
 */

export const BLOCK_SIZE = 512;

/** Largest value an 8-byte numeric field holds in octal (7 digits and a NUL). */
export const MAX_OCTAL_8 = 0o7777777;
/** Largest value a 12-byte numeric field holds in octal (11 digits and a NUL). */
export const MAX_OCTAL_12 = 0o77777777777;

/** Start and end of the checksum field. */
const CHECKSUM_START = 148;
const CHECKSUM_END = 156;

/**
 * Writes `value` into the numeric field `[start, start + width)` as `width - 1` zero-padded octal
 * digits and a NUL, the form every reader accepts. Digits beyond the field are cut: callers keep
 * values in range (or move them to PAX records).
 */
export function writeOctal(block: Buffer, start: number, width: number, value: number): void {
  block.write(`${value.toString(8).padStart(width - 1, "0")}\0`, start, width, "latin1");
}

/**
 * Sums of the header block at `at`, its checksum field read as eight spaces: bytes as unsigned (what
 * POSIX specifies and writers write) and as signed (what some old writers computed).
 */
export function headerChecksums(block: Buffer, at = 0): { unsigned: number; signed: number } {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) {
    const c = i >= CHECKSUM_START && i < CHECKSUM_END ? 0x20 : (block[at + i] ?? 0);
    unsigned += c;
    signed += c >= 0x80 ? c - 0x100 : c;
  }
  return { unsigned, signed };
}

/** Fills in the checksum field of the header block at `at`, once every other field is written. */
export function writeChecksum(block: Buffer, at = 0): void {
  const sum = headerChecksums(block, at).unsigned;
  block.write(`${sum.toString(8).padStart(6, "0")}\0 `, at + CHECKSUM_START, 8, "latin1");
}

/**
 * The length of a PAX record `"<len> <key>=<value>\n"` whose part after `<len>` is `bodyLength`
 * bytes: `<len>` counts the whole record, its own digits included.
 */
export function paxRecordLength(bodyLength: number): number {
  let len = bodyLength + String(bodyLength).length;
  if (String(len).length + bodyLength !== len) len = String(len).length + bodyLength;
  return len;
}

/** The fields every ustar header block carries (reader, writer and the test builder extend it). */
export interface UstarFields {
  name: string;
  typeflag: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: string;
}
