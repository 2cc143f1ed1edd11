/**
 * The image store on a real filesystem, with the real layer unpacker. Layers are built in the test
 * with the `tar` CLI and zlib; a crash is a real SIGKILL of a child process.
 */
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";

import { describe, expect, it } from "vitest";

import { writeFileAtomic } from "../../../src/common/atomic.js";
import { TsstackError } from "../../../src/common/errors.js";
import { sha256 } from "../../../src/runtime/images/digest.js";
import {
  hostPlatform,
  ImageStore,
  selectManifest,
  type ImageStoreOptions,
  type UnpackLayerFn,
} from "../../../src/runtime/images/store.js";
import { MediaType, type ImageIndex } from "../../../src/runtime/images/types.js";
import { unpackLayer } from "../../../src/runtime/images/unpack.js";
import { useImageStores } from "../../helpers/stores.js";
import { useTmpDirs } from "../../helpers/tmp.js";

const execFileAsync = promisify(execFile);
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const tmp = useTmpDirs("tsstack-store-");
const openTracked = useImageStores();

/* ------------------------------------------------------------------------------------------------ */
/* Building layers and images                                                                       */
/* ------------------------------------------------------------------------------------------------ */

interface Layer {
  readonly blob: Buffer;
  readonly digest: string;
  readonly diffId: string;
  readonly mediaType: string;
}

/** A layer from `{path: content}`; a path ending in `/` is a directory. */
async function makeLayer(
  files: Record<string, string>,
  compression: "gzip" | "none" = "gzip",
): Promise<Layer> {
  const dir = await tmp();
  for (const [name, content] of Object.entries(files)) {
    if (name.endsWith("/")) {
      await mkdir(join(dir, name), { recursive: true });
    } else {
      await mkdir(dirname(join(dir, name)), { recursive: true });
      await writeFile(join(dir, name), content);
    }
  }
  const { stdout: tar } = await execFileAsync(
    "tar",
    ["--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0", "-C", dir, "-cf", "-", "."],
    { encoding: "buffer", maxBuffer: 64 << 20 },
  );
  const blob = compression === "gzip" ? gzipSync(tar) : tar;
  return {
    blob,
    digest: sha256(blob),
    diffId: sha256(tar),
    mediaType: compression === "gzip" ? MediaType.ociLayerGzip : MediaType.ociLayer,
  };
}

interface TestImage {
  readonly manifest: Buffer;
  readonly manifestDigest: string;
  readonly id: string;
  readonly config: Buffer;
  readonly layers: readonly Layer[];
}

function makeImage(
  layers: readonly Layer[],
  opts: { label?: string; diffIds?: string[]; docker?: boolean } = {},
): TestImage {
  const config = Buffer.from(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      created: "2024-01-01T00:00:00Z",
      config: { Labels: { test: opts.label ?? "x" } },
      rootfs: { type: "layers", diff_ids: opts.diffIds ?? layers.map((l) => l.diffId) },
    }),
  );
  const id = sha256(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: opts.docker === true ? MediaType.dockerManifest : MediaType.ociManifest,
      config: {
        mediaType: opts.docker === true ? MediaType.dockerConfig : MediaType.ociConfig,
        digest: id,
        size: config.length,
      },
      layers: layers.map((l) => ({
        mediaType: opts.docker === true ? MediaType.dockerLayerGzip : l.mediaType,
        digest: l.digest,
        size: l.blob.length,
      })),
    }),
  );
  return { manifest, manifestDigest: sha256(manifest), id, config, layers };
}

async function putBlobs(store: ImageStore, image: TestImage): Promise<void> {
  for (const blob of [image.config, ...image.layers.map((l) => l.blob)]) {
    await store.writeBlob(Readable.from([blob]), { digest: sha256(blob), size: blob.length });
  }
}

/** The real unpacker, counting the layer blobs it is asked to unpack. */
function countingUnpack(): { unpack: UnpackLayerFn; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    unpack: (opts) => {
      calls.push(`sha256:${opts.blobPath.slice(-64)}`);
      return unpackLayer(opts);
    },
  };
}

async function openStore(
  root: string,
  opts: ImageStoreOptions = {},
): Promise<{ store: ImageStore; calls: string[] }> {
  const counting = countingUnpack();
  const store = await openTracked(root, { unpack: counting.unpack, blobGracePeriodMs: 0, ...opts });
  return { store, calls: counting.calls };
}

const dirs = (root: string) => ({
  blobs: join(root, "images", "blobs", "sha256"),
  snapshots: join(root, "images", "snapshots"),
  tmp: join(root, "images", "tmp"),
});

const ls = (dir: string): Promise<string[]> => readdir(dir).then((names) => names.sort());

async function rejection(promise: Promise<unknown>): Promise<TsstackError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof TsstackError) return error;
    throw error;
  }
  throw new Error("expected a rejection");
}

async function* chunks(...parts: Buffer[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) {
    await Promise.resolve();
    yield part;
  }
}

/* ------------------------------------------------------------------------------------------------ */

