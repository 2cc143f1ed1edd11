/**
 * compose's merged log view (docker/compose cmd/formatter/logs.go and colors.go): every line prefixed
 * with its container's short name (`web-1`), padded to the widest name so the `|` line up, in a colour
 * of its own, cycling through compose's palette in order of appearance; no colour off a terminal.
 */
import { LABEL_CONTAINER_NUMBER, LABEL_SERVICE } from "../../../reconciler/labels.js";
import type { ContainerSummary } from "../../../runtime/runtime.js";
import type { CliIo } from "../../io.js";

/**
 * compose's `rainbow`: cyan, yellow, green, magenta, blue, then the same bold ("intense"), as SGR
 * codes. Red is left out (it reads as an error), as in compose.
 */
export const LOG_COLORS: readonly string[] = [
  "36",
  "33",
  "32",
  "35",
  "34",
  "36;1",
  "33;1",
  "32;1",
  "35;1",
  "34;1",
];

/** Colour on a terminal, unless `--no-color` (`flag` false) or NO_COLOR is set, as compose. */
export function useColor(io: CliIo, flag?: boolean): boolean {
  return flag !== false && io.stdout.isTTY === true && (io.env["NO_COLOR"] ?? "") === "";
}

export function colorize(code: string, text: string): string {
  return `\x1b[${code}m${text}\x1b[0m`;
}

/**
 * The name compose shows for a container in logs: `<service>-<n>` from its labels, else its name
 * without the `<project>-` prefix.
 */
export function logName(c: Pick<ContainerSummary, "Names" | "Labels">, project: string): string {
  const service = c.Labels[LABEL_SERVICE];
  const n = c.Labels[LABEL_CONTAINER_NUMBER];
  if (service !== undefined && n !== undefined) return `${service}-${n}`;
  const name = (c.Names[0] ?? "").replace(/^\//, "");
  return name.startsWith(`${project}-`) ? name.slice(project.length + 1) : name;
}

export interface LogPrefixerOptions {
  /** ANSI colours (compose: on a terminal unless --no-color). */
  readonly color: boolean;
}

/**
 * Assigns each container name its colour on first sight and renders lines with the shared padding.
 * The width follows the widest name seen so far, as compose's does.
 */
export class LogPrefixer {
  readonly #colors = new Map<string, string>();
  #width = 0;

  constructor(private readonly opts: LogPrefixerOptions) {}

  /** Registers names up front, so the first lines are already padded to the widest. */
  add(...names: readonly string[]): void {
    for (const name of names) {
      if (!this.#colors.has(name)) {
        this.#colors.set(name, LOG_COLORS[this.#colors.size % LOG_COLORS.length] ?? "0");
      }
      this.#width = Math.max(this.#width, name.length);
    }
  }

  /** The colour code `name` got (registering it if new). */
  colorOf(name: string): string {
    this.add(name);
    return this.#colors.get(name) ?? "0";
  }

  /** `web-1  | `, coloured when enabled. */
  prefix(name: string): string {
    const code = this.colorOf(name);
    const text = `${name.padEnd(this.#width)} | `;
    return this.opts.color ? colorize(code, text) : text;
  }

  /** One output line (`text` without its newline), prefixed; the newline is added. */
  line(name: string, text: string): string {
    return `${this.prefix(name)}${text}\n`;
  }
}

/**
 * Splits a container's log entries into whole lines: an entry may carry a part of a long line, and a
 * prefix belongs only at the start of a line. Per container and stream, so interleaved output of
 * several replicas never splices two lines.
 */
export class LineSplitter {
  readonly #pending = new Map<string, string>();

  /** The complete lines `chunk` finishes (without newlines); the rest waits for more. */
  push(key: string, chunk: string): string[] {
    const text = (this.#pending.get(key) ?? "") + chunk;
    const parts = text.split("\n");
    const rest = parts.pop() ?? "";
    if (rest === "") this.#pending.delete(key);
    else this.#pending.set(key, rest);
    return parts;
  }

  /** What is left of `key`'s last line when its stream ended without a newline. */
  flush(key: string): string[] {
    const rest = this.#pending.get(key);
    this.#pending.delete(key);
    return rest === undefined ? [] : [rest];
  }
}
