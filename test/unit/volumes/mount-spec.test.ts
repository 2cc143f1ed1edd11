/**
 * HostConfig.Binds and HostConfig.Mounts parsing: what each syntax becomes, and what is refused.
 */
import { describe, expect, it } from "vitest";
import type { HostConfig } from "../../../src/runtime/runtime.js";
import { parseMounts, tmpfsOptions, type TmpfsMount } from "../../../src/volumes/mount-spec.js";

const WHAT = "creating container web";

describe("parseMounts: Binds", () => {
  it.each([
    [
      "/srv/data:/data",
      {
        kind: "bind",
        source: "/srv/data",
        target: "/data",
        readOnly: false,
        mode: "",
        propagation: "rprivate",
        createSource: true,
      },
    ],
    [
      "/srv/data/:/data/:ro",
      { kind: "bind", source: "/srv/data", target: "/data", readOnly: true, mode: "ro" },
    ],
    ["/a:/b:rw,z", { kind: "bind", readOnly: false, mode: "rw,z" }],
    ["/a:/b:ro,rshared", { kind: "bind", readOnly: true, propagation: "rshared" }],
    ["/a:/b:slave", { kind: "bind", propagation: "slave" }],
    ["/a:/b:cached", { kind: "bind", readOnly: false }],
    ["db:/var/lib/db", { kind: "volume", name: "db", target: "/var/lib/db", mode: "z", noCopy: false }],
    [
      "db:/var/lib/db:ro,nocopy",
      { kind: "volume", name: "db", readOnly: true, noCopy: true, mode: "ro,nocopy" },
    ],
    ["/cache", { kind: "volume", name: undefined, target: "/cache" }],
    ["my_vol.1-x:/x/../y", { kind: "volume", name: "my_vol.1-x", target: "/y" }],
  ] as const)("%s", (bind, expected) => {
    expect(parseMounts({ Binds: [bind] }, WHAT)).toEqual([expect.objectContaining(expected)]);
  });

  it.each([
    ["./data:/data", /"\.\/data" is neither a volume name nor an absolute host path/],
    ["data/sub:/data", /neither a volume name nor an absolute host path/],
    ["~/data:/data", /neither a volume name nor an absolute host path/],
    ["a:/data", /"a" is not a valid volume name/],
    ["v@1:/data", /"v@1" is not a valid volume name/],
    ["/a:data", /the target "data" is not an absolute path/],
    ["/a:", /the target is empty/],
    ["/a:/", /the target cannot be \//],
    ["/a:/proc", /cannot mount over \/proc/],
    ["/a:/sys/fs/cgroup", /cannot mount over \/sys\/fs\/cgroup/],
    ["/a:/x/../proc/1", /cannot mount over \/proc\/1/],
    ["/a:/b:ro,rw", /option "rw" conflicts/],
    ["/a:/b:z,Z", /option "Z" conflicts/],
    ["/a:/b:shared,slave", /option "slave" conflicts/],
    ["/a:/b:nocopy", /"nocopy" applies to volumes only/],
    ["vol:/b:rshared", /propagation "rshared" applies to bind mounts only/],
    ["/a:/b:exec", /unknown option "exec"/],
    ["/a:/b:ro:x", /expected source:target\[:options\]/],
  ])("refuses %s", (bind, message) => {
    let error: unknown;
    try {
      parseMounts({ Binds: [bind] }, WHAT);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: "container/invalid-config" });
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).toContain(`${WHAT}: invalid mount Binds entry ${JSON.stringify(bind)}`);
  });
});

