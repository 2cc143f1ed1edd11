/**
 * The parts of the DNS wire format (RFC 1035) the embedded server needs: parsing queries, encoding
 * answers with A records, and — for tests and the forwarder's checks — encoding queries and parsing
 * responses. Pure.
 */
import { TsstackError } from "../common/errors.js";

export const TYPE_A = 1;
export const TYPE_AAAA = 28;
export const CLASS_IN = 1;
export const RCODE_NOERROR = 0;
export const RCODE_FORMERR = 1;
export const RCODE_SERVFAIL = 2;
export const RCODE_NXDOMAIN = 3;
export const RCODE_NOTIMP = 4;

/** Largest UDP answer without EDNS (RFC 1035 §4.2.1); longer ones are truncated with TC set. */
export const UDP_MAX = 512;

export interface DnsQuestion {
  /** Lower-case, without the trailing dot. */
  readonly name: string;
  readonly type: number;
  readonly class: number;
}

export interface DnsMessage {
  readonly id: number;
  readonly flags: number;
  readonly questions: readonly DnsQuestion[];
  readonly answers: readonly DnsRecord[];
}

export interface DnsRecord {
  readonly name: string;
  readonly type: number;
  readonly class: number;
  readonly ttl: number;
  /** For A records the dotted quad; else the rdata as hex. */
  readonly data: string;
}

export function isResponse(flags: number): boolean {
  return (flags & 0x8000) !== 0;
}

export function opcodeOf(flags: number): number {
  return (flags >> 11) & 0xf;
}

export function rcodeOf(flags: number): number {
  return flags & 0xf;
}

function malformed(why: string): TsstackError {
  return new TsstackError("dns/malformed", `malformed DNS message: ${why}`);
}

/** Reads a (possibly compressed) name at `offset`; returns it and the offset after it in the message. */
function readName(buf: Buffer, offset: number): { name: string; next: number } {
  const labels: string[] = [];
  let pos = offset;
  let next = -1;
  for (let jumps = 0; ;) {
    if (pos >= buf.length) throw malformed("name runs past the end");
    const len = buf[pos] ?? 0;
    if (len === 0) {
      if (next < 0) next = pos + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= buf.length) throw malformed("truncated compression pointer");
      if (++jumps > 16) throw malformed("compression loop");
      if (next < 0) next = pos + 2;
      pos = ((len & 0x3f) << 8) | (buf[pos + 1] ?? 0);
      continue;
    }
    if ((len & 0xc0) !== 0) throw malformed("unsupported label type");
    if (pos + 1 + len > buf.length) throw malformed("label runs past the end");
    labels.push(buf.toString("latin1", pos + 1, pos + 1 + len));
    pos += 1 + len;
    if (labels.length > 127) throw malformed("too many labels");
  }
  return { name: labels.join(".").toLowerCase(), next };
}

