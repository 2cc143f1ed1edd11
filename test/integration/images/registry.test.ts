/**
 * Registry client against a real registry (Debian's docker-registry on 127.0.0.1) with skopeo as the
 * independent client: pull/push anonymous, basic and bearer-token auth, re-pull, mounts, manifest
 * lists, the credential file, and where credentials may go. Plus the pure rules (scheme choice,
 * challenge parsing, progress lines) as tables.
 */
import { lstat, mkdtemp, readFile, readlink, rm, stat } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TsstackError } from "../../../src/common/errors.js";
import {
  RegistryClient,
  allowsPlainHttp,
  parseAuthenticate,
  registryBaseUrl,
  type Credentials,
} from "../../../src/runtime/images/registry/client.js";
import {
  CredentialStore,
  defaultAuthFilePath,
  login,
  logout,
} from "../../../src/runtime/images/registry/credentials.js";
import {
  ProgressRenderer,
  formatBytes,
  formatProgressLine,
} from "../../../src/runtime/images/registry/progress.js";
import { pullImage, pullImageWithStats } from "../../../src/runtime/images/registry/pull.js";
import { pushImage } from "../../../src/runtime/images/registry/push.js";
import { ImageStore } from "../../../src/runtime/images/store.js";
import type { TransferProgress } from "../../../src/runtime/images/types.js";
import {
  addTestImage,
  buildTestImage,
  processAlive,
  skopeo,
  skopeoPush,
  startRegistry,
  writeOciLayout,
  type RegistryFixture,
  type TestImage,
} from "../../helpers/registry.js";
import { useImageStores } from "../../helpers/stores.js";
import { startTokenServer, type TokenServer } from "../../helpers/token-server.js";

/** Temp dirs and fixtures made by this file; removed / stopped in afterAll, leftovers asserted. */
const tempDirs: string[] = [];
const registries: RegistryFixture[] = [];
const openStore = useImageStores();

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `tsstack-${prefix}-`));
  tempDirs.push(dir);
  return dir;
}

async function newStore(): Promise<ImageStore> {
  return openStore(await tempDir("store"));
}

async function registry(opts: Parameters<typeof startRegistry>[0] = {}): Promise<RegistryFixture> {
  const r = await startRegistry(opts);
  registries.push(r);
  return r;
}

afterAll(async () => {
  for (const r of registries) await r.stop();
  for (const r of registries) expect(processAlive(r.pid), `registry pid ${r.pid} still running`).toBe(false);
  await Promise.all(tempDirs.map((d) => rm(d, { recursive: true, force: true })));
});

function staticCredentials(map: Record<string, Credentials>): {
  get(r: string): Promise<Credentials | undefined>;
} {
  return { get: (r) => Promise.resolve(map[r]) };
}

async function expectError(p: Promise<unknown>): Promise<TsstackError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TsstackError);
  return err as TsstackError;
}

let busybox: TestImage;
let busyboxLayout: string;
beforeAll(async () => {
  busybox = await buildTestImage();
  busyboxLayout = await tempDir("layout");
  await writeOciLayout(busyboxLayout, "1", [busybox]);
});

/* ---------------------------------------------------------------------------------------------- */

describe("scheme and challenge rules", () => {
  it.each([
    ["127.0.0.1:5000", [], "http:"],
    ["127.8.9.10", [], "http:"],
    ["localhost:5000", [], "http:"],
    ["[::1]:5000", [], "http:"],
    ["registry.example.com", [], "https:"],
    ["registry.example.com:5000", [], "https:"],
    ["10.1.2.3:5000", [], "https:"],
    ["registry.example.com:5000", ["registry.example.com:5000"], "http:"],
    ["registry.example.com:5000", ["registry.example.com"], "http:"],
    ["registry.example.com:5000", ["registry.example.com:6000"], "https:"],
    ["10.1.2.3:5000", ["10.0.0.0/8"], "http:"],
    ["11.1.2.3:5000", ["10.0.0.0/8"], "https:"],
    ["docker.io", [], "https:"],
  ] as const)("%s with insecure %j uses %s", (host, insecure, scheme) => {
    expect(registryBaseUrl(host, insecure).protocol).toBe(scheme);
    expect(allowsPlainHttp(host, insecure)).toBe(scheme === "http:");
  });

  it("maps Docker Hub to its API host", () => {
    expect(registryBaseUrl("docker.io").href).toBe("https://registry-1.docker.io/");
  });

  it("contacts a registry that is neither loopback nor insecure-listed over HTTPS only, and fails fast", async () => {
    const seen: string[] = [];
    const fetchStub = (input: string | URL | Request): Promise<Response> => {
      seen.push(input instanceof Request ? input.url : String(input));
      return Promise.reject(new TypeError("fetch failed", { cause: new Error("connect ECONNREFUSED") }));
    };
    const client = new RegistryClient({ fetch: fetchStub });
    const err = await expectError(pullImage(await newStore(), "registry.example.com:5000/app:1", { client }));
    expect(err.code).toBe("registry/unreachable");
    expect(err.message).toContain("https://registry.example.com:5000/v2/app/manifests/1");
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((u) => u.startsWith("https://"))).toBe(true);
  });

  it.each([
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
      "bearer",
      {
        realm: "https://auth.docker.io/token",
        service: "registry.docker.io",
        scope: "repository:library/busybox:pull",
      },
    ],
    ['Basic realm="Registry Realm"', "basic", { realm: "Registry Realm" }],
    ['Bearer realm="x",error="insufficient_scope"', "bearer", { realm: "x", error: "insufficient_scope" }],
    ['Bearer realm="a\\"b"', "bearer", { realm: 'a"b' }],
  ])("parses WWW-Authenticate %s", (header, scheme, params) => {
    expect(parseAuthenticate(header)).toEqual({ scheme, params });
  });
});

