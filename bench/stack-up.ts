/**
 * Stack figures (issue #6), tsstack and docker-compose side by side in one run:
 *
 * - `up -d` then `down` of N sleeping services (N = 20, 50), as whole CLI processes: the built
 *   `tsstack` CLI against a daemon started here on a temp root, and Debian's `docker-compose` (1.29)
 *   against a dockerd started here on a temp data root (when none answers already). Runs alternate
 *   between the two so a busy machine weighs on both alike. Once with `network_mode: none`, once with
 *   the project's default (bridge) network;
 * - a no-change `up -d` right after an `up` (target ≤ 100 ms): the whole CLI process, and the daemon-side
 *   apply alone through StackClient (the difference is Node's start-up and module loading);
 * - crash-to-restart under `restart: always` (target ≤ 1 s): SIGKILL of a container's init pid, then
 *   inspect polled every few ms until a new pid runs. Each sample is the first crash of its own
 *   container, so no restart backoff accumulates.
 *
 * Prints medians and tsstack/docker-compose ratios (target: `up -d` of 20 services ≤ 0.15×).
 *
 *   npm run build && node --import tsx bench/stack-up.ts
 *     BENCH_RUNS=3 (up/down cycles per size), BENCH_SIZES=20,50, BENCH_NETWORKS=none,default,
 *     BENCH_CRASH_RUNS=7
 *
 * Must run as root. Removes everything it made (stacks, daemons, temp dirs, cgroups) even on failure.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync } from "node:fs";
import { rmSync, rmdirSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { availableParallelism, homedir, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ApiClient } from "../src/api/client.js";
import { StackClient } from "../src/api/stack-client.js";
import type { StackProgress } from "../src/api/stack-types.js";
import { applyRequest } from "../src/cli/commands/compose/apply-options.js";
import type { ImageConfig } from "../src/runtime/images/types.js";
import { loadStack } from "../src/spec/load.js";
import { copyImageRootfs, RUNC, writeRawBundle } from "./raw-runc.js";

const RUNS = Number(process.env["BENCH_RUNS"] ?? 3);
const SIZES = (process.env["BENCH_SIZES"] ?? "20,50").split(",").map(Number);
const NETWORKS = (process.env["BENCH_NETWORKS"] ?? "none,default").split(",") as ("none" | "default")[];
const CRASH_RUNS = Number(process.env["BENCH_CRASH_RUNS"] ?? 7);
const TS_IMAGE = "tsstack.local/hello:1";
const DOCKER_IMAGE = "tsstack-bench-hello";
const BIN = new URL("../bin/tsstack.js", import.meta.url).pathname;
const BUILD_IMAGE = new URL("../examples/hello/build-image.sh", import.meta.url).pathname;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function fmt(ms: number): string {
  return Number.isNaN(ms) ? "-" : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;
}

/** Runs a command to completion; throws with its output when it fails. */
function sh(
  cmd: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  input?: Buffer,
): string {
  const r = spawnSync(cmd, args, {
    env,
    input,
    encoding: "buffer",
    timeout: 600_000,
    maxBuffer: 1 << 28,
  });
  if (r.status !== 0)
    throw new Error(
      `${cmd} ${args.join(" ")} failed (${String(r.status ?? r.signal)}): ${r.stderr.toString()}${r.stdout.toString()}`,
    );
  return r.stdout.toString();
}

/** Wall time of a whole process, in ms. */
function timed(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv): number {
  const t0 = performance.now();
  sh(cmd, args, env);
  return performance.now() - t0;
}

