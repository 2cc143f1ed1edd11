/**
 * Durations and byte sizes as the Compose spec writes them.
 *
 * Durations use Go's `time.ParseDuration` syntax ("1m30s", "1.5h", "250ms", "10us"); the StackSpec stores
 * them as milliseconds (fractional below 1 ms). Sizes use Docker's `RAMInBytes` syntax ("50M", "1.5g",
 * "512kb": binary multiples, case-insensitive); the StackSpec stores bytes.
 */

const DURATION_UNITS_NS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  μs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Parses a Go duration string into milliseconds; `undefined` when it is not one. */
export function parseDuration(text: string): number | undefined {
  let s = text.trim();
  if (s === "") return undefined;
  let sign = 1;
  if (s.startsWith("-") || s.startsWith("+")) {
    if (s.startsWith("-")) sign = -1;
    s = s.slice(1);
  }
  if (s === "0") return 0;
  let totalNs = 0;
  const re = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
  while (s !== "") {
    const m = re.exec(s);
    if (m === null) return undefined;
    const [whole, num, unit] = m as unknown as [string, string, string];
    totalNs += Number(num) * (DURATION_UNITS_NS[unit] ?? Number.NaN);
    s = s.slice(whole.length);
  }
  return Number.isFinite(totalNs) ? (sign * totalNs) / 1e6 : undefined;
}

/** Formats milliseconds the way Go's `time.Duration.String()` does ("1m0s", "1.5s", "250ms", "0s"). */
export function formatDuration(ms: number): string {
  let ns = Math.round(ms * 1e6);
  if (ns === 0) return "0s";
  const neg = ns < 0;
  if (neg) ns = -ns;
  let out: string;
  if (ns < 1e9) {
    // Sub-second: the largest unit that keeps the integer part non-zero.
    const [unit, size] = ns < 1e3 ? ["ns", 1] : ns < 1e6 ? ["µs", 1e3] : ["ms", 1e6];
    out = `${trimFraction(ns / size)}${unit}`;
  } else {
    const h = Math.floor(ns / 3600e9);
    const m = Math.floor((ns % 3600e9) / 60e9);
    const sec = (ns % 60e9) / 1e9;
    out = `${trimFraction(sec)}s`;
    if (h > 0 || m > 0) out = `${m}m${out}`;
    if (h > 0) out = `${h}h${out}`;
  }
  return neg ? `-${out}` : out;
}

function trimFraction(n: number): string {
  // Go prints up to 9 fractional digits and drops trailing zeros.
  return n.toFixed(9).replace(/\.?0+$/, "");
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  p: 1024 ** 5,
};

/**
 * Parses a byte size into bytes; `undefined` when it is not one. The syntax is Docker's `RAMInBytes`:
 * a number, one optional space, then an optional unit letter, `i` and `b` ("50M", "1.5g", "512MiB",
 * "1Gi", "20 kb", "1024"). Multiples are binary. Numbers are bytes.
 */
export function parseBytes(value: string | number): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? Math.floor(value) : undefined;
  const m = /^(\d+(?:\.\d+)*) ?([kmgtp])?i?b?$/i.exec(value);
  if (m === null) return undefined;
  const mult = SIZE_UNITS[(m[2] ?? "").toLowerCase()];
  const n = Number(m[1]);
  if (mult === undefined || !Number.isFinite(n)) return undefined;
  return Math.floor(n * mult);
}
