/**
 * The file-system work behind mounts: mount points created inside a container root (resolved with
 * `resolveInRoot`, so an image's symlinks never lead out of it), image content copied up into a new
 * volume, sizes for `volume prune`.
 *
 * Like src/runtime/containers/rootfs.ts, these run on a root whose container is not running (the
 * engine calls `mountsFor` after mounting the rootfs and before `runc create`).
 */
import { execFile } from "node:child_process";
import { constants } from "node:fs";
import { chmod, lstat, mkdir, open, readdir } from "node:fs/promises";
import { join, resolve } from "node:path";

import { TsstackError } from "../common/errors.js";
import { resolveInRoot } from "../runtime/containers/rootfs.js";

/**
 * Makes sure `target` (absolute, in the container) exists in `rootfs` as a directory, or as a file
 * when a file is to be bind-mounted there, as runc needs. Missing components are created (mode 0755,
 * root-owned, as Docker does); mkdir and `O_CREAT|O_EXCL|O_NOFOLLOW` never follow a symlink in the
 * last component, and every existing component is checked to be a directory.
 *
 * `lastMode`: the mode of the target directory when it is created here. runc 1.1 gives a tmpfs the
 * mode of the directory it is mounted on (overriding `mode=`), so a tmpfs mount point is made with
 * the tmpfs' mode.
 *
 * Throws `container/invalid-config` when a component exists as something else.
 */
export async function ensureMountpoint(
  rootfs: string,
  target: string,
  kind: "dir" | "file",
  what: string,
  lastMode = 0o755,
): Promise<void> {
  const base = resolve(rootfs);
  const host = await resolveInRoot(base, target);
  const rel = host === base ? [] : host.slice(base.length + 1).split("/");
  let current = base;
  for (const [i, c] of rel.entries()) {
    current = join(current, c);
    const last = i === rel.length - 1;
    if (last && kind === "file") {
      try {
        const handle = await open(
          current,
          constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
          0o644,
        );
        await handle.close();
        return;
      } catch (err) {
        if (!isErrno(err, "EEXIST")) throw mountpointError(what, target, err);
      }
      const st = await lstat(current);
      if (st.isDirectory() || st.isSymbolicLink())
        throw new TsstackError(
          "container/invalid-config",
          `${what}: cannot mount a file at ${target}: it is a ${st.isDirectory() ? "directory" : "symlink"} in the image`,
        );
      return;
    }
    try {
      await mkdir(current, { mode: 0o755 });
      // mkdir applies the umask; the tmpfs mode must be exact.
      if (last && lastMode !== 0o755) await chmod(current, lastMode);
      continue;
    } catch (err) {
      if (!isErrno(err, "EEXIST")) throw mountpointError(what, target, err);
    }
    const st = await lstat(current);
    if (!st.isDirectory())
      throw new TsstackError(
        "container/invalid-config",
        `${what}: cannot mount at ${target}: ${current.slice(base.length) || "/"} is not a directory in the container`,
      );
  }
}

function mountpointError(what: string, target: string, err: unknown): TsstackError {
  return new TsstackError(
    "container/invalid-config",
    `${what}: creating the mount point ${target}: ${errorText(err)}`,
    { cause: err },
  );
}

/**
 * The host directory of `target` in the image when it is a directory with content to copy up
 * (Docker copies image content into an empty volume mounted over it), else undefined.
 */
export async function imageDirAt(rootfs: string, target: string): Promise<string | undefined> {
  const host = await resolveInRoot(rootfs, target);
  try {
    return (await lstat(host)).isDirectory() ? host : undefined;
  } catch (err) {
    if (isErrno(err, "ENOENT") || isErrno(err, "ENOTDIR")) return undefined;
    throw err;
  }
}

export async function isEmptyDir(dir: string): Promise<boolean> {
  return (await readdir(dir)).length === 0;
}

/**
 * Copies the contents of `from` into the directory `to`, and `from`'s own owner and mode onto `to`:
 * `cp -a -T` keeps owners, modes, timestamps, symlinks (never followed), hard links, devices and
 * extended attributes, as Docker's copy-up does.
 */
export function copyTree(from: string, to: string, what: string): Promise<void> {
  return new Promise((done, fail) => {
    execFile(
      "cp",
      ["-a", "-T", "--", from, to],
      { env: { PATH: process.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C" } },
      (error, _stdout, stderr) => {
        if (error === null) done();
        else
          fail(
            new TsstackError(
              "volume/copy-failed",
              `${what}: copying ${from} into ${to} failed: ${stderr.trim() || error.message}`,
              { cause: error },
            ),
          );
      },
    );
  });
}

/** Bytes used by the files under `dir` (symlinks not followed; hard links counted once). */
export async function diskUsage(dir: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      const st = await lstat(p).catch(() => undefined);
      if (st === undefined) continue;
      const key = `${st.dev}:${st.ino}`;
      if (!seen.has(key)) {
        seen.add(key);
        total += st.size;
      }
      if (st.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return total;
}

export function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
