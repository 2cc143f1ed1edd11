/**
 * Mount points inside a container root and copy-up, on real directories as root: an image's symlinks
 * never lead the engine out of the root, and copied content keeps owners, modes and symlinks.
 */
import { existsSync } from "node:fs";
import { chown, lstat, mkdir, readlink, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { copyTree, ensureMountpoint, imageDirAt } from "../../../src/volumes/host-fs.js";
import { useTmpDirs } from "../../helpers/tmp.js";

const tmp = useTmpDirs("tsstack-volumes-fs-");
const asRoot = process.getuid?.() === 0;

describe("ensureMountpoint", () => {
  it("creates missing directories and files inside the root", async () => {
    const root = await tmp();
    await ensureMountpoint(root, "/a/b/c", "dir", "test");
    expect((await stat(join(root, "a/b/c"))).isDirectory()).toBe(true);
    await ensureMountpoint(root, "/etc/app.conf", "file", "test");
    expect((await stat(join(root, "etc/app.conf"))).isFile()).toBe(true);
  });

  it("follows an image's absolute symlink inside the root, never to the host", async () => {
    const root = await tmp();
    const outside = await tmp();
    // As the container sees it: /data → /<outside path>, which is <root>/<outside path>.
    await symlink(outside, join(root, "data"));
    await symlink("../../../../../../..", join(root, "up"));
    await ensureMountpoint(root, "/data/x", "dir", "test");
    await ensureMountpoint(root, "/up/y", "dir", "test");
    expect(existsSync(join(outside, "x"))).toBe(false);
    expect((await stat(join(root, outside, "x"))).isDirectory()).toBe(true);
    expect((await stat(join(root, "y"))).isDirectory()).toBe(true);
  });

  it("refuses a path through a file, or a file mount over a directory", async () => {
    const root = await tmp();
    await writeFile(join(root, "f"), "");
    await mkdir(join(root, "d"));
    await expect(ensureMountpoint(root, "/f/x", "dir", "starting container c")).rejects.toMatchObject({
      code: "container/invalid-config",
      message: expect.stringContaining("/f is not a directory") as string,
    });
    await expect(ensureMountpoint(root, "/d", "file", "starting container c")).rejects.toMatchObject({
      code: "container/invalid-config",
    });
  });
});

describe.skipIf(!asRoot)("copy-up", () => {
  it("copies owners, modes and symlinks (not followed) into the volume", async () => {
    const root = await tmp();
    const volume = await tmp();
    const src = join(root, "var/lib/app");
    await mkdir(join(src, "sub"), { recursive: true, mode: 0o750 });
    await chown(src, 1234, 4321);
    await writeFile(join(src, "sub/data"), "x", { mode: 0o600 });
    await chown(join(src, "sub/data"), 99, 98);
    await symlink("/etc/shadow", join(src, "link"));
    const from = await imageDirAt(root, "/var/lib/app");
    expect(from).toBe(src);
    await copyTree(from ?? "", volume, "test");
    expect(await stat(volume)).toMatchObject({ uid: 1234, gid: 4321 });
    expect(await stat(join(volume, "sub/data"))).toMatchObject({ uid: 99, gid: 98, mode: 0o100600 });
    expect((await lstat(join(volume, "link"))).isSymbolicLink()).toBe(true);
    expect(await readlink(join(volume, "link"))).toBe("/etc/shadow");
    expect(await imageDirAt(root, "/missing")).toBeUndefined();
  });
});
