import { describe, expect, it } from "vitest";
import { TsstackError } from "../../../../src/common/errors.js";
import {
  ALL_CAPABILITIES,
  buildRuntimeSpec,
  cgroupControllersNeeded,
  DEFAULT_CAPABILITIES,
  DEFAULT_PATH_ENV,
  type BuildSpecOptions,
  type ContainerConfig,
  type RuntimeSpec,
} from "../../../../src/runtime/containers/oci-spec.js";
import type { ImageConfig } from "../../../../src/runtime/images/types.js";

type ImageProcessConfig = NonNullable<ImageConfig["config"]>;

function image(config: ImageProcessConfig = {}): ImageConfig {
  return { architecture: "amd64", os: "linux", config, rootfs: { type: "layers", diff_ids: [] } };
}

const PASSWD = [
  "root:x:0:0:root:/root:/bin/sh",
  "app:x:1000:1000:app:/home/app:/bin/sh",
  "nobody:x:65534:65534:nobody:/nonexistent:/bin/false",
].join("\n");
const GROUP = ["root:x:0:", "app:x:1000:", "audio:x:29:app", "video:x:44:app,other", "nogroup:x:65534:"].join(
  "\n",
);

const OPTS: BuildSpecOptions = { rootfs: "/bundle/rootfs", passwd: PASSWD, group: GROUP, arch: "x64" };

function build(c: ContainerConfig = {}, img: ImageConfig = image({ Cmd: ["sh"] }), opts = OPTS): RuntimeSpec {
  return buildRuntimeSpec(img, c, opts);
}

function invalidConfig(fn: () => unknown): TsstackError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TsstackError);
    expect((e as TsstackError).code).toBe("container/invalid-config");
    return e as TsstackError;
  }
  throw new Error("expected container/invalid-config");
}

function syscallNames(spec: RuntimeSpec): Set<string> {
  return new Set(
    spec.linux.seccomp?.syscalls.filter((s) => s.action === "SCMP_ACT_ALLOW").flatMap((s) => s.names),
  );
}

describe("buildRuntimeSpec: entrypoint and cmd", () => {
  const cases: {
    name: string;
    img: ImageProcessConfig;
    c: ContainerConfig;
    args: string[];
  }[] = [
    { name: "image Cmd alone", img: { Cmd: ["sh"] }, c: {}, args: ["sh"] },
    { name: "image Entrypoint + Cmd", img: { Entrypoint: ["/ep"], Cmd: ["a"] }, c: {}, args: ["/ep", "a"] },
    {
      name: "cmd replaces image Cmd, keeps Entrypoint",
      img: { Entrypoint: ["/ep"], Cmd: ["a"] },
      c: { cmd: ["b"] },
      args: ["/ep", "b"],
    },
    {
      name: "entrypoint drops image Cmd",
      img: { Entrypoint: ["/ep"], Cmd: ["a"] },
      c: { entrypoint: ["/x"] },
      args: ["/x"],
    },
    {
      name: "entrypoint and cmd both given",
      img: { Entrypoint: ["/ep"], Cmd: ["a"] },
      c: { entrypoint: ["/x"], cmd: ["y"] },
      args: ["/x", "y"],
    },
    {
      name: "empty entrypoint clears it and keeps image Cmd",
      img: { Entrypoint: ["/ep"], Cmd: ["a"] },
      c: { entrypoint: [] },
      args: ["a"],
    },
    {
      name: "empty entrypoint with cmd",
      img: { Entrypoint: ["/ep"], Cmd: ["a"] },
      c: { entrypoint: [], cmd: ["b"] },
      args: ["b"],
    },
    { name: "empty cmd means not given", img: { Cmd: ["a"] }, c: { cmd: [] }, args: ["a"] },
    { name: "null image Entrypoint", img: { Entrypoint: null, Cmd: ["a"] }, c: {}, args: ["a"] },
  ];
  it.each(cases)("$name", ({ img, c, args }) => {
    expect(build(c, image(img)).process.args).toEqual(args);
  });

  it("refuses a container with no command at all", () => {
    invalidConfig(() => build({}, image({})));
  });

  it("puts the init binary first when init is requested, bind-mounting it from the host", () => {
    const spec = build({ init: true }, image({ Cmd: ["sh"] }), {
      ...OPTS,
      init: { path: "/sbin/docker-init", hostPath: "/usr/bin/catatonit" },
    });
    expect(spec.process.args).toEqual(["/sbin/docker-init", "--", "sh"]);
    expect(spec.mounts).toContainEqual({
      destination: "/sbin/docker-init",
      type: "bind",
      source: "/usr/bin/catatonit",
      options: ["rbind", "ro"],
    });
  });

  it("refuses init without a configured init binary", () => {
    invalidConfig(() => build({ init: true }));
  });
});

