/**
 * A container's root filesystem on the host: the overlayfs mount (image snapshots as read-only
 * lowerdirs, a writable upper), and safe path resolution inside it.
 *
 * Everything here runs as root on the host against a tree a container controls. The rule: a path
 * that came from the container (or its image) is only ever used after `resolveInRoot`, which walks it
 * component by component, follows symlinks as the container would see them and never leaves the
 * root. What that cannot rule out is a race: a container process swapping a checked directory for a
 * symlink between our check and our use. Callers therefore use these functions on a rootfs whose
 * container is not running (before start, after stop) or is paused (the engine freezes the cgroup
 * around `docker cp`), as Docker does since CVE-2018-15664.
 */
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readlinkSync,
  readSync,
  realpathSync,
} from "node:fs";
import { chmod, lchown, lstat, mkdir, mkdtemp, rm, symlink } from "node:fs/promises";
import { dirname, join, posix, resolve } from "node:path";

import { TsstackError } from "../../common/errors.js";
import { hostHelper, MNT_DETACH, SyscallError, UMOUNT_NOFOLLOW } from "../../common/host-helper.js";

// ---------------------------------------------------------------------------------------------------
// Mounting

export interface OverlayMountOptions {
  /**
   * Image snapshot directories, lowest first, as `ImageStore.snapshotPaths` returns them (overlayfs
   * wants the topmost first; the order is reversed here). May be empty: an image without layers.
   */
  readonly lowerdirs: readonly string[];
  /** The container's writable layer. Created if missing. */
  readonly upper: string;
  /** overlayfs' scratch directory, on the same file system as `upper`. Created if missing. */
  readonly work: string;
  /** The mount point (the bundle's `rootfs`). Created if missing. */
  readonly target: string;
}

/**
 * Largest mount data string we hand to mount(2): the kernel copies one page of options (4 KiB on
 * x86-64 and on most arm64 kernels), NUL included. A little is kept spare for what libmount adds.
 */
const MAX_MOUNT_DATA = 4000;

/** Characters overlayfs' option parser treats specially in a path (`,` `:` separate, `\` escapes). */
const OVERLAY_SPECIAL = /[,:\\]/;

/**
 * Mounts an overlayfs at `target` with the snapshots as lowerdirs.
 *
 * Options: `index=off` (with the inode index on, overlayfs records the lower layers in `work` and
 * refuses a later mount with other lowers, e.g. after an image re-pull or a crash; Docker turns it
 * off too), `redirect_dir=off` and `metacopy=off` (so the upper directory alone describes the
 * container's changes: a renamed lower directory is copied up whole instead of leaving a redirect
 * xattr, and a chmod copies the data up instead of leaving a metadata-only file; `diffLayer` relies
 * on both), `xino=off` (no inode-number tricks that depend on the lower file systems' layout).
 *
 * Long layer lists: mount(2) takes at most one page of option data, which ~40 absolute snapshot
 * paths already exceed. When the absolute form does not fit (or a path contains `,` `:` `\`, which
 * overlayfs would split on), the lowerdirs are passed as short relative names: a fresh directory next
 * to `work` gets one symlink per layer (`0`, `1`, …) and mount runs with that directory as its working
 * directory, so the kernel resolves `lowerdir=59:58:…:0` relative to it (the symlinks are followed at
 * mount time). This is Docker's `l/` trick without a persistent link directory: the links are removed
 * right after the mount, which holds its own references to the layers. (Mounting from a common
 * parent alone would not do: 60 relative `<64 hex>` snapshot names are still ~3.9 KiB.)
 *
 * An image without layers gets an empty directory `empty-lower` next to `work` as its only lowerdir
 * (overlayfs requires one). It is never written to, so containers may share it.
 *
 * Throws `rootfs/already-mounted` when `target` is already a mount point (after a crash the engine
 * checks `isMountPoint` and re-adopts or unmounts instead), `rootfs/mount-failed` with the
 * system call's error otherwise.
 */
