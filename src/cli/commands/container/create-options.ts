/**
 * `run` / `create` flags → the Engine API's create body, as the docker CLI builds it (cli/command/
 * container/opts.go). Pure: the caller reads `--env-file` files and passes the process environment.
 */
import { TsstackError } from "../../../common/errors.js";
import type { ContainerCreateOptions, HostConfig } from "../../../runtime/runtime.js";
import { parseBytes } from "../../../spec/units.js";

/** The flags of `run` / `create` as commander parses them (repeatable flags are arrays). */
export interface CreateFlags {
  name?: string;
  interactive?: boolean;
  tty?: boolean;
  rm?: boolean;
  env?: string[];
  envFile?: string[];
  workdir?: string;
  user?: string;
  entrypoint?: string;
  hostname?: string;
  label?: string[];
  memory?: string;
  memorySwap?: string;
  cpus?: string;
  cpuShares?: string;
  cpusetCpus?: string;
  pidsLimit?: string;
  readOnly?: boolean;
  tmpfs?: string[];
  capAdd?: string[];
  capDrop?: string[];
  privileged?: boolean;
  init?: boolean;
  sysctl?: string[];
  ulimit?: string[];
  device?: string[];
  shmSize?: string;
  stopSignal?: string;
  stopTimeout?: string;
  securityOpt?: string[];
  network?: string;
  restart?: string;
}

export interface CreateInput {
  readonly image: string;
  /** Words after the image: the container's Cmd (the image's when empty). */
  readonly command: readonly string[];
  readonly flags: CreateFlags;
  /** Contents of each `--env-file`, in flag order. */
  readonly envFiles?: readonly { readonly path: string; readonly text: string }[];
  /** The CLI's environment, for `-e NAME` and bare names in env files. */
  readonly lookupEnv: (name: string) => string | undefined;
}

/** A flag value docker would refuse; `run`/`create` report it and exit 125. */
export function invalidFlag(flag: string, value: string, why: string): TsstackError {
  return new TsstackError(
    "container/invalid-config",
    `invalid argument "${value}" for "${flag}" flag: ${why}`,
  );
}

