import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, readFile, readlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { promisify } from "node:util";
import { gunzipSync, gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { TsstackError } from "../../../src/common/errors.js";
import {
  applyChanges,
  importRootfs,
  loadArchive,
  readTar,
  saveArchive,
} from "../../../src/runtime/images/archive.js";
import { ImageStore } from "../../../src/runtime/images/store.js";
import { tarToBuffer, type TarWriteEntry } from "../../../src/runtime/images/tar-writer.js";
import { MediaType } from "../../../src/runtime/images/types.js";
import {
  addBusyboxImage,
  buildBusyboxImage,
  busyboxDockerArchive,
  busyboxRootfs,
  busyboxRootfsEntries,
  sha256,
  writeBusyboxOciLayout,
  type BusyboxImage,
} from "../../helpers/busybox-image.js";
import { useImageStores } from "../../helpers/stores.js";
import { useTmpDirs } from "../../helpers/tmp.js";

const execFileP = promisify(execFile);
const tmp = useTmpDirs("tsstack-archive-");
const openStore = useImageStores();
const haveSkopeo = existsSync("/usr/bin/skopeo");

async function newStore(): Promise<ImageStore> {
  return openStore(await tmp());
}

async function skopeo(...args: string[]): Promise<string> {
  const { stdout } = await execFileP("skopeo", ["--insecure-policy", ...args], { maxBuffer: 64 << 20 });
  return stdout;
}

/** Files of a tar as path → bytes (links as `-> target`), through our reader. */
async function untar(bytes: Buffer): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for await (const e of readTar(Readable.from([bytes]))) {
    if (e.type === "file") {
      const parts: Buffer[] = [];
      for await (const c of e.body()) parts.push(c);
      out.set(e.path, Buffer.concat(parts));
    } else if (e.type === "symlink") out.set(e.path, Buffer.from(`-> ${e.linkname}`));
  }
  return out;
}

function json(buf: Buffer | undefined): unknown {
  if (buf === undefined) throw new Error("missing file");
  return JSON.parse(buf.toString("utf8"));
}

async function expectCode(p: Promise<unknown>, code: string): Promise<TsstackError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TsstackError);
  expect((err as TsstackError).code).toBe(code);
  return err as TsstackError;
}

async function tarDir(dir: string): Promise<Buffer> {
  const entries: TarWriteEntry[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const d of (await readdir(join(dir, rel), { withFileTypes: true })).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const p = rel === "" ? d.name : `${rel}/${d.name}`;
      if (d.isDirectory()) {
        entries.push({ name: p, type: "directory" });
        await walk(p);
      } else entries.push({ name: p, type: "file", body: await readFile(join(dir, p)) });
    }
  };
  await walk("");
  return tarToBuffer(entries);
}

