/**
 * Reading a stopped container's files, as `docker export` and `docker cp ctr:/path` do: the root is
 * mounted for the stream and unmounted when it ends, and an exit, a start or a removal during a
 * stream neither breaks the rules nor leaves a mount behind.
 */
import { once } from "node:events";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import type { EmbeddedRuntime } from "../../../src/runtime/embedded.js";
import { writeTar } from "../../../src/runtime/images/tar-writer.js";
import type { Container } from "../../../src/runtime/runtime.js";
import { canRunContainers, eventually, mountsUnder, useEngines } from "../../helpers/engine.js";

const engines = useEngines();

/** A running container that ran `setup` (a shell line), once `ready` succeeds in it. */
async function runningWith(engine: EmbeddedRuntime, setup: string, ready: string[]): Promise<Container> {
  const c = await engine.createContainer({
    Image: "busybox:latest",
    Cmd: ["sh", "-c", `${setup}; sleep 300`],
  });
  await c.start();
  await eventually(async () => {
    const p = await c.exec({ Cmd: ready });
    p.stdin.end();
    return (await p.exit) === 0;
  });
  return c;
}

/** A container that ran the shell line `script` to its successful end. */
async function ranToEnd(engine: EmbeddedRuntime, script: string): Promise<Container> {
  const c = await engine.createContainer({ Image: "busybox:latest", Cmd: ["sh", "-c", script] });
  await c.start();
  expect(await c.wait()).toEqual({ StatusCode: 0 });
  return c;
}