describe("progress rendering", () => {
  const digest = `sha256:${"ab".repeat(32)}`;

  it.each<[TransferProgress, string]>([
    [
      { digest, done: 12_300_000, total: 40_100_000, phase: "downloading" },
      "sha256:abababababab… downloading 12.3 MB / 40.1 MB",
    ],
    [{ digest, done: 0, total: 999, phase: "exists" }, "sha256:abababababab… already exists"],
    [
      { digest, done: 0, total: 999, phase: "mounted" },
      "sha256:abababababab… mounted from another repository",
    ],
    [{ digest, done: 999, total: 999, phase: "complete" }, "sha256:abababababab… complete 999 B"],
  ])("formats %j", (p, line) => {
    expect(formatProgressLine(p)).toBe(line);
  });

  it("formats sizes in decimal units", () => {
    expect([formatBytes(0), formatBytes(999), formatBytes(1000), formatBytes(1_500_000_000)]).toEqual([
      "0 B",
      "999 B",
      "1.0 kB",
      "1.5 GB",
    ]);
  });

  it("prints plain lines on phase changes and at most one per interval while bytes flow", () => {
    let now = 0;
    const out: string[] = [];
    const r = new ProgressRenderer({ write: (t: string) => out.push(t) }, { tty: false, now: () => now });
    r.update({ digest, done: 0, total: 3_000_000, phase: "downloading" });
    now = 500;
    r.update({ digest, done: 1_000_000, total: 3_000_000, phase: "downloading" });
    now = 1_100;
    r.update({ digest, done: 2_000_000, total: 3_000_000, phase: "downloading" });
    now = 1_200;
    r.update({ digest, done: 3_000_000, total: 3_000_000, phase: "complete" });
    r.finish();
    expect(out.join("")).toBe(
      [
        "sha256:abababababab… downloading 0 B / 3.0 MB",
        "sha256:abababababab… downloading 2.0 MB / 3.0 MB",
        "sha256:abababababab… complete 3.0 MB",
        "total 3.0 MB / 3.0 MB (1/1 blobs done)",
        "",
      ].join("\n"),
    );
  });

  it("redraws per-blob lines and an overall line in place on a TTY", () => {
    const out: string[] = [];
    const r = new ProgressRenderer({ write: (t: string) => out.push(t), isTTY: true }, { now: () => 0 });
    r.update({ digest, done: 0, total: 10, phase: "downloading" });
    r.update({ digest: digest.replace("ab", "cd"), done: 0, total: 5, phase: "exists" });
    r.finish();
    expect(out[0]).toBe(
      "\x1b[2Ksha256:abababababab… downloading 0 B / 10 B\n\x1b[2Ktotal 0 B / 10 B (0/1 blobs done)\n",
    );
    // Second draw: back to the top of the 2 lines drawn before, then 3 lines.
    expect(out[1]?.startsWith("\x1b[2F")).toBe(true);
    expect(out.at(-1)).toContain("total 5 B / 15 B (1/2 blobs done)");
  });
});

/* ---------------------------------------------------------------------------------------------- */