/** GET on a unix-socket HTTP API (dockerd's), parsed as JSON; undefined on 404. */
function getJson(socketPath: string, path: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: "GET" }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("end", () => {
        const text = Buffer.concat(parts).toString();
        if (res.statusCode === 404) resolve(undefined);
        else if (res.statusCode !== 200) reject(new Error(`GET ${path}: ${String(res.statusCode)} ${text}`));
        else resolve(path === "/_ping" ? text : JSON.parse(text));
      });
    });
    req.on("error", reject);
    req.end();
  });
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      resolve(false);
    }, ms);
    child.once("exit", () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (child?.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  if (!(await waitExit(child, 30_000))) {
    child.kill("SIGKILL");
    await waitExit(child, 5000);
  }
}

/** `services:` of N sleeping services (s01…), as tsstack and docker-compose files. */
function stackYaml(
  n: number,
  network: "none" | "default",
  head: string,
  image: string,
  restart = "",
): string {
  const lines = [head, "services:"];
  for (let i = 1; i <= n; i++) {
    lines.push(`  s${String(i).padStart(2, "0")}:`, `    image: ${image}`, `    command: ["sleep", "3600"]`);
    lines.push("    init: true");
    if (network === "none") lines.push("    network_mode: none");
    if (restart !== "") lines.push(`    restart: ${restart}`);
  }
  return `${lines.join("\n")}\n`;
}

/** Mount points under `dir`, deepest first. */
function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

function cgroupDirs(): Set<string> {
  return new Set(readdirSync("/sys/fs/cgroup").filter((d) => d.startsWith("tsstack-") || d === "docker"));
}

function bridges(): Set<string> {
  const out = spawnSync("ip", ["-o", "link", "show", "type", "bridge"], { encoding: "utf8" }).stdout;
  return new Set(out.split("\n").flatMap((l) => /^\d+: ([^:@]+)/.exec(l)?.[1] ?? []));
}

function iptablesLines(): Set<string> {
  const out = spawnSync("iptables-save", [], { encoding: "utf8" }).stdout;
  return new Set(
    out.split("\n").filter((l) => l !== "" && !l.startsWith("#") && !/^\*|^COMMIT|^:.*\[/.test(l)),
  );
}

if (process.getuid?.() !== 0) {
  console.error("bench/stack-up.ts: must run as root (containers, cgroups, bridges)");
  process.exit(1);
}
if (!existsSync(join(dirname(BIN), "../dist/cli/main.js"))) {
  console.error("bench/stack-up.ts: the CLI is not built: run `npm run build` first");
  process.exit(1);
}

const work = mkdtempSync(join(tmpdir(), "tsstack-bench-stack-"));
// What dockerd 20.10 writes outside its data and exec roots whatever its flags: removed at the end when
// they were not there before.
const DOCKERD_OUTSIDE = [
  "/etc/docker/key.json",
  "/run/docker/plugins",
  "/run/docker",
  "/run/containerd/s",
  "/run/containerd",
];
const before = {
  cgroups: cgroupDirs(),
  bridges: bridges(),
  iptables: iptablesLines(),
  dockerdOutside: new Set(DOCKERD_OUTSIDE.filter((p) => existsSync(p))),
};
const notes: string[] = [];
const load = { start: loadavg()[0] ?? Number.NaN, end: Number.NaN };

// tsstack side
const root = join(work, "ts");
const socket = join(work, "ts.sock");
const tsEnv: NodeJS.ProcessEnv = { ...process.env, TSSTACK_NO_AUTOSTART: "1" };
const tsArgs = ["--root", root, "--socket", socket];
let daemon: ChildProcess | undefined;
const tsStacks = new Set<string>(); // stack files possibly up

// docker side
const dockerDir = join(work, "d");
const dockerSock = join(dockerDir, "docker.sock");
let dockerd: ChildProcess | undefined;
let dockerEnv: NodeJS.ProcessEnv | undefined;
let dockerVersion = "";
const composeProjects = new Map<string, string>(); // project → file, possibly up

interface Row {
  network: string;
  n: number;
  tsUp: number[];
  tsDown: number[];
  dcUp: number[];
  dcDown: number[];
  tsNoChange: number[];
  tsNoChangeApi: number[];
  dcNoChange: number[];
  /** The floor (network none only): N × raw `runc run -d`, see rawFloor. */
  rawUp: number[];
}
const rows: Row[] = [];
const crash = { ts: [] as number[], dc: [] as number[] };
let nodeStart = Number.NaN;

async function startDaemon(): Promise<void> {
  const log = openSync(join(work, "tsstack-daemon.log"), "a");
  daemon = spawn(process.execPath, [BIN, "daemon", ...tsArgs, "--run-root", join(root, "run")], {
    stdio: ["ignore", log, log],
  });
  closeSync(log);
  const client = new ApiClient(socket);
  try {
    for (let i = 0; ; i++) {
      try {
        await client.ping();
        return;
      } catch (e) {
        if (i > 400 || daemon.exitCode !== null) throw e;
        await sleep(50);
      }
    }
  } finally {
    client.close();
  }
}

/** Starts a private dockerd unless one answers already; sets dockerEnv, or leaves it undefined with a note. */
async function startDockerd(): Promise<void> {
  const existing = spawnSync("docker", ["info", "--format", "{{.ServerVersion}}"], { encoding: "utf8" });
  if (existing.status === 0) {
    notes.push(
      `docker: a Docker daemon already answers (${existing.stdout.trim()}); using it, not starting one`,
    );
    dockerEnv = { ...process.env };
    dockerVersion = existing.stdout.trim();
    return;
  }
  mkdirSync(dockerDir, { recursive: true });
  writeFileSync(join(dockerDir, "daemon.json"), "{}\n");
  const log = openSync(join(dockerDir, "dockerd.log"), "a");
  dockerd = spawn(
    "dockerd",
    [
      "--config-file",
      join(dockerDir, "daemon.json"),
      "--data-root",
      join(dockerDir, "data"),
      "--exec-root",
      join(dockerDir, "exec"),
      "--pidfile",
      join(dockerDir, "docker.pid"),
      "-H",
      `unix://${dockerSock}`,
      "--bridge",
      "none",
      "--iptables=false",
      "--ip-forward=false",
      "--ip-masq=false",
    ],
    { stdio: ["ignore", log, log] },
  );
  closeSync(log);
  const spawnError = new Promise<Error>((resolve) => dockerd?.once("error", resolve));
  for (let i = 0; i < 600; i++) {
    if (dockerd.exitCode !== null) break;
    try {
      await getJson(dockerSock, "/_ping");
      dockerEnv = { ...process.env, DOCKER_HOST: `unix://${dockerSock}` };
      dockerVersion = sh("docker", ["version", "--format", "{{.Server.Version}}"], dockerEnv).trim();
      return;
    } catch {
      await Promise.race([sleep(50), spawnError]);
    }
  }
  const tail = existsSync(join(dockerDir, "dockerd.log"))
    ? readFileSync(join(dockerDir, "dockerd.log"), "utf8").split("\n").slice(-8).join("\n    ")
    : "";
  notes.push(`docker: dockerd did not start (peer skipped); its log ends:\n    ${tail}`);
  await stop(dockerd);
  dockerd = undefined;
}

/** The busybox-static root filesystem of examples/hello/build-image.sh, imported into Docker. */
function importDockerImage(env: NodeJS.ProcessEnv): void {
  const rootfs = join(work, "rootfs");
  for (const d of ["bin", "etc", "tmp", "proc", "sys", "dev", "root"])
    mkdirSync(join(rootfs, d), { recursive: true });
  sh("cp", ["/bin/busybox", join(rootfs, "bin/busybox")]);
  for (const applet of sh("/bin/busybox", ["--list"]).split("\n"))
    if (applet !== "" && applet !== "busybox") sh("ln", ["-sf", "busybox", join(rootfs, "bin", applet)]);
  writeFileSync(join(rootfs, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  writeFileSync(join(rootfs, "etc/group"), "root:x:0:\n");
  const tar = spawnSync("tar", ["--numeric-owner", "--owner=0", "--group=0", "-C", rootfs, "-cf", "-", "."], {
    maxBuffer: 1 << 28,
  });
  sh(
    "docker",
    ["import", "--change", 'CMD ["/bin/sh"]', "--change", "ENV PATH=/bin", "-", DOCKER_IMAGE],
    env,
    tar.stdout,
  );
}

/**
 * The floor of `up -d` on this machine: n × `runc run -d` of the same sleeping command on a plain
 * copy of the image, 4 at a time (the applier's parallelism), timed until all are running; then all
 * are deleted. No CLI, engine, overlay, supervisor or network: what runc alone costs.
 */
let rawSetup: { image: ImageConfig; rootfs: string } | undefined;
let rawRuns = 0;
async function rawFloor(n: number): Promise<number> {
  if (rawSetup === undefined) {
    const rootfs = join(work, "raw", "rootfs");
    rawSetup = { rootfs, image: await copyImageRootfs(root, TS_IMAGE, rootfs) };
  }
  const setup = rawSetup;
  const runcRoot = join(work, "raw", "runc");
  const ids = Array.from({ length: n }, (_, i) => `tsbraw-${String(rawRuns)}-${String(i)}`);
  rawRuns++;
  for (const id of ids)
    writeRawBundle(join(work, "raw", id), {
      ...setup,
      cmd: ["sleep", "3600"],
      cgroupsPath: `/tsstack-bench-floor/${id}`,
    });
  const runOne = (id: string): Promise<void> =>
    new Promise((resolve, reject) => {
      // stdio ignored: a detached container keeps whatever runc's stdio was open.
      const child = spawn(RUNC, ["--root", runcRoot, "run", "-d", "--bundle", join(work, "raw", id), id], {
        stdio: "ignore",
      });
      child.on("error", reject);
      child.on("exit", (code) => {
        if (code === 0) resolve();
        else reject(new Error(`runc run -d ${id} exited ${String(code)}`));
      });
    });
  let next = 0;
  const t0 = performance.now();
  try {
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < ids.length) await runOne(ids[next++] ?? "");
      }),
    );
    return performance.now() - t0;
  } finally {
    for (const id of ids) spawnSync(RUNC, ["--root", runcRoot, "delete", "--force", id]);
    for (const controller of readdirSync("/sys/fs/cgroup"))
      try {
        rmdirSync(join("/sys/fs/cgroup", controller, "tsstack-bench-floor"));
      } catch {
        // not this controller, or v2 (the unified one below)
      }
  }
}

