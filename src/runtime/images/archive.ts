/**
 * Image archives: `docker save` / `docker load` tars, OCI image layout archives, and `docker import` of a
 * root filesystem tar.
 *
 * Loading streams every regular file of the archive straight into the store as a blob (hashing it on the
 * way), because the metadata that says what the files are (`manifest.json`, `index.json`) may come at
 * either end of the tar. Files that turn out to be unused stay as unreferenced blobs until the next
 * `gc()`; nothing is registered until every blob of an image is present and verified.
 */
import { once } from "node:events";
import { createReadStream, createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { basename, dirname, join, posix } from "node:path";
import { Readable, Transform, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import * as zlib from "node:zlib";
import { createGunzip, createGzip } from "node:zlib";
import { randomBytes } from "node:crypto";

import { TsstackError } from "../../common/errors.js";
import { digestHex, DigestHasher, digestStream, isDigest } from "./digest.js";
import { familiarName, formatReference, formatRepository, parseReference } from "./reference.js";
import { hostPlatform, parseConfig, parseManifest, selectManifest } from "./store.js";
import { writeTar, type TarWriteEntry } from "./tar-writer.js";
import {
  MediaType,
  type Descriptor,
  type Digest,
  type ImageIndex,
  type ImageManifest,
  type ImageRecord,
  type ImageStoreApi,
  type Platform,
} from "./types.js";

/** A file path, or a stream of the archive's bytes (e.g. stdin, an HTTP body). */
export type ArchiveSource = string | AsyncIterable<Uint8Array>;
/** A file path (written atomically), or a stream the archive is written to (left open). */
export type ArchiveDestination = string | Writable;
export type ArchiveFormat = "docker" | "oci";

export interface LoadedImage {
  readonly image: ImageRecord;
  /** Names given to the image, fully qualified (`docker.io/library/busybox:latest`); may be empty. */
  readonly names: readonly string[];
}

export interface LoadResult {
  /** `oci` when the archive had an `index.json` (Docker ≥ 25 writes both; the OCI index is preferred). */
  readonly format: ArchiveFormat;
  readonly images: readonly LoadedImage[];
}

export interface LoadOptions {
  /** Platform to pick from a multi-platform index in the archive. Default: linux and the host architecture. */
  readonly platform?: Platform;
  /**
   * Repository given to OCI entries whose `org.opencontainers.image.ref.name` is only a tag (`latest`),
   * like containerd's `--base-name`. Without it such entries are loaded untagged.
   */
  readonly baseName?: string;
}

const REF_NAME = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME = "io.containerd.image.name";
/** Metadata files are held in memory; bigger than this is not an honest archive. */
const MAX_METADATA_BYTES = 16 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------------
// load

/** Loads every image of a `docker save` or OCI layout archive (plain or gzip-compressed) into the store. */
export async function loadArchive(
  store: ImageStoreApi,
  source: ArchiveSource,
  opts: LoadOptions = {},
): Promise<LoadResult> {
  try {
    return await loadArchiveContents(store, source, opts);
  } catch (e) {
    // Name the archive in every error: "loading image archive /path/x.tar: …".
    if (e instanceof TsstackError && typeof source === "string") {
      const message = e.message.replace(/^loading image archive:\s*/, "");
      throw new TsstackError(e.code, `loading image archive ${source}: ${message}`, { cause: e });
    }
    throw e;
  }
}

async function loadArchiveContents(
  store: ImageStoreApi,
  source: ArchiveSource,
  opts: LoadOptions,
): Promise<LoadResult> {
  const contents = await readArchive(store, openSource(source));
  if (contents.metadata.has("index.json"))
    return { format: "oci", images: await loadOci(store, contents, opts) };
  if (contents.metadata.has("manifest.json"))
    return { format: "docker", images: await loadDocker(store, contents) };
  if (contents.metadata.has("repositories")) {
    throw new TsstackError(
      "image/unsupported-archive",
      "it has a `repositories` file but no manifest.json (the pre-1.10 `docker save` format, which tsstack does not read)",
    );
  }
  throw new TsstackError(
    "image/unsupported-archive",
    "neither manifest.json (docker save) nor index.json (OCI layout) found in it",
  );
}

interface ArchiveContents {
  /** Small files read into memory, by normalized path. */
  readonly metadata: Map<string, Buffer>;
  /** Every other regular file, stored as a blob. */
  readonly blobs: Map<string, { digest: Digest; size: number }>;
  /** Symlinks and hard links: path → normalized target path. */
  readonly links: Map<string, string>;
}

/** Files read into memory instead of the blob store: what says what the other files are. */
function isMetadata(path: string): boolean {
  return (
    ["manifest.json", "index.json", "oci-layout", "repositories"].includes(path) ||
    // The v1 per-layer files of the classic `docker save` layout (`<id>/json`, `<id>/VERSION`).
    /^[^/]+\/(json|VERSION)$/.test(path)
  );
}

async function readArchive(
  store: ImageStoreApi,
  source: AsyncIterable<Uint8Array>,
): Promise<ArchiveContents> {
  const contents: ArchiveContents = { metadata: new Map(), blobs: new Map(), links: new Map() };
  for await (const entry of readTar(await decompressed(source, "image archive"))) {
    const path = normalizeArchivePath(entry.path);
    if (path === "") continue;
    switch (entry.type) {
      case "symlink": {
        const target = entry.linkname.startsWith("/")
          ? normalizeArchivePath(entry.linkname)
          : normalizeArchivePath(posix.join(posix.dirname(path), entry.linkname));
        contents.links.set(path, target);
        break;
      }
      case "hardlink":
        contents.links.set(path, normalizeArchivePath(entry.linkname));
        break;
      case "file":
        if (isMetadata(path)) {
          if (entry.size > MAX_METADATA_BYTES) {
            throw new TsstackError(
              "image/invalid-archive",
              `loading image archive: ${path} is ${entry.size} bytes, more than the ${MAX_METADATA_BYTES} a metadata file may have`,
            );
          }
          contents.metadata.set(path, await collect(entry.body()));
        } else {
          // `blobs/sha256/<hex>` names its own digest: a mismatch is refused while streaming.
          const named = /^blobs\/([^/]+)\/([^/]+)$/.exec(path);
          let expected: Digest | undefined;
          if (named !== null) {
            expected = `${named[1] ?? ""}:${named[2] ?? ""}`;
            if (!isDigest(expected)) {
              throw new TsstackError(
                "image/invalid-archive",
                `loading image archive: blob ${path} is not named sha256/<64 lowercase hex> (only sha256 is supported)`,
              );
            }
          }
          const stored = await store.writeBlob(entry.body(), {
            size: entry.size,
            ...(expected !== undefined ? { digest: expected } : {}),
          });
          contents.blobs.set(path, stored);
        }
        break;
      default:
        break;
    }
  }
  return contents;
}

/** Strips `./` and leading slashes, resolves `.`/`..` inside the archive. */
function normalizeArchivePath(p: string): string {
  const n = posix.normalize(`/${p}`).slice(1);
  return n.endsWith("/") ? n.slice(0, -1) : n;
}

/** Follows links (bounded, against loops) to the blob a path names. */
function blobAt(contents: ArchiveContents, path: string, what: string): { digest: Digest; size: number } {
  let p = normalizeArchivePath(path);
  for (let hops = 0; hops < 16; hops++) {
    const blob = contents.blobs.get(p);
    if (blob !== undefined) return blob;
    const next = contents.links.get(p);
    if (next === undefined) break;
    p = next;
  }
  throw new TsstackError(
    "image/invalid-archive",
    `loading image archive: ${what} ${path} is missing from the archive`,
  );
}

function parseJson(buf: Buffer, what: string): unknown {
  try {
    return JSON.parse(buf.toString("utf8")) as unknown;
  } catch (e) {
    throw new TsstackError("image/invalid-archive", `loading image archive: ${what} is not valid JSON`, {
      cause: e,
    });
  }
}

// --- docker save format ------------------------------------------------------------------------------

interface DockerManifestEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

async function loadDocker(store: ImageStoreApi, contents: ArchiveContents): Promise<LoadedImage[]> {
  const entries = parseJson(contents.metadata.get("manifest.json") ?? Buffer.alloc(0), "manifest.json");
  if (!Array.isArray(entries)) {
    throw new TsstackError(
      "image/invalid-archive",
      "loading image archive: manifest.json is not a JSON array",
    );
  }
  const legacyNames = repositoriesByLayer(contents);
  const parsedEntries = (entries as unknown[]).map((raw, i) => checkDockerEntry(raw, i));
  const loaded: LoadedImage[] = [];
  for (const [i, entry] of parsedEntries.entries()) {
    const what = `image ${i + 1} of manifest.json`;
    const config = blobAt(contents, entry.Config, `config of ${what}`);
    // Configs are named after their digest (`<hex>.json`, `blobs/sha256/<hex>`): the image id.
    const namedHex = /(?:^|\/)([a-f0-9]{64})(?:\.json)?$/.exec(entry.Config)?.[1];
    if (namedHex !== undefined && namedHex !== digestHex(config.digest)) {
      throw new TsstackError(
        "image/digest-mismatch",
        `loading image archive: config ${entry.Config} of ${what} has digest ${config.digest}, not the one its name says`,
      );
    }
    const imageConfig = parseConfig(await store.readBlob(config.digest), `config ${entry.Config} of ${what}`);
    const diffIds = imageConfig.rootfs.diff_ids;
    if (diffIds.length !== entry.Layers.length) {
      throw new TsstackError(
        "image/invalid-archive",
        `loading image archive: ${what} lists ${entry.Layers.length} layers but its config has ${diffIds.length} diff IDs`,
      );
    }
    const layers: Descriptor[] = [];
    for (const [j, layerPath] of entry.Layers.entries()) {
      const blob = blobAt(contents, layerPath, `layer ${j + 1} of ${what}`);
      const compression = await sniffCompression(store.blobPath(blob.digest));
      const mediaType = {
        none: MediaType.ociLayer,
        gzip: MediaType.ociLayerGzip,
        zstd: MediaType.ociLayerZstd,
      }[compression];
      await verifyDiffId(
        store,
        { digest: blob.digest, mediaType },
        diffIds[j] ?? "",
        `layer ${layerPath} of ${what}`,
      );
      layers.push({ mediaType, digest: blob.digest, size: blob.size });
    }
    // A docker archive has no manifest: build an OCI one (its layers may be uncompressed tars, which the
    // Docker v2s2 media types cannot describe). Compact JSON, so loading twice gives the same digest.
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: config.digest, size: config.size },
      layers,
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    const tags = entry.RepoTags ?? [];
    // `repositories` names a top layer, not an image: trust it only for a top layer no other image has
    // (images that differ only in config can share one, and `docker save <id>` leaves RepoTags null).
    const top = layerDir(entry.Layers.at(-1));
    const topShared = parsedEntries.filter((e) => layerDir(e.Layers.at(-1)) === top).length > 1;
    const legacy = topShared ? [] : (legacyNames.get(top) ?? []);
    const names = (tags.length > 0 ? tags : legacy).map((n) => normalizeName(n, what));
    const image = await store.addImage(manifestBytes, { names });
    loaded.push({ image, names });
  }
  return loaded;
}

function checkDockerEntry(raw: unknown, i: number): DockerManifestEntry {
  const e = raw as Partial<DockerManifestEntry> | null;
  const ok =
    typeof e === "object" &&
    e !== null &&
    typeof e.Config === "string" &&
    Array.isArray(e.Layers) &&
    e.Layers.every((l) => typeof l === "string") &&
    (e.RepoTags === undefined ||
      e.RepoTags === null ||
      (Array.isArray(e.RepoTags) && e.RepoTags.every((t) => typeof t === "string")));
  if (!ok) {
    throw new TsstackError(
      "image/invalid-archive",
      `loading image archive: entry ${i + 1} of manifest.json needs Config (string), Layers (strings) and optional RepoTags (strings)`,
    );
  }
  return e as DockerManifestEntry;
}

/** The `<id>` of a classic `<id>/layer.tar` path, the key of the legacy `repositories` file. */
function layerDir(layerPath: string | undefined): string {
  return layerPath === undefined ? "" : posix.dirname(normalizeArchivePath(layerPath));
}

/**
 * The legacy `repositories` file (`{"busybox": {"latest": "<top layer id>"}}`): names for entries of
 * manifest.json whose RepoTags are empty, matched by their top layer's directory.
 */
function repositoriesByLayer(contents: ArchiveContents): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const buf = contents.metadata.get("repositories");
  if (buf === undefined) return out;
  const repos = parseJson(buf, "repositories");
  if (typeof repos !== "object" || repos === null) return out;
  for (const [repo, tags] of Object.entries(repos as Record<string, unknown>)) {
    if (typeof tags !== "object" || tags === null) continue;
    for (const [tag, id] of Object.entries(tags as Record<string, unknown>)) {
      if (typeof id !== "string") continue;
      out.set(id, [...(out.get(id) ?? []), `${repo}:${tag}`]);
    }
  }
  return out;
}