describe("ImageStore: blobs", () => {
  it("creates the OCI image layout and stores a blob under blobs/sha256/<hex> after verifying it", async () => {
    const root = await tmp();
    const { store } = await openStore(root);
    expect(JSON.parse(await readFile(join(root, "images", "oci-layout"), "utf8"))).toEqual({
      imageLayoutVersion: "1.0.0",
    });
    const data = Buffer.from("hello blob");
    const written = await store.writeBlob(chunks(data.subarray(0, 3), data.subarray(3)), {
      digest: sha256(data),
      size: data.length,
    });
    expect(written).toEqual({ digest: sha256(data), size: data.length });
    expect(store.blobPath(sha256(data))).toBe(join(dirs(root).blobs, sha256(data).slice(7)));
    expect(await store.hasBlob(sha256(data))).toBe(true);
    expect(await store.readBlob(sha256(data))).toEqual(data);
    expect(await ls(dirs(root).tmp)).toEqual([]);
  });

  it("computes the digest when none is expected", async () => {
    const { store } = await openStore(await tmp());
    expect(await store.writeBlob(chunks(Buffer.from("abc")))).toEqual({ digest: sha256("abc"), size: 3 });
  });

  it.each([
    ["a wrong digest", { digest: sha256("other") }, "image/digest-mismatch"],
    ["a smaller size", { size: 5 }, "image/size-mismatch"],
    ["a larger size", { size: 50 }, "image/size-mismatch"],
    ["a right size but wrong digest", { digest: sha256("other"), size: 10 }, "image/digest-mismatch"],
  ])("refuses content with %s and leaves nothing in blobs/ or tmp/", async (_what, expected, code) => {
    const root = await tmp();
    const { store } = await openStore(root);
    const error = await rejection(store.writeBlob(chunks(Buffer.from("0123456789")), expected));
    expect(error.code).toBe(code);
    expect(await ls(dirs(root).blobs)).toEqual([]);
    expect(await ls(dirs(root).tmp)).toEqual([]);
  });

  it("stops reading a stream as soon as it overruns the expected size", async () => {
    const root = await tmp();
    const { store } = await openStore(root);
    let pulled = 0;
    async function* endless(): AsyncGenerator<Uint8Array> {
      for (;;) {
        pulled += 1;
        await Promise.resolve();
        yield Buffer.alloc(1024);
      }
    }
    const error = await rejection(store.writeBlob(endless(), { size: 4096 }));
    expect(error.code).toBe("image/size-mismatch");
    expect(pulled).toBe(5);
    expect(await ls(dirs(root).tmp)).toEqual([]);
  });

  it("leaves nothing behind when the source fails midway", async () => {
    const root = await tmp();
    const { store } = await openStore(root);
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield Buffer.from("part");
      await Promise.resolve();
      throw new Error("connection reset");
    }
    await expect(store.writeBlob(failing(), { digest: sha256("partial") })).rejects.toThrow(
      "connection reset",
    );
    expect(await ls(dirs(root).blobs)).toEqual([]);
    expect(await ls(dirs(root).tmp)).toEqual([]);
  });

  it("is idempotent: a blob already present is not rewritten and its source is closed unread", async () => {
    const root = await tmp();
    const { store } = await openStore(root);
    const data = Buffer.from("same");
    await store.writeBlob(chunks(data), { digest: sha256(data) });
    const before = await stat(store.blobPath(sha256(data)));
    let nexts = 0;
    let closed = false;
    const iterable: AsyncIterable<Uint8Array> = {
      [Symbol.asyncIterator]: () => ({
        next: () => {
          nexts += 1;
          return Promise.resolve({ done: false, value: data });
        },
        return: () => {
          closed = true;
          return Promise.resolve({ done: true, value: undefined });
        },
      }),
    };
    expect(await store.writeBlob(iterable, { digest: sha256(data), size: 4 })).toEqual({
      digest: sha256(data),
      size: 4,
    });
    expect(nexts).toBe(0);
    expect(closed).toBe(true);
    expect((await stat(store.blobPath(sha256(data)))).ino).toBe(before.ino);
    expect(await ls(dirs(root).blobs)).toEqual([sha256(data).slice(7)]);
  });

  it("refuses a malformed digest before touching the filesystem", async () => {
    const { store } = await openStore(await tmp());
    expect(() => store.blobPath("sha256:../../etc/passwd")).toThrow(TsstackError);
    expect((await rejection(store.readBlob(sha256("absent")))).code).toBe("image/blob-not-found");
  });
});

describe("ImageStore: adding images", () => {
  it("registers an image: unpacks its layers, records chain IDs and normalized names", async () => {
    const root = await tmp();
    const { store, calls } = await openStore(root);
    const base = await makeLayer({ "etc/": "", "etc/os-release": "ID=test\n" });
    const top = await makeLayer({ "app/run.sh": "echo hi\n" }, "none");
    const image = makeImage([base, top]);
    await putBlobs(store, image);

    const record = await store.addImage(image.manifest, {
      names: ["busybox", "localhost:5000/team/app:1.0"],
      repoDigest: `localhost:5000/team/app@${image.manifestDigest}`,
    });

    expect(record.id).toBe(image.id);
    expect(record.manifestDigest).toBe(image.manifestDigest);
    expect(record.manifestMediaType).toBe(MediaType.ociManifest);
    expect(record.repoTags).toEqual(["docker.io/library/busybox:latest", "localhost:5000/team/app:1.0"]);
    expect(record.repoDigests).toEqual([`localhost:5000/team/app@${image.manifestDigest}`]);
    expect(record.layers.map((l) => l.diffId)).toEqual([base.diffId, top.diffId]);
    expect(record.layers[0]?.chainId).toBe(base.diffId);
    expect(record.layers[1]?.chainId).toBe(sha256(`${base.diffId} ${top.diffId}`));
    expect(record.size).toBe(
      image.manifest.length + image.config.length + base.blob.length + top.blob.length,
    );
    expect(record).toMatchObject({ os: "linux", architecture: "amd64", created: "2024-01-01T00:00:00Z" });
    expect(calls).toEqual([base.digest, top.digest]);

    const [lower, upper] = store.snapshotPaths(record);
    expect(lower).toBe(join(dirs(root).snapshots, base.diffId.slice(7)));
    expect(await readFile(join(lower ?? "", "etc", "os-release"), "utf8")).toBe("ID=test\n");
    expect(await readFile(join(upper ?? "", "app", "run.sh"), "utf8")).toBe("echo hi\n");
    expect(await store.hasBlob(image.manifestDigest)).toBe(true);
    expect(await ls(dirs(root).tmp)).toEqual([]);
  });

  it("resolves by name, familiar name, full id, id prefix and repo digest", async () => {
    const { store } = await openStore(await tmp());
    const image = makeImage([await makeLayer({ f: "1" })]);
    await putBlobs(store, image);
    await store.addImage(image.manifest, {
      names: ["docker.io/library/web:1"],
      repoDigest: `registry.example.com/web@${image.manifestDigest}`,
    });
    const hex = image.id.slice(7);
    for (const ref of [
      "web:1",
      "library/web:1",
      "docker.io/library/web:1",
      image.id,
      hex,
      hex.slice(0, 12),
      `sha256:${hex.slice(0, 8)}`,
      `registry.example.com/web@${image.manifestDigest}`,
      `web@${image.manifestDigest}`,
    ]) {
      expect((await store.resolve(ref))?.id, ref).toBe(image.id);
    }
    for (const ref of ["web", "web:2", "other:1", "abcdef", `elsewhere/web@${image.manifestDigest}`]) {
      expect(await store.resolve(ref), ref).toBeUndefined();
    }
    expect((await rejection(store.resolve("Not Valid"))).code).toBe("image/invalid-reference");
  });

  it("accepts Docker v2 schema 2 manifests", async () => {
    const { store } = await openStore(await tmp());
    const image = makeImage([await makeLayer({ f: "docker" })], { docker: true });
    await putBlobs(store, image);
    const record = await store.addImage(image.manifest, { names: ["d:1"] });
    expect(record.manifestMediaType).toBe(MediaType.dockerManifest);
    expect(record.layers[0]?.mediaType).toBe(MediaType.dockerLayerGzip);
  });

  it("refuses an image whose layer does not match its config's diff ID, registering nothing", async () => {
    const root = await tmp();
    const { store } = await openStore(root);
    const good = await makeLayer({ a: "a" });
    const liar = await makeLayer({ b: "b" });
    const image = makeImage([good, liar], { diffIds: [good.diffId, sha256("something else")] });
    await putBlobs(store, image);

    const error = await rejection(store.addImage(image.manifest, { names: ["liar:1"] }));
    expect(error.code).toBe("image/diff-id-mismatch");
    expect(error.message).toContain(`layer 1 (${liar.digest})`);
    expect(error.message).toContain(sha256("something else"));
    expect(await store.list()).toEqual([]);
    expect(await store.resolve("liar:1")).toBeUndefined();
    // The good lower layer is a verified snapshot and stays for reuse; the bad one left no trace.
    expect(await ls(dirs(root).snapshots)).toEqual([good.diffId.slice(7)]);
    expect(await ls(dirs(root).tmp)).toEqual([]);
    await store.close();
    const reopened = await openTracked(root, { unpack: unpackLayer });
    expect(await reopened.list()).toEqual([]);
  });

  it("refuses an image whose blobs are missing or whose descriptor size is wrong", async () => {
    const { store } = await openStore(await tmp());
    const layer = await makeLayer({ a: "a" });
    const image = makeImage([layer]);
    await store.writeBlob(chunks(image.config));
    const missing = await rejection(store.addImage(image.manifest));
    expect(missing.code).toBe("image/blob-not-found");
    expect(missing.message).toContain(layer.digest);

    await store.writeBlob(chunks(layer.blob));
    const wrongSize = JSON.parse(image.manifest.toString()) as { layers: { size: number }[] };
    const [first] = wrongSize.layers;
    if (first !== undefined) first.size += 1;
    const error = await rejection(store.addImage(Buffer.from(JSON.stringify(wrongSize))));
    expect(error.code).toBe("image/size-mismatch");
    expect(await store.list()).toEqual([]);
  });

  it.each([
    ["an OCI index", { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] }, "selectManifest"],
    [
      "a Docker manifest list",
      { schemaVersion: 2, mediaType: MediaType.dockerManifestList, manifests: [] },
      "index",
    ],
    ["a schema 1 manifest", { schemaVersion: 1, name: "x", fsLayers: [] }, "schema 1"],
    [
      "an artifact",
      {
        schemaVersion: 2,
        config: { mediaType: "application/x-helm", digest: sha256("c"), size: 1 },
        layers: [],
      },
      "not an image config",
    ],
    [
      "a manifest without layers",
      { schemaVersion: 2, config: { mediaType: MediaType.ociConfig, digest: sha256("c"), size: 1 } },
      "layers",
    ],
    [
      "a descriptor with a bad digest",
      {
        schemaVersion: 2,
        config: { mediaType: MediaType.ociConfig, digest: "sha256:../x", size: 1 },
        layers: [],
      },
      "config.digest",
    ],
  ])("refuses %s with a clear error", async (_what, manifest, messagePart) => {
    const { store } = await openStore(await tmp());
    const error = await rejection(store.addImage(Buffer.from(JSON.stringify(manifest))));
    expect(error.code).toMatch(/^image\/(unsupported|invalid)-manifest$/);
    expect(error.message).toContain(messagePart);
  });

  it("refuses a name with a digest before doing any work", async () => {
    const root = await tmp();
    const { store } = await openStore(root);
    const image = makeImage([]);
    await putBlobs(store, image);
    const error = await rejection(store.addImage(image.manifest, { names: [`x@${image.manifestDigest}`] }));
    expect(error.code).toBe("image/invalid-reference");
    expect(await store.hasBlob(image.manifestDigest)).toBe(false);
  });

  it("re-adding an image is cheap and merges names and repo digests", async () => {
    const { store, calls } = await openStore(await tmp());
    const image = makeImage([await makeLayer({ a: "a" })]);
    await putBlobs(store, image);
    await store.addImage(image.manifest, { names: ["one"], repoDigest: `r.io/one@${image.manifestDigest}` });
    const again = await store.addImage(image.manifest, {
      names: ["two"],
      repoDigest: `r.io/two@${image.manifestDigest}`,
    });
    expect(calls).toHaveLength(1);
    expect(again.repoTags).toEqual(["docker.io/library/one:latest", "docker.io/library/two:latest"]);
    expect(again.repoDigests).toEqual([
      `r.io/one@${image.manifestDigest}`,
      `r.io/two@${image.manifestDigest}`,
    ]);
    expect(await store.list()).toHaveLength(1);
  });
});

