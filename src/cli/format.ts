/**
 * Output helpers shared by the docker-style commands (`image …`, `container …`): docker's table layout,
 * its `--format` templates, and the go-units / Go formatting docker's output is made of ("2 hours ago",
 * "4.26MB", "1.5MiB", `"quoted"` commands).
 */
import { UsageError } from "./commands/config.js";
import type { CliIo } from "./io.js";

/** Go's `time.Time.String()` in UTC, as `docker images --format '{{.CreatedAt}}'` prints it. */
export function goTime(d: Date): string {
  const iso = d.toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} +0000 UTC`;
}

/** go-units HumanDuration, which docker uses for "2 hours ago". */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return "Less than a second";
  if (seconds === 1) return "1 second";
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(seconds / 60);
  if (minutes === 1) return "About a minute";
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.floor(ms / 3_600_000 + 0.5);
  if (hours === 1) return "About an hour";
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(ms / 3_600_000 / 24 / 365)} years`;
}

/** go-units HumanSizeWithPrecision(n, 3): decimal units, three significant digits (`4.26MB`). */
export function humanSize(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
  let value = bytes;
  let i = 0;
  while (value >= 1000 && i < units.length - 1) {
    value /= 1000;
    i++;
  }
  return `${Number(value.toPrecision(3))}${units[i] ?? ""}`;
}

/**
 * docker's table layout (Go tabwriter: minimum width 10, padding 3), headers in capitals, the last
 * column unpadded.
 */
export function table(
  columns: readonly string[],
  rows: readonly Record<string, unknown>[],
  headers: Record<string, string>,
): string {
  const cells = [
    columns.map((c) => headers[c] ?? c.toUpperCase()),
    ...rows.map((r) => columns.map((c) => goString(r[c]))),
  ];
  return tabwrite(cells);
}

export function tabwrite(
  cells: readonly (readonly string[])[],
  opts: { readonly minWidth?: number; readonly padding?: number } = {},
): string {
  const minWidth = opts.minWidth ?? 10;
  const padding = opts.padding ?? 3;
  const widths: number[] = [];
  for (const line of cells) {
    line.forEach((cell, i) => {
      if (i < line.length - 1) widths[i] = Math.max(widths[i] ?? minWidth, cell.length + padding);
    });
  }
  return cells
    .map((line) => line.map((cell, i) => (i < line.length - 1 ? cell.padEnd(widths[i] ?? 0) : cell)).join(""))
    .map((l) => `${l}\n`)
    .join("");
}

// --- Go-style templates (--format) -------------------------------------------------------------------

/**
 * `json`, `table …` and the subset of Go templates docker users write in practice: `{{.Field}}`,
 * `{{.A.B}}`, `{{json .}}`, `{{json .Field}}`, with `\t` and `\n` escapes as the docker CLI expands them.
 */
export function writeFormatted(
  io: CliIo,
  format: string,
  rows: readonly unknown[],
  headers: Record<string, string>,
): void {
  if (format === "json") {
    for (const row of rows) io.stdout.write(`${JSON.stringify(row)}\n`);
    return;
  }
  const isTable = format.startsWith("table");
  const template = (isTable ? format.slice("table".length) : format)
    .trim()
    .replaceAll("\\t", "\t")
    .replaceAll("\\n", "\n");
  const parts = parseTemplate(template);
  if (isTable) {
    // The header row renders every {{.Field}} as its column title.
    const header = parts
      .map((p) => (typeof p === "string" ? p : (headers[p.path[0] ?? ""] ?? (p.path[0] ?? "").toUpperCase())))
      .join("");
    const lines = [header, ...rows.map((r) => renderTemplate(parts, r))];
    io.stdout.write(tabwrite(lines.map((l) => l.split("\t"))));
    return;
  }
  for (const row of rows) io.stdout.write(`${renderTemplate(parts, row)}\n`);
}

export type TemplatePart = string | { json: boolean; path: string[] };

export function parseTemplate(template: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  const re = /\{\{-?\s*(.*?)\s*-?\}\}/g;
  let last = 0;
  for (let m = re.exec(template); m !== null; m = re.exec(template)) {
    if (m.index > last) parts.push(template.slice(last, m.index));
    last = m.index + m[0].length;
    const action = m[1] ?? "";
    const am = /^(json\s+)?\.((?:[A-Za-z_][A-Za-z0-9_]*)(?:\.[A-Za-z_][A-Za-z0-9_]*)*)?$/.exec(action);
    if (am === null) {
      throw new UsageError(
        `unsupported template action "{{${action}}}" (supported: {{.Field}}, {{.A.B}}, {{json .}}, {{json .Field}})`,
      );
    }
    parts.push({ json: am[1] !== undefined, path: am[2] === undefined ? [] : am[2].split(".") });
  }
  if (last < template.length) parts.push(template.slice(last));
  const open = parts.find((p) => typeof p === "string" && p.includes("{{"));
  if (open !== undefined) throw new UsageError(`template: unclosed action in "${template}"`);
  return parts;
}

export function renderTemplate(parts: readonly TemplatePart[], data: unknown): string {
  return parts
    .map((p) => {
      if (typeof p === "string") return p;
      let value: unknown = data;
      for (const key of p.path) {
        if (typeof value !== "object" || value === null || !(key in value)) {
          if (p.path.length > 0 && data === value)
            throw new UsageError(`template: can't evaluate field ${key}`);
          value = undefined;
          break;
        }
        value = (value as Record<string, unknown>)[key];
      }
      return p.json ? JSON.stringify(value ?? null) : goString(value);
    })
    .join("");
}

/** How Go's text/template prints a value: slices as `[a b]`, maps as `map[k:v]`, nil as `<nil>`. */
export function goString(value: unknown): string {
  if (value === undefined) return "<no value>";
  if (value === null) return "<nil>";
  if (Array.isArray(value)) return `[${value.map(goString).join(" ")}]`;
  if (typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    return `map[${entries.map(([k, v]) => `${k}:${goString(v)}`).join(" ")}]`;
  }
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint")
    return String(value);
  return typeof value;
}

/** go-units BytesSize: binary units, four significant digits (`1.5MiB`, `7.773GiB`), as `docker stats`. */
export function binarySize(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
  let value = bytes;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return `${Number(value.toPrecision(4))}${units[i] ?? ""}`;
}

/** Go's `strconv.Quote` for the text docker quotes (`ps`'s COMMAND column). */
export function goQuote(text: string): string {
  const escapes: Record<string, string> = {
    '"': '\\"',
    "\\": "\\\\",
    "\x07": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
  };
  let out = "";
  for (const ch of text) {
    const code = ch.codePointAt(0) ?? 0;
    out += escapes[ch] ?? (code < 0x20 || code === 0x7f ? `\\x${code.toString(16).padStart(2, "0")}` : ch);
  }
  return `"${out}"`;
}

/**
 * docker's formatter `Ellipsis`: text longer than `max` characters is cut to `max - 1` and ends with
 * `…`. (docker counts East Asian wide characters as two; tsstack counts code points.)
 */
export function ellipsis(text: string, max: number): string {
  // Code points, as Go's runes.
  const chars = Array.from(text);
  if (chars.length <= max) return text;
  if (max <= 0) return "";
  return `${chars.slice(0, max - 1).join("")}…`;
}
