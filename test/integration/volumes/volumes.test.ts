/**
 * Volumes, binds and tmpfs mounts in real runc containers, as root: data outlives containers, image
 * content is copied up into new volumes, binds honour ro, bad mounts are refused before anything is
 * made, and volumes in use cannot be removed. `useEngines` checks after each test that no mount is
 * left under the engine root.
 */
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { EmbeddedRuntime } from "../../../src/runtime/embedded.js";
import type { HostConfig, MountPoint } from "../../../src/runtime/runtime.js";
import { canRunContainers, logText, useEngines } from "../../helpers/engine.js";
import { useTmpDirs } from "../../helpers/tmp.js";

const engines = useEngines();
const tmp = useTmpDirs("tsstack-volumes-");

/** Runs `script` in a new busybox container to its end: exit code, output, id. */
async function run(
  engine: EmbeddedRuntime,
  script: string,
  hostConfig: HostConfig,
  name?: string,
): Promise<{ code: number; out: string; id: string }> {
  const c = await engine.createContainer({
    ...(name !== undefined ? { name } : {}),
    Image: "busybox:latest",
    Cmd: ["sh", "-c", script],
    HostConfig: hostConfig,
  });
  await c.start();
  const { StatusCode } = await c.wait();
  return { code: StatusCode, out: await logText(engine, c.id), id: (await c.inspect()).Id };
}

async function volumeNames(engine: EmbeddedRuntime): Promise<string[]> {
  return (await engine.listVolumes()).Volumes.map((v) => v.Name);
}