describe("ImageStore: layer sharing", () => {
  it("two images with a common base share one snapshot; the second adds only its new layer", async () => {
    const root = await tmp();
    const { store, calls } = await openStore(root);
    const base = await makeLayer({ "bin/sh": "shell" });
    const a = makeImage([base, await makeLayer({ "a.txt": "a" })], { label: "a" });
    const b = makeImage([base, await makeLayer({ "b.txt": "b" })], { label: "b" });
    await putBlobs(store, a);
    await putBlobs(store, b);

    const recordA = await store.addImage(a.manifest, { names: ["a"] });
    expect(calls).toHaveLength(2);
    const recordB = await store.addImage(b.manifest, { names: ["b"] });
    expect(calls).toEqual([base.digest, a.layers[1]?.digest, b.layers[1]?.digest]);

    const [baseOfA] = store.snapshotPaths(recordA);
    const [baseOfB] = store.snapshotPaths(recordB);
    expect(baseOfA).toBe(baseOfB);
    expect((await stat(join(baseOfA ?? "", "bin", "sh"))).ino).toBe(
      (await stat(join(baseOfB ?? "", "bin", "sh"))).ino,
    );
    expect(await ls(dirs(root).snapshots)).toHaveLength(3);
  });

  it("the same layer on a different parent is a different snapshot (keyed by chain ID)", async () => {
    const root = await tmp();
    const { store } = await openStore(root);
    const x = await makeLayer({ x: "x" });
    const y = await makeLayer({ y: "y" });
    const xy = makeImage([x, y]);
    const yx = makeImage([y, x]);
    await putBlobs(store, xy);
    await putBlobs(store, yx);
    await store.addImage(xy.manifest);
    await store.addImage(yx.manifest);
    expect(await ls(dirs(root).snapshots)).toHaveLength(4);
  });

  it("concurrent adds of images sharing a base unpack the shared layer once", async () => {
    const root = await tmp();
    const calls: string[] = [];
    const base = await makeLayer({ "lib/libc.so": "libc" });
    // The base unpack takes a while, so the second add reaches it while the first is still at it.
    const slow: UnpackLayerFn = async (opts) => {
      calls.push(`sha256:${opts.blobPath.slice(-64)}`);
      if (opts.blobPath.endsWith(base.digest.slice(7))) await new Promise((r) => setTimeout(r, 150));
      return unpackLayer(opts);
    };
    const { store } = await openStore(root, { unpack: slow });
    const images = [
      makeImage([base, await makeLayer({ one: "1" })], { label: "1" }),
      makeImage([base, await makeLayer({ two: "2" })], { label: "2" }),
      makeImage([base], { label: "3" }),
    ];
    for (const image of images) await putBlobs(store, image);

    const records = await Promise.all(
      images.map((image, i) => store.addImage(image.manifest, { names: [`c:${i}`] })),
    );

    expect(calls.filter((c) => c === base.digest)).toHaveLength(1);
    expect(calls).toHaveLength(3);
    expect(new Set(records.map((r) => store.snapshotPaths(r)[0])).size).toBe(1);
    expect(
      (await store.list())
        .map((r) => r.repoTags)
        .flat()
        .sort(),
    ).toEqual(["docker.io/library/c:0", "docker.io/library/c:1", "docker.io/library/c:2"]);
    expect(await ls(dirs(root).tmp)).toEqual([]);
  });
});

