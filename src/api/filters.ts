/**
 * Docker's `filters` query parameter and the query value conventions of the Engine API.
 *
 * `filters` is JSON in one of two encodings, both still sent by clients: the current one,
 * `{"label":["a=b","c"]}`, and the legacy map the docker CLI still sends, `{"label":{"a=b":true}}`.
 */
import type { RuntimeEvent } from "../runtime/runtime.js";
import { HttpError } from "./errors.js";

export type Filters = Readonly<Record<string, readonly string[]>>;

/** Parses `filters`; absent or empty means no filter. Bad JSON or shapes are a 400. */
export function parseFilters(raw: string | null | undefined): Filters {
  if (raw === null || raw === undefined || raw.trim() === "") return {};
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (error) {
    throw new HttpError(400, "api/invalid-filters", `invalid filters ${JSON.stringify(raw)}: not JSON`, {
      cause: error,
    });
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new HttpError(400, "api/invalid-filters", `invalid filters ${JSON.stringify(raw)}: not an object`);
  }
  const out: Record<string, string[]> = {};
  for (const [key, value] of Object.entries(json)) {
    if (Array.isArray(value) && value.every((v): v is string => typeof v === "string")) {
      out[key] = value;
    } else if (typeof value === "object" && value !== null && !Array.isArray(value)) {
      // Legacy map form: the keys are the values; `false` entries were never produced by Docker.
      out[key] = Object.entries(value as Record<string, unknown>)
        .filter(([, on]) => on === true)
        .map(([v]) => v);
    } else {
      throw new HttpError(
        400,
        "api/invalid-filters",
        `invalid filters ${JSON.stringify(raw)}: ${JSON.stringify(key)} must be a list of strings`,
      );
    }
  }
  return out;
}

/** The current encoding, for clients. Empty filters give `undefined` (omit the parameter). */
export function encodeFilters(filters: Filters | undefined): string | undefined {
  if (filters === undefined) return undefined;
  const entries = Object.entries(filters).filter(([, values]) => values.length > 0);
  return entries.length === 0 ? undefined : JSON.stringify(Object.fromEntries(entries));
}

/** Docker's boolean query values (`httputils.BoolValue`): anything but "", 0, no, false, none is true. */
export function queryBool(query: URLSearchParams, name: string, fallback = false): boolean {
  const raw = query.get(name);
  if (raw === null) return fallback;
  return !["", "0", "no", "false", "none"].includes(raw.trim().toLowerCase());
}

/** An integer query value, or `undefined` when absent; anything else is a 400. */
export function queryInt(query: URLSearchParams, name: string): number | undefined {
  const raw = query.get(name);
  if (raw === null || raw === "") return undefined;
  if (!/^-?\d+$/.test(raw)) {
    throw new HttpError(
      400,
      "api/invalid-parameter",
      `invalid ${name}=${JSON.stringify(raw)}: not an integer`,
    );
  }
  return Number(raw);
}

/**
 * A time query value (`since`, `until`) as Unix seconds: Docker clients send Unix seconds with an
 * optional fraction (`1700000000.123456789`); RFC 3339 is accepted too.
 */
export function queryTime(query: URLSearchParams, name: string): number | undefined {
  const raw = query.get(name);
  if (raw === null || raw === "") return undefined;
  if (/^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  const ms = Date.parse(raw);
  if (Number.isNaN(ms)) {
    throw new HttpError(
      400,
      "api/invalid-parameter",
      `invalid ${name}=${JSON.stringify(raw)}: expected Unix seconds or an RFC 3339 time`,
    );
  }
  return ms / 1000;
}

/** `key` or `key=value` against a label map, as Docker's label filter. */
export function labelMatches(labels: Readonly<Record<string, string>>, filter: string): boolean {
  const eq = filter.indexOf("=");
  if (eq < 0) return Object.hasOwn(labels, filter);
  const key = filter.slice(0, eq);
  return Object.hasOwn(labels, key) && labels[key] === filter.slice(eq + 1);
}

const EVENT_FILTERS = new Set(["type", "container", "label", "event", "image"]);

/** Rejects event filters this server does not implement, instead of silently ignoring them. */
export function checkEventFilters(filters: Filters): void {
  for (const key of Object.keys(filters)) {
    if (!EVENT_FILTERS.has(key)) {
      throw new HttpError(
        400,
        "api/invalid-filters",
        `invalid filter ${JSON.stringify(key)} for events (supported: ${[...EVENT_FILTERS].join(", ")})`,
      );
    }
  }
}

/**
 * Docker's event filter semantics: every filter key given must match (AND); within a key, any value
 * (OR). `container` matches the id (or a prefix of it) or the name; `label` the actor attributes.
 */
export function eventMatches(event: RuntimeEvent, filters: Filters): boolean {
  const attrs = event.Actor.Attributes;
  const anyOf = (key: string, test: (value: string) => boolean): boolean => {
    const values = filters[key];
    return values === undefined || values.length === 0 || values.some(test);
  };
  return (
    anyOf("type", (t) => t === event.Type) &&
    anyOf(
      "container",
      (c) =>
        event.Type === "container" &&
        c !== "" &&
        (event.Actor.ID.startsWith(c) || attrs["name"] === c.replace(/^\//, "")),
    ) &&
    anyOf("label", (l) => labelMatches(attrs, l)) &&
    anyOf("event", (e) => e === event.Action || event.Action.startsWith(`${e}:`)) &&
    anyOf("image", (i) => attrs["image"] === i || (event.Type === "image" && event.Actor.ID === i))
  );
}
