/**
 * Errors across the HTTP boundary: server side, a TsstackError's code picks the status (as
 * `ERROR_HTTP_STATUS` says); client side, the status (and the route) gives back a code, so that the CLI
 * handles an error from the daemon as it would the same error from an in-process runtime.
 */
import { TsstackError } from "../common/errors.js";
import { ERROR_HTTP_STATUS } from "../runtime/runtime.js";

/** An error of the HTTP layer itself, with the status Docker answers it with. */
export class HttpError extends TsstackError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/**
 * Codes the contract's table does not cover that Docker answers with a client error:
 * `container/path-not-found` (archive of a missing path: 404), `container/not-a-directory`
 * (extracting onto a file: 400), `network/port-in-use` and `network/address-in-use` (a host port or
 * an address someone else has: 409); and `…/unsupported` of networks and volumes (an engine without
 * them: 501).
 */
const API_EXTRA_STATUS: readonly (readonly [RegExp, number])[] = [
  [/-not-found$/, 404],
  [/\/not-a-directory$/, 400],
  [/^network\/(port|address)-in-use$/, 409],
  [/^(network|volume)\/unsupported$/, 501],
];

/** The status a failed request answers with: 500 for anything not known to be the caller's fault. */
export function httpStatusOf(error: unknown): number {
  if (error instanceof HttpError) return error.status;
  if (error instanceof TsstackError) {
    for (const [pattern, status] of [...ERROR_HTTP_STATUS, ...API_EXTRA_STATUS]) {
      if (pattern.test(error.code)) return status;
    }
  }
  return 500;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A message followed by its chain of causes, for the daemon log. */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 8; depth++) {
    const text =
      current instanceof TsstackError
        ? `${current.message} [${current.code}]`
        : current instanceof Error
          ? (current.stack ?? current.message)
          : JSON.stringify(current);
    parts.push(text);
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join("\n  caused by: ");
}

/** The error of a reply to HEAD (no body): base64 of the JSON body other replies carry. */
export const ERROR_HEADER = "X-Tsstack-Error";

/**
 * The code of an error the daemon answered with. tsstack's daemon sends the exact code in the body
 * (`{"message", "code"}`, an extension Docker clients ignore); for any other Engine API server the
 * status and the route say what kind of thing failed.
 */
export function errorCodeFor(status: number, path: string, serverCode?: string): string {
  if (serverCode !== undefined && /^[a-z][a-z0-9-]*\/[a-z0-9-]+$|^internal$/.test(serverCode))
    return serverCode;
  const route = path.replace(/^\/v\d+\.\d+(?=\/)/, "");
  // Networks and volumes: a 409 on create is a name or subnet conflict, elsewhere the object is in use.
  const object = /^\/(network|volume)s(\/|$)/.exec(route)?.[1];
  if (object !== undefined) {
    if (status === 404) return `${object}/not-found`;
    if (status === 409) return route === `/${object}s/create` ? `${object}/conflict` : `${object}/in-use`;
    if (status === 400) return `${object}/invalid-config`;
  }
  switch (status) {
    case 404:
      // Creating a container from a missing image is a 404 about the image, as with Docker.
      if (route.startsWith("/images/") || route.startsWith("/containers/create")) return "image/not-found";
      if (route.startsWith("/exec/")) return "exec/not-found";
      return "container/not-found";
    case 409:
      return route.startsWith("/images/") ? "image/conflict" : "container/conflict";
    case 400:
      return "container/invalid-config";
    default:
      return `engine/http-${status}`;
  }
}