describe("ImageStore: every layer blob is verified against its diff ID", () => {
  /** A store whose hashes-without-unpacking (`onVerify`) and unpacks are both counted. */
  async function countingStore(
    root: string,
  ): Promise<{ store: ImageStore; calls: string[]; verified: string[] }> {
    const verified: string[] = [];
    const { store, calls } = await openStore(root, { onVerify: (layer) => verified.push(layer.digest) });
    return { store, calls, verified };
  }

  /** The same uncompressed layer as a plain tar and gzipped: two blobs, one diff ID. */
  async function twoCompressions(files: Record<string, string>): Promise<{ plain: Layer; gzip: Layer }> {
    const plain = await makeLayer(files, "none");
    const blob = gzipSync(plain.blob);
    return {
      plain,
      gzip: { blob, digest: sha256(blob), diffId: plain.diffId, mediaType: MediaType.ociLayerGzip },
    };
  }

  async function dbDiffIds(root: string): Promise<Record<string, string>> {
    const db = JSON.parse(await readFile(join(root, "images", "db.json"), "utf8")) as {
      verifiedDiffIds: Record<string, string>;
    };
    return db.verifiedDiffIds;
  }

  it("refuses a layer blob that claims the diff ID of another image's snapshot but has other content", async () => {
    const root = await tmp();
    const { store, calls, verified } = await countingStore(root);
    const base = await makeLayer({ "bin/sh": "shell" });
    const layer = await makeLayer({ "app/run": "the real app" });
    const a = makeImage([base, layer], { label: "a" });
    await putBlobs(store, a);
    await store.addImage(a.manifest, { names: ["a:1"] });
    const snapshotsBefore = await ls(dirs(root).snapshots);
    const dbBefore = await readFile(join(root, "images", "db.json"), "utf8");

    // B's config claims A's diff IDs, so the chain IDs (and snapshots) are A's; its second blob is not.
    const evil = await makeLayer({ "app/run": "something else entirely" });
    const b = makeImage([base, evil], { label: "b", diffIds: [base.diffId, layer.diffId] });
    await putBlobs(store, b);
    const error = await rejection(store.addImage(b.manifest, { names: ["b:1"] }));

    expect(error.code).toBe("image/diff-id-mismatch");
    expect(error.message).toContain(`layer 1 (${evil.digest})`);
    expect(error.message).toContain(`has digest ${evil.diffId}`);
    expect(error.message).toContain(`lists ${layer.diffId} (rootfs.diff_ids[1])`);
    expect(verified).toEqual([evil.digest]);
    expect(calls).toEqual([base.digest, layer.digest]);
    expect((await store.list()).map((r) => r.id)).toEqual([a.id]);
    expect(await store.resolve("b:1")).toBeUndefined();
    expect(await store.resolve(b.id)).toBeUndefined();
    expect(await ls(dirs(root).snapshots)).toEqual(snapshotsBefore);
    expect(await readFile(join(root, "images", "db.json"), "utf8")).toBe(dbBefore);
    expect(await ls(dirs(root).tmp)).toEqual([]);

    // Refused every time, after a reopen too: a failed check is not remembered as a pass.
    expect((await rejection(store.addImage(b.manifest))).code).toBe("image/diff-id-mismatch");
    await store.close();
    const reopened = await countingStore(root);
    expect((await rejection(reopened.store.addImage(b.manifest))).code).toBe("image/diff-id-mismatch");
    expect(reopened.verified).toEqual([evil.digest]);
    expect((await reopened.store.list()).map((r) => r.id)).toEqual([a.id]);
  });

  it("accepts an image sharing another image's exact layer blob without hashing it again", async () => {
    const root = await tmp();
    const { store, calls, verified } = await countingStore(root);
    const base = await makeLayer({ "bin/sh": "shell" });
    const a = makeImage([base, await makeLayer({ a: "a" })], { label: "a" });
    const b = makeImage([base], { label: "b" });
    await putBlobs(store, a);
    await putBlobs(store, b);
    const recordA = await store.addImage(a.manifest, { names: ["a:1"] });
    const recordB = await store.addImage(b.manifest, { names: ["b:1"] });

    expect(verified).toEqual([]);
    expect(calls).toEqual([base.digest, a.layers[1]?.digest]);
    expect(store.snapshotPaths(recordB)[0]).toBe(store.snapshotPaths(recordA)[0]);
    expect(await dbDiffIds(root)).toEqual({
      [base.digest]: base.diffId,
      [a.layers[1]?.digest ?? ""]: a.layers[1]?.diffId,
    });
  });

  it("accepts the same layer in another compression after one hash, sharing the snapshot", async () => {
    const root = await tmp();
    const { store, calls, verified } = await countingStore(root);
    const { plain, gzip } = await twoCompressions({ "etc/": "", "etc/motd": "hello\n" });
    expect(plain.digest).not.toBe(gzip.digest);
    const a = makeImage([gzip], { label: "gzip" });
    const b = makeImage([plain], { label: "plain" });
    await putBlobs(store, a);
    await putBlobs(store, b);

    const recordA = await store.addImage(a.manifest, { names: ["a:1"] });
    const recordB = await store.addImage(b.manifest, { names: ["b:1"] });
    expect(calls).toEqual([gzip.digest]);
    expect(verified).toEqual([plain.digest]);
    expect(recordB.layers[0]).toMatchObject({ digest: plain.digest, diffId: plain.diffId });
    expect(store.snapshotPaths(recordB)).toEqual(store.snapshotPaths(recordA));
    expect(await ls(dirs(root).snapshots)).toEqual([plain.diffId.slice(7)]);

    // Re-adding, or a third image with the same blob, hashes nothing.
    await store.addImage(b.manifest, { names: ["b:2"] });
    const c = makeImage([plain], { label: "c" });
    await putBlobs(store, c);
    await store.addImage(c.manifest);
    expect(verified).toEqual([plain.digest]);
    expect(calls).toEqual([gzip.digest]);
  });

  it("remembers verified blobs across a reopen, and gc forgets those whose blob is gone", async () => {
    const root = await tmp();
    const first = await countingStore(root);
    const { plain, gzip } = await twoCompressions({ f: "shared" });
    const a = makeImage([gzip], { label: "a" });
    const b = makeImage([plain], { label: "b" });
    await putBlobs(first.store, a);
    await putBlobs(first.store, b);
    await first.store.addImage(a.manifest, { names: ["a:1"] });
    await first.store.addImage(b.manifest, { names: ["b:1"] });
    expect(first.verified).toEqual([plain.digest]);
    expect(await dbDiffIds(root)).toEqual({ [gzip.digest]: gzip.diffId, [plain.digest]: plain.diffId });
    await first.store.close();

    const second = await countingStore(root);
    const c = makeImage([plain], { label: "c" });
    await putBlobs(second.store, c);
    await second.store.addImage(c.manifest, { names: ["c:1"] });
    await second.store.addImage(b.manifest, { names: ["b:2"] });
    expect(second.verified).toEqual([]);
    expect(second.calls).toEqual([]);

    // Removing the last images using the plain blob deletes it, and its record with it.
    await second.store.remove(b.id, { force: true });
    await second.store.remove("c:1");
    expect(await second.store.hasBlob(plain.digest)).toBe(false);
    expect(await dbDiffIds(root)).toEqual({ [gzip.digest]: gzip.diffId });

    // A blob that vanished some other way is forgotten by the next full gc.
    await rm(second.store.blobPath(gzip.digest));
    await second.store.gc();
    expect(await dbDiffIds(root)).toEqual({});
  });

  it("opens a db.json written before verified diff IDs were recorded, and verifies shared layers once", async () => {
    const root = await tmp();
    const first = await countingStore(root);
    const base = await makeLayer({ base: "base" });
    const a = makeImage([base], { label: "a" });
    const b = makeImage([base], { label: "b" });
    await putBlobs(first.store, a);
    await putBlobs(first.store, b);
    await first.store.addImage(a.manifest, { names: ["a:1"] });
    const dbPath = join(root, "images", "db.json");
    const { verifiedDiffIds: _dropped, ...legacy } = JSON.parse(await readFile(dbPath, "utf8")) as Record<
      string,
      unknown
    >;
    await writeFile(dbPath, JSON.stringify(legacy));
    await first.store.close();

    const second = await countingStore(root);
    expect((await second.store.resolve("a:1"))?.id).toBe(a.id);
    await second.store.addImage(b.manifest, { names: ["b:1"] });
    await second.store.addImage(a.manifest, { names: ["a:2"] });
    expect(second.verified).toEqual([base.digest]);
    expect(second.calls).toEqual([]);
    expect(await dbDiffIds(root)).toEqual({ [base.digest]: base.diffId });
  });
});