// --- OCI layout --------------------------------------------------------------------------------------

async function loadOci(
  store: ImageStoreApi,
  contents: ArchiveContents,
  opts: LoadOptions,
): Promise<LoadedImage[]> {
  const layout = contents.metadata.get("oci-layout");
  if (layout !== undefined) {
    const parsed = parseJson(layout, "oci-layout");
    const version = isRecord(parsed) ? parsed["imageLayoutVersion"] : undefined;
    if (typeof version !== "string" || !version.startsWith("1.")) {
      throw new TsstackError(
        "image/unsupported-archive",
        `loading image archive: OCI layout version ${JSON.stringify(version)} is not supported (expected 1.x)`,
      );
    }
  }
  const index = checkIndex(
    parseJson(contents.metadata.get("index.json") ?? Buffer.alloc(0), "index.json"),
    "index.json",
  );
  // Docker ≥ 25 writes manifest.json next to index.json; its RepoTags name entries the index leaves unnamed.
  const dockerTags = new Map<Digest, string[]>();
  const dockerManifest = contents.metadata.get("manifest.json");
  if (dockerManifest !== undefined) {
    const entries = parseJson(dockerManifest, "manifest.json");
    if (Array.isArray(entries)) {
      for (const [i, raw] of (entries as unknown[]).entries()) {
        const entry = checkDockerEntry(raw, i);
        const cfg = contents.blobs.get(normalizeArchivePath(entry.Config));
        if (cfg !== undefined) dockerTags.set(cfg.digest, entry.RepoTags ?? []);
      }
    }
  }

  // One image per manifest; index entries naming the same manifest add names to it.
  const byManifest = new Map<Digest, { manifest: Descriptor; names: Set<string> }>();
  for (const [i, desc] of index.manifests.entries()) {
    const what = `entry ${i + 1} of index.json`;
    const manifest = await resolveManifest(store, contents, desc, opts, what, 0);
    const slot = byManifest.get(manifest.digest) ?? { manifest, names: new Set<string>() };
    byManifest.set(manifest.digest, slot);
    const name = ociEntryName(desc, opts);
    if (name !== undefined) slot.names.add(normalizeName(name, what));
  }

  const loaded: LoadedImage[] = [];
  for (const { manifest: desc, names } of byManifest.values()) {
    const what = `manifest ${desc.digest}`;
    const manifestBytes = await store.readBlob(desc.digest);
    const manifest = parseManifest(manifestBytes, what);
    await requireBlob(store, contents, manifest.config, `config of ${what}`);
    const config = parseConfig(await store.readBlob(manifest.config.digest), `config of ${what}`);
    if (config.rootfs.diff_ids.length !== manifest.layers.length) {
      throw new TsstackError(
        "image/invalid-archive",
        `loading image archive: ${what} has ${manifest.layers.length} layers but its config has ${config.rootfs.diff_ids.length} diff IDs`,
      );
    }
    for (const [j, layer] of manifest.layers.entries()) {
      await requireBlob(store, contents, layer, `layer ${j + 1} of ${what}`);
      await verifyDiffId(
        store,
        layer,
        config.rootfs.diff_ids[j] ?? "",
        `layer ${j + 1} (${layer.digest}) of ${what}`,
      );
    }
    if (names.size === 0)
      for (const t of dockerTags.get(manifest.config.digest) ?? []) names.add(normalizeName(t, what));
    const image = await store.addImage(manifestBytes, { names: [...names] });
    loaded.push({ image, names: [...names] });
  }
  return loaded;
}

