/**
 * Shared shapes of the embedded runtime's image store: OCI descriptors, manifests, indexes, image
 * configs, and the store's own image records. Docker v2 schema 2 and OCI use the same JSON shapes and
 * differ only in media types.
 */

export const MediaType = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayer: "application/vnd.oci.image.layer.v1.tar",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  ociLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  dockerForeignLayerGzip: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
} as const;

/** `sha256:<64 hex>` */
export type Digest = string;

export interface Platform {
  readonly architecture: string;
  readonly os: string;
  readonly variant?: string;
  readonly "os.version"?: string;
}

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly platform?: Platform;
  readonly urls?: readonly string[];
}

/** OCI image manifest or Docker v2 schema 2 manifest. */
export interface ImageManifest {
  readonly schemaVersion: 2;
  readonly mediaType?: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly annotations?: Readonly<Record<string, string>>;
}

/** OCI image index or Docker manifest list. */
export interface ImageIndex {
  readonly schemaVersion: 2;
  readonly mediaType?: string;
  readonly manifests: readonly Descriptor[];
  readonly annotations?: Readonly<Record<string, string>>;
}

/** The parts of an OCI/Docker image config the runtime reads. */
export interface ImageConfig {
  readonly architecture: string;
  readonly os: string;
  readonly variant?: string;
  readonly created?: string;
  readonly author?: string;
  readonly config?: {
    readonly User?: string;
    readonly ExposedPorts?: Readonly<Record<string, object>>;
    readonly Env?: readonly string[];
    readonly Entrypoint?: readonly string[] | null;
    readonly Cmd?: readonly string[] | null;
    readonly Volumes?: Readonly<Record<string, object>>;
    readonly WorkingDir?: string;
    readonly Labels?: Readonly<Record<string, string>> | null;
    readonly StopSignal?: string;
    readonly Healthcheck?: object;
  };
  readonly rootfs: { readonly type: "layers"; readonly diff_ids: readonly Digest[] };
  readonly history?: readonly object[];
}

/** One layer of a stored image: the blob as shipped and the snapshot it unpacks to. */
export interface LayerRecord {
  /** Digest and media type of the (possibly compressed) blob. */
  readonly digest: Digest;
  readonly mediaType: string;
  readonly size: number;
  /** Digest of the uncompressed tar (config rootfs.diff_ids). */
  readonly diffId: Digest;
  /** Chain ID (OCI): identifies the snapshot of this layer on top of all layers below it. */
  readonly chainId: Digest;
}

/** An image as the store knows it. The id is the config digest, as in Docker. */
export interface ImageRecord {
  readonly id: Digest;
  /** Digest of the single-platform manifest stored for this image. */
  readonly manifestDigest: Digest;
  readonly manifestMediaType: string;
  /** Fully qualified names, e.g. `docker.io/library/busybox:latest`. */
  readonly repoTags: readonly string[];
  /** `name@sha256:…` of the manifest as pulled or pushed, e.g. `localhost:5000/busybox@sha256:…`. */
  readonly repoDigests: readonly string[];
  readonly layers: readonly LayerRecord[];
  readonly architecture: string;
  readonly os: string;
  readonly created?: string;
  /** Sum of the layer blob sizes plus config and manifest. */
  readonly size: number;
}

/** A parsed image reference (`busybox`, `localhost:5000/team/app:1.2`, `name@sha256:…`). */
export interface ImageReference {
  /** Registry host[:port]; `docker.io` for Docker Hub. */
  readonly registry: string;
  /** Repository path, with `library/` for official Docker Hub images. */
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: Digest;
}

/** Progress of a transfer, per blob; `total` is known from the descriptor. */
export interface TransferProgress {
  readonly digest: Digest;
  readonly done: number;
  readonly total: number;
  readonly phase: "exists" | "downloading" | "uploading" | "mounted" | "verifying" | "unpacking" | "complete";
}

/**
 * The node-local image store (src/runtime/images/store.ts implements it). Every method is safe to call
 * concurrently; writes that must survive a crash are atomic (temp file, fsync, rename), and an image is
 * registered only after all of its blobs are present and verified and its layers unpacked.
 */
export interface ImageStoreApi {
  readonly root: string;
  /** Where a verified blob lives (it may not exist). */
  blobPath(digest: Digest): string;
  hasBlob(digest: Digest): Promise<boolean>;
  /**
   * Stores a blob from a stream, verifying digest and size when given (a mismatch throws and stores
   * nothing). Returns the computed digest and size. Idempotent for blobs already present.
   */
  writeBlob(
    source: AsyncIterable<Uint8Array>,
    expected?: { readonly digest?: Digest; readonly size?: number },
  ): Promise<{ digest: Digest; size: number }>;
  readBlob(digest: Digest): Promise<Buffer>;
  /**
   * Registers an image from a single-platform manifest whose config and layer blobs are already in the
   * store: unpacks missing snapshots, verifies every layer blob against its config diff ID (once per
   * blob; a shared snapshot made from another blob does not count), then records the image and points
   * `names` (tags, normalized) at it. `repoDigest` records where it came from.
   */
  addImage(
    manifest: Buffer,
    opts?: { readonly names?: readonly string[]; readonly repoDigest?: string },
  ): Promise<ImageRecord>;
  /** By id (full or unique prefix, with or without `sha256:`), by name[:tag] or by name@digest. */
  resolve(refOrId: string): Promise<ImageRecord | undefined>;
  list(): Promise<ImageRecord[]>;
  tag(source: string, target: string): Promise<void>;
  /**
   * Like `docker rmi`: removing a name untags it and deletes the image with its last name; removing by
   * id (or name@digest) deletes the image, and needs `force` when it still has several names. `force`
   * also overrides the in-use check, but then only untags.
   */
  remove(
    refOrId: string,
    opts?: { readonly force?: boolean },
  ): Promise<{ untagged: string[]; deleted: Digest[] }>;
  /** Removes dangling images (all unused with `all`), then garbage-collects. */
  prune(opts?: { readonly all?: boolean }): Promise<{ deleted: Digest[]; reclaimedBytes: number }>;
  /** Snapshot directories of an image's layers, lowest first (overlayfs lowerdirs in reverse). */
  snapshotPaths(image: ImageRecord): string[];
  /** Drops blobs and snapshots no image references (and none the in-use check protects). */
  gc(): Promise<{ blobs: number; snapshots: number; reclaimedBytes: number }>;
}
