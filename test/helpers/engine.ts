/**
 * Real embedded engines for tests: each gets its own temporary root and run root (so its runc state,
 * exit files and cgroup parent are its own), with the busybox test image stored as `busybox:latest`.
 * After each test every container is force-removed and the engine closed; `assertNoLeftovers` checks
 * that no runc container, mount or conmon of that engine remains.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, expect } from "vitest";
import { EmbeddedRuntime, type EmbeddedRuntimeOptions } from "../../src/runtime/embedded.js";
import { ImageStore } from "../../src/runtime/images/store.js";
import { addBusyboxImage, buildBusyboxImage, type BusyboxImageOptions } from "./busybox-image.js";
import { useTmpDirs } from "./tmp.js";

export const RUNC = ["/usr/sbin/runc", "/usr/bin/runc"].find((p) => existsSync(p));
export const CONMON = ["/usr/bin/conmon"].find((p) => existsSync(p));
/** Real containers need root, runc and conmon. */
export const canRunContainers = RUNC !== undefined && CONMON !== undefined && process.getuid?.() === 0;

export interface TestEngine {
  readonly root: string;
  readonly runRoot: string;
  readonly engine: EmbeddedRuntime;
}

/** Adds the busybox image to the store under `root` (the store is closed again). */
export async function addTestImage(
  root: string,
  name = "busybox:latest",
  opts: BusyboxImageOptions = {},
): Promise<string> {
  const store = await ImageStore.open(root);
  try {
    const rec = await addBusyboxImage(store, await buildBusyboxImage(opts), [name]);
    return rec.id;
  } finally {
    await store.close();
  }
}

/** Mount points under `dir`, from /proc/self/mountinfo. */
export function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((m) => m === dir || m.startsWith(`${dir}/`));
}

/** runc containers in a run root. */
export function runcContainers(runRoot: string): string[] {
  const runcRoot = join(runRoot, "runc");
  if (!existsSync(runcRoot) || RUNC === undefined) return [];
  const out = execFileSync(RUNC, ["--root", runcRoot, "list", "-q"], { encoding: "utf8" });
  return out.split("\n").filter((l) => l !== "");
}

export function assertNoLeftovers(e: { readonly root: string; readonly runRoot: string }): void {
  expect(runcContainers(e.runRoot)).toEqual([]);
  expect(mountsUnder(e.root)).toEqual([]);
  const conmons = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l.startsWith("/usr/bin/conmon") && l.includes(e.root));
  expect(conmons).toEqual([]);
}

/**
 * Engines for one test file: `const engines = useEngines()`, then `const { engine } = await engines()`.
 */
export function useEngines(): (opts?: Partial<EmbeddedRuntimeOptions>) => Promise<TestEngine> {
  const tmp = useTmpDirs("tsstack-engine-");
  const made: TestEngine[] = [];
  afterEach(async () => {
    for (const e of made.splice(0)) {
      // A test that closed its engine (to reopen the root) cleans up through the engine it reopened.
      if (!e.engine.closed) await removeAll(e.engine);
      await e.engine.close();
      assertNoLeftovers(e);
    }
  });
  return async (opts = {}) => {
    const root = await tmp();
    const runRoot = join(root, "run");
    await addTestImage(root);
    const engine = await EmbeddedRuntime.open({ root, runRoot, exitPollMs: 200, ...opts });
    const e = { root, runRoot, engine };
    made.push(e);
    return e;
  };
}

export async function removeAll(engine: EmbeddedRuntime): Promise<void> {
  for (const c of await engine.listContainers({ all: true }))
    await engine
      .getContainer(c.Id)
      .remove({ force: true })
      .catch((e: unknown) => {
        if ((e as { code?: string }).code !== "container/not-found") throw e;
      });
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 10_000, what = "condition" }: { timeoutMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError });
    await new Promise((r) => setTimeout(r, delay));
  }
}

/** Collects a container's log text. */
export async function logText(
  engine: EmbeddedRuntime,
  id: string,
  opts: { stdout?: boolean; stderr?: boolean } = {},
): Promise<string> {
  let s = "";
  for await (const e of engine.getContainer(id).logs(opts)) s += e.line.toString();
  return s;
}
