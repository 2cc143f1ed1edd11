/**
 * Pieces shared by pull and push: the client from options, a bounded worker pool, byte counting.
 */
import { TsstackError } from "../../../common/errors.js";
import type { Descriptor, ImageIndex, ImageManifest } from "../types.js";
import { RegistryClient, type RegistryClientOptions } from "./client.js";

export function clientFrom(client: RegistryClient | RegistryClientOptions | undefined): RegistryClient {
  return client instanceof RegistryClient ? client : new RegistryClient(client ?? {});
}

/**
 * Runs `work` over `items` with at most `limit` in flight. After the first failure no new item starts;
 * the ones in flight finish (each owns a temp file the store cleans up) and the first error is thrown.
 */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  if (!Number.isInteger(limit) || limit < 1) {
    throw new TsstackError("registry/invalid-option", `concurrency must be a positive integer, got ${limit}`);
  }
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const item = items[next++] as T;
      try {
        await work(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure.error;
}

/** Passes chunks through, reporting the running byte count after each. */
export async function* countBytes(
  source: AsyncIterable<Uint8Array>,
  onBytes: (done: number) => void,
): AsyncGenerator<Uint8Array> {
  let done = 0;
  for await (const chunk of source) {
    done += chunk.byteLength;
    onBytes(done);
    yield chunk;
  }
}

/** Parses manifest or index JSON with the checks every caller needs; `what` names it for errors. */
export function parseManifestJson(bytes: Buffer, what: string): ImageManifest | ImageIndex {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    throw new TsstackError("image/invalid-manifest", `reading ${what}: not valid JSON`, { cause: err });
  }
  if (typeof parsed !== "object" || parsed === null) {
    throw new TsstackError("image/invalid-manifest", `reading ${what}: not a JSON object`);
  }
  const doc = parsed as { schemaVersion?: unknown; manifests?: unknown; config?: unknown; layers?: unknown };
  if (doc.schemaVersion !== 2) {
    throw new TsstackError(
      "image/unsupported-manifest",
      `reading ${what}: schemaVersion ${String(doc.schemaVersion)} is not supported (Docker schema 1 images are deprecated; only v2 schema 2 and OCI are read)`,
    );
  }
  const isDescriptor = (d: unknown): d is Descriptor =>
    typeof d === "object" &&
    d !== null &&
    typeof (d as Descriptor).digest === "string" &&
    typeof (d as Descriptor).size === "number" &&
    typeof (d as Descriptor).mediaType === "string";
  if (Array.isArray(doc.manifests)) {
    if (!doc.manifests.every(isDescriptor)) {
      throw new TsstackError("image/invalid-manifest", `reading ${what}: an index entry is not a descriptor`);
    }
    return parsed as ImageIndex;
  }
  if (!isDescriptor(doc.config) || !Array.isArray(doc.layers) || !doc.layers.every(isDescriptor)) {
    throw new TsstackError(
      "image/invalid-manifest",
      `reading ${what}: config or layers are missing or malformed`,
    );
  }
  return parsed as ImageManifest;
}

export function isIndex(doc: ImageManifest | ImageIndex): doc is ImageIndex {
  return "manifests" in doc;
}
