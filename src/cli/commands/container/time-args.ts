/**
 * `logs --since/--until` values as docker reads them (api/types/time.GetTimestamp): a Go duration
 * before now (`10m`, `1h30m`), a Unix timestamp (`1700000000`, `1700000000.5`), or an RFC 3339 date or
 * date-time (`2024-01-02`, `2024-01-02T15:04:05Z`, `2024-01-02T15:04:05.123+01:00`); without a zone
 * the time is local, as in docker. Pure; the clock is passed in.
 */
import { TsstackError } from "../../../common/errors.js";
import { parseDuration } from "../../../spec/units.js";

const DATE_TIME_RE = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}:\d{2})?$/;

/** Unix seconds (fractional) for `value`. */
export function parseTimestamp(flag: string, value: string, now: Date): number {
  const text = value.trim();
  if (/^\d+(?:\.\d+)?$/.test(text)) return Number(text);
  const ms = parseDuration(text);
  if (ms !== undefined && /[a-zµμ]$/.test(text)) return (now.getTime() - ms) / 1000;
  if (DATE_TIME_RE.test(text)) {
    const [date = "", time] = text.split("T");
    const zone = /(Z|[+-]\d{2}:\d{2})$/.exec(text)?.[1];
    const datePart = zone !== undefined && time === undefined ? date.slice(0, -zone.length) : date;
    let clock = time ?? "00:00:00";
    if (zone !== undefined && time !== undefined) clock = clock.slice(0, -zone.length);
    // JavaScript Dates have millisecond precision: keep the digits beyond as a fraction.
    const frac = /\.(\d+)$/.exec(clock)?.[1] ?? "";
    const base = `${datePart}T${clock.replace(/\.\d+$/, "")}${zone ?? ""}`;
    const parsed = Date.parse(base);
    if (!Number.isNaN(parsed)) return Math.floor(parsed / 1000) + Number(`0.${frac || "0"}`);
  }
  throw new TsstackError(
    "container/invalid-argument",
    `invalid value "${value}" for ${flag}: expected a duration (10m), a Unix timestamp or an RFC 3339 date`,
  );
}