export async function mountOverlay(opts: OverlayMountOptions): Promise<void> {
  const upper = resolve(opts.upper);
  const work = resolve(opts.work);
  const target = resolve(opts.target);
  const what = `mounting the container root file system at ${target}`;
  for (const dir of [upper, work, target]) mkdirSync(dir, { recursive: true, mode: 0o755 });
  if (await isMountPoint(target)) {
    throw new TsstackError("rootfs/already-mounted", `${what}: ${target} is already a mount point`);
  }
  let lowers = opts.lowerdirs.map((p) => resolve(p));
  if (lowers.length === 0) {
    const empty = join(dirname(work), "empty-lower");
    await mkdir(empty, { recursive: true, mode: 0o755 });
    lowers = [empty];
  }
  const topFirst = [...lowers].reverse();
  const tail = `,upperdir=${upper},workdir=${work},index=off,redirect_dir=off,metacopy=off,xino=off`;
  if (OVERLAY_SPECIAL.test(upper) || OVERLAY_SPECIAL.test(work)) {
    throw new TsstackError(
      "rootfs/mount-failed",
      `${what}: the upper or work directory path contains "," ":" or "\\", which overlayfs cannot take`,
    );
  }
  const absolute = `lowerdir=${topFirst.join(":")}${tail}`;
  if (absolute.length <= MAX_MOUNT_DATA && !topFirst.some((p) => OVERLAY_SPECIAL.test(p))) {
    await mountData(what, target, absolute);
    return;
  }

  const links = await mkdtemp(join(dirname(work), ".lower-links-"));
  try {
    await Promise.all(lowers.map((p, i) => symlink(p, join(links, String(i)))));
    const short = `lowerdir=${topFirst.map((_, i) => String(topFirst.length - 1 - i)).join(":")}${tail}`;
    if (short.length > MAX_MOUNT_DATA) {
      throw new TsstackError(
        "rootfs/mount-failed",
        `${what}: ${lowers.length} layers do not fit in the mount options even with short names`,
      );
    }
    await mountData(what, target, short, links);
  } finally {
    await rm(links, { recursive: true, force: true });
  }
}

/** How `unmountOverlay` ended. */
export type UnmountResult = "unmounted" | "not-mounted" | "detached";

/**
 * Unmounts `target`. Idempotent: a path that is not a mount point (or does not exist) is
 * `"not-mounted"`. When the mount is busy (a process still has a file open or its cwd in it) it is
 * detached lazily (`umount -l`) and the result is `"detached"`: the mount point is free at once, the
 * file system goes away when its last user does — the caller should log that. Repeats while `target`
 * stays a mount point (a crash between two mounts can stack them).
 */
export async function unmountOverlay(target: string): Promise<UnmountResult> {
  const path = resolve(target);
  let result: UnmountResult = "not-mounted";
  // EINVAL: not (or no longer) a mount point; ENOENT: no such path. The path is never followed if it
  // is a symlink (a container cannot redirect the unmount).
  const gone = (e: unknown): boolean =>
    e instanceof SyscallError && (e.errno === "EINVAL" || e.errno === "ENOENT" || e.errno === "ENOTDIR");
  for (let i = 0; i < 8; i++) {
    try {
      await hostHelper("mounts").umount(path, UMOUNT_NOFOLLOW);
      if (result === "not-mounted") result = "unmounted";
      continue;
    } catch (e) {
      if (gone(e)) return result;
      if (!(e instanceof SyscallError && e.errno === "EBUSY"))
        throw new TsstackError(
          "rootfs/unmount-failed",
          `unmounting the container root file system at ${path}: ${errorText(e)}`,
          { cause: e },
        );
    }
    try {
      await hostHelper("mounts").umount(path, MNT_DETACH | UMOUNT_NOFOLLOW);
      result = "detached";
    } catch (e) {
      if (gone(e)) return result;
      throw new TsstackError(
        "rootfs/unmount-failed",
        `unmounting the container root file system at ${path}: it is busy and the lazy detach failed too: ${errorText(e)}`,
        { cause: e },
      );
    }
  }
  return result;
}

/**
 * Whether `path` is a mount point in this process's mount namespace, from /proc/self/mountinfo
 * (stat-based checks miss bind mounts of the same file system). The path is canonicalized first.
 */
