/**
 * Start-latency figure (issue #4): `run --rm <busybox> true` with no network, side by side in one run:
 *
 * - raw runc: `runc run` of a bundle whose rootfs is a plain copy of the same image (no overlay, no
 *   supervisor): the floor;
 * - tsstack engine: create + start + wait + remove through the embedded runtime in-process (overlayfs
 *   mount, config.json, conmon, runc create/start, exit recording, unmount, removal): what the daemon
 *   does for `tsstack run --rm`;
 * - tsstack CLI: the whole `tsstack run --rm` process talking to a running daemon (when built);
 * - docker: `docker run --rm --network none` of the same image, when a Docker daemon answers.
 *
 * Prints medians and ratios to raw runc, and the daemon's idle RSS. Raw runc, the engine and the API
 * run in rotating turns within each round rather than in blocks, so they meet the same machine.
 *
 *   node --import tsx bench/container-start.ts        (BENCH_RUNS=15)
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiClient } from "../src/api/client.js";
import { EmbeddedRuntime } from "../src/runtime/embedded.js";
import type { Runtime } from "../src/runtime/runtime.js";
import { addTestImage } from "../test/helpers/engine.js";
import { copyImageRootfs, RUNC, writeRawBundle } from "./raw-runc.js";

const RUNS = Number(process.env["BENCH_RUNS"] ?? 15);

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

async function timeRuns(fn: () => Promise<void> | void): Promise<number[]> {
  await fn(); // warm-up
  const out: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

const work = mkdtempSync(join(tmpdir(), "tsstack-bench-start-"));
// Runtime state on tmpfs, as both run by default (runc's /run/runc, tsstack's /run/tsstack); the
// engine root (records, images, container layers) stays on disk.
const runDir = mkdtempSync(join("/run", "tsstack-bench-start-"));
const root = join(work, "root");
const results: { name: string; ms: number }[] = [];
const daemonStats = { idleRssMb: Number.NaN, afterRssMb: Number.NaN, helpersRssMb: Number.NaN };

function rssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1] ?? Number.NaN) / 1024;
}
try {
  const imageId = await addTestImage(root, "busybox:latest");

  // raw runc: a bundle with the image's layers copied into a plain directory.
  const bundle = join(work, "bundle");
  const rootfs = join(bundle, "rootfs");
  const image = await copyImageRootfs(root, imageId, rootfs);
  writeRawBundle(bundle, { image, rootfs, cmd: ["true"], cgroupsPath: "/tsstack-bench/raw" });
  const runcRoot = join(runDir, "runc");
  let n = 0;
  const rawRun = (): void => {
    const r = spawnSync(RUNC, ["--root", runcRoot, "run", "--bundle", bundle, `bench-${n++}`]);
    if (r.status !== 0) throw new Error(`runc run failed: ${r.stderr.toString()}`);
  };
  const cycle = async (rt: Runtime): Promise<void> => {
    const c = await rt.createContainer({ Image: "busybox:latest", Cmd: ["true"] });
    await c.start();
    const { StatusCode } = await c.wait();
    if (StatusCode !== 0) throw new Error(`exit ${StatusCode}`);
    await c.remove();
  };

  // The engine in-process on one root; the daemon as users run it (the built CLI) on another.
  const engine = await EmbeddedRuntime.open({ root, runRoot: join(runDir, "run") });
  const root2 = join(work, "root2");
  await addTestImage(root2, "busybox:latest");
  const socket = join(work, "engine.sock");
  const bin = new URL("../bin/tsstack.js", import.meta.url).pathname;
  const daemon = spawn(
    process.execPath,
    [bin, "daemon", "--root", root2, "--socket", socket, "--run-root", join(runDir, "run2")],
    {
      stdio: "ignore",
    },
  );
  try {
    const client = new ApiClient(socket);
    for (let i = 0; ; i++) {
      try {
        await client.ping();
        break;
      } catch (e) {
        if (i > 200) throw e;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    await new Promise((r) => setTimeout(r, 2000));
    daemonStats.idleRssMb = rssMb(daemon.pid ?? 0);

    // Side by side: each round runs raw runc, the engine and the API once, in a rotating order, so
    // the machine's drifts (this VM's runc alone varies by +-10 % between minutes) hit all three alike.
    const kinds = [
      {
        name: "raw runc run",
        run: () => {
          rawRun();
          return Promise.resolve();
        },
        times: [] as number[],
      },
      { name: "tsstack engine create+start+wait+rm", run: () => cycle(engine), times: [] as number[] },
      { name: "tsstack daemon API create+start+wait+rm", run: () => cycle(client), times: [] as number[] },
    ];
    for (const k of kinds) await k.run(); // warm-up
    for (let i = 0; i < RUNS; i++) {
      for (let j = 0; j < kinds.length; j++) {
        const k = kinds[(i + j) % kinds.length];
        if (k === undefined) continue;
        const t0 = performance.now();
        await k.run();
        k.times.push(performance.now() - t0);
      }
    }
    for (const k of kinds) results.push({ name: k.name, ms: median(k.times) });
    // After the runs: the daemon, and the host helpers it started (mounts, conmon starts).
    daemonStats.afterRssMb = rssMb(daemon.pid ?? 0);
    const helpers = spawnSync("pgrep", ["-P", String(daemon.pid ?? 0), "python3"], { encoding: "utf8" })
      .stdout.split("\n")
      .filter((l) => l !== "")
      .map(Number);
    daemonStats.helpersRssMb = helpers.reduce((sum, pid) => sum + rssMb(pid), 0);

    const cli = await timeRuns(() => {
      const r = spawnSync(
        process.execPath,
        [bin, "--root", root2, "--socket", socket, "run", "--rm", "busybox", "true"],
        {
          env: { ...process.env, TSSTACK_NO_AUTOSTART: "1" },
        },
      );
      if (r.status !== 0) throw new Error(`tsstack run failed: ${r.stderr.toString()}`);
    });
    results.push({ name: "tsstack run --rm (whole CLI process)", ms: median(cli) });
    const nodeStart = await timeRuns(() => {
      spawnSync(process.execPath, ["-e", "0"]);
    });
    results.push({ name: "  (node -e 0, for reference)", ms: median(nodeStart) });
    client.close();
  } finally {
    daemon.kill("SIGTERM");
    await engine.close();
  }

  const docker = spawnSync("docker", ["info", "--format", "{{.ServerVersion}}"], { encoding: "utf8" });
  if (docker.status === 0) {
    execFileSync("sh", [
      "-c",
      `docker image inspect tsstack-bench-busybox >/dev/null 2>&1 || tar -C ${rootfs} -c . | docker import - tsstack-bench-busybox`,
    ]);
    const d = await timeRuns(() => {
      const r = spawnSync("docker", ["run", "--rm", "--network", "none", "tsstack-bench-busybox", "true"]);
      if (r.status !== 0) throw new Error(`docker run failed: ${r.stderr.toString()}`);
    });
    results.push({ name: `docker run --rm --network none (${docker.stdout.trim()})`, ms: median(d) });
  } else {
    console.log("docker: no Docker daemon answers; skipped (start docker.io to compare)");
  }
} finally {
  rmSync(work, { recursive: true, force: true });
  rmSync(runDir, { recursive: true, force: true });
  spawnSync("rmdir", ["/sys/fs/cgroup/*/tsstack-bench"], { shell: true });
}

const base = results[0]?.ms ?? Number.NaN;
console.log(`container start latency, median of ${RUNS} runs (no network):`);
for (const r of results)
  console.log(
    `  ${r.name.padEnd(52)} ${r.ms.toFixed(1).padStart(7)} ms   ${(r.ms / base).toFixed(2)}x raw runc`,
  );
console.log(
  `daemon idle RSS: ${daemonStats.idleRssMb.toFixed(1)} MB (target <= 60 MB; dockerd + containerd ~170 MB); ` +
    `after the runs ${daemonStats.afterRssMb.toFixed(1)} MB, plus ${daemonStats.helpersRssMb.toFixed(1)} MB of host helpers`,
);
