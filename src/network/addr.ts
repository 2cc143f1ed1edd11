/**
 * IPv4 addresses as unsigned 32-bit numbers, and CIDR subnets. Pure.
 */
import { TsstackError } from "../common/errors.js";

export interface Subnet {
  /** Network address (host bits zero). */
  readonly base: number;
  readonly prefix: number;
}

const IPV4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Parses a dotted quad; undefined when it is not one. */
export function parseIpv4(text: string): number | undefined {
  const m = IPV4_RE.exec(text);
  if (m === null) return undefined;
  let n = 0;
  for (const part of m.slice(1)) {
    const b = Number(part);
    if (b > 255) return undefined;
    n = n * 256 + b;
  }
  return n;
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

export function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses `a.b.c.d/n`; with `strict`, host bits must be zero (Docker refuses `10.0.0.1/24` as a subnet). */
export function parseCidr(text: string, what = "subnet", strict = true): Subnet {
  const [ip, len, ...rest] = text.split("/");
  const addr = parseIpv4(ip ?? "");
  const prefix = Number(len);
  if (addr === undefined || rest.length > 0 || len === undefined || !/^\d{1,2}$/.test(len) || prefix > 32)
    throw new TsstackError(
      "network/invalid-config",
      `invalid ${what} "${text}": expected an IPv4 CIDR like 10.1.0.0/24`,
    );
  const base = (addr & mask(prefix)) >>> 0;
  if (strict && base !== addr)
    throw new TsstackError(
      "network/invalid-config",
      `invalid ${what} "${text}": host bits are set (did you mean ${formatIpv4(base)}/${prefix}?)`,
    );
  return { base, prefix };
}

export function formatCidr(s: Subnet): string {
  return `${formatIpv4(s.base)}/${s.prefix}`;
}

export function size(s: Subnet): number {
  return 2 ** (32 - s.prefix);
}

export function contains(s: Subnet, ip: number): boolean {
  return (ip & mask(s.prefix)) >>> 0 === s.base;
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return (a.base & mask(p)) >>> 0 === (b.base & mask(p)) >>> 0;
}

/** Docker's MAC for an IPv4 endpoint: 02:42 followed by the address bytes (stable, unique per network). */
export function macForIpv4(ip: number): string {
  return [
    "02",
    "42",
    ...[ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].map((b) => b.toString(16).padStart(2, "0")),
  ].join(":");
}
