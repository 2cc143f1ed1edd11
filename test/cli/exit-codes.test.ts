import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { CliIo } from "../../src/cli/io.js";
import { isInvalidInput, main } from "../../src/cli/main.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "tsstack-exit-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function run(argv: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = "";
  const io: CliIo = {
    stdout: { write: () => true },
    stderr: { write: (s: string) => (stderr += s) },
    env: {},
    cwd: dir,
    homeDir: dir,
  };
  return { code: await main(["--root", join(dir, "root"), ...argv], io), stderr };
}

describe("exit codes for invalid input", () => {
  it("exits 2 for an invalid image reference, naming it", async () => {
    const r = await run(["image", "pull", "BAD REF"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("BAD REF");
  });

  it("exits 2 for an archive that is not a tar", async () => {
    const file = join(dir, "not-a.tar");
    writeFileSync(file, "this is not a tar archive\n".repeat(40));
    const r = await run(["image", "load", "-i", file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("not-a.tar");
  });

  it("exits 1 when the world fails, e.g. no registry listening", async () => {
    const r = await run(["image", "pull", "127.0.0.1:9/none/such:1"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("127.0.0.1:9");
  });

  it.each([
    ["spec/invalid", true],
    ["image/invalid-reference", true],
    ["image/invalid-archive", true],
    ["layer/hostile", true],
    ["registry/unreachable", false],
    ["image/not-found", false],
    ["internal", false],
  ])("classifies %s as invalid input: %s", (code, expected) => {
    expect(isInvalidInput(code)).toBe(expected);
  });
});
