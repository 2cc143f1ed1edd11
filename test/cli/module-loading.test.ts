/**
 * What the built CLI loads for a run (command groups load on demand, src/cli/command-groups.ts): the
 * daemon does not hold the rest of the CLI, and engine commands do not load the engine.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../helpers/corpora.js";

describe("modules the built CLI loads", () => {
  it("loads one command group per run: the daemon, a stack command and a container command", () => {
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
      expect(forDaemon).toContain("dist/cli/commands/daemon.js");
      for (const other of ["compose/commands.js", "image.js", "container.js", "network.js"])
        expect(forDaemon).not.toContain(`dist/cli/commands/${other}`);
      const forUp = loaded(["--root", join(dir, "root"), "--socket", join(dir, "none.sock"), "up", "--help"]);
      expect(forUp).toContain("dist/cli/commands/compose/commands.js");
      // The image store, the registry client and archives are the image commands' business.
      expect(forUp.filter((m) => /^dist\/runtime\/images\/(store|archive|registry\/)/.test(m))).toEqual([]);
      expect(forUp).not.toContain("dist/cli/commands/container.js");
      // A command that talks to the engine loads the client side only, not the engine itself.
      const forPs = loaded(["--root", join(dir, "root"), "--socket", join(dir, "none.sock"), "ps"]);
      expect(forPs).toContain("dist/api/connect.js");
      expect(forPs).not.toContain("dist/api/daemon.js");
      expect(forPs).not.toContain("dist/runtime/embedded.js");
      expect(forPs).not.toContain("dist/spec/load.js");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
