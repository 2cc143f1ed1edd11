/**
 * `/networks…`: the engine's bridge networks (src/network), Docker-shaped. The operations are the
 * runtime's optional `NetworkVolumeOps`: a runtime without them gets 501 on every route here.
 */
import type { NetworkCreateOptions } from "../../network/types.js";
import type { NetworkVolumeOps, Runtime } from "../../runtime/runtime.js";
import { HttpError } from "../errors.js";
import { parseFilters } from "../filters.js";
import { route } from "../router.js";
import type { ApiServices } from "../services.js";
import { param, type ApiRoute, type Handler } from "./handler.js";
import { checkFields, readObject } from "./json-body.js";

const NETWORK_OPS = [
  "createNetwork",
  "listNetworks",
  "inspectNetwork",
  "removeNetwork",
  "pruneNetworks",
] as const;
type NetworkOps = Required<Pick<NetworkVolumeOps, (typeof NETWORK_OPS)[number]>>;

function isNetworkOps(runtime: NetworkVolumeOps): runtime is NetworkOps {
  return NETWORK_OPS.every((op) => typeof runtime[op] === "function");
}

/** The runtime's network operations, or a 501 saying which request needed them. */
function networkOps(s: ApiServices, doing: string): NetworkOps {
  // Every member of NetworkVolumeOps is optional: a runtime either lacks one or, declaring the
  // interface (EmbeddedRuntime, ApiClient), has it with that signature.
  const runtime = s.runtime as Runtime & NetworkVolumeOps;
  if (!isNetworkOps(runtime))
    throw new HttpError(
      501,
      "network/unsupported",
      `${doing}: this engine's runtime does not manage networks (it has no network operations)`,
    );
  return runtime;
}

const list: Handler = async (ctx, s) => {
  const filters = parseFilters(ctx.query.get("filters"));
  ctx.json(200, await networkOps(s, "listing networks").listNetworks({ filters }));
};

const inspect: Handler = async (ctx, s) => {
  const id = param(ctx);
  ctx.json(200, await networkOps(s, `inspecting network ${id}`).inspectNetwork(id));
};

const create: Handler = async (ctx, s) => {
  const what = "creating a network";
  const ops = networkOps(s, what);
  const error = { code: "network/invalid-config", what };
  const body = await readObject(ctx, error);
  checkFields(
    body,
    {
      Name: "string",
      Driver: "string",
      Internal: "boolean",
      Attachable: "boolean",
      Ingress: "boolean",
      EnableIPv6: "boolean",
      CheckDuplicate: "boolean",
      Labels: "map",
      Options: "map",
      IPAM: "object",
    },
    error,
  );
  if (typeof body["Name"] !== "string" || body["Name"] === "")
    throw new HttpError(400, error.code, `${what}: no name given (Name)`);
  if (body["Ingress"] === true)
    throw new HttpError(
      400,
      error.code,
      `${what}: ingress networks are a swarm feature tsstack does not have`,
    );
  const ipam = (body["IPAM"] ?? {}) as Record<string, unknown>;
  checkFields(ipam, { Driver: "string", Config: "objects", Options: "map" }, { ...error, path: "IPAM." });
  ((ipam["Config"] ?? []) as Record<string, unknown>[]).forEach((config, i) => {
    checkFields(
      config,
      { Subnet: "string", Gateway: "string", IPRange: "string", AuxiliaryAddresses: "map" },
      { ...error, path: `IPAM.Config[${i}].` },
    );
    // Reserved addresses would be handed out to containers if quietly ignored: refuse them.
    if (Object.keys(config["AuxiliaryAddresses"] ?? {}).length > 0)
      throw new HttpError(
        400,
        error.code,
        `${what}: auxiliary addresses (IPAM.Config[${i}]) are not supported`,
      );
  });
  ctx.json(201, await ops.createNetwork(body as unknown as NetworkCreateOptions));
};

const remove: Handler = async (ctx, s) => {
  const id = param(ctx);
  await networkOps(s, `removing network ${id}`).removeNetwork(id);
  ctx.empty(204);
};

const prune: Handler = async (ctx, s) => {
  const filters = parseFilters(ctx.query.get("filters"));
  ctx.json(200, await networkOps(s, "pruning networks").pruneNetworks({ filters }));
};

export const networkRoutes: readonly ApiRoute[] = [
  route("GET", "/networks", list),
  route("POST", "/networks/create", create),
  route("POST", "/networks/prune", prune),
  route("GET", "/networks/{id}", inspect),
  route("DELETE", "/networks/{id}", remove),
];
