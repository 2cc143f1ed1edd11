/**
 * Networking figures (issue #5), with the embedded engine in-process:
 *
 * - attach cost: median `start()` of a busybox container on a bridge network vs with network none
 *   (target: networking adds ≤ 15 ms);
 * - published-port throughput: ~200 MB into `nc -l` in a container, sent from this process to
 *   127.0.0.1:<published port> (DNAT + route_localnet + MASQUERADE) vs to the container's bridge
 *   address directly (target ratio ≥ 0.8).
 *
 *   node --import tsx bench/network-attach.ts        (BENCH_RUNS=15, BENCH_MB=200)
 *
 * Uses its own bridge/chain prefixes and 10.231.224.0/20; removes everything it made.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EmbeddedRuntime } from "../src/runtime/embedded.js";
import { addTestImage } from "../test/helpers/engine.js";

const RUNS = Number(process.env["BENCH_RUNS"] ?? 15);
const MB = Number(process.env["BENCH_MB"] ?? 200);

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

async function startMs(engine: EmbeddedRuntime, mode: string): Promise<number> {
  const c = await engine.createContainer({
    Image: "busybox:latest",
    Cmd: ["sleep", "600"],
    StopTimeout: 0,
    HostConfig: { NetworkMode: mode },
  });
  const t0 = performance.now();
  await c.start();
  const ms = performance.now() - t0;
  await c.remove({ force: true });
  return ms;
}

/** Sends `MB` megabytes to host:port and waits for the receiver to close; MB/s, or undefined if refused. */
function send(host: string, port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const chunk = Buffer.alloc(1 << 20);
    const sock = connect(port, host);
    let t0 = 0;
    let sent = 0;
    sock.on("error", () => {
      resolve(undefined);
    });
    sock.on("connect", () => {
      t0 = performance.now();
      const pump = (): void => {
        while (sent < MB) {
          sent++;
          if (!sock.write(chunk)) {
            sock.once("drain", pump);
            return;
          }
        }
        sock.end();
      };
      pump();
    });
    sock.on("close", () => {
      resolve(sent >= MB ? MB / ((performance.now() - t0) / 1000) : undefined);
    });
  });
}

async function throughput(host: string, port: number): Promise<number> {
  const out: number[] = [];
  for (let i = 0; i < 3;) {
    const r = await send(host, port);
    if (r === undefined) {
      await new Promise((res) => setTimeout(res, 50)); // the listener loop between two connections
      continue;
    }
    out.push(r);
    i++;
  }
  return median(out);
}

const work = mkdtempSync(join(tmpdir(), "tsstack-bench-net-"));
const root = join(work, "root");
await addTestImage(root, "busybox:latest");
const engine = await EmbeddedRuntime.open({
  root,
  runRoot: join(work, "run"),
  network: {
    bridgePrefix: "bnch",
    chainPrefix: "TSSBENCH",
    subnetPool: "10.231.224.0/20",
    upstreamResolvers: [],
  },
});
try {
  await engine.createNetwork({ Name: "bench" });
  const none: number[] = [];
  const bridge: number[] = [];
  await startMs(engine, "none"); // warm-up
  await startMs(engine, "bench");
  for (let i = 0; i < RUNS; i++) {
    none.push(await startMs(engine, "none"));
    bridge.push(await startMs(engine, "bench"));
  }
  const dNone = median(none);
  const dBridge = median(bridge);
  console.log(`start, network none:   median ${dNone.toFixed(1)} ms (${RUNS} runs)`);
  console.log(`start, bridge network: median ${dBridge.toFixed(1)} ms (${RUNS} runs)`);
  console.log(`networking adds ${(dBridge - dNone).toFixed(1)} ms (target ≤ 15 ms)`);

  const sink = await engine.createContainer({
    Image: "busybox:latest",
    // `-e`: the connection is read to its end by cat (nc alone quits when its own stdin ends).
    Cmd: ["sh", "-c", "while true; do nc -l -p 5000 -e sh -c 'cat > /dev/null'; done"],
    StopTimeout: 0,
    HostConfig: { NetworkMode: "bench", PortBindings: { "5000/tcp": [{ HostPort: "" }] } },
  });
  await sink.start();
  const s = (await sink.inspect()).NetworkSettings;
  const port = Number(s.Ports["5000/tcp"]?.[0]?.HostPort);
  const direct = await throughput(s.IPAddress, 5000);
  const loopback = await throughput("127.0.0.1", port);
  console.log(`${MB} MB to the bridge address ${s.IPAddress}:5000: ${direct.toFixed(0)} MB/s (median of 3)`);
  console.log(`${MB} MB to 127.0.0.1:${port} (published): ${loopback.toFixed(0)} MB/s (median of 3)`);
  console.log(`loopback / bridge ratio ${(loopback / direct).toFixed(2)} (target ≥ 0.8)`);
  await sink.remove({ force: true });
} finally {
  for (const c of await engine.listContainers({ all: true }))
    await engine.getContainer(c.Id).remove({ force: true });
  for (const n of await engine.listNetworks()) await engine.removeNetwork(n.Id);
  await engine.close();
  rmSync(work, { recursive: true, force: true });
}
