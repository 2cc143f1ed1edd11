/**
 * Crash-safe file replacement. Readers see either the old or the new content, never a torn file:
 * the data goes to a temporary file in the same directory (rename is only atomic within a
 * filesystem), is fsynced, renamed over the target, and the directory is fsynced so the rename itself
 * survives a power loss.
 */
import { randomBytes } from "node:crypto";
import { open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** Prefix and suffix of the temporary files, so an owner can sweep leftovers of a crash. */
export const ATOMIC_TMP_PREFIX = ".";
export const ATOMIC_TMP_SUFFIX = ".atomic-tmp";

export function isAtomicTempName(name: string): boolean {
  return name.startsWith(ATOMIC_TMP_PREFIX) && name.endsWith(ATOMIC_TMP_SUFFIX);
}

export interface AtomicWriteOptions {
  /**
   * Give the file exactly `mode`, whatever the umask: the temporary file is chmod'ed before anything is
   * written to it. It is created with `mode` either way, so it is never more open than `mode`.
   */
  readonly exactMode?: boolean;
  /**
   * Make the rename durable too (fsync of the directory; default true). Without it, a power loss may
   * bring back the previous content, never a torn or empty file (the data is synced before the
   * rename either way): for state the next boot re-derives anyway.
   */
  readonly syncDir?: boolean;
}

/**
 * Atomically replaces `path` with `data`.
 *
 * @param mode permission bits of the new file (default 0o644; the umask applies unless `exactMode`).
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  mode = 0o644,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const dir = dirname(path);
  const tmp = join(
    dir,
    `${ATOMIC_TMP_PREFIX}${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}${ATOMIC_TMP_SUFFIX}`,
  );
  const handle = await open(tmp, "wx", mode);
  try {
    try {
      if (options.exactMode === true) await handle.chmod(mode);
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (error) {
    await unlink(tmp).catch(() => undefined);
    throw error;
  }
  if (options.syncDir !== false) await fsyncDir(dir);
}

/** Makes renames and unlinks inside `dir` durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
