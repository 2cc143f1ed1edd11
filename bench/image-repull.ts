/**
 * Re-pull figure (issue #3): pulling an image the store already has transfers 0 layer bytes.
 *
 * Starts a real registry on loopback (Debian's docker-registry), pushes a busybox-static image (plus an
 * incompressible payload so timings mean something) with skopeo, then times: a first tsstack pull into
 * an empty store, a re-pull into the same store, and — the peer — `skopeo copy` of the same image to a
 * `dir:`. Prints bytes transferred per pull and median timings.
 *
 *   node --import tsx bench/image-repull.ts [payloadMB=32]        (BENCH_RUNS=5)
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pullImageWithStats, type PullStats } from "../src/runtime/images/registry/pull.js";
import { formatBytes } from "../src/runtime/images/registry/progress.js";
import { ImageStore } from "../src/runtime/images/store.js";
import { buildTestImage, skopeoPush, startRegistry, writeOciLayout } from "../test/helpers/registry.js";

const PAYLOAD_MB = Number(process.argv[2] ?? 32);
const RUNS = Number(process.env["BENCH_RUNS"] ?? 5);

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

const work = mkdtempSync(join(tmpdir(), "tsstack-bench-repull-"));
const registry = await startRegistry();
try {
  const image = await buildTestImage({
    files: { "opt/payload.bin": randomBytes(PAYLOAD_MB * 1024 * 1024) },
  });
  const layout = join(work, "layout");
  await writeOciLayout(layout, "1", [image]);
  const ref = `${registry.host}/bench/busybox:1`;
  await skopeoPush(layout, "1", ref);
  console.log(
    `image ${ref}: layer ${formatBytes(image.layer.length)}, config ${formatBytes(image.config.length)}, ` +
      `manifest ${formatBytes(image.manifest.length)}; ${RUNS} runs each, median shown`,
  );

  const first: number[] = [];
  /** Part of the first pull until the last blob is stored (the rest: unpack + register). */
  const download: number[] = [];
  const again: number[] = [];
  const peer: number[] = [];
  let firstStats: PullStats | undefined;
  let againStats: PullStats | undefined;
  for (let run = 0; run < RUNS; run++) {
    const root = join(work, `store-${run}`);
    const store = await ImageStore.open(root);
    let t0 = performance.now();
    let blobsDoneAt = t0;
    firstStats = (
      await pullImageWithStats(store, ref, {
        onProgress: (p) => {
          if (p.phase === "complete") blobsDoneAt = performance.now();
        },
      })
    ).stats;
    first.push(performance.now() - t0);
    download.push(blobsDoneAt - t0);
    t0 = performance.now();
    againStats = (await pullImageWithStats(store, ref)).stats;
    again.push(performance.now() - t0);
    if (againStats.layerBytes !== 0)
      throw new Error(`re-pull transferred ${againStats.layerBytes} layer bytes`);
    await store.close();
    rmSync(root, { recursive: true, force: true });

    const dir = join(work, `skopeo-${run}`);
    t0 = performance.now();
    execFileSync("skopeo", [
      "--insecure-policy",
      "copy",
      "--src-tls-verify=false",
      `docker://${ref}`,
      `dir:${dir}`,
    ]);
    peer.push(performance.now() - t0);
    rmSync(dir, { recursive: true, force: true });
  }

  const row = (name: string, ms: number[], s: PullStats | undefined): string =>
    `${name.padEnd(34)} ${median(ms).toFixed(0).padStart(6)} ms   ` +
    (s
      ? `layers ${String(s.layerBytes).padStart(10)} B  config ${String(s.configBytes).padStart(5)} B  manifests ${s.manifestBytes} B`
      : "(skopeo reports no byte counts; it downloads every blob)");
  console.log(row("tsstack pull (empty store)", first, firstStats));
  console.log(
    `${"  of which download + verify".padEnd(34)} ${median(download).toFixed(0).padStart(6)} ms   (the rest: unpack + register)`,
  );
  console.log(row("tsstack re-pull (image present)", again, againStats));
  console.log(row("skopeo copy docker:// → dir: (peer)", peer, undefined));
  console.log(`re-pull layer bytes: ${againStats?.layerBytes ?? "?"} (target: 0)`);
} finally {
  await registry.stop();
  rmSync(work, { recursive: true, force: true });
}