/**
 * The name of an index entry: containerd's full-name annotation, else `ref.name` when it is a full
 * reference. A `ref.name` without `/`, `:` or `@` is only a tag (OCI's intent, and what containerd and
 * Docker write), named with `baseName` when given.
 */
function ociEntryName(desc: Descriptor, opts: LoadOptions): string | undefined {
  const full = desc.annotations?.[CONTAINERD_NAME];
  if (full !== undefined && full !== "") return full;
  const ref = desc.annotations?.[REF_NAME];
  if (ref === undefined || ref === "") return undefined;
  if (/[/:@]/.test(ref)) return ref;
  return opts.baseName === undefined ? undefined : `${opts.baseName}:${ref}`;
}

/** Follows an index entry to a single-platform manifest present in the archive (or the store). */
async function resolveManifest(
  store: ImageStoreApi,
  contents: ArchiveContents,
  desc: Descriptor,
  opts: LoadOptions,
  what: string,
  depth: number,
): Promise<Descriptor> {
  await requireBlob(store, contents, desc, what);
  if (desc.mediaType === MediaType.ociManifest || desc.mediaType === MediaType.dockerManifest) return desc;
  if (desc.mediaType !== MediaType.ociIndex && desc.mediaType !== MediaType.dockerManifestList) {
    throw new TsstackError(
      "image/unsupported-archive",
      `loading image archive: ${what} has unsupported media type ${desc.mediaType}`,
    );
  }
  if (depth >= 4)
    throw new TsstackError(
      "image/invalid-archive",
      `loading image archive: ${what}: indexes nested too deeply`,
    );
  const nested = checkIndex(parseJson(await store.readBlob(desc.digest), what), what);
  const platform = opts.platform ?? hostPlatform();
  const chosen = selectManifest(nested, platform);
  if (chosen === undefined) {
    const offered = nested.manifests
      .map((m) => (m.platform ? platformString(m.platform) : "unknown"))
      .join(", ");
    throw new TsstackError(
      "image/platform-not-found",
      `loading image archive: ${what} has no manifest for ${platformString(platform)} (it has ${offered || "none"})`,
    );
  }
  return resolveManifest(store, contents, chosen, opts, `${what} (${platformString(platform)})`, depth + 1);
}

/** A descriptor's blob must be in the archive with the size the descriptor promises (or already stored). */
async function requireBlob(
  store: ImageStoreApi,
  contents: ArchiveContents,
  desc: Descriptor,
  what: string,
): Promise<void> {
  const path = `blobs/sha256/${digestHex(desc.digest)}`;
  const blob =
    contents.blobs.get(path) ?? (contents.links.has(path) ? blobAt(contents, path, what) : undefined);
  if (blob === undefined) {
    // Layers can be left out of an archive when the receiver is expected to have them (docker save
    // does this for foreign layers); accept that only when the store really has the blob.
    if (await store.hasBlob(desc.digest)) return;
    throw new TsstackError(
      "image/invalid-archive",
      `loading image archive: ${what} (${desc.digest}) is missing from the archive`,
    );
  }
  if (blob.digest !== desc.digest || blob.size !== desc.size) {
    throw new TsstackError(
      "image/size-mismatch",
      `loading image archive: ${what} is ${blob.size} bytes with digest ${blob.digest}, but its descriptor says ${desc.size} bytes, ${desc.digest}`,
    );
  }
}

