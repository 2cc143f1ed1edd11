/**
 * docker export / commit / cp against real overlayfs (as root): the export stream, the diff layer of
 * an upper directory (whiteouts and opaque directories back in OCI form, and a round trip through the
 * layer unpacker reproducing the merged view), commits the image store accepts, and `cp` in both
 * directions — with one hostile archive per attack and a host-side sentinel that must stay untouched.
 */
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import {
  chmod,
  chown,
  link,
  lstat,
  mkdir,
  readFile,
  readdir,
  readlink,
  rm,
  rmdir,
  symlink,
  writeFile,
} from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import {
  commitImage,
  diffLayer,
  exportFilesystem,
  getArchive,
  putArchive,
  statInRoot,
} from "../../../src/runtime/containers/fs-ops.js";
import { TarReader, type TarEntry } from "../../../src/runtime/images/tar.js";
import type { ImageStore } from "../../../src/runtime/images/store.js";
import { MediaType, type ImageConfig, type ImageRecord } from "../../../src/runtime/images/types.js";
import { unpackLayer } from "../../../src/runtime/images/unpack.js";
import { addBusyboxImage, buildBusyboxImage } from "../../helpers/busybox-image.js";
import { useImageStores } from "../../helpers/stores.js";
import { TarBuilder } from "../../helpers/tar-builder.js";
import { useOverlayMounts } from "../../helpers/overlay.js";
import { useTmpDirs } from "../../helpers/tmp.js";

const tmp = useTmpDirs("tsstack-fsops-");
const openStore = useImageStores();
const isRoot = process.getuid?.() === 0;

/** Sha256 of 1024 zero bytes: the empty layer Docker commits for an unchanged container. */
const EMPTY_LAYER_DIFF_ID = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

const { testDir, mount } = useOverlayMounts(tmp);

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

interface Listed {
  readonly entry: TarEntry;
  readonly body: Buffer;
}

/** Entries of a tar, with their contents, as the layer reader sees them. */
function listTar(tar: Buffer): Listed[] {
  const out: Listed[] = [];
  let current: { entry: TarEntry; parts: Buffer[] } | undefined;
  const reader = new TarReader({
    entry: (entry) => {
      current = { entry, parts: [] };
    },
    data: (chunk) => current?.parts.push(Buffer.from(chunk)),
    entryEnd: () => {
      if (current) out.push({ entry: current.entry, body: Buffer.concat(current.parts) });
      current = undefined;
    },
  });
  reader.push(tar);
  reader.finish();
  return out;
}

function names(tar: Buffer): string[] {
  return listTar(tar).map((l) => l.entry.name);
}

function sha(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex").slice(0, 16);
}

/** Everything under `dir` (mtimes aside): type, mode, owner, size, content or target, xattr-free. */
async function describeTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string): Promise<void> => {
    for (const name of (await readdir(d)).sort()) {
      const p = join(d, name);
      const r = rel === "" ? name : `${rel}/${name}`;
      const st = await lstat(p);
      let detail = "";
      if (st.isSymbolicLink()) detail = `-> ${await readlink(p)}`;
      else if (st.isFile()) detail = sha(await readFile(p));
      out.push(
        `${r} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.isDirectory() ? "" : st.size} ${detail}`,
      );
      if (st.isDirectory()) await walk(p, r);
    }
  };
  await walk(dir, "");
  return out;
}

interface Fixture {
  readonly d: string;
  readonly store: ImageStore;
  readonly image: ImageRecord;
  readonly config: ImageConfig;
  readonly upper: string;
  readonly target: string;
}

/** A container of a two-layer busybox image, its overlay mounted. */
async function container(): Promise<Fixture> {
  const d = await testDir();
  const store = await openStore(join(d, "store"));
  const image = await addBusyboxImage(
    store,
    await buildBusyboxImage({
      extraLayer: { "data/a": "a", "data/b": "b", "etc/motd": "motd\n", "keep/x": "x" },
    }),
    ["example.com/base:1"],
  );
  const config = JSON.parse((await store.readBlob(image.id)).toString()) as ImageConfig;
  const { upper, target } = await mount(join(d, "ctr"), store.snapshotPaths(image));
  return { d, store, image, config, upper, target };
}