function tsUp(file: string): number {
  tsStacks.add(file);
  return timed(process.execPath, [BIN, ...tsArgs, "up", "-d", "--progress", "quiet", "-f", file], tsEnv);
}
function tsDown(file: string): number {
  const ms = timed(process.execPath, [BIN, ...tsArgs, "down", "--progress", "quiet", "-f", file], tsEnv);
  tsStacks.delete(file);
  return ms;
}
function dcUp(env: NodeJS.ProcessEnv, project: string, file: string): number {
  composeProjects.set(project, file);
  return timed("docker-compose", ["-p", project, "-f", file, "up", "-d"], env);
}
/**
 * docker-compose 1.29 on dockerd 20.10 now and then fails to remove the default network ("has active
 * endpoints": the containers' sandboxes go a moment after the containers); `down` again then finishes.
 * The time counts every attempt, and the retry is noted.
 */
function dcDown(env: NodeJS.ProcessEnv, project: string, file: string): number {
  const t0 = performance.now();
  for (let attempt = 1; ; attempt++)
    try {
      sh("docker-compose", ["-p", project, "-f", file, "down"], env);
      break;
    } catch (e) {
      if (attempt >= 3) throw e;
      notes.push(
        `docker-compose -p ${project} down failed once, retried: ${String(e).split("\n").at(-2) ?? ""}`,
      );
    }
  composeProjects.delete(project);
  return performance.now() - t0;
}