function platformString(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant !== undefined ? `/${p.variant}` : ""}`;
}

// --- shared checks -----------------------------------------------------------------------------------

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function checkDescriptor(d: unknown, what: string): Descriptor {
  const size = isRecord(d) ? d["size"] : undefined;
  if (
    !isRecord(d) ||
    typeof d["mediaType"] !== "string" ||
    !isDigest(d["digest"]) ||
    typeof size !== "number" ||
    !Number.isSafeInteger(size) ||
    size < 0
  ) {
    throw new TsstackError(
      "image/invalid-archive",
      `loading image archive: ${what} is not a valid descriptor (mediaType, sha256 digest, size)`,
    );
  }
  return d as unknown as Descriptor;
}

function checkIndex(raw: unknown, what: string): ImageIndex {
  const manifests = isRecord(raw) ? raw["manifests"] : undefined;
  if (!isRecord(raw) || raw["schemaVersion"] !== 2 || !Array.isArray(manifests)) {
    throw new TsstackError(
      "image/invalid-archive",
      `loading image archive: ${what} is not an image index (schemaVersion 2, manifests)`,
    );
  }
  manifests.forEach((m: unknown, i) => checkDescriptor(m, `manifests[${i}] of ${what}`));
  return raw as unknown as ImageIndex;
}

function normalizeName(name: string, what: string): string {
  try {
    return formatReference(parseReference(name));
  } catch (e) {
    throw new TsstackError(
      "image/invalid-archive",
      `loading image archive: ${what} has an invalid name "${name}"`,
      { cause: e },
    );
  }
}

/**
 * Checks a layer blob against its diff ID: an uncompressed layer's digest is its diff ID, a gzip one is
 * hashed through gunzip. zstd is left to the store (Node 20 has no zstd), which verifies on unpack.
 * Defence in depth: ImageStore.addImage (#verifyDiffId) checks every layer against its diff ID too.
 */
async function verifyDiffId(
  store: ImageStoreApi,
  layer: { readonly digest: Digest; readonly mediaType: string },
  diffId: Digest,
  what: string,
): Promise<void> {
  let actual: Digest | undefined;
  if (isUncompressed(layer.mediaType)) actual = layer.digest;
  else if (isGzip(layer.mediaType))
    actual = (await digestStream(piped(createReadStream(store.blobPath(layer.digest)), createGunzip())))
      .digest;
  if (actual !== undefined && actual !== diffId) {
    throw new TsstackError(
      "image/diff-id-mismatch",
      `loading image archive: ${what} unpacks to ${actual}, but the image config says diff ID ${diffId}`,
    );
  }
}

function isUncompressed(mediaType: string): boolean {
  return mediaType === MediaType.ociLayer || mediaType === "application/vnd.docker.image.rootfs.diff.tar";
}

function isGzip(mediaType: string): boolean {
  return (
    mediaType === MediaType.ociLayerGzip ||
    mediaType === MediaType.dockerLayerGzip ||
    mediaType === MediaType.dockerForeignLayerGzip ||
    mediaType === "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
  );
}

function isZstd(mediaType: string): boolean {
  return (
    mediaType === MediaType.ociLayerZstd || mediaType === "application/vnd.docker.image.rootfs.diff.tar.zstd"
  );
}

// ---------------------------------------------------------------------------------------------------
// save

/**
 * Writes images to an archive. `docker`: the classic `docker save` layout every `docker load` reads
 * (`manifest.json`, `<config hex>.json`, `<layer id>/layer.tar` uncompressed, `repositories`). `oci`: an
 * OCI image layout with blobs as stored and names in `index.json`, plus a Docker-style `manifest.json`
 * pointing into `blobs/` (like Docker ≥ 25), so `docker load` reads it too.
 *
 * `refs` are names (`busybox:1`), bare repositories (every tag of it in the store, like docker), or
 * image ids (saved without a name).
 */
export async function saveArchive(
  store: ImageStoreApi,
  refs: readonly string[],
  dest: ArchiveDestination,
  format: ArchiveFormat = "docker",
): Promise<void> {
  if (refs.length === 0) throw new TsstackError("image/invalid-argument", "saving images: no image given");
  const selected = await selectImages(store, refs);
  const entries = format === "docker" ? dockerEntries(store, selected) : ociEntries(store, selected);
  await writeDestination(writeTar(entries), dest);
}

interface SelectedImage {
  readonly record: ImageRecord;
  /** Fully qualified names to record for it, in order. */
  readonly names: string[];
}

async function selectImages(store: ImageStoreApi, refs: readonly string[]): Promise<SelectedImage[]> {
  const byId = new Map<Digest, SelectedImage>();
  const add = (record: ImageRecord, name: string | undefined): void => {
    const slot = byId.get(record.id) ?? { record, names: [] };
    byId.set(record.id, slot);
    if (name !== undefined && !slot.names.includes(name)) slot.names.push(name);
  };
  for (const ref of refs) {
    const parsed = tryParseReference(ref);
    // `docker save busybox` saves every tag of the repository, not just `latest`.
    if (parsed !== undefined && isNameOnly(ref)) {
      const repo = formatRepository(parsed);
      const tagged = (await store.list()).flatMap((r) =>
        r.repoTags.filter((t) => repositoryOf(t) === repo).map((t) => [r, t] as const),
      );
      if (tagged.length > 0) {
        for (const [r, t] of tagged) add(r, t);
        continue;
      }
    }
    const record = await store.resolve(ref);
    if (record === undefined)
      throw new TsstackError("image/not-found", `saving images: no such image: ${ref}`);
    const name = parsed?.tag !== undefined ? formatReference(parsed) : undefined;
    add(record, name !== undefined && record.repoTags.includes(name) ? name : undefined);
  }
  return [...byId.values()];
}

function tryParseReference(ref: string): ReturnType<typeof parseReference> | undefined {
  try {
    return parseReference(ref);
  } catch {
    return undefined;
  }
}

/** `busybox`, `localhost:5000/app`: no tag (a colon after the last slash) and no digest. */
function isNameOnly(ref: string): boolean {
  return !ref.includes("@") && !ref.slice(ref.lastIndexOf("/") + 1).includes(":");
}

/** `docker.io/library/busybox` of `docker.io/library/busybox:latest`. */
function repositoryOf(name: string): string {
  const at = name.indexOf("@");
  const base = at === -1 ? name : name.slice(0, at);
  const colon = base.lastIndexOf(":");
  return colon > base.lastIndexOf("/") ? base.slice(0, colon) : base;
}

function tagOf(name: string): string | undefined {
  const colon = name.lastIndexOf(":");
  return colon > name.lastIndexOf("/") && !name.includes("@") ? name.slice(colon + 1) : undefined;
}

function familiar(name: string): string {
  return familiarName(parseReference(name));
}

/** The fixed timestamp of archive entries: saving the same images twice gives the same bytes. */
const EPOCH = 0;

async function* dockerEntries(
  store: ImageStoreApi,
  images: readonly SelectedImage[],
): AsyncGenerator<TarWriteEntry> {
  const manifest: { Config: string; RepoTags: string[] | null; Layers: string[] }[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  const written = new Set<string>();
  for (const { record, names } of images) {
    const layers: string[] = [];
    let parent: string | undefined;
    for (const layer of record.layers) {
      // The directory name stands in for Docker's v1 layer id: any id unique per layer *stack* works
      // (docker load only follows manifest.json); the chain ID is one, and dedups shared base layers.
      const id = digestHex(layer.chainId);
      layers.push(`${id}/layer.tar`);
      if (!written.has(id)) {
        written.add(id);
        yield { name: id, type: "directory", mtime: EPOCH };
        yield { name: `${id}/VERSION`, type: "file", mtime: EPOCH, body: Buffer.from("1.0") };
        const v1 = {
          id,
          ...(parent !== undefined ? { parent } : {}),
          created: new Date(EPOCH).toISOString(),
          container_config: {},
        };
        yield { name: `${id}/json`, type: "file", mtime: EPOCH, body: Buffer.from(JSON.stringify(v1)) };
        yield {
          name: `${id}/layer.tar`,
          type: "file",
          mtime: EPOCH,
          body: await uncompressedLayer(store, layer),
        };
      }
      parent = id;
    }
    const configName = `${digestHex(record.id)}.json`;
    if (!written.has(configName)) {
      written.add(configName);
      yield { name: configName, type: "file", mtime: EPOCH, body: await store.readBlob(record.id) };
    }
    manifest.push({
      Config: configName,
      RepoTags: names.length > 0 ? names.map(familiar) : null,
      Layers: layers,
    });
    for (const name of names) {
      const tag = tagOf(name);
      if (tag === undefined || parent === undefined) continue;
      const repo = familiar(name).slice(0, -(tag.length + 1));
      repositories[repo] = { ...repositories[repo], [tag]: parent };
    }
  }
  yield { name: "manifest.json", type: "file", mtime: EPOCH, body: Buffer.from(JSON.stringify(manifest)) };
  if (Object.keys(repositories).length > 0) {
    yield {
      name: "repositories",
      type: "file",
      mtime: EPOCH,
      body: Buffer.from(JSON.stringify(repositories)),
    };
  }
}

/**
 * The body of `<id>/layer.tar`: the blob itself when stored uncompressed, else a decompressing stream.
 * A tar header needs the size first, so a compressed layer is decompressed twice: once to measure (and
 * to check the diff ID), once to write.
 */
async function uncompressedLayer(
  store: ImageStoreApi,
  layer: ImageRecord["layers"][number],
): Promise<NonNullable<TarWriteEntry["body"]>> {
  const path = store.blobPath(layer.digest);
  if (isUncompressed(layer.mediaType)) return { size: layer.size, open: () => createReadStream(path) };
  let decompressor: () => Transform;
  if (isGzip(layer.mediaType)) decompressor = () => createGunzip();
  else if (isZstd(layer.mediaType)) decompressor = zstdDecompressor(layer.digest);
  else {
    throw new TsstackError(
      "image/unsupported-layer",
      `saving layer ${layer.digest}: media type ${layer.mediaType} cannot be decompressed`,
    );
  }
  const measured = await digestStream(piped(createReadStream(path), decompressor()));
  if (measured.digest !== layer.diffId) {
    throw new TsstackError(
      "image/diff-id-mismatch",
      `saving layer ${layer.digest}: it unpacks to ${measured.digest}, not its diff ID ${layer.diffId}`,
    );
  }
  return { size: measured.size, open: () => piped(createReadStream(path), decompressor()) };
}

/** zstd needs Node ≥ 22.15 (`zlib.createZstdDecompress`); older Node can save such layers only as OCI. */
function zstdDecompressor(digest: Digest): () => Transform {
  const create = (zlib as { createZstdDecompress?: () => Transform }).createZstdDecompress;
  if (create === undefined) {
    throw new TsstackError(
      "image/unsupported-layer",
      `saving layer ${digest}: it is zstd-compressed, the docker archive format stores layers decompressed, and this Node has no zstd; save in the oci format instead`,
    );
  }
  return () => create();
}

async function* ociEntries(
  store: ImageStoreApi,
  images: readonly SelectedImage[],
): AsyncGenerator<TarWriteEntry> {
  yield {
    name: "oci-layout",
    type: "file",
    mtime: EPOCH,
    body: Buffer.from(JSON.stringify({ imageLayoutVersion: "1.0.0" })),
  };
  yield { name: "blobs", type: "directory", mtime: EPOCH };
  yield { name: "blobs/sha256", type: "directory", mtime: EPOCH };
  const written = new Set<Digest>();
  const blob = (digest: Digest, size: number): TarWriteEntry => ({
    name: `blobs/sha256/${digestHex(digest)}`,
    type: "file",
    mtime: EPOCH,
    body: { size, open: () => createReadStream(store.blobPath(digest)) },
  });
  const index: Descriptor[] = [];
  const dockerManifest: { Config: string; RepoTags: string[] | null; Layers: string[] }[] = [];
  for (const { record, names } of images) {
    const manifestBytes = await store.readBlob(record.manifestDigest);
    const manifest = parseManifest(manifestBytes, `manifest ${record.manifestDigest}`);
    for (const d of [...manifest.layers, manifest.config]) {
      if (written.has(d.digest)) continue;
      written.add(d.digest);
      yield blob(d.digest, d.size);
    }
    if (!written.has(record.manifestDigest)) {
      written.add(record.manifestDigest);
      yield {
        name: `blobs/sha256/${digestHex(record.manifestDigest)}`,
        type: "file",
        mtime: EPOCH,
        body: manifestBytes,
      };
    }
    const base: Descriptor = {
      mediaType: record.manifestMediaType,
      digest: record.manifestDigest,
      size: manifestBytes.length,
      platform: { os: record.os, architecture: record.architecture },
    };
    // containerd/Docker convention: the full name in io.containerd.image.name, only the tag in
    // org.opencontainers.image.ref.name (the OCI spec's intent for ref.name).
    if (names.length === 0) index.push(base);
    for (const name of names) {
      index.push({ ...base, annotations: { [CONTAINERD_NAME]: name, [REF_NAME]: tagOf(name) ?? name } });
    }
    dockerManifest.push({
      Config: `blobs/sha256/${digestHex(manifest.config.digest)}`,
      RepoTags: names.length > 0 ? names.map(familiar) : null,
      Layers: manifest.layers.map((l) => `blobs/sha256/${digestHex(l.digest)}`),
    });
  }
  const indexJson: ImageIndex = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: index };
  yield { name: "index.json", type: "file", mtime: EPOCH, body: Buffer.from(JSON.stringify(indexJson)) };
  yield {
    name: "manifest.json",
    type: "file",
    mtime: EPOCH,
    body: Buffer.from(JSON.stringify(dockerManifest)),
  };
}

/** Writes a stream to a file atomically (temp + rename) or into a writable, honouring backpressure. */
async function writeDestination(chunks: AsyncIterable<Buffer>, dest: ArchiveDestination): Promise<void> {
  if (typeof dest !== "string") {
    for await (const chunk of chunks) {
      if (!dest.write(chunk)) await once(dest, "drain");
    }
    return;
  }
  const temp = join(dirname(dest), `.${basename(dest)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    await pipeline(Readable.from(chunks), createWriteStream(temp, { flags: "wx" }));
    await rename(temp, dest);
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------------
// import

export interface ImportOptions {
  /** History comment. Default `Imported from <sourceName>`. */
  readonly message?: string;
  /** How the source is called in the default message (a path, a URL, `-`). */
  readonly sourceName?: string;
  /** Platform recorded in the config. Default: linux and the host architecture. */
  readonly platform?: Platform;
  /** The creation time recorded in the config. Default: now. */
  readonly now?: () => Date;
}

/**
 * `docker import`: a one-layer image from a root filesystem tar (plain or gzip), with Dockerfile
 * instructions from `changes` applied to its config. The layer is stored gzip-compressed (as pushed to
 * registries); a gzip source is stored as is.
 */
export async function importRootfs(
  store: ImageStoreApi,
  source: ArchiveSource,
  name: string | undefined,
  changes: readonly string[],
  opts: ImportOptions = {},
): Promise<ImageRecord> {
  // Validate everything the user typed before reading a byte.
  const runConfig = applyChanges({}, changes);
  const names = name === undefined ? [] : [normalizeImportName(name)];
  const { stream, compression } = await sniffStream(openSource(source));
  let layer: { digest: Digest; size: number };
  let diffId: Digest;
  if (compression === "gzip") {
    layer = await store.writeBlob(stream);
    diffId = (await digestStream(piped(createReadStream(store.blobPath(layer.digest)), createGunzip())))
      .digest;
  } else if (compression === "none") {
    const hasher = new DigestHasher();
    const tap = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hasher.update(chunk);
        done(null, chunk);
      },
    });
    const gzip = createGzip();
    const feeding = pipeline(stream, tap, gzip);
    try {
      [layer] = await Promise.all([store.writeBlob(gzip), feeding]);
    } catch (e) {
      // A failed store write leaves nobody reading the gzip stream: stop the feeding side too.
      gzip.destroy();
      throw e;
    }
    diffId = hasher.digest().digest;
  } else {
    throw new TsstackError(
      "image/unsupported-archive",
      `importing ${opts.sourceName ?? "root filesystem"}: ${compression}-compressed tars are not supported (plain or gzip only)`,
    );
  }
  const created = (opts.now ?? (() => new Date()))().toISOString();
  const platform = opts.platform ?? hostPlatform();
  const config = {
    architecture: platform.architecture,
    ...(platform.variant !== undefined ? { variant: platform.variant } : {}),
    os: platform.os,
    created,
    config: runConfig,
    rootfs: { type: "layers", diff_ids: [diffId] },
    history: [
      {
        created,
        created_by: "tsstack import",
        comment: opts.message ?? `Imported from ${opts.sourceName ?? "-"}`,
      },
    ],
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const configBlob = await store.writeBlob(bytesOf(configBytes));
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, ...configBlob },
    layers: [{ mediaType: MediaType.ociLayerGzip, ...layer }],
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return store.addImage(manifestBytes, { names });
}

