/** `/_ping`, `/version`, `/info`, `/events`. */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { availableParallelism, hostname, machine, release, totalmem } from "node:os";
import { ImageStore } from "../../runtime/images/store.js";
import type { RuntimeEvent } from "../../runtime/runtime.js";
import { describeError } from "../errors.js";
import { checkEventFilters, eventMatches, parseFilters, queryTime } from "../filters.js";
import { route } from "../router.js";
import type { ApiRoute, Handler } from "./handler.js";

/** The Engine API version this server speaks, and the oldest it accepts (Docker's minimum). */
export const API_VERSION = "1.41";
export const MIN_API_VERSION = "1.24";

/** How long `/info` waits for the image store (a CLI image command may hold it) before giving up. */
const INFO_STORE_WAIT_MS = 2000;

const ping: Handler = (ctx) => {
  const out = ctx.stream(200, {
    "Api-Version": API_VERSION,
    "Docker-Experimental": "false",
    Ostype: "linux",
    "Cache-Control": "no-cache, no-store, must-revalidate",
    Pragma: "no-cache",
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": ctx.method === "HEAD" ? "0" : "2",
  });
  out.end(ctx.method === "HEAD" ? undefined : "OK");
  return Promise.resolve();
};

/** Docker reports Go's architecture names. */
function goArch(): string {
  const map: Record<string, string> = {
    x64: "amd64",
    arm64: "arm64",
    arm: "arm",
    ia32: "386",
    s390x: "s390x",
  };
  return map[process.arch] ?? process.arch;
}

const version: Handler = (ctx, s) => {
  const details = {
    ApiVersion: API_VERSION,
    Arch: goArch(),
    MinAPIVersion: MIN_API_VERSION,
    Os: "linux",
    KernelVersion: release(),
  };
  ctx.json(200, {
    Platform: { Name: "tsstack" },
    Components: [{ Name: "Engine", Version: s.version, Details: details }],
    Version: s.version,
    ApiVersion: API_VERSION,
    MinAPIVersion: MIN_API_VERSION,
    GitCommit: "",
    GoVersion: `node ${process.version}`,
    Os: "linux",
    Arch: goArch(),
    KernelVersion: release(),
    BuildTime: "",
  });
  return Promise.resolve();
};

function operatingSystem(): string {
  try {
    const text = readFileSync("/etc/os-release", "utf8");
    return /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(text)?.[1] ?? "Linux";
  } catch {
    return "Linux";
  }
}

const info: Handler = async (ctx, s) => {
  const containers = await s.runtime.listContainers({ all: true });
  const count = (state: string): number => containers.filter((c) => c.State === state).length;
  let images = 0;
  try {
    const store = await ImageStore.open(s.root, { lockTimeoutMs: INFO_STORE_WAIT_MS });
    try {
      images = (await store.list()).length;
    } finally {
      await store.close();
    }
  } catch (error) {
    // /info is a status page: a busy store costs the image count, not the answer.
    s.log(`GET /info: counting images failed: ${describeError(error)}`);
  }
  ctx.json(200, {
    ID: createHash("sha256").update(`${hostname()}\0${s.root}`).digest("hex").slice(0, 32),
    Containers: containers.length,
    ContainersRunning: count("running"),
    ContainersPaused: count("paused"),
    ContainersStopped: containers.length - count("running") - count("paused"),
    Images: images,
    Driver: "overlay",
    DockerRootDir: s.root,
    Name: hostname(),
    NCPU: availableParallelism(),
    MemTotal: totalmem(),
    OperatingSystem: operatingSystem(),
    OSType: "linux",
    Architecture: machine(),
    KernelVersion: release(),
    ServerVersion: s.version,
    DefaultRuntime: "runc",
    Runtimes: { runc: { path: "runc" } },
    SecurityOptions: ["name=seccomp,profile=builtin", "name=no-new-privileges"],
    Labels: [],
    ExperimentalBuild: false,
    Debug: false,
    Warnings: null,
  });
};

/**
 * Newline-delimited JSON events until the client goes (or `until` passes). With `since`, the buffered
 * recent events from then on come first.
 */
const events: Handler = async (ctx, s) => {
  const since = queryTime(ctx.query, "since");
  const until = queryTime(ctx.query, "until");
  const filters = parseFilters(ctx.query.get("filters"));
  checkEventFilters(filters);
  const untilNano = until === undefined ? undefined : BigInt(Math.round(until * 1e6)) * 1000n;
  const out = ctx.stream(200, { "Content-Type": "application/json" });
  const emit = (event: RuntimeEvent): void => {
    if (untilNano !== undefined && BigInt(event.timeNano) > untilNano) return;
    if (eventMatches(event, filters)) out.write(`${JSON.stringify(event)}\n`);
  };
  // Subscribing and taking the replay in one synchronous step: no event is lost or sent twice.
  const unsubscribe = s.events.subscribe(emit);
  try {
    if (since !== undefined) for (const event of s.events.recent(since)) emit(event);
    await new Promise<void>((resolve) => {
      if (ctx.signal.aborted) {
        resolve();
        return;
      }
      ctx.signal.addEventListener("abort", () => {
        resolve();
      });
      if (until !== undefined) {
        const timer = setTimeout(resolve, Math.max(0, until * 1000 - Date.now()));
        ctx.signal.addEventListener("abort", () => {
          clearTimeout(timer);
        });
      }
    });
  } finally {
    unsubscribe();
    out.end();
  }
};

export const systemRoutes: readonly ApiRoute[] = [
  route("GET", "/_ping", ping),
  route("HEAD", "/_ping", ping),
  route("GET", "/version", version),
  route("GET", "/info", info),
  route("GET", "/events", events),
];
