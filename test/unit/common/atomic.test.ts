/**
 * writeFileAtomic: the target holds the old or the new content, never a torn or temporary file; the
 * mode is honoured; a failure leaves no temporary file behind.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { isAtomicTempName, writeFileAtomic } from "../../../src/common/atomic.js";

const dirs: string[] = [];
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), "tsstack-atomic-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("writeFileAtomic", () => {
  it("replaces the content whole, strings and bytes, leaving no temporary file", async () => {
    const d = dir();
    const path = join(d, "record.json");
    writeFileSync(path, "old content that is longer than the new one\n");
    await writeFileAtomic(path, "new\n");
    expect(readFileSync(path, "utf8")).toBe("new\n");
    const big = Buffer.alloc(300_000, 7);
    await writeFileAtomic(path, big, 0o644, { syncDir: false });
    expect(readFileSync(path).equals(big)).toBe(true);
    expect(readdirSync(d)).toEqual(["record.json"]);
  });

  it("gives the mode (exactly, past the umask, with exactMode)", async () => {
    const d = dir();
    await writeFileAtomic(join(d, "a"), "x", 0o600);
    expect(statSync(join(d, "a")).mode & 0o777).toBe(0o600);
    const old = process.umask(0o077);
    try {
      await writeFileAtomic(join(d, "b"), "x", 0o644, { exactMode: true });
    } finally {
      process.umask(old);
    }
    expect(statSync(join(d, "b")).mode & 0o777).toBe(0o644);
  });

  it("fails without touching the target or leaving a temporary file", async () => {
    const d = dir();
    const path = join(d, "target");
    writeFileSync(path, "kept\n");
    // A directory where the target should be: the rename fails.
    mkdirSync(join(d, "sub"));
    writeFileSync(join(d, "sub", "inside"), "");
    await expect(writeFileAtomic(join(d, "sub"), "x")).rejects.toMatchObject({ code: "EISDIR" });
    await expect(writeFileAtomic(join(d, "missing", "f"), "x")).rejects.toMatchObject({ code: "ENOENT" });
    expect(readFileSync(path, "utf8")).toBe("kept\n");
    expect(readdirSync(d).filter(isAtomicTempName)).toEqual([]);
  });
});
