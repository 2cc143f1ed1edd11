/**
 * The README's quick start, end to end: the example image built offline by
 * examples/hello/build-image.sh, examples/hello/stack.yml brought up on a real engine (bridge network,
 * DNS by service name, a published port, a named volume, healthchecks gating depends_on), the web
 * front answering on 127.0.0.1 with what it got from the api by name, then `down -v` leaving nothing.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { EngineStacks } from "../../src/reconciler/engine-stacks.js";
import { loadStack } from "../../src/spec/load.js";
import { canRunContainers, eventually, useEngines } from "../helpers/engine.js";

const EXAMPLE = fileURLToPath(new URL("../../examples/hello/", import.meta.url));
const built = existsSync(fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url)));
const engines = useEngines();
const opened: EngineStacks[] = [];
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => { resolve(); })); // prettier-ignore
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

describe.skipIf(!canRunContainers || !built)("the quick start example", () => {
  it("serves the web front, which reaches the api by name and reads the worker's volume", async () => {
    const { root, engine } = await engines({
      network: { bridgePrefix: "tsq", chainPrefix: "TSQ", subnetPool: "10.234.0.0/16" },
    });
    execFileSync(`${EXAMPLE}build-image.sh`, ["--root", root], { stdio: "ignore" });
    const port = await freePort();
    const loaded = loadStack({
      files: [`${EXAMPLE}stack.yml`],
      workingDir: EXAMPLE,
      environment: { WEB_PORT: String(port) },
      homeDir: "/root",
    });
    const stacks = await EngineStacks.open({ root, runtime: engine });
    opened.push(stacks);
    const up = await stacks.apply(
      "hello",
      {
        spec: loaded.spec,
        workingDir: EXAMPLE,
        options: { wait: true, waitTimeout: 60 },
      },
      () => undefined,
    );
    expect(up).toMatchObject({ ok: true });
    const page = await eventually(
      async () => {
        const res = await fetch(`http://127.0.0.1:${port}/cgi-bin/status`);
        const text = await res.text();
        return /worker ticks so far: [1-9]/.test(text) ? text : undefined;
      },
      { what: "the status page with a worker tick", timeoutMs: 20_000 },
    );
    expect(page).toContain("hello from api");
    const down = await stacks.down("hello", { volumes: true, timeout: 2 }, () => undefined);
    expect(down).toMatchObject({ ok: true });
    expect(await engine.listContainers({ all: true })).toEqual([]);
    expect(execFileSync("ip", ["-o", "link"], { encoding: "utf8" })).not.toMatch(/\btsq/);
    expect(execFileSync("iptables-save", { encoding: "utf8" })).not.toMatch(/TSQ/);
  });
});