describe("loadArchive: docker save archives", () => {
  it("loads a classic docker save archive with uncompressed layers and names it from RepoTags", async () => {
    const image = await buildBusyboxImage();
    const store = await newStore();
    const archive = await busyboxDockerArchive([{ image, repoTags: ["busybox:latest", "busybox:1.36"] }]);
    const result = await loadArchive(store, Readable.from([archive]));
    expect(result.format).toBe("docker");
    expect(result.images).toHaveLength(1);
    const loaded = result.images[0];
    expect(loaded?.image.id).toBe(image.configDigest);
    expect(loaded?.names).toEqual(["docker.io/library/busybox:latest", "docker.io/library/busybox:1.36"]);
    // The layer is kept as the uncompressed tar it came as: its digest is its diff ID.
    expect(loaded?.image.layers.map((l) => [l.digest, l.diffId, l.mediaType])).toEqual([
      [image.layers[0]?.diffId, image.layers[0]?.diffId, MediaType.ociLayer],
    ]);
    const record = await store.resolve("busybox:1.36");
    expect(record?.id).toBe(image.configDigest);
    const [snapshot] = store.snapshotPaths(record ?? (loaded?.image as never));
    expect(await readlink(join(snapshot ?? "", "bin", "sh"))).toBe("busybox");
  });

  it("loads gzip layer.tar files, and a gzip-compressed archive as a whole, from a file path", async () => {
    const image = await buildBusyboxImage({ extraLayer: { "etc/motd": "hello\n" } });
    const store = await newStore();
    const file = join(await tmp(), "img.tar.gz");
    await writeFile(
      file,
      gzipSync(await busyboxDockerArchive([{ image, repoTags: ["app:1"] }], { gzipLayers: true })),
    );
    const { images } = await loadArchive(store, file);
    expect(images[0]?.image.id).toBe(image.configDigest);
    expect(images[0]?.image.layers.map((l) => [l.digest, l.mediaType])).toEqual(
      image.layers.map((l) => [l.digest, MediaType.ociLayerGzip]),
    );
  });

  it("names images from the legacy repositories file when RepoTags is empty", async () => {
    const image = await buildBusyboxImage();
    const store = await newStore();
    const archive = await busyboxDockerArchive([{ image, repoTags: ["old/app:v1"] }]);
    const files = await untar(archive);
    const manifest = json(files.get("manifest.json")) as { RepoTags: unknown }[];
    manifest.forEach((m) => (m.RepoTags = null));
    files.set("manifest.json", Buffer.from(JSON.stringify(manifest)));
    const rebuilt = await tarToBuffer(
      [...files].map(([name, body]) => ({ name, type: "file" as const, body })),
    );
    const { images } = await loadArchive(store, Readable.from([rebuilt]));
    expect(images[0]?.names).toEqual(["docker.io/old/app:v1"]);
  });

  it("loads what skopeo writes: layers as <diffid>.tar reached through <id>/layer.tar symlinks", async () => {
    const base = await buildBusyboxImage();
    const app = await buildBusyboxImage({
      extraLayer: { "app.txt": "app\n" },
      cmd: ["/bin/cat", "/app.txt"],
    });
    const archive = await busyboxDockerArchive([
      { image: base, repoTags: ["busybox:latest"] },
      { image: app, repoTags: ["localhost:5000/team/app:2"] },
    ]);
    // Re-shape into skopeo's layout: one `<diffid>.tar` per layer, `<id>/layer.tar` symlinks to it.
    const files = await untar(archive);
    const entries: TarWriteEntry[] = [];
    for (const [name, body] of files) {
      if (name.endsWith("/layer.tar")) {
        const target = `${sha256(body).slice(7)}.tar`;
        if (!entries.some((e) => e.name === target)) entries.unshift({ name: target, type: "file", body });
        entries.push({ name, type: "symlink", linkname: `../${target}` });
      } else entries.push({ name, type: "file", body });
    }
    const store = await newStore();
    const { images } = await loadArchive(store, Readable.from([await tarToBuffer(entries)]));
    expect(images.map((i) => [i.image.id, i.names])).toEqual([
      [base.configDigest, ["docker.io/library/busybox:latest"]],
      [app.configDigest, ["localhost:5000/team/app:2"]],
    ]);
    // Both images share the busybox snapshot.
    expect(images[1]?.image.layers[0]?.chainId).toBe(images[0]?.image.layers[0]?.chainId);
  });

  it("refuses a config whose content does not match its <digest>.json name, registering nothing", async () => {
    const image = await buildBusyboxImage();
    const files = await untar(await busyboxDockerArchive([{ image, repoTags: ["busybox:latest"] }]));
    const name = `${image.configDigest.slice(7)}.json`;
    files.set(
      name,
      Buffer.from((files.get(name) ?? Buffer.alloc(0)).toString().replace("/bin/sh", "/bin/ls")),
    );
    const store = await newStore();
    const archive = await tarToBuffer(
      [...files].map(([n, body]) => ({ name: n, type: "file" as const, body })),
    );
    const err = await expectCode(loadArchive(store, Readable.from([archive])), "image/digest-mismatch");
    expect(err.message).toContain(name);
    expect(await store.list()).toEqual([]);
  });

  it("refuses a layer that does not hash to the config's diff ID, even when the snapshot is cached", async () => {
    const image = await buildBusyboxImage();
    const other = await buildBusyboxImage({ cmd: ["other"] });
    const files = await untar(await busyboxDockerArchive([{ image, repoTags: ["busybox:latest"] }]));
    const layerName = [...files.keys()].find((k) => k.endsWith("layer.tar")) ?? "";
    files.set(layerName, await tarToBuffer([{ name: "evil", type: "file", body: Buffer.from("x") }]));
    const archive = await tarToBuffer(
      [...files].map(([n, body]) => ({ name: n, type: "file" as const, body })),
    );
    // The store already has a snapshot for this diff ID, so it would not unpack (and check) the layer.
    const store = await newStore();
    await addBusyboxImage(store, other, ["other:1"]);
    const err = await expectCode(loadArchive(store, Readable.from([archive])), "image/diff-id-mismatch");
    expect(err.message).toContain(`loading image archive: layer ${layerName}`);
    expect(err.message).toContain(image.layers[0]?.diffId);
    expect((await store.list()).map((i) => i.id)).toEqual([other.configDigest]);
  });

  it("refuses input that is not an image archive", async () => {
    const store = await newStore();
    await expectCode(
      loadArchive(
        store,
        Readable.from([await tarToBuffer([{ name: "hello", type: "file", body: Buffer.from("hi") }])]),
      ),
      "image/unsupported-archive",
    );
    await expectCode(loadArchive(store, Readable.from([Buffer.alloc(1024, 7)])), "image/invalid-archive");
  });
});

