/**
 * Layer unpack benchmark (issue #3 figure): unpack throughput of a ≥100 MB gzip layer with
 * `unpackLayer` vs `tar -xzf` of the same file, side by side in one run. Target: ratio ≥ 0.8.
 *
 *   node --import tsx bench/layer-unpack.ts     (as root; BENCH_RUNS=5, BENCH_DIR=/dev/shm by default)
 *
 * BENCH_DIR is where the layer is built and extracted. The default is tmpfs: on a disk both sides end
 * up waiting for dirty-page writeback and the figure measures the disk (with ±50% noise between runs)
 * rather than the unpacker; point BENCH_DIR at a disk to see that case.
 *
 * The layer mixes ~40,000 small files (100 B–16 KiB) in ~1,000 directories with a dozen 16 MiB files,
 * symlinks and hard links. Contents are words drawn from a random vocabulary with some random binary
 * stretches: compressible like real layers (about 2.4:1), never runs of zeros. Runs alternate which
 * side goes first, start from `sync`ed page cache state, and report the median.
 *
 * Measured on the 2-vCPU development VM (153 MB gzip / 361 MB tar): quiet machine, tmpfs: tar -xzf
 * 132 MB/s, unpackLayer 122 MB/s, ratio 0.93. With other jobs loading the machine the ratio moved
 * between 0.83 and 1.17 from run to run; on ext4 (BENCH_DIR=/tmp) both sides ran at 48 MB/s (1.00).
 */