function normalizeImportName(name: string): string {
  try {
    return formatReference(parseReference(name));
  } catch (e) {
    throw new TsstackError("image/invalid-reference", `importing image: invalid name "${name}"`, {
      cause: e,
    });
  }
}

// --- Dockerfile instructions (--change) --------------------------------------------------------------

/** The run config of an image (the `config` object of an image config), mutable while changes apply. */
export interface RunConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
}

/** The instructions `docker import --change` / `docker commit --change` accept that tsstack supports. */
export const CHANGE_INSTRUCTIONS = [
  "CMD",
  "ENTRYPOINT",
  "ENV",
  "EXPOSE",
  "LABEL",
  "USER",
  "WORKDIR",
  "VOLUME",
  "STOPSIGNAL",
] as const;

/**
 * Applies Dockerfile instructions to a run config, with Dockerfile semantics: exec (JSON) and shell
 * forms, `$VAR` / `${VAR}` expansion from the config's Env (not in CMD/ENTRYPOINT), relative WORKDIR
 * joined to the current one, ENTRYPOINT clearing a CMD not set by these changes. Throws
 * `image/invalid-change` naming the instruction.
 */
export function applyChanges(base: RunConfig, changes: readonly string[]): RunConfig {
  const c: RunConfig = structuredClone(base);
  let cmdSet = false;
  for (const change of changes) {
    const fail = (why: string): TsstackError =>
      new TsstackError("image/invalid-change", `applying change "${change}": ${why}`);
    const m = /^\s*(\S+)(?:\s+([\s\S]*))?$/.exec(change);
    if (m === null) throw fail("empty instruction");
    const instruction = (m[1] ?? "").toUpperCase();
    const rest = (m[2] ?? "").trim();
    const env = (): Map<string, string> => envMap(c.Env ?? []);
    const words = (): string[] => shellWords(rest, env(), fail);
    switch (instruction) {
      case "CMD":
        c.Cmd = commandForm(rest, fail);
        cmdSet = true;
        break;
      case "ENTRYPOINT":
        c.Entrypoint = commandForm(rest, fail);
        if (!cmdSet) c.Cmd = null;
        break;
      case "ENV":
        for (const [k, v] of keyValues(rest, env(), fail)) {
          c.Env = [...(c.Env ?? []).filter((e) => envKey(e) !== k), `${k}=${v}`];
        }
        break;
      case "LABEL":
        for (const [k, v] of keyValues(rest, env(), fail)) c.Labels = { ...c.Labels, [k]: v };
        break;
      case "EXPOSE": {
        const ports = words();
        if (ports.length === 0) throw fail("EXPOSE needs at least one port");
        for (const p of ports)
          for (const key of exposedPorts(p, fail)) c.ExposedPorts = { ...c.ExposedPorts, [key]: {} };
        break;
      }
      case "USER": {
        const w = words();
        if (w.length !== 1 || w[0] === "") throw fail("USER takes exactly one argument (user[:group])");
        c.User = w[0];
        break;
      }
      case "WORKDIR": {
        const w = words();
        if (w.length !== 1 || w[0] === undefined || w[0] === "") throw fail("WORKDIR takes exactly one path");
        c.WorkingDir = w[0].startsWith("/")
          ? posix.normalize(w[0])
          : posix.join("/", c.WorkingDir ?? "/", w[0]);
        break;
      }
      case "VOLUME": {
        const paths = rest.startsWith("[") ? jsonArray(rest, fail) : words();
        if (paths.length === 0 || paths.some((p) => p === ""))
          throw fail("VOLUME needs at least one non-empty path");
        for (const p of paths) c.Volumes = { ...c.Volumes, [p]: {} };
        break;
      }
      case "STOPSIGNAL": {
        const w = words();
        const sig = w[0];
        if (w.length !== 1 || sig === undefined || !isSignal(sig))
          throw fail("STOPSIGNAL takes one signal name (SIGTERM) or number");
        c.StopSignal = sig;
        break;
      }
      default:
        throw fail(`unsupported instruction ${instruction} (supported: ${CHANGE_INSTRUCTIONS.join(", ")})`);
    }
  }
  return c;
}