describe.skipIf(!canRunContainers)("named volumes", () => {
  it("keep their data after the container is removed, and a new container sees it", async () => {
    const { engine } = await engines();
    const first = await run(engine, "echo kept > /data/file", { Binds: ["appdata:/data"] });
    expect(first.code).toBe(0);
    const info = await engine.getContainer(first.id).inspect();
    const vol = await engine.inspectVolume("appdata");
    expect(info.Mounts).toEqual([
      {
        Type: "volume",
        Name: "appdata",
        Source: vol.Mountpoint,
        Destination: "/data",
        Driver: "local",
        Mode: "z",
        RW: true,
        Propagation: "",
      },
    ]);
    await engine.getContainer(first.id).remove({ v: true });
    expect(await readFile(join(vol.Mountpoint, "file"), "utf8")).toBe("kept\n");

    const second = await run(engine, "cat /data/file", {
      Mounts: [{ Type: "volume", Source: "appdata", Target: "/data", ReadOnly: true }],
    });
    expect(second).toMatchObject({ code: 0, out: "kept\n" });
  });

  it("are created on first use with the mount's labels, Docker-shaped", async () => {
    const { engine, root } = await engines();
    await run(engine, "true", {
      Mounts: [
        { Type: "volume", Source: "labelled", Target: "/x", VolumeOptions: { Labels: { team: "a" } } },
      ],
    });
    const vol = await engine.inspectVolume("labelled");
    expect(vol).toEqual({
      Name: "labelled",
      Driver: "local",
      Mountpoint: join(root, "volumes", "labelled", "_data"),
      CreatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/) as string,
      Labels: { team: "a" },
      Scope: "local",
      Options: null,
    });
  });

  it("get the image's content copied up when new and empty, but not with NoCopy", async () => {
    const { engine } = await engines();
    const copied = await run(engine, "cat /etc/passwd", {
      Mounts: [{ Type: "volume", Source: "etc-copy", Target: "/etc" }],
    });
    expect(copied.code).toBe(0);
    expect(copied.out).toMatch(/^root:/);
    const etc = (await engine.inspectVolume("etc-copy")).Mountpoint;
    expect(await readFile(join(etc, "passwd"), "utf8")).toMatch(/^root:/);
    // Copy-up happens once: a later container with the same volume sees its current content.
    await writeFile(join(etc, "passwd"), "changed\n");
    expect((await run(engine, "cat /etc/passwd", { Binds: ["etc-copy:/etc"] })).out).toBe("changed\n");

    const empty = await run(engine, "test -e /etc/passwd && echo present || echo absent", {
      Mounts: [{ Type: "volume", Source: "etc-nocopy", Target: "/etc", VolumeOptions: { NoCopy: true } }],
    });
    expect(empty.out).toBe("absent\n");
    const nocopy = (await engine.inspectVolume("etc-nocopy")).Mountpoint;
    expect(existsSync(join(nocopy, "passwd"))).toBe(false);
  });

  it("mount a subpath that exists in the volume, and refuse one that does not", async () => {
    const { engine } = await engines();
    const vol = await engine.createVolume({ Name: "shared" });
    await mkdir(join(vol.Mountpoint, "app", "conf"), { recursive: true });
    await writeFile(join(vol.Mountpoint, "app", "conf", "x.conf"), "sub\n");
    const r = await run(engine, "cat /conf/x.conf; ls /conf", {
      Mounts: [{ Type: "volume", Source: "shared", Target: "/conf", VolumeOptions: { Subpath: "app/conf" } }],
    });
    expect(r).toMatchObject({ code: 0, out: "sub\nx.conf\n" });
    expect((await engine.getContainer(r.id).inspect()).Mounts[0]?.Source).toBe(
      join(vol.Mountpoint, "app", "conf"),
    );

    const missing = await engine.createContainer({
      Image: "busybox:latest",
      Cmd: ["true"],
      HostConfig: {
        Mounts: [{ Type: "volume", Source: "shared", Target: "/conf", VolumeOptions: { Subpath: "nope" } }],
      },
    });
    await expect(missing.start()).rejects.toMatchObject({
      code: "container/invalid-config",
      message: expect.stringContaining('Subpath "nope" does not exist in volume shared') as string,
    });
  });

  it("of the local driver's bind form are that host directory, which removal leaves alone", async () => {
    const { engine } = await engines();
    const dir = await tmp();
    await writeFile(join(dir, "host.txt"), "from host\n");
    const vol = await engine.createVolume({
      Name: "hostdir",
      DriverOpts: { type: "none", o: "bind", device: dir },
    });
    expect(vol).toMatchObject({ Mountpoint: dir, Options: { type: "none", o: "bind", device: dir } });
    const r = await run(engine, "cat /h/host.txt; echo more > /h/new.txt", { Binds: ["hostdir:/h"] });
    expect(r).toMatchObject({ code: 0, out: "from host\n" });
    await engine.getContainer(r.id).remove();
    await engine.removeVolume("hostdir");
    expect(await readFile(join(dir, "new.txt"), "utf8")).toBe("more\n");
    await expect(
      engine.createVolume({ Name: "remote", DriverOpts: { type: "nfs", o: "addr=1.2.3.4" } }),
    ).rejects.toMatchObject({
      code: "volume/invalid-config",
    });
  });

  it("refuse a name with a slash, naming it", async () => {
    const { engine } = await engines();
    await expect(engine.createVolume({ Name: "a/b" })).rejects.toMatchObject({
      code: "volume/invalid-name",
      message: expect.stringContaining('creating volume "a/b": invalid name') as string,
    });
    await expect(
      engine.createContainer({
        Image: "busybox:latest",
        HostConfig: { Mounts: [{ Type: "volume", Source: "a/b", Target: "/x" }] },
      }),
    ).rejects.toMatchObject({
      code: "container/invalid-config",
      message: expect.stringContaining('"a/b"') as string,
    });
    expect(await volumeNames(engine)).toEqual([]);
  });

  it("create is idempotent for the same name and options, a conflict for other options", async () => {
    const { engine } = await engines();
    const a = await engine.createVolume({ Name: "same", Labels: { k: "v" } });
    expect(await engine.createVolume({ Name: "same" })).toEqual(a);
    await expect(
      engine.createVolume({ Name: "same", DriverOpts: { type: "none", o: "bind", device: "/tmp" } }),
    ).rejects.toMatchObject({ code: "volume/conflict" });
    const anon = await engine.createVolume();
    expect(anon.Name).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe.skipIf(!canRunContainers)("binds and tmpfs", () => {
  it("bind host directories read-write and read-only", async () => {
    const { engine } = await engines();
    const dir = await tmp();
    await writeFile(join(dir, "in.txt"), "hello\n");
    const rw = await run(engine, "cat /host/in.txt; echo out > /host/out.txt", { Binds: [`${dir}:/host`] });
    expect(rw).toMatchObject({ code: 0, out: "hello\n" });
    expect(await readFile(join(dir, "out.txt"), "utf8")).toBe("out\n");
    expect((await engine.getContainer(rw.id).inspect()).Mounts).toEqual([
      { Type: "bind", Source: dir, Destination: "/host", Mode: "", RW: true, Propagation: "rprivate" },
    ]);

    const ro = await run(engine, "cat /host/in.txt; echo no > /host/in.txt", { Binds: [`${dir}:/host:ro`] });
    expect(ro.code).not.toBe(0);
    expect(ro.out).toContain("Read-only file system");
    expect(await readFile(join(dir, "in.txt"), "utf8")).toBe("hello\n");
    const long = await run(engine, "touch /host/x", {
      Mounts: [{ Type: "bind", Source: dir, Target: "/host", ReadOnly: true }],
    });
    expect(long.code).not.toBe(0);
  });

  it("bind a single file", async () => {
    const { engine } = await engines();
    const dir = await tmp();
    await writeFile(join(dir, "app.conf"), "conf\n");
    const r = await run(engine, "cat /opt/app/app.conf", {
      Binds: [`${join(dir, "app.conf")}:/opt/app/app.conf:ro`],
    });
    expect(r).toMatchObject({ code: 0, out: "conf\n" });
  });

  it("create a missing short-syntax source at start, not at create", async () => {
    const { engine } = await engines();
    const source = join(await tmp(), "made", "here");
    const c = await engine.createContainer({
      Image: "busybox:latest",
      Cmd: ["sh", "-c", "echo x > /m/f"],
      HostConfig: { Binds: [`${source}:/m`] },
    });
    expect(existsSync(source)).toBe(false);
    await c.start();
    expect(await c.wait()).toEqual({ StatusCode: 0 });
    expect((await stat(source)).isDirectory()).toBe(true);
    expect(await readFile(join(source, "f"), "utf8")).toBe("x\n");
  });

  it("refuse a missing long-syntax source at create, and create nothing", async () => {
    const { engine, root } = await engines();
    const source = join(await tmp(), "missing");
    await expect(
      engine.createContainer({
        name: "refused",
        Image: "busybox:latest",
        HostConfig: {
          Binds: ["wanted:/w"],
          Mounts: [{ Type: "bind", Source: source, Target: "/m" }],
        },
      }),
    ).rejects.toMatchObject({
      code: "container/invalid-config",
      message: expect.stringContaining(
        `creating container refused: invalid mount Mounts[0] (bind → /m): bind source path does not exist: ${source}`,
      ) as string,
    });
    expect(existsSync(source)).toBe(false);
    expect(await engine.listContainers({ all: true })).toEqual([]);
    expect(await readdir(join(root, "containers"))).toEqual([]);
    expect(await readdir(join(root, "volumes", ".refs"))).toEqual([]);
    expect(await volumeNames(engine)).toEqual([]);
  });

  it("create a missing long-syntax source with CreateMountpoint", async () => {
    const { engine } = await engines();
    const source = join(await tmp(), "created");
    const r = await run(engine, "touch /m/ok", {
      Mounts: [{ Type: "bind", Source: source, Target: "/m", BindOptions: { CreateMountpoint: true } }],
    });
    expect(r.code).toBe(0);
    expect(existsSync(join(source, "ok"))).toBe(true);
  });

  it("mount a tmpfs with the given size and mode", async () => {
    const { engine } = await engines();
    const r = await run(engine, "stat -c %a /scratch; grep ' /scratch ' /proc/mounts", {
      Mounts: [
        { Type: "tmpfs", Target: "/scratch", TmpfsOptions: { SizeBytes: 2 * 1024 * 1024, Mode: 0o1770 } },
      ],
    });
    expect(r.code).toBe(0);
    const [mode, line] = r.out.split("\n");
    expect(mode).toBe("1770");
    expect(line).toMatch(/^tmpfs \/scratch tmpfs rw,nosuid,nodev,noexec,.*size=2048k,.*mode=1770/);
    expect((await engine.getContainer(r.id).inspect()).Mounts).toEqual([
      { Type: "tmpfs", Source: "", Destination: "/scratch", Mode: "", RW: true, Propagation: "" },
    ]);
  });

  it("refuse mounts over /proc or /sys, relative host paths and duplicate targets", async () => {
    const { engine } = await engines();
    const dir = await tmp();
    const cases: [HostConfig, string][] = [
      [{ Binds: [`${dir}:/proc`] }, "cannot mount over /proc"],
      [{ Mounts: [{ Type: "tmpfs", Target: "/sys/kernel" }] }, "cannot mount over /sys/kernel"],
      [{ Binds: ["./rel:/x"] }, "neither a volume name nor an absolute host path"],
      [{ Binds: [`${dir}:/x`, "v1:/x"] }, "duplicate mount point /x"],
    ];
    for (const [hostConfig, message] of cases) {
      await expect(
        engine.createContainer({ Image: "busybox:latest", HostConfig: hostConfig }),
      ).rejects.toMatchObject({
        code: "container/invalid-config",
        message: expect.stringContaining(message) as string,
      });
    }
    expect(await engine.listContainers({ all: true })).toEqual([]);
  });
});

describe.skipIf(!canRunContainers)("removing and pruning volumes", () => {
  it("refuses to remove a volume a container uses, running or not, and removes it once the container is gone", async () => {
    const { engine, root } = await engines();
    await engine.createVolume({ Name: "busy" });
    const c = await engine.createContainer({
      Image: "busybox:latest",
      Cmd: ["sleep", "300"],
      HostConfig: { Binds: ["busy:/b"] },
    });
    await expect(engine.removeVolume("busy")).rejects.toMatchObject({
      code: "volume/in-use",
      message: expect.stringContaining(c.id) as string,
    });
    await c.start();
    await expect(engine.removeVolume("busy")).rejects.toMatchObject({ code: "volume/in-use" });
    await c.stop({ t: 0 });
    await expect(engine.removeVolume("busy")).rejects.toMatchObject({ code: "volume/in-use" });
    expect((await engine.listVolumes({ filters: { dangling: ["true"] } })).Volumes).toEqual([]);

    // The references survive an engine restart.
    await engine.close();
    const { EmbeddedRuntime } = await import("../../../src/runtime/embedded.js");
    const reopened = await EmbeddedRuntime.open({ root, runRoot: join(root, "run"), exitPollMs: 200 });
    try {
      await expect(reopened.removeVolume("busy")).rejects.toMatchObject({ code: "volume/in-use" });
      await reopened.getContainer(c.id).remove();
      await reopened.removeVolume("busy");
      expect(await volumeNames(reopened)).toEqual([]);
      await expect(reopened.removeVolume("busy")).rejects.toMatchObject({ code: "volume/not-found" });
      await reopened.removeVolume("busy", { force: true });
    } finally {
      await reopened.close();
    }
  });

  it("removes anonymous volumes with the container only with rm -v", async () => {
    const { engine } = await engines();
    const kept = await run(engine, "echo a > /anon/f", { Binds: ["/anon", "named:/named"] });
    const [anonKept] = (await engine.getContainer(kept.id).inspect()).Mounts.filter(
      (m) => m.Destination === "/anon",
    );
    const keptName = (anonKept as { Name?: string } | undefined)?.Name ?? "";
    expect(keptName).toMatch(/^[0-9a-f]{64}$/);
    expect((await engine.inspectVolume(keptName)).Labels).toEqual({ "com.docker.volume.anonymous": "" });
    await engine.getContainer(kept.id).remove();
    expect(await volumeNames(engine)).toContain(keptName);

    const removed = await run(engine, "true", {
      Mounts: [{ Type: "volume", Target: "/anon" }],
      Binds: ["named:/named"],
    });
    const anonName = (await engine.getContainer(removed.id).inspect()).Mounts.find(
      (m) => m.Destination === "/anon",
    );
    await engine.getContainer(removed.id).remove({ v: true });
    expect((await volumeNames(engine)).sort()).toEqual([keptName, "named"].sort());
    expect(anonName).toBeDefined();
  });

  it("removes an anonymous volume a later container mounts by name with that container's rm -v, once unused", async () => {
    const { engine } = await engines();
    const first = await run(engine, "echo a > /anon/f", { Mounts: [{ Type: "volume", Target: "/anon" }] });
    const name = (await engine.getContainer(first.id).inspect()).Mounts[0]?.Name ?? "";
    expect(name).toMatch(/^[0-9a-f]{64}$/);
    // Two containers take it over by name (a replacement, as Compose's recreate does).
    const mount = { Mounts: [{ Type: "volume" as const, Source: name, Target: "/anon" }] };
    const second = await run(engine, "cat /anon/f", mount);
    const third = await run(engine, "cat /anon/f", mount);
    expect([second.out, third.out]).toEqual(["a\n", "a\n"]);
    await engine.getContainer(first.id).remove();
    await engine.getContainer(second.id).remove({ v: true });
    expect(await volumeNames(engine)).toEqual([name]);
    await engine.getContainer(third.id).remove({ v: true });
    expect(await volumeNames(engine)).toEqual([]);
  });

  it("keeps an anonymous volume across restarts of its container", async () => {
    const { engine } = await engines();
    const c = await engine.createContainer({
      Image: "busybox:latest",
      Cmd: ["sh", "-c", "cat /a/f 2>/dev/null; echo run >> /a/f"],
      HostConfig: { Binds: ["/a"] },
    });
    await c.start();
    await c.wait();
    await c.start();
    await c.wait();
    expect(await logText(engine, c.id)).toBe("run\n");
    expect(await volumeNames(engine)).toHaveLength(1);
  });

  it("gives an image's VOLUME an anonymous volume with the image's content", async () => {
    const { engine } = await engines();
    const base = await run(engine, "mkdir /data && echo seed > /data/seed", {});
    await engine.getContainer(base.id).commit({ repo: "withvol", changes: ["VOLUME /data"] });
    const c = await engine.createContainer({
      Image: "withvol:latest",
      Cmd: ["sh", "-c", "cat /data/seed; echo more >> /data/seed"],
    });
    await c.start();
    expect(await c.wait()).toEqual({ StatusCode: 0 });
    expect(await logText(engine, c.id)).toBe("seed\n");
    const [mount] = (await c.inspect()).Mounts as (MountPoint & { Name?: string })[];
    expect(mount).toMatchObject({ Type: "volume", Destination: "/data", RW: true });
    expect(await readFile(join(mount?.Source ?? "", "seed"), "utf8")).toBe("seed\nmore\n");
    await c.remove({ v: true });
    expect(await volumeNames(engine)).toEqual([]);
  });

  it("prunes unused anonymous volumes, and unused named ones only with all=true", async () => {
    const { engine } = await engines();
    const anon = await run(engine, "echo 12345 > /a/f", { Binds: ["/a", "inuse:/u"] });
    const anonName =
      (
        (await engine.getContainer(anon.id).inspect()).Mounts.find((m) => m.Destination === "/a") as {
          Name?: string;
        }
      ).Name ?? "";
    await engine.getContainer(anon.id).remove();
    await engine.createVolume({ Name: "unused", Labels: { keep: "no" } });
    await engine.createContainer({ Image: "busybox:latest", HostConfig: { Binds: ["inuse:/u"] } });

    expect(
      (await engine.listVolumes({ filters: { dangling: ["true"] } })).Volumes.map((v) => v.Name).sort(),
    ).toEqual([anonName, "unused"].sort());
    expect(
      (await engine.listVolumes({ filters: { label: ["keep=no"] } })).Volumes.map((v) => v.Name),
    ).toEqual(["unused"]);
    expect((await engine.listVolumes({ filters: { name: ["^in"] } })).Volumes.map((v) => v.Name)).toEqual([
      "inuse",
    ]);
    await expect(engine.listVolumes({ filters: { bogus: ["x"] } })).rejects.toMatchObject({
      code: "volume/invalid-filter",
    });

    const first = await engine.pruneVolumes();
    expect(first.VolumesDeleted).toEqual([anonName]);
    expect(first.SpaceReclaimed).toBeGreaterThanOrEqual(6);
    const second = await engine.pruneVolumes({ filters: { all: ["true"] } });
    expect(second.VolumesDeleted).toEqual(["unused"]);
    expect(await volumeNames(engine)).toEqual(["inuse"]);
  });
});
