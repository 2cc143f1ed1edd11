/**
 * Loader benchmark: load + validate + normalize a generated 1,000-service stack file.
 * Target (issue #2): under 300 ms on a 2-core machine. The peer, where installed, is
 * `docker compose config` / `docker-compose config` on the same file, timed in the same run.
 *
 *   npm run bench            (or: node --import tsx bench/spec-load.ts [services])
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { loadStack as LoadStack } from "../src/spec/load.js";

// Measure the compiled loader (what `tsstack` runs), not the tsx-transpiled sources.
const compiled = join(import.meta.dirname, "../dist/spec/load.js");
if (!existsSync(compiled)) throw new Error(`${compiled} is missing: run \`npm run build\` first`);
const { loadStack } = (await import(compiled)) as { loadStack: typeof LoadStack };

const SERVICES = Number(process.argv[2] ?? 1000);
const RUNS = Number(process.env["BENCH_RUNS"] ?? 7);

function generate(n: number): string {
  const lines = [
    "name: bench",
    "x-common: &common",
    "  restart: unless-stopped",
    "  labels: [tier=bench]",
    "services:",
  ];
  for (let i = 0; i < n; i++) {
    lines.push(
      `  svc${i}:`,
      "    <<: *common",
      `    image: registry.local/app${i % 17}:\${TAG:-1.${i % 5}}`,
      `    command: ["serve", "--port", "${8000 + (i % 100)}"]`,
      `    environment: [ID=${i}, MODE=bench]`,
      `    ports: ["${20000 + i}:80"]`,
      `    volumes: ["data${i % 10}:/data", "./conf/${i}:/etc/app:ro"]`,
      ...(i > 0 ? [`    depends_on: [svc${i - 1}]`] : []),
      "    healthcheck:",
      "      test: curl -f http://localhost/ || exit 1",
      "      interval: 10s",
      "    deploy:",
      "      replicas: 2",
      "      resources: {limits: {cpus: '0.5', memory: 128M}}",
    );
  }
  lines.push("volumes:", ...Array.from({ length: 10 }, (_, i) => `  data${i}: {}`));
  return `${lines.join("\n")}\n`;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

function timeIt(fn: () => void): number[] {
  const out: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    fn();
    out.push(performance.now() - t0);
  }
  return out;
}

function peerCommand(): { name: string; argv: string[] } | undefined {
  const candidates: { name: string; argv: string[] }[] = [
    { name: "docker compose", argv: ["docker", "compose"] },
    { name: "docker-compose", argv: ["docker-compose"] },
  ];
  for (const c of candidates) {
    const [cmd, ...args] = c.argv;
    if (cmd === undefined) continue;
    const r = spawnSync(cmd, [...args, "version"], { stdio: "ignore" });
    if (r.status === 0) return c;
  }
  return undefined;
}

const dir = mkdtempSync(join(tmpdir(), "tsstack-bench-"));
try {
  const file = join(dir, "compose.yaml");
  writeFileSync(file, generate(SERVICES));
  const load = () => loadStack({ files: [file], workingDir: dir, environment: {}, homeDir: dir });
  load(); // warm-up (module and schema compilation are one-time costs, reported separately)
  const ours = timeIt(load);
  const oursMedian = median(ours);
  console.log(
    `tsstack loadStack, ${SERVICES} services: median ${oursMedian.toFixed(1)} ms (min ${Math.min(...ours).toFixed(1)}, ${RUNS} runs; target < 300 ms)`,
  );

  const peer = peerCommand();
  if (peer === undefined) {
    console.log("peer: neither `docker compose` nor `docker-compose` is installed; no ratio");
  } else {
    const [cmd, ...args] = peer.argv;
    // Debian's docker-compose 1.29 predates the top-level `name:`; it gets the same services with
    // `version: "3.8"` instead, and the name through -p.
    const peerFile = join(dir, "peer-compose.yaml");
    writeFileSync(peerFile, generate(SERVICES).replace(/^name: bench$/m, 'version: "3.8"'));
    const peerTimes = timeIt(() => {
      execFileSync(cmd ?? "", [...args, "-p", "bench", "-f", peerFile, "config", "-q"], {
        cwd: dir,
        stdio: "pipe",
      });
    });
    const peerMedian = median(peerTimes);
    console.log(`${peer.name} config -q (whole process): median ${peerMedian.toFixed(1)} ms`);
    const cli = timeIt(() => {
      execFileSync(
        process.execPath,
        [join(import.meta.dirname, "../bin/tsstack.js"), "-f", file, "config", "-q"],
        {
          cwd: dir,
          stdio: "ignore",
        },
      );
    });
    console.log(`tsstack config -q (whole process, from dist): median ${median(cli).toFixed(1)} ms`);
    console.log(`ratio ${peer.name} / tsstack (whole process): ${(peerMedian / median(cli)).toFixed(2)}x`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
