/**
 * Exclusive, crash-safe lock files between processes (Node has no flock).
 *
 * The lock is a file created with O_EXCL (`open(path, "wx")`) holding the owner's pid and a token
 * unique to this acquisition. A lock whose pid is no longer running (`kill(pid, 0)` → ESRCH) is stale:
 * its owner crashed or was killed, and the next acquirer takes it over. Takeover is race-safe: only the
 * holder of a short-lived guard file may delete a stale lock, and only if it still has the content that
 * was judged stale (see removeStale).
 *
 * Within one process, a second `acquireLock` of the same path waits like another process would (the
 * holder's pid is alive): locks are not re-entrant.
 */
import { randomBytes } from "node:crypto";
import { closeSync, openSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { readFile, stat, unlink } from "node:fs/promises";

import { TsstackError } from "./errors.js";

export interface LockOptions {
  /** How long to wait for a live holder before failing with `store/locked`. */
  readonly timeoutMs: number;
  /** How often to check the lock while waiting. */
  readonly pollMs: number;
  /** Called once, when the lock is found held by a live process and waiting begins. */
  readonly onWait?: (holderPid: number | undefined) => void;
  /** What the lock protects, for the error message. Default: the lock path. */
  readonly resource?: string;
}

export interface Lock {
  readonly path: string;
  /** Removes the lock file if it is still ours. Idempotent. */
  release(): Promise<void>;
}

/**
 * A lock file whose content cannot be parsed (its owner died between creating and writing it) is
 * treated as stale once it is this old; younger, its owner may still be writing it.
 */
const UNREADABLE_STALE_MS = 5_000;

/** Locks this process holds: lock path → content, removed on exit if the owner never released. */
const held = new Map<string, string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const [path, content] of held) {
      try {
        if (readFileSync(path, "utf8") === content) unlinkSync(path);
      } catch {
        // best effort
      }
    }
    held.clear();
  });
}

export async function acquireLock(path: string, opts: LockOptions): Promise<Lock> {
  const resource = opts.resource ?? path;
  const content = `${process.pid}\n${randomBytes(12).toString("hex")}\n${new Date().toISOString()}\n`;
  const deadline = Date.now() + opts.timeoutMs;
  let waiting = false;
  for (;;) {
    if (await tryCreate(path, content)) break;
    const holder = await readHolder(path);
    if (holder === undefined) continue; // vanished: released just now
    if (await isStale(path, holder)) {
      await removeStale(path, holder.content);
      continue;
    }
    if (Date.now() >= deadline) {
      const who = holder.pid !== undefined ? `process ${holder.pid}` : "another process";
      throw new TsstackError(
        "store/locked",
        `${resource} is locked by ${who} (lock file ${path}): another tsstack command is using ${resource}; wait for it or stop it`,
      );
    }
    if (!waiting) {
      waiting = true;
      opts.onWait?.(holder.pid);
    }
    await sleep(Math.min(opts.pollMs, Math.max(1, deadline - Date.now())));
  }
  held.set(path, content);
  installExitHook();
  let released = false;
  return {
    path,
    // Synchronous steps, as in tryCreate; the promise keeps the interface open to other lock kinds.
    release(): Promise<void> {
      if (released) return Promise.resolve();
      released = true;
      held.delete(path);
      let current: string | undefined;
      try {
        current = readFileSync(path, "utf8");
      } catch {
        current = undefined;
      }
      if (current === content) {
        try {
          unlinkSync(path);
        } catch (error) {
          if (errnoCode(error) !== "ENOENT")
            return Promise.reject(error instanceof Error ? error : new Error(String(error)));
        }
      }
      return Promise.resolve();
    },
  };
}

/**
 * Creates the lock file if it does not exist. Synchronous calls, as for every step on a lock file:
 * each is ~10-30 µs on a local file system, a thread-pool round trip ~100-500 µs, and the image store
 * takes its lock on every container create.
 */
async function tryCreate(path: string, content: string): Promise<boolean> {
  await Promise.resolve();
  let fd: number;
  try {
    fd = openSync(path, "wx", 0o644);
  } catch (error) {
    if (errnoCode(error) === "EEXIST") return false;
    throw error;
  }
  try {
    // No fsync: a lock means nothing after a power loss (the holder's pid is checked for staleness).
    writeFileSync(fd, content);
  } catch (error) {
    await unlink(path).catch(() => undefined);
    throw error;
  } finally {
    try {
      closeSync(fd);
    } catch {
      // The content is written; a failed close loses nothing.
    }
  }
  return true;
}

interface Holder {
  readonly content: string;
  readonly pid: number | undefined;
}

async function readHolder(path: string): Promise<Holder | undefined> {
  let content: string;
  try {
    content = await readFile(path, "utf8");
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return undefined;
    throw error;
  }
  const first = content.split("\n", 1)[0] ?? "";
  const pid = /^[1-9][0-9]*$/.test(first) && content.includes("\n") ? Number(first) : undefined;
  return { content, pid };
}

async function isStale(path: string, holder: Holder): Promise<boolean> {
  if (holder.pid === undefined) {
    const info = await stat(path).catch(() => undefined);
    return info !== undefined && Date.now() - info.mtimeMs > UNREADABLE_STALE_MS;
  }
  return !isAlive(holder.pid);
}

/** Whether a process with this pid exists (EPERM: it does, owned by another user). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoCode(error) !== "ESRCH";
  }
}

/** A takeover guard older than this, whose holder is dead, was left by a crash mid-takeover. */
const GUARD_STALE_MS = 2_000;

/**
 * Removes a stale lock file that had `staleContent`, without ever deleting a lock another process
 * holds. Only one process at a time may remove a stale lock: it holds `<path>.takeover` (O_EXCL).
 * Under the guard, the check-then-unlink cannot be overtaken: while the stale file exists nobody can
 * create the lock, its dead owner cannot release it, and every other removal needs the guard. Callers
 * that find the guard taken simply retry.
 */
async function removeStale(path: string, staleContent: string): Promise<void> {
  const guard = `${path}.takeover`;
  const guardContent = `${process.pid}\n${randomBytes(12).toString("hex")}\n`;
  if (!(await tryCreate(guard, guardContent))) {
    await clearDeadGuard(guard);
    await sleep(1);
    return;
  }
  try {
    const current = await readFile(path, "utf8").catch(() => undefined);
    if (current === staleContent) await unlink(path).catch(ignoreMissing);
  } finally {
    await unlink(guard).catch(ignoreMissing);
  }
}

/**
 * A guard whose holder died during a takeover (a window of a few milliseconds) would block every
 * takeover of this lock: remove it once it is old and its pid is gone.
 */
async function clearDeadGuard(guard: string): Promise<void> {
  const holder = await readHolder(guard);
  if (holder === undefined) return;
  const info = await stat(guard).catch(() => undefined);
  if (info === undefined || Date.now() - info.mtimeMs < GUARD_STALE_MS) return;
  if (holder.pid !== undefined && isAlive(holder.pid)) return;
  const again = await readFile(guard, "utf8").catch(() => undefined);
  if (again === holder.content) await unlink(guard).catch(ignoreMissing);
}

function ignoreMissing(error: unknown): void {
  if (errnoCode(error) !== "ENOENT") throw error;
}

function errnoCode(error: unknown): string | undefined {
  return typeof error === "object" && error !== null && "code" in error && typeof error.code === "string"
    ? error.code
    : undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