describe("anonymous registry", () => {
  let reg: RegistryFixture;
  let multiAmd: TestImage;
  let multiArm: TestImage;
  let multiIndexDigest: string;

  beforeAll(async () => {
    reg = await registry();
    await skopeoPush(busyboxLayout, "1", `${reg.host}/test/busybox:1`);
    multiAmd = await buildTestImage({ architecture: "amd64", files: { "etc/arch": "amd64\n" } });
    multiArm = await buildTestImage({ architecture: "arm64", files: { "etc/arch": "arm64\n" } });
    const multiLayout = await tempDir("multi");
    multiIndexDigest = await writeOciLayout(multiLayout, "1", [multiAmd, multiArm]);
    await skopeoPush(multiLayout, "1", `${reg.host}/test/multi:1`);
  });

  it("pulls an image skopeo pushed, verifies and unpacks it, and reports per-blob progress", async () => {
    const store = await newStore();
    const events: TransferProgress[] = [];
    const { image, digest, stats } = await pullImageWithStats(store, `${reg.host}/test/busybox:1`, {
      onProgress: (p) => events.push(p),
    });
    expect(digest).toBe(busybox.manifestDigest);
    expect(image.id).toBe(busybox.configDigest);
    expect(image.manifestDigest).toBe(busybox.manifestDigest);
    expect(image.repoTags).toEqual([`${reg.host}/test/busybox:1`]);
    expect(image.repoDigests).toEqual([`${reg.host}/test/busybox@${busybox.manifestDigest}`]);
    expect(image.layers.map((l) => l.diffId)).toEqual([busybox.diffId]);
    expect(stats).toMatchObject({ layerBytes: busybox.layer.length, configBytes: busybox.config.length });
    expect(stats.blobsDownloaded).toBe(2);

    const [snapshot] = store.snapshotPaths(image);
    expect(snapshot).toBeDefined();
    const bin = await stat(join(snapshot ?? "", "bin/busybox"));
    expect(bin.mode & 0o111).not.toBe(0);
    expect(await readlink(join(snapshot ?? "", "bin/sh"))).toBe("busybox");

    const layerEvents = events.filter((e) => e.digest === busybox.layerDigest);
    expect(layerEvents[0]?.phase).toBe("downloading");
    expect(layerEvents.at(-1)).toEqual({
      digest: busybox.layerDigest,
      done: busybox.layer.length,
      total: busybox.layer.length,
      phase: "complete",
    });
  });

  it("re-pulls an image already present transferring 0 layer bytes", async () => {
    const store = await newStore();
    await pullImage(store, `${reg.host}/test/busybox:1`);
    const events: TransferProgress[] = [];
    const { image, stats } = await pullImageWithStats(store, `${reg.host}/test/busybox:1`, {
      onProgress: (p) => events.push(p),
    });
    expect(image.id).toBe(busybox.configDigest);
    expect(stats).toEqual({
      manifestBytes: busybox.manifest.length,
      configBytes: 0,
      layerBytes: 0,
      blobsDownloaded: 0,
      blobsExisting: 2,
    });
    expect(events.map((e) => [e.digest, e.phase, e.done])).toEqual(
      expect.arrayContaining([
        [busybox.layerDigest, "exists", 0],
        [busybox.configDigest, "exists", 0],
      ]),
    );
    expect(events).toHaveLength(2);
  });

  it("pulls one blob at a time with concurrency 1 and refuses a concurrency below 1", async () => {
    const events: TransferProgress[] = [];
    await pullImage(await newStore(), `${reg.host}/test/busybox:1`, {
      concurrency: 1,
      onProgress: (p) => events.push(p),
    });
    // Sequential: every blob completes before the next one starts.
    const order = events.filter((e) => e.phase !== "downloading" || e.done === 0).map((e) => e.phase);
    expect(order).toEqual(["downloading", "complete", "downloading", "complete"]);
    const err = await expectError(
      pullImage(await newStore(), `${reg.host}/test/busybox:1`, { concurrency: 0 }),
    );
    expect(err.code).toBe("registry/invalid-option");
  });

  it("pulls by digest without adding a tag", async () => {
    const store = await newStore();
    const image = await pullImage(store, `${reg.host}/test/busybox@${busybox.manifestDigest}`);
    expect(image.repoTags).toEqual([]);
    expect(image.repoDigests).toEqual([`${reg.host}/test/busybox@${busybox.manifestDigest}`]);
    expect((await store.resolve(`${reg.host}/test/busybox@${busybox.manifestDigest}`))?.id).toBe(image.id);
  });

  it("fails with not-found naming the registry for a tag the registry does not have", async () => {
    const err = await expectError(pullImage(await newStore(), `${reg.host}/test/busybox:nope`));
    expect(err.code).toBe("registry/not-found");
    expect(err.message).toContain(`registry ${reg.host} answered 404`);
    expect(err.message).toContain("MANIFEST_UNKNOWN");
  });

  it("selects linux + the host architecture from a manifest list, or the platform asked for", async () => {
    const store = await newStore();
    const host = await pullImageWithStats(store, `${reg.host}/test/multi:1`, {
      platform: { os: "linux", architecture: "amd64" },
    });
    expect(host.digest).toBe(multiIndexDigest);
    expect(host.image.id).toBe(multiAmd.configDigest);
    expect(host.image.repoDigests).toEqual([`${reg.host}/test/multi@${multiIndexDigest}`]);

    const arm = await pullImage(store, `${reg.host}/test/multi:1`, {
      platform: { os: "linux", architecture: "arm64", variant: "v8" },
    });
    expect(arm.id).toBe(multiArm.configDigest);
    expect(arm.architecture).toBe("arm64");

    const err = await expectError(
      pullImage(store, `${reg.host}/test/multi:1`, { platform: { os: "linux", architecture: "s390x" } }),
    );
    expect(err.code).toBe("image/no-matching-platform");
    expect(err.message).toContain("linux/amd64, linux/arm64");
  });

  it("pulls the host platform by default", async () => {
    const image = await pullImage(await newStore(), `${reg.host}/test/multi:1`);
    const expected = process.arch === "arm64" ? multiArm : multiAmd;
    // Only meaningful on the two architectures the index offers.
    if (process.arch === "x64" || process.arch === "arm64") expect(image.id).toBe(expected.configDigest);
  });

  it("pushes a local image that skopeo reads back with the same digests", async () => {
    const store = await newStore();
    const local = await buildTestImage({ files: { "etc/motd": "pushed by tsstack\n" } });
    await addTestImage(store, local, "local/app:1");
    const events: TransferProgress[] = [];
    const result = await pushImage(store, "local/app:1", `${reg.host}/pushed/app:1`, {
      onProgress: (p) => events.push(p),
    });
    expect(result.digest).toBe(local.manifestDigest);
    expect(result.stats).toEqual({
      uploadedBytes: local.layer.length + local.config.length,
      blobsUploaded: 2,
      blobsMounted: 0,
      blobsExisting: 0,
    });
    expect(
      events
        .filter((e) => e.phase === "complete")
        .map((e) => e.digest)
        .sort(),
    ).toEqual([local.layerDigest, local.configDigest].sort());

    const inspected = JSON.parse(
      await skopeo(["inspect", "--tls-verify=false", `docker://${reg.host}/pushed/app:1`]),
    ) as { Digest: string; Layers: string[] };
    expect(inspected.Digest).toBe(local.manifestDigest);
    expect(inspected.Layers).toEqual([local.layerDigest]);

    const out = await tempDir("skopeo-out");
    await skopeo(["copy", "--src-tls-verify=false", `docker://${reg.host}/pushed/app:1`, `oci:${out}:back`]);
    const blob = (d: string): string => join(out, "blobs", "sha256", d.slice("sha256:".length));
    expect(await readFile(blob(local.layerDigest))).toEqual(local.layer);
    expect(await readFile(blob(local.configDigest))).toEqual(local.config);

    // The push is recorded like a pull's origin.
    expect((await store.resolve("local/app:1"))?.repoDigests).toContain(
      `${reg.host}/pushed/app@${local.manifestDigest}`,
    );
  });

  it("pushes blobs the registry has by cross-repository mount, and skips them by HEAD the second time", async () => {
    const store = await newStore();
    await pullImage(store, `${reg.host}/test/busybox:1`);
    const first = await pushImage(store, `${reg.host}/test/busybox:1`, `${reg.host}/mounted/busybox:1`);
    expect(first.stats).toEqual({ uploadedBytes: 0, blobsUploaded: 0, blobsMounted: 2, blobsExisting: 0 });
    const again = await pushImage(store, `${reg.host}/test/busybox:1`, `${reg.host}/mounted/busybox:2`);
    expect(again.stats).toEqual({ uploadedBytes: 0, blobsUploaded: 0, blobsMounted: 0, blobsExisting: 2 });
    const inspected = JSON.parse(
      await skopeo(["inspect", "--tls-verify=false", `docker://${reg.host}/mounted/busybox:2`]),
    ) as { Digest: string };
    expect(inspected.Digest).toBe(busybox.manifestDigest);
  });
});

