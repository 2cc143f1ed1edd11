/**
 * The HTTP layer of the engine API, driven by a real HTTP client on a temporary unix socket. The
 * runtime behind it is the recording double (runtime-double.ts): these tests cover routing, framing,
 * hijacking, errors and the image routes, not container behaviour.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FrameDecoder, StreamId, type Frame } from "../../../src/api/framing.js";
import { startApiServer } from "../../../src/api/server.js";
import { TsstackError } from "../../../src/common/errors.js";
import { ImageStore } from "../../../src/runtime/images/store.js";
import { addBusyboxImage, buildBusyboxImage } from "../../helpers/busybox-image.js";
import { useTmpDirs } from "../../helpers/tmp.js";
import { call, eventually, rawExchange, readToEnd, useTestServers } from "./helpers.js";
import { RecordingRuntime } from "./runtime-double.js";

const startServer = useTestServers();
const tmp = useTmpDirs("tsstack-api-srv-");

function frames(body: Buffer): Frame[] {
  const decoder = new FrameDecoder();
  const out = decoder.push(body);
  decoder.end();
  return out;
}

function text(fs: readonly Frame[], stream: StreamId): string {
  return fs
    .filter((f) => f.stream === stream)
    .map((f) => f.payload.toString())
    .join("");
}

async function createContainer(socketPath: string, config: object, name?: string): Promise<string> {
  const res = await call(
    socketPath,
    "POST",
    `/v1.41/containers/create${name !== undefined ? `?name=${name}` : ""}`,
    {
      body: JSON.stringify(config),
      headers: { "Content-Type": "application/json" },
    },
  );
  expect(res.status, res.text).toBe(201);
  return res.json<{ Id: string }>().Id;
}

describe("system routes", () => {
  it("answers GET and HEAD /_ping with OK and Docker's headers, with or without a version prefix", async () => {
    const { socketPath } = await startServer();
    for (const path of ["/_ping", "/v1.41/_ping", "/v1.24/_ping"]) {
      const res = await call(socketPath, "GET", path);
      expect(res.status).toBe(200);
      expect(res.text).toBe("OK");
      expect(res.headers["api-version"]).toBe("1.41");
      expect(res.headers["docker-experimental"]).toBe("false");
      expect(res.headers["ostype"]).toBe("linux");
    }
    const head = await call(socketPath, "HEAD", "/_ping");
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.headers["api-version"]).toBe("1.41");
  });

  it("reports its version and a Docker-shaped /info", async () => {
    const { socketPath, root } = await startServer();
    const version = (await call(socketPath, "GET", "/version")).json<Record<string, unknown>>();
    expect(version).toMatchObject({
      Version: "0.0.0-test",
      ApiVersion: "1.41",
      MinAPIVersion: "1.24",
      Os: "linux",
    });
    await createContainer(socketPath, { Image: "busybox", Cmd: ["sleep"] });
    const info = (await call(socketPath, "GET", "/info")).json<Record<string, unknown>>();
    expect(info).toMatchObject({
      Containers: 1,
      ContainersRunning: 0,
      ContainersStopped: 1,
      Images: 0,
      OSType: "linux",
      DockerRootDir: root,
      ServerVersion: "0.0.0-test",
    });
  });

  it("answers unknown routes with 404 and known paths under another method with 405", async () => {
    const { socketPath, logs } = await startServer();
    const missing = await call(socketPath, "GET", "/v1.41/nope");
    expect(missing.status).toBe(404);
    expect(missing.json<{ message: string }>().message).toContain("/v1.41/nope");
    const wrong = await call(socketPath, "PUT", "/containers/json");
    expect(wrong.status).toBe(405);
    expect(wrong.headers["allow"]).toContain("GET");
    expect(logs.some((l) => l.startsWith("PUT /containers/json: 405"))).toBe(true);
  });
});

describe("containers", () => {
  it("creates a container (201 with Id and Warnings) and passes the name and config to the runtime", async () => {
    const { socketPath, runtime } = await startServer();
    const id = await createContainer(
      socketPath,
      { Image: "busybox", Cmd: ["echo", "hi"], Labels: { a: "b" } },
      "web-1",
    );
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(runtime.calls.find((c) => c.method === "createContainer")?.args).toEqual({
      Image: "busybox",
      Cmd: ["echo", "hi"],
      Labels: { a: "b" },
      name: "web-1",
    });
  });

  it("maps runtime errors to Docker's statuses with the runtime's message and code", async () => {
    const { socketPath, logs } = await startServer();
    await createContainer(socketPath, { Image: "busybox" }, "taken");
    const conflict = await call(socketPath, "POST", "/containers/create?name=taken", {
      body: JSON.stringify({ Image: "busybox" }),
    });
    expect(conflict.status).toBe(409);
    expect(conflict.json()).toEqual({
      message: 'Conflict. The container name "/taken" is already in use',
      code: "container/conflict",
    });
    const noImage = await call(socketPath, "POST", "/containers/create", {
      body: JSON.stringify({ Image: "missing" }),
    });
    expect(noImage.status).toBe(404);
    expect(noImage.json()).toMatchObject({ message: "No such image: missing", code: "image/not-found" });
    const noContainer = await call(socketPath, "GET", "/containers/nope/json");
    expect(noContainer.status).toBe(404);
    expect(noContainer.json()).toMatchObject({ message: "No such container: nope" });
    expect(logs.some((l) => l.startsWith("GET /containers/nope/json: 404: No such container: nope"))).toBe(
      true,
    );
  });

  it("refuses bad request bodies and names with a clear 400, and oversized bodies with 413", async () => {
    const { socketPath } = await startServer();
    const bad = await call(socketPath, "POST", "/containers/create", { body: "{not json" });
    expect(bad.status).toBe(400);
    expect(bad.json<{ message: string }>().message).toMatch(/^invalid JSON in request body/);
    const empty = await call(socketPath, "POST", "/containers/create");
    expect(empty.status).toBe(400);
    expect(empty.json<{ message: string }>().message).toContain("config cannot be empty");
    const badName = await call(socketPath, "POST", "/containers/create?name=-x", {
      body: JSON.stringify({ Image: "busybox" }),
    });
    expect(badName.status).toBe(400);
    const huge = await call(socketPath, "POST", "/containers/create", {
      body: JSON.stringify({ Image: "busybox", Env: ["X=" + "x".repeat(5 * 1024 * 1024)] }),
    });
    expect(huge.status).toBe(413);
    const badFilters = await call(socketPath, "GET", "/containers/json?filters=%7Bnope");
    expect(badFilters.status).toBe(400);
  });

  it("lists containers with `all` and filters in both of Docker's encodings", async () => {
    const { socketPath, runtime } = await startServer();
    await createContainer(socketPath, { Image: "busybox", Labels: { tier: "web" } }, "a");
    await createContainer(socketPath, { Image: "busybox", Labels: { tier: "db" } }, "b");
    expect((await call(socketPath, "GET", "/containers/json")).json()).toEqual([]);
    const current = encodeURIComponent(JSON.stringify({ label: ["tier=web"] }));
    const legacy = encodeURIComponent(JSON.stringify({ label: { "tier=db": true } }));
    const web = (await call(socketPath, "GET", `/containers/json?all=1&filters=${current}`)).json<
      { Names: string[] }[]
    >();
    const db = (await call(socketPath, "GET", `/containers/json?all=true&filters=${legacy}`)).json<
      { Names: string[] }[]
    >();
    expect(web.map((c) => c.Names)).toEqual([["/a"]]);
    expect(db.map((c) => c.Names)).toEqual([["/b"]]);
    expect(runtime.calls.filter((c) => c.method === "listContainers").map((c) => c.args)).toContainEqual({
      all: true,
      filters: { label: ["tier=db"] },
    });
  });

  it("passes lifecycle parameters through and answers 204", async () => {
    const { socketPath, runtime } = await startServer();
    const id = await createContainer(socketPath, { Image: "busybox", Cmd: ["sleep"] }, "life");
    expect((await call(socketPath, "POST", `/containers/life/start`)).status).toBe(204);
    expect((await call(socketPath, "POST", `/containers/life/pause`)).status).toBe(204);
    expect((await call(socketPath, "POST", `/containers/life/unpause`)).status).toBe(204);
    expect((await call(socketPath, "POST", `/containers/life/restart?t=3`)).status).toBe(204);
    expect((await call(socketPath, "POST", `/containers/life/stop?t=5&signal=SIGINT`)).status).toBe(204);
    const kill = await call(socketPath, "POST", `/containers/life/kill?signal=KILL`);
    expect(kill.status).toBe(409);
    expect(kill.json()).toMatchObject({ code: "container/not-running" });
    expect(runtime.calls.filter((c) => c.id === "life").map((c) => [c.method, c.args])).toEqual([
      ["start", undefined],
      ["pause", undefined],
      ["unpause", undefined],
      ["restart", { t: 3 }],
      ["stop", { t: 5, signal: "SIGINT" }],
      ["kill", { signal: "KILL" }],
    ]);
    const inspect = (await call(socketPath, "GET", `/containers/${id.slice(0, 12)}/json`)).json<{
      Id: string;
    }>();
    expect(inspect.Id).toBe(id);
    expect((await call(socketPath, "DELETE", `/containers/life?force=1&v=1`)).status).toBe(204);
    expect(runtime.calls.at(-1)).toMatchObject({ method: "remove", args: { force: true, v: true } });
  });

  it("refuses to remove a running container without force (409)", async () => {
    const { socketPath } = await startServer();
    await createContainer(socketPath, { Image: "busybox", Cmd: ["sleep"] }, "busy");
    await call(socketPath, "POST", "/containers/busy/start");
    const res = await call(socketPath, "DELETE", "/containers/busy");
    expect(res.status).toBe(409);
    expect(res.json<{ message: string }>().message).toContain("cannot remove a running container");
  });

  it("sends wait's headers before the container exits, so that a client can start it afterwards", async () => {
    const { socketPath } = await startServer();
    await createContainer(socketPath, { Image: "busybox", Cmd: ["fail", "3", "oops"] }, "w");
    const waiting = await rawExchange(
      socketPath,
      "POST /v1.41/containers/w/wait?condition=next-exit HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    expect(waiting.statusLine).toBe("HTTP/1.1 200 OK");
    expect((await call(socketPath, "POST", "/containers/w/start")).status).toBe(204);
    const body = (await readToEnd(waiting.socket, waiting.rest)).toString();
    expect(body).toContain('{"StatusCode":3}');
    const bad = await call(socketPath, "POST", "/containers/w/wait?condition=never");
    expect(bad.status).toBe(400);
  });

  it("serves logs multiplexed for non-TTY containers, with timestamps and stream selection", async () => {
    const { socketPath } = await startServer();
    await createContainer(socketPath, { Image: "busybox", Cmd: ["fail", "1", "to", "stderr"] }, "l");
    await call(socketPath, "POST", "/containers/l/start");
    await eventually(async () => {
      expect(
        (await call(socketPath, "GET", "/containers/l/json")).json<{ State: { Status: string } }>().State
          .Status,
      ).toBe("exited");
    });
    const both = await call(socketPath, "GET", "/containers/l/logs?stdout=1&stderr=1");
    expect(both.headers["content-type"]).toBe("application/vnd.docker.multiplexed-stream");
    expect(frames(both.body)).toEqual([{ stream: StreamId.stderr, payload: Buffer.from("to stderr\n") }]);
    const stamped = frames((await call(socketPath, "GET", "/containers/l/logs?stderr=1&timestamps=1")).body);
    expect(stamped[0]?.payload.toString()).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z to stderr\n$/);
    expect(frames((await call(socketPath, "GET", "/containers/l/logs?stdout=1")).body)).toEqual([]);
    const none = await call(socketPath, "GET", "/containers/l/logs");
    expect(none.status).toBe(400);
    expect(none.json<{ message: string }>().message).toContain("you must choose at least one stream");
  });

  it("serves raw logs for TTY containers", async () => {
    const { socketPath } = await startServer();
    await createContainer(socketPath, { Image: "busybox", Cmd: ["echo", "tty", "line"], Tty: true }, "t");
    await call(socketPath, "POST", "/containers/t/start");
    await eventually(async () => {
      const res = await call(socketPath, "GET", "/containers/t/logs?stdout=1&stderr=1");
      expect(res.headers["content-type"]).toBe("application/vnd.docker.raw-stream");
      expect(res.text).toBe("tty line\n");
    });
  });

  it("follows logs until the container exits", async () => {
    const { socketPath } = await startServer();
    await createContainer(socketPath, { Image: "busybox", Cmd: ["cat"], OpenStdin: true }, "f");
    await call(socketPath, "POST", "/containers/f/start");
    const follow = await rawExchange(
      socketPath,
      "GET /containers/f/logs?follow=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    expect(follow.statusLine).toBe("HTTP/1.1 200 OK");
    // Feed the container through attach; its output reaches the follower; stdin's end stops it.
    const attach = await rawExchange(
      socketPath,
      "POST /containers/f/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n",
    );
    expect(attach.statusLine).toBe("HTTP/1.1 101 UPGRADED");
    attach.socket.end("line one\n");
    const body = await readToEnd(follow.socket, follow.rest);
    // Chunked transfer coding wraps the frames; the payload is in there verbatim.
    expect(body.toString()).toContain("line one\n");
    attach.socket.destroy();
  });

  it("serves top, stats (one and streamed), export and commit", async () => {
    const { socketPath, runtime } = await startServer();
    await createContainer(socketPath, { Image: "busybox", Cmd: ["sleep"] }, "s");
    await call(socketPath, "POST", "/containers/s/start");
    const top = await call(socketPath, "GET", "/containers/s/top?ps_args=aux");
    expect(top.json()).toEqual({ Titles: ["PID", "CMD"], Processes: [["4242", "sleep"]] });
    expect(runtime.calls.find((c) => c.method === "top")?.args).toEqual({ ps_args: "aux" });
    const one = await call(socketPath, "GET", "/containers/s/stats?stream=false");
    expect(one.json()).toMatchObject({ memory_stats: { usage: 1024, limit: 2048 } });
    const streamed = await rawExchange(socketPath, "GET /containers/s/stats HTTP/1.1\r\nHost: x\r\n\r\n");
    expect(streamed.statusLine).toBe("HTTP/1.1 200 OK");
    streamed.socket.destroy();
    const exported = await call(socketPath, "GET", "/containers/s/export");
    expect(exported.headers["content-type"]).toBe("application/x-tar");
    expect(exported.body.toString("latin1", 0, 12)).toBe("etc/hostname");
    const commit = await call(
      socketPath,
      "POST",
      "/commit?container=s&repo=me%2Fimg&tag=v1&comment=c&author=a&changes=CMD%20%5B%22x%22%5D&changes=ENV%20A%3Db&pause=0",
    );
    expect(commit.status).toBe(201);
    expect(commit.json()).toEqual({ Id: `sha256:${"c".repeat(64)}` });
    expect(runtime.calls.find((c) => c.method === "commit")?.args).toEqual({
      repo: "me/img",
      tag: "v1",
      comment: "c",
      author: "a",
      changes: ['CMD ["x"]', "ENV A=b"],
      pause: false,
    });
  });

  it("answers archive HEAD and GET with Docker's path stat header, and takes PUT bodies", async () => {
    const { socketPath, runtime } = await startServer();
    await createContainer(socketPath, { Image: "busybox" }, "cp");
    const head = await call(socketPath, "HEAD", "/containers/cp/archive?path=/etc/motd");
    expect(head.status).toBe(200);
    const stat = JSON.parse(
      Buffer.from(String(head.headers["x-docker-container-path-stat"]), "base64").toString(),
    ) as unknown;
    expect(stat).toEqual({
      name: "motd",
      size: 6,
      mode: 0o644,
      mtime: "2023-11-14T22:13:20Z",
      linkTarget: "",
    });
    const dir = await call(socketPath, "GET", "/containers/cp/archive?path=/etc/");
    const dirStat = JSON.parse(
      Buffer.from(String(dir.headers["x-docker-container-path-stat"]), "base64").toString(),
    ) as { name: string; mode: number };
    expect(dirStat.name).toBe("etc");
    expect(dirStat.mode).toBe(2 ** 31 + 0o755);
    expect(dir.body.toString("latin1", 0, 4)).toBe("etc/");
    const missing = await call(socketPath, "GET", "/containers/cp/archive?path=/missing");
    expect(missing.status).toBe(404);
    // HEAD has no body: the error (code and message) comes in tsstack's header.
    const missingHead = await call(socketPath, "HEAD", "/containers/cp/archive?path=/missing");
    expect(missingHead.status).toBe(404);
    expect(missingHead.body.length).toBe(0);
    expect(
      JSON.parse(Buffer.from(String(missingHead.headers["x-tsstack-error"]), "base64").toString()),
    ).toEqual({ code: "container/path-not-found", message: "Could not find the file /missing in container" });
    const put = await call(socketPath, "PUT", "/containers/cp/archive?path=/tmp", {
      body: Buffer.alloc(1024, 7),
    });
    expect(put.status).toBe(200);
    expect(runtime.resolve("cp").puts).toEqual([{ path: "/tmp", bytes: Buffer.alloc(1024, 7) }]);
  });
});

describe("hijacked streams", () => {
  it("upgrades attach like Docker (101, chunked empty body first) and carries stdin and framed output", async () => {
    const { socketPath } = await startServer();
    await createContainer(socketPath, { Image: "busybox", Cmd: ["cat"], OpenStdin: true }, "att");
    await call(socketPath, "POST", "/containers/att/start");
    // docker-modem sends attach with `Transfer-Encoding: chunked` and an empty body.
    const { statusLine, headers, socket, rest } = await rawExchange(
      socketPath,
      "POST /v1.41/containers/att/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: x\r\n" +
        "Connection: Upgrade\r\nUpgrade: tcp\r\nTransfer-Encoding: chunked\r\n\r\n",
      "0\r\n\r\n",
    );
    expect(statusLine).toBe("HTTP/1.1 101 UPGRADED");
    expect(headers).toMatchObject({ connection: "Upgrade", upgrade: "tcp" });
    expect(headers["content-type"]).toBe("application/vnd.docker.multiplexed-stream");
    socket.end("hello\nworld\n");
    const out = frames(await readToEnd(socket, rest));
    expect(text(out, StreamId.stdout)).toBe("hello\nworld\n");
  });

  it("runs an exec over an upgraded connection and reports its exit code afterwards", async () => {
    const { socketPath } = await startServer();
    await createContainer(socketPath, { Image: "busybox", Cmd: ["sleep"] }, "ex");
    const notRunning = await call(socketPath, "POST", "/containers/ex/exec", {
      body: JSON.stringify({ Cmd: ["echo", "x"] }),
    });
    expect(notRunning.status).toBe(409);
    await call(socketPath, "POST", "/containers/ex/start");
    const created = await call(socketPath, "POST", "/containers/ex/exec", {
      body: JSON.stringify({ AttachStdout: true, AttachStderr: true, Cmd: ["fail", "7", "bad", "thing"] }),
    });
    expect(created.status).toBe(201);
    const execId = created.json<{ Id: string }>().Id;
    const before = (await call(socketPath, "GET", `/exec/${execId}/json`)).json();
    expect(before).toMatchObject({ Running: false, ExitCode: null, ProcessConfig: { entrypoint: "fail" } });
    const body = JSON.stringify({ Detach: false, Tty: false });
    const { statusLine, socket, rest } = await rawExchange(
      socketPath,
      `POST /exec/${execId}/start HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
      body,
    );
    expect(statusLine).toBe("HTTP/1.1 101 UPGRADED");
    const out = frames(await readToEnd(socket, rest));
    expect(text(out, StreamId.stderr)).toBe("bad thing\n");
    expect((await call(socketPath, "GET", `/exec/${execId}/json`)).json()).toMatchObject({
      Running: false,
      ExitCode: 7,
    });
    const again = await call(socketPath, "POST", `/exec/${execId}/start`, { body });
    expect(again.status).toBe(409);
    const unknown = await call(socketPath, "GET", "/exec/nope/json");
    expect(unknown.status).toBe(404);
  });

  it("runs an exec without an upgrade as a plain streamed response, and detached", async () => {
    const { socketPath } = await startServer();
    await createContainer(socketPath, { Image: "busybox", Cmd: ["sleep"] }, "ex2");
    await call(socketPath, "POST", "/containers/ex2/start");
    const mk = async (cmd: string[]) =>
      (
        await call(socketPath, "POST", "/containers/ex2/exec", {
          body: JSON.stringify({ Cmd: cmd, Tty: true }),
        })
      ).json<{ Id: string }>().Id;
    const plain = await mk(["echo", "raw"]);
    const res = await call(socketPath, "POST", `/exec/${plain}/start`, {
      body: JSON.stringify({ Tty: true }),
    });
    expect(res.headers["content-type"]).toBe("application/vnd.docker.raw-stream");
    expect(res.text).toBe("raw\n");
    // With stdin attached but no upgrade, the request body was the start config: stdin is empty.
    const withStdin = (
      await call(socketPath, "POST", "/containers/ex2/exec", {
        body: JSON.stringify({ Cmd: ["cat"], AttachStdin: true, AttachStdout: true }),
      })
    ).json<{ Id: string }>().Id;
    const catRes = await call(socketPath, "POST", `/exec/${withStdin}/start`, { body: "{}" });
    expect(catRes.status).toBe(200);
    expect(catRes.body.length).toBe(0);
    expect((await call(socketPath, "GET", `/exec/${withStdin}/json`)).json()).toMatchObject({ ExitCode: 0 });
    const detached = await mk(["exit", "4"]);
    expect(
      (await call(socketPath, "POST", `/exec/${detached}/start`, { body: '{"Detach":true}' })).status,
    ).toBe(200);
    await eventually(async () => {
      expect((await call(socketPath, "GET", `/exec/${detached}/json`)).json()).toMatchObject({ ExitCode: 4 });
    });
  });

  it("reports errors of upgrade requests as plain HTTP errors", async () => {
    const { socketPath } = await startServer();
    const { statusLine, socket, rest } = await rawExchange(
      socketPath,
      "POST /containers/ghost/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
    );
    expect(statusLine).toBe("HTTP/1.1 404 Not Found");
    expect(JSON.parse((await readToEnd(socket, rest)).toString())).toMatchObject({
      message: "No such container: ghost",
    });
  });
});

describe("events", () => {
  it("streams runtime events as JSON lines, filtered by type, container and label", async () => {
    const { socketPath, runtime } = await startServer();
    const filters = encodeURIComponent(JSON.stringify({ type: ["container"], label: { "app=web": true } }));
    const stream = await rawExchange(
      socketPath,
      `GET /events?filters=${filters} HTTP/1.1\r\nHost: x\r\n\r\n`,
    );
    expect(stream.statusLine).toBe("HTTP/1.1 200 OK");
    const received: string[] = [];
    stream.socket.on("data", (c: Buffer) => received.push(c.toString()));
    stream.socket.resume();
    await eventually(() => {
      runtime.emit({
        Type: "container",
        Action: "start",
        Actor: { ID: "c1", Attributes: { name: "web", app: "web" } },
      });
      runtime.emit({
        Type: "container",
        Action: "start",
        Actor: { ID: "c2", Attributes: { name: "db", app: "db" } },
      });
      runtime.emit({ Type: "image", Action: "pull", Actor: { ID: "busybox", Attributes: { app: "web" } } });
      expect(received.join("")).toContain('"ID":"c1"');
    });
    const all = received.join("");
    expect(all).not.toContain('"ID":"c2"');
    expect(all).not.toContain('"Type":"image"');
    expect(all).toContain('"status":"start","id":"c1"');
    stream.socket.destroy();
  });

  it("replays buffered events since a time and ends at until", async () => {
    const { socketPath, runtime } = await startServer();
    // Let the hub subscribe before emitting.
    await eventually(() => {
      runtime.emit({ Type: "container", Action: "probe", Actor: { ID: "p", Attributes: {} }, time: 1000 });
      return Promise.resolve();
    });
    await new Promise((r) => setImmediate(r));
    runtime.emit({ Type: "container", Action: "create", Actor: { ID: "old", Attributes: {} }, time: 2000 });
    runtime.emit({ Type: "container", Action: "start", Actor: { ID: "mid", Attributes: {} }, time: 3000 });
    runtime.emit({ Type: "container", Action: "die", Actor: { ID: "new", Attributes: {} }, time: 4000 });
    const res = await eventually(async () => {
      const r = await call(socketPath, "GET", "/events?since=2500&until=3500");
      expect(r.text).toContain('"ID":"mid"');
      return r;
    });
    const lines = res.text
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { Actor: { ID: string } });
    expect(lines.map((l) => l.Actor.ID)).toEqual(["mid"]);
    const badFilter = await call(
      socketPath,
      "GET",
      `/events?filters=${encodeURIComponent('{"nope":["x"]}')}`,
    );
    expect(badFilter.status).toBe(400);
  });
});

describe("images", () => {
  it("lists, inspects and removes images of the store under the root", async () => {
    const root = await tmp();
    const store = await ImageStore.open(root);
    let id: string;
    try {
      id = (
        await addBusyboxImage(store, await buildBusyboxImage(), [
          "busybox:latest",
          "localhost:5000/team/bb:1",
        ])
      ).id;
    } finally {
      await store.close();
    }
    const { socketPath } = await startServer({ root });
    const list = (await call(socketPath, "GET", "/images/json")).json<{ Id: string; RepoTags: string[] }[]>();
    expect(list).toEqual([
      expect.objectContaining({ Id: id, RepoTags: expect.arrayContaining(["busybox:latest"]) as unknown }),
    ]);
    const ref = encodeURIComponent(JSON.stringify({ reference: ["localhost:5000/*/bb"] }));
    expect((await call(socketPath, "GET", `/images/json?filters=${ref}`)).json()).toHaveLength(1);
    const inspect = await call(socketPath, "GET", "/v1.41/images/localhost:5000/team/bb:1/json");
    expect(inspect.status).toBe(200);
    expect(inspect.json()).toMatchObject({ Id: id, Os: "linux", RootFS: { Type: "layers" } });
    const missing = await call(socketPath, "GET", "/images/nothere/json");
    expect(missing.status).toBe(404);
    expect(missing.json()).toMatchObject({ message: "No such image: nothere", code: "image/not-found" });
    const untag = await call(socketPath, "DELETE", "/images/localhost:5000/team/bb:1");
    expect(untag.json()).toEqual([{ Untagged: "localhost:5000/team/bb:1" }]);
    const gone = await call(socketPath, "DELETE", "/images/busybox");
    expect(gone.json()).toEqual([{ Untagged: "busybox:latest" }, { Deleted: id }]);
    // The store is closed after each request: the CLI can open it right away.
    const again = await ImageStore.open(root, { lockTimeoutMs: 100 });
    expect(await again.list()).toEqual([]);
    await again.close();
  });
});