describe("ImageStore: tags, removal and garbage collection", () => {
  async function twoImagesSharingABase(opts: ImageStoreOptions = {}) {
    const root = await tmp();
    const { store } = await openStore(root, opts);
    const base = await makeLayer({ base: "base" });
    const a = makeImage([base, await makeLayer({ a: "a" })], { label: "a" });
    const b = makeImage([base, await makeLayer({ b: "b" })], { label: "b" });
    await putBlobs(store, a);
    await putBlobs(store, b);
    const recordA = await store.addImage(a.manifest, { names: ["a:1"] });
    const recordB = await store.addImage(b.manifest, { names: ["b:1"] });
    return { root, store, base, a, b, recordA, recordB };
  }

  it("tag points a new name at an image and moves a name that pointed elsewhere", async () => {
    const { store, a, b } = await twoImagesSharingABase();
    await store.tag("a:1", "localhost:5000/copy:x");
    expect((await store.resolve("localhost:5000/copy:x"))?.id).toBe(a.id);
    await store.tag(b.id, "a:1");
    expect((await store.resolve("a:1"))?.id).toBe(b.id);
    expect((await store.resolve(a.id))?.repoTags).toEqual(["localhost:5000/copy:x"]);
    expect((await rejection(store.tag("nope:1", "x"))).code).toBe("image/not-found");
    expect((await rejection(store.tag("a:1", `x@${a.manifestDigest}`))).code).toBe("image/invalid-reference");
  });

  it("removing one of two images keeps the shared base until the last user goes", async () => {
    const { root, store, base, a, b } = await twoImagesSharingABase();
    expect(await store.remove("a:1")).toEqual({ untagged: ["docker.io/library/a:1"], deleted: [a.id] });
    expect(await store.resolve(a.id)).toBeUndefined();
    expect(await store.hasBlob(base.digest)).toBe(true);
    expect(await store.hasBlob(a.layers[1]?.digest ?? "")).toBe(false);
    expect(await store.hasBlob(a.id)).toBe(false);
    expect(await store.hasBlob(a.manifestDigest)).toBe(false);
    expect(await ls(dirs(root).snapshots)).toHaveLength(2);
    const recordB = await store.resolve("b:1");
    for (const path of store.snapshotPaths(recordB ?? (await Promise.reject(new Error("b vanished"))))) {
      expect((await stat(path)).isDirectory()).toBe(true);
    }

    expect(await store.remove(b.id)).toEqual({ untagged: ["docker.io/library/b:1"], deleted: [b.id] });
    expect(await ls(dirs(root).blobs)).toEqual([]);
    expect(await ls(dirs(root).snapshots)).toEqual([]);
    expect(await ls(dirs(root).tmp)).toEqual([]);
  });

  it("removing a name untags only while other names remain; an id with several names needs force", async () => {
    const { store, a } = await twoImagesSharingABase();
    await store.tag("a:1", "a:2");
    expect(await store.remove("a:2")).toEqual({ untagged: ["docker.io/library/a:2"], deleted: [] });
    await store.tag("a:1", "a:3");
    expect((await rejection(store.remove(a.id))).code).toBe("image/conflict");
    expect(await store.remove(a.id.slice(7, 19), { force: true })).toEqual({
      untagged: ["docker.io/library/a:1", "docker.io/library/a:3"],
      deleted: [a.id],
    });
    expect((await rejection(store.remove("a:1"))).code).toBe("image/not-found");
  });

  it("an image in use is not deleted: remove is refused, and force only untags it", async () => {
    const inUse = new Set<string>();
    const { root, store, a } = await twoImagesSharingABase({ inUse: (id) => inUse.has(id) });
    inUse.add(a.id);
    const refused = await rejection(store.remove("a:1"));
    expect(refused.code).toBe("image/in-use");
    expect(refused.message).toContain(a.id);
    expect((await store.resolve("a:1"))?.id).toBe(a.id);

    expect(await store.remove("a:1", { force: true })).toEqual({
      untagged: ["docker.io/library/a:1"],
      deleted: [],
    });
    const dangling = await store.resolve(a.id);
    expect(dangling?.repoTags).toEqual([]);
    expect((await rejection(store.remove(a.id, { force: true }))).code).toBe("image/in-use");

    expect((await store.prune({ all: true })).deleted).not.toContain(a.id);
    await store.gc();
    expect(await store.resolve(a.id)).toBeDefined();
    for (const path of store.snapshotPaths(dangling ?? (await Promise.reject(new Error("gone"))))) {
      expect((await stat(path)).isDirectory()).toBe(true);
    }
    for (const layer of a.layers) expect(await store.hasBlob(layer.digest)).toBe(true);
    expect(await ls(dirs(root).snapshots)).toHaveLength(2);

    inUse.delete(a.id);
    expect((await store.prune()).deleted).toEqual([a.id]);
  });

  it("prune removes dangling images (all unused ones with `all`) and reports the bytes reclaimed", async () => {
    const { root, store, a, b } = await twoImagesSharingABase();
    await store.tag("b:1", "a:1"); // a is now dangling
    const pruned = await store.prune();
    expect(pruned.deleted).toEqual([a.id]);
    const ownBytes = a.manifest.length + a.config.length + (a.layers[1]?.blob.length ?? 0);
    // Blobs plus the unpacked file `a` (1 byte).
    expect(pruned.reclaimedBytes).toBe(ownBytes + 1);
    expect((await store.list()).map((r) => r.id)).toEqual([b.id]);

    const all = await store.prune({ all: true });
    expect(all.deleted).toEqual([b.id]);
    expect(await ls(dirs(root).blobs)).toEqual([]);
    expect(await ls(dirs(root).snapshots)).toEqual([]);
  });

  it("gc drops unreferenced blobs and snapshots and keeps everything an image references", async () => {
    const { root, store, recordA, recordB } = await twoImagesSharingABase();
    const orphan = await store.writeBlob(chunks(Buffer.from("orphan blob")));
    const orphanSnapshot = join(dirs(root).snapshots, sha256("orphan").slice(7));
    await mkdir(join(orphanSnapshot, "usr"), { recursive: true });
    await writeFile(join(orphanSnapshot, "usr", "file"), "12345");
    const notOurs = join(dirs(root).blobs, "README");
    await writeFile(notOurs, "not a blob name");

    expect(await store.gc()).toEqual({ blobs: 1, snapshots: 1, reclaimedBytes: orphan.size + 5 });
    expect(await store.hasBlob(orphan.digest)).toBe(false);
    await expect(stat(orphanSnapshot)).rejects.toThrow();
    await expect(stat(notOurs)).resolves.toBeDefined();
    for (const record of [recordA, recordB]) {
      for (const layer of record.layers) expect(await store.hasBlob(layer.digest)).toBe(true);
      for (const path of store.snapshotPaths(record)) expect((await stat(path)).isDirectory()).toBe(true);
    }
    expect(await store.gc()).toEqual({ blobs: 0, snapshots: 0, reclaimedBytes: 0 });
  });

  it("gc spares blobs just written by this process (a pull before its addImage) for the grace period", async () => {
    let now = 1_000_000;
    const root = await tmp();
    const { store } = await openStore(root, { blobGracePeriodMs: 60_000, now: () => now });
    const image = makeImage([await makeLayer({ a: "a" })]);
    await putBlobs(store, image);
    expect((await store.gc()).blobs).toBe(0);
    // Once the image is added, its blobs are referenced and the grace protection is dropped.
    const record = await store.addImage(image.manifest);
    now += 1;
    await store.remove(record.id);
    expect(await ls(dirs(root).blobs)).toEqual([]);

    const lone = await store.writeBlob(chunks(Buffer.from("pulled, never added")));
    now += 59_999;
    expect((await store.gc()).blobs).toBe(0);
    now += 1;
    expect((await store.gc()).blobs).toBe(1);
    expect(await store.hasBlob(lone.digest)).toBe(false);
  });
});