describe("buildRuntimeSpec: environment", () => {
  it("merges the container's env over the image's by key, keeping image order", () => {
    const spec = build({ env: ["B=2", "C=3"] }, image({ Env: ["PATH=/bin", "A=1", "B=1"], Cmd: ["sh"] }), {
      ...OPTS,
      hostname: "h1",
    });
    expect(spec.process.env).toEqual(["HOSTNAME=h1", "PATH=/bin", "A=1", "B=2", "C=3"]);
  });

  it("adds Docker's default PATH when the image has none", () => {
    expect(build({}, image({ Cmd: ["sh"] })).process.env).toEqual([DEFAULT_PATH_ENV]);
  });
});

describe("buildRuntimeSpec: user", () => {
  const cases: { user: string; expected: RuntimeSpec["process"]["user"] }[] = [
    { user: "", expected: { uid: 0, gid: 0 } },
    { user: "app", expected: { uid: 1000, gid: 1000, additionalGids: [29, 44] } },
    { user: "1000", expected: { uid: 1000, gid: 1000, additionalGids: [29, 44] } },
    { user: "4242", expected: { uid: 4242, gid: 0 } },
    { user: "4242:99", expected: { uid: 4242, gid: 99 } },
    { user: "app:audio", expected: { uid: 1000, gid: 29 } },
    { user: "nobody:65534", expected: { uid: 65534, gid: 65534 } },
  ];
  it.each(cases)("resolves user '$user'", ({ user, expected }) => {
    expect(build({ user }).process.user).toEqual(expected);
  });

  it("takes the image's User when the container sets none", () => {
    expect(build({}, image({ User: "nobody", Cmd: ["sh"] })).process.user).toEqual({
      uid: 65534,
      gid: 65534,
    });
  });

  it.each(["ghost", "app:nogroup-here", "a:b:c", ":1", "99999999999"])("refuses user '%s'", (user) => {
    invalidConfig(() => build({ user }));
  });
});

describe("buildRuntimeSpec: capabilities", () => {
  const caps = (c: ContainerConfig): string[] => build(c).process.capabilities.bounding;

  it("grants Docker's 14 default capabilities in bounding, effective and permitted only", () => {
    const { capabilities } = build().process;
    expect(capabilities.bounding).toEqual(DEFAULT_CAPABILITIES);
    expect(capabilities.effective).toEqual(DEFAULT_CAPABILITIES);
    expect(capabilities.permitted).toEqual(DEFAULT_CAPABILITIES);
    expect(capabilities.inheritable).toEqual([]);
    expect(capabilities.ambient).toEqual([]);
    expect(DEFAULT_CAPABILITIES).toHaveLength(14);
  });

  it("gives a non-root user only the bounding set, as Docker does", () => {
    const { capabilities } = build({ user: "app" }).process;
    expect(capabilities.bounding).toEqual(DEFAULT_CAPABILITIES);
    expect(capabilities.effective).toEqual([]);
    expect(capabilities.permitted).toEqual([]);
  });

  const cases: { name: string; c: ContainerConfig; has: string[]; lacks: string[]; count?: number }[] = [
    { name: "cap_add adds", c: { capAdd: ["net_admin"] }, has: ["CAP_NET_ADMIN", "CAP_CHOWN"], lacks: [] },
    {
      name: "cap_drop drops",
      c: { capDrop: ["CAP_NET_RAW"] },
      has: ["CAP_CHOWN"],
      lacks: ["CAP_NET_RAW"],
      count: 13,
    },
    {
      name: "cap_drop ALL keeps only the adds",
      c: { capDrop: ["ALL"], capAdd: ["CHOWN"] },
      has: ["CAP_CHOWN"],
      lacks: ["CAP_KILL"],
      count: 1,
    },
    {
      name: "cap_add ALL grants all but the drops",
      c: { capAdd: ["all"], capDrop: ["SYS_ADMIN"] },
      has: ["CAP_SYS_PTRACE"],
      lacks: ["CAP_SYS_ADMIN"],
      count: ALL_CAPABILITIES.length - 1,
    },
  ];
  it.each(cases)("$name", ({ c, has, lacks, count }) => {
    const got = caps(c);
    for (const x of has) expect(got).toContain(x);
    for (const x of lacks) expect(got).not.toContain(x);
    if (count !== undefined) expect(got).toHaveLength(count);
  });

  it("refuses an unknown capability", () => {
    invalidConfig(() => build({ capAdd: ["CAP_FLY"] }));
  });
});