export function buildCreateOptions(input: CreateInput): ContainerCreateOptions {
  const f = input.flags;
  const env = environment(input.envFiles ?? [], f.env ?? [], input.lookupEnv);
  const restart = f.restart !== undefined ? parseRestartPolicy(f.restart) : undefined;
  if (f.rm === true && restart !== undefined && restart.Name !== "no") {
    throw new TsstackError("container/invalid-config", "conflicting options: --restart and --rm");
  }
  const caps = effectiveCaps(f.capAdd ?? [], f.capDrop ?? []);
  const hostConfig: HostConfig = {
    ...(f.memory !== undefined ? { Memory: size("--memory", f.memory) } : {}),
    ...(f.memorySwap !== undefined ? { MemorySwap: memorySwap(f.memorySwap) } : {}),
    ...(f.cpus !== undefined ? { NanoCpus: nanoCpus(f.cpus) } : {}),
    ...(f.cpuShares !== undefined ? { CpuShares: integer("--cpu-shares", f.cpuShares) } : {}),
    ...(f.cpusetCpus !== undefined ? { CpusetCpus: cpuset(f.cpusetCpus) } : {}),
    ...(f.pidsLimit !== undefined ? { PidsLimit: integer("--pids-limit", f.pidsLimit) } : {}),
    ...(f.readOnly === true ? { ReadonlyRootfs: true } : {}),
    ...(f.tmpfs !== undefined ? { Tmpfs: tmpfsMounts(f.tmpfs) } : {}),
    ...(caps.add.length > 0 ? { CapAdd: caps.add } : {}),
    ...(caps.drop.length > 0 ? { CapDrop: caps.drop } : {}),
    ...(f.privileged === true ? { Privileged: true } : {}),
    ...(f.init === true ? { Init: true } : {}),
    ...(f.sysctl !== undefined ? { Sysctls: keyValues("--sysctl", f.sysctl) } : {}),
    ...(f.ulimit !== undefined ? { Ulimits: ulimits(f.ulimit) } : {}),
    ...(f.device !== undefined ? { Devices: f.device.map(device) } : {}),
    ...(f.shmSize !== undefined ? { ShmSize: size("--shm-size", f.shmSize) } : {}),
    ...(f.securityOpt !== undefined ? { SecurityOpt: f.securityOpt.map(securityOpt) } : {}),
    ...(f.rm === true ? { AutoRemove: true } : {}),
    ...(f.network !== undefined ? { NetworkMode: f.network } : {}),
    ...(restart !== undefined ? { RestartPolicy: restart } : {}),
  };
  const interactive = f.interactive === true;
  return {
    ...(f.name !== undefined ? { name: f.name } : {}),
    Image: input.image,
    ...(input.command.length > 0 ? { Cmd: [...input.command] } : {}),
    // `--entrypoint ""` resets the image's entrypoint; docker sends [""] for that.
    ...(f.entrypoint !== undefined ? { Entrypoint: [f.entrypoint] } : {}),
    ...(env.length > 0 ? { Env: env } : {}),
    ...(f.workdir !== undefined ? { WorkingDir: f.workdir } : {}),
    ...(f.user !== undefined ? { User: f.user } : {}),
    ...(f.hostname !== undefined ? { Hostname: f.hostname } : {}),
    ...(f.label !== undefined ? { Labels: labels(f.label) } : {}),
    ...(f.tty === true ? { Tty: true } : {}),
    ...(interactive ? { OpenStdin: true } : {}),
    ...(f.stopSignal !== undefined ? { StopSignal: f.stopSignal } : {}),
    ...(f.stopTimeout !== undefined ? { StopTimeout: integer("--stop-timeout", f.stopTimeout) } : {}),
    ...(Object.keys(hostConfig).length > 0 ? { HostConfig: hostConfig } : {}),
  };
}

/** `--env-file` entries first, then `-e` ones (a later entry of a name wins, in the engine). */
export function environment(
  envFiles: readonly { readonly path: string; readonly text: string }[],
  env: readonly string[],
  lookupEnv: (name: string) => string | undefined,
): string[] {
  return [
    ...envFiles.flatMap((file) => parseEnvFile(file.text, file.path, lookupEnv)),
    ...env.flatMap((e) => envEntry(e, lookupEnv)),
  ];
}

/**
 * `-e K=V` as given; `-e K` takes K from the CLI's environment. docker forwards an unset `K` bare
 * (which the daemon reads as "unset K"); tsstack drops it, which has the same effect on a fresh
 * container and keeps `Env` in `K=V` form.
 */
function envEntry(entry: string, lookupEnv: (name: string) => string | undefined): string[] {
  const eq = entry.indexOf("=");
  const name = eq === -1 ? entry : entry.slice(0, eq);
  if (name === "") throw invalidFlag("--env", entry, "invalid environment variable");
  if (eq !== -1) return [entry];
  const value = lookupEnv(name);
  return value === undefined ? [] : [`${name}=${value}`];
}

/**
 * docker's `--env-file` format (opts/file.go), which is not a shell or Compose `.env` file: one
 * `NAME=value` per line taken literally (no quotes, no interpolation), `#` comment lines and blank
 * lines skipped, leading whitespace trimmed, a bare `NAME` taken from the environment when set.
 */
