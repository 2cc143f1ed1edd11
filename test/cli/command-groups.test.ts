/**
 * The CLI loads one command group per run (src/cli/command-groups.ts): each group's name list must be
 * exactly what the group registers, names must not overlap, and a run must get the group it needs
 * (or all of them for help and unknown commands).
 */
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { COMMAND_GROUPS } from "../../src/cli/command-groups.js";
import type { CliIo } from "../../src/cli/io.js";
import { main, programFor } from "../../src/cli/main.js";

const io: CliIo = {
  stdout: { write: () => true },
  stderr: { write: () => true },
  env: {},
  cwd: "/",
  homeDir: "/",
};

describe("command groups", () => {
  it("each group registers exactly the names it lists, and no name is in two groups", async () => {
    const seen = new Set<string>();
    for (const group of COMMAND_GROUPS) {
      const program = new Command("tsstack");
      await group.register(program, io);
      expect(program.commands.map((c) => c.name())).toEqual(group.names);
      for (const name of group.names) {
        expect(seen.has(name), name).toBe(false);
        seen.add(name);
      }
    }
  });

  it("a run gets its subcommand's group; help and unknown commands get every group", async () => {
    const names = async (argv: string[]): Promise<string[]> =>
      (await programFor(argv, io)).commands.map((c) => c.name());
    const all = COMMAND_GROUPS.flatMap((g) => g.names);
    expect(await names(["--root", "/x", "up", "-d"])).toEqual(COMMAND_GROUPS.at(-1)?.names);
    expect(await names(["run", "--rm", "busybox"])).toEqual(COMMAND_GROUPS[2]?.names);
    expect(await names(["--help"])).toEqual(all);
    expect(await names(["help", "up"])).toEqual(all);
    expect(await names(["upp"])).toEqual(all);
  });

  it("an unknown command is still refused with a suggestion", async () => {
    let stderr = "";
    const code = await main(["upp"], { ...io, stderr: { write: (s: string) => (stderr += s) } });
    expect(code).toBe(2);
    expect(stderr).toContain("unknown command 'upp'");
    expect(stderr).toContain("(Did you mean up?)");
  });
});