export async function isMountPoint(path: string): Promise<boolean> {
  await Promise.resolve();
  let canonical: string;
  try {
    canonical = realpathSync(path);
  } catch {
    return false;
  }
  // Synchronous: /proc reads take microseconds; a start and an exit each ask.
  const info = readFileSync("/proc/self/mountinfo", "utf8");
  for (const line of info.split("\n")) {
    // "<id> <parent> <maj:min> <root> <mount point> <options> …", fields escaped as \ooo octal.
    const mountPoint = line.split(" ")[4];
    if (mountPoint !== undefined && unescapeMountinfo(mountPoint) === canonical) return true;
  }
  return false;
}

function unescapeMountinfo(field: string): string {
  if (!field.includes("\\")) return field;
  const bytes = Buffer.from(
    field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8))),
    "latin1",
  );
  return bytes.toString("utf8");
}

async function mountData(what: string, target: string, data: string, cwd?: string): Promise<void> {
  try {
    await hostHelper("mounts").mount("overlay", target, "overlay", data, cwd !== undefined ? { cwd } : {});
  } catch (e) {
    throw new TsstackError("rootfs/mount-failed", `${what}: mount(2) of overlay failed: ${errorText(e)}`, {
      cause: e,
    });
  }
}

/** A system call's errno and its text; another error's message. */
function errorText(e: unknown): string {
  return e instanceof SyscallError ? e.reason : e instanceof Error ? e.message : String(e);
}

// ---------------------------------------------------------------------------------------------------
// Paths inside the root

/** Symlinks followed in one resolution before giving up, as Linux's MAXSYMLINKS. */
const MAX_SYMLINKS = 40;

/**
 * Resolves `containerPath` as the container would see it with `root` as `/`, and returns the host
 * path. Like moby's `FollowSymlinkInScope` / filepath-securejoin: components are walked one by one;
 * a symlink's target is spliced in (an absolute target restarts at `root`), `..` never climbs above
 * `root`, and more than 40 symlinks is an error (`rootfs/symlink-loop`). Components that do not exist
 * are kept as they are (the result may not exist yet); so is a final component that is not a symlink.
 *
 * The result is always `root` or below it, and every existing component of it is a real directory
 * or (for the last) a non-symlink — at the time of the check (see the module note about races).
 */
export async function resolveInRoot(root: string, containerPath: string): Promise<string> {
  await Promise.resolve();
  const base = resolve(root);
  // A stack of components still to walk, the next one last.
  const pending = containerPath.split("/").reverse();
  const resolved: string[] = [];
  let followed = 0;
  while (pending.length > 0) {
    const c = pending.pop() ?? "";
    if (c === "" || c === ".") continue;
    if (c === "..") {
      resolved.pop();
      continue;
    }
    const host = join(base, ...resolved, c);
    let isLink: boolean;
    try {
      // Synchronous (~5 µs, against a thread-pool round trip of ~100 µs): a start resolves a few paths.
      isLink = lstatSync(host).isSymbolicLink();
    } catch (err) {
      if (!isErrno(err, "ENOENT") && !isErrno(err, "ENOTDIR")) throw err;
      isLink = false;
    }
    if (!isLink) {
      resolved.push(c);
      continue;
    }
    if (++followed > MAX_SYMLINKS) {
      throw new TsstackError(
        "rootfs/symlink-loop",
        `resolving ${JSON.stringify(containerPath)} in the container root ${base}: more than ${MAX_SYMLINKS} symlinks (a loop?)`,
      );
    }
    const target = readlinkSync(host);
    if (target.startsWith("/")) resolved.length = 0;
    pending.push(...target.split("/").reverse());
  }
  return join(base, ...resolved);
}

/** Largest /etc/passwd or /etc/group we read. */
const MAX_USER_DB = 1 << 20;

/** The image's user and group databases, for resolving `user: name[:group]`. */
export interface UserDb {
  /** Contents of /etc/passwd; undefined when it is missing or not a regular file. */
  readonly passwd?: string;
  /** Contents of /etc/group; undefined when it is missing or not a regular file. */
  readonly group?: string;
}