describe("loadArchive: OCI layout archives", () => {
  async function ociArchive(
    images: { image: BusyboxImage; annotations?: Record<string, string> }[],
  ): Promise<Buffer> {
    const dir = await tmp();
    await writeBusyboxOciLayout(
      dir,
      images.map(({ image }) => ({ image })),
    );
    const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as {
      manifests: { annotations?: Record<string, string> }[];
    };
    index.manifests.forEach((m, i) => {
      const a = images[i]?.annotations;
      if (a !== undefined) m.annotations = a;
    });
    await writeFile(join(dir, "index.json"), JSON.stringify(index));
    return tarDir(dir);
  }

  it("names images from io.containerd.image.name, a full ref.name, or a tag-only ref.name with a base name", async () => {
    const a = await buildBusyboxImage({ cmd: ["a"] });
    const b = await buildBusyboxImage({ cmd: ["b"] });
    const c = await buildBusyboxImage({ cmd: ["c"] });
    const d = await buildBusyboxImage({ cmd: ["d"] });
    const archive = await ociArchive([
      {
        image: a,
        annotations: {
          "io.containerd.image.name": "docker.io/library/a:1",
          "org.opencontainers.image.ref.name": "1",
        },
      },
      { image: b, annotations: { "org.opencontainers.image.ref.name": "localhost:5000/b:2" } },
      { image: c, annotations: { "org.opencontainers.image.ref.name": "3" } },
      { image: d },
    ]);
    const store = await newStore();
    const result = await loadArchive(store, Readable.from([archive]), { baseName: "imported/c" });
    expect(result.format).toBe("oci");
    expect(result.images.map((i) => [i.image.id, i.names])).toEqual([
      [a.configDigest, ["docker.io/library/a:1"]],
      [b.configDigest, ["localhost:5000/b:2"]],
      [c.configDigest, ["docker.io/imported/c:3"]],
      [d.configDigest, []],
    ]);
    // The manifest is stored as it came, so its digest is the same everywhere.
    expect(result.images[0]?.image.manifestDigest).toBe(a.manifestDigest);

    const unnamed = await newStore();
    const again = await loadArchive(unnamed, Readable.from([archive]));
    expect(again.images[2]?.names).toEqual([]);
  });

  it("picks this platform's manifest from a multi-platform index", async () => {
    const amd64 = await buildBusyboxImage({ architecture: "amd64" });
    const arm64 = await buildBusyboxImage({ architecture: "arm64" });
    const dir = await tmp();
    await writeBusyboxOciLayout(dir, [{ image: amd64 }, { image: arm64 }]);
    const nested = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociIndex,
        manifests: [amd64, arm64].map((img) => ({
          mediaType: img.manifestMediaType,
          digest: img.manifestDigest,
          size: img.manifest.length,
          platform: { os: "linux", architecture: img.architecture },
        })),
      }),
    );
    await writeFile(join(dir, "blobs", "sha256", sha256(nested).slice(7)), nested);
    await writeFile(
      join(dir, "index.json"),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: MediaType.ociIndex,
            digest: sha256(nested),
            size: nested.length,
            annotations: { "org.opencontainers.image.ref.name": "multi:1" },
          },
        ],
      }),
    );
    const archive = await tarDir(dir);
    const store = await newStore();
    const { images } = await loadArchive(store, Readable.from([archive]), {
      platform: { os: "linux", architecture: "arm64" },
    });
    expect(images.map((i) => [i.image.id, i.image.architecture, i.names])).toEqual([
      [arm64.configDigest, "arm64", ["docker.io/library/multi:1"]],
    ]);
    await expectCode(
      loadArchive(await newStore(), Readable.from([archive]), {
        platform: { os: "linux", architecture: "s390x" },
      }),
      "image/platform-not-found",
    );
  });

  it("refuses a blob whose content does not match its blobs/sha256/<hex> name", async () => {
    const image = await buildBusyboxImage();
    const dir = await tmp();
    await writeBusyboxOciLayout(dir, [{ image, refName: "x:1" }]);
    await writeFile(join(dir, "blobs", "sha256", image.configDigest.slice(7)), "{}");
    const store = await newStore();
    await expectCode(loadArchive(store, Readable.from([await tarDir(dir)])), "image/digest-mismatch");
    expect(await store.list()).toEqual([]);
  });
});