import { spawnSync } from "node:child_process";
import {
  closeSync,
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { unpackLayer } from "../src/runtime/images/unpack.js";
import { MediaType } from "../src/runtime/images/types.js";
import { TarBuilder } from "../test/helpers/tar-builder.js";

const RUNS = Number(process.env["BENCH_RUNS"] ?? 5);
const BENCH_DIR = process.env["BENCH_DIR"] ?? (existsSync("/dev/shm") ? "/dev/shm" : tmpdir());
const SMALL_FILES = 40_000;
const LARGE_FILES = 12;
const LARGE_SIZE = 16 << 20;

/** Deterministic PRNG (mulberry32), so every run benchmarks the same layer. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** 64 MiB of text from a 4,096-word vocabulary, with a random binary stretch every ~256 KiB. */
function makePool(rand: () => number): Buffer {
  const words: Buffer[] = [];
  for (let i = 0; i < 4096; i++) {
    const len = 2 + Math.floor(rand() * 9);
    words.push(
      Buffer.from(
        Array.from({ length: len }, () => String.fromCharCode(97 + Math.floor(rand() * 26))).join(""),
      ),
    );
  }
  const pool = Buffer.alloc(64 << 20);
  let off = 0;
  while (off < pool.length) {
    if (rand() < 1 / 40_000) {
      const n = Math.min(4096, pool.length - off);
      for (let i = 0; i < n; i++) pool[off + i] = Math.floor(rand() * 256);
      off += n;
      continue;
    }
    const w = words[Math.floor(rand() * words.length)] ?? Buffer.from("x");
    off += w.copy(pool, off);
    if (off < pool.length) pool[off++] = rand() < 0.1 ? 0x0a : 0x20;
  }
  return pool;
}

async function buildLayer(dir: string): Promise<{ tgz: string; tarBytes: number; entries: number }> {
  const rand = prng(42);
  const pool = makePool(rand);
  const slice = (size: number): Buffer => {
    const start = Math.floor(rand() * (pool.length - size));
    return pool.subarray(start, start + size);
  };
  const tarPath = join(dir, "layer.tar");
  const fd = openSync(tarPath, "w");
  const tar = new TarBuilder((chunk) => {
    writeSync(fd, chunk);
  });
  let entries = 0;
  const dirs: string[] = [];
  for (let i = 0; i < 40; i++) {
    tar.dir(`usr/lib/pkg${i}/`);
    dirs.push(`usr/lib/pkg${i}`);
    for (let j = 0; j < 25; j++) {
      const d = `usr/lib/pkg${i}/mod${j}`;
      tar.dir(`${d}/`);
      dirs.push(d);
    }
  }
  entries += dirs.length;
  const smallNames: string[] = [];
  for (let i = 0; i < SMALL_FILES; i++) {
    const d = dirs[Math.floor(rand() * dirs.length)] ?? "usr";
    const name = `${d}/file-${i}.${["js", "py", "txt", "so", "json"][i % 5] ?? "txt"}`;
    const size = Math.floor(100 * Math.pow(164, rand()));
    tar.file(name, slice(size), { mode: i % 7 === 0 ? 0o755 : 0o644 });
    smallNames.push(name);
  }
  for (let i = 0; i < LARGE_FILES; i++) tar.file(`opt/big/blob-${i}.bin`, slice(LARGE_SIZE), { mode: 0o755 });
  for (let i = 0; i < 500; i++) tar.symlink(`usr/bin/link-${i}`, `../lib/pkg${i % 40}/mod0`);
  for (let i = 0; i < 200; i++) tar.hardlink(`usr/share/hard-${i}`, smallNames[i * 7] ?? "");
  entries += SMALL_FILES + LARGE_FILES + 700;
  tar.finish();
  closeSync(fd);
  const tgz = join(dir, "layer.tar.gz");
  await pipeline(createReadStream(tarPath), createGzip({ level: 6 }), createWriteStream(tgz));
  const tarBytes = statSync(tarPath).size;
  rmSync(tarPath);
  return { tgz, tarBytes, entries };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

function fresh(path: string): void {
  rmSync(path, { recursive: true, force: true });
  mkdirSync(path);
  spawnSync("sync");
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(BENCH_DIR, "tsstack-bench-unpack-"));
  try {
    const t0 = performance.now();
    const { tgz, tarBytes, entries } = await buildLayer(work);
    const gzBytes = statSync(tgz).size;
    console.log(
      `layer: ${(gzBytes / 1e6).toFixed(1)} MB gzip, ${(tarBytes / 1e6).toFixed(1)} MB tar, ${entries} entries ` +
        `(built in ${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );
    if (gzBytes < 100e6) console.warn("warning: the layer is smaller than the 100 MB the figure asks for");

    const a = join(work, "tar");
    const b = join(work, "tsstack");
    const tarTimes: number[] = [];
    const ourTimes: number[] = [];
    const runTar = (): void => {
      fresh(a);
      const s = performance.now();
      const r = spawnSync("tar", ["-xzf", tgz, "-C", a]);
      tarTimes.push(performance.now() - s);
      if (r.status !== 0) throw new Error(`tar -xzf failed: ${r.stderr.toString()}`);
    };
    const runOurs = async (): Promise<void> => {
      fresh(b);
      const s = performance.now();
      await unpackLayer({ blobPath: tgz, mediaType: MediaType.ociLayerGzip, dest: b });
      ourTimes.push(performance.now() - s);
    };
    for (let i = 0; i < RUNS; i++) {
      if (i % 2 === 0) {
        runTar();
        await runOurs();
      } else {
        await runOurs();
        runTar();
      }
      console.log(
        `run ${i + 1}: tar -xzf ${(tarTimes[i] ?? 0).toFixed(0)} ms, unpackLayer ${(ourTimes[i] ?? 0).toFixed(0)} ms`,
      );
    }
    // Same tree on both sides (contents, modes, owners, links), or the comparison means nothing.
    const diff = spawnSync("diff", ["-r", "--no-dereference", a, b]);
    if (diff.status !== 0) throw new Error(`trees differ:\n${diff.stdout.toString().slice(0, 2000)}`);

    const mbps = (ms: number): number => tarBytes / 1e6 / (ms / 1000);
    const tarMs = median(tarTimes);
    const ourMs = median(ourTimes);
    console.log(
      `median of ${RUNS} in ${BENCH_DIR} (MB/s of uncompressed tar; ${(gzBytes / 1e6).toFixed(1)} MB gzip):`,
    );
    console.log(`  tar -xzf     ${tarMs.toFixed(0)} ms  ${mbps(tarMs).toFixed(0)} MB/s`);
    console.log(`  unpackLayer  ${ourMs.toFixed(0)} ms  ${mbps(ourMs).toFixed(0)} MB/s`);
    console.log(`  ratio        ${(tarMs / ourMs).toFixed(2)} (target ≥ 0.8)`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