/** The changes every diff test makes: deletions, an opaque directory, new files of every kind. */
async function makeChanges(target: string): Promise<void> {
  await rm(join(target, "etc/motd"));
  // Several deletions: overlayfs makes their whiteouts hard links of one inode.
  await rm(join(target, "bin/ls"));
  await rm(join(target, "bin/cat"));
  await rm(join(target, "data/a"));
  await rm(join(target, "data/b"));
  await rmdir(join(target, "data"));
  await mkdir(join(target, "data")); // over a whiteout: an opaque directory
  await writeFile(join(target, "data/new"), "new\n");
  await writeFile(join(target, "hello"), "hello\n", { mode: 0o640 });
  await chown(join(target, "hello"), 1000, 1001);
  await link(join(target, "hello"), join(target, "hello-link"));
  await symlink("hello", join(target, "hello-sym"));
  execFileSync("mkfifo", [join(target, "fifo")]);
  execFileSync("setfattr", ["-n", "user.note", "-v", "kept", join(target, "hello")]);
  await chmod(join(target, "keep/x"), 0o600); // a copy-up of a lower file
}

describe.runIf(isRoot)("exportFilesystem", () => {
  it("streams the merged root as Docker names it, without what was deleted", async () => {
    const { target } = await container();
    await rm(join(target, "etc/motd"));
    await writeFile(join(target, "added"), "added\n");

    const tar = await collect(exportFilesystem(target));
    const listed = names(tar);
    expect(listed).toContain("bin/");
    expect(listed).toContain("bin/busybox");
    expect(listed).toContain("added");
    expect(listed).toContain("etc/passwd");
    expect(listed).not.toContain("etc/motd");
    expect(listed.filter((n) => n.startsWith("./") || n.startsWith("/") || n === ".")).toEqual([]);
    const sh = listTar(tar).find((l) => l.entry.name === "bin/sh");
    expect(sh?.entry.type).toBe("2");
    expect(sh?.entry.linkname).toBe("busybox");
    // GNU tar agrees it is a well-formed archive.
    const gnu = execFileSync("tar", ["-tf", "-"], { input: tar }).toString().split("\n");
    expect(gnu).toContain("added");
  });
});

