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
   * Skip the fsyncs (default false). The rename still makes the write all-or-nothing for any crash of
   * the process; only a power loss can then leave the previous content. For state the next boot
   * makes void anyway (which containers run), where a sync on every change costs milliseconds.
   */
  readonly noSync?: boolean;
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
      if (options.noSync !== true) await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (error) {
    await unlink(tmp).catch(() => undefined);
    throw error;
  }
  if (options.noSync !== true) await fsyncDir(dir);
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
