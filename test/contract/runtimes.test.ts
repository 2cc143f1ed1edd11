/**
 * The Runtime contract against each implementation: the embedded engine in-process, and the same
 * engine behind the daemon's Docker-shaped API (ApiClient → server → EmbeddedRuntime).
 */
import { join } from "node:path";
import { afterEach } from "vitest";
import { ApiClient } from "../../src/api/client.js";
import { startApiServer } from "../../src/api/server.js";
import { canRunContainers, useEngines } from "../helpers/engine.js";
import { runtimeContract } from "./runtime-contract.js";

const engines = useEngines();

runtimeContract("embedded (in-process)", canRunContainers, async () => {
  const { engine } = await engines();
  return { runtime: engine, image: "busybox:latest" };
});

const servers: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

runtimeContract("embedded through the daemon API", canRunContainers, async () => {
  const { engine, root } = await engines();
  const server = await startApiServer({
    runtime: engine,
    root,
    socketPath: join(root, "api.sock"),
    version: "test",
  });
  const client = new ApiClient(server.socketPath);
  servers.push({
    close: async () => {
      client.close();
      await server.close();
    },
  });
  return { runtime: client, image: "busybox:latest" };
});
