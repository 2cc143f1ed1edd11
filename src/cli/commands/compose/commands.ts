/**
 * The compose commands: `tsstack compose up|down|ps|logs|…` with `docker compose`'s flags and output,
 * and the same commands at the top level (`tsstack up`) where docker's own container commands do not
 * already own the name: `ps`, `logs`, `start`, `stop` and `restart` at the top level are docker's
 * (container.ts), so the stack's forms of those are `tsstack compose ps` etc.
 */
import type { Command } from "commander";
import { addEngineOptions } from "../../engine-options.js";
import type { CliIo } from "../../io.js";
import { defineEvents, defineLifecycle, defineLogs, definePs } from "./containers.js";
import { addStackOptions } from "./project.js";
import { defaultComposeContext, type ComposeContext } from "./stack-api.js";
import { defineLs } from "./stack-list.js";
import { defineDown, definePlan, defineScale, defineUp } from "./up.js";

type Define = (cmd: Command, ctx: ComposeContext) => Command;

const SUBCOMMANDS: readonly {
  readonly name: string;
  readonly define: Define;
  /** Also `tsstack <name>`. */
  readonly topLevel: boolean;
  /** Takes the project flags (-f, -p, …) after its name. */
  readonly project: boolean;
  /** `-f` means something else here (`logs -f` follows), so the stack file is `--file` only. */
  readonly fileShort?: false;
}[] = [
  { name: "up", define: defineUp, topLevel: true, project: true },
  { name: "down", define: defineDown, topLevel: true, project: true },
  { name: "plan", define: definePlan, topLevel: true, project: true },
  { name: "scale", define: defineScale, topLevel: true, project: true },
  { name: "ls", define: defineLs, topLevel: true, project: false },
  { name: "events", define: defineEvents, topLevel: true, project: true },
  { name: "ps", define: definePs, topLevel: false, project: true },
  { name: "logs", define: defineLogs, topLevel: false, project: true, fileShort: false },
  { name: "start", define: defineLifecycle("start"), topLevel: false, project: true },
  { name: "stop", define: defineLifecycle("stop"), topLevel: false, project: true },
  { name: "restart", define: defineLifecycle("restart"), topLevel: false, project: true },
];

export function composeCommands(
  program: Command,
  io: CliIo,
  ctx: ComposeContext = defaultComposeContext(io),
): void {
  const compose = program
    .command("compose")
    .description("manage the stack like docker compose (up, down, ps, logs, start, stop, …)")
    // `tsstack compose -f stack.yml ps`, as `docker compose -f …`; after the subcommand name its own
    // options come first (`compose logs -f` follows).
    .enablePositionalOptions();
  addStackOptions(compose);
  const options = (sub: (typeof SUBCOMMANDS)[number], cmd: Command): Command =>
    sub.project
      ? addStackOptions(cmd, sub.fileShort === false ? { fileShort: false } : {})
      : addEngineOptions(cmd);
  for (const sub of SUBCOMMANDS) {
    options(sub, sub.define(compose.command(sub.name), ctx));
    if (sub.topLevel) options(sub, sub.define(program.command(sub.name), ctx));
  }
}