function encodeName(name: string): Buffer {
  const trimmed = name.endsWith(".") ? name.slice(0, -1) : name;
  const parts: Buffer[] = [];
  if (trimmed !== "")
    for (const label of trimmed.split(".")) {
      const b = Buffer.from(label, "latin1");
      if (b.length === 0 || b.length > 63) throw malformed(`invalid label in "${name}"`);
      parts.push(Buffer.from([b.length]), b);
    }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/** Parses a message's header, questions and answers (authority and additional sections are skipped). */
export function parseMessage(buf: Buffer): DnsMessage {
  if (buf.length < 12) throw malformed(`${buf.length} bytes is shorter than a header`);
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  const qd = buf.readUInt16BE(4);
  const an = buf.readUInt16BE(6);
  let pos = 12;
  const questions: DnsQuestion[] = [];
  for (let i = 0; i < qd; i++) {
    const { name, next } = readName(buf, pos);
    if (next + 4 > buf.length) throw malformed("truncated question");
    questions.push({ name, type: buf.readUInt16BE(next), class: buf.readUInt16BE(next + 2) });
    pos = next + 4;
  }
  const answers: DnsRecord[] = [];
  for (let i = 0; i < an; i++) {
    const { name, next } = readName(buf, pos);
    if (next + 10 > buf.length) throw malformed("truncated record");
    const type = buf.readUInt16BE(next);
    const klass = buf.readUInt16BE(next + 2);
    const ttl = buf.readUInt32BE(next + 4);
    const rdlen = buf.readUInt16BE(next + 8);
    const rdata = buf.subarray(next + 10, next + 10 + rdlen);
    if (rdata.length !== rdlen) throw malformed("truncated rdata");
    const data = type === TYPE_A && rdlen === 4 ? [...rdata].join(".") : rdata.toString("hex");
    answers.push({ name, type, class: klass, ttl, data });
    pos = next + 10 + rdlen;
  }
  return { id, flags, questions, answers };
}

/** A standard query with recursion desired (tests and tools). */
export function encodeQuery(id: number, name: string, type = TYPE_A): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2);
  header.writeUInt16BE(1, 4);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(type, 0);
  tail.writeUInt16BE(CLASS_IN, 2);
  return Buffer.concat([header, encodeName(name), tail]);
}

export interface ResponseOptions {
  readonly rcode: number;
  /** Answer A records for the (first) question's name; the name is written as a pointer to it. */
  readonly addresses?: readonly string[];
  readonly ttl?: number;
  /** Authoritative answer (names the engine knows). */
  readonly authoritative?: boolean;
  /** Truncate at this size with TC set (UDP); default no limit (TCP). */
  readonly maxSize?: number;
}

/**
 * A response to `query` (its id, opcode, RD flag and first question echoed). Only the first question
 * is answered: resolvers send one (RFC 9619 makes QDCOUNT > 1 an error).
 */
export function encodeResponse(query: DnsMessage, opts: ResponseOptions): Buffer {
  const q = query.questions[0];
  const addresses = opts.addresses ?? [];
  const questionBytes =
    q === undefined ? Buffer.alloc(0) : Buffer.concat([encodeName(q.name), u16(q.type), u16(q.class)]);
  const answerSize = 16;
  const limit = opts.maxSize ?? Number.POSITIVE_INFINITY;
  let count = addresses.length;
  let truncated = false;
  if (12 + questionBytes.length + count * answerSize > limit) {
    count = Math.max(0, Math.floor((limit - 12 - questionBytes.length) / answerSize));
    truncated = true;
  }
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.id, 0);
  let flags = 0x8000 | (opcodeOf(query.flags) << 11) | (query.flags & 0x0100) | 0x0080 | (opts.rcode & 0xf);
  if (opts.authoritative === true) flags |= 0x0400;
  if (truncated) flags |= 0x0200;
  header.writeUInt16BE(flags, 2);
  header.writeUInt16BE(q === undefined ? 0 : 1, 4);
  header.writeUInt16BE(count, 6);
  const answers: Buffer[] = [];
  for (const ip of addresses.slice(0, count)) {
    const rr = Buffer.alloc(answerSize);
    rr.writeUInt16BE(0xc00c, 0); // the question's name, at offset 12
    rr.writeUInt16BE(TYPE_A, 2);
    rr.writeUInt16BE(CLASS_IN, 4);
    rr.writeUInt32BE(opts.ttl ?? 600, 6);
    rr.writeUInt16BE(4, 10);
    const octets = ip.split(".").map(Number);
    for (let i = 0; i < 4; i++) rr.writeUInt8(octets[i] ?? 0, 12 + i);
    answers.push(rr);
  }
  return Buffer.concat([header, questionBytes, ...answers]);
}

/** A bare error response (for messages whose question could not even be parsed: only the id). */
export function encodeError(id: number, rcode: number): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x8080 | (rcode & 0xf), 2);
  return header;
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n, 0);
  return b;
}
