/**
 * ApiClient against the API server on a temporary unix socket, with the recording Runtime double
 * behind it (runtime-double.ts): this checks the client's encoding and decoding of the HTTP layer,
 * not container behaviour.
 */
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { ApiClient } from "../../../src/api/client.js";
import { TsstackError } from "../../../src/common/errors.js";
import { ImageStore } from "../../../src/runtime/images/store.js";
import type { RuntimeEvent } from "../../../src/runtime/runtime.js";
import { addBusyboxImage, buildBusyboxImage } from "../../helpers/busybox-image.js";
import { useTmpDirs } from "../../helpers/tmp.js";
import { eventually, useTestServers } from "./helpers.js";

const startServer = useTestServers();
const tmp = useTmpDirs("tsstack-api-client-");

async function clientFor(
  root?: string,
): Promise<{ client: ApiClient; runtime: Awaited<ReturnType<typeof startServer>>["runtime"] }> {
  const { socketPath, runtime } = await startServer(root !== undefined ? { root } : {});
  return { client: new ApiClient(socketPath), runtime };
}

async function collect(stream: NodeJS.ReadableStream): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) parts.push(chunk);
  return Buffer.concat(parts).toString();
}

async function rejection(p: Promise<unknown>): Promise<TsstackError> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TsstackError);
  return error as TsstackError;
}

