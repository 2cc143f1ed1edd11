/**
 * `GET /images/json`, `GET /images/{name}/json`, `DELETE /images/{name}`.
 *
 * The image store is opened per request: it holds an exclusive lock on the store root while open, and
 * the CLI's image commands open the same store directly, so the daemon must not keep it.
 */
import { ImageStore, type ImageStoreOptions } from "../../runtime/images/store.js";
import { familiarNames, imageInspect, readImageConfig } from "../../runtime/images/inspect.js";
import { familiarName, parseReference } from "../../runtime/images/reference.js";
import type { ImageConfig, ImageRecord } from "../../runtime/images/types.js";
import { imageUseCheck } from "../../runtime/containers/record.js";
import { HttpError } from "../errors.js";
import { labelMatches, parseFilters, queryBool, type Filters } from "../filters.js";
import { route } from "../router.js";
import type { ApiServices } from "../services.js";
import { param, type ApiRoute, type Handler } from "./handler.js";

async function withStore<T>(
  s: ApiServices,
  fn: (store: ImageStore) => Promise<T>,
  opts: ImageStoreOptions = {},
): Promise<T> {
  const store = await ImageStore.open(s.root, {
    // Images of containers (running or not) are in use: removal refuses them.
    inUse: imageUseCheck(s.root),
    ...opts,
  });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

function unixSeconds(rfc3339: string | undefined): number {
  const ms = rfc3339 === undefined ? NaN : Date.parse(rfc3339);
  return Number.isNaN(ms) ? 0 : Math.floor(ms / 1000);
}

const IMAGE_FILTERS = new Set(["dangling", "label", "reference"]);

/** A `reference` filter is a glob over the familiar name, with or without its tag. */
function referenceMatches(tags: readonly string[], pattern: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*")}$`);
  return tags.some((t) => re.test(t) || re.test(t.replace(/:[^:/]+$/, "")));
}

function imageMatches(
  tags: readonly string[],
  labels: Readonly<Record<string, string>>,
  f: Filters,
): boolean {
  const anyOf = (key: string, test: (v: string) => boolean): boolean => {
    const values = f[key];
    return values === undefined || values.length === 0 || values.some(test);
  };
  return (
    anyOf("dangling", (d) => (d === "true" || d === "1") === (tags.length === 0)) &&
    anyOf("label", (l) => labelMatches(labels, l)) &&
    anyOf("reference", (r) => referenceMatches(tags, r))
  );
}

const list: Handler = async (ctx, s) => {
  const filters = parseFilters(ctx.query.get("filters"));
  for (const key of Object.keys(filters)) {
    if (!IMAGE_FILTERS.has(key)) {
      throw new HttpError(400, "image/invalid-filter", `invalid filter ${JSON.stringify(key)} for images`);
    }
  }
  const summaries = await withStore(s, async (store) => {
    const out: Record<string, unknown>[] = [];
    for (const image of await store.list()) {
      const config = await readImageConfig(store, image);
      const tags = familiarNames(image.repoTags);
      const labels = config.config?.Labels ?? {};
      if (!imageMatches(tags, labels, filters)) continue;
      out.push({
        Id: image.id,
        ParentId: "",
        RepoTags: tags,
        RepoDigests: familiarNames(image.repoDigests),
        Created: unixSeconds(image.created),
        Size: image.size,
        VirtualSize: image.size,
        SharedSize: -1,
        Labels: labels,
        Containers: -1,
      });
    }
    return out;
  });
  ctx.json(200, summaries);
};

/** The shape of `docker image inspect`, with the fields API 1.41 still has (VirtualSize, GraphDriver). */
function inspectShape(image: ImageRecord, config: ImageConfig): Record<string, unknown> {
  const { RootFS, ...shape } = imageInspect(image, config);
  return {
    ...shape,
    VirtualSize: image.size,
    GraphDriver: { Name: "overlay", Data: null },
    RootFS,
  };
}

function noSuchImage(name: string): HttpError {
  return new HttpError(404, "image/not-found", `No such image: ${name}`);
}

const inspect: Handler = async (ctx, s) => {
  const name = param(ctx);
  const shape = await withStore(s, async (store) => {
    const image = await store.resolve(name);
    if (image === undefined) throw noSuchImage(name);
    return inspectShape(image, await readImageConfig(store, image));
  });
  ctx.json(200, shape);
};

const remove: Handler = async (ctx, s) => {
  const name = param(ctx);
  // Images used by a container (any state) stay, as with Docker: the store refuses or only untags.
  const used = new Set((await s.runtime.listContainers({ all: true })).map((c) => c.ImageID));
  const { untagged, deleted } = await withStore(
    s,
    async (store) => {
      if ((await store.resolve(name)) === undefined) throw noSuchImage(name);
      return store.remove(name, { force: queryBool(ctx.query, "force") });
    },
    { inUse: (id) => used.has(id) },
  );
  ctx.json(200, [
    ...untagged.map((t) => ({ Untagged: familiarName(parseReference(t)) })),
    ...deleted.map((id) => ({ Deleted: id })),
  ]);
};

export const imageRoutes: readonly ApiRoute[] = [
  route("GET", "/images/json", list),
  route("GET", "/images/{name*}/json", inspect),
  route("DELETE", "/images/{name*}", remove),
];
