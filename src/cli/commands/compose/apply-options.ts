/**
 * The flags of `up`, `scale` and `down` → the daemon's ApplyRequest and DownRequest. Pure: every
 * check of a flag's value happens here, before anything is sent, and fails as a usage error (exit 2).
 */
import type { ApplyOptions, ApplyRequest, DownRequest } from "../../../api/stack-types.js";
import type { LoadedStack } from "../../../spec/load.js";
import type { StackSpec } from "../../../spec/types.js";
import { UsageError } from "../config.js";

export interface UpFlags {
  detach?: boolean;
  wait?: boolean;
  waitTimeout?: string;
  removeOrphans?: boolean;
  forceRecreate?: boolean;
  noRecreate?: boolean;
  renewAnonVolumes?: boolean;
  scale?: string[];
  dryRun?: boolean;
  progress?: string;
}

export interface DownFlags {
  volumes?: boolean;
  removeOrphans?: boolean;
  timeout?: string;
}

/**
 * `--scale web=3 --scale worker=0` → `{ web: 3, worker: 0 }`; a later flag for the same service wins,
 * as in compose. Services the stack does not define are refused.
 */
export function parseScale(specs: readonly string[], spec?: StackSpec): Record<string, number> {
  const scale: Record<string, number> = {};
  for (const item of specs) {
    const m = /^([^=]+)=(\d+)$/.exec(item.trim());
    if (m === null)
      throw new UsageError(`invalid scale "${item}": expected SERVICE=REPLICAS (a whole number, 0 or more)`);
    const [, service = "", count = "0"] = m;
    if (spec !== undefined && !(service in spec.services))
      throw new UsageError(`invalid scale "${item}": no such service: ${service}`);
    scale[service] = Number(count);
  }
  return scale;
}

/** Whole seconds (`-t 10`, `--wait-timeout 60`); `undefined` when not given. */
export function parseSeconds(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`invalid ${flag} "${text}": expected whole seconds`);
  return Number(text);
}

/** Refuses services the stack does not define (compose: "no such service"). */
export function checkServices(spec: StackSpec, services: readonly string[]): void {
  const unknown = services.filter((s) => !(s in spec.services));
  if (unknown.length > 0) throw new UsageError(`no such service: ${unknown.join(", ")}`);
}

/** The ApplyRequest of `up [flags] [services…]` for a loaded stack. */
export function applyRequest(loaded: LoadedStack, flags: UpFlags, services: readonly string[]): ApplyRequest {
  const { spec } = loaded;
  if (flags.forceRecreate === true && flags.noRecreate === true)
    throw new UsageError("--force-recreate and --no-recreate are incompatible");
  checkServices(spec, services);
  const scale = parseScale(flags.scale ?? [], spec);
  const waitTimeout = parseSeconds("--wait-timeout", flags.waitTimeout);
  const options: ApplyOptions = {
    ...(flags.removeOrphans === true ? { removeOrphans: true } : {}),
    ...(flags.forceRecreate === true ? { forceRecreate: true } : {}),
    ...(flags.noRecreate === true ? { noRecreate: true } : {}),
    ...(flags.renewAnonVolumes === true ? { renewAnonVolumes: true } : {}),
    ...(Object.keys(scale).length > 0 ? { scale } : {}),
    ...(services.length > 0 ? { services: [...services] } : {}),
    ...(flags.wait === true ? { wait: true } : {}),
    // Like compose, --wait-timeout without --wait has nothing to bound.
    ...(flags.wait === true && waitTimeout !== undefined ? { waitTimeout } : {}),
  };
  return {
    spec,
    configFiles: [...loaded.files],
    workingDir: loaded.projectDirectory,
    options,
  };
}

/**
 * `scale web=3 worker=2`: an apply of only those services at those counts, leaving their existing
 * containers as they are (compose's scale never recreates).
 */
export function scaleRequest(loaded: LoadedStack, specs: readonly string[]): ApplyRequest {
  if (specs.length === 0) throw new UsageError("scale needs at least one SERVICE=REPLICAS");
  const scale = parseScale(specs, loaded.spec);
  return {
    spec: loaded.spec,
    configFiles: [...loaded.files],
    workingDir: loaded.projectDirectory,
    options: { scale, services: Object.keys(scale), noRecreate: true },
  };
}

export function downRequest(flags: DownFlags): DownRequest {
  const timeout = parseSeconds("--timeout", flags.timeout);
  return {
    ...(flags.volumes === true ? { volumes: true } : {}),
    ...(flags.removeOrphans === true ? { removeOrphans: true } : {}),
    ...(timeout !== undefined ? { timeout } : {}),
  };
}
