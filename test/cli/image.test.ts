import { stat, readFile, writeFile } from "node:fs/promises";
import { registryOptions } from "../../src/cli/commands/image.js";
import { allowsPlainHttp } from "../../src/runtime/images/registry/client.js";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import type { CliIo } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";
import {
  buildBusyboxImage,
  busyboxDockerArchive,
  busyboxRootfs,
  FIXED_CREATED,
  type BusyboxImage,
} from "../helpers/busybox-image.js";
import { haveRegistryTools, startRegistry } from "../helpers/registry.js";
import { useTmpDirs } from "../helpers/tmp.js";

const tmp = useTmpDirs("tsstack-cli-image-");
/** Two days after the test images were made. */
const NOW = new Date(new Date(FIXED_CREATED).getTime() + 2 * 24 * 3600 * 1000);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  bytes: Buffer;
}

interface RunOptions {
  env?: Record<string, string>;
  stdin?: Buffer | string;
  stdinIsTTY?: boolean;
  stdoutIsTTY?: boolean;
  cwd?: string;
}

async function run(argv: string[], opts: RunOptions = {}): Promise<Run> {
  let stdout = "";
  let stderr = "";
  const bytes: Buffer[] = [];
  const stdoutBytes = Object.assign(new PassThrough(), { isTTY: opts.stdoutIsTTY === true });
  stdoutBytes.on("data", (c: Buffer) => bytes.push(c));
  const stdin =
    opts.stdin === undefined
      ? undefined
      : Object.assign(Readable.from([Buffer.from(opts.stdin)]), { isTTY: opts.stdinIsTTY === true });
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s), isTTY: opts.stdoutIsTTY === true },
    stderr: { write: (s: string) => (stderr += s) },
    env: opts.env ?? {},
    cwd: opts.cwd ?? "/",
    homeDir: "/home/tester",
    stdoutBytes,
    ...(stdin !== undefined ? { stdin } : {}),
    now: () => NOW,
  };
  const code = await main(argv, io);
  return { code, stdout, stderr, bytes: Buffer.concat(bytes) };
}