export function parseEnvFile(
  text: string,
  path: string,
  lookupEnv: (name: string) => string | undefined,
): string[] {
  const out: string[] = [];
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trimStart();
    if (line === "" || line.startsWith("#")) return;
    const eq = line.indexOf("=");
    const name = eq === -1 ? line : line.slice(0, eq);
    const where = `${path}:${i + 1}`;
    if (name === "") throw new TsstackError("container/invalid-config", `${where}: no variable name`);
    if (/\s/.test(name)) {
      throw new TsstackError("container/invalid-config", `${where}: variable '${name}' contains whitespaces`);
    }
    if (eq !== -1) out.push(line);
    else {
      const value = lookupEnv(name);
      if (value !== undefined) out.push(`${name}=${value}`);
    }
  });
  return out;
}

/** `-l k=v` / `-l k` (empty value), the last one of a key winning. */
function labels(entries: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of entries) {
    const eq = e.indexOf("=");
    const key = eq === -1 ? e : e.slice(0, eq);
    if (key === "") throw invalidFlag("--label", e, "empty label name");
    out[key] = eq === -1 ? "" : e.slice(eq + 1);
  }
  return out;
}

function keyValues(flag: string, entries: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of entries) {
    const eq = e.indexOf("=");
    if (eq <= 0) throw invalidFlag(flag, e, "expected KEY=VALUE");
    out[e.slice(0, eq)] = e.slice(eq + 1);
  }
  return out;
}

/** docker's RAMInBytes: `64m`, `1g`, `1.5GiB`, or bytes; units are binary. */
export function size(flag: string, text: string): number {
  const n = parseBytes(text);
  if (n === undefined) throw invalidFlag(flag, text, `invalid size: '${text}'`);
  return n;
}

/** `--memory-swap`: a size, or -1 for unlimited swap. */
function memorySwap(text: string): number {
  return text === "-1" ? -1 : size("--memory-swap", text);
}

/** `--cpus 1.5` → 1_500_000_000 NanoCpus, exactly (docker refuses more than nine decimals). */
export function nanoCpus(text: string): number {
  const m = /^(\d*)(?:\.(\d*))?$/.exec(text.trim());
  if (m === null || (m[1] === "" && (m[2] ?? "") === "")) {
    throw invalidFlag("--cpus", text, "expected a number of CPUs, e.g. 0.5 or 2");
  }
  const fraction = (m[2] ?? "").replace(/0+$/, "");
  if (fraction.length > 9) throw invalidFlag("--cpus", text, "value is too precise");
  return Number(m[1] === "" ? "0" : m[1]) * 1e9 + Number(fraction.padEnd(9, "0"));
}

function integer(flag: string, text: string): number {
  if (!/^-?\d+$/.test(text.trim())) throw invalidFlag(flag, text, "expected an integer");
  return Number(text);
}

function cpuset(text: string): string {
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(text)) {
    throw invalidFlag("--cpuset-cpus", text, "expected CPU numbers and ranges, e.g. 0-2,4");
  }
  return text;
}

/** `--tmpfs /run[:opts]`: the path must be absolute; options as mount(8) writes them. */
function tmpfsMounts(entries: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of entries) {
    const colon = e.indexOf(":");
    const path = colon === -1 ? e : e.slice(0, colon);
    if (!path.startsWith("/")) throw invalidFlag("--tmpfs", e, "the mount path must be absolute");
    out[path] = colon === -1 ? "" : e.slice(colon + 1);
  }
  return out;
}

/**
 * docker's EffectiveCapAddCapDrop: names upper-cased with a `CAP_` prefix (except `ALL`); a capability
 * both added and dropped is added; `--cap-add ALL` makes the other additions moot.
 */
export function effectiveCaps(
  add: readonly string[],
  drop: readonly string[],
): { add: string[]; drop: string[] } {
  const normalize = (c: string): string => {
    const up = c.trim().toUpperCase();
    return up === "ALL" || up.startsWith("CAP_") ? up : `CAP_${up}`;
  };
  const added = new Set(add.map(normalize));
  const dropped = new Set(drop.map(normalize));
  return {
    add: added.has("ALL") ? ["ALL"] : [...added].sort(),
    drop: dropped.has("ALL") ? ["ALL"] : [...dropped].filter((c) => !added.has(c)).sort(),
  };
}

