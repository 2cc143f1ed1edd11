/**
 * A real, small test image built from Debian's busybox-static (`/bin/busybox`): a root filesystem with
 * the binary, applet symlinks (`sh`, `ls`, `echo`, …), `/etc/passwd` and the usual empty directories.
 *
 * Deterministic: fixed mtimes, uid/gid 0, a fixed creation time and compact JSON, so the same options
 * give the same digests on every run (on one machine: the busybox binary is the host's). Fast: the
 * rootfs tar and its gzip are built once per process and shared by every image.
 *
 * Written as blobs in memory, as an OCI image layout directory, or as a classic `docker save` archive
 * (`<id>/layer.tar`, `<config hex>.json`, `manifest.json`, `repositories`), independently of
 * src/runtime/images/archive.ts so that tests of the loader do not test it against itself.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { tarToBuffer, type TarWriteEntry } from "../../src/runtime/images/tar-writer.js";
import { MediaType, type ImageRecord, type ImageStoreApi } from "../../src/runtime/images/types.js";

export const BUSYBOX_BINARY = "/bin/busybox";
/** 2024-01-01T00:00:00Z, the mtime of every file and the creation time of every image. */
export const FIXED_MTIME = 1_704_067_200;
export const FIXED_CREATED = "2024-01-01T00:00:00Z";
/** Applets linked in /bin: enough for shells, health checks, networking and file tests. */
export const BUSYBOX_APPLETS = [
  "sh",
  "ash",
  "ls",
  "echo",
  "cat",
  "true",
  "false",
  "sleep",
  "env",
  "id",
  "mkdir",
  "rm",
  "touch",
  "test",
  "[",
  "ps",
  "kill",
  "hostname",
  "ip",
  "ping",
  "nslookup",
  "wget",
  "nc",
  "httpd",
  "grep",
  "head",
  "tail",
  "wc",
  "date",
  "printf",
  "pwd",
  "uname",
  "whoami",
  "chmod",
  "ln",
  "cp",
  "mv",
  "find",
  "sed",
  "stat",
  "tee",
  "seq",
  "readlink",
  "mount",
] as const;

export function sha256(data: Uint8Array | string): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

function hex(digest: string): string {
  return digest.slice("sha256:".length);
}

/** One layer: the tar as written and its gzip. */
export interface TestLayer {
  readonly tar: Buffer;
  /** sha256 of the uncompressed tar: the config's diff ID. */
  readonly diffId: string;
  readonly gzip: Buffer;
  /** sha256 of the gzip: the manifest's layer digest. */
  readonly digest: string;
}

/** A single-platform image as blobs (gzip layers; the manifest is OCI unless `flavour: "docker"`). */
export interface BusyboxImage {
  readonly architecture: string;
  /** Lowest first; the first is always the busybox rootfs. */
  readonly layers: readonly TestLayer[];
  readonly config: Buffer;
  /** The image id. */
  readonly configDigest: string;
  /** The parsed config, for assertions. */
  readonly configJson: BusyboxConfig;
  readonly manifest: Buffer;
  readonly manifestDigest: string;
  readonly manifestMediaType: string;
}

export interface BusyboxConfig {
  architecture: string;
  os: string;
  created: string;
  config: Record<string, unknown>;
  rootfs: { type: "layers"; diff_ids: string[] };
  history: Record<string, unknown>[];
}

export interface BusyboxImageOptions {
  /** Recorded architecture. Default `amd64` (the binary is the host's whatever this says). */
  readonly architecture?: string;
  /** Default `["/bin/sh"]`. */
  readonly cmd?: readonly string[];
  readonly entrypoint?: readonly string[];
  /** Default `["PATH=/bin"]`. */
  readonly env?: readonly string[];
  readonly labels?: Readonly<Record<string, string>>;
  /**
   * Files (path → content) in a second layer on top of the busybox one: images that differ only here
   * share their base layer, which is what layer-cache tests need.
   */
  readonly extraLayer?: Readonly<Record<string, string | Buffer>>;
  /** Manifest media types. Default `oci`. */
  readonly flavour?: "oci" | "docker";
}

