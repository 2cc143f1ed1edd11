/**
 * `/volumes…`: the engine's local volumes (src/volumes), Docker-shaped. The operations are the
 * runtime's optional `NetworkVolumeOps`: a runtime without them gets 501 on every route here.
 *
 * `POST /volumes/prune` follows Docker ≥ 23 (API 1.42) whatever version the path names: only
 * anonymous volumes unless the filter `all=true`. Docker keeps the older "every unused volume" for
 * requests below 1.42; doing so here would delete named volumes a current client meant to keep.
 */
import type { NetworkVolumeOps, Runtime } from "../../runtime/runtime.js";
import { HttpError } from "../errors.js";
import { parseFilters, queryBool } from "../filters.js";
import { route } from "../router.js";
import type { ApiServices } from "../services.js";
import { param, type ApiRoute, type Handler } from "./handler.js";
import { checkFields, readObject } from "./json-body.js";

const VOLUME_OPS = ["createVolume", "listVolumes", "inspectVolume", "removeVolume", "pruneVolumes"] as const;
type VolumeOps = Required<Pick<NetworkVolumeOps, (typeof VOLUME_OPS)[number]>>;

function isVolumeOps(runtime: NetworkVolumeOps): runtime is VolumeOps {
  return VOLUME_OPS.every((op) => typeof runtime[op] === "function");
}

/** The runtime's volume operations, or a 501 saying which request needed them. */
function volumeOps(s: ApiServices, doing: string): VolumeOps {
  // Every member of NetworkVolumeOps is optional: a runtime either lacks one or, declaring the
  // interface (EmbeddedRuntime, ApiClient), has it with that signature.
  const runtime = s.runtime as Runtime & NetworkVolumeOps;
  if (!isVolumeOps(runtime))
    throw new HttpError(
      501,
      "volume/unsupported",
      `${doing}: this engine's runtime does not manage volumes (it has no volume operations)`,
    );
  return runtime;
}

const list: Handler = async (ctx, s) => {
  const filters = parseFilters(ctx.query.get("filters"));
  ctx.json(200, await volumeOps(s, "listing volumes").listVolumes({ filters }));
};

const inspect: Handler = async (ctx, s) => {
  const name = param(ctx);
  ctx.json(200, await volumeOps(s, `inspecting volume ${name}`).inspectVolume(name));
};

const create: Handler = async (ctx, s) => {
  const what = "creating a volume";
  const ops = volumeOps(s, what);
  const error = { code: "volume/invalid-config", what };
  // An empty body is an anonymous local volume, as `docker volume create` without arguments.
  const body = await readObject(ctx, { ...error, emptyOk: true });
  checkFields(body, { Name: "string", Driver: "string", DriverOpts: "map", Labels: "map" }, error);
  // The fields createVolume reads are checked above.
  ctx.json(201, await ops.createVolume(body));
};

const remove: Handler = async (ctx, s) => {
  const name = param(ctx);
  await volumeOps(s, `removing volume ${name}`).removeVolume(name, { force: queryBool(ctx.query, "force") });
  ctx.empty(204);
};

const prune: Handler = async (ctx, s) => {
  const filters = parseFilters(ctx.query.get("filters"));
  ctx.json(200, await volumeOps(s, "pruning volumes").pruneVolumes({ filters }));
};

export const volumeRoutes: readonly ApiRoute[] = [
  route("GET", "/volumes", list),
  route("POST", "/volumes/create", create),
  route("POST", "/volumes/prune", prune),
  route("GET", "/volumes/{name}", inspect),
  route("DELETE", "/volumes/{name}", remove),
];
