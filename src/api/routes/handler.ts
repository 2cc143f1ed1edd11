import type { RequestContext } from "../context.js";
import type { Route } from "../router.js";
import type { ApiServices } from "../services.js";

export type Handler = (ctx: RequestContext, services: ApiServices) => Promise<void>;
export type ApiRoute = Route<Handler>;

/** The `n`th path parameter; the route's pattern guarantees it exists. */
export function param(ctx: RequestContext, n = 0): string {
  return ctx.params[n] ?? "";
}