/* ---------------------------------------------------------------------------------------------- */

describe("basic-auth registry", () => {
  const alice = { username: "alice", password: "s3cret-Pa55" };
  let reg: RegistryFixture;

  beforeAll(async () => {
    reg = await registry({ htpasswd: [alice] });
    await skopeoPush(busyboxLayout, "1", `${reg.host}/test/busybox:1`, [
      "--dest-creds",
      `${alice.username}:${alice.password}`,
    ]);
  });

  it("refuses login with a wrong password with a 401 naming the registry, and stores nothing", async () => {
    const store = new CredentialStore(join(await tempDir("auth"), "auth.json"));
    const err = await expectError(login(reg.host, { username: "alice", password: "wrong" }, { store }));
    expect(err.code).toBe("registry/unauthorized");
    expect(err.message).toContain(`registry ${reg.host} refused`);
    expect(err.message).toContain("401");
    await expect(stat(store.path)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("stores verified credentials in a 0600 auth.json that skopeo can use", async () => {
    const store = new CredentialStore(join(await tempDir("auth"), "sub", "auth.json"));
    await login(reg.host, alice, { store });
    expect((await stat(store.path)).mode & 0o777).toBe(0o600);
    const file = JSON.parse(await readFile(store.path, "utf8")) as {
      auths: Record<string, { auth: string }>;
    };
    expect(Object.keys(file.auths)).toEqual([reg.host]);
    expect(Buffer.from(file.auths[reg.host]?.auth ?? "", "base64").toString()).toBe("alice:s3cret-Pa55");
    expect(await store.get(reg.host)).toEqual(alice);
    expect(await store.get("127.0.0.1:1")).toBeUndefined();
    // The same format as podman's auth.json: an independent client authenticates with it.
    const inspected = JSON.parse(
      await skopeo([
        "inspect",
        "--tls-verify=false",
        "--authfile",
        store.path,
        `docker://${reg.host}/test/busybox:1`,
      ]),
    ) as { Digest: string };
    expect(inspected.Digest).toBe(busybox.manifestDigest);

    expect(await logout(reg.host, { store })).toBe(true);
    expect(await store.get(reg.host)).toBeUndefined();
    expect(await logout(reg.host, { store })).toBe(false);
    expect((await stat(store.path)).mode & 0o777).toBe(0o600);
  });

  it("fails a pull without credentials with a 401 that names the registry and suggests login", async () => {
    const err = await expectError(pullImage(await newStore(), `${reg.host}/test/busybox:1`));
    expect(err.code).toBe("registry/unauthorized");
    expect(err.message).toContain(`registry ${reg.host} answered 401`);
    expect(err.message).toContain(`tsstack login ${reg.host}`);
  });

  it("fails a pull with a wrong stored password with a 401 naming the user", async () => {
    const client = new RegistryClient({
      credentials: staticCredentials({ [reg.host]: { username: "alice", password: "nope" } }),
    });
    const err = await expectError(pullImage(await newStore(), `${reg.host}/test/busybox:1`, { client }));
    expect(err.code).toBe("registry/unauthorized");
    expect(err.message).toContain("credentials of alice");
  });

  it("pulls and pushes with stored credentials", async () => {
    const creds = new CredentialStore(join(await tempDir("auth"), "auth.json"));
    await login(reg.host, alice, { store: creds });
    const client = new RegistryClient({ credentials: creds });
    const store = await newStore();
    const image = await pullImage(store, `${reg.host}/test/busybox:1`, { client });
    expect(image.id).toBe(busybox.configDigest);
    const pushed = await pushImage(store, `${reg.host}/test/busybox:1`, `${reg.host}/copy/busybox:1`, {
      client,
    });
    expect(pushed.stats.blobsMounted).toBe(2);
    // Docker v2 schema 2 this time: the registry and skopeo keep its media types and digest.
    const local = await buildTestImage({ files: { "etc/basic": "x\n" }, flavour: "docker" });
    await addTestImage(store, local, "local/basic:1");
    const uploaded = await pushImage(store, "local/basic:1", `${reg.host}/up/basic:1`, { client });
    expect(uploaded.stats.blobsUploaded).toBe(2);
    const inspected = JSON.parse(
      await skopeo([
        "inspect",
        "--tls-verify=false",
        "--creds",
        `${alice.username}:${alice.password}`,
        `docker://${reg.host}/up/basic:1`,
      ]),
    ) as { Digest: string };
    expect(inspected.Digest).toBe(local.manifestDigest);
  });
});

/* ---------------------------------------------------------------------------------------------- */

describe("bearer-token registry", () => {
  const alice = { username: "alice", password: "token-pw" };
  let tokens: TokenServer;
  let reg: RegistryFixture;

  beforeAll(async () => {
    tokens = await startTokenServer({
      users: { [alice.username]: alice.password },
      grant: (account, repo) => {
        if (repo.startsWith("public/")) return account === "alice" ? ["pull", "push"] : ["pull"];
        if (account === "alice" && repo.startsWith("alice/")) return ["pull", "push"];
        return [];
      },
    });
    reg = await registry({ token: tokens });
    await skopeoPush(busyboxLayout, "1", `${reg.host}/public/busybox:1`, [
      "--dest-creds",
      `${alice.username}:${alice.password}`,
    ]);
  });
  afterAll(async () => {
    await tokens.stop();
  });

  it("pulls a public repository anonymously with a pull-scoped token the registry verifies", async () => {
    const before = tokens.requests.length;
    const image = await pullImage(await newStore(), `${reg.host}/public/busybox:1`);
    expect(image.id).toBe(busybox.configDigest);
    const mine = tokens.requests.slice(before);
    expect(mine.length).toBeGreaterThan(0);
    for (const r of mine) {
      expect(r.account).toBeUndefined();
      expect(r.headers.authorization).toBeUndefined();
      expect(r.url.searchParams.getAll("scope")).toEqual(["repository:public/busybox:pull"]);
      expect(r.url.searchParams.get("service")).toBe(tokens.service);
    }
    // One token serves the manifest and both blobs (parallel downloads share the request).
    expect(mine).toHaveLength(1);
  });

  it("reuses a token until it is about to expire, then asks for a new one", async () => {
    let now = Date.now();
    const client = new RegistryClient({ now: () => now });
    const repo = { registry: reg.host, repository: "public/busybox" };
    const before = tokens.requests.length;
    await client.getManifest(repo, "1");
    await client.headBlob(repo, busybox.layerDigest);
    expect(tokens.requests.length - before).toBe(1);
    // The token server issues 300 s tokens; the client renews 10 s early.
    now += 291_000;
    await client.headBlob(repo, busybox.layerDigest);
    expect(tokens.requests.length - before).toBe(2);
  });

  it("refuses a pull the token service grants nothing for", async () => {
    const err = await expectError(pullImage(await newStore(), `${reg.host}/alice/secret:1`));
    expect(err.code).toBe("registry/unauthorized");
    expect(err.message).toContain(reg.host);
  });

  it("refuses login with a wrong password at the token service", async () => {
    const store = new CredentialStore(join(await tempDir("auth"), "auth.json"));
    const err = await expectError(login(reg.host, { username: "alice", password: "bad" }, { store }));
    expect(err.code).toBe("registry/unauthorized");
    expect(err.message).toContain(reg.host);
    expect(err.message).toContain("incorrect username or password");
    await login(reg.host, alice, { store });
    expect(await store.get(reg.host)).toEqual(alice);
  });

  it("pushes with pull,push scope, mounting from the repository the image came from", async () => {
    const client = new RegistryClient({ credentials: staticCredentials({ [reg.host]: alice }) });
    const store = await newStore();
    await pullImage(store, `${reg.host}/public/busybox:1`, { client });
    const before = tokens.requests.length;
    const pushed = await pushImage(store, `${reg.host}/public/busybox:1`, `${reg.host}/alice/busybox:1`, {
      client,
    });
    expect(pushed.stats).toMatchObject({ blobsMounted: 2, uploadedBytes: 0 });
    const scopes = tokens.requests.slice(before).map((r) => r.url.searchParams.getAll("scope").sort());
    expect(scopes).toContainEqual(["repository:alice/busybox:pull,push"]);
    expect(scopes).toContainEqual(["repository:alice/busybox:pull,push", "repository:public/busybox:pull"]);
    for (const r of tokens.requests.slice(before)) expect(r.account).toBe("alice");

    const again = await pullImageWithStats(await newStore(), `${reg.host}/alice/busybox:1`, { client });
    expect(again.image.id).toBe(busybox.configDigest);
  });

  it("uploads with a token and the registry refuses a push the token does not grant", async () => {
    const client = new RegistryClient({ credentials: staticCredentials({ [reg.host]: alice }) });
    const store = await newStore();
    const local = await buildTestImage({ files: { "etc/token": "y\n" } });
    await addTestImage(store, local, "local/token:1");
    const ok = await pushImage(store, "local/token:1", `${reg.host}/alice/token:1`, { client });
    expect(ok.stats.blobsUploaded).toBe(2);
    const err = await expectError(pushImage(store, "local/token:1", `${reg.host}/bob/token:1`, { client }));
    expect(err.code).toBe("registry/unauthorized");
    expect(err.message).toContain(`push ${reg.host}/bob/token:1`);
    expect(err.message).toContain("credentials of alice");
  });
});

/* ---------------------------------------------------------------------------------------------- */

interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
}

interface FakeServer {
  readonly origin: string;
  readonly host: string;
  readonly requests: RecordedRequest[];
  close(): Promise<void>;
}

/** A tiny HTTP server on loopback that records every request and answers with `handle`. */
async function fakeServer(
  handle: (req: RecordedRequest, res: import("node:http").ServerResponse) => void,
): Promise<FakeServer> {
  const requests: RecordedRequest[] = [];
  const srv: Server = createServer((req, res) => {
    const rec = { method: req.method ?? "", url: req.url ?? "", headers: req.headers };
    requests.push(rec);
    handle(rec, res);
  });
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const { port } = srv.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    requests,
    close: async () => {
      srv.closeAllConnections();
      await new Promise<void>((resolve) => {
        srv.close(() => {
          resolve();
        });
      });
    },
  };
}

describe("credentials never leave their host", () => {
  const servers: FakeServer[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });

  /**
   * A registry that wants basic auth and redirects blob downloads to `cdn` (another origin), as
   * registries backed by object storage do; `tamper` makes it serve a different manifest for a digest.
   */
  async function redirectingRegistry(
    cdn: () => string,
    user: Credentials,
    opts: { tamper?: boolean } = {},
  ): Promise<FakeServer> {
    const expected = `Basic ${Buffer.from(`${user.username}:${user.password}`).toString("base64")}`;
    const s = await fakeServer((req, res) => {
      if (req.headers.authorization !== expected) {
        res.writeHead(401, { "www-authenticate": 'Basic realm="fake"' }).end();
        return;
      }
      const blob = /^\/v2\/test\/busybox\/blobs\/(sha256:[a-f0-9]{64})$/.exec(req.url);
      if (blob) {
        res.writeHead(307, { location: `${cdn()}/blobs/${blob[1] ?? ""}` }).end();
        return;
      }
      if (req.url === "/v2/") {
        res.writeHead(200).end("{}");
        return;
      }
      if (req.url.startsWith("/v2/test/busybox/manifests/")) {
        const body = opts.tamper
          ? Buffer.from(busybox.manifest.toString().replace("2", "2 "))
          : busybox.manifest;
        res.writeHead(200, { "content-type": "application/vnd.oci.image.manifest.v1+json" });
        res.end(req.method === "HEAD" ? undefined : body);
        return;
      }
      res.writeHead(404).end();
    });
    servers.push(s);
    return s;
  }

  function cdnServing(blobs: Record<string, Buffer>): Promise<FakeServer> {
    return fakeServer((req, res) => {
      const digest = req.url.replace("/blobs/", "");
      const body = blobs[digest];
      if (body) res.writeHead(200, { "content-length": String(body.length) }).end(body);
      else res.writeHead(404).end();
    }).then((s) => (servers.push(s), s));
  }

  it("sends stored credentials to their registry but not to the host a blob download redirects to", async () => {
    const user = { username: "carol", password: "redirect-pw" };
    const cdn = await cdnServing({
      [busybox.layerDigest]: busybox.layer,
      [busybox.configDigest]: busybox.config,
    });
    const reg = await redirectingRegistry(() => cdn.origin, user);
    const creds = new CredentialStore(join(await tempDir("auth"), "auth.json"));
    await login(reg.host, user, { store: creds });
    expect((await stat(creds.path)).mode & 0o777).toBe(0o600);

    const image = await pullImage(await newStore(), `${reg.host}/test/busybox:1`, {
      client: new RegistryClient({ credentials: creds }),
    });
    expect(image.id).toBe(busybox.configDigest);
    expect(cdn.requests.map((r) => r.url).sort()).toEqual(
      [`/blobs/${busybox.configDigest}`, `/blobs/${busybox.layerDigest}`].sort(),
    );
    for (const r of cdn.requests) expect(r.headers.authorization).toBeUndefined();
    expect(reg.requests.some((r) => r.headers.authorization?.startsWith("Basic "))).toBe(true);
  });

  it("does not offer one registry's credentials to another registry on another port", async () => {
    const user = { username: "dave", password: "other-port" };
    const cdn = await cdnServing({
      [busybox.layerDigest]: busybox.layer,
      [busybox.configDigest]: busybox.config,
    });
    const mine = await redirectingRegistry(() => cdn.origin, user);
    const other = await redirectingRegistry(() => cdn.origin, { username: "x", password: "y" });
    const creds = new CredentialStore(join(await tempDir("auth"), "auth.json"));
    await creds.set(mine.host, user);
    const err = await expectError(
      pullImage(await newStore(), `${other.host}/test/busybox:1`, {
        client: new RegistryClient({ credentials: creds }),
      }),
    );
    expect(err.code).toBe("registry/unauthorized");
    expect(other.requests.length).toBeGreaterThan(0);
    for (const r of other.requests) expect(r.headers.authorization).toBeUndefined();
  });

  it("does not authenticate to a redirect target that asks for credentials", async () => {
    const user = { username: "erin", password: "cdn-asks" };
    const realm = await fakeServer((_req, res) => res.writeHead(200).end('{"token":"t"}'));
    servers.push(realm);
    const cdn = await fakeServer((_req, res) =>
      res.writeHead(401, { "www-authenticate": `Bearer realm="${realm.origin}/token",service="cdn"` }).end(),
    );
    servers.push(cdn);
    const reg = await redirectingRegistry(() => cdn.origin, user);
    const client = new RegistryClient({ credentials: staticCredentials({ [reg.host]: user }) });
    const err = await expectError(pullImage(await newStore(), `${reg.host}/test/busybox:1`, { client }));
    expect(err.code).toBe("registry/unauthorized");
    expect(realm.requests).toHaveLength(0);
    for (const r of cdn.requests) expect(r.headers.authorization).toBeUndefined();
  });

  it("refuses to send credentials to a plain-HTTP token realm on a non-loopback host", async () => {
    const seen: { url: string; authorization: string | undefined }[] = [];
    const fetchStub = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
      const headers = (init?.headers ?? {}) as Record<string, string>;
      seen.push({
        url: input instanceof Request ? input.url : input.toString(),
        authorization: headers["authorization"],
      });
      return Promise.resolve(
        new Response(null, {
          status: 401,
          headers: { "www-authenticate": 'Bearer realm="http://auth.example.com/token",service="r"' },
        }),
      );
    };
    const client = new RegistryClient({
      fetch: fetchStub,
      credentials: staticCredentials({ "127.0.0.1:9": { username: "u", password: "p" } }),
    });
    const err = await expectError(pullImage(await newStore(), "127.0.0.1:9/app:1", { client }));
    expect(err.code).toBe("registry/insecure-realm");
    expect(seen.every((s) => s.url.startsWith("http://127.0.0.1:9/"))).toBe(true);
  });

  it("refuses a manifest whose bytes do not match the digest pulled by, and registers nothing", async () => {
    const user = { username: "frank", password: "tamper" };
    const cdn = await cdnServing({});
    const reg = await redirectingRegistry(() => cdn.origin, user, { tamper: true });
    const store = await newStore();
    const client = new RegistryClient({ credentials: staticCredentials({ [reg.host]: user }) });
    const err = await expectError(
      pullImage(store, `${reg.host}/test/busybox@${busybox.manifestDigest}`, { client }),
    );
    expect(err.code).toBe("registry/digest-mismatch");
    expect(await store.list()).toEqual([]);
  });

  it("refuses a blob whose bytes do not match its descriptor, and registers nothing", async () => {
    const user = { username: "grace", password: "bad-blob" };
    const evil = Buffer.from(busybox.layer);
    evil[evil.length - 10] = (evil[evil.length - 10] ?? 0) ^ 0xff;
    const cdn = await cdnServing({ [busybox.layerDigest]: evil, [busybox.configDigest]: busybox.config });
    const reg = await redirectingRegistry(() => cdn.origin, user);
    const store = await newStore();
    const client = new RegistryClient({ credentials: staticCredentials({ [reg.host]: user }) });
    const err = await expectError(pullImage(store, `${reg.host}/test/busybox:1`, { client }));
    expect(err.code).toBe("image/digest-mismatch");
    expect(await store.hasBlob(busybox.layerDigest)).toBe(false);
    expect(await store.list()).toEqual([]);
  });
});

