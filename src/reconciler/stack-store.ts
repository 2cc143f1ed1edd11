/**
 * The desired state of every applied stack, one file each under `<root>/stacks/<name>.json`, written
 * atomically: the daemon reads them at start and resumes reconciling, so a stack keeps converging across
 * daemon restarts and crashes.
 */
import { mkdir, readdir, readFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import { isAtomicTempName, writeFileAtomic } from "../common/atomic.js";
import { TsstackError } from "../common/errors.js";
import type { ApplyOptions, ApplyRequest } from "../api/stack-types.js";

const VERSION = 1;

/** Project names as the loader accepts them; also what makes `<name>.json` a safe file name. */
export const STACK_NAME_RE = /^[a-z0-9][a-z0-9_-]*$/;

export interface StoredStack {
  readonly version: typeof VERSION;
  readonly name: string;
  /**
   * The request as applied, without its one-shot options (`forceRecreate`, `renewAnonVolumes`, `wait`,
   * `waitTimeout`).
   */
  readonly request: ApplyRequest;
  /** The request stored before this one (same form): what a failed rolling update rolls back to. */
  readonly previous?: ApplyRequest;
  /** RFC 3339. */
  readonly appliedAt: string;
}

export class StackStore {
  readonly dir: string;

  constructor(root: string) {
    this.dir = join(root, "stacks");
  }

  /** Every stored stack; a file that cannot be read is reported through `onBad` and skipped. */
  async list(onBad: (file: string, error: unknown) => void = () => undefined): Promise<StoredStack[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
    const out: StoredStack[] = [];
    for (const file of names.sort()) {
      if (!file.endsWith(".json") || isAtomicTempName(file)) continue;
      try {
        const stored = parse(await readFile(join(this.dir, file), "utf8"));
        if (`${stored.name}.json` !== file) throw new Error(`it holds stack "${stored.name}"`);
        out.push(stored);
      } catch (error) {
        onBad(join(this.dir, file), error);
      }
    }
    return out;
  }

  async get(name: string): Promise<StoredStack | undefined> {
    try {
      return parse(await readFile(this.#path(name), "utf8"));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new TsstackError("stack/store", `reading stack ${name} from ${this.#path(name)}`, {
        cause: error,
      });
    }
  }

  /**
   * Stores `request` (minus its one-shot options) as the desired state of `name`; the request stored
   * until now becomes its `previous`, unless `previous` is given (a rollback keeps the one before).
   */
  async put(
    name: string,
    request: ApplyRequest,
    appliedAt: string,
    previous?: ApplyRequest,
  ): Promise<StoredStack> {
    const before = previous ?? (await this.get(name))?.request;
    const stored: StoredStack = {
      version: VERSION,
      name,
      request: lasting(request),
      ...(before !== undefined ? { previous: before } : {}),
      appliedAt,
    };
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.#path(name), `${JSON.stringify(stored)}\n`, 0o600);
    return stored;
  }

  async delete(name: string): Promise<void> {
    await unlink(this.#path(name)).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    });
  }

  #path(name: string): string {
    if (!STACK_NAME_RE.test(name))
      throw new TsstackError("reconciler/invalid-request", `invalid stack name "${name}"`);
    return join(this.dir, `${name}.json`);
  }
}

function parse(text: string): StoredStack {
  const value = JSON.parse(text) as Partial<StoredStack>;
  if (value.version !== VERSION || typeof value.name !== "string" || typeof value.request !== "object")
    throw new Error(`not a version ${String(VERSION)} stack record`);
  return value as StoredStack;
}

/** The options that describe the desired state, not one apply. */
function lasting(request: ApplyRequest): ApplyRequest {
  const {
    forceRecreate: _f,
    renewAnonVolumes: _r,
    wait: _w,
    waitTimeout: _t,
    ...rest
  }: ApplyOptions = request.options ?? {};
  return { ...request, options: rest };
}
