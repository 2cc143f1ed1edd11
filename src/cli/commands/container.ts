/**
 * `tsstack container run|create|ls|logs|exec|stop|…` and docker's top-level forms (`run`, `ps`,
 * `logs`, …): the flags, output and exit codes of the docker CLI, against the engine daemon (started
 * on demand). The commands live in container/: run.ts (processes), lifecycle.ts, info.ts, copy.ts.
 */
import type { Command } from "commander";
import { addEngineOptions } from "../engine-options.js";
import type { CliIo } from "../io.js";
import { defineCommit, defineCp, defineExport } from "./container/copy.js";
import { defaultContext, type ContainerContext } from "./container/engine.js";
import {
  defineInspect,
  defineInspectAny,
  defineLogs,
  definePs,
  defineStats,
  defineTop,
} from "./container/info.js";
import {
  defineKill,
  definePause,
  defineRestart,
  defineRm,
  defineStop,
  defineUnpause,
  defineWait,
} from "./container/lifecycle.js";
import { defineCreate, defineExec, defineRun, defineStart } from "./container/run.js";

type Define = (cmd: Command, ctx: ContainerContext) => Command;

const SUBCOMMANDS: readonly {
  readonly name: string;
  readonly aliases?: readonly string[];
  /** docker's top-level shortcut (`docker ps` for `docker container ls`). */
  readonly topLevel?: string;
  readonly define: Define;
  /** The top-level form, when it differs (`docker inspect` also inspects images). */
  readonly defineTopLevel?: Define;
}[] = [
  { name: "run", topLevel: "run", define: defineRun },
  { name: "create", topLevel: "create", define: defineCreate },
  { name: "ls", aliases: ["list", "ps"], topLevel: "ps", define: definePs },
  { name: "logs", topLevel: "logs", define: defineLogs },
  { name: "exec", topLevel: "exec", define: defineExec },
  { name: "start", topLevel: "start", define: defineStart },
  { name: "stop", topLevel: "stop", define: defineStop },
  { name: "restart", topLevel: "restart", define: defineRestart },
  { name: "kill", topLevel: "kill", define: defineKill },
  { name: "rm", aliases: ["remove"], topLevel: "rm", define: defineRm },
  { name: "pause", topLevel: "pause", define: definePause },
  { name: "unpause", topLevel: "unpause", define: defineUnpause },
  { name: "wait", topLevel: "wait", define: defineWait },
  { name: "inspect", topLevel: "inspect", define: defineInspect, defineTopLevel: defineInspectAny },
  { name: "top", topLevel: "top", define: defineTop },
  { name: "stats", topLevel: "stats", define: defineStats },
  { name: "cp", topLevel: "cp", define: defineCp },
  { name: "commit", topLevel: "commit", define: defineCommit },
  { name: "export", topLevel: "export", define: defineExport },
];

export function containerCommands(
  program: Command,
  io: CliIo,
  ctx: ContainerContext = defaultContext(io),
): void {
  const container = program
    .command("container")
    .description("manage containers (run, ls, logs, exec, stop, rm, cp, …)")
    // `run` and `exec` pass the options after their operands to the container's command, which
    // commander allows only under parents with positional options.
    .enablePositionalOptions();
  // main turns positional options on for the program whenever a docker-style command runs; commander
  // checks it while the commands are added, before main knows which command that is.
  program.enablePositionalOptions(true);
  try {
    for (const sub of SUBCOMMANDS) {
      // --root also after the subcommand: docker-style commands take program options only before it.
      const cmd = addEngineOptions(sub.define(container.command(sub.name), ctx));
      for (const alias of sub.aliases ?? []) cmd.alias(alias);
      if (sub.topLevel !== undefined) {
        addEngineOptions((sub.defineTopLevel ?? sub.define)(program.command(sub.topLevel), ctx));
      }
    }
  } finally {
    program.enablePositionalOptions(false);
  }
}