describe("saveArchive", () => {
  it("writes what docker load reads: manifest.json, <hex>.json, uncompressed <id>/layer.tar, repositories", async () => {
    const image = await buildBusyboxImage({ extraLayer: { "hello.txt": "hi\n" } });
    const store = await newStore();
    await addBusyboxImage(store, image, ["busybox:latest", "localhost:5000/bb:2"]);
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on("data", (c: Buffer) => chunks.push(c));
    await saveArchive(store, ["busybox:latest", "localhost:5000/bb:2"], out, "docker");
    const files = await untar(Buffer.concat(chunks));
    const manifest = json(files.get("manifest.json")) as {
      Config: string;
      RepoTags: string[];
      Layers: string[];
    }[];
    expect(manifest).toHaveLength(1);
    expect(manifest[0]?.Config).toBe(`${image.configDigest.slice(7)}.json`);
    expect(manifest[0]?.RepoTags).toEqual(["busybox:latest", "localhost:5000/bb:2"]);
    expect(files.get(manifest[0]?.Config ?? "")?.equals(image.config)).toBe(true);
    // Stored gzip layers come out decompressed: each layer.tar hashes to its diff ID.
    expect(manifest[0]?.Layers.map((l) => sha256(files.get(l) ?? Buffer.alloc(0)))).toEqual(
      image.layers.map((l) => l.diffId),
    );
    expect(manifest[0]?.Layers.every((l) => /^[a-f0-9]{64}\/layer\.tar$/.test(l))).toBe(true);
    const top = manifest[0]?.Layers.at(-1)?.split("/")[0];
    expect(json(files.get("repositories"))).toEqual({
      busybox: { latest: top },
      "localhost:5000/bb": { "2": top },
    });
  });

  it("round-trips through docker and OCI archives into another store with the same image id and manifest", async () => {
    const image = await buildBusyboxImage({ extraLayer: { "a.txt": "a\n" } });
    const store = await newStore();
    await addBusyboxImage(store, image, ["app:1"]);
    for (const format of ["docker", "oci"] as const) {
      const file = join(await tmp(), `app-${format}.tar`);
      await saveArchive(store, ["app:1"], file, format);
      const other = await newStore();
      const { images } = await loadArchive(other, file);
      expect(images.map((i) => [i.image.id, i.names])).toEqual([
        [image.configDigest, ["docker.io/library/app:1"]],
      ]);
      // OCI keeps the blobs as they were; docker archives carry uncompressed layers.
      if (format === "oci") expect(images[0]?.image.manifestDigest).toBe(image.manifestDigest);
      expect(images[0]?.image.layers.map((l) => l.diffId)).toEqual(image.layers.map((l) => l.diffId));
    }
  });

  it("writes an OCI layout with blobs as stored, names in index.json, and a manifest.json for docker", async () => {
    const a = await buildBusyboxImage({ cmd: ["a"] });
    const b = await buildBusyboxImage({ cmd: ["b"], extraLayer: { b: "b" } });
    const store = await newStore();
    await addBusyboxImage(store, a, ["team/a:1", "team/a:2"]);
    const bRecord = await addBusyboxImage(store, b, []);
    const file = join(await tmp(), "out.tar");
    // A bare repository saves all its tags; an id saves the image without a name.
    await saveArchive(store, ["team/a", bRecord.id.slice(7, 19)], file, "oci");
    const files = await untar(await readFile(file));
    expect(json(files.get("oci-layout"))).toEqual({ imageLayoutVersion: "1.0.0" });
    for (const [name, body] of files) {
      if (name.startsWith("blobs/sha256/")) expect(sha256(body)).toBe(`sha256:${name.slice(13)}`);
    }
    const index = json(files.get("index.json")) as {
      manifests: { digest: string; annotations?: Record<string, string> }[];
    };
    expect(index.manifests.map((m) => [m.digest, m.annotations])).toEqual([
      [
        a.manifestDigest,
        { "io.containerd.image.name": "docker.io/team/a:1", "org.opencontainers.image.ref.name": "1" },
      ],
      [
        a.manifestDigest,
        { "io.containerd.image.name": "docker.io/team/a:2", "org.opencontainers.image.ref.name": "2" },
      ],
      [b.manifestDigest, undefined],
    ]);
    expect(
      files
        .get(`blobs/sha256/${b.layers[1]?.digest.slice(7) ?? ""}`)
        ?.equals(b.layers[1]?.gzip ?? Buffer.alloc(0)),
    ).toBe(true);
    const dockerManifest = json(files.get("manifest.json")) as { RepoTags: string[] | null }[];
    expect(dockerManifest.map((m) => m.RepoTags)).toEqual([["team/a:1", "team/a:2"], null]);
  });

  it("saves the same images to the same bytes twice", async () => {
    const store = await newStore();
    await addBusyboxImage(store, await buildBusyboxImage(), ["busybox:latest"]);
    const dir = await tmp();
    await saveArchive(store, ["busybox"], join(dir, "1.tar"));
    await saveArchive(store, ["busybox"], join(dir, "2.tar"));
    expect((await readFile(join(dir, "1.tar"))).equals(await readFile(join(dir, "2.tar")))).toBe(true);
  });

  it("fails on an unknown image without leaving a file behind", async () => {
    const store = await newStore();
    const dir = await tmp();
    await expectCode(saveArchive(store, ["nope:1"], join(dir, "x.tar")), "image/not-found");
    expect(await readdir(dir)).toEqual([]);
  });
});

