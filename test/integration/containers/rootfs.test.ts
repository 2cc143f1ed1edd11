/**
 * The container root file system against real overlayfs (as root): mounting 1, 0 and 60 layers,
 * whiteouts and opaque directories from image layers, writes going to the upper directory,
 * idempotent and lazy unmounting; path resolution inside a root (a table of hostile symlinks), the
 * user database and the working directory, each with a host-side sentinel that must stay untouched.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { lstat, mkdir, open, readFile, readdir, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { beforeEach, describe, expect, it } from "vitest";

import { TsstackError } from "../../../src/common/errors.js";
import {
  ensureWorkingDir,
  isMountPoint,
  mountOverlay,
  readUserDb,
  resolveInRoot,
  unmountOverlay,
} from "../../../src/runtime/containers/rootfs.js";
import { tarToBuffer, type TarWriteEntry } from "../../../src/runtime/images/tar-writer.js";
import { MediaType } from "../../../src/runtime/images/types.js";
import { unpackLayer } from "../../../src/runtime/images/unpack.js";
import { addBusyboxImage, buildBusyboxImage } from "../../helpers/busybox-image.js";
import { useImageStores } from "../../helpers/stores.js";
import { useOverlayMounts } from "../../helpers/overlay.js";
import { useTmpDirs } from "../../helpers/tmp.js";

const tmp = useTmpDirs("tsstack-rootfs-");
const openStore = useImageStores();
const isRoot = process.getuid?.() === 0;

const { testDir, mount, unmountAfter } = useOverlayMounts(tmp);

/** A layer directory from tar entries, through the real layer unpacker (whiteouts included). */
async function layerDir(dir: string, name: string, entries: TarWriteEntry[]): Promise<string> {
  const blobPath = join(dir, `${name}.tar`);
  await writeFile(blobPath, await tarToBuffer(entries));
  const dest = join(dir, name);
  await mkdir(dest, { recursive: true });
  await unpackLayer({ blobPath, mediaType: MediaType.ociLayer, dest });
  return dest;
}

const file = (name: string, body: string): TarWriteEntry => ({ name, type: "file", body: Buffer.from(body) });
const dir = (name: string): TarWriteEntry => ({ name, type: "directory" });