let rootfs: TestLayer | undefined;

/** The busybox root filesystem entries, in tar order. */
export function busyboxRootfsEntries(): TarWriteEntry[] {
  const bin = readFileSync(BUSYBOX_BINARY);
  const dir = (name: string, mode = 0o755): TarWriteEntry => ({
    name,
    type: "directory",
    mode,
    mtime: FIXED_MTIME,
  });
  const file = (name: string, body: string | Buffer, mode = 0o644): TarWriteEntry => ({
    name,
    type: "file",
    mode,
    mtime: FIXED_MTIME,
    body: typeof body === "string" ? Buffer.from(body) : body,
  });
  return [
    dir("bin/"),
    file("bin/busybox", bin, 0o755),
    ...BUSYBOX_APPLETS.map((applet): TarWriteEntry => ({
      name: `bin/${applet}`,
      type: "symlink",
      linkname: "busybox",
      mtime: FIXED_MTIME,
    })),
    dir("dev/"),
    dir("etc/"),
    file(
      "etc/passwd",
      "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    ),
    file("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
    dir("home/"),
    dir("proc/"),
    dir("root/", 0o700),
    dir("sys/"),
    dir("tmp/", 0o1777),
    dir("var/"),
  ];
}

/** The busybox rootfs layer (memoized: ~2 MB to tar and gzip once). */
export async function busyboxRootfs(): Promise<TestLayer> {
  rootfs ??= await layerOf(busyboxRootfsEntries());
  return rootfs;
}

export async function layerOf(entries: Iterable<TarWriteEntry>): Promise<TestLayer> {
  const tar = await tarToBuffer(entries);
  // Node's gzip output has no timestamp or name in its header: the same tar gives the same bytes.
  const gzip = gzipSync(tar);
  return { tar, diffId: sha256(tar), gzip, digest: sha256(gzip) };
}

export async function buildBusyboxImage(opts: BusyboxImageOptions = {}): Promise<BusyboxImage> {
  const layers: TestLayer[] = [await busyboxRootfs()];
  if (opts.extraLayer !== undefined) {
    layers.push(
      await layerOf(
        Object.entries(opts.extraLayer)
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([name, content]): TarWriteEntry => ({
            name,
            type: "file",
            mtime: FIXED_MTIME,
            body: typeof content === "string" ? Buffer.from(content) : content,
          })),
      ),
    );
  }
  const architecture = opts.architecture ?? "amd64";
  const configJson: BusyboxConfig = {
    architecture,
    os: "linux",
    created: FIXED_CREATED,
    config: {
      Env: [...(opts.env ?? ["PATH=/bin"])],
      ...(opts.entrypoint !== undefined ? { Entrypoint: [...opts.entrypoint] } : {}),
      Cmd: [...(opts.cmd ?? ["/bin/sh"])],
      ...(opts.labels !== undefined ? { Labels: { ...opts.labels } } : {}),
    },
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((_, i) => ({
      created: FIXED_CREATED,
      created_by: i === 0 ? "tsstack test: busybox-static rootfs" : "tsstack test: extra layer",
    })),
  };
  const config = Buffer.from(JSON.stringify(configJson));
  const docker = opts.flavour === "docker";
  const manifestMediaType = docker ? MediaType.dockerManifest : MediaType.ociManifest;
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: manifestMediaType,
      config: {
        mediaType: docker ? MediaType.dockerConfig : MediaType.ociConfig,
        digest: sha256(config),
        size: config.length,
      },
      layers: layers.map((l) => ({
        mediaType: docker ? MediaType.dockerLayerGzip : MediaType.ociLayerGzip,
        digest: l.digest,
        size: l.gzip.length,
      })),
    }),
  );
  return {
    architecture,
    layers,
    config,
    configDigest: sha256(config),
    configJson,
    manifest,
    manifestDigest: sha256(manifest),
    manifestMediaType,
  };
}

// eslint-disable-next-line @typescript-eslint/require-await -- an async iterable of one buffer
async function* once(data: Buffer): AsyncGenerator<Buffer> {
  yield data;
}

