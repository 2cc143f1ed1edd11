/**
 * Docker's stat of a path in a container (`docker cp`'s `X-Docker-Container-Path-Stat`): the mode is
 * a Go `os.FileMode` and the time Go's RFC 3339 with nanoseconds. Shared by the embedded runtime (from
 * `lstat`) and the API (from a tar header).
 */

/** The HTTP header Docker's archive endpoints carry the stat in (base64 of its JSON). */
export const PATH_STAT_HEADER = "X-Docker-Container-Path-Stat";

export type FileKind = "file" | "dir" | "symlink" | "char" | "block" | "fifo" | "socket";

// Go's os.FileMode bits (io/fs). Above 2^31, so added arithmetically, never with `|`.
const GO_MODE = {
  dir: 2 ** 31,
  symlink: 2 ** 27,
  device: 2 ** 26,
  namedPipe: 2 ** 25,
  socket: 2 ** 24,
  setuid: 2 ** 23,
  setgid: 2 ** 22,
  charDevice: 2 ** 21,
  sticky: 2 ** 20,
} as const;

const TYPE_BITS: Readonly<Record<FileKind, number>> = {
  file: 0,
  dir: GO_MODE.dir,
  symlink: GO_MODE.symlink,
  char: GO_MODE.device + GO_MODE.charDevice,
  block: GO_MODE.device,
  fifo: GO_MODE.namedPipe,
  socket: GO_MODE.socket,
};

/** The Go `os.FileMode` of a file of `kind` with the permission/special bits of `mode`. */
export function goFileMode(kind: FileKind, mode: number): number {
  let bits = mode & 0o777;
  if ((mode & 0o4000) !== 0) bits += GO_MODE.setuid;
  if ((mode & 0o2000) !== 0) bits += GO_MODE.setgid;
  if ((mode & 0o1000) !== 0) bits += GO_MODE.sticky;
  return bits + TYPE_BITS[kind];
}

/** The kind of file a `st_mode` describes. */
export function fileKindOfMode(stMode: number): FileKind {
  switch (stMode & 0o170000) {
    case 0o040000:
      return "dir";
    case 0o120000:
      return "symlink";
    case 0o020000:
      return "char";
    case 0o060000:
      return "block";
    case 0o010000:
      return "fifo";
    case 0o140000:
      return "socket";
    default:
      return "file";
  }
}

/** Go's RFC 3339 with nanoseconds: the fraction (decimal digits) without trailing zeros, none when whole. */
export function goTime(seconds: number, fraction: string): string {
  const base = new Date(seconds * 1000).toISOString().replace(/\.\d+Z$/, "");
  const frac = fraction.replace(/0+$/, "");
  return `${base}${frac !== "" ? `.${frac}` : ""}Z`;
}

/** Docker's name for a stat of `path`: Go's `filepath.Base` ("/" for the root, "." for `dir/.`). */
export function statName(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  if (trimmed === "") return "/";
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}

/** Whether a Go `os.FileMode` is a directory's. */
export function isGoDirMode(mode: number): boolean {
  return mode >= GO_MODE.dir;
}
