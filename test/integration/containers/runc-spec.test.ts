/**
 * The spec builder against real runc: a busybox rootfs from the real image store, a bundle with the
 * built config.json, `runc run` in the foreground, and checks of what the process sees.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { cp, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { release } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { buildRuntimeSpec, type ContainerConfig } from "../../../src/runtime/containers/oci-spec.js";
import type { ImageConfig } from "../../../src/runtime/images/types.js";
import { addBusyboxImage, buildBusyboxImage } from "../../helpers/busybox-image.js";
import { useImageStores } from "../../helpers/stores.js";
import { useTmpDirs } from "../../helpers/tmp.js";

const execFileP = promisify(execFile);
const tmp = useTmpDirs("tsstack-runc-");
const openStore = useImageStores();
const RUNC = ["/usr/sbin/runc", "/usr/bin/runc"].find((p) => existsSync(p));
const canRun = RUNC !== undefined && process.getuid?.() === 0;

/** Docker's 14 default capabilities as the kernel prints them in /proc/<pid>/status. */
const DOCKER_DEFAULT_CAP_MASK = "00000000a80425fb";

interface Started {
  readonly stateRoot: string;
  readonly id: string;
}
const started: Started[] = [];

afterEach(async () => {
  for (const { stateRoot, id } of started.splice(0)) {
    if (RUNC === undefined) break;
    await execFileP(RUNC, ["--root", stateRoot, "delete", "-f", id]).catch(() => undefined);
    // No container state may outlive the test.
    expect(existsSync(stateRoot) ? await readdir(stateRoot) : []).toEqual([]);
  }
});

/** A bundle with the busybox rootfs copied out of the store's snapshots, lowest layer first. */
async function busyboxBundle(): Promise<{ bundle: string; rootfs: string; image: ImageConfig }> {
  const store = await openStore(await tmp());
  const record = await addBusyboxImage(store, await buildBusyboxImage());
  const image = JSON.parse((await store.readBlob(record.id)).toString()) as ImageConfig;
  const bundle = await tmp();
  const rootfs = join(bundle, "rootfs");
  await mkdir(rootfs);
  for (const snapshot of store.snapshotPaths(record))
    await cp(snapshot, rootfs, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  return { bundle, rootfs, image };
}

/** `runc run` in the foreground; resolves with the process's stdout and exit code. */
async function runcRun(
  c: ContainerConfig,
  hostname = "tsstack-box",
): Promise<{ stdout: string; code: number }> {
  if (RUNC === undefined) throw new Error("runc is not installed");
  const { bundle, rootfs, image } = await busyboxBundle();
  const spec = buildRuntimeSpec(image, c, {
    rootfs,
    hostname,
    passwd: await readFile(join(rootfs, "etc/passwd"), "utf8"),
    group: await readFile(join(rootfs, "etc/group"), "utf8"),
    kernelVersion: release(),
  });
  await writeFile(join(bundle, "config.json"), JSON.stringify(spec, null, 2));
  const stateRoot = join(await tmp(), "runc");
  const id = `tsstack-test-${randomBytes(6).toString("hex")}`;
  started.push({ stateRoot, id });
  try {
    const { stdout } = await execFileP(RUNC, ["--root", stateRoot, "run", "--bundle", bundle, id], {
      timeout: 15_000,
    });
    return { stdout, code: 0 };
  } catch (e) {
    const err = e as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof err.code !== "number") throw e;
    return { stdout: err.stdout ?? "", code: err.code };
  }
}

function statusField(stdout: string, field: string): string | undefined {
  return new RegExp(`^${field}:\\s*(.*)$`, "m").exec(stdout)?.[1]?.trim();
}

/**
 * A masked path the host has (some kernels lack /proc/kcore): the bind mount of /dev/null over it
 * must read empty although the host's file does not.
 */
const MASKED = ["/proc/kcore", "/proc/timer_list"].find((p) => existsSync(p)) ?? "/proc/kcore";

const PROBE = [
  "cat /proc/self/status",
  "echo uid=$(id -u) gid=$(id -g)",
  "echo hostname=$(hostname)",
  "echo pid=$$",
  `echo masked=$(wc -c < ${MASKED})`,
  "if echo x > /proc/sys/kernel/domainname 2>/dev/null; then echo procsys=writable; else echo procsys=readonly; fi",
].join("; ");

describe.skipIf(!canRun)("OCI spec on real runc", () => {
  it("runs the process as PID 1 with Docker's capabilities, seccomp, no-new-privileges and masked /proc", async () => {
    if (MASKED === "/proc/timer_list") expect((await readFile(MASKED)).length).toBeGreaterThan(0);
    const { stdout, code } = await runcRun({ cmd: ["sh", "-c", PROBE] }, "web-1");
    expect(code).toBe(0);
    expect(statusField(stdout, "CapEff")).toBe(DOCKER_DEFAULT_CAP_MASK);
    expect(statusField(stdout, "CapPrm")).toBe(DOCKER_DEFAULT_CAP_MASK);
    expect(statusField(stdout, "CapBnd")).toBe(DOCKER_DEFAULT_CAP_MASK);
    expect(statusField(stdout, "CapInh")).toBe("0000000000000000");
    expect(statusField(stdout, "CapAmb")).toBe("0000000000000000");
    expect(statusField(stdout, "NoNewPrivs")).toBe("1");
    expect(statusField(stdout, "Seccomp")).toBe("2");
    expect(stdout).toContain("uid=0 gid=0");
    expect(stdout).toContain("hostname=web-1");
    expect(stdout).toContain("pid=1\n");
    expect(stdout).toContain("masked=0\n");
    expect(stdout).toContain("procsys=readonly");
  });

  it("runs as the configured user with no effective capabilities, and honours the no-new-privileges opt-out", async () => {
    const { stdout, code } = await runcRun({
      cmd: ["sh", "-c", PROBE],
      user: "nobody:65534",
      noNewPrivileges: false,
    });
    expect(code).toBe(0);
    expect(stdout).toContain("uid=65534 gid=65534");
    expect(statusField(stdout, "CapEff")).toBe("0000000000000000");
    expect(statusField(stdout, "CapBnd")).toBe(DOCKER_DEFAULT_CAP_MASK);
    expect(statusField(stdout, "NoNewPrivs")).toBe("0");
    expect(statusField(stdout, "Seccomp")).toBe("2");
  });

  it("lets mount(2) through seccomp only for containers granted CAP_SYS_ADMIN", async () => {
    const probe = [
      "sh",
      "-c",
      "if mount -t tmpfs t /tmp 2>/dev/null; then echo mount=ok; else echo mount=denied; fi",
    ];
    expect((await runcRun({ cmd: probe })).stdout).toContain("mount=denied");
    // With the capability, the profile's CAP_SYS_ADMIN rule is kept and the mount succeeds.
    expect((await runcRun({ cmd: probe, capAdd: ["SYS_ADMIN"] })).stdout).toContain("mount=ok");
  });
});
