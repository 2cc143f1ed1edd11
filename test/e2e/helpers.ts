/**
 * What the e2e scenarios share: the engine's stack service on a test engine with short timeouts, a
 * stack request loaded from a fixture folder, and real `tsstack daemon` processes (the built CLI).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { openSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach } from "vitest";
import { ApiClient } from "../../src/api/client.js";
import type { ApplyOptions, ApplyRequest, StackProgress } from "../../src/api/stack-types.js";
import { EngineStacks } from "../../src/reconciler/engine-stacks.js";
import type { EmbeddedRuntime } from "../../src/runtime/embedded.js";
import { loadStack } from "../../src/spec/load.js";
import { eventually } from "../helpers/engine.js";

export const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
export const BIN = fileURLToPath(new URL("../../bin/tsstack.js", import.meta.url));

/**
 * `stacksOn(root, engine)` opens the stack service on a test engine; closed after each test. Call at
 * the top level after `useEngines()`, so it closes before the engine's clean-up (after-hooks run in
 * reverse).
 */
export function useStacks(): (root: string, engine: EmbeddedRuntime) => Promise<EngineStacks> {
  const opened: EngineStacks[] = [];
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
  });
  return async (root, engine) => {
    const s = await EngineStacks.open({
      root,
      runtime: engine,
      applier: { pollMs: 50, dependencyTimeoutMs: 20_000, readyTimeoutMs: 20_000 },
      loop: { backoffBaseMs: 200, backoffCapMs: 2000 },
    });
    opened.push(s);
    return s;
  };
}

/** An apply request for fixtures/<scenario>/stack.yml (plus `extra` override files there). */
export function request(
  scenario: string,
  options: ApplyOptions = {},
  extra: readonly string[] = [],
): ApplyRequest {
  const dir = join(FIXTURES, scenario);
  const files = [join(dir, "stack.yml"), ...extra.map((f) => join(dir, f))];
  const loaded = loadStack({ files, workingDir: dir, environment: {}, homeDir: "/root" });
  return { spec: loaded.spec, configFiles: loaded.files, workingDir: dir, options };
}

/** Real daemon processes started by a test; SIGKILLed after it if still alive. */
export function useDaemons(): {
  start(root: string, socket: string): ChildProcess;
  readonly all: ChildProcess[];
} {
  const all: ChildProcess[] = [];
  afterEach(() => {
    for (const d of all.splice(0)) if (d.exitCode === null && d.signalCode === null) d.kill("SIGKILL");
  });
  return {
    all,
    start(root, socket) {
      const log = openSync(join(root, "daemon.log"), "a");
      const d = spawn(
        process.execPath,
        [BIN, "daemon", "--root", root, "--socket", socket, "--run-root", join(root, "run")],
        { stdio: ["ignore", log, log] },
      );
      all.push(d);
      return d;
    },
  };
}

/** A client once the daemon on `socket` answers. */
export async function connected(socket: string): Promise<ApiClient> {
  const client = new ApiClient(socket);
  await eventually(
    async () => {
      await client.ping();
      return true;
    },
    { what: `the daemon on ${socket}` },
  );
  return client;
}

/** `stacks.apply` with the progress it reported. */
export async function applied(
  stacks: EngineStacks,
  name: string,
  req: ApplyRequest,
): Promise<{ result: Awaited<ReturnType<EngineStacks["apply"]>>; progress: StackProgress[] }> {
  const progress: StackProgress[] = [];
  const result = await stacks.apply(name, req, (p) => progress.push(p));
  return { result, progress };
}

/** Runs `sh -c script` in the container; its exit code. */
export async function sh(engine: EmbeddedRuntime, container: string, script: string): Promise<number> {
  const p = await engine.getContainer(container).exec({ Cmd: ["sh", "-c", script] });
  p.stdout.resume();
  p.stderr.resume();
  return p.exit;
}