describe.runIf(isRoot)("diffLayer", () => {
  it("turns overlayfs whiteouts and opaque directories into OCI entries", async () => {
    const { upper, target } = await container();
    await makeChanges(target);

    const listed = listTar(await collect(diffLayer(upper)));
    const byName = new Map(listed.map((l) => [l.entry.name, l.entry]));
    for (const wh of ["etc/.wh.motd", "bin/.wh.ls", "bin/.wh.cat"]) {
      expect(byName.get(wh), wh).toMatchObject({ type: "0", size: 0, mode: 0o600 });
    }
    expect(byName.get("data/")?.type).toBe("5");
    expect(byName.get("data/.wh..wh..opq")).toMatchObject({ type: "0", size: 0 });
    expect(byName.get("data/new")?.type).toBe("0");
    expect(byName.get("hello")).toMatchObject({ type: "0", mode: 0o640, uid: 1000, gid: 1001 });
    expect(byName.get("hello")?.xattrs.get("user.note")).toBe("kept");
    expect(byName.get("hello-link")).toMatchObject({ type: "1", linkname: "hello" });
    expect(byName.get("hello-sym")).toMatchObject({ type: "2", linkname: "hello" });
    expect(byName.get("fifo")?.type).toBe("6");
    expect(byName.get("keep/x")).toMatchObject({ type: "0", mode: 0o600, size: 1 });
    // Nothing overlay-specific is left: no devices, no trusted.* attributes, no "./" names.
    for (const { entry } of listed) {
      expect(["3", "4"]).not.toContain(entry.type);
      expect([...entry.xattrs.keys()].filter((k) => k.startsWith("trusted."))).toEqual([]);
      expect(entry.name.startsWith("./")).toBe(false);
      expect(entry.mtime.fraction).toBe("");
    }
    // Untouched lower content is not in the diff.
    expect(byName.has("bin/busybox")).toBe(false);
    expect(byName.has("etc/passwd")).toBe(false);
  });

  it("reproduces the merged view when unpacked as a layer on top of the image", async () => {
    const { d, store, image, upper, target } = await container();
    await makeChanges(target);
    const blobPath = join(d, "diff.tar");
    await writeFile(blobPath, await collect(diffLayer(upper)));
    const layer = join(d, "diff-layer");
    await mkdir(layer);
    await unpackLayer({ blobPath, mediaType: MediaType.ociLayer, dest: layer });

    const again = await mount(join(d, "again"), [...store.snapshotPaths(image), layer]);
    const expected = await describeTree(target);
    expect(expected.some((l) => l.startsWith("data/new "))).toBe(true);
    expect(await describeTree(again.target)).toEqual(expected);
    const [a, b] = await Promise.all([
      lstat(join(again.target, "hello")),
      lstat(join(again.target, "hello-link")),
    ]);
    expect(a.ino).toBe(b.ino);
  });

  it("gives the empty layer for an unchanged container", async () => {
    const { upper } = await container();
    const tar = await collect(diffLayer(upper));
    expect(tar).toEqual(Buffer.alloc(1024));
  });

  it("refuses a device node the container created", async () => {
    const { upper, target } = await container();
    execFileSync("mknod", [join(target, "null"), "c", "1", "3"]);
    await expect(collect(diffLayer(upper))).rejects.toMatchObject({ code: "container/commit-failed" });
  });
});

describe.runIf(isRoot)("commitImage", () => {
  it("adds an image with one more layer that the store resolves and that mounts to the same view", async () => {
    const { d, store, image, config, upper, target } = await container();
    await makeChanges(target);
    const created = new Date("2025-02-03T04:05:06Z");
    const record = await commitImage({
      store,
      baseImage: image,
      baseConfig: config,
      upper,
      changes: {
        Cmd: ["/bin/echo", "hi"],
        Env: ["FOO=bar"],
        Labels: { l: "1" },
        ExposedPorts: { "80/tcp": {} },
      },
      comment: "a comment",
      author: "someone",
      createdBy: "/bin/sh",
      names: ["example.com/committed:v1"],
      created,
    });

    expect(record.layers).toHaveLength(image.layers.length + 1);
    expect(record.layers.slice(0, -1)).toEqual(image.layers);
    expect(record.manifestMediaType).toBe(MediaType.ociManifest);
    expect((await store.resolve("example.com/committed:v1"))?.id).toBe(record.id);
    const committed = JSON.parse((await store.readBlob(record.id)).toString()) as ImageConfig;
    const newLayer = record.layers[record.layers.length - 1];
    expect(committed.rootfs.diff_ids).toEqual([...config.rootfs.diff_ids, newLayer?.diffId]);
    expect(committed.created).toBe(created.toISOString());
    expect(committed.author).toBe("someone");
    expect(committed.config).toMatchObject({
      Cmd: ["/bin/echo", "hi"],
      Env: ["FOO=bar", "PATH=/bin"],
      Labels: { l: "1" },
      ExposedPorts: { "80/tcp": {} },
    });
    expect(committed.history?.slice(-1)).toEqual([
      { created: created.toISOString(), created_by: "/bin/sh", author: "someone", comment: "a comment" },
    ]);

    const expected = await describeTree(target);
    const fresh = await mount(join(d, "fresh"), store.snapshotPaths(record));
    expect(await describeTree(fresh.target)).toEqual(expected);
  });

  it("commits an unchanged container as one empty layer, and merges an Entrypoint like Docker", async () => {
    const { store, image, config, upper } = await container();
    const record = await commitImage({
      store,
      baseImage: image,
      baseConfig: config,
      upper,
      changes: { Entrypoint: ["/bin/sh", "-c"] },
    });
    expect(record.layers).toHaveLength(image.layers.length + 1);
    expect(record.layers[record.layers.length - 1]?.diffId).toBe(EMPTY_LAYER_DIFF_ID);
    expect(record.repoTags).toEqual([]);
    const committed = JSON.parse((await store.readBlob(record.id)).toString()) as ImageConfig;
    // An Entrypoint without a Cmd drops the base's Cmd, as a Dockerfile ENTRYPOINT does.
    expect(committed.config?.Entrypoint).toEqual(["/bin/sh", "-c"]);
    expect(committed.config?.Cmd).toBeNull();
    expect(committed.config?.Env).toEqual(["PATH=/bin"]);
  });
});