describe.runIf(isRoot)("mountOverlay", () => {
  it("mounts a real image's single layer, and writes go to the upper directory only", async () => {
    const d = await testDir();
    const store = await openStore(join(d, "store"));
    const image = await addBusyboxImage(store, await buildBusyboxImage());
    const lowers = store.snapshotPaths(image);
    expect(lowers).toHaveLength(1);
    const { upper, target } = await mount(d, lowers);

    expect(await isMountPoint(target)).toBe(true);
    expect((await stat(join(target, "bin/busybox"))).isFile()).toBe(true);
    await writeFile(join(target, "etc/motd"), "hello\n");
    await writeFile(join(target, "etc/passwd"), "changed\n");

    expect(await readFile(join(upper, "etc/motd"), "utf8")).toBe("hello\n");
    expect(await readFile(join(upper, "etc/passwd"), "utf8")).toBe("changed\n");
    const lower = lowers[0] ?? "";
    expect(existsSync(join(lower, "etc/motd"))).toBe(false);
    expect(await readFile(join(lower, "etc/passwd"), "utf8")).toContain("root:x:0:0");
  });

  it("mounts 60 layers with long paths, past the one-page limit of mount options", async () => {
    const d = await testDir();
    const lowers: string[] = [];
    for (let i = 0; i < 60; i++) {
      // Store-like paths: a long parent and a 64-hex name per layer.
      const p = join(d, "store", "snapshots", randomBytes(32).toString("hex"));
      await mkdir(p, { recursive: true });
      await writeFile(join(p, `layer-${i}`), String(i));
      await writeFile(join(p, "top"), String(i));
      lowers.push(p);
    }
    expect(lowers.join(":").length).toBeGreaterThan(4096);
    const { target } = await mount(d, lowers);

    const names = await readdir(target);
    for (let i = 0; i < 60; i++) expect(names).toContain(`layer-${i}`);
    // The last snapshot is the topmost layer.
    expect(await readFile(join(target, "top"), "utf8")).toBe("59");
    // The short-lived link directory is gone once mounted.
    expect((await readdir(d)).filter((n) => n.startsWith(".lower-links-"))).toEqual([]);
  });

  it("mounts an image without layers over an empty lower directory", async () => {
    const d = await testDir();
    const { target, upper } = await mount(d, []);
    expect(await readdir(target)).toEqual([]);
    await writeFile(join(target, "x"), "x");
    expect(await readFile(join(upper, "x"), "utf8")).toBe("x");
  });

  it("hides lower files behind whiteouts and opaque directories of upper layers", async () => {
    const d = await testDir();
    const base = await layerDir(d, "base", [
      dir("a/"),
      file("a/gone", "1"),
      file("a/kept", "2"),
      dir("opq/"),
      file("opq/old", "3"),
    ]);
    const top = await layerDir(d, "top", [
      file("a/.wh.gone", ""),
      dir("opq/"),
      file("opq/.wh..wh..opq", ""),
      file("opq/new", "4"),
    ]);
    const { target, upper } = await mount(d, [base, top]);

    expect((await readdir(join(target, "a"))).sort()).toEqual(["kept"]);
    expect(await readdir(join(target, "opq"))).toEqual(["new"]);
    // Deleting in the merged view leaves an overlayfs whiteout (0:0 char device) in the upper.
    await import("node:fs/promises").then((fs) => fs.rm(join(target, "a/kept")));
    const wh = await lstat(join(upper, "a/kept"));
    expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true);
    expect(await readdir(join(target, "a"))).toEqual([]);
  });

  it("mounts again with the same upper and other lowers (index=off), as after a crash or re-pull", async () => {
    const d = await testDir();
    const one = join(d, "l1");
    const two = join(d, "l2");
    await mkdir(one);
    await mkdir(two);
    await writeFile(join(one, "f"), "one");
    await writeFile(join(two, "f"), "two");
    const first = await mount(d, [one]);
    await writeFile(join(first.target, "mine"), "kept");
    expect(await unmountOverlay(first.target)).toBe("unmounted");

    const second = await mount(d, [two]);
    expect(await readFile(join(second.target, "f"), "utf8")).toBe("two");
    expect(await readFile(join(second.target, "mine"), "utf8")).toBe("kept");
  });

  it("refuses to mount over an existing mount point", async () => {
    const d = await testDir();
    const paths = await mount(d, []);
    await expect(mountOverlay({ lowerdirs: [], ...paths })).rejects.toMatchObject({
      code: "rootfs/already-mounted",
    });
  });

  it("names the resource and mount's complaint when mounting fails", async () => {
    const d = await testDir();
    const err = await mountOverlay({
      lowerdirs: [join(d, "does-not-exist")],
      upper: join(d, "upper"),
      work: join(d, "work"),
      target: join(d, "merged"),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TsstackError);
    expect((err as TsstackError).code).toBe("rootfs/mount-failed");
    expect((err as TsstackError).message).toContain(join(d, "merged"));
    expect((err as TsstackError).message).toMatch(/mount\(2\) of overlay failed: E[A-Z]+ \(\S.*\)$/);
  });
});