/** Puts an image straight into a store (blobs + addImage), under `names`. */
export async function addBusyboxImage(
  store: ImageStoreApi,
  image: BusyboxImage,
  names: readonly string[] = [],
): Promise<ImageRecord> {
  await store.writeBlob(once(image.config), { digest: image.configDigest, size: image.config.length });
  for (const l of image.layers)
    await store.writeBlob(once(l.gzip), { digest: l.digest, size: l.gzip.length });
  return store.addImage(image.manifest, { names });
}

/**
 * Writes an OCI image layout directory (`oci-layout`, `index.json`, `blobs/sha256/…`) with each image
 * under its `ref.name` (a tag such as `latest`, as skopeo's `oci:<dir>:<tag>` expects).
 */
export async function writeBusyboxOciLayout(
  dir: string,
  images: readonly { readonly image: BusyboxImage; readonly refName?: string }[],
): Promise<void> {
  await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  await writeFile(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  const blob = (data: Buffer): Promise<void> =>
    writeFile(join(dir, "blobs", "sha256", hex(sha256(data))), data);
  for (const { image } of images) {
    for (const l of image.layers) await blob(l.gzip);
    await blob(image.config);
    await blob(image.manifest);
  }
  await writeFile(
    join(dir, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: images.map(({ image, refName }) => ({
        mediaType: image.manifestMediaType,
        digest: image.manifestDigest,
        size: image.manifest.length,
        ...(refName !== undefined ? { annotations: { "org.opencontainers.image.ref.name": refName } } : {}),
      })),
    }),
  );
}

/**
 * The classic `docker save` archive (Docker ≤ 24) as bytes: `<id>/VERSION`, `<id>/json`,
 * `<id>/layer.tar` (uncompressed), `<config hex>.json`, `manifest.json`, `repositories`. With
 * `gzipLayers`, layer.tar holds the gzip instead (docker load accepts both).
 */
export async function busyboxDockerArchive(
  images: readonly { readonly image: BusyboxImage; readonly repoTags?: readonly string[] }[],
  opts: { readonly gzipLayers?: boolean } = {},
): Promise<Buffer> {
  const entries: TarWriteEntry[] = [];
  const manifest: { Config: string; RepoTags: string[] | null; Layers: string[] }[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  const seen = new Set<string>();
  const file = (name: string, body: Buffer): TarWriteEntry => ({
    name,
    type: "file",
    mtime: FIXED_MTIME,
    body,
  });
  for (const { image, repoTags } of images) {
    const paths: string[] = [];
    let parent = "";
    for (const [i, l] of image.layers.entries()) {
      // Like Docker's v1 ids: from the parent chain, and for the top layer also from the config, so
      // two images never share a top layer id (the legacy `repositories` file names images by it).
      const top = i === image.layers.length - 1 ? ` ${image.configDigest}` : "";
      const id = hex(sha256(`${parent} ${l.diffId}${top}`));
      paths.push(`${id}/layer.tar`);
      if (!seen.has(id)) {
        seen.add(id);
        entries.push(
          { name: `${id}/`, type: "directory", mtime: FIXED_MTIME },
          file(`${id}/VERSION`, Buffer.from("1.0")),
          file(`${id}/json`, Buffer.from(JSON.stringify({ id, ...(parent !== "" ? { parent } : {}) }))),
          file(`${id}/layer.tar`, opts.gzipLayers === true ? l.gzip : l.tar),
        );
      }
      parent = id;
    }
    const configName = `${hex(image.configDigest)}.json`;
    if (!seen.has(configName)) {
      seen.add(configName);
      entries.push(file(configName, image.config));
    }
    manifest.push({
      Config: configName,
      RepoTags: repoTags === undefined ? null : [...repoTags],
      Layers: paths,
    });
    for (const t of repoTags ?? []) {
      const colon = t.lastIndexOf(":");
      repositories[t.slice(0, colon)] = { ...repositories[t.slice(0, colon)], [t.slice(colon + 1)]: parent };
    }
  }
  entries.push(file("manifest.json", Buffer.from(JSON.stringify(manifest))));
  entries.push(file("repositories", Buffer.from(JSON.stringify(repositories))));
  return tarToBuffer(entries);
}
