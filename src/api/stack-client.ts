/**
 * The client side of the engine's stack endpoints (contract: stack-types.ts), over an `ApiClient`'s
 * socket. `apply` and `down` read the NDJSON progress stream, hand each line to `onProgress`, and
 * resolve with the stream's final `result`.
 */
import type { IncomingMessage } from "node:http";
import { TsstackError } from "../common/errors.js";
import { ApiClient } from "./client.js";
import type {
  ApplyRequest,
  DownRequest,
  PlanResponse,
  StackProgress,
  StackStatus,
  StackSummary,
} from "./stack-types.js";

/** The last line of an apply or down stream. */
export type StackOutcome = Extract<StackProgress, { type: "result" }>;

export class StackClient {
  readonly #api: ApiClient;
  readonly #owned: boolean;

  /** On an existing ApiClient (its connections are shared), or on a socket path (then `close` closes). */
  constructor(api: ApiClient | string) {
    this.#owned = typeof api === "string";
    this.#api = typeof api === "string" ? new ApiClient(api) : api;
  }

  close(): void {
    if (this.#owned) this.#api.close();
  }

  /** Applies `req` as the desired state of stack `name`; resolves when the engine's pass has settled. */
  async apply(
    name: string,
    req: ApplyRequest,
    onProgress: (p: StackProgress) => void = () => undefined,
    signal?: AbortSignal,
  ): Promise<StackOutcome> {
    const res = await this.#api.send("POST", `/tsstack/stacks/${enc(name)}/apply`, {
      json: req,
      ...(signal !== undefined ? { signal } : {}),
    });
    return readProgress(res, `applying stack ${name}`, onProgress);
  }

  /** What applying `req` would do, changing nothing. */
  async plan(name: string, req: ApplyRequest): Promise<PlanResponse> {
    return this.#json<PlanResponse>("POST", `/tsstack/stacks/${enc(name)}/plan`, req);
  }

  /** Stops reconciling stack `name` and removes its containers and networks (and volumes with `volumes`). */
  async down(
    name: string,
    req: DownRequest = {},
    onProgress: (p: StackProgress) => void = () => undefined,
    signal?: AbortSignal,
  ): Promise<StackOutcome> {
    const res = await this.#api.send("POST", `/tsstack/stacks/${enc(name)}/down`, {
      json: req,
      ...(signal !== undefined ? { signal } : {}),
    });
    return readProgress(res, `taking stack ${name} down`, onProgress);
  }

  list(): Promise<StackSummary[]> {
    return this.#json<StackSummary[]>("GET", "/tsstack/stacks");
  }

  /** `stack/not-found` for a stack the engine neither reconciles nor has containers of. */
  status(name: string): Promise<StackStatus> {
    return this.#json<StackStatus>("GET", `/tsstack/stacks/${enc(name)}`);
  }

  async #json<T>(method: string, path: string, json?: unknown): Promise<T> {
    const res = await this.#api.send(method, path, json !== undefined ? { json } : {});
    const text = await readText(res);
    try {
      return JSON.parse(text) as T;
    } catch (error) {
      throw new TsstackError(
        "engine/bad-response",
        `${method} ${path}: the engine answered with invalid JSON`,
        {
          cause: error,
        },
      );
    }
  }
}

function enc(name: string): string {
  return encodeURIComponent(name);
}

async function readText(res: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of res as AsyncIterable<Buffer>) parts.push(chunk);
  return Buffer.concat(parts).toString("utf8");
}

/** Reads NDJSON progress lines until the `result` line. */
async function readProgress(
  res: IncomingMessage,
  what: string,
  onProgress: (p: StackProgress) => void,
): Promise<StackOutcome> {
  let buffered = "";
  let result: StackOutcome | undefined;
  const take = (line: string): void => {
    if (line.trim() === "") return;
    let p: StackProgress;
    try {
      p = JSON.parse(line) as StackProgress;
    } catch (error) {
      throw new TsstackError(
        "engine/bad-response",
        `${what}: the engine sent a line that is not JSON: ${line}`,
        {
          cause: error,
        },
      );
    }
    if (p.type === "result") result = p;
    else onProgress(p);
  };
  res.setEncoding("utf8");
  for await (const chunk of res as AsyncIterable<string>) {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      take(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
    }
  }
  take(buffered);
  if (result === undefined)
    throw new TsstackError(
      "engine/bad-response",
      `${what}: the engine's stream ended without a result (did the engine stop?)`,
    );
  return result;
}
