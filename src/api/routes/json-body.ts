/**
 * Shape checks for JSON request bodies the handlers pass on to the runtime as they are: a field of the
 * wrong type is the caller's 400 here, not a confusing failure (or a silently wrong object) deeper
 * down. Unknown fields pass: Docker clients send fields tsstack does not act on.
 */
import type { RequestContext } from "../context.js";
import { HttpError } from "../errors.js";

/** `string`, `boolean`, a string → string map, an object, or a list of objects; `null` passes for all. */
export type FieldType = "string" | "boolean" | "map" | "object" | "objects";

function typeOk(value: unknown, type: FieldType): boolean {
  if (value === undefined || value === null) return true;
  switch (type) {
    case "string":
      return typeof value === "string";
    case "boolean":
      return typeof value === "boolean";
    case "map":
      return (
        typeof value === "object" &&
        !Array.isArray(value) &&
        Object.values(value as Record<string, unknown>).every((v) => typeof v === "string")
      );
    case "object":
      return typeof value === "object" && !Array.isArray(value);
    case "objects":
      return (
        Array.isArray(value) && value.every((v) => typeof v === "object" && v !== null && !Array.isArray(v))
      );
  }
}

const TYPE_TEXT: Record<FieldType, string> = {
  string: "a string",
  boolean: "a boolean",
  map: "an object of strings",
  object: "an object",
  objects: "a list of objects",
};

/**
 * Checks the fields `shape` names on `value`; `path` prefixes the field names in the message
 * (`IPAM.Config[0].Subnet`).
 */
export function checkFields(
  value: Readonly<Record<string, unknown>>,
  shape: Readonly<Record<string, FieldType>>,
  error: { readonly code: string; readonly what: string; readonly path?: string },
): void {
  for (const [key, type] of Object.entries(shape)) {
    if (!typeOk(value[key], type))
      throw new HttpError(
        400,
        error.code,
        `${error.what}: ${error.path ?? ""}${key} must be ${TYPE_TEXT[type]}, not ${JSON.stringify(value[key])}`,
      );
  }
}

/** The body as a JSON object; an empty body is `{}` when `emptyOk`, else a 400. */
export async function readObject(
  ctx: RequestContext,
  error: { readonly code: string; readonly what: string; readonly emptyOk?: boolean },
): Promise<Record<string, unknown>> {
  const body = await ctx.readJson();
  if (body === undefined && error.emptyOk === true) return {};
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new HttpError(400, error.code, `${error.what}: the request body must be a JSON object`);
  return body as Record<string, unknown>;
}
