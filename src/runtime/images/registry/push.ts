/**
 * `tsstack image push`: every blob of the image (layers and config) goes to the registry unless it is
 * there already — `HEAD` first, then a cross-repository mount from a repository on the same registry
 * the image was pulled from or pushed to (its repoDigests), and only then an upload. The manifest is
 * put last, so the registry never holds a manifest whose blobs are missing.
 */
import { createReadStream } from "node:fs";
import { TsstackError } from "../../../common/errors.js";
import { formatReference, parseReference } from "../reference.js";
import type { Descriptor, Digest, ImageManifest, ImageStoreApi, TransferProgress } from "../types.js";
import {
  normalizeRegistryHost,
  type RegistryClient,
  type RegistryClientOptions,
  type RepositoryRef,
} from "./client.js";
import { clientFrom, countBytes, forEachLimited, isIndex, parseManifestJson } from "./transfer.js";

export interface PushOptions {
  /** The registry client (shared token cache) or the options to make one. */
  readonly client?: RegistryClient | RegistryClientOptions;
  /** Called per blob as bytes leave and on every phase change. */
  readonly onProgress?: (p: TransferProgress) => void;
  /** Blobs uploaded at once. Default: 3 (Docker's max-concurrent-uploads is 5; uploads are heavier). */
  readonly concurrency?: number;
}

export interface PushStats {
  uploadedBytes: number;
  blobsUploaded: number;
  blobsMounted: number;
  blobsExisting: number;
}

export interface PushResult {
  /** Where the image went, fully qualified (`127.0.0.1:5000/team/app:1`). */
  readonly reference: string;
  /** Digest of the manifest pushed (`name@digest` pulls exactly this image). */
  readonly digest: Digest;
  /** Size of the manifest pushed, as `docker push` prints it. */
  readonly size: number;
  readonly stats: PushStats;
}

/** At most this many source repositories are tried for a mount, per blob. */
const MAX_MOUNT_SOURCES = 3;

/**
 * Pushes the local image `localRef` (name, name:tag or id) to `targetRef` (default: `localRef`).
 * The target must name a registry repository; without a tag, `latest` is used, as Docker does.
 */
export async function pushImage(
  store: ImageStoreApi,
  localRef: string,
  targetRef?: string,
  opts: PushOptions = {},
): Promise<PushResult> {
  const image = await store.resolve(localRef);
  if (!image) {
    throw new TsstackError("image/not-found", `push ${localRef}: no such image in the local store`);
  }
  const target = parseReference(targetRef ?? localRef);
  const repo: RepositoryRef = { registry: target.registry, repository: target.repository };
  const display = formatReference(target);
  const op = `push ${display}`;
  if (target.digest !== undefined && target.digest !== image.manifestDigest) {
    throw new TsstackError(
      "image/invalid-reference",
      `${op}: the image's manifest is ${image.manifestDigest}, it cannot be pushed as ${target.digest}`,
    );
  }
  const client = clientFrom(opts.client);
  const manifestBytes = await store.readBlob(image.manifestDigest);
  const doc = parseManifestJson(manifestBytes, `manifest ${image.manifestDigest} of ${localRef}`);
  if (isIndex(doc)) {
    throw new TsstackError("image/unsupported-manifest", `${op}: the stored manifest is an index`);
  }
  const manifest: ImageManifest = doc;
  const sources = mountSources(image.repoDigests, repo);
  const stats: PushStats = { uploadedBytes: 0, blobsUploaded: 0, blobsMounted: 0, blobsExisting: 0 };
  const report = opts.onProgress ?? (() => undefined);

  const seen = new Set<string>();
  const blobs = [...manifest.layers, manifest.config].filter((d) =>
    seen.has(d.digest) ? false : (seen.add(d.digest), true),
  );
  await forEachLimited(blobs, opts.concurrency ?? 3, async (desc) => {
    if ((await client.headBlob(repo, desc.digest, op)) !== undefined) {
      stats.blobsExisting++;
      report({ digest: desc.digest, done: 0, total: desc.size, phase: "exists" });
      return;
    }
    let session: URL | undefined;
    for (const from of sources) {
      const mount = await client.mountBlob(repo, desc.digest, from, op);
      if (mount.mounted) {
        stats.blobsMounted++;
        report({ digest: desc.digest, done: 0, total: desc.size, phase: "mounted" });
        return;
      }
      // A declined mount may have opened an upload session: use it rather than leak it.
      if (mount.uploadUrl) {
        session = mount.uploadUrl;
        break;
      }
    }
    await upload(client, store, repo, desc, session, op, report, (n) => (stats.uploadedBytes += n));
    stats.blobsUploaded++;
  });

  const mediaType = manifest.mediaType ?? image.manifestMediaType;
  const digest = await client.putManifest(
    repo,
    target.tag ?? target.digest ?? "latest",
    manifestBytes,
    mediaType,
  );
  if (digest !== image.manifestDigest) {
    throw new TsstackError(
      "internal",
      `internal: ${op}: pushed manifest hashes to ${digest}, the store recorded ${image.manifestDigest}`,
    );
  }
  // Recorded like a pull's origin, so later pushes to other repositories here can mount from this one.
  await store.addImage(manifestBytes, { repoDigest: `${repo.registry}/${repo.repository}@${digest}` });
  return { reference: display, digest, size: manifestBytes.length, stats };
}

async function upload(
  client: RegistryClient,
  store: ImageStoreApi,
  repo: RepositoryRef,
  desc: Descriptor,
  session: URL | undefined,
  op: string,
  report: (p: TransferProgress) => void,
  addBytes: (n: number) => void,
): Promise<void> {
  report({ digest: desc.digest, done: 0, total: desc.size, phase: "uploading" });
  let sent = 0;
  await client.uploadBlob(
    repo,
    { digest: desc.digest, size: desc.size },
    () => {
      // A retried attempt (after a 401) starts from byte 0 again.
      sent = 0;
      return countBytes(createReadStream(store.blobPath(desc.digest)), (done) => {
        sent = done;
        report({ digest: desc.digest, done, total: desc.size, phase: "uploading" });
      });
    },
    session,
    op,
  );
  addBytes(sent);
  report({ digest: desc.digest, done: desc.size, total: desc.size, phase: "complete" });
}

/** Repositories on the target's registry (other than the target) the image came from or went to. */
function mountSources(repoDigests: readonly string[], target: RepositoryRef): string[] {
  const registry = normalizeRegistryHost(target.registry);
  const out = new Set<string>();
  for (const rd of repoDigests) {
    let parsed;
    try {
      parsed = parseReference(rd);
    } catch {
      continue;
    }
    if (normalizeRegistryHost(parsed.registry) === registry && parsed.repository !== target.repository) {
      out.add(parsed.repository);
    }
  }
  return [...out].slice(0, MAX_MOUNT_SOURCES);
}