describe("buildRuntimeSpec: security defaults", () => {
  it("sets no-new-privileges by default and lets a container opt out", () => {
    expect(build().process.noNewPrivileges).toBe(true);
    expect(build({ noNewPrivileges: false }).process.noNewPrivileges).toBe(false);
  });

  it("masks and write-protects Docker's /proc and /sys paths", () => {
    const { linux } = build();
    expect(linux.maskedPaths).toEqual(expect.arrayContaining(["/proc/kcore", "/proc/keys", "/sys/firmware"]));
    expect(linux.readonlyPaths).toEqual(expect.arrayContaining(["/proc/sys", "/proc/sysrq-trigger"]));
  });

  it("mounts Docker's default file systems with a 64 MiB /dev/shm", () => {
    const spec = build();
    expect(spec.mounts.map((m) => m.destination)).toEqual([
      "/proc",
      "/dev",
      "/dev/pts",
      "/sys",
      "/sys/fs/cgroup",
      "/dev/mqueue",
      "/dev/shm",
    ]);
    expect(spec.mounts.find((m) => m.destination === "/sys")?.options).toContain("ro");
    expect(spec.mounts.find((m) => m.destination === "/dev/shm")?.options).toContain("size=67108864");
    expect(build({ shmSize: 1 << 20 }).mounts.find((m) => m.destination === "/dev/shm")?.options).toContain(
      "size=1048576",
    );
  });

  it("denies all devices, then allows Docker's defaults", () => {
    const devices = build().linux.resources.devices;
    expect(devices[0]).toEqual({ allow: false, access: "rwm" });
    expect(devices).toContainEqual({ allow: true, type: "c", major: 1, minor: 3, access: "rwm" });
    expect(devices).toContainEqual({ allow: false, type: "c", major: 10, minor: 229, access: "rwm" });
  });

  it("unshares pid, ipc, uts, mount and network, joining a given network namespace", () => {
    expect(
      build()
        .linux.namespaces.map((n) => n.type)
        .sort(),
    ).toEqual(["ipc", "mount", "network", "pid", "uts"]);
    expect(
      build({}, undefined, { ...OPTS, networkNamespacePath: "/run/netns/a" }).linux.namespaces,
    ).toContainEqual({
      type: "network",
      path: "/run/netns/a",
    });
  });

  it("applies Docker's seccomp profile, denying with EPERM by default", () => {
    const seccomp = build().linux.seccomp;
    expect(seccomp?.defaultAction).toBe("SCMP_ACT_ERRNO");
    expect(seccomp?.defaultErrnoRet).toBe(1);
    expect(seccomp?.architectures).toEqual(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
    for (const rule of seccomp?.syscalls ?? []) {
      expect(rule).not.toHaveProperty("includes");
      expect(rule).not.toHaveProperty("excludes");
    }
  });

  it("filters seccomp rules by capabilities, like moby", () => {
    const plain = syscallNames(build());
    expect(plain).toContain("read");
    expect(plain).toContain("arch_prctl");
    for (const s of ["kcmp", "pidfd_getfd", "mount", "unshare", "reboot", "bpf"])
      expect(plain).not.toContain(s);
    // clone is allowed only without namespace flags, and clone3 answers ENOSYS, when CAP_SYS_ADMIN is absent.
    expect(build().linux.seccomp?.syscalls).toContainEqual({
      names: ["clone3"],
      action: "SCMP_ACT_ERRNO",
      errnoRet: 38,
    });

    const ptrace = syscallNames(build({ capAdd: ["SYS_PTRACE"] }));
    expect(ptrace).toContain("kcmp");
    expect(ptrace).toContain("pidfd_getfd");
    const admin = build({ capAdd: ["SYS_ADMIN"] });
    expect(syscallNames(admin)).toContain("mount");
    expect(
      admin.linux.seccomp?.syscalls.some((s) => s.names.includes("clone3") && s.action !== "SCMP_ACT_ALLOW"),
    ).toBe(false);
  });

  it("filters seccomp rules by architecture and minimum kernel", () => {
    const arm = build({}, undefined, { ...OPTS, arch: "arm64" });
    expect(arm.linux.seccomp?.architectures).toEqual(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]);
    expect(syscallNames(arm)).not.toContain("arch_prctl");
    expect(syscallNames(arm)).toContain("set_tls");
    expect(syscallNames(build({}, undefined, { ...OPTS, kernelVersion: "4.4.0" }))).not.toContain("ptrace");
    expect(syscallNames(build({}, undefined, { ...OPTS, kernelVersion: "6.1.0-18-amd64" }))).toContain(
      "ptrace",
    );
  });

  it("makes privileged containers all-capable, unconfined and able to use every device", () => {
    const spec = build({ privileged: true });
    expect(spec.process.capabilities.bounding).toEqual(ALL_CAPABILITIES);
    expect(spec.linux.seccomp).toBeUndefined();
    expect(spec.linux.maskedPaths).toEqual([]);
    expect(spec.linux.readonlyPaths).toEqual([]);
    expect(spec.linux.resources.devices).toEqual([{ allow: true, access: "rwm" }]);
    expect(spec.mounts.find((m) => m.destination === "/sys")?.options).toContain("rw");
  });
});

