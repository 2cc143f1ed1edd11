/** `ls`: the stacks the engine knows, like `docker compose ls` (NAME STATUS CONFIG FILES). */
import { Option, type Command } from "commander";
import type { StackSummary } from "../../../api/stack-types.js";
import { table, writeFormatted } from "../../format.js";
import type { CliIo } from "../../io.js";
import type { ComposeContext } from "./stack-api.js";

interface LsFlags {
  all?: boolean;
  quiet?: boolean;
  format: string;
}

const LS_HEADERS: Record<string, string> = { Name: "NAME", Status: "STATUS", ConfigFiles: "CONFIG FILES" };

/** Running stacks only unless `all` (a stack with no running container is hidden, as in compose). */
export function writeStackList(io: CliIo, stacks: readonly StackSummary[], flags: LsFlags): void {
  const shown = [...stacks]
    .filter((s) => flags.all === true || s.Status.includes("running"))
    .sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
  if (flags.quiet === true) {
    for (const s of shown) io.stdout.write(`${s.Name}\n`);
    return;
  }
  if (flags.format === "table") {
    io.stdout.write(
      table(["Name", "Status", "ConfigFiles"], shown as unknown as Record<string, unknown>[], LS_HEADERS),
    );
    return;
  }
  // compose prints the whole list as one JSON array.
  if (flags.format === "json") {
    io.stdout.write(`${JSON.stringify(shown)}\n`);
    return;
  }
  writeFormatted(io, flags.format, shown, LS_HEADERS);
}

export function defineLs(cmd: Command, ctx: ComposeContext): Command {
  return cmd
    .description("list the stacks (running ones unless -a)")
    .option("-a, --all", "show stopped stacks too")
    .option("-q, --quiet", "only show the names")
    .addOption(new Option("--format <format>", "table, json, or a Go-style template").default("table"))
    .action(async (flags: LsFlags, c: Command) => {
      await using conn = await ctx.connect(c);
      writeStackList(ctx.io, await conn.stacks.list(), flags);
    });
}