/** Exec form `["a","b"]`, or shell form wrapped in `/bin/sh -c` as Docker does. */
function commandForm(rest: string, fail: (why: string) => TsstackError): string[] {
  if (rest.startsWith("[")) {
    try {
      return jsonArray(rest, fail);
    } catch {
      // Docker falls back to the shell form when the JSON does not parse.
    }
  }
  if (rest === "") throw fail("a command is required");
  return ["/bin/sh", "-c", rest];
}

function jsonArray(rest: string, fail: (why: string) => TsstackError): string[] {
  let value: unknown;
  try {
    value = JSON.parse(rest);
  } catch {
    throw fail("not a JSON array of strings");
  }
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string"))
    throw fail("not a JSON array of strings");
  return value;
}

function envKey(entry: string): string {
  const eq = entry.indexOf("=");
  return eq === -1 ? entry : entry.slice(0, eq);
}

function envMap(env: readonly string[]): Map<string, string> {
  return new Map(env.map((e) => [envKey(e), e.slice(envKey(e).length + 1)]));
}

/** `k=v k2="v 2"`, or the legacy one-pair form `k some value`. */
function keyValues(
  rest: string,
  env: Map<string, string>,
  fail: (why: string) => TsstackError,
): [string, string][] {
  const first = /^(\S+)/.exec(rest)?.[1];
  if (first === undefined) throw fail("needs key=value pairs");
  if (!first.includes("=")) {
    // Legacy form: the rest of the line, spaces included, is the value.
    const value = rest.slice(first.length).trim();
    if (value === "") throw fail(`${first} needs a value (key=value or key value)`);
    return [[first, shellWords(value, env, fail, true).join("")]];
  }
  return shellWords(rest, env, fail).map((w) => {
    const eq = w.indexOf("=");
    if (eq <= 0) throw fail(`"${w}" is not key=value`);
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}

/**
 * Dockerfile word splitting: whitespace separates words (unless `keepSpaces`), single quotes are
 * literal, double quotes allow `$` expansion, backslash escapes the next character.
 */
function shellWords(
  text: string,
  env: Map<string, string>,
  fail: (why: string) => TsstackError,
  keepSpaces = false,
): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let i = 0;
  const expand = (): string => {
    // At text[i] === "$".
    const next = text[i + 1];
    if (next === "{") {
      const end = text.indexOf("}", i + 2);
      if (end === -1) throw fail("unterminated ${");
      const inner = text.slice(i + 2, end);
      i = end + 1;
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?::([-+])(.*))?$/s.exec(inner);
      if (m === null) throw fail(`bad substitution \${${inner}}`);
      const value = env.get(m[1] ?? "");
      if (m[2] === "-") return value !== undefined && value !== "" ? value : (m[3] ?? "");
      if (m[2] === "+") return value !== undefined && value !== "" ? (m[3] ?? "") : "";
      return value ?? "";
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i + 1));
    if (m === null) {
      i++;
      return "$";
    }
    i += 1 + m[0].length;
    return env.get(m[0]) ?? "";
  };
  while (i < text.length) {
    const ch = text[i] ?? "";
    if (/\s/.test(ch) && !keepSpaces) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
      i++;
      continue;
    }
    inWord = true;
    if (ch === "\\") {
      word += text[i + 1] ?? "";
      i += 2;
    } else if (ch === "'") {
      const end = text.indexOf("'", i + 1);
      if (end === -1) throw fail("unterminated single quote");
      word += text.slice(i + 1, end);
      i = end + 1;
    } else if (ch === '"') {
      i++;
      for (;;) {
        const c = text[i];
        if (c === undefined) throw fail("unterminated double quote");
        if (c === '"') {
          i++;
          break;
        }
        if (c === "\\" && ['"', "\\", "$"].includes(text[i + 1] ?? "")) {
          word += text[i + 1] ?? "";
          i += 2;
        } else if (c === "$") {
          word += expand();
        } else {
          word += c;
          i++;
        }
      }
    } else if (ch === "$") {
      word += expand();
    } else {
      word += ch;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** `80`, `53/udp`, `8000-8002/tcp` → `80/tcp`, `53/udp`, `8000/tcp`, `8001/tcp`, `8002/tcp`. */
function exposedPorts(spec: string, fail: (why: string) => TsstackError): string[] {
  const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(spec);
  const lo = Number(m?.[1]);
  const hi = m?.[2] !== undefined ? Number(m[2]) : lo;
  if (m === null || lo < 1 || hi > 65535 || hi < lo)
    throw fail(`invalid port "${spec}" (port[-port][/tcp|udp|sctp], 1-65535)`);
  const proto = (m[3] ?? "tcp").toLowerCase();
  return Array.from({ length: hi - lo + 1 }, (_, k) => `${lo + k}/${proto}`);
}

const SIGNALS = new Set(
  "HUP INT QUIT ILL TRAP ABRT IOT BUS FPE KILL USR1 SEGV USR2 PIPE ALRM TERM STKFLT CHLD CONT STOP TSTP TTIN TTOU URG XCPU XFSZ VTALRM PROF WINCH IO POLL PWR SYS".split(
    " ",
  ),
);

function isSignal(s: string): boolean {
  if (/^\d+$/.test(s)) return Number(s) >= 1 && Number(s) <= 64;
  const name = s.toUpperCase().replace(/^SIG/, "");
  return SIGNALS.has(name) || /^RTM(IN|AX)([+-]\d+)?$/.test(name);
}

// ---------------------------------------------------------------------------------------------------
// streams and tar reading

function openSource(source: ArchiveSource): AsyncIterable<Uint8Array> {
  return typeof source === "string" ? createReadStream(source) : source;
}

type Compression = "none" | "gzip" | "zstd" | "bzip2" | "xz";

function compressionOf(head: Uint8Array): Compression {
  if (head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return "zstd";
  if (head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) return "bzip2";
  if (head[0] === 0xfd && head[1] === 0x37 && head[2] === 0x7a && head[3] === 0x58 && head[4] === 0x5a)
    return "xz";
  return "none";
}

async function sniffCompression(path: string): Promise<"none" | "gzip" | "zstd"> {
  const { stream, compression } = await sniffStream(createReadStream(path, { start: 0, end: 7 }));
  for await (const _ of stream) {
    // drain the few bytes so the file closes
  }
  return compression === "gzip" || compression === "zstd" ? compression : "none";
}

/** Reads the first bytes to tell the compression, and gives back a stream that still has them. */
async function sniffStream(
  source: AsyncIterable<Uint8Array>,
): Promise<{ stream: AsyncIterable<Uint8Array>; compression: Compression }> {
  const it = source[Symbol.asyncIterator]();
  const head: Uint8Array[] = [];
  let headLength = 0;
  let done = false;
  while (headLength < 6) {
    const r = await it.next();
    if (r.done === true) {
      done = true;
      break;
    }
    head.push(r.value);
    headLength += r.value.length;
  }
  const compression = compressionOf(Buffer.concat(head));
  async function* replay(): AsyncGenerator<Uint8Array> {
    try {
      yield* head;
      if (done) return;
      for (;;) {
        const r = await it.next();
        if (r.done === true) return;
        yield r.value;
      }
    } finally {
      // A consumer that stops early must still close the source.
      await it.return?.();
    }
  }
  return { stream: replay(), compression };
}

async function decompressed(
  source: AsyncIterable<Uint8Array>,
  what: string,
): Promise<AsyncIterable<Uint8Array>> {
  const { stream, compression } = await sniffStream(source);
  if (compression === "none") return stream;
  if (compression === "gzip") return piped(stream, createGunzip());
  throw new TsstackError(
    "image/unsupported-archive",
    `reading ${what}: ${compression} compression is not supported (plain or gzip only)`,
  );
}

/**
 * `source` piped into `transform`, with errors and early stops propagated both ways (`.pipe` leaves the
 * source open when the transform fails).
 */
function piped(source: AsyncIterable<Uint8Array>, transform: Transform): Transform {
  pipeline(source, transform).catch(() => {
    // The error also destroys `transform`, so it reaches whoever reads from it.
  });
  return transform;
}

// eslint-disable-next-line @typescript-eslint/require-await -- an async iterable of one buffer
async function* bytesOf(data: Buffer): AsyncGenerator<Buffer> {
  yield data;
}

async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const chunk of source) parts.push(chunk);
  return Buffer.concat(parts);
}

