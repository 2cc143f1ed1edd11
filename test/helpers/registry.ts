/**
 * Real registry fixtures: Debian's `docker-registry` (distribution 2.x) on 127.0.0.1 with a temporary
 * storage directory, optionally behind htpasswd (bcrypt, made by `htpasswd -Bbn`) or token auth; the
 * `skopeo` CLI as an independent client; and a small busybox image (Debian's busybox-static) built in
 * memory, deterministically, as blobs or as an OCI layout directory.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { tarToBuffer, type TarWriteEntry } from "../../src/runtime/images/tar-writer.js";
import { MediaType, type ImageRecord, type ImageStoreApi } from "../../src/runtime/images/types.js";

const execFileP = promisify(execFile);

export const REGISTRY_BINARY = "/usr/bin/docker-registry";
export const BUSYBOX_BINARY = "/bin/busybox";
export const haveRegistryTools =
  existsSync(REGISTRY_BINARY) && existsSync("/usr/bin/skopeo") && existsSync(BUSYBOX_BINARY);

export interface RegistryFixtureOptions {
  /** Users for HTTP basic auth (bcrypt htpasswd). */
  readonly htpasswd?: readonly { readonly username: string; readonly password: string }[];
  /** Token auth against a token server (test/helpers/token-server.ts). */
  readonly token?: {
    readonly realm: string;
    readonly service: string;
    readonly issuer: string;
    readonly certPath: string;
  };
}

export interface RegistryFixture extends AsyncDisposable {
  /** `127.0.0.1:<port>`: the registry part of image references. */
  readonly host: string;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly pid: number;
  /** Config, htpasswd and storage live here; removed by stop(). */
  readonly dir: string;
  /** Stops the registry (SIGTERM, then SIGKILL) and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", resolve);
  });
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => {
    srv.close(() => {
      resolve();
    });
  });
  return port;
}

/** True while a process with this pid exists (a zombie counts until reaped). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function configYaml(dir: string, port: number, opts: RegistryFixtureOptions): string {
  const lines = [
    "version: 0.1",
    "log:",
    "  level: error",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${join(dir, "storage")}`,
    "  delete:",
    "    enabled: true",
    "http:",
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${createHash("sha256").update(dir).digest("hex")}`,
  ];
  if (opts.htpasswd) {
    lines.push("auth:", "  htpasswd:", "    realm: tsstack-test", `    path: ${join(dir, "htpasswd")}`);
  } else if (opts.token) {
    lines.push(
      "auth:",
      "  token:",
      `    realm: ${opts.token.realm}`,
      `    service: ${opts.token.service}`,
      `    issuer: ${opts.token.issuer}`,
      `    rootcertbundle: ${opts.token.certPath}`,
    );
  }
  return `${lines.join("\n")}\n`;
}

/** Waits for `/v2/` to answer (200, or 401 behind auth); fails fast if the process exits. */
async function waitReady(url: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `docker-registry exited (${child.exitCode ?? child.signalCode}) before serving: ${stderr()}`,
      );
    }
    try {
      const res = await fetch(`${url}/v2/`);
      await res.body?.cancel();
      if (res.status === 200 || res.status === 401) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`docker-registry did not answer ${url}/v2/ within 15 s: ${stderr()}`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => {
      resolve();
    });
  });
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

