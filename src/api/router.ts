/**
 * Route tables of the Engine API: `{param}` segments match one path segment, `{param*}` the rest of
 * the path (image names contain slashes). Paths may carry an API version prefix (`/v1.41/…`), which
 * this server accepts for any version: it speaks one.
 */

export interface Route<H> {
  readonly method: string;
  readonly template: string;
  readonly pattern: RegExp;
  readonly handler: H;
}

export type RouteMatch<H> =
  | { readonly kind: "found"; readonly route: Route<H>; readonly params: readonly string[] }
  | { readonly kind: "method-not-allowed"; readonly allow: readonly string[] }
  | { readonly kind: "not-found" };

export function route<H>(method: string, template: string, handler: H): Route<H> {
  const source = template
    .split("/")
    .map((segment) => {
      if (/^\{\w+\*\}$/.test(segment)) return "(.+)";
      if (/^\{\w+\}$/.test(segment)) return "([^/]+)";
      return segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    })
    .join("/");
  return { method, template, pattern: new RegExp(`^${source}$`), handler };
}

/** `/v1.41/containers/json` → `/containers/json`; the version is returned when there was one. */
export function stripApiVersion(pathname: string): { path: string; version?: string } {
  const m = /^\/v(\d+\.\d+)(\/.*)$/.exec(pathname);
  if (m?.[1] === undefined || m[2] === undefined) return { path: pathname };
  return { path: m[2], version: m[1] };
}

/**
 * The first route whose method and pattern match. HEAD falls back to GET routes (Node sends no body
 * for HEAD). A path that matches only under other methods is a 405 with those methods, as Docker's
 * router answers.
 */
export function matchRoute<H>(routes: readonly Route<H>[], method: string, path: string): RouteMatch<H> {
  const allow = new Set<string>();
  let headFallback: { route: Route<H>; params: readonly string[] } | undefined;
  for (const r of routes) {
    const m = r.pattern.exec(path);
    if (m === null) continue;
    const params = m.slice(1).map((p) => decodeURIComponent(p));
    if (r.method === method) return { kind: "found", route: r, params };
    if (method === "HEAD" && r.method === "GET") headFallback ??= { route: r, params };
    allow.add(r.method);
  }
  if (headFallback !== undefined) return { kind: "found", ...headFallback };
  if (allow.size > 0) return { kind: "method-not-allowed", allow: [...allow] };
  return { kind: "not-found" };
}
