/**
 * The engine daemon as users run it — a separate `tsstack daemon` process (the built CLI) — killed
 * with SIGKILL while containers run: they keep running under conmon, and the restarted daemon
 * re-adopts the running one and records the exit of the one that ended while no daemon was there.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { addTestImage, assertNoLeftovers, canRunContainers, eventually } from "../helpers/engine.js";
import { useTmpDirs } from "../helpers/tmp.js";
import { connected, useDaemons } from "./helpers.js";

const built = existsSync(fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url)));
const tmp = useTmpDirs("tsstack-e2e-crash-");

const daemons = useDaemons();

describe.skipIf(!canRunContainers || !built)("the engine daemon survives kill -9", () => {
  it("leaves containers running, then re-adopts them and records exits that happened meanwhile", async () => {
    const root = await tmp();
    const socket = join(root, "engine.sock");
    await addTestImage(root);
    const first = daemons.start(root, socket);
    let client = await connected(socket);
    const runner = await client.createContainer({
      name: "runner",
      Image: "busybox:latest",
      Cmd: ["sleep", "300"],
    });
    const quitter = await client.createContainer({
      name: "quitter",
      Image: "busybox:latest",
      Cmd: ["sh", "-c", "sleep 1; echo bye; exit 7"],
    });
    await runner.start();
    await quitter.start();
    const runnerPid = (await runner.inspect()).State.Pid;
    client.close();

    first.kill("SIGKILL");
    await eventually(() => first.exitCode !== null || first.signalCode !== null, {
      what: "the daemon's death",
    });
    // The container lives on without any daemon.
    expect(() => process.kill(runnerPid, 0)).not.toThrow();
    // The quitter exits while no daemon runs.
    await new Promise((r) => setTimeout(r, 1500));

    daemons.start(root, socket);
    client = await connected(socket);
    try {
      const r = await client.getContainer("runner").inspect();
      expect(r.State).toMatchObject({ Status: "running", Pid: runnerPid });
      const q = await client.getContainer("quitter").inspect();
      expect(q.State).toMatchObject({ Status: "exited", ExitCode: 7 });
      let out = "";
      for await (const e of client.getContainer("quitter").logs()) out += e.line.toString();
      expect(out).toBe("bye\n");
      // And it is fully managed again: stop records the exit.
      await client.getContainer("runner").stop({ t: 1 });
      expect((await client.getContainer("runner").inspect()).State.Status).toBe("exited");
    } finally {
      for (const name of ["runner", "quitter"])
        await client
          .getContainer(name)
          .remove({ force: true })
          .catch(() => undefined);
      client.close();
      for (const d of daemons.all) d.kill("SIGTERM");
      await eventually(() => daemons.all.every((d) => d.exitCode !== null || d.signalCode !== null), {
        what: "the daemons to stop",
      });
    }
    assertNoLeftovers({ root, runRoot: join(root, "run") });
  });
});