describe("ImageStore: crash safety", () => {
  it("a crash after blobs and snapshots but before db.json registers nothing; re-adding reuses the content", async () => {
    const root = await tmp();
    const first = await openStore(root);
    const image = makeImage([await makeLayer({ a: "a" }), await makeLayer({ b: "b" })]);
    await putBlobs(first.store, image);
    // A directory where db.json goes makes its final rename fail: everything before the db write
    // happened, the db write did not.
    const dbPath = join(root, "images", "db.json");
    await mkdir(join(dbPath, "blocker"), { recursive: true });
    await expect(first.store.addImage(image.manifest, { names: ["crash:1"] })).rejects.toThrow();
    expect(first.calls).toHaveLength(2);
    expect(await ls(dirs(root).snapshots)).toHaveLength(2);
    expect(await first.store.list()).toEqual([]);
    await rm(dbPath, { recursive: true });
    await first.store.close();

    const second = await openStore(root);
    expect(await second.store.list()).toEqual([]);
    expect(await second.store.resolve("crash:1")).toBeUndefined();
    const index = JSON.parse(await readFile(join(root, "images", "index.json"), "utf8")) as ImageIndex;
    expect(index.manifests).toEqual([]);
    expect((await ls(join(root, "images"))).filter((name) => name.endsWith("atomic-tmp"))).toEqual([]);

    const record = await second.store.addImage(image.manifest, { names: ["crash:1"] });
    expect(second.calls).toEqual([]);
    expect(record.id).toBe(image.id);
  });

  it("a process killed mid-unpack leaves no image; open clears tmp/ and the next add redoes only the missing layer", async () => {
    const root = await tmp();
    const lower = await makeLayer({ lower: "l" });
    const upper = await makeLayer({ upper: "u" });
    const image = makeImage([lower, upper]);
    const { store } = await openStore(root);
    await putBlobs(store, image);
    const manifestPath = join(await tmp(), "manifest.json");
    await writeFile(manifestPath, image.manifest);
    await store.close();

    const childPath = join(await tmp(), "child.mjs");
    await writeFile(
      childPath,
      `
      import { readFile, writeFile } from "node:fs/promises";
      import { join } from "node:path";
      const [storeUrl, unpackUrl, root, manifestPath, hangHex] = process.argv.slice(2);
      const { ImageStore } = await import(storeUrl);
      const { unpackLayer } = await import(unpackUrl);
      const store = await ImageStore.open(root, {
        unpack: async (opts) => {
          if (!opts.blobPath.endsWith(hangHex)) return unpackLayer(opts);
          await writeFile(join(opts.dest, "half-written"), "x");
          process.stdout.write("unpacking\\n");
          setInterval(() => {}, 1000);
          return new Promise(() => {});
        },
      });
      await store.addImage(await readFile(manifestPath), { names: ["killed:1"] });
      `,
    );
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        childPath,
        pathToFileURL(join(repoRoot, "src/runtime/images/store.ts")).href,
        pathToFileURL(join(repoRoot, "src/runtime/images/unpack.ts")).href,
        root,
        manifestPath,
        upper.digest.slice(7),
      ],
      { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    child.stderr.on("data", (data: Buffer) => (stderr += data.toString()));
    const exited = once(child, "exit");
    try {
      await new Promise<void>((resolveReady, reject) => {
        child.stdout.on("data", (data: Buffer) => {
          if (data.toString().includes("unpacking")) resolveReady();
        });
        void exited.then(() => {
          reject(new Error(`child exited early: ${stderr}`));
        });
      });
    } finally {
      child.kill("SIGKILL");
      await exited;
    }

    // The killed process left its half-unpacked layer in tmp/ and registered nothing.
    const [leftover] = await ls(dirs(root).tmp);
    expect(leftover).toMatch(/^unpack-/);
    expect(await readFile(join(dirs(root).tmp, leftover ?? "", "half-written"), "utf8")).toBe("x");
    expect(await ls(dirs(root).snapshots)).toEqual([lower.diffId.slice(7)]);

    // The killed process still has its lock file on the store root; the next open takes it over.
    expect((await readFile(join(root, "images", "lock"), "utf8")).split("\n")[0]).toBe(String(child.pid));
    const reopened = await openStore(root, { lockTimeoutMs: 5_000 });
    expect(await ls(dirs(root).tmp)).toEqual([]);
    expect(await reopened.store.list()).toEqual([]);
    const record = await reopened.store.addImage(image.manifest, { names: ["killed:1"] });
    expect(reopened.calls).toEqual([upper.digest]);
    expect(await readFile(join(store.snapshotPaths(record)[1] ?? "", "upper"), "utf8")).toBe("u");
    await expect(stat(join(store.snapshotPaths(record)[1] ?? "", "half-written"))).rejects.toThrow();
  });

  it("db.json is replaced atomically: leftovers of an interrupted write are swept and never read", async () => {
    const root = await tmp();
    const { store } = await openStore(root);
    const image = makeImage([await makeLayer({ a: "a" })]);
    await putBlobs(store, image);
    await store.addImage(image.manifest, { names: ["keep:1"] });
    const imagesDir = join(root, "images");
    expect((await ls(imagesDir)).filter((n) => n.startsWith("."))).toEqual([]);
    const db = JSON.parse(await readFile(join(imagesDir, "db.json"), "utf8")) as {
      version: number;
      names: Record<string, string>;
    };
    expect(db.version).toBe(1);
    expect(db.names).toEqual({ "docker.io/library/keep:1": image.id });

    // What a crash inside writeFileAtomic leaves: a half-written temp file beside db.json.
    const torn = join(imagesDir, ".db.json.4242.0123456789ab.atomic-tmp");
    await writeFile(torn, '{"version": 1, "images": {');
    await store.close();
    const reopened = await openStore(root);
    expect((await reopened.store.resolve("keep:1"))?.id).toBe(image.id);
    await expect(stat(torn)).rejects.toThrow();
  });

  it("a corrupt db.json is reported, not silently replaced by an empty store", async () => {
    const root = await tmp();
    await (await openStore(root)).store.close();
    await writeFile(join(root, "images", "db.json"), "{ not json");
    const error = await rejection(ImageStore.open(root));
    expect(error.code).toBe("image/store-corrupt");
    expect(error.message).toContain(join(root, "images", "db.json"));
    expect(await readFile(join(root, "images", "db.json"), "utf8")).toBe("{ not json");
  });
});