async function readAll(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe.skipIf(!canRunContainers)("embedded runtime: files of a stopped container", () => {
  it("exports and copies out of a stopped container, mounting its root only while streaming", async () => {
    const { engine, root } = await engines();
    const c = await ranToEnd(engine, "mkdir -p /out && echo built > /out/artifact");
    expect(mountsUnder(root)).toEqual([]);

    const exported = await c.export();
    // Mounted for the stream, until it ends.
    expect(mountsUnder(root)).toHaveLength(1);
    const tarball = await readAll(exported);
    expect(tarball.includes(Buffer.from("out/artifact"))).toBe(true);
    expect(tarball.includes(Buffer.from("built\n"))).toBe(true);
    await eventually(() => mountsUnder(root).length === 0, { what: "unmounted after the export" });

    const copied = await readAll(await c.getArchive({ path: "/out/artifact" }));
    expect(copied.subarray(0, 8).toString()).toBe("artifact");
    expect(copied.includes(Buffer.from("built\n"))).toBe(true);
    await eventually(() => mountsUnder(root).length === 0, { what: "unmounted after the copy" });

    // A path that is not there: 404-style error, and nothing stays mounted.
    await expect(c.getArchive({ path: "/no/such/file" })).rejects.toMatchObject({
      code: expect.stringMatching(/not-found/) as unknown as string,
    });
    expect(mountsUnder(root)).toEqual([]);
  });

  it("a stream abandoned half-way releases the mount when it is closed", async () => {
    const { engine, root } = await engines();
    const c = await ranToEnd(engine, "true");
    const s = await c.export();
    await once(s, "readable");
    s.destroy();
    await eventually(() => mountsUnder(root).length === 0, { what: "unmounted after the close" });
  });

  it("a start during a stream reuses the mount, and the exit leaves it to the stream", async () => {
    const { engine, root } = await engines();
    const c = await ranToEnd(engine, "echo run >> /runs; cat /runs | wc -l > /count");
    const s = await c.export(); // holds the root of the stopped container
    await c.start(); // runs on the held mount
    expect(await c.wait()).toEqual({ StatusCode: 0 });
    // The exit did not unmount under the stream.
    expect(mountsUnder(root)).toHaveLength(1);
    const tarball = await readAll(s);
    expect(tarball.includes(Buffer.from("bin/busybox"))).toBe(true);
    await eventually(() => mountsUnder(root).length === 0, { what: "unmounted after the stream" });
    // Both runs wrote to the same writable layer.
    const count = await readAll(await c.getArchive({ path: "/count" }));
    expect(count.includes(Buffer.from("2\n"))).toBe(true);
  });

  it("removing a container during a stream ends with no mount left", async () => {
    const { engine, root } = await engines();
    const c = await ranToEnd(engine, "true");
    const s = await c.export();
    s.on("error", () => undefined); // the stream may fail once its root is gone
    await c.remove();
    expect(mountsUnder(root)).toEqual([]);
    s.destroy();
  });

  it("a copy out keeps the container still: paused while running, not started while stopped", async () => {
    const { engine } = await engines();
    const c = await runningWith(engine, "echo data > /file", ["test", "-e", "/file"]);
    // CVE-2018-15664: nothing in the container runs while the copy walks its paths.
    const copy = await c.getArchive({ path: "/file" });
    expect((await c.inspect()).State.Status).toBe("paused");
    // A second copy meanwhile: the container resumes only when both have ended.
    const second = await c.getArchive({ path: "/file" });
    expect((await readAll(copy)).includes(Buffer.from("data\n"))).toBe(true);
    await new Promise((r) => setTimeout(r, 100));
    expect((await c.inspect()).State.Status).toBe("paused");
    expect((await readAll(second)).includes(Buffer.from("data\n"))).toBe(true);
    await eventually(async () => (await c.inspect()).State.Status === "running", { what: "resumed" });

    await c.stop({ t: 0 });
    const again = await c.getArchive({ path: "/file" });
    await expect(c.start()).rejects.toMatchObject({ code: "container/conflict" });
    await readAll(again);
    await eventually(
      async () => {
        try {
          await c.start();
          return true;
        } catch {
          return false;
        }
      },
      { what: "a start once the copy ended" },
    );
    expect((await c.inspect()).State.Status).toBe("running");
  });

  it("a stat (docker cp's look at the destination) freezes a running container only for itself, and leaves no mount", async () => {
    const { engine, root } = await engines();
    const c = await runningWith(engine, "printf data > /file; ln -s /file /link", ["test", "-L", "/link"]);
    const paused: string[] = [];
    const stopWatching = new AbortController();
    const watching = (async () => {
      for await (const e of engine.getEvents({ signal: stopWatching.signal }))
        if (e.Action === "pause" || e.Action === "unpause") paused.push(e.Action);
    })();
    expect(await c.infoArchive({ path: "/file" })).toMatchObject({
      name: "file",
      size: 4,
      mode: 0o644,
      linkTarget: "",
    });
    expect((await c.infoArchive({ path: "/link" })).linkTarget).toBe("/file");
    const tmp = await c.infoArchive({ path: "/tmp/" });
    expect(tmp.name).toBe("tmp");
    // os.ModeDir | os.ModeSticky | 0777, and Go's RFC 3339 time.
    expect(tmp.mode).toBe(2 ** 31 + 2 ** 20 + 0o777);
    expect(tmp.mtime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/);
    await expect(c.infoArchive({ path: "/no/such" })).rejects.toMatchObject({
      code: "container/path-not-found",
    });
    expect((await c.inspect()).State.Status).toBe("running");

    // A copy in right after a stat: paused for the copy only, running once it returns.
    const tar = Readable.from(writeTar([{ name: "in.txt", type: "file", body: Buffer.from("in\n") }]));
    await c.putArchive(tar, { path: "/tmp" });
    expect((await c.inspect()).State.Status).toBe("running");
    const cat = await c.exec({ Cmd: ["cat", "/tmp/in.txt"] });
    cat.stdin.end();
    expect((await readAll(cat.stdout)).toString()).toBe("in\n");
    // Four stats and the copy in: each froze the container and resumed it before returning.
    await eventually(() => paused.length >= 10, { what: "the pause and unpause events" });
    expect(paused).toEqual(Array.from({ length: 5 }, () => ["pause", "unpause"]).flat());

    await c.stop({ t: 0 });
    expect((await c.infoArchive({ path: "/file" })).size).toBe(4);
    expect(mountsUnder(root)).toEqual([]);
    stopWatching.abort();
    await watching;
  });
});
