/**
 * What the `network` and `volume` commands share: their subcommands, the connection to the engine
 * daemon (started on demand, as for the container commands), `KEY=VALUE` flags, `-f` filters, `ls`
 * and `inspect` output, prune's confirmation.
 */
import type { Command } from "commander";
import { TsstackError } from "../../common/errors.js";
import type { NetworkVolumeOps } from "../../runtime/runtime.js";
import { addEngineOptions, connectDaemon } from "../engine-options.js";
import { table, writeFormatted } from "../format.js";
import type { CliIo } from "../io.js";
import { UsageError } from "./config.js";
import { readLine } from "./login.js";

/** An open connection to the engine; disposing it lets the CLI exit. */
export interface ObjectsConnection extends AsyncDisposable {
  readonly engine: Required<NetworkVolumeOps>;
}

/** What the network and volume commands need from the outside: injected so tests can supply their own. */
export interface ObjectsContext {
  readonly io: CliIo;
  /** Connects for one command invocation (its `--root` and socket flags). */
  readonly connect: (cmd: Command) => Promise<ObjectsConnection>;
}

export function defaultObjectsContext(io: CliIo): ObjectsContext {
  return {
    io,
    connect: async (cmd) => {
      const client = await connectDaemon(cmd, io);
      return {
        engine: client,
        [Symbol.asyncDispose]: () => {
          client.close();
          return Promise.resolve();
        },
      };
    },
  };
}

/** Defines one subcommand of `network` or `volume` on `cmd`. */
export type DefineObjectCommand = (cmd: Command, ctx: ObjectsContext) => Command;

/** The subcommands of `network` and `volume`, in help order, with docker's aliases. */
const OBJECT_SUBCOMMANDS = [
  { name: "create", aliases: [] },
  { name: "ls", aliases: ["list"] },
  { name: "inspect", aliases: [] },
  { name: "rm", aliases: ["remove"] },
  { name: "prune", aliases: [] },
] as const;

/** Registers `noun create|ls|inspect|rm|prune` on the program, each subcommand defined by `define`. */
export function objectCommands(
  program: Command,
  noun: string,
  description: string,
  define: Readonly<Record<(typeof OBJECT_SUBCOMMANDS)[number]["name"], DefineObjectCommand>>,
  ctx: ObjectsContext,
): void {
  const group = program.command(noun).description(description);
  for (const sub of OBJECT_SUBCOMMANDS) {
    // --root also after the subcommand: docker-style commands take program options only before it.
    const cmd = addEngineOptions(define[sub.name](group.command(sub.name), ctx));
    for (const alias of sub.aliases) cmd.alias(alias);
  }
}

/**
 * `ls` output: the `id` column alone with `-q`; else a table of `columns` (`headers` name them), or
 * `--format` (json or a Go-style template over the rows).
 */
export function writeList<Row extends { readonly [K in keyof Row]: string }>(
  io: CliIo,
  rows: readonly Row[],
  flags: { readonly quiet?: boolean; readonly format?: string },
  view: { readonly id: keyof Row; readonly columns: readonly (keyof Row & string)[] },
  headers: Record<string, string>,
): void {
  if (flags.quiet === true) {
    for (const row of rows) io.stdout.write(`${row[view.id]}\n`);
    return;
  }
  const format = flags.format ?? "table";
  if (format === "table") {
    io.stdout.write(table(view.columns, rows, headers));
    return;
  }
  writeFormatted(io, format, rows, headers);
}

/**
 * `inspect`: what `inspect` finds of `refs`, as JSON (or `--format`); then, if any were not found
 * (`notFound`, the engine's error code), one error naming them all, as docker does.
 */
export async function inspectEach<T>(
  io: CliIo,
  refs: readonly string[],
  format: string | undefined,
  inspect: (ref: string) => Promise<T>,
  notFound: { readonly code: string; readonly noun: string },
): Promise<void> {
  const found: T[] = [];
  const missing: string[] = [];
  for (const ref of refs) {
    try {
      found.push(await inspect(ref));
    } catch (e) {
      if (!(e instanceof TsstackError && e.code === notFound.code)) throw e;
      missing.push(ref);
    }
  }
  if (format !== undefined) writeFormatted(io, format, found, {});
  else io.stdout.write(`${JSON.stringify(found, null, 4)}\n`);
  if (missing.length > 0)
    throw new TsstackError(notFound.code, `No such ${notFound.noun}: ${missing.join(", ")}`);
}

/** `--label a=b --label c` → `{ a: "b", c: "" }`, as docker reads `--label` and `--opt`. */
export function keyValues(flag: string, specs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const spec of specs) {
    const eq = spec.indexOf("=");
    const key = eq === -1 ? spec : spec.slice(0, eq);
    if (key === "") throw new UsageError(`invalid ${flag} "${spec}": expected KEY=VALUE`);
    out[key] = eq === -1 ? "" : spec.slice(eq + 1);
  }
  return out;
}

/** `-f key=value` flags → the engine's filters; keys outside `supported` are usage errors. */
export function filterFlags(
  specs: readonly string[],
  supported: readonly string[],
): Record<string, string[]> {
  const filters: Record<string, string[]> = {};
  for (const spec of specs) {
    const eq = spec.indexOf("=");
    const key = eq === -1 ? spec : spec.slice(0, eq);
    if (eq === -1 || !supported.includes(key))
      throw new UsageError(
        `invalid filter "${spec}" (supported: ${supported.map((k) => `${k}=…`).join(", ")})`,
      );
    (filters[key] ??= []).push(spec.slice(eq + 1));
  }
  return filters;
}

/** docker's prune prompt; resolves false (after a newline) unless the answer is y or yes. */
export async function confirm(io: CliIo, warning: string): Promise<boolean> {
  io.stdout.write(`WARNING! ${warning}\nAre you sure you want to continue? [y/N] `);
  const answer = io.stdin === undefined ? undefined : await readLine(io.stdin);
  if (/^y(es)?$/i.test((answer ?? "").trim())) return true;
  io.stdout.write("\n");
  return false;
}

/** `{a: "1", b: "2"}` → `a=1,b=2`, as docker's `{{.Labels}}` prints labels. */
export function labelText(labels: Readonly<Record<string, string>> | null | undefined): string {
  return Object.entries(labels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}