export interface TarReadEntry {
  readonly path: string;
  readonly type: "file" | "directory" | "symlink" | "hardlink" | "other";
  readonly size: number;
  readonly linkname: string;
  /** The file's bytes; must be consumed before the next entry is requested (or is skipped). */
  body(): AsyncIterable<Buffer>;
}

/** Buffered exact reads over a chunk stream. */
class ByteReader {
  readonly #it: AsyncIterator<Uint8Array>;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #eof = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#it = source[Symbol.asyncIterator]();
  }

  async close(): Promise<void> {
    await this.#it.return?.();
  }

  async #fill(n: number): Promise<void> {
    while (this.#buffered < n && !this.#eof) {
      const r = await this.#it.next();
      if (r.done === true) this.#eof = true;
      else {
        const b = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
        this.#chunks.push(b);
        this.#buffered += b.length;
      }
    }
  }

  /** Exactly `n` bytes, or fewer only at the end of the stream. */
  async read(n: number): Promise<Buffer> {
    await this.#fill(n);
    const all =
      this.#chunks.length === 1 ? (this.#chunks[0] ?? Buffer.alloc(0)) : Buffer.concat(this.#chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.#chunks = rest.length > 0 ? [rest] : [];
    this.#buffered = rest.length;
    return out;
  }

  /** Up to `n` bytes as they arrive, without buffering them all. */
  async *stream(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.#buffered === 0) await this.#fill(1);
      const chunk = this.#chunks.shift();
      if (chunk === undefined) return;
      const take = Math.min(left, chunk.length);
      if (take < chunk.length) this.#chunks.unshift(chunk.subarray(take));
      this.#buffered -= take;
      left -= take;
      yield chunk.subarray(0, take);
    }
  }
}