/**
 * Reads /etc/passwd and /etc/group of a container root, resolved in the root (a symlinked
 * /etc/passwd is followed as the container would, never to the host's). Only regular files are read
 * (a fifo or device there would block or leak); others count as missing. Throws `rootfs/user-db`
 * for a file larger than 1 MiB.
 */
export async function readUserDb(rootfs: string): Promise<UserDb> {
  const [passwd, group] = await Promise.all([
    readSmallFile(rootfs, "/etc/passwd"),
    readSmallFile(rootfs, "/etc/group"),
  ]);
  return {
    ...(passwd !== undefined ? { passwd } : {}),
    ...(group !== undefined ? { group } : {}),
  };
}

/** Synchronous calls, as in resolveInRoot: small files read on every start. */
async function readSmallFile(rootfs: string, containerPath: string): Promise<string | undefined> {
  const host = await resolveInRoot(rootfs, containerPath);
  const what = `reading ${containerPath} of the container root ${rootfs}`;
  let fd;
  try {
    // O_NOFOLLOW: the path was resolved, so a symlink here is a swap since; O_NONBLOCK: a fifo does
    // not block the open (it is then refused as not regular).
    fd = openSync(host, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if (isErrno(err, "ENOENT") || isErrno(err, "ENOTDIR")) return undefined;
    throw new TsstackError("rootfs/user-db", `${what}: ${errorText(err)}`, { cause: err });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return undefined;
    if (st.size > MAX_USER_DB) {
      throw new TsstackError("rootfs/user-db", `${what}: it is larger than 1 MiB (${st.size} bytes)`);
    }
    const buf = Buffer.alloc(st.size + 1);
    let length = 0;
    // Read to EOF rather than trusting the size, but never past the cap.
    for (;;) {
      const bytesRead = readSync(fd, buf, length, buf.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length >= buf.length) {
        throw new TsstackError("rootfs/user-db", `${what}: it grew while being read`);
      }
    }
    return buf.toString("utf8", 0, length);
  } finally {
    closeSync(fd);
  }
}

/**
 * Makes sure the working directory exists in the container root, as Docker does before starting a
 * container: `workdir` (absolute) is resolved in the root, then each missing component is created
 * with mkdir (which never follows a symlink in the last component) as mode 0755 owned by
 * `uid:gid`; existing components keep their owner and mode. Returns the host path.
 *
 * Throws `rootfs/workdir` when `workdir` is relative or a component exists as a non-directory (or
 * turned into a symlink during the walk: the container must not be running).
 */
export async function ensureWorkingDir(
  rootfs: string,
  workdir: string,
  uid: number,
  gid: number,
): Promise<string> {
  const base = resolve(rootfs);
  const what = `creating the working directory ${JSON.stringify(workdir)} in ${base}`;
  if (!posix.isAbsolute(workdir)) {
    throw new TsstackError("rootfs/workdir", `${what}: it must be an absolute path`);
  }
  const host = await resolveInRoot(base, workdir);
  const rel = host === base ? [] : host.slice(base.length + 1).split("/");
  let current = base;
  for (const c of rel) {
    current = join(current, c);
    try {
      await mkdir(current, { mode: 0o755 });
      // mkdir's mode is filtered by the umask; Docker's MkdirAllAndChown sets 0755 exactly.
      await lchown(current, uid, gid);
      await chmod(current, 0o755);
      continue;
    } catch (err) {
      if (!isErrno(err, "EEXIST")) {
        throw new TsstackError("rootfs/workdir", `${what}: ${errorText(err)}`, { cause: err });
      }
    }
    const st = await lstat(current);
    if (!st.isDirectory()) {
      const kind = st.isSymbolicLink() ? "a symlink (changed while being checked)" : "not a directory";
      throw new TsstackError("rootfs/workdir", `${what}: ${current.slice(base.length) || "/"} is ${kind}`);
    }
  }
  return host;
}

// ---------------------------------------------------------------------------------------------------

function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}