describe("parseMounts: Mounts", () => {
  it.each<[string, unknown, object]>([
    [
      "a bind with defaults",
      { Type: "bind", Source: "/srv", Target: "/srv/" },
      {
        kind: "bind",
        source: "/srv",
        target: "/srv",
        readOnly: false,
        propagation: "rprivate",
        createSource: false,
        mode: "",
      },
    ],
    [
      "a read-only bind with propagation and CreateMountpoint",
      {
        Type: "bind",
        Source: "/a",
        Target: "/b",
        ReadOnly: true,
        BindOptions: { Propagation: "rslave", CreateMountpoint: true },
      },
      { kind: "bind", readOnly: true, propagation: "rslave", createSource: true },
    ],
    [
      "a named volume with options",
      {
        Type: "volume",
        Source: "data",
        Target: "/data",
        VolumeOptions: {
          NoCopy: true,
          Subpath: "a/./b/",
          Labels: { x: "1" },
          DriverConfig: { Name: "local", Options: { type: "none", o: "bind", device: "/srv" } },
        },
      },
      {
        kind: "volume",
        name: "data",
        noCopy: true,
        subpath: "a/b",
        labels: { x: "1" },
        driver: "local",
        driverOpts: { type: "none", o: "bind", device: "/srv" },
        mode: "",
      },
    ],
    [
      "an anonymous volume",
      { Type: "volume", Target: "/data" },
      { kind: "volume", name: undefined, noCopy: false, subpath: undefined },
    ],
    [
      "a tmpfs with size and mode",
      { Type: "tmpfs", Target: "/run/x", TmpfsOptions: { SizeBytes: 1048576, Mode: 0o1770 } },
      { kind: "tmpfs", target: "/run/x", sizeBytes: 1048576, fileMode: 0o1770 },
    ],
  ])("%s", (_name, mount, expected) => {
    expect(parseMounts({ Mounts: [mount] } as HostConfig, WHAT)).toEqual([expect.objectContaining(expected)]);
  });

  it.each<[unknown, RegExp]>([
    [{ Type: "npipe", Source: "x", Target: "/x" }, /type "npipe" is not supported/],
    [{ Type: "bind", Target: "/x" }, /a bind mount needs a Source/],
    [{ Type: "bind", Source: "rel/dir", Target: "/x" }, /the host path "rel\/dir" is relative/],
    [{ Type: "bind", Source: "/a", Target: "x" }, /the target "x" is not an absolute path/],
    [{ Type: "bind", Source: "/a" }, /Target is required/],
    [{ Type: "bind", Source: "/a", Target: "/proc" }, /cannot mount over \/proc/],
    [
      { Type: "bind", Source: "/a", Target: "/b", BindOptions: { Propagation: "weird" } },
      /Propagation "weird"/,
    ],
    [
      { Type: "bind", Source: "/a", Target: "/b", VolumeOptions: {} },
      /VolumeOptions cannot be used with a bind mount/,
    ],
    [{ Type: "volume", Source: "a/b", Target: "/b" }, /"a\/b" is neither a volume name/],
    [
      { Type: "volume", Source: "v1", Target: "/b", VolumeOptions: { Subpath: "../x" } },
      /must stay inside the volume/,
    ],
    [
      { Type: "volume", Source: "v1", Target: "/b", VolumeOptions: { Subpath: "/x" } },
      /must be relative to the volume/,
    ],
    [{ Type: "volume", Target: "/b", VolumeOptions: { Subpath: "x" } }, /Subpath needs a named volume/],
    [
      { Type: "volume", Source: "v1", Target: "/b", VolumeOptions: { DriverConfig: { Name: "nfs" } } },
      /driver "nfs" is not supported/,
    ],
    [
      { Type: "volume", Source: "v1", Target: "/b", BindOptions: {} },
      /BindOptions cannot be used with a volume mount/,
    ],
    [{ Type: "tmpfs", Source: "x", Target: "/t" }, /a tmpfs mount takes no Source/],
    [{ Type: "tmpfs", Target: "/t", TmpfsOptions: { SizeBytes: -1 } }, /SizeBytes must be/],
    [{ Type: "tmpfs", Target: "/t", TmpfsOptions: { Mode: 0o10000 } }, /Mode must be a file mode/],
  ])("refuses %j", (mount, message) => {
    expect(() => parseMounts({ Mounts: [mount] } as HostConfig, WHAT)).toThrow(
      expect.objectContaining({
        code: "container/invalid-config",
        message: expect.stringMatching(message) as string,
      }),
    );
  });

  it("refuses a target used twice, naming both mounts", () => {
    expect(() =>
      parseMounts(
        { Binds: ["/a:/data"], Mounts: [{ Type: "volume", Source: "v1", Target: "/data/" }] },
        WHAT,
      ),
    ).toThrow(
      /invalid mount Mounts\[0\] \(volume → \/data\/\): duplicate mount point \/data \(also used by Binds entry "\/a:\/data"\)/,
    );
    expect(() => parseMounts({ Tmpfs: { "/t": "" }, Binds: ["/a:/t"] }, WHAT)).toThrow(
      /duplicate mount point \/t/,
    );
  });

  it("gives the image's VOLUME paths anonymous volumes where nothing else is mounted", () => {
    const mounts = parseMounts({ Binds: ["/srv:/data"], Tmpfs: { "/tmp": "" } }, WHAT, [
      "/data/",
      "/tmp",
      "/cache",
    ]);
    expect(mounts).toEqual([
      expect.objectContaining({ kind: "bind", target: "/data" }),
      expect.objectContaining({
        kind: "volume",
        name: undefined,
        target: "/cache",
        origin: 'image VOLUME "/cache"',
      }),
    ]);
  });

  it("refuses Binds and Mounts that are not lists", () => {
    expect(() => parseMounts({ Binds: "/a:/b" } as unknown as HostConfig, WHAT)).toThrow(
      /Binds must be a list/,
    );
    expect(() => parseMounts({ Mounts: {} } as unknown as HostConfig, WHAT)).toThrow(/Mounts must be a list/);
  });
});

describe("tmpfsOptions", () => {
  const base: TmpfsMount = {
    kind: "tmpfs",
    target: "/t",
    readOnly: false,
    origin: "",
    mode: "",
    sizeBytes: undefined,
    fileMode: undefined,
  };
  it.each<[Partial<TmpfsMount>, string[]]>([
    [{}, ["noexec", "nosuid", "nodev"]],
    [
      { sizeBytes: 64 * 1024 * 1024, fileMode: 0o1777 },
      ["noexec", "nosuid", "nodev", "size=64m", "mode=1777"],
    ],
    [{ sizeBytes: 1000, readOnly: true }, ["noexec", "nosuid", "nodev", "size=1000", "ro"]],
    [{ sizeBytes: 3 * 1024 }, ["noexec", "nosuid", "nodev", "size=3k"]],
  ])("%j → %j", (m, expected) => {
    expect(tmpfsOptions({ ...base, ...m })).toEqual(expected);
  });
});