describe.runIf(isRoot)("getArchive and putArchive", () => {
  let d: string;
  let root: string;
  let outside: string;
  let before: string[];
  /** A host path a hostile archive aims at; it must never appear. */
  let hostTarget: string;

  beforeEach(async () => {
    d = await testDir();
    root = join(d, "root");
    outside = join(d, "outside");
    await mkdir(join(root, "etc"), { recursive: true });
    await mkdir(join(root, "dst"));
    await mkdir(outside);
    await writeFile(join(outside, "keep"), "sentinel\n");
    before = await describeTree(outside);
    hostTarget = join("/tmp", `tsstack-fsops-sentinel-${randomBytes(6).toString("hex")}`);
  });

  afterEach(async () => {
    expect(await describeTree(outside)).toEqual(before);
    expect(existsSync(hostTarget)).toBe(false);
    expect(existsSync(join(d, "x"))).toBe(false);
  });

  async function srcTree(base: string): Promise<void> {
    await mkdir(join(base, "src/sub"), { recursive: true });
    await writeFile(join(base, "src/a"), "a\n");
    await writeFile(join(base, "src/sub/b"), "b\n", { mode: 0o600 });
    await chown(join(base, "src/sub/b"), 1000, 1000);
    await symlink("a", join(base, "src/link"));
    await link(join(base, "src/a"), join(base, "src/hl"));
  }

  it("round-trips a directory from an overlay root into another container", async () => {
    const { target } = await container();
    await srcTree(target);
    const tar = await collect(await getArchive(target, "/src"));
    expect(names(tar)).toEqual(["src/", "src/a", "src/hl", "src/link", "src/sub/", "src/sub/b"]);

    await putArchive(root, "/dst", Readable.from([tar]));
    expect(await describeTree(join(root, "dst/src"))).toEqual(await describeTree(join(target, "src")));
    const [a, hl] = await Promise.all([lstat(join(root, "dst/src/a")), lstat(join(root, "dst/src/hl"))]);
    expect(a.ino).toBe(hl.ino);
  });

  it("names entries like docker cp: basename, contents with /., symlinks as links unless path/", async () => {
    await srcTree(root);
    await symlink("/src", join(root, "srclink"));
    expect(names(await collect(await getArchive(root, "/src/.")))).toEqual([
      "./",
      "./a",
      "./hl",
      "./link",
      "./sub/",
      "./sub/b",
    ]);
    expect(listTar(await collect(await getArchive(root, "/srclink"))).map((l) => l.entry)).toMatchObject([
      { name: "srclink", type: "2", linkname: "/src" },
    ]);
    expect(names(await collect(await getArchive(root, "/srclink/")))).toContain("srclink/sub/b");
    expect(names(await collect(await getArchive(root, "/src/sub/b")))).toEqual(["b"]);
    expect(await statInRoot(root, "/srclink")).toMatchObject({ name: "srclink", linkTarget: "/src" });
    await expect(getArchive(root, "/nope")).rejects.toMatchObject({ code: "container/path-not-found" });
  });

  it("reads a source through symlinks only inside the root", async () => {
    await writeFile(join(outside, "secret"), "host\n");
    before = await describeTree(outside);
    await symlink(`/../../outside`, join(root, "up"));
    await expect(getArchive(root, "/up/secret")).rejects.toMatchObject({ code: "container/path-not-found" });
    await mkdir(join(root, "outside"));
    await writeFile(join(root, "outside/secret"), "inside\n");
    const [only] = listTar(await collect(await getArchive(root, "/up/secret")));
    expect(only?.body.toString()).toBe("inside\n");
  });

  it("extracts absolute names below the target, and into a symlinked target inside the root", async () => {
    await symlink("/../../outside", join(root, "to-outside"));
    await mkdir(join(root, "outside"));
    const tar = new TarBuilder().file("/abs-file", "abs").file("f", "f").finish();
    await putArchive(root, "/dst", Readable.from([tar]));
    expect(await readFile(join(root, "dst/abs-file"), "utf8")).toBe("abs");
    await putArchive(root, "/to-outside", Readable.from([tar]));
    expect(await readFile(join(root, "outside/f"), "utf8")).toBe("f");
    await expect(putArchive(root, "/missing", Readable.from([tar]))).rejects.toMatchObject({
      code: "container/path-not-found",
    });
  });

  const hostile: [string, (b: TarBuilder, ctx: { outsideRel: string; host: string }) => TarBuilder][] = [
    ["a name with ..", (b) => b.file("../x", "x")],
    ["a name climbing out through ..", (b) => b.dir("ok/").file("ok/../../x", "x")],
    ["a symlink to / followed by a path through it", (b, c) => b.symlink("a", "/").file(`a${c.host}`, "x")],
    ["a symlink to / followed by a/etc/x", (b) => b.symlink("a", "/").file("a/etc/x", "x")],
    [
      "a relative symlink climbing out followed by a path through it",
      (b, c) => b.symlink("up", "../../../../../../../..").file(`up/${c.outsideRel}/x`, "x"),
    ],
    [
      "a directory entry replacing a symlink of the archive",
      (b) => b.symlink("s", "/").dir("s/").file("s/x", "x"),
    ],
    ["a hard link to a host file", (b, c) => b.hardlink("hl", `${c.outsideRel}/keep`)],
    ["a hard link climbing out", (b) => b.hardlink("hl", "../../outside/keep")],
    ["a hard link to a file of the container", (b) => b.hardlink("hl", "etc/existing")],
    ["a character device", (b) => b.charDevice("null", 1, 3)],
    ["a block device", (b) => b.blockDevice("sda", 8, 0)],
  ];
  it.each(hostile)("refuses %s and writes nothing outside the root", async (_, build) => {
    await writeFile(join(root, "etc/existing"), "e");
    const tar = build(new TarBuilder(), { outsideRel: outside.slice(1), host: hostTarget }).finish();
    const err = await putArchive(root, "/", Readable.from([tar])).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "container/archive-refused" });
    expect(existsSync(join(root, "etc/x"))).toBe(false);
  });

  it("refuses paths through a symlink already in the container, and directories replacing one", async () => {
    await symlink("/", join(root, "esc"));
    for (const tar of [
      new TarBuilder().file(`esc${outside}/x`, "x").finish(),
      new TarBuilder().file(`esc${hostTarget}`, "x").finish(),
      new TarBuilder().dir("esc/").file("esc/x", "x").finish(),
    ]) {
      await expect(putArchive(root, "/", Readable.from([tar]))).rejects.toMatchObject({
        code: "container/archive-refused",
      });
    }
    expect((await lstat(join(root, "esc"))).isSymbolicLink()).toBe(true);
  });

  it("replaces an existing file or symlink instead of writing through it", async () => {
    await symlink(join(outside, "keep"), join(root, "dst/keep-link"));
    await writeFile(join(root, "dst/plain"), "old");
    const tar = new TarBuilder().file("keep-link", "replaced").file("plain", "new").finish();
    await putArchive(root, "/dst", Readable.from([tar]));
    expect((await lstat(join(root, "dst/keep-link"))).isFile()).toBe(true);
    expect(await readFile(join(root, "dst/keep-link"), "utf8")).toBe("replaced");
    expect(await readFile(join(root, "dst/plain"), "utf8")).toBe("new");
  });
});