describe("ImageStore: OCI layout and platforms", () => {
  it("keeps index.json a valid OCI image layout index that skopeo can read", async () => {
    const root = await tmp();
    const { store } = await openStore(root);
    const image = makeImage([await makeLayer({ hello: "world" })]);
    await putBlobs(store, image);
    await store.addImage(image.manifest, { names: ["layout:v1"] });
    const index = JSON.parse(await readFile(join(root, "images", "index.json"), "utf8")) as ImageIndex;
    expect(index.manifests).toEqual([
      {
        mediaType: MediaType.ociManifest,
        digest: image.manifestDigest,
        size: image.manifest.length,
        platform: { architecture: "amd64", os: "linux" },
        annotations: {
          "io.containerd.image.name": "docker.io/library/layout:v1",
          "org.opencontainers.image.ref.name": "v1",
        },
      },
    ]);
    const { stdout } = await execFileAsync("skopeo", ["inspect", "--raw", `oci:${join(root, "images")}:v1`]);
    expect(sha256(stdout)).toBe(image.manifestDigest);
  });

  it("an open rewrites index.json only when it is behind db.json", async () => {
    const root = await tmp();
    const { store } = await openStore(root);
    const image = makeImage([await makeLayer({ hello: "world" })]);
    await putBlobs(store, image);
    await store.addImage(image.manifest, { names: ["layout:v1"] });
    await store.close();
    const path = join(root, "images", "index.json");
    const before = await stat(path);
    const text = await readFile(path, "utf8");
    const again = await ImageStore.open(root);
    await again.close();
    // Unchanged: not even rewritten (same inode: the atomic write would have replaced it).
    expect((await stat(path)).ino).toBe(before.ino);
    await writeFile(path, '{"schemaVersion":2,"manifests":[]}\n');
    const third = await ImageStore.open(root);
    await third.close();
    expect(await readFile(path, "utf8")).toBe(text);
  });

  it("an opening without housekeeping only looks up: the next ordinary opening tidies", async () => {
    const root = await tmp();
    const { store } = await openStore(root);
    const image = makeImage([await makeLayer({ hello: "world" })]);
    await putBlobs(store, image);
    await store.addImage(image.manifest, { names: ["look:v1"] });
    await store.close();
    const leftover = join(root, "images", "tmp", "left-by-a-crash");
    await writeFile(leftover, "x");
    await writeFile(join(root, "images", "index.json"), '{"schemaVersion":2,"manifests":[]}\n');
    const lookup = await ImageStore.open(root, { housekeeping: false });
    expect((await lookup.resolve("look:v1"))?.id).toBe(image.id);
    await lookup.close();
    expect(await readFile(leftover, "utf8")).toBe("x");
    expect(await readFile(join(root, "images", "index.json"), "utf8")).toContain('"manifests":[]');
    const tidy = await ImageStore.open(root);
    await tidy.close();
    await expect(stat(leftover)).rejects.toMatchObject({ code: "ENOENT" });
    expect(await readFile(join(root, "images", "index.json"), "utf8")).toContain("look");
  });

  it("selectManifest picks the host's os, architecture and best variant from an index", () => {
    const d = (n: number, platform: object) => ({
      mediaType: MediaType.ociManifest,
      digest: sha256(String(n)),
      size: n,
      platform: platform as { os: string; architecture: string },
    });
    const index: ImageIndex = {
      schemaVersion: 2,
      manifests: [
        d(1, { os: "unknown", architecture: "unknown" }),
        d(2, { os: "linux", architecture: "arm", variant: "v6" }),
        d(3, { os: "linux", architecture: "arm", variant: "v7" }),
        d(4, { os: "linux", architecture: "arm64", variant: "v8" }),
        d(5, { os: "linux", architecture: "amd64" }),
        d(6, { os: "windows", architecture: "amd64" }),
      ],
    };
    expect(selectManifest(index, { os: "linux", architecture: "amd64" })?.size).toBe(5);
    expect(selectManifest(index, { os: "linux", architecture: "x86_64" })?.size).toBe(5);
    expect(selectManifest(index, { os: "linux", architecture: "arm64" })?.size).toBe(4);
    expect(selectManifest(index, { os: "linux", architecture: "aarch64", variant: "v8" })?.size).toBe(4);
    expect(selectManifest(index, { os: "linux", architecture: "arm", variant: "v7" })?.size).toBe(3);
    expect(selectManifest(index, { os: "linux", architecture: "arm", variant: "v6" })?.size).toBe(2);
    expect(selectManifest(index, { os: "linux", architecture: "arm", variant: "v5" })).toBeUndefined();
    expect(selectManifest(index, { os: "linux", architecture: "s390x" })).toBeUndefined();
    expect(selectManifest(index, { os: "windows", architecture: "amd64" })?.size).toBe(6);
  });

  it("defaults the store platform to linux and the host architecture in OCI terms", async () => {
    const { store } = await openStore(await tmp());
    const expected = { x64: "amd64", arm64: "arm64" }[process.arch as string] ?? process.arch;
    expect(hostPlatform()).toMatchObject({ os: "linux", architecture: expected });
    expect(store.platform).toEqual(hostPlatform());
    const other = await openStore(await tmp(), { platform: { os: "linux", architecture: "riscv64" } });
    expect(other.store.platform.architecture).toBe("riscv64");
  });
});