describe.skipIf(!haveSkopeo)("skopeo interoperability", () => {
  async function layout(image: BusyboxImage): Promise<string> {
    const dir = await tmp();
    await writeBusyboxOciLayout(dir, [{ image, refName: "latest" }]);
    return dir;
  }

  it("loads the docker-archive skopeo writes", async () => {
    const image = await buildBusyboxImage({ extraLayer: { "x.txt": "x" } });
    const file = join(await tmp(), "skopeo-docker.tar");
    await skopeo("copy", "-q", `oci:${await layout(image)}:latest`, `docker-archive:${file}:busybox:skopeo`);
    const store = await newStore();
    const { images } = await loadArchive(store, file);
    expect(images.map((i) => [i.image.id, i.names])).toEqual([
      [image.configDigest, ["docker.io/library/busybox:skopeo"]],
    ]);
    expect(images[0]?.image.layers.map((l) => l.diffId)).toEqual(image.layers.map((l) => l.diffId));
  });

  it("loads the oci-archive skopeo writes", async () => {
    const image = await buildBusyboxImage();
    const file = join(await tmp(), "skopeo-oci.tar");
    await skopeo(
      "copy",
      "-q",
      `oci:${await layout(image)}:latest`,
      `oci-archive:${file}:localhost:5000/bb:oci`,
    );
    const store = await newStore();
    const { images } = await loadArchive(store, file);
    expect(images.map((i) => [i.image.id, i.names])).toEqual([
      [image.configDigest, ["localhost:5000/bb:oci"]],
    ]);
  });

  it("skopeo reads the docker archive tsstack saves, with the same config and diff IDs", async () => {
    const image = await buildBusyboxImage({ extraLayer: { "y.txt": "y" } });
    const store = await newStore();
    await addBusyboxImage(store, image, ["busybox:saved"]);
    const file = join(await tmp(), "saved-docker.tar");
    await saveArchive(store, ["busybox:saved"], file, "docker");
    // skopeo's view of the archive: a v2s2 manifest over our config blob and uncompressed layers.
    const raw = JSON.parse(await skopeo("inspect", "--raw", `docker-archive:${file}`)) as {
      config: { digest: string };
      layers: { digest: string }[];
    };
    expect(raw.config.digest).toBe(image.configDigest);
    expect(raw.layers.map((l) => l.digest)).toEqual(image.layers.map((l) => l.diffId));
    const dir = await tmp();
    await skopeo("copy", "-q", `docker-archive:${file}`, `oci:${dir}:copied`);
    const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as {
      manifests: { digest: string }[];
    };
    const blob = (digest: string | undefined): Promise<string> =>
      readFile(join(dir, "blobs", "sha256", (digest ?? "").slice(7)), "utf8");
    const manifest = JSON.parse(await blob(index.manifests[0]?.digest)) as { config: { digest: string } };
    // Converting to OCI, skopeo re-serializes the config (other key order, so another digest); the
    // content must be ours.
    expect(JSON.parse(await blob(manifest.config.digest))).toEqual(image.configJson);
  });

  it("skopeo reads the OCI archive tsstack saves, by tag, with the same manifest", async () => {
    const image = await buildBusyboxImage();
    const store = await newStore();
    await addBusyboxImage(store, image, ["busybox:oci"]);
    const file = join(await tmp(), "saved-oci.tar");
    await saveArchive(store, ["busybox:oci"], file, "oci");
    const raw = await skopeo("inspect", "--raw", `oci-archive:${file}:oci`);
    expect(sha256(raw)).toBe(image.manifestDigest);
    const config = JSON.parse(await skopeo("inspect", "--config", `oci-archive:${file}`)) as {
      rootfs: { diff_ids: string[] };
    };
    expect(config.rootfs.diff_ids).toEqual([image.layers[0]?.diffId]);
  });
});

