/**
 * Compatibility: dockerode (a Docker Engine client we did not write) drives the API server. The
 * runtime behind it is the recording double (runtime-double.ts), so this checks the wire protocol as
 * Docker clients speak it, not container behaviour.
 */
import { PassThrough } from "node:stream";
import Docker from "dockerode";
import { describe, expect, it } from "vitest";
import { useTestServers } from "./helpers.js";

const startServer = useTestServers();

async function collect(stream: NodeJS.ReadableStream): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) parts.push(chunk);
  return Buffer.concat(parts).toString();
}

async function docker(): Promise<Docker> {
  const { socketPath } = await startServer();
  return new Docker({ socketPath });
}

describe("dockerode against the tsstack engine API", () => {
  it("pings and reads the version", async () => {
    const d = await docker();
    expect(String(await d.ping())).toBe("OK");
    const version = await d.version();
    expect(version.ApiVersion).toBe("1.41");
    expect(version.Os).toBe("linux");
  });

  it("creates, starts, waits for, reads the logs of and removes a container", async () => {
    const d = await docker();
    const c = await d.createContainer({
      name: "dockerode-1",
      Image: "busybox",
      Cmd: ["echo", "from", "dockerode"],
    });
    const listed = await d.listContainers({ all: true });
    expect(listed.map((s) => s.Names)).toEqual([["/dockerode-1"]]);
    await c.start();
    expect(await c.wait()).toEqual({ StatusCode: 0 });
    const raw = await c.logs({ stdout: true, stderr: true, follow: false });
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const outText = collect(stdout);
    const errText = collect(stderr);
    // dockerode returns a non-follow log body as a Buffer; demuxStream wants a stream.
    const source = new PassThrough();
    d.modem.demuxStream(source, stdout, stderr);
    source.end(raw);
    source.on("end", () => {
      stdout.end();
      stderr.end();
    });
    expect(await outText).toBe("from dockerode\n");
    expect(await errText).toBe("");
    await c.remove();
    expect(await d.listContainers({ all: true })).toEqual([]);
  });

  it("follows logs as a stream and demultiplexes them", async () => {
    const d = await docker();
    const c = await d.createContainer({ Image: "busybox", Cmd: ["fail", "1", "on", "stderr"] });
    await c.start();
    await c.wait();
    const stream = await c.logs({ stdout: true, stderr: true, follow: true });
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const errText = collect(stderr);
    d.modem.demuxStream(stream, stdout, stderr);
    stream.on("end", () => {
      stdout.end();
      stderr.end();
    });
    expect(await errText).toBe("on stderr\n");
  });

  it("runs an exec through dockerode's hijacked stream", async () => {
    const d = await docker();
    const c = await d.createContainer({ Image: "busybox", Cmd: ["sleep"] });
    await c.start();
    const exec = await c.exec({ Cmd: ["cat"], AttachStdin: true, AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({ hijack: true, stdin: true });
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const outText = collect(stdout);
    d.modem.demuxStream(stream, stdout, stderr);
    stream.on("end", () => {
      stdout.end();
      stderr.end();
    });
    stream.end("over the hijack\n");
    expect(await outText).toBe("over the hijack\n");
    expect(await exec.inspect()).toMatchObject({ Running: false, ExitCode: 0 });
  });

  it("sees errors with Docker's status codes", async () => {
    const d = await docker();
    const missing = await d
      .getContainer("nope")
      .inspect()
      .catch((e: unknown) => e);
    expect(missing).toMatchObject({ statusCode: 404 });
    expect((missing as Error).message).toContain("No such container: nope");
    await d.createContainer({ name: "dup", Image: "busybox" });
    const dup = await d.createContainer({ name: "dup", Image: "busybox" }).catch((e: unknown) => e);
    expect(dup).toMatchObject({ statusCode: 409 });
    const running = await d.createContainer({ Image: "busybox", Cmd: ["sleep"] });
    await running.start();
    expect(await running.remove().catch((e: unknown) => e)).toMatchObject({ statusCode: 409 });
    await running.remove({ force: true });
  });
});