describe("buildRuntimeSpec: working directory", () => {
  it.each([
    ["/proc/self/fd/7", {}],
    ["/proc/self/fd", {}],
    ["/proc/thread-self/fd/8", {}],
    ["/proc/1/fd/3", {}],
    ["/proc/self/task/1/fd/3", {}],
    ["/proc/self/../self/fd/9", {}],
    ["//proc//self/fd/./9/..", {}],
    ["/dev/fd/5", {}],
  ])("refuses %s (runc CVE-2024-21626)", (workingDir) => {
    expect(invalidConfig(() => build({ workingDir })).message).toContain("CVE-2024-21626");
  });

  it("refuses the same from the image's WorkingDir", () => {
    invalidConfig(() => build({}, image({ WorkingDir: "/proc/self/fd/8", Cmd: ["sh"] })));
  });

  it("refuses a relative working directory", () => {
    invalidConfig(() => build({ workingDir: "app" }));
  });

  it("uses the container's, else the image's, else /", () => {
    expect(build({ workingDir: "/srv/../app" }).process.cwd).toBe("/app");
    expect(build({}, image({ WorkingDir: "/work", Cmd: ["sh"] })).process.cwd).toBe("/work");
    expect(build().process.cwd).toBe("/");
    expect(build({ workingDir: "/proc/selfish/fd" }).process.cwd).toBe("/proc/selfish/fd");
  });
});

