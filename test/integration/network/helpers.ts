/**
 * Engines with networking for the network integration tests: each gets its own bridge prefix, iptables
 * chain prefix and test-only subnet pool, no upstream resolvers (no traffic leaves the machine), and
 * after each test its containers and networks are removed and nothing of its prefixes may remain: no
 * bridge or veth, no network namespace, no iptables chain or rule.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { afterEach, expect } from "vitest";
import type { EmbeddedRuntime, EmbeddedRuntimeOptions } from "../../../src/runtime/embedded.js";
import { removeAll, useEngines, type TestEngine } from "../../helpers/engine.js";

export interface NetTestEngine extends TestEngine {
  /** Bridge/veth/netns name prefix. */
  readonly prefix: string;
  /** iptables chain prefix. */
  readonly chains: string;
  readonly network: NonNullable<EmbeddedRuntimeOptions["network"]>;
}

let counter = 0;

/** Interface names with the prefix, network namespaces and iptables lines of the chain prefix. */
export function networkLeftovers(prefix: string, chains: string): string[] {
  const links = execFileSync("ip", ["-o", "link"], { encoding: "utf8" })
    .split("\n")
    .map((l) => (l.split(": ")[1] ?? "").split("@")[0] ?? "")
    .filter((n) => n.startsWith(prefix));
  const netns = execFileSync("ip", ["netns", "list"], { encoding: "utf8" })
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter((n) => n.startsWith(`${prefix}-`));
  const rules = execFileSync("iptables-save", { encoding: "utf8" })
    .split("\n")
    .filter((l) => l.includes(`${chains}-`));
  return [
    ...links.map((l) => `link ${l}`),
    ...netns.map((n) => `netns ${n}`),
    ...rules.map((r) => `iptables ${r}`),
  ];
}

export async function removeEverything(engine: EmbeddedRuntime): Promise<void> {
  await removeAll(engine);
  for (const n of await engine.listNetworks()) await engine.removeNetwork(n.Id);
}

export function useNetworkEngines(): (opts?: Partial<EmbeddedRuntimeOptions>) => Promise<NetTestEngine> {
  const engines = useEngines();
  const made: NetTestEngine[] = [];
  // Registered after useEngines' hook, so it runs first (hooks run as a stack): the engine is still open.
  afterEach(async () => {
    for (const e of made.splice(0)) {
      if (!e.engine.closed) await removeEverything(e.engine);
      expect(networkLeftovers(e.prefix, e.chains)).toEqual([]);
    }
  });
  return async (opts = {}) => {
    const tag = randomBytes(2).toString("hex");
    // A /20 of 10.231.0.0/16 per engine; the manager also skips /24s routed elsewhere (another test's).
    const block = (process.pid * 7 + counter++) % 16;
    const network = {
      bridgePrefix: `n${tag}`,
      chainPrefix: `TSST${tag.toUpperCase()}`,
      subnetPool: `10.231.${block * 16}.0/20`,
      upstreamResolvers: [],
      ...opts.network,
    };
    const e = await engines({ ...opts, network });
    const t: NetTestEngine = { ...e, prefix: network.bridgePrefix, chains: network.chainPrefix, network };
    made.push(t);
    return t;
  };
}

/** Runs a command in a running container; resolves with its exit code and output. */
export async function execIn(
  engine: EmbeddedRuntime,
  id: string,
  cmd: readonly string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = await engine.getContainer(id).exec({ Cmd: cmd });
  p.stdin.end();
  let stdout = "";
  let stderr = "";
  p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const code = await p.exit;
  return { code, stdout, stderr };
}

/** Creates and starts a busybox container. */
export async function runBusybox(
  engine: EmbeddedRuntime,
  opts: Omit<Parameters<EmbeddedRuntime["createContainer"]>[0], "Image">,
): Promise<string> {
  const c = await engine.createContainer({
    Image: "busybox:latest",
    Cmd: ["sleep", "600"],
    StopTimeout: 1,
    ...opts,
  });
  await c.start();
  return (await c.inspect()).Id;
}
