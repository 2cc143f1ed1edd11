/**
 * `tsstack daemon` has its own entry (bin/tsstack.js loads src/cli/daemon-main.ts for it): it must
 * take the same flags, print the same help and exit the same way as the daemon command of the whole
 * CLI, and the built binary must actually route there.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main as daemonMain } from "../../src/cli/daemon-main.js";
import type { CliIo } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";
import { repoRoot } from "../helpers/corpora.js";

async function run(
  entry: (argv: readonly string[], io: CliIo) => Promise<number>,
  argv: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: {},
    cwd: "/",
    homeDir: "/",
  };
  return { code: await entry(argv, io), stdout, stderr };
}

describe("the daemon's own entry", () => {
  it("prints the same help as the whole CLI's daemon command", async () => {
    const own = await run(daemonMain, ["daemon", "--help"]);
    const whole = await run(main, ["daemon", "--help"]);
    expect(own.code).toBe(0);
    expect(own.stdout).toContain("--run-root <dir>");
    expect(own.stdout).toContain("--socket <path>");
    expect(own.stdout).toBe(whole.stdout);
  });

  it("refuses an unknown flag with a usage error, as the whole CLI does", async () => {
    const own = await run(daemonMain, ["daemon", "--no-such-flag"]);
    const whole = await run(main, ["daemon", "--no-such-flag"]);
    expect(own.code).toBe(2);
    expect(own.stderr).toContain("unknown option '--no-such-flag'");
    expect({ code: own.code, stderr: own.stderr }).toEqual({ code: whole.code, stderr: whole.stderr });
  });

  it("is where the built binary goes for `daemon`, and only for it", () => {
    // A loader hook that names every module the binary loads.
    const dir = mkdtempSync(join(tmpdir(), "tsstack-entry-"));
    try {
      const hook = join(dir, "hook.mjs");
      writeFileSync(
        hook,
        "export async function load(url, ctx, next) { process.stderr.write(`LOAD ${url}\\n`); return next(url, ctx); }\n",
      );
      const loaded = (args: string[]): string[] =>
        spawnSync(
          process.execPath,
          ["--no-warnings", "--loader", hook, join(repoRoot, "bin/tsstack.js"), ...args],
          // Never start an engine: `ps` below must fail to connect, not bring a daemon up.
          { encoding: "utf8", env: { ...process.env, TSSTACK_NO_AUTOSTART: "1" } },
        )
          .stderr.split("\n")
          .filter((l) => l.startsWith("LOAD file:"))
          .map((l) => l.slice(l.indexOf("/dist/") + 1));
      const forDaemon = loaded(["daemon", "--help"]);
      expect(forDaemon).toContain("dist/cli/daemon-main.js");
      expect(forDaemon).not.toContain("dist/cli/main.js");
      expect(forDaemon.filter((m) => m.startsWith("dist/cli/commands/compose/"))).toEqual([]);
      const forOthers = loaded(["--version"]);
      expect(forOthers).toContain("dist/cli/main.js");
      expect(forOthers).not.toContain("dist/cli/daemon-main.js");
      // A command that talks to the engine loads the client side only, not the engine itself.
      const forPs = loaded(["--root", join(dir, "root"), "--socket", join(dir, "none.sock"), "ps"]);
      expect(forPs).toContain("dist/api/connect.js");
      expect(forPs).not.toContain("dist/api/daemon.js");
      expect(forPs).not.toContain("dist/runtime/embedded.js");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