describe("ApiClient", () => {
  it("pings, reads the version and fails with engine/unavailable when nothing listens", async () => {
    const { client } = await clientFor();
    await client.ping();
    expect(await client.version()).toMatchObject({ ApiVersion: "1.41", Version: "0.0.0-test" });
    const nobody = new ApiClient(`${await tmp()}/none.sock`);
    const error = await rejection(nobody.ping());
    expect(error.code).toBe("engine/unavailable");
    expect(error.message).toContain("none.sock");
    client.close();
  });

  it("creates, starts, waits for and reads the logs of a container", async () => {
    const { client } = await clientFor();
    const c = await client.createContainer({
      name: "job",
      Image: "busybox",
      Cmd: ["fail", "2", "went", "wrong"],
    });
    expect(c.id).toMatch(/^[0-9a-f]{64}$/);
    const exited = c.wait({ condition: "next-exit" });
    await c.start();
    expect(await exited).toEqual({ StatusCode: 2 });
    const entries = [];
    for await (const e of c.logs()) entries.push(e);
    expect(entries).toHaveLength(1);
    expect(entries[0]?.stream).toBe("stderr");
    expect(entries[0]?.line.toString()).toBe("went wrong\n");
    expect(entries[0]?.time).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect((await c.inspect()).State).toMatchObject({ Status: "exited", ExitCode: 2 });
    const listed = await client.listContainers({ all: true, filters: { name: ["job"] } });
    expect(listed.map((s) => s.Names)).toEqual([["/job"]]);
    await c.remove();
    client.close();
  });

  it("turns the daemon's errors into TsstackErrors with the runtime's codes", async () => {
    const { client } = await clientFor();
    expect((await rejection(client.getContainer("ghost").inspect())).code).toBe("container/not-found");
    expect((await rejection(client.createContainer({ Image: "missing" }))).code).toBe("image/not-found");
    await client.createContainer({ name: "a", Image: "busybox", Cmd: ["sleep"] });
    const conflict = await rejection(client.createContainer({ name: "a", Image: "busybox" }));
    expect(conflict.code).toBe("container/conflict");
    expect(conflict.message).toContain('"/a" is already in use');
    expect((await rejection(client.getContainer("a").kill())).code).toBe("container/not-running");
    expect((await rejection(client.createContainer({ name: "-bad", Image: "busybox" }))).code).toBe(
      "container/invalid-config",
    );
    client.close();
  });

  it("runs an exec with stdin, stdout and its exit code", async () => {
    const { client } = await clientFor();
    const c = await client.createContainer({ Image: "busybox", Cmd: ["sleep"] });
    await c.start();
    const cat = await c.exec({ Cmd: ["cat"] });
    const out = collect(cat.stdout);
    cat.stdin.write("ping\n");
    cat.stdin.end("pong\n");
    expect(await out).toBe("ping\npong\n");
    expect(await cat.exit).toBe(0);
    const failing = await c.exec({ Cmd: ["fail", "5", "nope"] });
    expect(await collect(failing.stderr)).toBe("nope\n");
    expect(await failing.exit).toBe(5);
    const tty = await c.exec({ Cmd: ["echo", "in", "tty"], Tty: true });
    expect(await collect(tty.stdout)).toBe("in tty\n");
    expect(await tty.exit).toBe(0);
    client.close();
  });

  it("attaches to a container's stdio and resolves with its exit code", async () => {
    const { client } = await clientFor();
    const c = await client.createContainer({ Image: "busybox", Cmd: ["cat"], OpenStdin: true });
    await c.start();
    const session = await c.attach({ stdin: true });
    const out = collect(session.stdout);
    session.stdin.end("through attach\n");
    expect(await out).toBe("through attach\n");
    expect(await session.exit).toBe(0);
    client.close();
  });

  it("detaches from an attach session when its signal aborts", async () => {
    const { client } = await clientFor();
    const c = await client.createContainer({ Image: "busybox", Cmd: ["sleep"] });
    await c.start();
    const abort = new AbortController();
    const session = await c.attach({ signal: abort.signal });
    abort.abort();
    expect((await rejection(session.exit)).code).toBe("engine/detached");
    client.close();
  });

  it("streams events until its signal aborts", async () => {
    const { client, runtime } = await clientFor();
    const abort = new AbortController();
    const seen: RuntimeEvent[] = [];
    const reading = (async () => {
      for await (const e of client.getEvents({ signal: abort.signal })) {
        seen.push(e);
        if (e.Actor.ID === "last") abort.abort();
      }
    })();
    await eventually(() => {
      runtime.emit({ Type: "container", Action: "start", Actor: { ID: "last", Attributes: {} } });
      expect(seen.length).toBeGreaterThan(0);
    });
    await reading;
    expect(seen[0]).toMatchObject({ Type: "container", Action: "start", Actor: { ID: "last" } });
    client.close();
  });

  it("copies archives both ways and passes top, stats, export and commit through", async () => {
    const { client, runtime } = await clientFor();
    const c = await client.createContainer({ name: "fs", Image: "busybox", Cmd: ["sleep"] });
    await c.start();
    const tar = await collect(await c.getArchive({ path: "/etc/motd" }));
    expect(tar.slice(0, 4)).toBe("motd");
    expect(await c.infoArchive({ path: "/etc/" })).toEqual({
      name: "etc",
      size: 0,
      mode: 2 ** 31 + 0o755,
      mtime: "2023-11-14T22:13:20Z",
      linkTarget: "",
    });
    // The HEAD reply has no body; its error still arrives whole, code and message.
    await expect(c.infoArchive({ path: "/missing/x" })).rejects.toMatchObject({
      code: "container/path-not-found",
      message: "Could not find the file /missing/x in container",
    });
    await c.putArchive(Readable.from([Buffer.from("tar bytes")]), { path: "/tmp" });
    await eventually(() => {
      expect(runtime.resolve("fs").puts).toEqual([{ path: "/tmp", bytes: Buffer.from("tar bytes") }]);
    });
    expect((await c.top({ ps_args: "-ef" })).Titles).toEqual(["PID", "CMD"]);
    expect((await c.stats()).memory_stats.usage).toBe(1024);
    expect((await collect(await c.export())).slice(0, 12)).toBe("etc/hostname");
    expect(await c.commit({ repo: "x/y", changes: ["ENV A=b"] })).toEqual({ Id: `sha256:${"c".repeat(64)}` });
    expect(runtime.calls.find((r) => r.method === "commit")?.args).toEqual({
      repo: "x/y",
      changes: ["ENV A=b"],
      pause: true,
    });
    await c.pause();
    await c.unpause();
    await c.restart({ t: 1 });
    await c.stop({ t: 2 });
    await c.remove({ force: true });
    client.close();
  });

  it("lists, inspects and removes images", async () => {
    const root = await tmp();
    const store = await ImageStore.open(root);
    try {
      await addBusyboxImage(store, await buildBusyboxImage(), ["busybox:latest"]);
    } finally {
      await store.close();
    }
    const { client } = await clientFor(root);
    const [image] = await client.listImages();
    expect(image?.RepoTags).toEqual(["busybox:latest"]);
    expect((await client.inspectImage("busybox")).Id).toBe(image?.Id);
    expect((await rejection(client.inspectImage("nope/nothing:1"))).code).toBe("image/not-found");
    expect(await client.removeImage("busybox", { force: true })).toEqual([
      { Untagged: "busybox:latest" },
      { Deleted: image?.Id },
    ]);
    client.close();
  });
});