/** The daemon-side apply of an unchanged stack, without the CLI process; checks it did nothing. */
async function tsNoChangeApi(file: string): Promise<number[]> {
  const loaded = loadStack({ files: [file], workingDir: dirname(file), environment: {}, homeDir: homedir() });
  const req = applyRequest(loaded, { detach: true }, []);
  const stacks = new StackClient(socket);
  const out: number[] = [];
  try {
    for (let i = 0; i <= RUNS; i++) {
      const progress: StackProgress[] = [];
      const t0 = performance.now();
      const result = await stacks.apply(loaded.spec.name, req, (p) => progress.push(p));
      const ms = performance.now() - t0;
      if (!result.ok) throw new Error(`no-change apply failed: ${result.errors.join("; ")}`);
      const ops = progress.filter((p) => p.type === "op").length;
      if (ops > 0) notes.push(`tsstack: a no-change apply of ${file} ran ${String(ops)} operation lines`);
      if (i > 0) out.push(ms); // the first one warms the client's connection
    }
  } finally {
    stacks.close();
  }
  return out;
}

/** SIGKILL of a container's init, then inspect polled until a new pid runs: ms. */
async function crashToRestart(inspect: () => Promise<{ Pid: number; Running: boolean }>): Promise<number> {
  let state = await inspect();
  for (let i = 0; !(state.Running && state.Pid > 0); i++) {
    if (i > 1000) throw new Error("container not running before the crash");
    await sleep(10);
    state = await inspect();
  }
  const old = state.Pid;
  process.kill(old, "SIGKILL");
  const t0 = performance.now();
  for (;;) {
    const s = await inspect();
    if (s.Running && s.Pid > 0 && s.Pid !== old) return performance.now() - t0;
    if (performance.now() - t0 > 30_000)
      throw new Error(`no restart within 30 s of killing pid ${String(old)}`);
    await sleep(5);
  }
}

