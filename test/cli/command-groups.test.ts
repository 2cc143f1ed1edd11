/**
 * The CLI loads one command group per run (src/cli/command-groups.ts): each group's name list must be
 * exactly what the group registers, names must not overlap, and a run must get the group it needs
 * (or all of them for help and unknown commands).
 */
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { COMMAND_GROUPS } from "../../src/cli/command-groups.js";
import type { CliIo } from "../../src/cli/io.js";
import { dockerBooleanFlags, main, programFor } from "../../src/cli/main.js";

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

  it("turns docker's --flag=false into --no-flag among the subcommand's options only", async () => {
    const rewrite = async (argv: string[]): Promise<string[]> =>
      dockerBooleanFlags(await programFor(argv, io), argv);
    // A plain --sig-proxy leaves the image alone.
    expect(await rewrite(["run", "--sig-proxy", "alpine", "echo"])).toEqual([
      "run",
      "--sig-proxy",
      "alpine",
      "echo",
    ]);
    expect(
      await rewrite([
        "--root",
        "/r",
        "run",
        "--name",
        "x",
        "--sig-proxy=false",
        "alpine",
        "echo",
        "--sig-proxy=false",
      ]),
    ).toEqual([
      "--root",
      "/r",
      "run",
      "--name",
      "x",
      "--no-sig-proxy",
      "alpine",
      "echo",
      "--sig-proxy=false",
    ]);
    expect(await rewrite(["container", "run", "--sig-proxy=true", "alpine"])).toEqual([
      "container",
      "run",
      "--sig-proxy",
      "alpine",
    ]);
    expect(await rewrite(["start", "-a", "--sig-proxy=false", "c1"])).toEqual([
      "start",
      "-a",
      "--no-sig-proxy",
      "c1",
    ]);
    // Not a boolean with a negation: left for commander to judge.
    expect(await rewrite(["run", "--name=x", "alpine"])).toEqual(["run", "--name=x", "alpine"]);
    // Neither true nor false: said so, with the fix.
    await expect(rewrite(["run", "--sig-proxy=maybe", "alpine"])).rejects.toThrow(
      'invalid value "maybe" for --sig-proxy: use --sig-proxy=true or --sig-proxy=false',
    );
    let stderr = "";
    const code = await main(["run", "--sig-proxy=maybe", "alpine"], {
      ...io,
      stderr: { write: (s: string) => (stderr += s) },
    });
    expect(code).toBe(2);
    expect(stderr).toBe(
      'tsstack: invalid value "maybe" for --sig-proxy: use --sig-proxy=true or --sig-proxy=false\n',
    );
  });

  it("parses run --sig-proxy before the image, as docker does", async () => {
    const program = await programFor(["run", "--sig-proxy", "alpine", "echo"], io);
    const run = program.commands.find((c) => c.name() === "run");
    let seen: unknown[] = [];
    run?.action((...args: unknown[]) => {
      seen = args.slice(0, 2);
    });
    await program.parseAsync(["run", "--sig-proxy", "alpine", "echo", "hi"], { from: "user" });
    expect(seen).toEqual(["alpine", ["echo", "hi"]]);
  });
});
