/**
 * The node-local, content-addressed image store.
 *
 * Layout under `<root>/images/`:
 *
 *   oci-layout, index.json     OCI image layout markers (index.json is derived from db.json)
 *   blobs/sha256/<hex>         verified blobs: manifests, configs, layers
 *   snapshots/<chain id hex>/  one unpacked layer per chain ID, shared by every image that has it
 *   tmp/                       in-flight downloads, unpacks and deletions; emptied at open
 *   db.json                    image records, the name → image id map and the verified layer
 *                              diff IDs; the only source of truth
 *
 * Invariants, which together make a crash at any point harmless:
 *  - a file under blobs/ always has the content its name says (written to tmp/, verified, renamed);
 *  - a directory under snapshots/ is always a complete, verified unpack (unpacked in tmp/, diff ID
 *    checked, renamed in; deleted by renaming it back into tmp/ first);
 *  - db.json only references blobs and snapshots that exist: it is written (atomically) after they
 *    are in place, and before anything it stops referencing is deleted;
 *  - every (layer blob digest → diff ID) pair an image record holds was verified by decompressing and
 *    hashing that very blob, once: by the unpack that made the snapshot, or, when the snapshot already
 *    existed (made from another blob claiming the same diff ID), by hashing the blob without unpacking
 *    it. db.json records the verified pairs so that re-adding never hashes twice.
 * So a killed pull leaves at worst unreferenced blobs and snapshots, which the next pull reuses
 * (they are verified content) and gc otherwise collects, and no half-registered image.
 *
 * One open store owns a store root: `open` takes an exclusive lock file (`images/lock`, see
 * src/common/lock.ts) before emptying tmp/ or reading db.json, and holds it until `close()`. Another
 * process, or a second `open` of the same root in this process, waits for it (up to `lockTimeoutMs`)
 * and then fails with `store/locked`. A lock left by a crashed or killed process is taken over. Within
 * the lock, the mutex below serializes this store's own operations.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, statSync, type Dirent } from "node:fs";
import { chmod, lstat, mkdir, mkdtemp, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { endianness } from "node:os";
import { join } from "node:path";

import { fsyncDir, isAtomicTempName, writeFileAtomic } from "../../common/atomic.js";
import { TsstackError } from "../../common/errors.js";
import { acquireLock, type Lock } from "../../common/lock.js";
import { chainIds, DigestHasher, digestHex, isDigest, sha256, verifyDigest } from "./digest.js";
import { formatReference, formatRepository, parseReference } from "./reference.js";
import {
  MediaType,
  type Descriptor,
  type Digest,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  type ImageRecord,
  type ImageStoreApi,
  type LayerRecord,
  type Platform,
} from "./types.js";
import { decompressedDigest, unpackLayer } from "./unpack.js";

/** Signature of `unpackLayer` (src/runtime/images/unpack.ts). */
export type UnpackLayerFn = (opts: {
  blobPath: string;
  mediaType: string;
  dest: string;
}) => Promise<{ diffId: Digest; size: number }>;

export interface ImageStoreOptions {
  /** Platform this store serves (what `selectManifest` should pick). Default: `hostPlatform()`. */
  readonly platform?: Platform;
  /**
   * Whether a container uses the image. In-use images are never deleted; removing one fails with
   * `image/in-use`, or only untags with `force`. Default: nothing is in use.
   */
  readonly inUse?: (imageId: Digest) => boolean;
  /** Layer extraction. Default: `unpackLayer`. */
  readonly unpack?: UnpackLayerFn;
  /**
   * How long a blob written by `writeBlob` is kept by gc/prune/remove while no image references it
   * yet: the window between a pull's downloads and its `addImage`. The protection ends early when an
   * image that references the blob is added. Default: one hour.
   */
  readonly blobGracePeriodMs?: number;
  /**
   * Tidy the store when opening it (default true): create missing directories, clear the temporary
   * directory and temp files a crash left, rewrite `oci-layout` and `index.json` when they are behind.
   * An opening that only looks images up (a container's create, a plan) skips it: the next opening
   * that writes does it.
   */
  readonly housekeeping?: boolean;
  /** Clock in milliseconds. Default: `Date.now`. */
  readonly now?: () => number;
  /**
   * Called each time `addImage` decompresses and hashes a layer blob to check its diff ID without
   * unpacking it (the layer's snapshot existed, but this blob was never verified against the diff ID
   * its config claims). For tests and metrics.
   */
  readonly onVerify?: (layer: { readonly digest: Digest; readonly diffId: Digest }) => void;
  /**
   * How long `open` waits for another holder of the store root (another process, or a store of this
   * process not yet closed) before failing with `store/locked`. Default: 60 s.
   */
  readonly lockTimeoutMs?: number;
  /** Called once if `open` has to wait for another holder of the store root. */
  readonly onLockWait?: (info: { readonly root: string; readonly holderPid: number | undefined }) => void;
}

const DB_VERSION = 1;
const DEFAULT_BLOB_GRACE_MS = 60 * 60 * 1000;
const DEFAULT_LOCK_TIMEOUT_MS = 60_000;
const LOCK_POLL_MS = 50;
const OCI_LAYOUT = `${JSON.stringify({ imageLayoutVersion: "1.0.0" })}\n`;
const HEX64_RE = /^[a-f0-9]{64}$/;
const ID_PREFIX_RE = /^(?:sha256:)?([a-f0-9]{1,64})$/;

/** An image record as db.json stores it: names live in the name map, not in the record. */
interface StoredImage extends Omit<ImageRecord, "repoTags"> {
  /** Byte size of the manifest blob, for index.json descriptors. */
  readonly manifestSize: number;
}

interface Db {
  readonly images: ReadonlyMap<Digest, StoredImage>;
  readonly names: ReadonlyMap<string, Digest>;
  /**
   * Layer blob digest → the digest of its uncompressed tar (its diff ID), for blobs that were hashed.
   * A blob's content fixes its uncompressed content, so one diff ID per blob is all there is to know.
   */
  readonly verifiedDiffIds: ReadonlyMap<Digest, Digest>;
}

/** Runs async critical sections one at a time, in call order. */
class Mutex {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(fn);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}

/** Reference counts of content that an in-flight operation relies on and gc must leave alone. */
class Pins {
  readonly #counts = new Map<string, number>();

  add(key: string): void {
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
  }

