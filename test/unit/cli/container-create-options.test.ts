import { describe, expect, it } from "vitest";
import {
  buildCreateOptions,
  device,
  effectiveCaps,
  nanoCpus,
  parseEnvFile,
  parseRestartPolicy,
  size,
  ulimits,
  type CreateFlags,
} from "../../../src/cli/commands/container/create-options.js";
import type { ContainerCreateOptions } from "../../../src/runtime/runtime.js";

const ENV: Record<string, string> = { HOME: "/root", EMPTY: "" };
const lookupEnv = (name: string): string | undefined => ENV[name];

function build(flags: CreateFlags, command: string[] = []): ContainerCreateOptions {
  return buildCreateOptions({ image: "busybox", command, flags, lookupEnv });
}

describe("run/create flags → ContainerCreateOptions", () => {
  it.each<[string, CreateFlags, string[], ContainerCreateOptions]>([
    ["no flags: the image's defaults", {}, [], { Image: "busybox" }],
    [
      "words after the image are the Cmd",
      {},
      ["echo", "-n", "hi"],
      { Image: "busybox", Cmd: ["echo", "-n", "hi"] },
    ],
    [
      "name, user, workdir, hostname, tty, interactive",
      { name: "web", user: "1000:1000", workdir: "/app", hostname: "h", tty: true, interactive: true },
      [],
      {
        name: "web",
        Image: "busybox",
        User: "1000:1000",
        WorkingDir: "/app",
        Hostname: "h",
        Tty: true,
        OpenStdin: true,
      },
    ],
    [
      "--entrypoint sets one word",
      { entrypoint: "/bin/sh" },
      [],
      { Image: "busybox", Entrypoint: ["/bin/sh"] },
    ],
    [
      "--entrypoint '' resets it as docker does",
      { entrypoint: "" },
      [],
      { Image: "busybox", Entrypoint: [""] },
    ],
    [
      "-e K=V as given, -e K from the environment, unset K dropped",
      { env: ["A=1", "HOME", "NOPE", "EMPTY", "B=x=y"] },
      [],
      { Image: "busybox", Env: ["A=1", "HOME=/root", "EMPTY=", "B=x=y"] },
    ],
    [
      "labels: k=v, bare k is empty, last wins",
      { label: ["a=1", "b", "a=2"] },
      [],
      { Image: "busybox", Labels: { a: "2", b: "" } },
    ],
    [
      "stop signal and timeout",
      { stopSignal: "SIGINT", stopTimeout: "3" },
      [],
      { Image: "busybox", StopSignal: "SIGINT", StopTimeout: 3 },
    ],
    [
      "resources: sizes are binary, cpus are NanoCpus",
      {
        memory: "64m",
        memorySwap: "-1",
        cpus: "0.5",
        cpuShares: "512",
        cpusetCpus: "0-1,3",
        pidsLimit: "100",
        shmSize: "1g",
      },
      [],
      {
        Image: "busybox",
        HostConfig: {
          Memory: 64 * 1024 * 1024,
          MemorySwap: -1,
          NanoCpus: 500_000_000,
          CpuShares: 512,
          CpusetCpus: "0-1,3",
          PidsLimit: 100,
          ShmSize: 1024 ** 3,
        },
      },
    ],
    [
      "security and isolation flags",
      {
        readOnly: true,
        privileged: true,
        init: true,
        rm: true,
        network: "none",
        tmpfs: ["/run", "/tmp:size=64m,noexec"],
        sysctl: ["net.ipv4.ip_forward=1"],
        securityOpt: ["no-new-privileges=false"],
        capAdd: ["net_admin"],
        capDrop: ["CAP_MKNOD"],
      },
      [],
      {
        Image: "busybox",
        HostConfig: {
          ReadonlyRootfs: true,
          Privileged: true,
          Init: true,
          AutoRemove: true,
          NetworkMode: "none",
          Tmpfs: { "/run": "", "/tmp": "size=64m,noexec" },
          Sysctls: { "net.ipv4.ip_forward": "1" },
          SecurityOpt: ["no-new-privileges:false"],
          CapAdd: ["CAP_NET_ADMIN"],
          CapDrop: ["CAP_MKNOD"],
        },
      },
    ],
    [
      "ulimits, devices and a restart policy",
      { ulimit: ["nofile=1024:2048", "nproc=64"], device: ["/dev/fuse"], restart: "on-failure:3" },
      [],
      {
        Image: "busybox",
        HostConfig: {
          Ulimits: [
            { Name: "nofile", Soft: 1024, Hard: 2048 },
            { Name: "nproc", Soft: 64, Hard: 64 },
          ],
          Devices: [{ PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse", CgroupPermissions: "rwm" }],
          RestartPolicy: { Name: "on-failure", MaximumRetryCount: 3 },
        },
      },
    ],
  ])("%s", (_what, flags, command, expected) => {
    expect(build(flags, command)).toEqual(expected);
  });

  it("puts --env-file entries before -e ones", () => {
    const opts = buildCreateOptions({
      image: "busybox",
      command: [],
      flags: { env: ["A=from-flag"] },
      envFiles: [{ path: "a.env", text: "A=from-file\nB=2\n" }],
      lookupEnv,
    });
    expect(opts.Env).toEqual(["A=from-file", "B=2", "A=from-flag"]);
  });

  it.each<[string, CreateFlags, RegExp]>([
    [
      "a size that is not one",
      { memory: "lots" },
      /invalid argument "lots" for "--memory" flag: invalid size/,
    ],
    ["cpus that are not a number", { cpus: "half" }, /--cpus/],
    ["cpus beyond nanosecond precision", { cpus: "0.0000000001" }, /too precise/],
    ["a relative tmpfs path", { tmpfs: ["run"] }, /--tmpfs.*absolute/],
    ["a sysctl without a value", { sysctl: ["kernel.x"] }, /--sysctl/],
    ["an unknown ulimit", { ulimit: ["bogus=1"] }, /invalid ulimit type: bogus/],
    [
      "soft above hard",
      { ulimit: ["nofile=10:5"] },
      /soft limit must be less than or equal to hard limit: 10 > 5/,
    ],
    [
      "--rm with a restart policy",
      { rm: true, restart: "always" },
      /conflicting options: --restart and --rm/,
    ],
    ["a bad restart policy", { restart: "sometimes" }, /--restart/],
    ["an integer flag with text", { pidsLimit: "many" }, /--pids-limit/],
    ["an empty -e name", { env: ["=x"] }, /invalid environment variable/],
  ])("refuses %s", (_what, flags, message) => {
    expect(() => build(flags)).toThrow(message);
  });
});

describe("sizes and CPUs", () => {
  it.each([
    ["1024", 1024],
    ["64m", 64 * 1024 ** 2],
    ["64M", 64 * 1024 ** 2],
    ["1g", 1024 ** 3],
    ["1.5GiB", 1.5 * 1024 ** 3],
    ["512kb", 512 * 1024],
  ])("%s is %d bytes", (text, bytes) => {
    expect(size("--memory", text)).toBe(bytes);
  });

  it.each([
    ["0.5", 500_000_000],
    ["2", 2_000_000_000],
    ["1.25", 1_250_000_000],
    [".5", 500_000_000],
    ["0.000000001", 1],
    ["1.500000000", 1_500_000_000],
  ])("--cpus %s is %d NanoCpus", (text, nano) => {
    expect(nanoCpus(text)).toBe(nano);
  });
});

describe("docker's env-file format", () => {
  it("takes lines literally, skips comments and blanks, trims leading space, reads bare names", () => {
    const text = '\uFEFF# comment\n\n  A=1\nB="quoted stays"\nC= spaced \nHOME\nUNSET\nD=\r\n';
    expect(parseEnvFile(text, "x.env", lookupEnv)).toEqual([
      "A=1",
      'B="quoted stays"',
      "C= spaced ",
      "HOME=/root",
      "D=",
    ]);
  });

  it("names the file and line of a name with whitespace", () => {
    expect(() => parseEnvFile("A=1\nBAD NAME=2\n", "x.env", lookupEnv)).toThrow(
      "x.env:2: variable 'BAD NAME' contains whitespaces",
    );
  });

  it("refuses a line without a name", () => {
    expect(() => parseEnvFile("=2\n", "x.env", lookupEnv)).toThrow("x.env:1: no variable name");
  });
});

describe("capabilities, ulimits, devices, restart", () => {
  it.each<[string[], string[], { add: string[]; drop: string[] }]>([
    [["net_admin", "CAP_SYS_TIME"], [], { add: ["CAP_NET_ADMIN", "CAP_SYS_TIME"], drop: [] }],
    [["ALL"], ["mknod"], { add: ["ALL"], drop: ["CAP_MKNOD"] }],
    [["chown"], ["all"], { add: ["CAP_CHOWN"], drop: ["ALL"] }],
    [["chown"], ["chown", "kill"], { add: ["CAP_CHOWN"], drop: ["CAP_KILL"] }],
  ])("cap-add %j cap-drop %j", (add, drop, expected) => {
    expect(effectiveCaps(add, drop)).toEqual(expected);
  });

  it("keeps the last ulimit of a name, hard defaulting to soft, -1 unlimited", () => {
    expect(ulimits(["nofile=10", "core=-1", "nofile=20:40"])).toEqual([
      { Name: "nofile", Soft: 20, Hard: 40 },
      { Name: "core", Soft: -1, Hard: -1 },
    ]);
  });

  it.each([
    ["/dev/sda", "/dev/sda", "/dev/sda", "rwm"],
    ["/dev/sda:/dev/xvda", "/dev/sda", "/dev/xvda", "rwm"],
    ["/dev/sda:r", "/dev/sda", "/dev/sda", "r"],
    ["/dev/sda:/dev/xvda:rw", "/dev/sda", "/dev/xvda", "rw"],
  ])("--device %s", (spec, host, inside, perms) => {
    expect(device(spec)).toEqual({ PathOnHost: host, PathInContainer: inside, CgroupPermissions: perms });
  });

  it.each(["sda", "/dev/sda:/dev/xvda:rwx", "/dev/a:b:rw"])("refuses --device %s", (spec) => {
    expect(() => device(spec)).toThrow(/--device/);
  });

  it.each([
    ["no", { Name: "no" }],
    ["always", { Name: "always" }],
    ["unless-stopped", { Name: "unless-stopped" }],
    ["on-failure", { Name: "on-failure" }],
    ["on-failure:5", { Name: "on-failure", MaximumRetryCount: 5 }],
  ])("--restart %s", (text, policy) => {
    expect(parseRestartPolicy(text)).toEqual(policy);
  });

  it("refuses a retry count on a policy other than on-failure", () => {
    expect(() => parseRestartPolicy("always:3")).toThrow(/--restart/);
  });
});
