/**
 * What the `network` and `volume` commands share: the connection to the engine daemon (started on
 * demand, as for the container commands), `KEY=VALUE` flags, `-f` filters, prune's confirmation.
 */
import type { Command } from "commander";
import type { NetworkVolumeOps } from "../../runtime/runtime.js";
import { engineRoot, engineSocket, type EngineFlags } from "../engine-options.js";
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
      // Loaded on use, as in container/engine.ts: the other commands need no HTTP client.
      const { connectEngine } = await import("../../api/daemon.js");
      const flags = cmd.optsWithGlobals<EngineFlags>();
      const client = await connectEngine({
        root: engineRoot(flags, io),
        socket: engineSocket(flags, io),
        env: io.env,
        autoStart: io.env["TSSTACK_NO_AUTOSTART"] !== "1",
        onStart: (message: string) => {
          io.stderr.write(`${message}\n`);
        },
      });
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