describe.runIf(isRoot)("unmountOverlay and isMountPoint", () => {
  it("is idempotent: a path that is not mounted, or does not exist, is fine", async () => {
    const d = await testDir();
    const { target } = await mount(d, []);
    expect(await unmountOverlay(target)).toBe("unmounted");
    expect(await unmountOverlay(target)).toBe("not-mounted");
    expect(await unmountOverlay(join(d, "nowhere"))).toBe("not-mounted");
    expect(await isMountPoint(target)).toBe(false);
    expect(await isMountPoint(d)).toBe(false);
  });

  it("detaches a busy mount lazily and says so", async () => {
    const d = await testDir();
    const { target } = await mount(d, []);
    await writeFile(join(target, "held"), "x");
    const handle = await open(join(target, "held"), "r");
    try {
      expect(await unmountOverlay(target)).toBe("detached");
      expect(await isMountPoint(target)).toBe(false);
    } finally {
      await handle.close();
    }
  });

  it("recognizes mount points whose path has spaces (mountinfo escapes them)", async () => {
    const d = await testDir();
    const target = join(d, "root fs");
    await mountOverlay({ lowerdirs: [], upper: join(d, "upper"), work: join(d, "work"), target });
    unmountAfter(target);
    expect(await isMountPoint(target)).toBe(true);
    expect(await isMountPoint(`${target}/`)).toBe(true);
  });
});

describe("resolveInRoot", () => {
  let root: string;
  beforeEach(async () => {
    const d = await testDir();
    root = join(d, "root");
    await mkdir(join(root, "etc"), { recursive: true });
    await mkdir(join(root, "bin"), { recursive: true });
    await mkdir(join(root, "d"), { recursive: true });
    await writeFile(join(root, "etc/passwd"), "root:x:0:0::/root:/bin/sh\n");
    const links: [string, string][] = [
      ["abs", "/etc"],
      ["rel-escape", "../../../../../etc"],
      ["loop1", "loop2"],
      ["loop2", "loop1"],
      ["self", "self"],
      ["fd", "/proc/self/fd"],
      ["dangling", "/nonexistent/x"],
      ["a", "b/c"],
      ["b", "/d"],
      ["bin/sh", "../etc/passwd"],
      ["dotdot", ".."],
      ["host-tmp", "/tmp"],
    ];
    for (const [name, target] of links) await symlink(target, join(root, name));
    // A chain of exactly 40 links resolves; 41 is a loop.
    for (let i = 0; i < 41; i++) await symlink(i === 40 ? "/etc" : `/chain${i + 1}`, join(root, `chain${i}`));
  });

  const table: [string, string][] = [
    ["/", ""],
    ["", ""],
    ["/etc/passwd", "etc/passwd"],
    ["etc/passwd", "etc/passwd"],
    ["/abs/passwd", "etc/passwd"],
    ["/rel-escape/passwd", "etc/passwd"],
    ["/../../../etc/passwd", "etc/passwd"],
    ["/etc/../../../../etc", "etc"],
    ["/fd/3", "proc/self/fd/3"],
    ["/proc/self/root/etc/passwd", "proc/self/root/etc/passwd"],
    ["/dangling/y", "nonexistent/x/y"],
    ["/missing/../etc", "etc"],
    ["/a", "d/c"],
    ["/bin/sh", "etc/passwd"],
    ["/dotdot/dotdot/etc", "etc"],
    ["/host-tmp/x", "tmp/x"],
    ["/etc/passwd/x", "etc/passwd/x"],
    ["/chain1", "etc"],
  ];
  it.each(table)("resolves %j to <root>/%s", async (path, expected) => {
    const resolved = await resolveInRoot(root, path);
    expect(resolved).toBe(expected === "" ? root : join(root, expected));
  });

  it.each(["/loop1", "/self/x", "/chain0"])("refuses %j: more than 40 symlinks", async (path) => {
    await expect(resolveInRoot(root, path)).rejects.toMatchObject({ code: "rootfs/symlink-loop" });
  });

  it("never returns a path outside the root, whatever the input", async () => {
    const parts = ["..", ".", "abs", "rel-escape", "dotdot", "fd", "host-tmp", "a", "b", "etc", "x", ""];
    for (let i = 0; i < 300; i++) {
      const path = Array.from({ length: 1 + (i % 6) }, (_, j) => parts[(i * 7 + j * 5) % parts.length]).join(
        "/",
      );
      const resolved = await resolveInRoot(`${root}/`, path);
      expect(resolved === root || resolved.startsWith(`${root}/`), `${path} -> ${resolved}`).toBe(true);
    }
  });
});