describe("the socket", () => {
  it("is created with the requested mode and removed on close", async () => {
    const { socketPath, server } = await startServer({ mode: 0o600 });
    expect((await stat(socketPath)).mode & 0o777).toBe(0o600);
    await server.close();
    expect(existsSync(socketPath)).toBe(false);
  });

  it("refuses a socket a live server answers on, naming it", async () => {
    const { socketPath } = await startServer();
    const err = await startApiServer({
      runtime: new RecordingRuntime(),
      root: await tmp(),
      socketPath,
      version: "x",
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TsstackError);
    expect((err as TsstackError).code).toBe("engine/already-running");
    expect((err as TsstackError).message).toContain(socketPath);
  });

  it("replaces a stale socket nobody answers on, and refuses to remove a file that is not a socket", async () => {
    const dir = await tmp();
    const socketPath = join(dir, "stale.sock");
    // A listener killed with SIGKILL leaves its socket file behind.
    const child = spawn(process.execPath, [
      "-e",
      `require("net").createServer().listen(${JSON.stringify(socketPath)})`,
    ]);
    await eventually(() => {
      expect(existsSync(socketPath)).toBe(true);
    });
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    expect(existsSync(socketPath)).toBe(true);
    const { socketPath: served } = await startServer({ socketPath });
    expect((await call(served, "GET", "/_ping")).text).toBe("OK");

    const plain = join(dir, "plain-file");
    await writeFile(plain, "not a socket");
    await expect(
      startApiServer({ runtime: new RecordingRuntime(), root: dir, socketPath: plain, version: "x" }),
    ).rejects.toThrow(/not a socket/);
  });

  it("ends open streams when it closes", async () => {
    const { socketPath, server } = await startServer();
    const events = await rawExchange(socketPath, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
    const ended = readToEnd(events.socket, events.rest);
    await server.close();
    await ended;
  });
});