describe("buildRuntimeSpec: resources", () => {
  const cases: { name: string; c: ContainerConfig; expected: object }[] = [
    {
      name: "memory doubles as swap by default",
      c: { resources: { memory: 64 << 20 } },
      expected: { memory: { limit: 64 << 20, swap: 128 << 20 } },
    },
    {
      name: "memory with explicit swap",
      c: { resources: { memory: 64 << 20, memorySwap: 96 << 20 } },
      expected: { memory: { limit: 64 << 20, swap: 96 << 20 } },
    },
    {
      name: "unlimited swap",
      c: { resources: { memory: 64 << 20, memorySwap: -1 } },
      expected: { memory: { limit: 64 << 20, swap: -1 } },
    },
    {
      name: "cpus become a CFS quota",
      c: { resources: { cpus: 1.5 } },
      expected: { cpu: { quota: 150_000, period: 100_000 } },
    },
    {
      name: "shares and cpuset",
      c: { resources: { cpuShares: 512, cpusetCpus: "0-1" } },
      expected: { cpu: { shares: 512, cpus: "0-1" } },
    },
    { name: "pids limit", c: { resources: { pidsLimit: 64 } }, expected: { pids: { limit: 64 } } },
  ];
  it.each(cases)("$name", ({ c, expected }) => {
    expect(build(c).linux.resources).toMatchObject(expected);
  });

  it("leaves unlimited pids unset", () => {
    expect(build({ resources: { pidsLimit: -1 } }).linux.resources.pids).toBeUndefined();
  });

  it.each<[ContainerConfig, string[]]>([
    [{}, []],
    [{ resources: { pidsLimit: -1 } }, []],
    [{ resources: { memory: 64 << 20 } }, ["memory"]],
    [{ resources: { cpus: 0.5, pidsLimit: 9 } }, ["cpu", "pids"]],
    [{ resources: { cpuShares: 512, cpusetCpus: "0" } }, ["cpu", "cpuset"]],
    [{ resources: { cpusetCpus: "0" } }, ["cpuset"]],
  ])("names the cgroup controllers the limits of %j need", (c, controllers) => {
    expect(cgroupControllersNeeded(build(c).linux.resources)).toEqual(controllers);
  });

  it.each<ContainerConfig>([
    { resources: { memory: 64 << 20, memorySwap: 1 << 20 } },
    { resources: { memorySwap: 1 << 30 } },
    { resources: { cpus: 0 } },
  ])("refuses inconsistent resources %j", (c) => {
    invalidConfig(() => build(c));
  });
});

describe("buildRuntimeSpec: other settings", () => {
  it("maps hostname, labels, read-only root, tmpfs, sysctls, ulimits and devices", () => {
    const spec = build({
      hostname: "web-1",
      labels: { "tsstack.stack": "s" },
      readOnly: true,
      tmpfs: { "/run": "size=64m,exec" },
      sysctls: { "net.ipv4.ip_forward": "1" },
      ulimits: [{ name: "nofile", soft: 1024, hard: 2048 }],
      devices: [{ path: "/dev/fuse", type: "c", major: 10, minor: 229 }],
    });
    expect(spec.hostname).toBe("web-1");
    expect(spec.process.env).toContain("HOSTNAME=web-1");
    expect(spec.annotations).toEqual({ "tsstack.stack": "s" });
    expect(spec.root).toEqual({ path: "/bundle/rootfs", readonly: true });
    expect(spec.mounts).toContainEqual({
      destination: "/run",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "nodev", "size=64m", "exec"],
    });
    expect(spec.linux.sysctl).toEqual({ "net.ipv4.ip_forward": "1" });
    expect(spec.process.rlimits).toEqual([{ type: "RLIMIT_NOFILE", soft: 1024, hard: 2048 }]);
    expect(spec.linux.devices).toEqual([{ path: "/dev/fuse", type: "c", major: 10, minor: 229 }]);
    // The device's allow rule comes after the default fuse deny, so it wins.
    expect(spec.linux.resources.devices.at(-1)).toEqual({
      allow: true,
      type: "c",
      major: 10,
      minor: 229,
      access: "rwm",
    });
  });

  it.each<ContainerConfig>([
    { sysctls: { "kernel.hostname": "x" } },
    { sysctls: { "vm.swappiness": "1" } },
    { ulimits: [{ name: "bogus", soft: 1, hard: 1 }] },
    { ulimits: [{ name: "nofile", soft: 2, hard: 1 }] },
    { tmpfs: { run: "" } },
    { devices: [{ path: "/dev/x", type: "c", major: 1, minor: 1, permissions: "rwx" }] },
    { shmSize: 0 },
  ])("refuses %j", (c) => {
    invalidConfig(() => build(c));
  });
});