  release(key: string): void {
    const n = (this.#counts.get(key) ?? 0) - 1;
    if (n > 0) this.#counts.set(key, n);
    else this.#counts.delete(key);
  }

  has(key: string): boolean {
    return this.#counts.has(key);
  }
}

/** Largest blob `readBlob` reads synchronously (manifests and configs are a few KiB). */
const SYNC_READ_MAX = 1 << 20;

export class ImageStore implements ImageStoreApi {
  readonly root: string;
  readonly platform: Platform;
  readonly #dir: string;
  readonly #blobsDir: string;
  readonly #snapshotsDir: string;
  readonly #tmpDir: string;
  readonly #inUse: (imageId: Digest) => boolean;
  readonly #unpack: UnpackLayerFn;
  readonly #graceMs: number;
  readonly #now: () => number;
  readonly #onVerify: ((layer: { readonly digest: Digest; readonly diffId: Digest }) => void) | undefined;
  /** Guards db changes, publishing content into blobs/ and snapshots/, and deleting it from there. */
  readonly #mutex = new Mutex();
  readonly #pinnedBlobs = new Pins();
  readonly #pinnedSnapshots = new Pins();
  /** Blobs written by this process and not yet referenced by an image → when written. */
  readonly #recentBlobs = new Map<Digest, number>();
  /** Unpacks in progress by chain ID, so concurrent adds of images sharing a layer unpack it once. */
  readonly #unpacking = new Map<Digest, Promise<void>>();
  /** Hashes of layer blobs in progress by blob digest, so concurrent adds hash a blob once. */
  readonly #hashing = new Map<Digest, Promise<Digest>>();
  /**
   * Blob → diff ID pairs verified by this process and not yet in db.json (the image that needs them is
   * still being added, or its add failed later on). An add commits the pairs of its own layers.
   */
  readonly #pendingDiffIds = new Map<Digest, Digest>();
  #db: Db;
  readonly #lock: Lock;
  #closed: Promise<void> | undefined;

  private constructor(root: string, db: Db, lock: Lock, opts: ImageStoreOptions) {
    this.root = root;
    this.platform = opts.platform ?? hostPlatform();
    this.#dir = join(root, "images");
    this.#blobsDir = join(this.#dir, "blobs", "sha256");
    this.#snapshotsDir = join(this.#dir, "snapshots");
    this.#tmpDir = join(this.#dir, "tmp");
    this.#inUse = opts.inUse ?? (() => false);
    this.#unpack = opts.unpack ?? unpackLayer;
    this.#graceMs = opts.blobGracePeriodMs ?? DEFAULT_BLOB_GRACE_MS;
    this.#now = opts.now ?? Date.now;
    this.#onVerify = opts.onVerify;
    this.#db = db;
    this.#lock = lock;
  }

  /**
   * Opens (creating if needed) the store under `<root>/images`, discarding whatever a previous
   * process left in flight: tmp/ and interrupted atomic writes. Holds the store root's lock until
   * `close()`: callers must close the store (or `await using` it).
   */
  static async open(root: string, opts: ImageStoreOptions = {}): Promise<ImageStore> {
    const dir = join(root, "images");
    const tmpDir = join(dir, "tmp");
    try {
      mkdirSync(dir, { recursive: true });
    } catch (error) {
      throw new TsstackError("image/store-unavailable", `opening image store ${dir}: ${errorText(error)}`, {
        cause: error,
      });
    }
    const lock = await acquireLock(join(dir, "lock"), {
      timeoutMs: opts.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
      pollMs: LOCK_POLL_MS,
      resource: `image store ${root}`,
      onWait: (holderPid) => opts.onLockWait?.({ root, holderPid }),
    }).catch((error: unknown) => {
      if (error instanceof TsstackError) throw error;
      throw new TsstackError("image/store-unavailable", `locking image store ${dir}: ${errorText(error)}`, {
        cause: error,
      });
    });
    try {
      return await ImageStore.#openLocked(root, dir, tmpDir, lock, opts);
    } catch (error) {
      await lock.release().catch(() => undefined);
      throw error;
    }
  }

  static async #openLocked(
    root: string,
    dir: string,
    tmpDir: string,
    lock: Lock,
    opts: ImageStoreOptions,
  ): Promise<ImageStore> {
    const housekeeping = opts.housekeeping !== false;
    try {
      if (housekeeping) {
        await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
        await mkdir(join(dir, "snapshots"), { recursive: true });
        await rm(tmpDir, { recursive: true, force: true });
        await mkdir(tmpDir);
        for (const name of await readdir(dir)) {
          if (isAtomicTempName(name)) await rm(join(dir, name), { force: true });
        }
        if ((await readFile(join(dir, "oci-layout"), "utf8").catch(() => "")) !== OCI_LAYOUT) {
          await writeFileAtomic(join(dir, "oci-layout"), OCI_LAYOUT);
        }
      }
    } catch (error) {
      throw new TsstackError("image/store-unavailable", `opening image store ${dir}: ${errorText(error)}`, {
        cause: error,
      });
    }
    const store = new ImageStore(root, await loadDb(join(dir, "db.json")), lock, opts);
    // index.json is derived; a crash may have left it one commit behind db.json.
    if (housekeeping) await store.#writeIndex(store.#db);
    return store;
  }

