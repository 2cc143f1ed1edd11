/**
 * tsstack's own stack endpoints (contract: ../stack-types.ts):
 *
 *   POST /tsstack/stacks/{name}/apply  → NDJSON StackProgress (plan, op…, result)
 *   POST /tsstack/stacks/{name}/plan   → PlanResponse
 *   POST /tsstack/stacks/{name}/down   → NDJSON StackProgress
 *   GET  /tsstack/stacks               → StackSummary[]
 *   GET  /tsstack/stacks/{name}        → StackStatus
 *
 * A request refused before anything changed (bad body, unknown service, bad scale) is a plain JSON
 * error; once the stream has begun, a failure is the stream's `result` line. A client that goes away
 * does not stop an apply: the engine's reconciler owns it.
 */
import type { Writable } from "node:stream";
import type { ApplyRequest, DownRequest, StackProgress } from "../stack-types.js";
import { errorMessage, HttpError } from "../errors.js";
import { route } from "../router.js";
import type { ApiServices } from "../services.js";
import type { StackResult, StackService } from "../../reconciler/engine-stacks.js";
import { param, type ApiRoute, type Handler } from "./handler.js";

export const NDJSON = "application/x-ndjson";

function stacksOf(s: ApiServices): StackService {
  if (s.stacks === undefined)
    throw new HttpError(
      501,
      "stack/unsupported",
      "this engine does not run stacks (its runtime has no networks and volumes)",
    );
  return s.stacks;
}

function invalid(why: string): HttpError {
  return new HttpError(400, "reconciler/invalid-request", `invalid stack request: ${why}`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The body's shape; the spec itself was validated and normalized by the client's loader. */
function applyRequest(body: unknown): ApplyRequest {
  if (!isRecord(body)) throw invalid("the body must be an object with a `spec`");
  const { spec, configFiles, workingDir, options } = body;
  if (!isRecord(spec) || typeof spec["name"] !== "string" || !isRecord(spec["services"]))
    throw invalid("`spec` must be a normalized stack (with `name` and `services`)");
  if (
    configFiles !== undefined &&
    !(Array.isArray(configFiles) && configFiles.every((f) => typeof f === "string"))
  )
    throw invalid("`configFiles` must be a list of strings");
  if (workingDir !== undefined && typeof workingDir !== "string")
    throw invalid("`workingDir` must be a string");
  if (options !== undefined && !isRecord(options)) throw invalid("`options` must be an object");
  return body as unknown as ApplyRequest;
}

function downRequest(body: unknown): DownRequest {
  if (body === undefined) return {};
  if (!isRecord(body)) throw invalid("the body must be an object");
  for (const key of ["volumes", "removeOrphans"] as const)
    if (body[key] !== undefined && typeof body[key] !== "boolean")
      throw invalid(`\`${key}\` must be a boolean`);
  if (body["timeout"] !== undefined && typeof body["timeout"] !== "number")
    throw invalid("`timeout` must be a number");
  return body;
}

/**
 * Runs `work`, streaming its progress as NDJSON. The response begins with the first progress line, so a
 * refusal before any (the request checks) is still a plain JSON error.
 */
async function streamed(
  ctx: Parameters<Handler>[0],
  s: ApiServices,
  work: (onProgress: (p: StackProgress) => void) => Promise<StackResult>,
): Promise<void> {
  let out: Writable | undefined;
  const write = (p: StackProgress): void => {
    out ??= ctx.stream(200, { "Content-Type": NDJSON });
    if (!out.destroyed && !ctx.signal.aborted) out.write(`${JSON.stringify(p)}\n`);
  };
  let result: StackResult;
  try {
    result = await work(write);
  } catch (error) {
    if (out === undefined) throw error;
    s.log(`${ctx.method} ${ctx.path}: failed after the stream began: ${errorMessage(error)}`);
    result = { ok: false, errors: [errorMessage(error)] };
  }
  write({ type: "result", ok: result.ok, errors: result.errors });
  out?.end();
}

const apply: Handler = async (ctx, s) => {
  const stacks = stacksOf(s);
  const req = applyRequest(await ctx.readJson());
  await streamed(ctx, s, (onProgress) => stacks.apply(param(ctx), req, onProgress));
};

const plan: Handler = async (ctx, s) => {
  const stacks = stacksOf(s);
  const req = applyRequest(await ctx.readJson());
  ctx.json(200, await stacks.plan(param(ctx), req));
};

const down: Handler = async (ctx, s) => {
  const stacks = stacksOf(s);
  const req = downRequest(await ctx.readJson());
  await streamed(ctx, s, (onProgress) => stacks.down(param(ctx), req, onProgress));
};

const list: Handler = async (ctx, s) => {
  ctx.json(200, await stacksOf(s).list());
};

const status: Handler = async (ctx, s) => {
  ctx.json(200, await stacksOf(s).status(param(ctx)));
};

export const stackRoutes: readonly ApiRoute[] = [
  route("GET", "/tsstack/stacks", list),
  route("GET", "/tsstack/stacks/{name}", status),
  route("POST", "/tsstack/stacks/{name}/apply", apply),
  route("POST", "/tsstack/stacks/{name}/plan", plan),
  route("POST", "/tsstack/stacks/{name}/down", down),
];