describe("importRootfs", () => {
  const fixedNow = (): Date => new Date("2025-02-03T04:05:06.000Z");

  it("makes a one-layer image from a plain rootfs tar, gzip-compressing the layer, with --change applied", async () => {
    const rootfs = await busyboxRootfs();
    const store = await newStore();
    const image = await importRootfs(
      store,
      Readable.from([rootfs.tar]),
      "imported:1",
      [
        'CMD ["/bin/echo", "hi"]',
        "ENV A=1 B='two words'",
        "EXPOSE 8080 53/udp",
        "WORKDIR /srv",
        "USER nobody",
      ],
      { now: fixedNow, platform: { os: "linux", architecture: "amd64" } },
    );
    expect(image.repoTags).toEqual(["docker.io/library/imported:1"]);
    expect(image.layers).toHaveLength(1);
    expect(image.layers[0]?.diffId).toBe(rootfs.diffId);
    expect(image.layers[0]?.mediaType).toBe(MediaType.ociLayerGzip);
    expect(sha256(gunzipSync(await store.readBlob(image.layers[0]?.digest ?? "")))).toBe(rootfs.diffId);
    const config = JSON.parse((await store.readBlob(image.id)).toString()) as Record<string, unknown>;
    expect(config).toMatchObject({
      architecture: "amd64",
      os: "linux",
      created: "2025-02-03T04:05:06.000Z",
      config: {
        Cmd: ["/bin/echo", "hi"],
        Env: ["A=1", "B=two words"],
        ExposedPorts: { "8080/tcp": {}, "53/udp": {} },
        WorkingDir: "/srv",
        User: "nobody",
      },
      rootfs: { type: "layers", diff_ids: [rootfs.diffId] },
      history: [{ created: "2025-02-03T04:05:06.000Z", comment: "Imported from -" }],
    });
    const [snapshot] = store.snapshotPaths(image);
    expect((await readFile(join(snapshot ?? "", "etc", "passwd"), "utf8")).startsWith("root:")).toBe(true);
  });

  it("stores a gzip source as it is and imports unnamed from a file", async () => {
    const rootfs = await busyboxRootfs();
    const file = join(await tmp(), "rootfs.tar.gz");
    await writeFile(file, rootfs.gzip);
    const store = await newStore();
    const image = await importRootfs(store, file, undefined, [], { sourceName: file, now: fixedNow });
    expect(image.repoTags).toEqual([]);
    expect(image.layers[0]?.digest).toBe(rootfs.digest);
    expect(image.layers[0]?.diffId).toBe(rootfs.diffId);
    const config = JSON.parse((await store.readBlob(image.id)).toString()) as {
      history: { comment: string }[];
    };
    expect(config.history[0]?.comment).toBe(`Imported from ${file}`);
  });

  it("refuses an invalid --change before reading anything", async () => {
    const store = await newStore();
    let read = false;
    async function* source(): AsyncGenerator<Buffer> {
      read = true;
      yield await tarToBuffer(busyboxRootfsEntries());
    }
    await expectCode(importRootfs(store, source(), "x:1", ["RUN echo"]), "image/invalid-change");
    expect(read).toBe(false);
  });
});

