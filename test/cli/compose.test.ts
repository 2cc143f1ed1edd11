/**
 * The compose commands end to end: the CLI in-process (`main`) against a real engine daemon on a
 * temporary root and socket, applying fixture stacks (one folder per scenario under fixtures/) of the
 * busybox test image. Skipped until the daemon's stack endpoints and their client exist.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { useCliEngines, type CliEngine } from "../helpers/cli-engine.js";
import { canRunContainers, eventually } from "../helpers/engine.js";
import { useTmpDirs } from "../helpers/tmp.js";

/** The stack client the compose commands use (written in parallel; until it lands, these are skipped). */
const stackApiAvailable = existsSync(new URL("../../src/api/stack-client.ts", import.meta.url));

const tmp = useTmpDirs("tsstack-cli-compose-");
const fixture = (name: string): string =>
  join(new URL(".", import.meta.url).pathname, "fixtures", `compose-${name}`, "stack.yml");

const startStackEngine = useCliEngines(tmp);

/**
 * A daemon on a fresh root with busybox:latest; after the test, every stack it knows is taken down,
 * the daemon stopped, and nothing of it may be left.
 */
function startEngine(): Promise<CliEngine> {
  return startStackEngine({
    cleanUp: async (engine) => {
      const stacks = (await engine.cli(["ls", "-a", "-q"])).stdout.split("\n").filter((l) => l !== "");
      for (const name of stacks) await engine.cli(["-p", name, "down", "-t", "1"]);
    },
  });
}

/** `compose ps -a` as `name state` lines. */
async function states(e: CliEngine, file: string): Promise<string> {
  return (await e.cli(["compose", "-f", file, "ps", "-a", "--format", "{{.Name}} {{.State}}"])).stdout;
}

describe.skipIf(!stackApiAvailable || !canRunContainers)("compose commands against a real engine", () => {
  it("brings a stack up, lists it, finds nothing to do the second time, and takes it down", async () => {
    const e = await startEngine();
    const file = fixture("idempotent");
    const up = await e.cli(["up", "-d", "-f", file]);
    expect(up.stderr).toBe("");
    expect(up.code).toBe(0);
    expect(up.stdout).toMatch(/^Container idem-web-1 {2}Started$/m);
    expect(up.stdout).toMatch(/^Container idem-web-2 {2}Started$/m);

    const ps = await e.cli(["compose", "-f", file, "ps"]);
    expect(ps.stdout.split("\n")[0]).toMatch(/^NAME\s+IMAGE\s+COMMAND\s+SERVICE\s+CREATED\s+STATUS\s+PORTS$/);
    expect(ps.stdout).toMatch(/^idem-web-1\s+busybox:latest\s+".*"\s+web\s+.* ago\s+Up /m);
    expect(ps.stdout).toMatch(/^idem-web-2\s+busybox:latest\s+".*"\s+web\s+.* ago\s+Up /m);
    const ids = (await e.cli(["compose", "-f", file, "ps", "-q"])).stdout;

    await eventually(
      async () => {
        const logs = (await e.cli(["compose", "-f", file, "logs", "--no-color"])).stdout;
        return logs.includes("web-1 | web up\n") && logs.includes("web-2 | web up\n");
      },
      { what: "both replicas' log lines" },
    );

    const again = await e.cli(["up", "-d", "-f", file]);
    expect(again.code).toBe(0);
    expect(again.stdout).not.toMatch(/Creat|Recreat/);
    expect((await e.cli(["compose", "-f", file, "ps", "-q"])).stdout).toBe(ids);
    expect((await e.cli(["plan", "-f", file])).stdout).toBe("nothing to do\n");
    expect((await e.cli(["ls"])).stdout).toMatch(/^idem\s+running\(2\)\s+/m);

    const down = await e.cli(["down", "-f", file, "-t", "1"]);
    expect(down.code).toBe(0);
    expect(down.stdout).toMatch(/^Container idem-web-1 {2}Removed$/m);
    expect(await states(e, file)).toBe("");
  });

  it("merges the logs of every service with prefixes, stderr to stderr", async () => {
    const e = await startEngine();
    const file = fixture("logs");
    expect((await e.cli(["up", "-d", "-f", file])).code).toBe(0);
    const logs = await eventually(
      async () => {
        const r = await e.cli(["compose", "-f", file, "logs"]);
        return r.stdout.includes("worker-1 | from worker") && r.stderr.includes("oops") ? r : undefined;
      },
      { what: "both services' output" },
    );
    expect(logs.stdout).toContain("web-1    | from web\n");
    expect(logs.stderr).toBe("web-1    | oops\n");
    // --tail counts lines over both streams, as docker's: the last line of web is its stderr one.
    const last = await e.cli(["compose", "-f", file, "logs", "--tail", "1", "web"]);
    expect(last).toMatchObject({ stdout: "", stderr: "web-1 | oops\n" });
    const web = await e.cli(["compose", "-f", file, "logs", "--tail", "2", "web"]);
    expect(web.stdout).toBe("web-1 | from web\n");
    expect((await e.cli(["down", "-f", file, "-t", "1"])).code).toBe(0);
  });

  it("stops, starts and restarts the containers of one service", async () => {
    const e = await startEngine();
    const file = fixture("lifecycle");
    expect((await e.cli(["up", "-d", "-f", file])).code).toBe(0);
    const stop = await e.cli(["compose", "-f", file, "stop", "-t", "1", "web"]);
    expect(stop).toMatchObject({
      code: 0,
      stdout: "Container life-web-1  Stopping\nContainer life-web-1  Stopped\n",
    });
    expect(await states(e, file)).toBe("life-web-1 exited\nlife-worker-1 running\n");
    expect((await e.cli(["compose", "-f", file, "start"])).code).toBe(0);
    expect(await states(e, file)).toBe("life-web-1 running\nlife-worker-1 running\n");
    expect((await e.cli(["compose", "-f", file, "restart", "-t", "1", "worker"])).code).toBe(0);
    expect(await states(e, file)).toBe("life-web-1 running\nlife-worker-1 running\n");
    expect(await e.cli(["down", "-f", file, "-t", "1"])).toMatchObject({ code: 0, stderr: "" });
    expect(await states(e, file)).toBe("");
  });

  it("exits 2 for an invalid stack file without touching the engine", async () => {
    const e = await startEngine();
    const r = await e.cli(["up", "-d", "-f", join(await tmp(), "missing.yml")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/invalid stack file/);
  });
});
