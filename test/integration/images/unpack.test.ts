/**
 * Layer extraction on the real file system, as root: round trips, diff IDs, compression, overlayfs
 * whiteouts, and one hostile layer per attack. Every hostile test keeps a sentinel directory next to
 * `dest` and checks that nothing outside `dest` changed (listing, contents, link counts).
 */
import { execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { lstat, mkdir, readFile, readdir, readlink, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { beforeEach, describe, expect, it } from "vitest";

import { TsstackError } from "../../../src/common/errors.js";
import { MediaType } from "../../../src/runtime/images/types.js";
import { unpackLayer } from "../../../src/runtime/images/unpack.js";
import { TarBuilder, gzip, zstd } from "../../helpers/tar-builder.js";
import { useTmpDirs } from "../../helpers/tmp.js";

const tmp = useTmpDirs("tsstack-unpack-");

let root: string;
let dest: string;
let sentinel: string;

beforeEach(async () => {
  root = await tmp();
  dest = join(root, "dest");
  sentinel = join(root, "sentinel");
  await mkdir(dest);
  await mkdir(sentinel);
  await writeFile(join(sentinel, "keep"), "sentinel content\n");
  await symlink("keep", join(sentinel, "keep-link"));
});

function sha256(data: Buffer): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

let blobCount = 0;

async function unpack(blob: Buffer, mediaType: string = MediaType.ociLayerGzip) {
  const blobPath = join(root, `blob-${++blobCount}`);
  await writeFile(blobPath, blob);
  return unpackLayer({ blobPath, mediaType, dest });
}

/** Everything under `dir` except `skip`: type, mode, owner, link count, size, content or target. */
async function describeTree(dir: string, skip?: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const name of (await readdir(d)).sort()) {
      const p = join(d, name);
      if (p === skip) continue;
      const st = await lstat(p);
      let detail = "";
      if (st.isSymbolicLink()) detail = `-> ${await readlink(p)}`;
      else if (st.isFile()) detail = sha256(await readFile(p));
      out.push(`${p} ${st.mode.toString(8)} ${st.uid}:${st.gid} nlink=${st.nlink} ${st.size} ${detail}`);
      if (st.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return out;
}

/** Unpacks a hostile layer: refused with `code`, the message names `entry`, nothing outside dest changed. */
async function expectRefused(blob: Buffer, code: string, entry: string, mediaType?: string): Promise<void> {
  const before = await describeTree(root, dest);
  const err: unknown = await unpack(blob, mediaType).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TsstackError);
  expect((err as TsstackError).code).toBe(code);
  expect((err as TsstackError).message).toContain(entry);
  const after = (await describeTree(root, dest)).filter((line) => !line.startsWith(join(root, "blob-")));
  expect(after).toEqual(before.filter((line) => !line.startsWith(join(root, "blob-"))));
}

function octal12(n: number): string {
  return `${n.toString(8).padStart(11, "0")}\0`;
}

function fixChecksum(header: Buffer): void {
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (const c of header) sum += c;
  header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
}

function opaqueXattr(path: string): string {
  return execFileSync("getfattr", ["--only-values", "-n", "trusted.overlay.opaque", path]).toString();
}

describe("unpackLayer round trip", () => {
  it("recreates files, modes, owners, times, links, empty dirs and long names", async () => {
    const longDir = `deep/${"d".repeat(120)}`;
    const tar = new TarBuilder()
      .dir("etc/", { mode: 0o755, mtime: 1_600_000_000 })
      .file("etc/shadow", "root:*:1::::::\n", { mode: 0o600, uid: 0, gid: 42 })
      .file("etc/hosts", "127.0.0.1 localhost\n", { uid: 1000, gid: 1001, mode: 0o644, mtime: 1_234_567_890 })
      .file("usr/bin/sudo", "#!/bin/sh\n", { mode: 0o4755 })
      .dir("tmp/", { mode: 0o1777 })
      .dir("srv/shared/", { mode: 0o2775, uid: 33, gid: 33 })
      .dir("empty/")
      .symlink("bin", "usr/bin")
      .symlink("etc/localtime", "/usr/share/zoneinfo/Etc/UTC")
      .hardlink("etc/hosts.hard", "etc/hosts")
      .hardlink("/etc/shadow-", "/etc/shadow")
      .file(`${longDir}/gnu-long-name.txt`, "gnu", { longNames: "gnu" })
      .file(`${longDir}/pax-long-name.txt`, "pax", { longNames: "pax" })
      .symlink(`long-link`, `${longDir}/gnu-long-name.txt`)
      .file("big-id", "x", { pax: { uid: "3000000", gid: "3000001" } })
      .file("subsecond", "x", { pax: { mtime: "1700000000.25" } })
      .file("with-xattr", "x", { pax: { "SCHILY.xattr.user.origin": "layer" } })
      .file("/abs/file", "absolute names are relative to the layer root")
      .fifo("run/fifo")
      .globalPax({ comment: "ignored" })
      .file("after-global", "still read")
      .finish();

    const result = await unpack(gzip(tar));
    expect(result).toEqual({ diffId: sha256(tar), size: tar.length });

    const mode = async (p: string): Promise<number> => (await lstat(join(dest, p))).mode & 0o7777;
    expect(await mode("etc/shadow")).toBe(0o600);
    expect(await mode("usr/bin/sudo")).toBe(0o4755);
    expect(await mode("tmp")).toBe(0o1777);
    expect(await mode("srv/shared")).toBe(0o2775);
    expect(await mode("usr")).toBe(0o755); // implied parent
    const hosts = await lstat(join(dest, "etc/hosts"));
    expect([hosts.uid, hosts.gid, hosts.mtimeMs / 1000, hosts.nlink]).toEqual([1000, 1001, 1_234_567_890, 2]);
    expect((await lstat(join(dest, "etc/hosts.hard"))).ino).toBe(hosts.ino);
    expect((await lstat(join(dest, "etc/shadow-"))).ino).toBe((await lstat(join(dest, "etc/shadow"))).ino);
    expect((await lstat(join(dest, "etc/shadow"))).gid).toBe(42);
    expect((await stat(join(dest, "srv/shared"))).uid).toBe(33);
    expect((await lstat(join(dest, "etc"))).mtimeMs / 1000).toBe(1_600_000_000);
    expect(await readlink(join(dest, "bin"))).toBe("usr/bin");
    expect(await readlink(join(dest, "etc/localtime"))).toBe("/usr/share/zoneinfo/Etc/UTC");
    expect(await readlink(join(dest, "long-link"))).toBe(`${longDir}/gnu-long-name.txt`);
    expect(await readdir(join(dest, "empty"))).toEqual([]);
    expect(await readFile(join(dest, longDir, "gnu-long-name.txt"), "utf8")).toBe("gnu");
    expect(await readFile(join(dest, longDir, "pax-long-name.txt"), "utf8")).toBe("pax");
    const bigId = await lstat(join(dest, "big-id"));
    expect([bigId.uid, bigId.gid]).toEqual([3_000_000, 3_000_001]);
    expect((await stat(join(dest, "subsecond"), { bigint: true })).mtimeNs).toBe(1_700_000_000_250_000_000n);
    expect(
      execFileSync("getfattr", ["--only-values", "-n", "user.origin", join(dest, "with-xattr")]).toString(),
    ).toBe("layer");
    expect(await readFile(join(dest, "abs/file"), "utf8")).toContain("relative");
    expect((await lstat(join(dest, "run/fifo"))).isFIFO()).toBe(true);
    expect(await readFile(join(dest, "after-global"), "utf8")).toBe("still read");
    expect(await readdir(dest)).not.toContain("pax_global_header");
  });

  it.each([
    ["plain", (t: Buffer) => t, MediaType.ociLayer],
    ["gzip", gzip, MediaType.ociLayerGzip],
    ["gzip (Docker media type)", gzip, MediaType.dockerLayerGzip],
    ["zstd", zstd, MediaType.ociLayerZstd],
    ["gzip labelled as plain tar (sniffed)", gzip, MediaType.ociLayer],
    ["plain tar labelled as gzip (sniffed)", (t: Buffer) => t, MediaType.ociLayerGzip],
  ])("returns the sha256 of the uncompressed tar as diff ID: %s", async (_name, compress, mediaType) => {
    const tar = new TarBuilder()
      .dir("a/")
      .file("a/b", "content of b\n")
      .file("c", Buffer.alloc(70_000, 1))
      .finish();
    const result = await unpack(compress(tar), mediaType);
    expect(result).toEqual({ diffId: sha256(tar), size: tar.length });
    expect(await readFile(join(dest, "a/b"), "utf8")).toBe("content of b\n");
    expect((await readFile(join(dest, "c"))).equals(Buffer.alloc(70_000, 1))).toBe(true);
  });

  it("hashes every byte of the stream, including what follows the end-of-archive marker", async () => {
    const tar = Buffer.concat([new TarBuilder().file("f", "x").finish(), Buffer.alloc(10_240)]);
    expect((await unpack(gzip(tar))).diffId).toBe(sha256(tar));
  });

  it("accepts an archive without the end-of-archive marker, like Go's archive/tar", async () => {
    const full = new TarBuilder().file("f", "x").finish();
    const tar = full.subarray(0, full.length - 1024);
    expect((await unpack(tar, MediaType.ociLayer)).diffId).toBe(sha256(tar));
    expect(await readFile(join(dest, "f"), "utf8")).toBe("x");
  });

  it("rejects unsupported media types and does not touch dest", async () => {
    const tar = new TarBuilder().file("f", "x").finish();
    await expect(unpack(tar, "application/vnd.oci.image.layer.v1.tar+encrypted")).rejects.toMatchObject({
      code: "layer/unsupported",
    });
    expect(await readdir(dest)).toEqual([]);
  });

  it("refuses a destination that is not empty", async () => {
    await writeFile(join(dest, "already-here"), "");
    await expect(unpack(gzip(new TarBuilder().file("f").finish()))).rejects.toMatchObject({
      code: "internal",
    });
  });

  it("reports tar's own failures (here a name longer than NAME_MAX) with tar's message", async () => {
    const tar = new TarBuilder().file("ok", "x").file("n".repeat(300), "x").finish();
    const err: unknown = await unpack(gzip(tar)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "layer/unpack-failed" });
    expect((err as Error).message).toMatch(/tar -x failed.*File name too long/s);
  });

  it("stops when aborted before it starts", async () => {
    const controller = new AbortController();
    controller.abort(new Error("stop"));
    const blobPath = join(root, "blob-abort");
    await writeFile(blobPath, gzip(new TarBuilder().file("f", "x").finish()));
    const run = unpackLayer({ blobPath, mediaType: MediaType.ociLayerGzip, dest, signal: controller.signal });
    await expect(run).rejects.toThrow("stop");
    expect(await readdir(dest)).toEqual([]);
  });

  it("kills tar and rejects when aborted midway", async () => {
    // 1 GiB of zeros in one file: a tiny zstd blob that takes a while to write out.
    const blobPath = join(root, "blob-big");
    const header = new TarBuilder().file("big", "").finish().subarray(0, 512);
    header.write(octal12(1 << 30), 124, "latin1");
    fixChecksum(header);
    const zstdProc = spawn("zstd", ["-q", "-1", "-o", blobPath], { stdio: ["pipe", "ignore", "inherit"] });
    zstdProc.stdin.write(header);
    const zeros = Buffer.alloc(1 << 20);
    for (let i = 0; i < 1024; i++) {
      if (!zstdProc.stdin.write(zeros)) await once(zstdProc.stdin, "drain");
    }
    zstdProc.stdin.end(Buffer.alloc(1024));
    await once(zstdProc, "close");

    const controller = new AbortController();
    const run = unpackLayer({ blobPath, mediaType: MediaType.ociLayerZstd, dest, signal: controller.signal });
    const state = { settled: false };
    const outcome = run.then(
      () => "finished",
      (e: unknown) => e,
    );
    void outcome.then(() => {
      state.settled = true;
    });
    while (!state.settled && !existsSync(join(dest, "big"))) await new Promise((r) => setTimeout(r, 2));
    controller.abort(new Error("stop"));
    const err = await outcome;
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe("stop");
    // unpackLayer waits for its children: no tar or zstd is left working on this layer.
    const ps = execFileSync("ps", ["-eo", "args"]).toString();
    expect(ps).not.toContain(`--directory=${dest}`);
    expect(ps).not.toContain(blobPath);
    expect((await stat(join(dest, "big"))).size).toBeLessThan(1 << 30);
  });
});

describe("unpackLayer reads tar as Go's archive/tar does (what containerd applies)", () => {
  it("joins the USTAR prefix field to the name", async () => {
    const tar = new TarBuilder()
      .file("name.txt", "p", { patch: (b) => b.write("some/prefix", 345, "latin1") })
      .finish();
    await unpack(tar, MediaType.ociLayer);
    expect(await readFile(join(dest, "some/prefix/name.txt"), "utf8")).toBe("p");
  });

  it("ignores the prefix area of GNU-format headers (GNU keeps atime/ctime there)", async () => {
    const tar = new TarBuilder()
      .file("name.txt", "g", {
        patch: (b) => {
          b.write("ustar  \0", 257, "latin1");
          b.write("14537521330\0", 345, "latin1");
        },
      })
      .finish();
    await unpack(tar, MediaType.ociLayer);
    expect(await readdir(dest)).toEqual(["name.txt"]);
  });

  it("reads an old-style directory (type NUL, trailing slash)", async () => {
    const tar = new TarBuilder()
      .file("olddir/", "", {
        patch: (b) => {
          b[156] = 0;
          b.fill(0, 257, 265);
        },
      })
      .finish();
    await unpack(tar, MediaType.ociLayer);
    expect((await lstat(join(dest, "olddir"))).isDirectory()).toBe(true);
  });

  it("treats links, devices, dirs and fifos as header-only whatever their size field says", async () => {
    const tar = new TarBuilder()
      .symlink("l", "target", { patch: (b) => b.write("00000001000\0", 124, "latin1") })
      .file("after", "x")
      .finish();
    await unpack(tar, MediaType.ociLayer);
    expect(await readlink(join(dest, "l"))).toBe("target");
    expect(await readFile(join(dest, "after"), "utf8")).toBe("x");
  });

  it("keeps names byte for byte, UTF-8 or not", async () => {
    const tar = new TarBuilder()
      .file("café-ü", "utf8")
      .file("latin1", "raw", { patch: (b) => Buffer.from([0x6c, 0x61, 0x74, 0xe9, 0xff, 0]).copy(b, 0) })
      .finish();
    await unpack(tar, MediaType.ociLayer);
    const names = (await readdir(dest, { encoding: "buffer" })).map((n) => n.toString("hex")).sort();
    expect(names).toEqual([Buffer.from("café-ü").toString("hex"), "6c6174e9ff"].sort());
  });

  it("reads base-256 numeric fields", async () => {
    const tar = new TarBuilder()
      .file("b256", "x", {
        patch: (b) => {
          b.fill(0, 108, 116);
          b[108] = 0x80;
          b.writeUInt32BE(5_000_000, 112);
        },
      })
      .finish();
    await unpack(tar, MediaType.ociLayer);
    expect((await lstat(join(dest, "b256"))).uid).toBe(5_000_000);
  });

  it("keeps file capabilities and drops xattrs outside user.* and security.capability", async () => {
    const cap = Buffer.from("0100000200200000000000000000000000000000", "hex");
    const tar = new TarBuilder()
      .file("ping", "x", { mode: 0o755, pax: { "SCHILY.xattr.security.capability": cap } })
      .file("other", "x", { pax: { "SCHILY.xattr.trusted.something": "dropped" } })
      .finish();
    await unpack(tar, MediaType.ociLayer);
    const got = execFileSync("getfattr", ["-e", "hex", "-n", "security.capability", join(dest, "ping")]);
    expect(got.toString()).toContain(`security.capability=0x${cap.toString("hex")}`);
    expect(() =>
      execFileSync("getfattr", ["-n", "trusted.something", join(dest, "other")], { stdio: "pipe" }),
    ).toThrow();
  });

  it.each([
    [
      "a lone zero block followed by data",
      "zero block",
      (t: TarBuilder) => t.raw(Buffer.alloc(512)).file("b", "x"),
    ],
    [
      "a malformed numeric field",
      "numeric field",
      (t: TarBuilder) => t.file("bad-mode", "x", { patch: (b) => b.write("9999999\0", 100, "latin1") }),
    ],
    [
      "a malformed PAX record",
      "PAX record",
      (t: TarBuilder) => t.file("bad-pax", "x", { pax: { "": "no key" } }),
    ],
  ])("reports %s as corrupt", async (_name, message, build) => {
    const tar = build(new TarBuilder().file("a", "x")).finish();
    await expectRefused(tar, "layer/corrupt", message, MediaType.ociLayer);
  });

  it("reports input ending inside a PAX header as corrupt", async () => {
    const tar = new TarBuilder().file("x", "x", { pax: { path: "p".repeat(600) } }).finish();
    await expectRefused(tar.subarray(0, 512 + 300), "layer/corrupt", "truncated", MediaType.ociLayer);
  });

  it.each([
    [
      "GNU sparse files",
      (t: TarBuilder) => t.file("sparse", "x", { patch: (b) => b.write("S", 156, "latin1") }),
    ],
    ["PAX sparse files", (t: TarBuilder) => t.file("sparse", "x", { pax: { "GNU.sparse.major": "1" } })],
    [
      "volume labels and other vendor types",
      (t: TarBuilder) => t.file("sparse", "x", { patch: (b) => b.write("V", 156, "latin1") }),
    ],
  ])("refuses %s as unsupported, naming the entry", async (_name, build) => {
    await expectRefused(build(new TarBuilder()).finish(), "layer/unsupported", "sparse", MediaType.ociLayer);
  });
});

describe("unpackLayer whiteouts", () => {
  it("turns .wh.<name> into a 0:0 char device and .wh..wh..opq into the opaque xattr", async () => {
    const tar = new TarBuilder()
      .dir("etc/", { mode: 0o750, uid: 7, gid: 8 })
      .file("etc/.wh.removed.conf", "", { uid: 1000, gid: 1000 })
      .dir("var/cache/")
      .file("var/cache/.wh..wh..opq", "")
      .file("var/cache/fresh", "new")
      .file(".wh.gone-at-root", "")
      .file("lib/.wh..wh.plnk", "") // aufs bookkeeping: skipped
      .finish();

    await unpack(gzip(tar));

    const wh = await lstat(join(dest, "etc/removed.conf"));
    expect(wh.isCharacterDevice()).toBe(true);
    expect(wh.rdev).toBe(0);
    expect([wh.uid, wh.gid]).toEqual([1000, 1000]);
    expect((await lstat(join(dest, "gone-at-root"))).isCharacterDevice()).toBe(true);
    expect(opaqueXattr(join(dest, "var/cache"))).toBe("y");
    expect(await readdir(join(dest, "var/cache"))).toEqual(["fresh"]);
    expect(await readdir(join(dest, "etc"))).toEqual(["removed.conf"]);
    expect(await readdir(join(dest, "lib"))).toEqual([]);
    // Re-emitting a directory to mark it opaque keeps its own metadata.
    const etc = await lstat(join(dest, "etc"));
    expect([etc.mode & 0o7777, etc.uid, etc.gid]).toEqual([0o750, 7, 8]);
    expect(existsSync(join(dest, "etc/.wh.removed.conf"))).toBe(false);
  });

  it("keeps an opaque directory opaque when the layer lists it again afterwards", async () => {
    const tar = new TarBuilder().file("d/.wh..wh..opq", "").dir("d/", { mode: 0o700 }).finish();
    await unpack(tar, MediaType.ociLayer);
    expect(opaqueXattr(join(dest, "d"))).toBe("y");
    expect((await lstat(join(dest, "d"))).mode & 0o7777).toBe(0o700);
  });

  it("marks the layer root opaque for a top-level .wh..wh..opq", async () => {
    await unpack(gzip(new TarBuilder().file(".wh..wh..opq", "").file("only", "x").finish()));
    expect(opaqueXattr(dest)).toBe("y");
    expect(await readdir(dest)).toEqual(["only"]);
  });

  it("accepts layers that carry whiteouts in overlay form (char 0:0, opaque xattr)", async () => {
    const tar = new TarBuilder()
      .charDevice("gone", 0, 0)
      .dir("opaque/", { pax: { "SCHILY.xattr.trusted.overlay.opaque": "y" } })
      .finish();
    await unpack(tar, MediaType.ociLayer);
    expect((await lstat(join(dest, "gone"))).isCharacterDevice()).toBe(true);
    expect(opaqueXattr(join(dest, "opaque"))).toBe("y");
  });
});

describe("unpackLayer refuses hostile layers and leaves the host unchanged", () => {
  const hostile = "layer/hostile";

  it("../evil", async () => {
    await expectRefused(
      gzip(new TarBuilder().file("ok", "fine").file("../evil", "x").finish()),
      hostile,
      "../evil",
    );
    expect(existsSync(join(root, "evil"))).toBe(false);
  });

  it("a/../../evil", async () => {
    const tar = new TarBuilder().dir("a/").file("a/../../evil", "x").finish();
    await expectRefused(gzip(tar), hostile, "a/../../evil");
  });

  it("a ../evil hidden in a PAX path", async () => {
    const tar = new TarBuilder().file("innocent", "x", { pax: { path: "../evil" } }).finish();
    await expectRefused(gzip(tar), hostile, "../evil");
  });

  it("a ../evil hidden in a GNU long name", async () => {
    const name = `${"../".repeat(40)}evil`;
    await expectRefused(gzip(new TarBuilder().file(name, "x").finish()), hostile, name);
  });

  it("absolute /etc/evil is extracted relative to dest (containerd's behaviour), never to /etc", async () => {
    const tar = new TarBuilder().file("/etc/evil-tsstack-test", "x").finish();
    const before = await describeTree(root, dest);
    await unpack(gzip(tar));
    expect(await readFile(join(dest, "etc/evil-tsstack-test"), "utf8")).toBe("x");
    expect(existsSync("/etc/evil-tsstack-test")).toBe(false);
    expect((await describeTree(root, dest)).filter((l) => !l.includes("/blob-"))).toEqual(
      before.filter((l) => !l.includes("/blob-")),
    );
  });

  it("symlink a -> <sentinel dir>, then a/file", async () => {
    const tar = new TarBuilder().symlink("a", sentinel).file("a/file", "pwned").finish();
    await expectRefused(gzip(tar), hostile, "a/file");
  });

  it("symlink a -> .., then a/evil", async () => {
    const tar = new TarBuilder().symlink("a", "..").file("a/evil", "pwned").finish();
    await expectRefused(gzip(tar), hostile, "a/evil");
  });

  it("symlink a -> <sentinel dir>, then a directory entry a/ over it, then a/file", async () => {
    const tar = new TarBuilder().symlink("a", sentinel).dir("a/").file("a/file", "pwned").finish();
    await expectRefused(gzip(tar), hostile, "a");
  });

  it("symlink replaced by a file, then written through", async () => {
    const tar = new TarBuilder()
      .symlink("a", sentinel)
      .file("a", "now a file")
      .file("a/keep", "pwned")
      .finish();
    await expectRefused(gzip(tar), hostile, "a/keep");
  });

  it("a symlink chain: b -> a/.. where a -> <sentinel>", async () => {
    const tar = new TarBuilder().symlink("a", sentinel).symlink("b", "a").file("b/keep", "pwned").finish();
    await expectRefused(gzip(tar), hostile, "b/keep");
  });

  it("hard link to /etc/passwd", async () => {
    const tar = new TarBuilder().hardlink("passwd", "/etc/passwd").finish();
    await expectRefused(gzip(tar), hostile, "passwd");
  });

  it("hard link to a file in the sentinel dir by absolute path", async () => {
    const tar = new TarBuilder().hardlink("keep", join(sentinel, "keep")).finish();
    await expectRefused(gzip(tar), hostile, "keep");
  });

  it("hard link through an escaping symlink", async () => {
    const tar = new TarBuilder().symlink("s", sentinel).hardlink("h", "s/keep").finish();
    await expectRefused(gzip(tar), hostile, "h");
  });

  it("hard link to an escaping symlink", async () => {
    const tar = new TarBuilder().symlink("s", join(sentinel, "keep")).hardlink("h", "s").finish();
    await expectRefused(gzip(tar), hostile, "h");
  });

  it("hard link with .. in its target", async () => {
    const tar = new TarBuilder().file("f", "x").hardlink("h", "../sentinel/keep").finish();
    await expectRefused(gzip(tar), hostile, "h");
  });

  it("char device null 1:3", async () => {
    await expectRefused(gzip(new TarBuilder().charDevice("dev/null", 1, 3).finish()), hostile, "dev/null");
  });

  it("block device", async () => {
    await expectRefused(gzip(new TarBuilder().blockDevice("dev/sda", 8, 0).finish()), hostile, "dev/sda");
  });

  it.each([".wh.../..", "a/.wh..", "a/.wh...", "a/.wh."])("whiteout trick %s", async (name) => {
    const tar = new TarBuilder().dir("a/").file(name, "").finish();
    await expectRefused(gzip(tar), hostile, name);
  });

  it("an overlayfs redirect xattr", async () => {
    const tar = new TarBuilder()
      .dir("d/", { pax: { "SCHILY.xattr.trusted.overlay.redirect": "/etc" } })
      .finish();
    await expectRefused(gzip(tar), hostile, "d");
  });

  it("truncated gzip", async () => {
    const blob = gzip(new TarBuilder().file("f", randomBytes(200_000)).file("g", "x").finish());
    await expectRefused(blob.subarray(0, blob.length >> 1), "layer/corrupt", "gzip");
  });

  it("truncated zstd", async () => {
    const blob = zstd(new TarBuilder().file("f", randomBytes(200_000)).file("g", "x").finish());
    await expectRefused(blob.subarray(0, blob.length >> 1), "layer/corrupt", "zstd", MediaType.ociLayerZstd);
  });

  it("a blob too short to be anything", async () => {
    await expectRefused(Buffer.from([0x1f]), "layer/corrupt", "truncated", MediaType.ociLayer);
  });

  it("truncated tar inside an entry's data", async () => {
    const tar = new TarBuilder().file("f", Buffer.alloc(5000, 7)).finish();
    await expectRefused(tar.subarray(0, 2048), "layer/corrupt", "truncated", MediaType.ociLayer);
  });

  it("a header with a bad checksum", async () => {
    const tar = new TarBuilder().file("f", "x").finish();
    tar[0] = 0x67; // name "f" → "g" without fixing the checksum
    await expectRefused(tar, "layer/corrupt", "checksum", MediaType.ociLayer);
  });
});