describe("applyChanges (Dockerfile instructions of --change)", () => {
  it.each([
    ['CMD ["a", "b c"]', { Cmd: ["a", "b c"] }],
    ["CMD echo $HOME && ls", { Cmd: ["/bin/sh", "-c", "echo $HOME && ls"] }],
    ["cmd [not json", { Cmd: ["/bin/sh", "-c", "[not json"] }],
    ['ENTRYPOINT ["/init"]', { Entrypoint: ["/init"], Cmd: null }],
    ["ENV PATH=/usr/bin:/bin", { Env: ["PATH=/usr/bin:/bin"] }],
    ["ENV MY_NAME John Doe", { Env: ["MY_NAME=John Doe"] }],
    ['ENV A="x y" B=\\$literal C=${A:-unset}!', { Env: ["A=x y", "B=$literal", "C=unset!"] }],
    ['LABEL org.example.a=1 b="two words"', { Labels: { "org.example.a": "1", b: "two words" } }],
    ["EXPOSE 8000-8002/tcp", { ExposedPorts: { "8000/tcp": {}, "8001/tcp": {}, "8002/tcp": {} } }],
    ["VOLUME /data /logs", { Volumes: { "/data": {}, "/logs": {} } }],
    ['VOLUME ["/data"]', { Volumes: { "/data": {} } }],
    ["STOPSIGNAL SIGQUIT", { StopSignal: "SIGQUIT" }],
    ["USER 1000:1000", { User: "1000:1000" }],
  ])("%s", (change, expected) => {
    expect(applyChanges({}, [change])).toEqual(expected);
  });

  it("joins a relative WORKDIR to the current one and keeps a CMD set before ENTRYPOINT", () => {
    expect(applyChanges({}, ["WORKDIR /a", "WORKDIR b/../c", "CMD x", "ENTRYPOINT y"])).toEqual({
      WorkingDir: "/a/c",
      Cmd: ["/bin/sh", "-c", "x"],
      Entrypoint: ["/bin/sh", "-c", "y"],
    });
    // Like Dockerfile ENV: one instruction sees only the variables set before it.
    expect(applyChanges({ Env: ["A=1"] }, ["ENV A=2 B=$A", "LABEL a=${A}"])).toEqual({
      Env: ["A=2", "B=1"],
      Labels: { a: "2" },
    });
  });

  it.each([
    ["RUN make"],
    ["EXPOSE 70000"],
    ["EXPOSE http"],
    ["STOPSIGNAL SIGNOPE"],
    ["ENV"],
    ["USER a b"],
    ['ENV A="open'],
  ])("refuses %s", (change) => {
    expect(() => applyChanges({}, [change])).toThrow(TsstackError);
  });
});

describe("tar writer", () => {
  it("writes long names and link targets that GNU tar and our reader both read back", async () => {
    const longDir = `${"d".repeat(120)}/${"e".repeat(120)}`;
    const bytes = await tarToBuffer([
      { name: `${longDir}/file.txt`, type: "file", body: Buffer.from("content"), mtime: 1 },
      { name: "short-link", type: "symlink", linkname: `${longDir}/file.txt` },
      { name: `${"n".repeat(99)}é`, type: "file", body: Buffer.alloc(0) },
    ]);
    expect(bytes.length % 512).toBe(0);
    const dir = await tmp();
    const file = join(dir, "t.tar");
    await writeFile(file, bytes);
    const { stdout } = await execFileP("tar", ["-tvf", file]);
    expect(stdout).toContain(`${longDir}/file.txt`);
    expect(stdout).toContain(`short-link -> ${longDir}/file.txt`);
    const files = await untar(bytes);
    expect(files.get(`${longDir}/file.txt`)?.toString()).toBe("content");
    expect(files.get("short-link")?.toString()).toBe(`-> ${longDir}/file.txt`);
    expect(files.has(`${"n".repeat(99)}é`)).toBe(true);
  });

  it("produces the same bytes for the same entries", async () => {
    const a = await tarToBuffer(busyboxRootfsEntries());
    const b = await tarToBuffer(busyboxRootfsEntries());
    expect(createHash("sha256").update(a).digest("hex")).toBe(createHash("sha256").update(b).digest("hex"));
  });
});