try {
  nodeStart = median(
    Array.from({ length: 5 }, () => {
      const t0 = performance.now();
      spawnSync(process.execPath, ["-e", "0"]);
      return performance.now() - t0;
    }),
  );

  await startDaemon();
  sh(BUILD_IMAGE, tsArgs, tsEnv);
  await startDockerd();
  if (dockerEnv !== undefined) importDockerImage(dockerEnv);
  const denv = dockerEnv;

  // Warm-up: one small cycle each (module caches, image layers, the daemons' first containers).
  {
    const dir = join(work, "warm");
    mkdirSync(dir);
    writeFileSync(join(dir, "stack.yml"), stackYaml(3, "none", "name: tsbwarm", TS_IMAGE));
    writeFileSync(join(dir, "compose.yml"), stackYaml(3, "none", 'version: "3.8"', DOCKER_IMAGE));
    tsUp(join(dir, "stack.yml"));
    tsDown(join(dir, "stack.yml"));
    if (denv !== undefined) {
      dcUp(denv, "tsbwarm", join(dir, "compose.yml"));
      dcDown(denv, "tsbwarm", join(dir, "compose.yml"));
    }
  }

  for (const network of NETWORKS)
    for (const n of SIZES) {
      const name = `tsb${network === "none" ? "n" : "d"}${String(n)}`;
      const dir = join(work, name);
      mkdirSync(dir);
      const tsFile = join(dir, "stack.yml");
      const dcFile = join(dir, "compose.yml");
      writeFileSync(tsFile, stackYaml(n, network, `name: ${name}`, TS_IMAGE));
      writeFileSync(dcFile, stackYaml(n, network, 'version: "3.8"', DOCKER_IMAGE));
      const row: Row = {
        network,
        n,
        tsUp: [],
        tsDown: [],
        dcUp: [],
        dcDown: [],
        tsNoChange: [],
        tsNoChangeApi: [],
        dcNoChange: [],
        rawUp: [],
      };
      rows.push(row);
      for (let run = 0; run < RUNS; run++) {
        row.tsUp.push(tsUp(tsFile));
        if (run === 0) {
          for (let i = 0; i < RUNS; i++) row.tsNoChange.push(tsUp(tsFile));
          row.tsNoChangeApi.push(...(await tsNoChangeApi(tsFile)));
        }
        row.tsDown.push(tsDown(tsFile));
        if (network === "none") row.rawUp.push(await rawFloor(n));
        if (denv !== undefined) {
          row.dcUp.push(dcUp(denv, name, dcFile));
          if (run === 0) for (let i = 0; i < RUNS; i++) row.dcNoChange.push(dcUp(denv, name, dcFile));
          row.dcDown.push(dcDown(denv, name, dcFile));
        }
      }
      console.error(`  done: ${network} network, ${String(n)} services`);
    }

  // Crash-to-restart: CRASH_RUNS services under restart: always, each crashed once.
  {
    const dir = join(work, "tsbcrash");
    mkdirSync(dir);
    const tsFile = join(dir, "stack.yml");
    const dcFile = join(dir, "compose.yml");
    writeFileSync(tsFile, stackYaml(CRASH_RUNS, "none", "name: tsbcrash", TS_IMAGE, "always"));
    writeFileSync(dcFile, stackYaml(CRASH_RUNS, "none", 'version: "3.8"', DOCKER_IMAGE, "always"));
    tsUp(tsFile);
    const client = new ApiClient(socket);
    try {
      for (let i = 1; i <= CRASH_RUNS; i++) {
        const c = client.getContainer(`tsbcrash-s${String(i).padStart(2, "0")}-1`);
        crash.ts.push(
          await crashToRestart(async () => {
            const { State } = await c.inspect();
            return { Pid: State.Pid, Running: State.Running };
          }),
        );
      }
    } finally {
      client.close();
    }
    tsDown(tsFile);
    if (denv !== undefined) {
      dcUp(denv, "tsbcrash", dcFile);
      const dsock = (denv["DOCKER_HOST"] ?? "unix:///var/run/docker.sock").replace(/^unix:\/\//, "");
      for (let i = 1; i <= CRASH_RUNS; i++) {
        const path = `/containers/tsbcrash_s${String(i).padStart(2, "0")}_1/json`;
        crash.dc.push(
          await crashToRestart(async () => {
            const j = (await getJson(dsock, path)) as { State: { Pid: number; Running: boolean } };
            return { Pid: j.State.Pid, Running: j.State.Running };
          }),
        );
      }
      dcDown(denv, "tsbcrash", dcFile);
    }
  }
} catch (error) {
  process.exitCode = 1;
  console.error("bench/stack-up.ts failed:", error);
} finally {
  load.end = loadavg()[0] ?? Number.NaN;
  // Everything possibly still up comes down while its daemon still runs.
  if (daemon !== undefined && (daemon.exitCode !== null || daemon.signalCode !== null) && tsStacks.size > 0)
    await startDaemon().catch(() => undefined);
  for (const file of tsStacks)
    try {
      tsDown(file);
    } catch (e) {
      notes.push(`cleanup: tsstack down -f ${file}: ${String(e)}`);
    }
  if (dockerEnv !== undefined)
    for (const [project, file] of composeProjects)
      try {
        dcDown(dockerEnv, project, file);
      } catch (e) {
        notes.push(`cleanup: docker-compose -p ${project} down: ${String(e)}`);
      }
  if (dockerd !== undefined && dockerEnv !== undefined) {
    const left = spawnSync("docker", ["ps", "-aq"], { env: dockerEnv, encoding: "utf8" }).stdout.trim();
    if (left !== "") spawnSync("docker", ["rm", "-f", ...left.split("\n")], { env: dockerEnv });
  }
  await stop(daemon);
  await stop(dockerd);
  if (dockerd !== undefined)
    for (const p of DOCKERD_OUTSIDE)
      if (!before.dockerdOutside.has(p) && existsSync(p))
        try {
          if (p.endsWith(".json")) rmSync(p);
          else rmdirSync(p);
        } catch (e) {
          notes.push(`cleanup: ${p} left (${String(e)})`);
        }
  for (const m of mountsUnder(work)) spawnSync("umount", ["-l", m]);
  rmSync(work, { recursive: true, force: true });
  for (const d of cgroupDirs())
    if (!before.cgroups.has(d))
      try {
        rmdirSync(join("/sys/fs/cgroup", d));
      } catch (e) {
        notes.push(`cleanup: cgroup ${d} left (${String(e)})`);
      }
  const newBridges = [...bridges()].filter((b) => !before.bridges.has(b));
  if (newBridges.length > 0) notes.push(`left behind: bridges ${newBridges.join(", ")}`);
  const newRules = [...iptablesLines()].filter((l) => !before.iptables.has(l));
  if (newRules.length > 0) notes.push(`left behind: iptables lines\n    ${newRules.join("\n    ")}`);
}

const col = (s: string, w: number): string => s.padStart(w);
console.log(
  `stack up -d / down, whole CLI processes, median of ${String(RUNS)} runs` +
    ` (tsstack vs docker-compose 1.29 on dockerd ${dockerVersion || "n/a"}):`,
);
console.log(
  `  ${"network".padEnd(8)}${col("N", 4)}${col("ts up", 10)}${col("ts down", 10)}${col("dc up", 10)}` +
    `${col("dc down", 10)}${col("up ratio", 10)}${col("down ratio", 12)}`,
);
for (const r of rows) {
  const [tu, td, du, dd] = [median(r.tsUp), median(r.tsDown), median(r.dcUp), median(r.dcDown)];
  console.log(
    `  ${r.network.padEnd(8)}${col(String(r.n), 4)}${col(fmt(tu), 10)}${col(fmt(td), 10)}${col(fmt(du), 10)}` +
      `${col(fmt(dd), 10)}${col(Number.isNaN(du) ? "-" : `${(tu / du).toFixed(2)}x`, 10)}` +
      col(Number.isNaN(dd) ? "-" : `${(td / dd).toFixed(2)}x`, 12),
  );
}
for (const r of rows)
  if (r.rawUp.length > 0) {
    const [raw, du] = [median(r.rawUp), median(r.dcUp)];
    console.log(
      `  floor ${col(String(r.n), 3)} x raw runc run -d, 4 at a time (no CLI, engine, overlay, conmon):` +
        ` ${fmt(raw)}${Number.isNaN(du) ? "" : ` = ${(raw / du).toFixed(2)}x docker-compose`}`,
    );
  }
console.log("  (target: up -d of 20 services <= 0.15x docker-compose)");
console.log(`no-change up -d right after up, median of ${String(RUNS)} (target <= 100 ms):`);
for (const r of rows)
  console.log(
    `  ${r.network.padEnd(8)}${col(String(r.n), 4)}  tsstack CLI ${fmt(median(r.tsNoChange))},` +
      ` daemon apply (StackClient) ${fmt(median(r.tsNoChangeApi))}; docker-compose ${fmt(median(r.dcNoChange))}`,
  );
console.log(`  (node -e 0 for reference: ${fmt(nodeStart)})`);
console.log(
  `crash-to-restart under restart: always, SIGKILL of the init pid until a new pid runs, median of ` +
    `${String(CRASH_RUNS)} (target <= 1 s):`,
);
console.log(
  `  tsstack ${fmt(median(crash.ts))} [${crash.ts.map((x) => x.toFixed(0)).join(", ")}]` +
    `; docker ${fmt(median(crash.dc))} [${crash.dc.map((x) => x.toFixed(0)).join(", ")}]`,
);
console.log(
  `load average (1 min) at start ${load.start.toFixed(1)}, at end ${load.end.toFixed(1)} on ${String(availableParallelism())} cores`,
);
for (const n of notes) console.log(`note: ${n}`);