function truncated(what: string): TsstackError {
  return new TsstackError("image/invalid-archive", `reading tar: the archive ends in the middle of ${what}`);
}

/**
 * Reads tar entries (ustar, GNU long names, PAX headers). Only what archive loading needs: paths, types,
 * sizes, link targets, bodies.
 */
export async function* readTar(source: AsyncIterable<Uint8Array>): AsyncGenerator<TarReadEntry> {
  const reader = new ByteReader(source);
  try {
    yield* readEntries(reader);
  } finally {
    // Also when the consumer stops early or fails: close the file or stream underneath.
    await reader.close();
  }
}

async function* readEntries(reader: ByteReader): AsyncGenerator<TarReadEntry> {
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax = new Map<string, string>();
  for (;;) {
    const header = await reader.read(512);
    if (header.length === 0) return; // end without the zero blocks: tolerated, as GNU tar does
    if (header.length < 512) throw truncated("a header");
    if (header.every((b) => b === 0)) return;
    checkHeaderChecksum(header);
    const typeflag = String.fromCharCode(header[156] ?? 0);
    const size = parseNumeric(header.subarray(124, 136));
    const padded = Math.ceil(size / 512) * 512;
    if (typeflag === "x" || typeflag === "g" || typeflag === "L" || typeflag === "K") {
      const data = await reader.read(padded);
      if (data.length < padded) throw truncated("an extended header");
      const content = data.subarray(0, size);
      if (typeflag === "x") pax = parsePax(content);
      else if (typeflag === "L") longName = cString(content);
      else if (typeflag === "K") longLink = cString(content);
      // Global PAX headers ("g") carry nothing archive loading needs.
      continue;
    }
    const magic = header.subarray(257, 263).toString("latin1");
    const prefix = magic === "ustar\u0000" ? cString(header.subarray(345, 500)) : "";
    const name = cString(header.subarray(0, 100));
    const path = pax.get("path") ?? longName ?? (prefix !== "" ? `${prefix}/${name}` : name);
    const linkname = pax.get("linkpath") ?? longLink ?? cString(header.subarray(157, 257));
    const realSize = pax.has("size") ? Number(pax.get("size")) : size;
    const realPadded = Math.ceil(realSize / 512) * 512;
    pax = new Map();
    longName = undefined;
    longLink = undefined;
    const type =
      typeflag === "0" || typeflag === "\u0000" || typeflag === "7"
        ? "file"
        : typeflag === "5"
          ? "directory"
          : typeflag === "2"
            ? "symlink"
            : typeflag === "1"
              ? "hardlink"
              : "other";
    const bodySize = type === "file" || type === "other" ? realSize : 0;
    let consumed = 0;
    const body = async function* (): AsyncGenerator<Buffer> {
      for await (const chunk of reader.stream(bodySize - consumed)) {
        consumed += chunk.length;
        yield chunk;
      }
      if (consumed < bodySize) throw truncated(`the body of ${path}`);
    };
    yield { path, type, size: bodySize, linkname, body };
    // Skip what the consumer did not read, then the padding to the next block.
    for await (const chunk of reader.stream(bodySize - consumed)) consumed += chunk.length;
    if (consumed < bodySize) throw truncated(`the body of ${path}`);
    const pad = (type === "file" || type === "other" ? realPadded : 0) - bodySize;
    if (pad > 0 && (await reader.read(pad)).length < pad) throw truncated(`the padding after ${path}`);
  }
}

function checkHeaderChecksum(header: Buffer): void {
  const stored = parseNumeric(header.subarray(148, 156));
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < 512; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : (header[i] ?? 0);
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  if (stored !== unsigned && stored !== signed) {
    throw new TsstackError(
      "image/invalid-archive",
      "reading tar: a header checksum does not match (not a tar archive, or corrupt)",
    );
  }
}

/** Octal (NUL/space terminated) or GNU base-256 for big values. */
function parseNumeric(field: Buffer): number {
  if (((field[0] ?? 0) & 0x80) !== 0) {
    let value = (field[0] ?? 0) & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + (field[i] ?? 0);
    return value;
  }
  const text = field
    .toString("latin1")
    .replace(/[\0 ].*$/s, "")
    .trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text))
    throw new TsstackError("image/invalid-archive", `reading tar: "${text}" is not an octal number`);
  return parseInt(text, 8);
}

function cString(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.subarray(0, nul === -1 ? b.length : nul).toString("utf8");
}

function parsePax(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space === -1) break;
    const len = Number(data.subarray(pos, space).toString("ascii"));
    if (!Number.isSafeInteger(len) || len <= 0 || pos + len > data.length) {
      throw new TsstackError("image/invalid-archive", "reading tar: malformed PAX extended header");
    }
    const record = data.subarray(space + 1, pos + len - 1).toString("utf8");
    const eq = record.indexOf("=");
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    pos += len;
  }
  return out;
}
