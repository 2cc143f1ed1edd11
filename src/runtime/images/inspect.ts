/**
 * An image as `docker image inspect` shows it, from the store's record and config: what the daemon's
 * `GET /images/{name}/json` and the CLI's offline `image inspect` share.
 */
import { familiarName, parseReference } from "./reference.js";
import type { ImageStore } from "./store.js";
import type { ImageConfig, ImageRecord } from "./types.js";

/** The image's config blob, parsed. */
export async function readImageConfig(store: ImageStore, image: ImageRecord): Promise<ImageConfig> {
  return JSON.parse((await store.readBlob(image.id)).toString("utf8")) as ImageConfig;
}

/** The shape of `docker image inspect` (API ≥ 1.44: no container-only fields in Config). */
export function imageInspect(image: ImageRecord, config: ImageConfig): Record<string, unknown> {
  const raw = config as ImageConfig & { comment?: string; docker_version?: string };
  return {
    Id: image.id,
    RepoTags: familiarNames(image.repoTags),
    RepoDigests: familiarNames(image.repoDigests),
    Parent: "",
    Comment: raw.comment ?? "",
    Created: config.created ?? "",
    DockerVersion: raw.docker_version ?? "",
    Author: config.author ?? "",
    Config: config.config ?? null,
    Architecture: config.architecture,
    ...(config.variant !== undefined ? { Variant: config.variant } : {}),
    Os: config.os,
    Size: image.size,
    RootFS: { Type: "layers", Layers: config.rootfs.diff_ids },
  };
}

/** Stored references as docker shows them (`busybox:latest`, not `docker.io/library/busybox:latest`). */
export function familiarNames(names: readonly string[]): string[] {
  return names.map((n) => familiarName(parseReference(n)));
}