  /**
   * Releases the store root's lock once the operations already started have settled. Idempotent; the
   * store must not be used afterwards.
   */
  close(): Promise<void> {
    this.#closed ??= this.#mutex.run(() => this.#lock.release());
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  blobPath(digest: Digest): string {
    return join(this.#blobsDir, digestHex(digest));
  }

  async hasBlob(digest: Digest): Promise<boolean> {
    return (await fileSize(this.blobPath(digest))) !== undefined;
  }

  async writeBlob(
    source: AsyncIterable<Uint8Array>,
    expected: { readonly digest?: Digest; readonly size?: number } = {},
  ): Promise<{ digest: Digest; size: number }> {
    const label = `blob ${expected.digest ?? "(digest not given)"}`;
    if (expected.digest !== undefined) {
      const digest = expected.digest;
      const path = this.blobPath(digest);
      const present = await this.#mutex.run(async () => {
        const size = await fileSize(path);
        if (size === undefined) return undefined;
        verifyDigest(label, { digest, size }, expected);
        this.#recentBlobs.set(digest, this.#now());
        return size;
      });
      if (present !== undefined) {
        // Close the caller's stream (e.g. an HTTP body) instead of leaving it open unread.
        await source[Symbol.asyncIterator]().return?.();
        return { digest, size: present };
      }
    }

    const tmp = join(this.#tmpDir, `blob-${randomBytes(8).toString("hex")}`);
    try {
      const hasher = new DigestHasher();
      const handle = await open(tmp, "wx", 0o644);
      try {
        for await (const chunk of source) {
          hasher.update(chunk);
          // Stop a stream that overruns its descriptor now rather than filling the disk.
          if (expected.size !== undefined && hasher.size > expected.size) {
            throw new TsstackError(
              "image/size-mismatch",
              `verifying ${label}: expected ${expected.size} bytes, got more`,
            );
          }
          await writeAll(handle, chunk);
        }
        await handle.sync();
      } finally {
        await handle.close();
      }
      const actual = hasher.digest();
      verifyDigest(label, actual, expected);
      await this.#mutex.run(async () => {
        this.#recentBlobs.set(actual.digest, this.#now());
        await rename(tmp, this.blobPath(actual.digest));
        await fsyncDir(this.#blobsDir);
      });
      return actual;
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
  }

  /**
   * A small blob whole (a manifest, an index or a config: layers are streamed). Read synchronously:
   * ~20 µs for a few KiB, where a promise read costs ~0.5 ms of thread-pool round trips, on every
   * container create.
   */
  async readBlob(digest: Digest): Promise<Buffer> {
    const path = this.blobPath(digest);
    try {
      // A blob named where a small one belongs may be a layer (a crafted archive): only small ones
      // are read synchronously.
      if (statSync(path).size > SYNC_READ_MAX) return await readFile(path);
      return readFileSync(path);
    } catch (error) {
      if (isErrno(error, "ENOENT")) {
        throw new TsstackError("image/blob-not-found", `reading blob ${digest}: not in the image store`, {
          cause: error,
        });
      }
      throw error;
    }
  }

  async addImage(
    manifestBytes: Buffer,
    opts: { readonly names?: readonly string[]; readonly repoDigest?: string } = {},
  ): Promise<ImageRecord> {
    const manifestDigest = sha256(manifestBytes);
    const manifest = parseManifest(manifestBytes, `manifest ${manifestDigest}`);
    // Bad names fail before any work is done.
    const names = (opts.names ?? []).map((name) => {
      const ref = parseReference(name);
      if (ref.digest !== undefined) {
        throw new TsstackError(
          "image/invalid-reference",
          `naming image ${manifest.config.digest} "${name}": a name may not contain a digest (use repoDigest)`,
        );
      }
      return formatReference(ref);
    });
    const repoDigest = opts.repoDigest === undefined ? undefined : normalizeRepoDigest(opts.repoDigest);

    await this.writeBlob(once(manifestBytes), { digest: manifestDigest, size: manifestBytes.length });
    const blobs = [manifestDigest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)];
    const snapshots: Digest[] = [];
    await this.#mutex.run(async () => {
      for (const [i, descriptor] of [manifest.config, ...manifest.layers].entries()) {
        const what = i === 0 ? "config" : `layer ${i - 1}`;
        await this.#checkBlob(descriptor, `registering image ${manifest.config.digest}: ${what}`);
      }
      for (const digest of blobs) this.#pinnedBlobs.add(digest);
    });
    try {
      const id = manifest.config.digest;
      const config = parseConfig(await this.readBlob(id), `config ${id}`);
      const diffIds = config.rootfs.diff_ids;
      if (diffIds.length !== manifest.layers.length) {
        throw new TsstackError(
          "image/invalid-config",
          `registering image ${id}: the manifest has ${manifest.layers.length} layers but the config lists ${diffIds.length} diff IDs`,
        );
      }
      const chain = chainIds(diffIds);
      const layers: LayerRecord[] = [];
      // In order: a snapshot never exists without the ones below it, which keeps the store's state
      // after a crash a prefix of some image's layers.
      for (const [i, layer] of manifest.layers.entries()) {
        const diffId = at(diffIds, i);
        const chainId = at(chain, i);
        const what = `layer ${i} (${layer.digest}) of image ${id}`;
        await this.#ensureSnapshot(chainId, layer, diffId, what, i);
        snapshots.push(chainId);
        // The snapshot may come from another image's blob with the same diff ID: that says nothing
        // about this blob, which save and push would ship under this diff ID.
        await this.#verifyDiffId(layer, diffId, what, i);
        layers.push({ digest: layer.digest, mediaType: layer.mediaType, size: layer.size, diffId, chainId });
      }

      return await this.#mutex.run(async () => {
        // Pins kept everything in place; checking again costs a few stats and catches tampering.
        for (const digest of blobs) {
          if ((await fileSize(this.blobPath(digest))) === undefined) {
            throw internalContentMissing(`blob ${digest}`, id);
          }
        }
        for (const chainId of snapshots) {
          if (!(await isDirectory(this.#snapshotPath(chainId)))) {
            throw internalContentMissing(`snapshot ${chainId}`, id);
          }
        }
        const verifiedDiffIds = new Map(this.#db.verifiedDiffIds);
        for (const layer of layers) {
          if (!this.#isVerified(layer.digest, layer.diffId)) {
            throw new TsstackError(
              "internal",
              `internal: registering image ${id}: layer ${layer.digest} was not verified against diff ID ${layer.diffId}`,
            );
          }
          verifiedDiffIds.set(layer.digest, layer.diffId);
        }
        const existing = this.#db.images.get(id);
        const repoDigests = new Set(existing?.repoDigests ?? []);
        if (repoDigest !== undefined) repoDigests.add(repoDigest);
        // The same config may arrive with another manifest (e.g. other compression); the latest wins,
        // and the old manifest's blobs become garbage unless something else uses them.
        const record: StoredImage = {
          id,
          manifestDigest,
          manifestMediaType: manifest.mediaType ?? MediaType.ociManifest,
          manifestSize: manifestBytes.length,
          repoDigests: [...repoDigests].sort(),
          layers,
          architecture: config.architecture,
          os: config.os,
          ...(config.created !== undefined ? { created: config.created } : {}),
          size:
            manifestBytes.length + manifest.config.size + manifest.layers.reduce((sum, l) => sum + l.size, 0),
        };
        const images = new Map(this.#db.images).set(id, record);
        const nameMap = new Map(this.#db.names);
        for (const name of names) nameMap.set(name, id);
        const next = { images, names: nameMap, verifiedDiffIds };
        await this.#commit(next);
        for (const digest of blobs) this.#recentBlobs.delete(digest);
        for (const layer of layers) this.#pendingDiffIds.delete(layer.digest);
        return toRecord(next, record);
      });
    } finally {
      for (const digest of blobs) this.#pinnedBlobs.release(digest);
      for (const chainId of snapshots) this.#pinnedSnapshots.release(chainId);
    }
  }

  resolve(refOrId: string): Promise<ImageRecord | undefined> {
    // Inside `then`, so a bad reference rejects like every other failure of this API.
    return Promise.resolve().then(() => {
      const db = this.#db;
      const found = lookup(db, refOrId);
      const image = found === undefined ? undefined : db.images.get(found.id);
      return image === undefined ? undefined : toRecord(db, image);
    });
  }

  list(): Promise<ImageRecord[]> {
    const db = this.#db;
    const records = [...db.images.values()].map((image) => toRecord(db, image));
    // Newest first, like `docker images`; the id breaks ties so the order is stable.
    records.sort((a, b) => (b.created ?? "").localeCompare(a.created ?? "") || a.id.localeCompare(b.id));
    return Promise.resolve(records);
  }

  async tag(source: string, target: string): Promise<void> {
    const ref = parseReference(target);
    if (ref.digest !== undefined) {
      throw new TsstackError(
        "image/invalid-reference",
        `tagging ${source} as ${target}: a tag may not contain a digest`,
      );
    }
    await this.#mutex.run(async () => {
      const found = lookup(this.#db, source);
      if (found === undefined) throw notFound("tagging", source);
      const names = new Map(this.#db.names).set(formatReference(ref), found.id);
      await this.#commit({ ...this.#db, names });
    });
  }

  /**
   * Docker's rules: a name is untagged, and the image is deleted with its last name. An id (or
   * name@digest) deletes the image and all its names; with several names that needs `force`. An
   * image in use is never deleted: without `force` that is an `image/in-use` error, with `force` the
   * names go and the image stays (dangling). With a name, `force` only skips the in-use check.
   */
  async remove(
    refOrId: string,
    opts: { readonly force?: boolean } = {},
  ): Promise<{ untagged: string[]; deleted: Digest[] }> {
    const force = opts.force ?? false;
    const { result, trash } = await this.#mutex.run(async () => {
      const found = lookup(this.#db, refOrId);
      if (found === undefined) throw notFound("removing", refOrId);
      const { id } = found;
      const allNames = namesOf(this.#db, id);
      const untag = found.name !== undefined ? [found.name] : allNames;
      const lastName = untag.length === allNames.length;
      if (found.name === undefined && allNames.length > 1 && !force) {
        throw new TsstackError(
          "image/conflict",
          `removing image ${id}: it has ${allNames.length} names (${allNames.join(", ")}); remove them one by one or force`,
        );
      }
      const inUse = lastName && this.#inUse(id);
      if (inUse && (!force || untag.length === 0)) {
        throw new TsstackError(
          "image/in-use",
          `removing image ${refOrId} (${id}): a container uses it; remove the container first, or force to only untag it`,
        );
      }
      const names = new Map(this.#db.names);
      for (const name of untag) names.delete(name);
      const deleted = lastName && !inUse ? [id] : [];
      const before = this.#db.images;
      const images = new Map(before);
      for (const gone of deleted) images.delete(gone);
      await this.#commit({ ...this.#db, images, names });
      // Only what the deleted image used is a candidate; older garbage is gc's business.
      const scope = deleted.length === 0 ? { blobs: [], snapshots: [] } : contentOf(before, deleted);
      const collected = await this.#collectLocked(scope);
      return { result: { untagged: untag, deleted }, trash: collected.trash };
    });
    await disposeTrash(trash);
    return result;
  }

  async prune(opts: { readonly all?: boolean } = {}): Promise<{ deleted: Digest[]; reclaimedBytes: number }> {
    const { deleted, blobBytes, trash } = await this.#mutex.run(async () => {
      const db = this.#db;
      const named = new Set(db.names.values());
      const deleted = [...db.images.keys()].filter(
        (id) => (opts.all === true || !named.has(id)) && !this.#inUse(id),
      );
      if (deleted.length > 0) {
        const images = new Map(db.images);
        for (const id of deleted) images.delete(id);
        const names = new Map([...db.names].filter(([, id]) => images.has(id)));
        await this.#commit({ ...this.#db, images, names });
      }
      return { deleted, ...(await this.#collectLocked()) };
    });
    return { deleted: deleted.sort(), reclaimedBytes: blobBytes + (await disposeTrash(trash)) };
  }

  snapshotPaths(image: ImageRecord): string[] {
    return image.layers.map((layer) => this.#snapshotPath(layer.chainId));
  }

  async gc(): Promise<{ blobs: number; snapshots: number; reclaimedBytes: number }> {
    const collected = await this.#mutex.run(() => this.#collectLocked());
    const snapshotBytes = await disposeTrash(collected.trash);
    return {
      blobs: collected.blobs,
      snapshots: collected.trash.length,
      reclaimedBytes: collected.blobBytes + snapshotBytes,
    };
  }

  #snapshotPath(chainId: Digest): string {
    return join(this.#snapshotsDir, digestHex(chainId));
  }

  /** Must hold the mutex. Blob present, and of the size its descriptor promises. */
  async #checkBlob(descriptor: Descriptor, what: string): Promise<void> {
    const size = await fileSize(this.blobPath(descriptor.digest));
    if (size === undefined) {
      throw new TsstackError(
        "image/blob-not-found",
        `${what}: blob ${descriptor.digest} is not in the image store (write it with writeBlob first)`,
      );
    }
    // The content matches the digest by construction; the descriptor's size is a separate claim.
    verifyDigest(`${what}: blob ${descriptor.digest}`, { digest: descriptor.digest, size }, descriptor);
  }

  /** Makes snapshots/<chainId> exist and pins it; the caller releases the pin. */
  async #ensureSnapshot(
    chainId: Digest,
    layer: Descriptor,
    diffId: Digest,
    what: string,
    index: number,
  ): Promise<void> {
    const path = this.#snapshotPath(chainId);
    for (;;) {
      const pending = this.#unpacking.get(chainId);
      // Another add is unpacking this very layer: wait for it. If it failed (its blob may have been
      // the bad one), fall through and try with ours.
      if (pending !== undefined) await pending.catch(() => undefined);
      const present = await this.#mutex.run(async () => {
        if (!(await isDirectory(path))) return false;
        this.#pinnedSnapshots.add(chainId);
        return true;
      });
      // An existing snapshot was verified against this same chain of diff IDs when it was made; whether
      // this layer's blob has that content is #verifyDiffId's question.
      if (present) return;
      if (this.#unpacking.has(chainId)) continue;
      const work = this.#unpackSnapshot(chainId, layer, diffId, what, index);
      this.#unpacking.set(chainId, work);
      try {
        await work;
        return;
      } finally {
        this.#unpacking.delete(chainId);
      }
    }
  }

  async #unpackSnapshot(
    chainId: Digest,
    layer: Descriptor,
    diffId: Digest,
    what: string,
    index: number,
  ): Promise<void> {
    const dest = await mkdtemp(join(this.#tmpDir, `unpack-${digestHex(chainId).slice(0, 12)}-`));
    try {
      // mkdtemp makes 0700; the snapshot root is a lowerdir that non-root container users traverse.
      // A `./` entry in the layer may still set its own mode.
      await chmod(dest, 0o755);
      let result: { diffId: Digest; size: number };
      try {
        result = await this.#unpack({
          blobPath: this.blobPath(layer.digest),
          mediaType: layer.mediaType,
          dest,
        });
      } catch (error) {
        const code = error instanceof TsstackError ? error.code : "layer/unpack-failed";
        throw new TsstackError(code, `unpacking ${what}: ${errorText(error)}`, { cause: error });
      }
      if (result.diffId !== diffId) {
        throw new TsstackError(
          "image/diff-id-mismatch",
          `unpacking ${what}: the uncompressed layer has digest ${result.diffId}, but the image config lists ${diffId} (rootfs.diff_ids[${index}])`,
        );
      }
      this.#pendingDiffIds.set(layer.digest, diffId);
      await this.#mutex.run(async () => {
        try {
          await rename(dest, this.#snapshotPath(chainId));
        } catch (error) {
          // Only if the snapshot appeared meanwhile (the in-flight map makes that unlikely): it is
          // equally verified, keep it.
          if (!isErrno(error, "ENOTEMPTY") && !isErrno(error, "EEXIST")) throw error;
          await rm(dest, { recursive: true, force: true });
        }
        await fsyncDir(this.#snapshotsDir);
        this.#pinnedSnapshots.add(chainId);
      });
    } catch (error) {
      await rm(dest, { recursive: true, force: true });
      throw error;
    }
  }

  /** Whether the blob is known to decompress to `diffId` (db.json, or verified by this process). */
  #isVerified(blob: Digest, diffId: Digest): boolean {
    return this.#db.verifiedDiffIds.get(blob) === diffId || this.#pendingDiffIds.get(blob) === diffId;
  }

  /**
   * Makes sure the layer blob decompresses to `diffId`: known already, or found out now by hashing the
   * uncompressed stream without unpacking. Throws `image/diff-id-mismatch` otherwise. The caller has
   * pinned the blob.
   */
  async #verifyDiffId(layer: Descriptor, diffId: Digest, what: string, index: number): Promise<void> {
    if (this.#isVerified(layer.digest, diffId)) return;
    let actual: Digest;
    try {
      actual = await this.#hashLayer(layer, diffId);
    } catch (error) {
      const code = error instanceof TsstackError ? error.code : "layer/unpack-failed";
      throw new TsstackError(code, `verifying ${what}: ${errorText(error)}`, { cause: error });
    }
    if (actual !== diffId) {
      throw new TsstackError(
        "image/diff-id-mismatch",
        `verifying ${what}: the uncompressed layer has digest ${actual}, but the image config lists ${diffId} (rootfs.diff_ids[${index}])`,
      );
    }
    this.#pendingDiffIds.set(layer.digest, diffId);
  }

  /** The diff ID the blob decompresses to; concurrent callers for one blob share one hash. */
  #hashLayer(layer: Descriptor, claimed: Digest): Promise<Digest> {
    const pending = this.#hashing.get(layer.digest);
    if (pending !== undefined) return pending;
    const work = (async () => {
      this.#onVerify?.({ digest: layer.digest, diffId: claimed });
      const { diffId } = await decompressedDigest(this.blobPath(layer.digest), layer.mediaType);
      return diffId;
    })();
    this.#hashing.set(layer.digest, work);
    const forget = (): void => {
      this.#hashing.delete(layer.digest);
    };
    work.then(forget, forget);
    return work;
  }

  /**
   * Must hold the mutex. Deletes blobs and snapshots that no image in the db references and no
   * in-flight operation relies on: all of them, or only those in `scope`. Blobs are unlinked;
   * snapshots are renamed into tmp/ (so none is ever half-deleted at its real path) for
   * `disposeTrash` to delete after the mutex is released.
   */
  async #collectLocked(scope?: {
    readonly blobs: readonly Digest[];
    readonly snapshots: readonly Digest[];
  }): Promise<{ blobs: number; blobBytes: number; trash: string[] }> {
    const used = contentOf(this.#db.images, [...this.#db.images.keys()]);
    const usedBlobs = new Set(used.blobs);
    const usedSnapshots = new Set(used.snapshots);
    const now = this.#now();
    for (const [digest, writtenAt] of this.#recentBlobs) {
      if (now - writtenAt >= this.#graceMs) this.#recentBlobs.delete(digest);
    }
    const toHex = (digests: readonly Digest[]): string[] => digests.map((d) => digestHex(d));
    const blobCandidates = scope === undefined ? await readdir(this.#blobsDir) : toHex(scope.blobs);
    const snapshotCandidates =
      scope === undefined ? await readdir(this.#snapshotsDir) : toHex(scope.snapshots);

    const doomed: { digest: Digest; path: string; size: number }[] = [];
    for (const hex of new Set(blobCandidates)) {
      const digest = `sha256:${hex}`;
      // Anything not named like a blob is not ours to delete.
      if (!HEX64_RE.test(hex) || usedBlobs.has(digest)) continue;
      if (this.#pinnedBlobs.has(digest) || this.#recentBlobs.has(digest)) continue;
      const path = join(this.#blobsDir, hex);
      const size = await fileSize(path);
      if (size === undefined) continue;
      doomed.push({ digest, path, size });
    }
    // Verified diff IDs of blobs that go (or, on a full collection, are gone already) are dropped from
    // db.json before the blobs are deleted, like any other reference.
    const gone = new Set(doomed.map((blob) => blob.digest));
    const present = scope === undefined ? new Set(blobCandidates) : undefined;
    const isGone = (digest: Digest): boolean =>
      gone.has(digest) || (present !== undefined && !present.has(digestHex(digest)));
    for (const digest of this.#pendingDiffIds.keys()) {
      if (isGone(digest) && !this.#pinnedBlobs.has(digest)) this.#pendingDiffIds.delete(digest);
    }
    const staleDiffIds = [...this.#db.verifiedDiffIds.keys()].filter(isGone);
    if (staleDiffIds.length > 0) {
      const verifiedDiffIds = new Map(this.#db.verifiedDiffIds);
      for (const digest of staleDiffIds) verifiedDiffIds.delete(digest);
      await this.#commit({ ...this.#db, verifiedDiffIds });
    }
    let blobs = 0;
    let blobBytes = 0;
    for (const { path, size } of doomed) {
      await rm(path, { force: true });
      blobs += 1;
      blobBytes += size;
    }
    const trash: string[] = [];
    for (const hex of new Set(snapshotCandidates)) {
      const chainId = `sha256:${hex}`;
      if (!HEX64_RE.test(hex) || usedSnapshots.has(chainId) || this.#pinnedSnapshots.has(chainId)) continue;
      const to = join(this.#tmpDir, `trash-${hex.slice(0, 12)}-${randomBytes(6).toString("hex")}`);
      try {
        await rename(join(this.#snapshotsDir, hex), to);
      } catch (error) {
        if (isErrno(error, "ENOENT")) continue;
        throw error;
      }
      trash.push(to);
    }
    return { blobs, blobBytes, trash };
  }

  /** Must hold the mutex. Makes `next` the store's state: index.json, then db.json last. */
  async #commit(next: Db): Promise<void> {
    await this.#writeIndex(next);
    await writeFileAtomic(join(this.#dir, "db.json"), serializeDb(next));
    this.#db = next;
  }

  /** index.json of the OCI image layout: one manifest descriptor per name, plus untagged images. */
  async #writeIndex(db: Db): Promise<void> {
    const manifests: Descriptor[] = [];
    for (const image of [...db.images.values()].sort((a, b) => a.id.localeCompare(b.id))) {
      const base = {
        mediaType: image.manifestMediaType,
        digest: image.manifestDigest,
        size: image.manifestSize,
        platform: { architecture: image.architecture, os: image.os },
      };
      const names = namesOf(db, image.id);
      if (names.length === 0) manifests.push(base);
      for (const name of names) {
        const ref = parseReference(name);
        manifests.push({
          ...base,
          // containerd's annotation carries the full name; the OCI one only the tag.
          annotations: {
            "io.containerd.image.name": name,
            ...(ref.tag !== undefined ? { "org.opencontainers.image.ref.name": ref.tag } : {}),
          },
        });
      }
    }
    const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests };
    const text = `${JSON.stringify(index, null, 2)}\n`;
    const path = join(this.#dir, "index.json");
    // Every open checks it; a write (with its fsyncs) only when it is behind.
    if ((await readFile(path, "utf8").catch(() => undefined)) === text) return;
    await writeFileAtomic(path, text);
  }
}

/* ------------------------------------------------------------------------------------------------ */
/* Manifests, configs, platforms                                                                    */
/* ------------------------------------------------------------------------------------------------ */

/**
 * Parses and checks a single-platform manifest (OCI or Docker v2 schema 2). Indexes / manifest lists
 * and schema 1 are refused with `image/unsupported-manifest`; malformed JSON or descriptors with
 * `image/invalid-manifest`. `what` names the manifest in messages.
 */
export function parseManifest(bytes: Buffer | string, what: string): ImageManifest {
  const json = parseJson(bytes, "image/invalid-manifest", what);
  const mediaType = json["mediaType"];
  if (
    mediaType === MediaType.ociIndex ||
    mediaType === MediaType.dockerManifestList ||
    (mediaType === undefined && Array.isArray(json["manifests"]))
  ) {
    throw new TsstackError(
      "image/unsupported-manifest",
      `reading ${what}: it is an image index (manifest list), not a single-platform manifest; pick one with selectManifest first`,
    );
  }
  if (json["schemaVersion"] === 1) {
    throw new TsstackError(
      "image/unsupported-manifest",
      `reading ${what}: Docker image manifest schema 1 is deprecated and not supported`,
    );
  }
  if (json["schemaVersion"] !== 2) {
    throw invalidManifest(what, `schemaVersion is ${JSON.stringify(json["schemaVersion"])}, expected 2`);
  }
  if (
    mediaType !== undefined &&
    mediaType !== MediaType.ociManifest &&
    mediaType !== MediaType.dockerManifest
  ) {
    throw new TsstackError(
      "image/unsupported-manifest",
      `reading ${what}: media type ${JSON.stringify(mediaType)} is not an image manifest`,
    );
  }
  const config = parseDescriptor(json["config"], what, "config");
  if (config.mediaType !== MediaType.ociConfig && config.mediaType !== MediaType.dockerConfig) {
    throw new TsstackError(
      "image/unsupported-manifest",
      `reading ${what}: config media type ${config.mediaType} is not an image config (an OCI artifact?)`,
    );
  }
  const layers = json["layers"];
  if (!Array.isArray(layers)) throw invalidManifest(what, "layers is not an array");
  return {
    schemaVersion: 2,
    ...(typeof mediaType === "string" ? { mediaType } : {}),
    config,
    layers: layers.map((layer, i) => parseDescriptor(layer, what, `layers[${i}]`)),
  };
}

/** Parses an image config, checking the parts the store relies on. */
export function parseConfig(bytes: Buffer | string, what: string): ImageConfig {
  const json = parseJson(bytes, "image/invalid-config", what);
  const bad = (why: string): TsstackError =>
    new TsstackError("image/invalid-config", `reading ${what}: ${why}`);
  if (typeof json["architecture"] !== "string") throw bad("architecture is missing");
  if (typeof json["os"] !== "string") throw bad("os is missing");
  const rootfs = json["rootfs"];
  if (!isObject(rootfs) || rootfs["type"] !== "layers") throw bad('rootfs.type is not "layers"');
  const diffIds = rootfs["diff_ids"];
  if (!Array.isArray(diffIds)) throw bad("rootfs.diff_ids is not an array");
  for (const [i, diffId] of diffIds.entries()) {
    if (!isDigest(diffId)) throw bad(`rootfs.diff_ids[${i}] is not a sha256 digest`);
  }
  if (json["created"] !== undefined && typeof json["created"] !== "string")
    throw bad("created is not a string");
  return json as unknown as ImageConfig;
}

/** The platform of this host in OCI terms (Node's `process.arch` → GOARCH names). */
export function hostPlatform(): Platform {
  switch (process.arch) {
    case "x64":
      return { os: "linux", architecture: "amd64" };
    case "arm64":
      return { os: "linux", architecture: "arm64", variant: "v8" };
    case "arm": {
      const version = (process.config.variables as Record<string, unknown>)["arm_version"];
      return { os: "linux", architecture: "arm", variant: `v${typeof version === "string" ? version : "7"}` };
    }
    case "ia32":
      return { os: "linux", architecture: "386" };
    case "ppc64":
      return { os: "linux", architecture: endianness() === "LE" ? "ppc64le" : "ppc64" };
    case "mipsel":
      return { os: "linux", architecture: "mipsle" };
    default:
      // s390x, riscv64, loong64, mips, … share their names with Go.
      return { os: "linux", architecture: process.arch };
  }
}

/**
 * Picks the manifest for `platform` from an index: same os and architecture (aliases like `x86_64`
 * and `aarch64` understood), best variant first (exact, then older compatible ARM variants, then
 * none). Undefined when the index has nothing this platform can run.
 */
export function selectManifest(index: ImageIndex, platform: Platform): Descriptor | undefined {
  const want = normalizePlatform(platform);
  const variants = compatibleVariants(want);
  let best: { descriptor: Descriptor; rank: number } | undefined;
  for (const descriptor of index.manifests) {
    if (descriptor.platform === undefined) continue;
    const have = normalizePlatform(descriptor.platform);
    if (have.os !== want.os || have.architecture !== want.architecture) continue;
    const rank = have.variant === undefined ? variants.length : variants.indexOf(have.variant);
    if (rank === -1) continue;
    if (best === undefined || rank < best.rank) best = { descriptor, rank };
  }
  return best?.descriptor;
}

/** containerd's normalization: GOARCH names, arm64 without `v8`, arm with `v7` by default. */
export function normalizePlatform(platform: Platform): Platform {
  const os = platform.os.toLowerCase();
  let architecture = platform.architecture.toLowerCase();
  let variant = platform.variant?.toLowerCase();
  switch (architecture) {
    case "x86_64":
    case "x86-64":
      architecture = "amd64";
      break;
    case "i386":
      architecture = "386";
      break;
    case "aarch64":
      architecture = "arm64";
      break;
    case "armhf":
      architecture = "arm";
      variant = "v7";
      break;
    case "armel":
      architecture = "arm";
      variant = "v6";
      break;
  }
  if (architecture === "arm64" && (variant === "v8" || variant === "8")) variant = undefined;
  if (architecture === "amd64" && variant === "v1") variant = undefined;
  if (architecture === "arm")
    variant = variant === undefined ? "v7" : variant.startsWith("v") ? variant : `v${variant}`;
  return { os, architecture, ...(variant !== undefined ? { variant } : {}) };
}

/** Variants a normalized platform runs, best first. */
function compatibleVariants(platform: Platform): string[] {
  const variant = platform.variant;
  if (variant === undefined) return [];
  const level = /^v(\d+)$/.exec(variant);
  if (platform.architecture === "arm" && level?.[1] !== undefined) {
    const out: string[] = [];
    for (let n = Number(level[1]); n >= 5; n -= 1) out.push(`v${n}`);
    return out;
  }
  if (platform.architecture === "amd64" && level?.[1] !== undefined) {
    const out: string[] = [];
    for (let n = Number(level[1]); n >= 2; n -= 1) out.push(`v${n}`);
    return out;
  }
  return [variant];
}

/* ------------------------------------------------------------------------------------------------ */
/* db.json                                                                                          */
/* ------------------------------------------------------------------------------------------------ */

interface DbFile {
  version: number;
  images: Record<string, StoredImage>;
  names: Record<string, Digest>;
  /** Layer blob digest → verified diff ID. Absent in stores written before it existed. */
  verifiedDiffIds?: Record<Digest, Digest>;
}

function serializeDb(db: Db): string {
  const file: DbFile = {
    version: DB_VERSION,
    images: Object.fromEntries([...db.images].sort(([a], [b]) => a.localeCompare(b))),
    names: Object.fromEntries([...db.names].sort(([a], [b]) => a.localeCompare(b))),
    verifiedDiffIds: Object.fromEntries([...db.verifiedDiffIds].sort(([a], [b]) => a.localeCompare(b))),
  };
  return `${JSON.stringify(file, null, 2)}\n`;
}

async function loadDb(path: string): Promise<Db> {
  await Promise.resolve();
  let text: string;
  try {
    // Synchronous, like readBlob: a small file read on every opening of the store.
    text = readFileSync(path, "utf8");
  } catch (error) {
    if (isErrno(error, "ENOENT")) return { images: new Map(), names: new Map(), verifiedDiffIds: new Map() };
    throw new TsstackError(
      "image/store-unavailable",
      `opening image store: reading ${path}: ${errorText(error)}`,
      {
        cause: error,
      },
    );
  }
  const corrupt = (why: string): TsstackError =>
    new TsstackError(
      "image/store-corrupt",
      `opening image store: ${path} is corrupt (${why}); move it away to start with an empty store (blobs are kept)`,
    );
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw corrupt(errorText(error));
  }
  if (!isObject(json) || json["version"] !== DB_VERSION) throw corrupt(`expected version ${DB_VERSION}`);
  const imagesJson = json["images"];
  const namesJson = json["names"];
  if (!isObject(imagesJson) || !isObject(namesJson)) throw corrupt("images or names missing");
  const images = new Map<Digest, StoredImage>();
  for (const [id, image] of Object.entries(imagesJson)) {
    // Digests become paths: check every one.
    if (
      !isObject(image) ||
      image["id"] !== id ||
      !isDigest(id) ||
      !isDigest(image["manifestDigest"]) ||
      typeof image["manifestSize"] !== "number" ||
      !Array.isArray(image["layers"]) ||
      !image["layers"].every(
        (l: unknown) =>
          isObject(l) && isDigest(l["digest"]) && isDigest(l["diffId"]) && isDigest(l["chainId"]),
      ) ||
      !Array.isArray(image["repoDigests"])
    ) {
      throw corrupt(`image record ${id} is malformed`);
    }
    images.set(id, image as unknown as StoredImage);
  }
  const names = new Map<string, Digest>();
  for (const [name, id] of Object.entries(namesJson)) {
    if (typeof id !== "string" || !images.has(id)) throw corrupt(`name ${name} points to unknown image`);
    names.set(name, id);
  }
  // A store written before this record existed starts empty: its layers are hashed once more when an
  // image that uses them is added again.
  const verifiedJson = json["verifiedDiffIds"] ?? {};
  if (!isObject(verifiedJson)) throw corrupt("verifiedDiffIds is not an object");
  const verifiedDiffIds = new Map<Digest, Digest>();
  for (const [blob, diffId] of Object.entries(verifiedJson)) {
    if (!isDigest(blob) || !isDigest(diffId)) throw corrupt(`verified diff ID of blob ${blob} is malformed`);
    verifiedDiffIds.set(blob, diffId);
  }
  return { images, names, verifiedDiffIds };
}

/* ------------------------------------------------------------------------------------------------ */
/* Lookups                                                                                          */
/* ------------------------------------------------------------------------------------------------ */

/** How a reference matched: by a name (which `remove` then untags) or by id/digest. */
function lookup(db: Db, refOrId: string): { id: Digest; name?: string } | undefined {
  const idMatch = ID_PREFIX_RE.exec(refOrId);
  const hex = idMatch?.[1];
  if (hex?.length === 64 && db.images.has(`sha256:${hex}`)) return { id: `sha256:${hex}` };

  let ref;
  try {
    ref = parseReference(refOrId);
  } catch (error) {
    // `0123abcd` or `sha256:` + 64 hex are ids, not names; anything else is a bad reference.
    if (hex === undefined) throw error;
  }
  if (ref?.digest !== undefined) {
    const byDigest = `${formatRepository(ref)}@${ref.digest}`;
    const repository = formatRepository(ref);
    for (const image of db.images.values()) {
      if (image.repoDigests.includes(byDigest)) return { id: image.id };
    }
    // A manifest we hold under this repository name, even if it was never pulled by digest.
    for (const image of db.images.values()) {
      if (
        image.manifestDigest === ref.digest &&
        namesOf(db, image.id).some((name) => formatRepository(parseReference(name)) === repository)
      ) {
        return { id: image.id };
      }
    }
    return undefined;
  }
  if (ref !== undefined) {
    const name = formatReference(ref);
    const id = db.names.get(name);
    if (id !== undefined) return { id, name };
  }
  if (hex !== undefined) {
    const matches = [...db.images.keys()].filter((id) => id.startsWith(`sha256:${hex}`));
    if (matches.length > 1) {
      throw new TsstackError(
        "image/ambiguous-id",
        `looking up image ${refOrId}: the id prefix matches ${matches.length} images; give more digits`,
      );
    }
    const [id] = matches;
    if (id !== undefined) return { id };
  }
  return undefined;
}

/** Blobs (manifest, config, layers) and snapshots of the given images. */
function contentOf(
  images: ReadonlyMap<Digest, StoredImage>,
  ids: readonly Digest[],
): { blobs: Digest[]; snapshots: Digest[] } {
  const blobs: Digest[] = [];
  const snapshots: Digest[] = [];
  for (const id of ids) {
    const image = images.get(id);
    if (image === undefined) continue;
    blobs.push(image.manifestDigest, image.id);
    for (const layer of image.layers) {
      blobs.push(layer.digest);
      snapshots.push(layer.chainId);
    }
  }
  return { blobs, snapshots };
}

function namesOf(db: Db, id: Digest): string[] {
  return [...db.names]
    .filter(([, target]) => target === id)
    .map(([name]) => name)
    .sort();
}

function toRecord(db: Db, image: StoredImage): ImageRecord {
  const { manifestSize: _manifestSize, ...record } = image;
  return { ...record, repoTags: namesOf(db, image.id) };
}

function normalizeRepoDigest(input: string): string {
  const ref = parseReference(input);
  if (ref.digest === undefined) {
    throw new TsstackError(
      "image/invalid-reference",
      `recording repo digest "${input}": it has no @sha256:… digest`,
    );
  }
  return `${formatRepository(ref)}@${ref.digest}`;
}

/* ------------------------------------------------------------------------------------------------ */
/* Small helpers                                                                                    */
/* ------------------------------------------------------------------------------------------------ */

function parseJson(bytes: Buffer | string, code: string, what: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(typeof bytes === "string" ? bytes : bytes.toString("utf8"));
  } catch (error) {
    throw new TsstackError(code, `reading ${what}: not valid JSON (${errorText(error)})`, { cause: error });
  }
  if (!isObject(json)) throw new TsstackError(code, `reading ${what}: not a JSON object`);
  return json;
}

function parseDescriptor(value: unknown, what: string, field: string): Descriptor {
  if (!isObject(value)) throw invalidManifest(what, `${field} is not a descriptor`);
  const { mediaType, digest, size } = value;
  if (typeof mediaType !== "string") throw invalidManifest(what, `${field}.mediaType is missing`);
  if (!isDigest(digest)) throw invalidManifest(what, `${field}.digest is not a sha256 digest`);
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
    throw invalidManifest(what, `${field}.size is not a byte count`);
  }
  return value as unknown as Descriptor;
}

function invalidManifest(what: string, why: string): TsstackError {
  return new TsstackError("image/invalid-manifest", `reading ${what}: ${why}`);
}

function notFound(action: string, refOrId: string): TsstackError {
  return new TsstackError("image/not-found", `${action} image ${refOrId}: no such image in the store`);
}

function internalContentMissing(what: string, id: Digest): TsstackError {
  return new TsstackError(
    "internal",
    `internal: registering image ${id}: ${what} vanished while pinned (was the store modified by hand?)`,
  );
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function at<T>(items: readonly T[], i: number): T {
  const item = items[i];
  if (item === undefined) throw new TsstackError("internal", `internal: index ${i} out of range`);
  return item;
}

// eslint-disable-next-line @typescript-eslint/require-await -- an async generator is the simplest AsyncIterable
async function* once(chunk: Uint8Array): AsyncGenerator<Uint8Array> {
  yield chunk;
}

async function writeAll(handle: Awaited<ReturnType<typeof open>>, chunk: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < chunk.byteLength) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.byteLength - offset);
    offset += bytesWritten;
  }
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    const info = await stat(path);
    return info.isFile() ? info.size : undefined;
  } catch (error) {
    if (isErrno(error, "ENOENT")) return undefined;
    throw error;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isDirectory();
  } catch (error) {
    if (isErrno(error, "ENOENT")) return false;
    throw error;
  }
}

/** Deletes renamed-away snapshots and returns the bytes they held (hard links counted once). */
async function disposeTrash(paths: readonly string[]): Promise<number> {
  let bytes = 0;
  for (const path of paths) {
    bytes += await treeSize(path);
    await rm(path, { recursive: true, force: true });
  }
  return bytes;
}

async function treeSize(root: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const walk = async (dir: string): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        await walk(path);
        continue;
      }
      const info = await lstat(path);
      const key = `${info.dev}:${info.ino}`;
      if (seen.has(key)) continue;
      seen.add(key);
      total += info.size;
    }
  };
  await walk(root);
  return total;
}
