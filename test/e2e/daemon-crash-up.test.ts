/**
 * `kill -9` of the real daemon process (the built CLI's `tsstack daemon`) while an `up` of a six-service
 * stack is in progress; after a restart, `up` again converges with exactly one container per replica,
 * and `down` leaves nothing behind.
 */
import type { ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { ApiClient } from "../../src/api/client.js";
import { StackClient } from "../../src/api/stack-client.js";
import type { ApplyRequest } from "../../src/api/stack-types.js";
import { LABEL_PROJECT } from "../../src/reconciler/labels.js";
import { loadStack } from "../../src/spec/load.js";
import { addTestImage, assertNoLeftovers, canRunContainers, eventually } from "../helpers/engine.js";
import { useTmpDirs } from "../helpers/tmp.js";
import { connected, useDaemons } from "./helpers.js";

const built = existsSync(fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url)));
const FIXTURE = fileURLToPath(new URL("./fixtures/crash-up/", import.meta.url));
const tmp = useTmpDirs("tsstack-e2e-crash-up-");

const daemons = useDaemons();

function exited(d: ChildProcess): boolean {
  return d.exitCode !== null || d.signalCode !== null;
}

function request(): ApplyRequest {
  const loaded = loadStack({
    files: [join(FIXTURE, "stack.yml")],
    workingDir: FIXTURE,
    environment: {},
    homeDir: "/root",
  });
  return { spec: loaded.spec, configFiles: loaded.files, workingDir: FIXTURE, options: {} };
}

async function namesOf(client: ApiClient): Promise<string[]> {
  const list = await client.listContainers({ all: true, filters: { label: [`${LABEL_PROJECT}=crashup`] } });
  return list.map((c) => (c.Names[0] ?? "").replace(/^\//, "")).sort();
}

describe.skipIf(!canRunContainers || !built)("kill -9 of the daemon during up", () => {
  it("converges on the next up with exactly one container per replica, and down leaves nothing", async () => {
    const root = await tmp();
    const socket = join(root, "engine.sock");
    await addTestImage(root);
    const first = daemons.start(root, socket);
    const api = await connected(socket);
    const stacks = new StackClient(api);

    // The apply's stream breaks when the daemon dies: its outcome is not what the test looks at.
    const interrupted = stacks.apply("crashup", request()).then(
      (r) => r,
      (e: unknown) => e,
    );
    await eventually(async () => (await namesOf(api)).length > 0, {
      what: "the first container of the stack",
    });
    first.kill("SIGKILL");
    await eventually(() => exited(first), { what: "the daemon's death" });
    await interrupted;
    api.close();
    const partial = await (async () => {
      // Left as the crash left it; counted again once a daemon answers.
      daemons.start(root, socket);
      const again = await connected(socket);
      return { again, names: await namesOf(again) };
    })();
    const { again } = partial;
    // Killed in the middle: not everything was there yet.
    expect(partial.names.length).toBeLessThan(8);

    const client = new StackClient(again);
    try {
      const result = await client.apply("crashup", request(), undefined, AbortSignal.timeout(30_000));
      expect(result).toMatchObject({ ok: true, errors: [] });
      const expected = [
        "crashup-api-1",
        "crashup-api-2",
        "crashup-cache-1",
        "crashup-cron-1",
        "crashup-db-1",
        "crashup-web-1",
        "crashup-worker-1",
        "crashup-worker-2",
      ];
      expect(await namesOf(again)).toEqual(expected);
      const states = await again.listContainers({
        all: true,
        filters: { label: [`${LABEL_PROJECT}=crashup`] },
      });
      expect(states.map((c) => c.State)).toEqual(expected.map(() => "running"));
      // Settled: another up changes nothing.
      expect((await client.plan("crashup", request())).text).toBe("");

      const down = await client.down("crashup", { timeout: 1 });
      expect(down).toMatchObject({ ok: true, errors: [] });
      expect(await namesOf(again)).toEqual([]);
    } catch (error) {
      // The daemon's log says what it was doing; the temporary root goes with the test.
      throw new Error(
        `${String(error)}\n--- daemon.log ---\n${readFileSync(join(root, "daemon.log"), "utf8")}`,
        {
          cause: error,
        },
      );
    } finally {
      // After a failure too: no container of the test outlives it.
      await client.down("crashup", { timeout: 1 }).catch(() => undefined);
      again.close();
      for (const d of daemons.all) if (!exited(d)) d.kill("SIGTERM");
      await eventually(() => daemons.all.every(exited), { what: "the daemons to stop" });
    }
    assertNoLeftovers({ root, runRoot: join(root, "run") });
  });
});