describe("readUserDb", () => {
  let d: string;
  let root: string;
  beforeEach(async () => {
    d = await testDir();
    root = join(d, "root");
    await mkdir(join(root, "etc"), { recursive: true });
    // The host-side sentinel a hostile image would like us to read.
    await writeFile(join(d, "host-secret"), "HOST SECRET\n");
  });

  it("reads /etc/passwd and /etc/group of the image", async () => {
    await writeFile(join(root, "etc/passwd"), "app:x:1000:1000::/home/app:/bin/sh\n");
    await writeFile(join(root, "etc/group"), "app:x:1000:\n");
    expect(await readUserDb(root)).toEqual({
      passwd: "app:x:1000:1000::/home/app:/bin/sh\n",
      group: "app:x:1000:\n",
    });
  });

  it("follows a symlinked /etc/passwd inside the root only, never to the host", async () => {
    await symlink("/../../host-secret", join(root, "etc/passwd"));
    await symlink("../../../../host-secret", join(root, "etc/group"));
    expect(await readUserDb(root)).toEqual({});
    await writeFile(join(root, "host-secret"), "inside:x:1:1::/:/bin/sh\n");
    expect(await readUserDb(root)).toEqual({
      passwd: "inside:x:1:1::/:/bin/sh\n",
      group: "inside:x:1:1::/:/bin/sh\n",
    });
  });

  it("treats a missing file, a directory or a fifo as no database", async () => {
    expect(await readUserDb(root)).toEqual({});
    await mkdir(join(root, "etc/passwd"));
    execFileSync("mkfifo", [join(root, "etc/group")]);
    expect(await readUserDb(root)).toEqual({});
    expect(await readUserDb(join(d, "no-such-root"))).toEqual({});
  });

  it("refuses a database larger than 1 MiB", async () => {
    await writeFile(join(root, "etc/passwd"), Buffer.alloc((1 << 20) + 1, "a"));
    await expect(readUserDb(root)).rejects.toMatchObject({ code: "rootfs/user-db" });
  });
});

describe.runIf(isRoot)("ensureWorkingDir", () => {
  let d: string;
  let root: string;
  beforeEach(async () => {
    d = await testDir();
    root = join(d, "root");
    await mkdir(join(root, "srv"), { recursive: true });
  });

  it("creates the missing components owned by the user, leaving existing ones alone", async () => {
    const host = await ensureWorkingDir(root, "/srv/app/data", 1000, 1001);
    expect(host).toBe(join(root, "srv/app/data"));
    for (const p of ["srv/app", "srv/app/data"]) {
      const st = await lstat(join(root, p));
      expect(st.isDirectory()).toBe(true);
      expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([1000, 1001, 0o755]);
    }
    const srv = await lstat(join(root, "srv"));
    expect([srv.uid, srv.gid]).toEqual([0, 0]);
    // Existing: nothing to do.
    expect(await ensureWorkingDir(root, "/srv/app/data/", 5, 5)).toBe(join(root, "srv/app/data"));
    expect((await lstat(join(root, "srv/app/data"))).uid).toBe(1000);
  });

  it("creates a symlinked working directory inside the root, never on the host", async () => {
    const outside = join(d, "outside");
    await symlink("/../../outside/work", join(root, "w"));
    await symlink(outside, join(root, "abs"));
    expect(await ensureWorkingDir(root, "/w", 0, 0)).toBe(join(root, "outside/work"));
    expect(await ensureWorkingDir(root, "/abs/x", 0, 0)).toBe(join(root, outside.slice(1), "x"));
    expect(existsSync(outside)).toBe(false);
    expect((await lstat(join(root, "outside/work"))).isDirectory()).toBe(true);
  });

  it("refuses a relative path and a component that is a file", async () => {
    await writeFile(join(root, "srv/file"), "x");
    await expect(ensureWorkingDir(root, "srv", 0, 0)).rejects.toMatchObject({ code: "rootfs/workdir" });
    await expect(ensureWorkingDir(root, "/srv/file/sub", 0, 0)).rejects.toMatchObject({
      code: "rootfs/workdir",
    });
  });
});
