import { spawn } from "node:child_process";
import { once } from "node:events";
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { describe, expect, it } from "vitest";

import { TsstackError } from "../../../src/common/errors.js";
import { acquireLock, isAlive } from "../../../src/common/lock.js";
import { useTmpDirs } from "../../helpers/tmp.js";

const tmp = useTmpDirs("tsstack-lock-");
const fast = { timeoutMs: 100, pollMs: 10 };

/** The pid of a process that has exited (and been reaped). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", "process.exit(0)"], { stdio: "ignore" });
  await once(child, "exit");
  const pid = child.pid;
  if (pid === undefined) throw new Error("spawn gave no pid");
  expect(isAlive(pid)).toBe(false);
  return pid;
}

async function rejection(promise: Promise<unknown>): Promise<TsstackError> {
  try {
    await promise;
  } catch (e) {
    expect(e).toBeInstanceOf(TsstackError);
    return e as TsstackError;
  }
  throw new Error("expected a rejection");
}

describe("acquireLock", () => {
  it("is exclusive: a second acquirer waits until the first releases", async () => {
    const path = join(await tmp(), "lock");
    const first = await acquireLock(path, fast);
    expect((await readFile(path, "utf8")).split("\n")[0]).toBe(String(process.pid));

    let waited = 0;
    let secondHeld = false;
    const second = acquireLock(path, {
      timeoutMs: 5_000,
      pollMs: 10,
      onWait: () => waited++,
    }).then((lock) => {
      secondHeld = true;
      return lock;
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(secondHeld).toBe(false);
    await first.release();
    const lock = await second;
    expect(waited).toBe(1);
    expect((await readFile(path, "utf8")).split("\n")[0]).toBe(String(process.pid));
    await lock.release();
    await expect(stat(path)).rejects.toThrow();
  });

  it("fails after the timeout with store/locked naming the resource, the holder and the fix", async () => {
    const path = join(await tmp(), "lock");
    const held = await acquireLock(path, fast);
    const waits: (number | undefined)[] = [];
    const error = await rejection(
      acquireLock(path, { ...fast, resource: "image store /x", onWait: (pid) => waits.push(pid) }),
    );
    expect(error.code).toBe("store/locked");
    expect(error.message).toContain("image store /x");
    expect(error.message).toContain(`process ${process.pid}`);
    expect(error.message).toContain(
      "another tsstack command is using image store /x; wait for it or stop it",
    );
    expect(waits).toEqual([process.pid]);
    await held.release();
  });

  it("takes over a stale lock whose holder is dead", async () => {
    const dir = await tmp();
    const path = join(dir, "lock");
    const pid = await deadPid();
    await writeFile(path, `${pid}\nsometoken\n2020-01-01T00:00:00.000Z\n`);
    let waited = false;
    const lock = await acquireLock(path, { ...fast, onWait: () => (waited = true) });
    expect(waited).toBe(false);
    expect((await readFile(path, "utf8")).split("\n")[0]).toBe(String(process.pid));
    // The stale file was moved aside and deleted: nothing else is left.
    expect(await readdir(dir)).toEqual(["lock"]);
    await lock.release();
  });

  it("concurrent acquirers of a stale lock: exactly one holds it at a time", async () => {
    const path = join(await tmp(), "lock");
    await writeFile(path, `${await deadPid()}\nsometoken\n`);
    let holders = 0;
    let maxHolders = 0;
    await Promise.all(
      Array.from({ length: 5 }, async () => {
        const lock = await acquireLock(path, { timeoutMs: 5_000, pollMs: 5 });
        holders++;
        maxHolders = Math.max(maxHolders, holders);
        await new Promise((r) => setTimeout(r, 10));
        holders--;
        await lock.release();
      }),
    );
    expect(maxHolders).toBe(1);
  });

  it("takes over an unreadable lock file only once it is old", async () => {
    const path = join(await tmp(), "lock");
    await writeFile(path, "");
    expect((await rejection(acquireLock(path, fast))).code).toBe("store/locked");
    const { utimes } = await import("node:fs/promises");
    const old = new Date(Date.now() - 60_000);
    await utimes(path, old, old);
    const lock = await acquireLock(path, fast);
    await lock.release();
  });

  it("release removes only its own lock, and is idempotent", async () => {
    const path = join(await tmp(), "lock");
    const lock = await acquireLock(path, fast);
    // Someone else's lock replaced ours (e.g. ours was judged stale and taken over).
    await writeFile(path, `${process.pid}\nanother-token\n`);
    await lock.release();
    expect(await readFile(path, "utf8")).toBe(`${process.pid}\nanother-token\n`);
    await lock.release();
    expect(await readFile(path, "utf8")).toBe(`${process.pid}\nanother-token\n`);
  });

  it("a process that exits without releasing removes its lock file", async () => {
    const path = join(await tmp(), "lock");
    const lockUrl = new URL("../../../src/common/lock.ts", import.meta.url).href;
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "--input-type=module",
        "-e",
        `const { acquireLock } = await import(${JSON.stringify(lockUrl)});
        await acquireLock(${JSON.stringify(path)}, { timeoutMs: 1000, pollMs: 10 });
        process.exit(0);`,
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(child, "exit")) as [number | null];
    expect(stderr).toBe("");
    expect(code).toBe(0);
    await expect(stat(path)).rejects.toThrow();
  });
});
