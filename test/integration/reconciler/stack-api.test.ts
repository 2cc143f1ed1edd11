/**
 * The stack endpoints end to end: the engine's API server with its stacks on a real embedded engine,
 * driven through StackClient.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { startApiServer, type ApiServer } from "../../../src/api/server.js";
import { StackClient } from "../../../src/api/stack-client.js";
import type { ApplyRequest, StackProgress } from "../../../src/api/stack-types.js";
import { EngineStacks } from "../../../src/reconciler/engine-stacks.js";
import { loadStack } from "../../../src/spec/load.js";
import { canRunContainers, useEngines } from "../../helpers/engine.js";
import { call } from "../api/helpers.js";

const FIXTURE = fileURLToPath(new URL("../../e2e/fixtures/stack-api/", import.meta.url));

const engines = useEngines();
const open: { close(): Promise<void> | void }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

async function serve(withStacks = true): Promise<{ socket: string; client: StackClient }> {
  const { root, engine } = await engines();
  const socket = join(root, "engine.sock");
  const stacks = withStacks
    ? await EngineStacks.open({ root, runtime: engine, applier: { pollMs: 50 } })
    : undefined;
  if (stacks !== undefined) open.push(stacks);
  const server: ApiServer = await startApiServer({
    runtime: engine,
    root,
    socketPath: socket,
    version: "test",
    ...(stacks !== undefined ? { stacks } : {}),
  });
  open.push(server);
  const client = new StackClient(socket);
  open.push(client);
  return { socket, client };
}

function request(): ApplyRequest {
  const loaded = loadStack({
    files: [join(FIXTURE, "stack.yml")],
    workingDir: FIXTURE,
    environment: {},
    homeDir: "/root",
  });
  return { spec: loaded.spec, configFiles: loaded.files, workingDir: FIXTURE };
}

describe.skipIf(!canRunContainers)("the stack endpoints", () => {
  it("apply streams the plan and each operation, then the result; plan, list, status and down follow", async () => {
    const { client } = await serve();
    const progress: StackProgress[] = [];
    const outcome = await client.apply("apiapp", request(), (p) => progress.push(p));
    expect(outcome).toEqual({ type: "result", ok: true, errors: [] });
    expect(progress[0]).toEqual({
      type: "plan",
      text: "#1 container:db.1 create (missing)\n#2 container:app.1 create (missing) after #1 wait db:service_started",
    });
    const done = progress.flatMap((p) => (p.type === "op" && p.status === "done" ? [p.target] : []));
    expect(done).toEqual(["container:db.1", "container:app.1"]);

    expect(await client.plan("apiapp", request())).toEqual({ text: "", operations: [] });
    expect((await client.list()).map((s) => [s.Name, s.Status])).toEqual([["apiapp", "running(2)"]]);
    const status = await client.status("apiapp");
    expect(status.state).toBe("idle");
    expect(status.services.flatMap((s) => s.containers.map((c) => `${c.name} ${c.state}`))).toEqual([
      "apiapp-db-1 running",
      "apiapp-app-1 running",
    ]);

    const down = await client.down("apiapp", { timeout: 1 });
    expect(down).toEqual({ type: "result", ok: true, errors: [] });
    expect(await client.list()).toEqual([]);
    await expect(client.status("apiapp")).rejects.toMatchObject({ code: "stack/not-found" });
  });

  it("refuses a bad request with a JSON error before any stream begins", async () => {
    const { socket, client } = await serve();
    const bad = await call(socket, "POST", "/v1.41/tsstack/stacks/apiapp/apply", {
      body: JSON.stringify({ spec: "nope" }),
      headers: { "Content-Type": "application/json" },
    });
    expect(bad.status).toBe(400);
    expect(bad.json()).toMatchObject({ code: "reconciler/invalid-request" });
    await expect(client.apply("other", request())).rejects.toMatchObject({
      code: "reconciler/invalid-request",
    });
    await expect(
      client.apply("apiapp", { ...request(), options: { scale: { nope: 2 } } }),
    ).rejects.toMatchObject({ code: "reconciler/invalid-request" });
  });

  it("answers 501 when the engine runs no stacks", async () => {
    const { client } = await serve(false);
    await expect(client.list()).rejects.toMatchObject({ code: "stack/unsupported" });
  });
});