const ULIMIT_NAMES = new Set([
  "core",
  "cpu",
  "data",
  "fsize",
  "locks",
  "memlock",
  "msgqueue",
  "nice",
  "nofile",
  "nproc",
  "rss",
  "rtprio",
  "rttime",
  "sigpending",
  "stack",
]);

/** `--ulimit nofile=1024[:2048]`: hard defaults to soft; -1 is unlimited; the last of a name wins. */
export function ulimits(entries: readonly string[]): { Name: string; Soft: number; Hard: number }[] {
  const byName = new Map<string, { Name: string; Soft: number; Hard: number }>();
  for (const e of entries) {
    const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(e);
    if (m === null) throw invalidFlag("--ulimit", e, "expected NAME=SOFT[:HARD], e.g. nofile=1024:2048");
    const [, name = "", softText = "", hardText] = m;
    if (!ULIMIT_NAMES.has(name)) throw invalidFlag("--ulimit", e, `invalid ulimit type: ${name}`);
    const soft = Number(softText);
    const hard = hardText === undefined ? soft : Number(hardText);
    if (soft !== -1 && hard !== -1 && soft > hard) {
      throw invalidFlag(
        "--ulimit",
        e,
        `ulimit soft limit must be less than or equal to hard limit: ${soft} > ${hard}`,
      );
    }
    byName.set(name, { Name: name, Soft: soft, Hard: hard });
  }
  return [...byName.values()];
}

/** `--device /dev/x[:/dev/y][:rwm]`: same path inside by default, permissions `rwm`. */
export function device(spec: string): {
  PathOnHost: string;
  PathInContainer: string;
  CgroupPermissions: string;
} {
  const parts = spec.split(":");
  const isPermissions = (s: string | undefined): s is string => s !== undefined && /^[rwm]{1,3}$/.test(s);
  const [host = "", second, third, ...rest] = parts;
  let inside = host;
  let permissions = "rwm";
  if (third !== undefined) {
    if (second === undefined || !isPermissions(third) || rest.length > 0) {
      throw invalidFlag("--device", spec, "expected HOST[:CONTAINER][:PERMISSIONS]");
    }
    inside = second;
    permissions = third;
  } else if (second !== undefined) {
    if (isPermissions(second)) permissions = second;
    else inside = second;
  }
  if (!host.startsWith("/") || !inside.startsWith("/")) {
    throw invalidFlag("--device", spec, "device paths must be absolute");
  }
  return { PathOnHost: host, PathInContainer: inside, CgroupPermissions: permissions };
}

/**
 * `--security-opt`: docker accepts `no-new-privileges`, `no-new-privileges=B` and `…:B`; they are sent
 * in the `no-new-privileges:B` form the runtime reads. Other options go through for the runtime to
 * judge.
 */
function securityOpt(opt: string): string {
  const m = /^no-new-privileges(?:[=:](.*))?$/.exec(opt);
  if (m === null) return opt;
  const value = m[1] ?? "true";
  if (value !== "true" && value !== "false") {
    throw invalidFlag("--security-opt", opt, "no-new-privileges takes true or false");
  }
  return `no-new-privileges:${value}`;
}

/** `--restart no|always|unless-stopped|on-failure[:max-retries]`. */
export function parseRestartPolicy(text: string): { Name: string; MaximumRetryCount?: number } {
  const m = /^(no|always|unless-stopped|on-failure)(?::(\d+))?$/.exec(text);
  if (m === null || (m[2] !== undefined && m[1] !== "on-failure")) {
    throw invalidFlag("--restart", text, "expected no, always, unless-stopped or on-failure[:max-retries]");
  }
  const name = m[1] ?? "no";
  return m[2] !== undefined ? { Name: name, MaximumRetryCount: Number(m[2]) } : { Name: name };
}
