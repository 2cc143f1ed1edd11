/**
 * `tsstack image pull`: tag → manifest (an index or manifest list picks linux + the host architecture)
 * → config and layer blobs, fetched in parallel with a limit, skipping blobs the store already has →
 * `store.addImage`. Only then is the image registered, so a pull killed midway leaves verified blobs
 * (reused by the next pull) but never a half-registered image.
 */
import { TsstackError } from "../../../common/errors.js";
import { formatReference, parseReference } from "../reference.js";
import { hostPlatform, parseManifest, selectManifest } from "../store.js";
import type {
  Descriptor,
  Digest,
  ImageManifest,
  ImageRecord,
  ImageStoreApi,
  Platform,
  TransferProgress,
} from "../types.js";
import { MediaType } from "../types.js";
import type { RegistryClient, RegistryClientOptions, RepositoryRef } from "./client.js";
import { clientFrom, countBytes, forEachLimited, isIndex, parseManifestJson } from "./transfer.js";

export interface PullOptions {
  /** The registry client (shared token cache) or the options to make one. */
  readonly client?: RegistryClient | RegistryClientOptions;
  /** Platform chosen from an index / manifest list. Default: linux + the host architecture. */
  readonly platform?: Platform;
  /** Called per blob as bytes arrive and on every phase change. */
  readonly onProgress?: (p: TransferProgress) => void;
  /** Blobs downloaded at once. Default: 3 (Docker's max-concurrent-downloads). */
  readonly concurrency?: number;
}

/** What crossed the wire during one pull. */
export interface PullStats {
  /** Bytes of manifests and indexes fetched (always fetched: they say whether anything changed). */
  manifestBytes: number;
  configBytes: number;
  layerBytes: number;
  /** Blobs downloaded / blobs skipped because the store had them. */
  blobsDownloaded: number;
  blobsExisting: number;
}

export interface PullResult {
  readonly image: ImageRecord;
  /** Digest of what the reference pointed at (the index for multi-platform images), as Docker reports. */
  readonly digest: Digest;
  readonly stats: PullStats;
}

/** Pulls `ref` into `store` and returns the registered image. */
export async function pullImage(
  store: ImageStoreApi,
  ref: string,
  opts: PullOptions = {},
): Promise<ImageRecord> {
  return (await pullImageWithStats(store, ref, opts)).image;
}

/** Like {@link pullImage}, also returning the manifest digest and what was transferred. */
export async function pullImageWithStats(
  store: ImageStoreApi,
  ref: string,
  opts: PullOptions = {},
): Promise<PullResult> {
  const client = clientFrom(opts.client);
  const parsed = parseReference(ref);
  const repo: RepositoryRef = { registry: parsed.registry, repository: parsed.repository };
  const op = `pull ${formatReference(parsed)}`;
  const platform = opts.platform ?? hostPlatform();
  const stats: PullStats = {
    manifestBytes: 0,
    configBytes: 0,
    layerBytes: 0,
    blobsDownloaded: 0,
    blobsExisting: 0,
  };

  // By digest when given: getManifest verifies the bytes hash to it, so a tag moving underneath or a
  // lying registry cannot substitute content.
  const top = await client.getManifest(repo, parsed.digest ?? parsed.tag ?? "latest", op);
  stats.manifestBytes += top.bytes.length;
  let manifestBytes = top.bytes;
  const doc = parseManifestJson(top.bytes, `manifest of ${formatReference(parsed)}`);
  if (isIndex(doc)) {
    const chosen = selectManifest(doc, platform);
    if (!chosen) {
      const offered = doc.manifests
        .map((m) => (m.platform ? platformString(m.platform) : "unknown"))
        .join(", ");
      throw new TsstackError(
        "image/no-matching-platform",
        `${op}: no manifest for ${platformString(platform)} in ${top.digest} (offered: ${offered || "none"})`,
      );
    }
    const child = await client.getManifest(repo, chosen.digest, op);
    if (child.bytes.length !== chosen.size) {
      throw new TsstackError(
        "image/size-mismatch",
        `${op}: manifest ${chosen.digest} is ${child.bytes.length} bytes, the index says ${chosen.size}`,
      );
    }
    stats.manifestBytes += child.bytes.length;
    manifestBytes = child.bytes;
  }
  // The store's checks, before any blob moves: refuses artifacts, schema 1 and malformed descriptors.
  const manifest: ImageManifest = parseManifest(manifestBytes, `manifest of ${formatReference(parsed)}`);

  const blobs = uniqueByDigest([manifest.config, ...manifest.layers]);
  const report = opts.onProgress ?? (() => undefined);
  await forEachLimited(blobs, opts.concurrency ?? 3, async (desc) => {
    const isConfig = desc.digest === manifest.config.digest;
    if (await store.hasBlob(desc.digest)) {
      stats.blobsExisting++;
      report({ digest: desc.digest, done: 0, total: desc.size, phase: "exists" });
      return;
    }
    report({ digest: desc.digest, done: 0, total: desc.size, phase: "downloading" });
    const body = await client.getBlob(repo, desc.digest, `${op} (${describe(desc, isConfig)})`);
    let received = 0;
    const counted = countBytes(body, (done) => {
      received = done;
      report({ digest: desc.digest, done, total: desc.size, phase: "downloading" });
    });
    try {
      // writeBlob verifies digest and size and stores nothing on a mismatch.
      await store.writeBlob(counted, { digest: desc.digest, size: desc.size });
    } finally {
      // Counted even when verification fails: those bytes did cross the wire.
      if (isConfig) stats.configBytes += received;
      else stats.layerBytes += received;
    }
    stats.blobsDownloaded++;
    report({ digest: desc.digest, done: desc.size, total: desc.size, phase: "complete" });
  });

  const names = parsed.digest === undefined && parsed.tag !== undefined ? [formatReference(parsed)] : [];
  const image = await store.addImage(manifestBytes, {
    names,
    repoDigest: `${parsed.registry}/${parsed.repository}@${top.digest}`,
  });
  return { image, digest: top.digest, stats };
}

function uniqueByDigest(descs: readonly Descriptor[]): Descriptor[] {
  const seen = new Set<string>();
  return descs.filter((d) => (seen.has(d.digest) ? false : (seen.add(d.digest), true)));
}

function describe(desc: Descriptor, isConfig: boolean): string {
  const kind = isConfig
    ? "config"
    : desc.mediaType === MediaType.dockerForeignLayerGzip
      ? "foreign layer"
      : "layer";
  return `${kind} ${desc.digest}`;
}

function platformString(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}`;
}
