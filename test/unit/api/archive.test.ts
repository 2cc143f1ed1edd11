import { describe, expect, it } from "vitest";
import { encodePathStat, pathStat, tarEntryFileMode } from "../../../src/api/routes/archive.js";
import { TarType, type TarEntry } from "../../../src/runtime/images/tar.js";

function entry(over: Partial<TarEntry>): TarEntry {
  return {
    name: "x",
    type: TarType.file,
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: 0,
    mtime: { seconds: 0, fraction: "" },
    linkname: "",
    devmajor: 0,
    devminor: 0,
    xattrs: new Map(),
    ...over,
  };
}

describe("Docker's path stat", () => {
  it.each([
    ["a file", TarType.file, 0o644, 0o644],
    ["a directory (os.ModeDir)", TarType.dir, 0o755, 2 ** 31 + 0o755],
    ["a symlink (os.ModeSymlink)", TarType.symlink, 0o777, 2 ** 27 + 0o777],
    ["a fifo", TarType.fifo, 0o600, 2 ** 25 + 0o600],
    ["a char device", TarType.char, 0o666, 2 ** 26 + 2 ** 21 + 0o666],
    ["setuid + sticky bits", TarType.file, 0o5755, 2 ** 23 + 2 ** 20 + 0o755],
  ])("gives Go's os.FileMode of %s", (_what, type, mode, expected) => {
    expect(tarEntryFileMode({ type, mode })).toBe(expected);
  });

  it("names the path's base, with Go's RFC 3339 time and the link target", () => {
    const stat = pathStat(
      "/usr/bin/",
      entry({
        type: TarType.symlink,
        linkname: "b\xc3\xa9",
        mtime: { seconds: 1_700_000_000, fraction: "120" },
      }),
    );
    expect(stat).toEqual({
      name: "bin",
      size: 0,
      mode: 2 ** 27 + 0o644,
      mtime: "2023-11-14T22:13:20.12Z",
      linkTarget: "bé",
    });
    expect(pathStat("/", entry({ type: TarType.dir })).name).toBe("/");
    expect(JSON.parse(Buffer.from(encodePathStat(stat), "base64").toString())).toEqual(stat);
  });
});