/** Starts a registry on a free loopback port and waits until it serves. */
export async function startRegistry(opts: RegistryFixtureOptions = {}): Promise<RegistryFixture> {
  const dir = await mkdtemp(join(tmpdir(), "tsstack-registry-"));
  try {
    await mkdir(join(dir, "storage"));
    if (opts.htpasswd) {
      const entries: string[] = [];
      for (const u of opts.htpasswd) {
        const { stdout } = await execFileP("htpasswd", ["-Bbn", u.username, u.password]);
        entries.push(stdout.trim());
      }
      await writeFile(join(dir, "htpasswd"), `${entries.join("\n")}\n`);
    }
    // The port is free when probed but could be taken before the registry binds it: retry then.
    for (let attempt = 0; ; attempt++) {
      const port = await freePort();
      const configPath = join(dir, "config.yml");
      await writeFile(configPath, configYaml(dir, port, opts));
      const child = spawn(REGISTRY_BINARY, ["serve", configPath], { stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => {
        stderr = (stderr + d.toString()).slice(-4000);
      });
      const url = `http://127.0.0.1:${port}`;
      try {
        await waitReady(url, child, () => stderr);
      } catch (err) {
        await stopChild(child);
        if (attempt < 3 && stderr.includes("address already in use")) continue;
        throw err;
      }
      let stopped = false;
      const stop = async (): Promise<void> => {
        if (stopped) return;
        stopped = true;
        await stopChild(child);
        await rm(dir, { recursive: true, force: true });
      };
      return {
        host: `127.0.0.1:${port}`,
        url,
        pid: child.pid ?? -1,
        dir,
        stop,
        [Symbol.asyncDispose]: stop,
      };
    }
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Runs skopeo (no signature policy needed on a test machine); returns stdout, throws with stderr. */
export async function skopeo(args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await execFileP("skopeo", ["--insecure-policy", ...args], {
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`skopeo ${args.join(" ")} failed: ${e.stderr ?? e.message}`, { cause: err });
  }
}

function sha256(data: Uint8Array | string): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

/** A single-platform test image, as blobs. */
export interface TestImage {
  readonly architecture: string;
  readonly config: Buffer;
  readonly configDigest: string;
  readonly layer: Buffer;
  readonly layerDigest: string;
  readonly diffId: string;
  readonly manifest: Buffer;
  readonly manifestDigest: string;
}

export interface TestImageOptions {
  /** Default `amd64`. The binary is the host's busybox whatever this says: only the metadata varies. */
  readonly architecture?: string;
  /** Extra files in the layer (path → content), to make images differ or bigger. */
  readonly files?: Readonly<Record<string, string | Buffer>>;
  /** Manifest flavour. Default `oci`. */
  readonly flavour?: "oci" | "docker";
}

let busyboxBytes: Buffer | undefined;

/** busybox-static as `/bin/busybox` plus a few applet symlinks, gzip-compressed; deterministic. */
export async function buildTestImage(opts: TestImageOptions = {}): Promise<TestImage> {
  busyboxBytes ??= readFileSync(BUSYBOX_BINARY);
  const architecture = opts.architecture ?? "amd64";
  const entries: TarWriteEntry[] = [
    { name: "bin/", type: "directory" },
    { name: "bin/busybox", type: "file", mode: 0o755, body: busyboxBytes },
    ...["sh", "ls", "cat", "echo"].map((applet): TarWriteEntry => ({
      name: `bin/${applet}`,
      type: "symlink",
      linkname: "busybox",
    })),
    ...Object.entries(opts.files ?? {}).map(([name, content]): TarWriteEntry => ({
      name,
      type: "file",
      body: typeof content === "string" ? Buffer.from(content) : content,
    })),
  ];
  const tar = await tarToBuffer(entries);
  const diffId = sha256(tar);
  const layer = gzipSync(tar);
  const layerDigest = sha256(layer);
  const docker = opts.flavour === "docker";
  const config = Buffer.from(
    JSON.stringify({
      architecture,
      os: "linux",
      created: "2024-01-01T00:00:00Z",
      config: { Env: ["PATH=/bin"], Cmd: ["/bin/sh"] },
      rootfs: { type: "layers", diff_ids: [diffId] },
      history: [{ created: "2024-01-01T00:00:00Z", created_by: "tsstack test: busybox-static" }],
    }),
  );
  const configDigest = sha256(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: docker ? MediaType.dockerManifest : MediaType.ociManifest,
      config: {
        mediaType: docker ? MediaType.dockerConfig : MediaType.ociConfig,
        digest: configDigest,
        size: config.length,
      },
      layers: [
        {
          mediaType: docker ? MediaType.dockerLayerGzip : MediaType.ociLayerGzip,
          digest: layerDigest,
          size: layer.length,
        },
      ],
    }),
  );
  return {
    architecture,
    config,
    configDigest,
    layer,
    layerDigest,
    diffId,
    manifest,
    manifestDigest: sha256(manifest),
  };
}

async function writeBlob(layoutDir: string, data: Buffer): Promise<void> {
  await writeFile(join(layoutDir, "blobs", "sha256", sha256(data).slice("sha256:".length)), data);
}

/**
 * Writes an OCI image layout at `dir` with `images` under `tag`: one image as a plain manifest, several
 * as an image index with their platforms. Returns the digest the tag points at.
 */
export async function writeOciLayout(
  dir: string,
  tag: string,
  images: readonly TestImage[],
): Promise<string> {
  await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  await writeFile(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  for (const img of images) {
    for (const blob of [img.config, img.layer, img.manifest]) await writeBlob(dir, blob);
  }
  let top: { mediaType: string; digest: string; size: number };
  const [only] = images;
  if (images.length === 1 && only) {
    top = { mediaType: MediaType.ociManifest, digest: only.manifestDigest, size: only.manifest.length };
  } else {
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociIndex,
        manifests: images.map((img) => ({
          mediaType: MediaType.ociManifest,
          digest: img.manifestDigest,
          size: img.manifest.length,
          platform: { architecture: img.architecture, os: "linux" },
        })),
      }),
    );
    await writeBlob(dir, index);
    top = { mediaType: MediaType.ociIndex, digest: sha256(index), size: index.length };
  }
  await writeFile(
    join(dir, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: [{ ...top, annotations: { "org.opencontainers.image.ref.name": tag } }],
    }),
  );
  return top.digest;
}

// eslint-disable-next-line @typescript-eslint/require-await -- an async iterable of one buffer
async function* chunks(data: Buffer): AsyncGenerator<Buffer> {
  yield data;
}

/** Puts a test image straight into a store (as `tsstack image load` would), under `name`. */
export async function addTestImage(
  store: ImageStoreApi,
  image: TestImage,
  name: string,
): Promise<ImageRecord> {
  await store.writeBlob(chunks(image.config), { digest: image.configDigest, size: image.config.length });
  await store.writeBlob(chunks(image.layer), { digest: image.layerDigest, size: image.layer.length });
  return store.addImage(image.manifest, { names: [name] });
}

/** Copies a single- or multi-platform OCI layout into the registry with skopeo. */
export async function skopeoPush(
  layoutDir: string,
  tag: string,
  dest: string,
  extra: readonly string[] = [],
): Promise<void> {
  await skopeo([
    "copy",
    "--all",
    "--preserve-digests",
    "--dest-tls-verify=false",
    ...extra,
    `oci:${layoutDir}:${tag}`,
    `docker://${dest}`,
  ]);
}