describe("writeFileAtomic", () => {
  it("replaces a file's content with the requested mode and leaves no temp file", async () => {
    const dir = await tmp();
    const path = join(dir, "state.json");
    await writeFileAtomic(path, "one");
    await writeFileAtomic(path, Buffer.from("two"), 0o600);
    expect(await readFile(path, "utf8")).toBe("two");
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await ls(dir)).toEqual(["state.json"]);
  });

  it("leaves the old content and no temp file when the rename fails", async () => {
    const dir = await tmp();
    const path = join(dir, "target");
    await mkdir(join(path, "occupied"), { recursive: true });
    await expect(writeFileAtomic(path, "new")).rejects.toThrow();
    expect(await ls(dir)).toEqual(["target"]);
  });
});

describe("ImageStore: one owner per store root", () => {
  /** Runs a script under tsx in a child process; resolves with its exit code and output. */
  function runChild(
    script: string,
    args: readonly string[],
  ): {
    child: ReturnType<typeof spawn>;
    done: Promise<{ code: number | null; stdout: string; stderr: string }>;
  } {
    const child = spawn(process.execPath, ["--import", "tsx", script, ...args], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (data: Buffer) => (stdout += data.toString()));
    child.stderr.on("data", (data: Buffer) => (stderr += data.toString()));
    const done = once(child, "exit").then(([code]) => ({ code: code as number | null, stdout, stderr }));
    return { child, done };
  }

  it("concurrent CLI imports into one root all succeed and all images are listed", async () => {
    const root = await tmp();
    const work = await tmp();
    const cli = join(work, "cli.mjs");
    await writeFile(
      cli,
      `const [mainUrl, ...args] = process.argv.slice(2);
      const { main } = await import(mainUrl);
      process.exitCode = await main(args);
      `,
    );
    const mainUrl = pathToFileURL(join(repoRoot, "src/cli/main.ts")).href;
    const names = ["img0:1", "img1:1", "img2:1", "img3:1"];
    const tars = await Promise.all(
      names.map(async (name, i) => {
        const path = join(work, `rootfs-${i}.tar`);
        await writeFile(path, (await makeLayer({ [`file-${i}`]: name }, "none")).blob);
        return path;
      }),
    );
    const results = await Promise.all(
      names.map(
        (name, i) => runChild(cli, [mainUrl, "--root", root, "image", "import", tars[i] ?? "", name]).done,
      ),
    );
    for (const result of results) {
      expect(result.stderr).not.toMatch(/internal|EEXIST|ENOENT/);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^sha256:[a-f0-9]{64}\n$/);
    }

    const store = await openTracked(root);
    expect((await store.list()).flatMap((image) => image.repoTags).sort()).toEqual(
      names.map((name) => `docker.io/library/${name}`),
    );
    expect(await ls(dirs(root).tmp)).toEqual([]);
    await store.close();
    // Every command released the lock: nothing but the store's own files is left.
    expect((await ls(join(root, "images"))).filter((name) => name.includes("lock"))).toEqual([]);
  }, 60_000);

  it("a second open of the same root waits for close(), or fails with store/locked naming the holder", async () => {
    const root = await tmp();
    const first = await openTracked(root);

    const waits: unknown[] = [];
    const error = await rejection(
      ImageStore.open(root, { lockTimeoutMs: 100, onLockWait: (info) => waits.push(info) }),
    );
    expect(error.code).toBe("store/locked");
    expect(error.message).toContain(root);
    expect(error.message).toContain(`process ${process.pid}`);
    expect(error.message).toContain("wait for it or stop it");
    expect(waits).toEqual([{ root, holderPid: process.pid }]);

    const second = openTracked(root, { lockTimeoutMs: 5_000 });
    await new Promise((r) => setTimeout(r, 100));
    await first.close();
    await first.close(); // idempotent
    await (await second).close();
  });

  it("a lock left by a SIGKILLed holder is taken over by the next open", async () => {
    const root = await tmp();
    const script = join(await tmp(), "holder.mjs");
    await writeFile(
      script,
      `const [storeUrl, root] = process.argv.slice(2);
      const { ImageStore } = await import(storeUrl);
      await ImageStore.open(root);
      process.stdout.write("locked\\n");
      setInterval(() => {}, 1000);
      `,
    );
    const { child, done } = runChild(script, [
      pathToFileURL(join(repoRoot, "src/runtime/images/store.ts")).href,
      root,
    ]);
    try {
      await new Promise<void>((resolveReady, reject) => {
        child.stdout?.on("data", (data: Buffer) => {
          if (data.toString().includes("locked")) resolveReady();
        });
        void done.then((r) => {
          reject(new Error(`holder exited early: ${r.stderr}`));
        });
      });
      // Alive, it keeps the root.
      expect((await rejection(ImageStore.open(root, { lockTimeoutMs: 100 }))).code).toBe("store/locked");
    } finally {
      child.kill("SIGKILL");
      await done;
    }

    const lockPath = join(root, "images", "lock");
    expect((await readFile(lockPath, "utf8")).split("\n")[0]).toBe(String(child.pid));
    const store = await openTracked(root, { lockTimeoutMs: 5_000 });
    expect((await readFile(lockPath, "utf8")).split("\n")[0]).toBe(String(process.pid));
    await store.close();
    await expect(stat(lockPath)).rejects.toThrow();
  }, 30_000);
});