/** A fresh engine root with `images` loaded from a docker archive; returns `--root <dir>` argv. */
async function rootWith(images: { image: BusyboxImage; repoTags?: string[] }[]): Promise<string[]> {
  const root = await tmp();
  const archive = join(await tmp(), "in.tar");
  await writeFile(archive, await busyboxDockerArchive(images));
  const r = await run(["--root", root, "load", "-i", archive]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return ["--root", root];
}

describe("tsstack load / images", () => {
  it("loads a docker archive from -i and lists it like docker images", async () => {
    const image = await buildBusyboxImage();
    const root = await tmp();
    const archive = join(await tmp(), "busybox.tar");
    await writeFile(
      archive,
      await busyboxDockerArchive([{ image, repoTags: ["busybox:latest", "localhost:5000/bb:1"] }]),
    );
    const loaded = await run(["--root", root, "image", "load", "-i", archive]);
    expect(loaded).toMatchObject({
      code: 0,
      stderr: "",
      stdout: "Loaded image: busybox:latest\nLoaded image: localhost:5000/bb:1\n",
    });
    const id = image.configDigest.slice(7, 19);
    const ls = await run(["--root", root, "images"]);
    expect(ls.code).toBe(0);
    const size = ls.stdout
      .split("\n")[1]
      ?.trim()
      .split(/\s{3,}/)[4];
    expect(size).toMatch(/^\d+(\.\d+)?MB$/);
    expect(ls.stdout).toBe(
      [
        "REPOSITORY          TAG       IMAGE ID       CREATED      SIZE",
        `busybox             latest    ${id}   2 days ago   ${size}`,
        `localhost:5000/bb   1         ${id}   2 days ago   ${size}`,
        "",
      ].join("\n"),
    );
    const sameViaImageLs = await run(["--root", root, "image", "ls"]);
    expect(sameViaImageLs.stdout).toBe(ls.stdout);
  });

  it("prints ids with -q, JSON lines with --format json, and Go-style templates", async () => {
    const image = await buildBusyboxImage();
    const root = await rootWith([{ image, repoTags: ["busybox:latest", "busybox:1"] }]);
    const id = image.configDigest.slice(7, 19);
    expect((await run([...root, "images", "-q"])).stdout).toBe(`${id}\n${id}\n`);
    expect((await run([...root, "images", "-q", "--no-trunc"])).stdout).toBe(
      `${image.configDigest}\n`.repeat(2),
    );
    const lines = (await run([...root, "images", "--format", "json"])).stdout.trim().split("\n");
    const rows = lines.map((l) => JSON.parse(l) as Record<string, string>);
    expect(rows.map((r) => [r["Repository"], r["Tag"], r["ID"], r["CreatedSince"], r["CreatedAt"]])).toEqual([
      ["busybox", "1", id, "2 days ago", "2024-01-01 00:00:00 +0000 UTC"],
      ["busybox", "latest", id, "2 days ago", "2024-01-01 00:00:00 +0000 UTC"],
    ]);
    expect((await run([...root, "images", "--format", "{{json .}}"])).stdout.trim().split("\n")).toEqual(
      lines,
    );
    expect((await run([...root, "images", "--format", "{{.Repository}}:{{.Tag}}"])).stdout).toBe(
      "busybox:1\nbusybox:latest\n",
    );
    expect((await run([...root, "images", "--format", "table {{.Repository}}\\t{{.Tag}}"])).stdout).toBe(
      "REPOSITORY   TAG\nbusybox      1\nbusybox      latest\n",
    );
    for (const bad of ["{{.Nope}}", "{{.Tag", "{{range .}}"]) {
      const r = await run([...root, "images", "--format", bad]);
      expect(r.code, bad).toBe(2);
      expect(r.stdout).toBe("");
    }
  });

  it("filters with -f after the subcommand (not the compose -f) and by reference argument", async () => {
    const a = await buildBusyboxImage({ cmd: ["a"] });
    const b = await buildBusyboxImage({ cmd: ["b"] });
    const root = await rootWith([
      { image: a, repoTags: ["app/web:1"] },
      { image: b, repoTags: ["app/db:1"] },
    ]);
    const fmt = ["--format", "{{.Repository}}"];
    expect((await run([...root, "images", "-f", "reference=app/w*", ...fmt])).stdout).toBe("app/web\n");
    expect((await run([...root, "images", "app/db", ...fmt])).stdout).toBe("app/db\n");
    expect((await run([...root, "images", "--filter", "dangling=true", ...fmt])).stdout).toBe("");
    const invalid = await run([...root, "images", "-f", "color=red"]);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toContain('invalid filter "color=red"');
  });

  it("loads from standard input, and refuses a terminal as input", async () => {
    const image = await buildBusyboxImage();
    const root = await tmp();
    const archive = await busyboxDockerArchive([{ image, repoTags: ["busybox:stdin"] }]);
    const r = await run(["--root", root, "load"], { stdin: archive });
    expect(r).toMatchObject({ code: 0, stdout: "Loaded image: busybox:stdin\n" });
    const tty = await run(["--root", root, "load"], { stdin: "", stdinIsTTY: true });
    expect(tty.code).toBe(2); // usage error (docker exits 1; tsstack uses 2 for usage and invalid input)
    expect(tty.stderr).toContain("requested load from stdin, but stdin is empty");
  });

  it("takes the root from --root, else TSSTACK_ROOT", async () => {
    const image = await buildBusyboxImage();
    const root = await tmp();
    const archive = join(await tmp(), "a.tar");
    await writeFile(archive, await busyboxDockerArchive([{ image, repoTags: ["busybox:env"] }]));
    expect((await run(["load", "-i", archive], { env: { TSSTACK_ROOT: root } })).code).toBe(0);
    expect((await stat(join(root, "images", "db.json"))).isFile()).toBe(true);
    const r = await run(["images", "--format", "{{.Tag}}"], { env: { TSSTACK_ROOT: root } });
    expect(r.stdout).toBe("env\n");
    // --root wins, also after the subcommand.
    const empty = await tmp();
    const other = await run(["image", "ls", "-q", "--root", empty], { env: { TSSTACK_ROOT: root } });
    expect(other).toMatchObject({ code: 0, stdout: "" });
    expect((await stat(join(empty, "images"))).isDirectory()).toBe(true);
  });
});

describe("tsstack image inspect / tag / rm / prune", () => {
  it("inspects as a Docker-shaped JSON array", async () => {
    const image = await buildBusyboxImage({ env: ["PATH=/bin", "A=1"] });
    const root = await rootWith([{ image, repoTags: ["busybox:latest"] }]);
    const r = await run([...root, "image", "inspect", "busybox"]);
    expect(r.code).toBe(0);
    const [info] = JSON.parse(r.stdout) as Record<string, unknown>[];
    expect(info).toMatchObject({
      Id: image.configDigest,
      RepoTags: ["busybox:latest"],
      RepoDigests: [],
      Created: FIXED_CREATED,
      Architecture: "amd64",
      Os: "linux",
      Config: { Env: ["PATH=/bin", "A=1"], Cmd: ["/bin/sh"] },
      RootFS: { Type: "layers", Layers: [image.layers[0]?.diffId] },
    });
    expect(typeof info?.["Size"]).toBe("number");
    expect(
      (await run([...root, "image", "inspect", "-f", "{{.Id}} {{json .Config.Cmd}}", "busybox"])).stdout,
    ).toBe(`${image.configDigest} ["/bin/sh"]\n`);
    const missing = await run([...root, "image", "inspect", "busybox", "nope:1"]);
    expect(missing.code).toBe(1);
    expect((JSON.parse(missing.stdout) as unknown[]).length).toBe(1);
    expect(missing.stderr).toContain("No such image: nope:1");
  });

  it("tags, then untags and deletes with docker's Untagged:/Deleted: lines", async () => {
    const image = await buildBusyboxImage();
    const root = await rootWith([{ image, repoTags: ["busybox:latest"] }]);
    expect(await run([...root, "tag", "busybox", "localhost:5000/mine:v2"])).toMatchObject({
      code: 0,
      stdout: "",
    });
    expect((await run([...root, "images", "--format", "{{.Repository}}:{{.Tag}}"])).stdout).toBe(
      "busybox:latest\nlocalhost:5000/mine:v2\n",
    );
    expect((await run([...root, "rmi", "busybox"])).stdout).toBe("Untagged: busybox:latest\n");
    const last = await run([...root, "image", "rm", "localhost:5000/mine:v2", "gone:1"]);
    expect(last.stdout).toBe(`Untagged: localhost:5000/mine:v2\nDeleted: ${image.configDigest}\n`);
    expect(last.code).toBe(1);
    expect(last.stderr).toContain("gone:1");
    expect((await run([...root, "images", "-q"])).stdout).toBe("");
  });

  it("prunes dangling images with -f, asks first without it", async () => {
    const a = await buildBusyboxImage({ cmd: ["a"] });
    const b = await buildBusyboxImage({ cmd: ["b"] });
    const root = await rootWith([{ image: a, repoTags: ["keep:1"] }, { image: b }]);
    const declined = await run([...root, "image", "prune"], { stdin: "n\n" });
    expect(declined.stdout).toContain("Are you sure you want to continue? [y/N]");
    expect(declined.stdout).not.toContain("Total reclaimed space");
    expect((await run([...root, "images", "-q"])).stdout.split("\n").filter(Boolean)).toHaveLength(2);
    const pruned = await run([...root, "image", "prune", "-f"]);
    expect(pruned.code).toBe(0);
    expect(pruned.stdout).toMatch(
      new RegExp(
        `^Deleted Images:\\ndeleted: ${b.configDigest}\\n\\nTotal reclaimed space: \\d+(\\.\\d+)?[kM]?B\\n$`,
      ),
    );
    const all = await run([...root, "image", "prune", "-a"], { stdin: "y\n" });
    expect(all.stdout).toContain(`deleted: ${a.configDigest}`);
    expect((await run([...root, "images", "-q"])).stdout).toBe("");
  });
});

describe("tsstack save / import", () => {
  it("saves to a file and to redirected stdout, refusing a terminal, and the archive loads elsewhere", async () => {
    const image = await buildBusyboxImage({ extraLayer: { "x.txt": "x" } });
    const root = await rootWith([{ image, repoTags: ["busybox:latest"] }]);
    const out = join(await tmp(), "saved.tar");
    expect(await run([...root, "save", "-o", out, "busybox"])).toMatchObject({
      code: 0,
      stdout: "",
      stderr: "",
    });
    const piped = await run([...root, "image", "save", "--format", "oci", "busybox:latest"]);
    expect(piped.code).toBe(0);
    expect(piped.bytes.length).toBeGreaterThan(1024);
    const tty = await run([...root, "save", "busybox"], { stdoutIsTTY: true });
    expect(tty.code).toBe(2);
    expect(tty.stderr).toContain("cowardly refusing to save to a terminal");

    for (const input of [await readFile(out), piped.bytes]) {
      const other = await tmp();
      const loaded = await run(["--root", other, "load"], { stdin: input });
      expect(loaded.stdout).toBe("Loaded image: busybox:latest\n");
      expect((await run(["--root", other, "images", "-q", "--no-trunc"])).stdout).toBe(
        `${image.configDigest}\n`,
      );
    }
  });

  it("imports a rootfs tar with --change and prints the new image id", async () => {
    const rootfs = await busyboxRootfs();
    const root = await tmp();
    const file = join(await tmp(), "rootfs.tar");
    await writeFile(file, rootfs.tar);
    const r = await run([
      "--root",
      root,
      "import",
      "--change",
      'CMD ["/bin/echo", "hello"]',
      "-c",
      "ENV GREETING=hi",
      "-m",
      "from a test",
      file,
      "imported:1",
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^sha256:[a-f0-9]{64}\n$/);
    const info = JSON.parse((await run(["--root", root, "image", "inspect", "imported:1"])).stdout) as {
      Id: string;
      Config: unknown;
      RootFS: { Layers: string[] };
      Created: string;
    }[];
    expect(info[0]?.Id).toBe(r.stdout.trim());
    expect(info[0]?.Config).toEqual({ Cmd: ["/bin/echo", "hello"], Env: ["GREETING=hi"] });
    expect(info[0]?.RootFS.Layers).toEqual([rootfs.diffId]);
    expect(info[0]?.Created).toBe(NOW.toISOString());

    const fromStdin = await run(["--root", root, "image", "import", "-", "stdin:1"], { stdin: rootfs.gzip });
    expect(fromStdin.code).toBe(0);
    const bad = await run(["--root", root, "import", "-c", "RUN rm -rf /", file, "x:1"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("unsupported instruction RUN");
  });

  it("imports a rootfs tar from an http URL, and names the URL when the server answers 404", async () => {
    const rootfs = await busyboxRootfs();
    const server = createServer((req, res) => {
      if (req.url === "/rootfs.tar.gz") res.end(rootfs.gzip);
      else res.writeHead(404).end();
    });
    await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
    try {
      const { port } = server.address() as AddressInfo;
      const root = await tmp();
      const r = await run(["--root", root, "import", `http://127.0.0.1:${port}/rootfs.tar.gz`, "fromurl:1"]);
      expect(r.code).toBe(0);
      const info = JSON.parse((await run(["--root", root, "image", "inspect", "fromurl:1"])).stdout) as {
        RootFS: { Layers: string[] };
      }[];
      expect(info[0]?.RootFS.Layers).toEqual([rootfs.diffId]);
      const missing = await run(["--root", root, "import", `http://127.0.0.1:${port}/nope.tar`, "x:1"]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain(`http://127.0.0.1:${port}/nope.tar: HTTP 404`);
    } finally {
      await new Promise((done) => server.close(done));
    }
  });
});

describe.skipIf(!haveRegistryTools)("tsstack push / pull / login against a real registry", () => {
  it("pushes to and pulls from a registry with docker's output", async () => {
    await using registry = await startRegistry();
    const image = await buildBusyboxImage();
    const root = await rootWith([{ image, repoTags: ["busybox:latest"] }]);
    const ref = `${registry.host}/cli/busybox:1`;
    expect((await run([...root, "tag", "busybox", ref])).code).toBe(0);
    const pushed = await run([...root, "push", ref]);
    expect(pushed.stderr).toBe("");
    expect(pushed.code).toBe(0);
    expect(pushed.stdout.split("\n")[0]).toBe(`The push refers to repository [${registry.host}/cli/busybox]`);
    expect(pushed.stdout).toMatch(/\n1: digest: sha256:[a-f0-9]{64} size: \d+\n$/);

    const other = await tmp();
    const pulled = await run(["--root", other, "image", "pull", ref]);
    expect(pulled.code).toBe(0);
    const lines = pulled.stdout.split("\n");
    expect(lines[0]).toBe("1: Pulling from cli/busybox");
    expect(pulled.stdout).toContain(`Status: Downloaded newer image for ${ref}\n`);
    expect(pulled.stdout.endsWith(`\n${ref}\n`)).toBe(true);
    const again = await run(["--root", other, "pull", "-q", ref]);
    expect(again.stdout).toBe(`${ref}\n`);
    const info = JSON.parse((await run(["--root", other, "image", "inspect", ref])).stdout) as {
      Id: string;
    }[];
    expect(info[0]?.Id).toBe(image.configDigest);
  });

  it("logs in with --password-stdin (credentials checked, file 0600), pushes with them, logs out", async () => {
    await using registry = await startRegistry({ htpasswd: [{ username: "alice", password: "s3cret" }] });
    const authFile = join(await tmp(), "auth.json");
    const env = { TSSTACK_AUTH_FILE: authFile };
    const wrong = await run(["login", "-u", "alice", "--password-stdin", registry.host], {
      env,
      stdin: "nope\n",
    });
    expect(wrong.code).toBe(1);
    const ok = await run(["login", "-u", "alice", "--password-stdin", registry.host], {
      env,
      stdin: "s3cret\n",
    });
    expect(ok).toMatchObject({ code: 0, stdout: "Login Succeeded\n" });
    expect((await stat(authFile)).mode & 0o777).toBe(0o600);

    const image = await buildBusyboxImage();
    const root = await rootWith([{ image, repoTags: [`${registry.host}/priv/bb:1`] }]);
    expect((await run([...root, "push", "-q", `${registry.host}/priv/bb:1`], { env })).code).toBe(0);

    expect((await run(["logout", registry.host], { env })).stdout).toBe(
      `Removing login credentials for ${registry.host}\n`,
    );
    const denied = await run([...root, "push", `${registry.host}/priv/bb:1`], { env });
    expect(denied.code).toBe(1);
    expect((await run(["logout", registry.host], { env })).stdout).toBe(
      `Not logged in to ${registry.host}\n`,
    );
  });
});

describe("tsstack login", () => {
  it("refuses conflicting password flags as usage errors", async () => {
    const both = await run(["login", "-u", "a", "-p", "x", "--password-stdin", "example.com"], {
      stdin: "x",
    });
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("--password and --password-stdin are mutually exclusive");
    const noUser = await run(["login", "--password-stdin", "example.com"], { stdin: "x" });
    expect(noUser.code).toBe(2);
    expect(noUser.stderr).toContain("Must provide --username with --password-stdin");
  });
});

describe("registry options from the environment", () => {
  it("allows plain HTTP only for loopback and the hosts listed in TSSTACK_INSECURE_REGISTRIES", () => {
    const listed = registryOptions({
      env: { TSSTACK_INSECURE_REGISTRIES: " reg.example:5000, 10.1.0.0/16 ," },
    });
    expect(listed.insecureRegistries).toEqual(["reg.example:5000", "10.1.0.0/16"]);
    const insecure = listed.insecureRegistries ?? [];
    expect(allowsPlainHttp("reg.example:5000", insecure)).toBe(true);
    expect(allowsPlainHttp("10.1.2.3:5000", insecure)).toBe(true);
    expect(allowsPlainHttp("other.example:5000", insecure)).toBe(false);
    expect(allowsPlainHttp("127.0.0.1:5000", registryOptions({ env: {} }).insecureRegistries)).toBe(true);
    expect(allowsPlainHttp("reg.example:5000", registryOptions({ env: {} }).insecureRegistries)).toBe(false);
  });
});