/* ---------------------------------------------------------------------------------------------- */

describe("credential store", () => {
  it("defaults to $XDG_CONFIG_HOME or ~/.config, overridable by TSSTACK_AUTH_FILE", () => {
    expect(defaultAuthFilePath({ HOME: "/home/u" })).toBe("/home/u/.config/tsstack/auth.json");
    expect(defaultAuthFilePath({ HOME: "/home/u", XDG_CONFIG_HOME: "/x" })).toBe("/x/tsstack/auth.json");
    expect(defaultAuthFilePath({ HOME: "/home/u", TSSTACK_AUTH_FILE: "/a.json" })).toBe("/a.json");
  });

  it("keys Docker Hub aliases as docker.io and keeps other hosts apart by port", async () => {
    const store = new CredentialStore(join(await tempDir("auth"), "auth.json"));
    await store.set("https://index.docker.io/v1/", { username: "hub", password: "p" });
    await store.set("127.0.0.1:5000", { username: "a", password: "1" });
    await store.set("127.0.0.1:5001", { username: "b", password: "2" });
    expect(await store.get("registry-1.docker.io")).toEqual({ username: "hub", password: "p" });
    expect(await store.registries()).toEqual(["127.0.0.1:5000", "127.0.0.1:5001", "docker.io"]);
    expect((await store.get("127.0.0.1:5001"))?.username).toBe("b");
    expect(await store.get("127.0.0.1")).toBeUndefined();
  });

  it("replaces a world-readable file with a 0600 one and leaves no temp files", async () => {
    const dir = await tempDir("auth");
    const path = join(dir, "auth.json");
    await import("node:fs/promises").then((fs) => fs.writeFile(path, "{}", { mode: 0o644 }));
    const store = new CredentialStore(path);
    await Promise.all(
      [1, 2, 3].map((i) => store.set(`127.0.0.1:${5000 + i}`, { username: `u${i}`, password: "p" })),
    );
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await store.registries()).toHaveLength(3);
    const { readdir } = await import("node:fs/promises");
    expect(await readdir(dir)).toEqual(["auth.json"]);
  });
});

describe("registry fixture", () => {
  it("stops the registry process and removes its directory", async () => {
    const r = await startRegistry();
    expect(processAlive(r.pid)).toBe(true);
    await r.stop();
    expect(processAlive(r.pid)).toBe(false);
    await expect(lstat(r.dir)).rejects.toMatchObject({ code: "ENOENT" });
  });
});
