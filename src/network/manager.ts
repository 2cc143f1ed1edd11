/**
 * The embedded engine's networking: user-defined bridge networks (a Linux bridge, IPAM, outbound NAT,
 * isolation from the engine's other networks, an embedded DNS server) and each container's endpoints
 * on them (a named network namespace, one veth pair per network, published ports).
 *
 * State lives under `<root>/networks/`: `<network id>.json` per network and
 * `endpoints/<container id>.json` per container with endpoints; both written atomically before the
 * kernel objects they describe are made, so after a crash `open` finds what may exist and repairs it
 * (bridges, iptables rules) or `tearDown` removes it (endpoints). Networks outlive the engine process
 * and are removed only by `removeNetwork`/`pruneNetworks`.
 *
 * Network namespaces are named (`ip netns add <bridgePrefix>-<container id12>`, a bind mount under
 * /run/netns) rather than anonymous namespaces made by runc: the namespace must exist before the
 * container does, to be wired while runc waits for nothing; its name finds it again after an engine
 * restart (restore, tearDown); `container:<name>` mode joins it by path; and admins can
 * `ip netns exec` into it.
 *
 * Network modes (HostConfig.NetworkMode): `none` (an empty namespace with loopback, made by runc),
 * `host`, `container:<name|id>`, `bridge` (a network named `bridge`, created lazily from the pool on
 * first use and never pruned), or a network name or id; extra networks come from
 * NetworkingConfig.EndpointsConfig. An empty mode or `default` means `defaultMode` (`none` unless
 * configured: an engine that quietly creates a bridge and iptables rules on first `run` would leave them
 * behind on every test root).
 *
 * Plumbing is iproute2 and iptables driven directly (batched through one long-lived shell, see
 * exec.ts), not the CNI plugins: the engine must own the whole life of every object (IPAM state it can
 * repair after a crash, rules tagged per network so removal is exact, DNS records in the same
 * process), which CNI's exec-per-call ADD/DEL protocol and its own on-disk IPAM state would split
 * between two owners; and each CNI call is several process spawns where one batch does here.
 *
 * Published ports are kernel DNAT (see `#portRules`), not a userland proxy: with
 * `route_localnet` on the bridge and a MASQUERADE of loopback sources, 127.0.0.1:port works too, at
 * kernel speed (bench/network-attach.ts measures loopback vs bridge address throughput).
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../common/atomic.js";
import { TsstackError } from "../common/errors.js";
import type { ContainerContext, ContainerNetworking, NetworkSetup } from "../runtime/hooks.js";
import type { ContainerInspect } from "../runtime/runtime.js";
import {
  contains,
  formatCidr,
  formatIpv4,
  macForIpv4,
  overlaps,
  parseCidr,
  parseIpv4,
  type Subnet,
} from "./addr.js";
import { DnsServer, nameserversOf } from "./dns-server.js";
import { run, ShellRunner, type CommandRunner } from "./exec.js";
import { checkChainPrefix, Iptables, type Rule } from "./iptables.js";
import { Ipam, pickSubnet } from "./ipam.js";
import { holdPort, parsePortBindings, portsSettings, type PortMapping } from "./ports.js";
import type {
  NetworkCreateOptions,
  NetworkCreateResult,
  NetworkFilters,
  NetworkInspect,
  NetworkPruneResult,
} from "./types.js";

export interface NetworkManagerOptions {
  /** Engine state root; networks live under `<root>/networks/`. */
  readonly root: string;
  /**
   * Prefix of every bridge, veth and network namespace name (1–5 lower-case letters or digits, so
   * names fit Linux's 15 characters). Default `tss`. Engines side by side need distinct prefixes.
   */
  readonly bridgePrefix?: string;
  /** Where networks without an explicit subnet get theirs, as /24 blocks. Default `10.213.0.0/16`. */
  readonly subnetPool?: string;
  /** Prefix of the iptables chains (`<prefix>-POSTROUTING`, `-DNAT`, `-FORWARD`). Default `TSS`. */
  readonly chainPrefix?: string;
  /** What an empty or `default` network mode means. Default `none`. */
  readonly defaultMode?: "none" | "bridge";
  /** Resolvers names outside the engine's are forwarded to (`ip` or `ip:port`). Default: /etc/resolv.conf's. */
  readonly upstreamResolvers?: readonly string[];
  /** Port of the embedded DNS servers. Default 53 (containers' resolv.conf cannot name another). */
  readonly dnsPort?: number;
  readonly log?: (line: string) => void;
  /** Runs ip/iptables. Default: a ShellRunner (one long-lived shell, closed with the manager). */
  readonly runner?: CommandRunner;
}

/** Settings the engine passes through from its own options (EmbeddedRuntimeOptions.network). */
export type NetworkSettingsOptions = Omit<NetworkManagerOptions, "root" | "log" | "runner">;

interface NetworkRecord {
  readonly version: 1;
  readonly id: string;
  readonly name: string;
  readonly created: string;
  readonly internal: boolean;
  readonly attachable: boolean;
  readonly labels: Record<string, string>;
  readonly options: Record<string, string>;
  readonly subnet: string;
  readonly gateway: string;
  readonly ipRange?: string;
  readonly bridge: string;
}

interface Attachment {
  readonly networkId: string;
  readonly ip: string;
  readonly mac: string;
  /** Host side of the veth pair. */
  readonly veth: string;
  /** Name inside the container (eth0, eth1, …). */
  readonly ifname: string;
  readonly aliases: string[];
  /** Lower-case names the DNS server answers with this address. */
  readonly dnsNames: string[];
}

interface PublishedPort extends PortMapping {
  readonly networkId: string;
}

interface EndpointRecord {
  readonly version: 1;
  readonly containerId: string;
  readonly containerName: string;
  readonly netns: string;
  readonly attachments: Attachment[];
  readonly ports: PublishedPort[];
  readonly exposed: string[];
  /** Resolvers for this container's non-local names (HostConfig.Dns), else the engine's. */
  readonly upstreams: string[];
  readonly resolvConf: string;
  readonly hosts: string;
}

interface Network {
  readonly record: NetworkRecord;
  readonly subnet: Subnet;
  readonly ipam: Ipam;
  dns: DnsServer | undefined;
}

interface Endpoint {
  readonly record: EndpointRecord;
  /** Running as far as this process knows (set by setUp/restore): only live endpoints are in DNS. */
  live: boolean;
  holds: (() => Promise<void>)[];
}

const DEFAULT_NETWORK = "bridge";
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const SERVICE_LABEL = "com.docker.compose.service";
const MTU_OPTION = "com.docker.network.driver.mtu";

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function notFound(idOrName: string): TsstackError {
  return new TsstackError("network/not-found", `network ${idOrName} not found`);
}

/** Runs async sections one at a time (network and endpoint changes: IPAM, iptables, the files). */
class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(fn);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}

export class NetworkManager implements ContainerNetworking {
  readonly #root: string;
  readonly #dir: string;
  readonly #endpointDir: string;
  readonly #prefix: string;
  readonly #pool: Subnet;
  readonly #defaultMode: "none" | "bridge";
  readonly #upstreams: readonly string[];
  readonly #dnsPort: number;
  readonly #log: (line: string) => void;
  readonly #runner: CommandRunner;
  readonly #shell: ShellRunner | undefined;
  readonly #iptables: Iptables;
  readonly #networks = new Map<string, Network>();
  readonly #endpoints = new Map<string, Endpoint>();
  readonly #queue = new SerialQueue();
  /** Answer rotation per name (round-robin over replicas). */
  readonly #rotation = new Map<string, number>();
  #forwardingChecked = false;
  #closed = false;

  private constructor(opts: NetworkManagerOptions, upstreams: readonly string[]) {
    this.#root = opts.root;
    this.#dir = join(opts.root, "networks");
    this.#endpointDir = join(this.#dir, "endpoints");
    this.#prefix = opts.bridgePrefix ?? "tss";
    if (!/^[a-z][a-z0-9]{0,4}$/.test(this.#prefix))
      throw new TsstackError(
        "network/invalid-config",
        `invalid bridge prefix "${this.#prefix}": 1 to 5 lower-case letters or digits, starting with a letter`,
      );
    const chainPrefix = opts.chainPrefix ?? "TSS";
    checkChainPrefix(chainPrefix);
    this.#pool = parseCidr(opts.subnetPool ?? "10.213.0.0/16", "subnet pool");
    if (this.#pool.prefix > 24)
      throw new TsstackError(
        "network/invalid-config",
        `subnet pool ${formatCidr(this.#pool)} is smaller than one /24 network`,
      );
    this.#defaultMode = opts.defaultMode ?? "none";
    this.#upstreams = upstreams;
    this.#dnsPort = opts.dnsPort ?? 53;
    this.#log = opts.log ?? (() => undefined);
    if (opts.runner !== undefined) {
      this.#shell = undefined;
      this.#runner = opts.runner;
    } else {
      this.#shell = new ShellRunner();
      this.#runner = this.#shell.run;
    }
    this.#iptables = new Iptables(chainPrefix, this.#runner);
  }

  /**
   * Loads the networks and endpoints under `<root>/networks/`, repairs what a reboot or crash lost
   * (bridges, iptables rules) and starts the DNS servers. Nothing is touched on the host when there
   * are no networks.
   */
  static async open(opts: NetworkManagerOptions): Promise<NetworkManager> {
    const upstreams =
      opts.upstreamResolvers ?? nameserversOf(await readFile("/etc/resolv.conf", "utf8").catch(() => ""));
    const m = new NetworkManager(opts, upstreams);
    await mkdir(m.#endpointDir, { recursive: true });
    for (const file of (await readdir(m.#dir)).filter((f) => f.endsWith(".json"))) {
      try {
        const record = JSON.parse(await readFile(join(m.#dir, file), "utf8")) as NetworkRecord;
        m.#networks.set(record.id, m.#networkOf(record));
      } catch (e) {
        m.#log(`skipping network file ${join(m.#dir, file)}: ${errorText(e)}`);
      }
    }
    for (const file of (await readdir(m.#endpointDir)).filter((f) => f.endsWith(".json"))) {
      try {
        const record = JSON.parse(await readFile(join(m.#endpointDir, file), "utf8")) as EndpointRecord;
        for (const a of record.attachments) {
          const ip = parseIpv4(a.ip);
          const net = m.#networks.get(a.networkId);
          if (net !== undefined && ip !== undefined && !net.ipam.isTaken(ip)) net.ipam.claim(ip);
        }
        m.#endpoints.set(record.containerId, { record, live: false, holds: [] });
      } catch (e) {
        m.#log(`skipping endpoint file ${join(m.#endpointDir, file)}: ${errorText(e)}`);
      }
    }
    for (const net of m.#networks.values())
      await m.#wireNetwork(net).catch((e: unknown) => {
        m.#log(`restoring network ${net.record.name}: ${errorText(e)}`);
      });
    return m;
  }

  /** Stops the DNS servers and releases the held ports. Networks and endpoints stay in place. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#queue.run(async () => {
      for (const net of this.#networks.values()) {
        await net.dns?.close();
        net.dns = undefined;
      }
      for (const ep of this.#endpoints.values()) await this.#releaseHolds(ep);
    });
    await this.#shell?.close();
  }

  #checkOpen(): void {
    if (this.#closed)
      throw new TsstackError("runtime/closed", `the network manager of ${this.#root} is closed`);
  }

  #networkOf(record: NetworkRecord): Network {
    const subnet = parseCidr(record.subnet);
    const gateway = parseIpv4(record.gateway) ?? subnet.base + 1;
    const ipam = new Ipam(
      {
        subnet,
        gateway,
        ...(record.ipRange !== undefined ? { range: parseCidr(record.ipRange, "IP range") } : {}),
      },
      record.name,
    );
    return { record, subnet, ipam, dns: undefined };
  }

  // -----------------------------------------------------------------------------------------------
  // Networks

  /** `POST /networks/create`. */
  createNetwork(opts: NetworkCreateOptions): Promise<NetworkCreateResult> {
    this.#checkOpen();
    return this.#queue.run(async () => {
      const net = await this.#createNetwork(opts);
      return { Id: net.record.id, Warning: "" };
    });
  }

  async #createNetwork(opts: NetworkCreateOptions): Promise<Network> {
    const name = opts.Name;
    if (typeof name !== "string" || !NAME_RE.test(name))
      throw new TsstackError(
        "network/invalid-config",
        `creating network "${name}": invalid name (only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed)`,
      );
    if (name === "none" || name === "host")
      throw new TsstackError(
        "network/invalid-config",
        `creating network ${name}: "${name}" is a network mode, not a network name that can be created`,
      );
    const what = `creating network ${name}`;
    if (this.#find(name) !== undefined)
      throw new TsstackError("network/conflict", `${what}: a network with that name already exists`);
    const driver = opts.Driver ?? "bridge";
    if (driver !== "bridge")
      throw new TsstackError(
        "network/invalid-config",
        `${what}: driver "${driver}" is not supported by the embedded runtime (only bridge)`,
      );
    if (opts.EnableIPv6 === true)
      throw new TsstackError(
        "network/invalid-config",
        `${what}: IPv6 is not supported by the embedded runtime's networks (create it without EnableIPv6)`,
      );
    const ipamDriver = opts.IPAM?.Driver ?? "default";
    if (ipamDriver !== "default" && ipamDriver !== "")
      throw new TsstackError(
        "network/invalid-config",
        `${what}: IPAM driver "${ipamDriver}" is not supported`,
      );
    const configs = (opts.IPAM?.Config ?? []).filter((c) => !(c.Subnet ?? "").includes(":"));
    if (configs.length > 1)
      throw new TsstackError("network/invalid-config", `${what}: only one IPv4 IPAM config is supported`);
    const cfg = configs[0] ?? {};
    const others = [...this.#networks.values()];
    let subnet: Subnet;
    if (cfg.Subnet !== undefined && cfg.Subnet !== "") {
      subnet = parseCidr(cfg.Subnet);
      const clash = others.find((n) => overlaps(n.subnet, subnet));
      if (clash !== undefined)
        throw new TsstackError(
          "network/conflict",
          `${what}: subnet ${formatCidr(subnet)} overlaps subnet ${clash.record.subnet} of network ${clash.record.name}`,
        );
    } else {
      if (cfg.IPRange !== undefined || cfg.Gateway !== undefined)
        throw new TsstackError("network/invalid-config", `${what}: a gateway or IP range needs a subnet`);
      const used = [...others.map((n) => n.subnet), ...(await this.#hostRoutes())];
      const picked = pickSubnet(this.#pool, 24, used);
      if (picked === undefined)
        throw new TsstackError(
          "network/exhausted",
          `${what}: no /24 of the subnet pool ${formatCidr(this.#pool)} is free (every one is used by a network or a route)`,
        );
      subnet = picked;
    }
    let gateway = subnet.base + 1;
    if (cfg.Gateway !== undefined && cfg.Gateway !== "") {
      const g = parseIpv4(cfg.Gateway);
      if (g === undefined || !contains(subnet, g))
        throw new TsstackError(
          "network/invalid-config",
          `${what}: gateway ${cfg.Gateway} is not an address of subnet ${formatCidr(subnet)}`,
        );
      gateway = g;
    }
    const mtu = opts.Options?.[MTU_OPTION];
    if (mtu !== undefined && !(/^\d+$/.test(mtu) && Number(mtu) >= 68 && Number(mtu) <= 65535))
      throw new TsstackError("network/invalid-config", `${what}: invalid MTU "${mtu}"`);
    const id = randomBytes(32).toString("hex");
    const record: NetworkRecord = {
      version: 1,
      id,
      name,
      created: new Date().toISOString(),
      internal: opts.Internal === true,
      attachable: opts.Attachable === true,
      labels: { ...(opts.Labels ?? {}) },
      options: { ...(opts.Options ?? {}) },
      subnet: formatCidr(subnet),
      gateway: formatIpv4(gateway),
      ...(cfg.IPRange !== undefined && cfg.IPRange !== ""
        ? { ipRange: formatCidr(parseCidr(cfg.IPRange, "IP range")) }
        : {}),
      bridge: `${this.#prefix}b${id.slice(0, 14 - this.#prefix.length)}`,
    };
    const net = this.#networkOf(record); // validates gateway and range against the subnet
    await writeFileAtomic(join(this.#dir, `${id}.json`), `${JSON.stringify(record)}\n`, 0o600);
    this.#networks.set(id, net);
    try {
      await this.#wireNetwork(net);
    } catch (e) {
      // The engine's only network takes the base chains with it, as removeNetwork does.
      await this.#unwireNetwork(net, this.#networks.size === 1).catch(() => undefined);
      this.#networks.delete(id);
      await rm(join(this.#dir, `${id}.json`), { force: true });
      throw e;
    }
    this.#log(`created network ${name} (${record.subnet}, bridge ${record.bridge})`);
    return net;
  }

  /** IPv4 routes of the host (a new network's subnet must not shadow them). */
  async #hostRoutes(): Promise<Subnet[]> {
    const out = await run(this.#runner, "listing the host's routes", "ip", [
      "-4",
      "-o",
      "route",
      "show",
      "table",
      "all",
    ]);
    const subnets: Subnet[] = [];
    for (const line of out.split("\n")) {
      const dest = line.trim().split(/\s+/)[0] ?? "";
      const [ip, len = "32"] = dest.split("/");
      const base = parseIpv4(ip ?? "");
      if (base === undefined || dest === "default") continue;
      const prefix = Number(len);
      if (prefix === 0) continue;
      try {
        subnets.push(parseCidr(`${ip ?? ""}/${prefix}`, "route", false));
      } catch {
        // not a route destination we understand
      }
    }
    return subnets;
  }

  /** Makes (or repairs) the bridge, the iptables rules and the DNS server of a network. Idempotent. */
  async #wireNetwork(net: Network): Promise<void> {
    const r = net.record;
    const what = `creating bridge ${r.bridge} of network ${r.name}`;
    if (!existsSync(`/sys/class/net/${r.bridge}`)) {
      const mtu = r.options[MTU_OPTION];
      await run(
        this.#runner,
        what,
        "ip",
        ["-batch", "-"],
        [
          `link add name ${r.bridge}${mtu !== undefined ? ` mtu ${mtu}` : ""} type bridge`,
          `addr add ${r.gateway}/${net.subnet.prefix} dev ${r.bridge}`,
          `link set ${r.bridge} up`,
        ].join("\n"),
      );
    }
    // Locally generated traffic to 127.0.0.1:<published port> is DNAT'ed to a container: the kernel
    // routes a loopback source out of the bridge only with route_localnet (then MASQUERADE rewrites it).
    await writeFile(`/proc/sys/net/ipv4/conf/${r.bridge}/route_localnet`, "1");
    if (!r.internal) await this.#ensureForwarding();
    await this.#iptables.ensureChains();
    if (!(await this.#iptables.has(r.id)))
      await this.#iptables.add(
        r.id,
        this.#networkRules(net),
        `adding the iptables rules of network ${r.name}`,
      );
    net.dns ??= await DnsServer.start({
      address: r.gateway,
      port: this.#dnsPort,
      log: this.#log,
      resolver: {
        lookup: (name, source) => this.#lookup(net, name, source),
        upstreams: (source) => this.#upstreamsFor(net, source),
      },
    }).catch((e: unknown) => {
      throw new TsstackError(
        "network/dns-failed",
        `starting the DNS server of network ${r.name} on ${r.gateway}:${this.#dnsPort}: ${errorText(e)}`,
        { cause: e },
      );
    });
  }

  /**
   * Outbound NAT and isolation. Rules are evaluated in the order networks were created; each
   * network's `-i <bridge> -o <prefix>+ DROP` keeps its containers away from the engine's other
   * networks, while published ports are accepted by per-container rules inserted above everything.
   */
  #networkRules(net: Network): Rule[] {
    const { bridge, internal, subnet } = net.record;
    const ipt = this.#iptables;
    if (internal)
      return [
        { table: "filter", chain: ipt.forward, spec: `-i ${bridge} -o ${bridge} -j ACCEPT` },
        { table: "filter", chain: ipt.forward, spec: `-i ${bridge} ! -o ${bridge} -j DROP` },
        { table: "filter", chain: ipt.forward, spec: `! -i ${bridge} -o ${bridge} -j DROP` },
      ];
    return [
      { table: "nat", chain: ipt.postrouting, spec: `-s ${subnet} ! -o ${bridge} -j MASQUERADE` },
      { table: "nat", chain: ipt.postrouting, spec: `-s 127.0.0.0/8 -o ${bridge} -j MASQUERADE` },
      { table: "filter", chain: ipt.forward, spec: `-i ${bridge} -o ${bridge} -j ACCEPT` },
      { table: "filter", chain: ipt.forward, spec: `-i ${bridge} -o ${this.#prefix}+ -j DROP` },
      { table: "filter", chain: ipt.forward, spec: `-i ${bridge} ! -o ${bridge} -j ACCEPT` },
      {
        table: "filter",
        chain: ipt.forward,
        spec: `-o ${bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
      },
    ];
  }

  /**
   * Outbound NAT and published ports from outside need the host to route. tsstack turns
   * net.ipv4.ip_forward on (as Docker does) and leaves it on: other software may rely on it by then.
   */
  async #ensureForwarding(): Promise<void> {
    if (this.#forwardingChecked) return;
    const file = "/proc/sys/net/ipv4/ip_forward";
    if ((await readFile(file, "utf8")).trim() !== "1") {
      await writeFile(file, "1");
      this.#log(
        "enabled net.ipv4.ip_forward (needed for outbound NAT and published ports); it stays enabled",
      );
    }
    this.#forwardingChecked = true;
  }

  async #unwireNetwork(net: Network, last: boolean): Promise<void> {
    await net.dns?.close();
    net.dns = undefined;
    await this.#iptables.remove(net.record.id, { prefix: true, dropChainsIfEmpty: last });
    if (existsSync(`/sys/class/net/${net.record.bridge}`))
      await run(this.#runner, `deleting bridge ${net.record.bridge}`, "ip", [
        "link",
        "del",
        net.record.bridge,
      ]);
  }

  #find(idOrName: string): Network | undefined {
    const byId = this.#networks.get(idOrName);
    if (byId !== undefined) return byId;
    for (const n of this.#networks.values()) if (n.record.name === idOrName) return n;
    if (/^[a-f0-9]{1,63}$/.test(idOrName)) {
      const matches = [...this.#networks.values()].filter((n) => n.record.id.startsWith(idOrName));
      if (matches.length === 1) return matches[0];
    }
    return undefined;
  }

  #get(idOrName: string): Network {
    const net = this.#find(idOrName);
    if (net === undefined) throw notFound(idOrName);
    return net;
  }

  /** `GET /networks/{id}`. */
  inspectNetwork(idOrName: string): Promise<NetworkInspect> {
    return Promise.resolve().then(() => this.#inspect(this.#get(idOrName)));
  }

  #inspect(net: Network): NetworkInspect {
    const r = net.record;
    const containers: NetworkInspect["Containers"] = {};
    for (const ep of this.#endpoints.values())
      for (const a of ep.record.attachments)
        if (a.networkId === r.id)
          containers[ep.record.containerId] = {
            Name: ep.record.containerName,
            EndpointID: endpointId(r.id, ep.record.containerId),
            MacAddress: a.mac,
            IPv4Address: `${a.ip}/${net.subnet.prefix}`,
            IPv6Address: "",
          };
    return {
      Name: r.name,
      Id: r.id,
      Created: r.created,
      Scope: "local",
      Driver: "bridge",
      EnableIPv6: false,
      IPAM: {
        Driver: "default",
        Options: {},
        Config: [
          {
            Subnet: r.subnet,
            Gateway: r.gateway,
            ...(r.ipRange !== undefined ? { IPRange: r.ipRange } : {}),
          },
        ],
      },
      Internal: r.internal,
      Attachable: r.attachable,
      Ingress: false,
      ConfigFrom: { Network: "" },
      ConfigOnly: false,
      Containers: containers,
      Options: { ...r.options, "com.docker.network.bridge.name": r.bridge },
      Labels: { ...r.labels },
    };
  }

  /** `GET /networks`, newest last, with Docker's filters. */
  listNetworks(opts: { readonly filters?: NetworkFilters } = {}): Promise<NetworkInspect[]> {
    return Promise.resolve().then(() => {
      const filters = opts.filters ?? {};
      return [...this.#networks.values()]
        .filter((n) => this.#matches(n, filters))
        .sort((a, b) => a.record.created.localeCompare(b.record.created))
        .map((n) => this.#inspect(n));
    });
  }

  #inUse(net: Network): string[] {
    const names: string[] = [];
    for (const ep of this.#endpoints.values())
      if (ep.record.attachments.some((a) => a.networkId === net.record.id))
        names.push(ep.record.containerName);
    return names;
  }

  #matches(net: Network, filters: NetworkFilters): boolean {
    const r = net.record;
    for (const [key, values] of Object.entries(filters)) {
      if (values.length === 0) continue;
      const ok = values.some((v) => {
        switch (key) {
          case "name":
            return r.name.includes(v);
          case "id":
            return r.id.startsWith(v);
          case "label": {
            const eq = v.indexOf("=");
            return eq < 0 ? v in r.labels : r.labels[v.slice(0, eq)] === v.slice(eq + 1);
          }
          case "driver":
            return v === "bridge";
          case "scope":
            return v === "local";
          case "type":
            return v === (r.name === DEFAULT_NETWORK ? "builtin" : "custom");
          case "dangling":
            return (v === "true" || v === "1") === (this.#inUse(net).length === 0);
          case "until":
            return Date.parse(r.created) <= untilMs(v);
          default:
            throw new TsstackError("network/invalid-filter", `invalid filter "${key}"`);
        }
      });
      if (!ok) return false;
    }
    return true;
  }

  /** `DELETE /networks/{id}`: refused (`network/in-use`) while containers have endpoints on it. */
  removeNetwork(idOrName: string): Promise<void> {
    this.#checkOpen();
    return this.#queue.run(() => this.#removeNetwork(this.#get(idOrName)));
  }

  async #removeNetwork(net: Network): Promise<void> {
    const users = this.#inUse(net);
    if (users.length > 0)
      throw new TsstackError(
        "network/in-use",
        `error while removing network ${net.record.name}: network ${net.record.name} id ${net.record.id} has active endpoints (${users.join(", ")})`,
      );
    await this.#unwireNetwork(net, this.#networks.size === 1);
    this.#networks.delete(net.record.id);
    await rm(join(this.#dir, `${net.record.id}.json`), { force: true });
    this.#log(`removed network ${net.record.name}`);
  }

  /** `POST /networks/prune`: every network without endpoints (but the default `bridge`). */
  pruneNetworks(opts: { readonly filters?: NetworkFilters } = {}): Promise<NetworkPruneResult> {
    this.#checkOpen();
    return this.#queue.run(async () => {
      const deleted: string[] = [];
      for (const net of [...this.#networks.values()]) {
        if (net.record.name === DEFAULT_NETWORK || this.#inUse(net).length > 0) continue;
        if (!this.#matches(net, opts.filters ?? {})) continue;
        await this.#removeNetwork(net);
        deleted.push(net.record.name);
      }
      return { NetworksDeleted: deleted };
    });
  }

  // -----------------------------------------------------------------------------------------------
  // DNS

  /**
   * The scope of a query is the asking container's networks (found by its address on the network
   * whose server it asked); a client the engine does not know sees only that network's names.
   */
  #lookup(net: Network, name: string, source: string): readonly string[] | undefined {
    let scope = new Set<string>([net.record.id]);
    for (const ep of this.#endpoints.values())
      if (ep.live && ep.record.attachments.some((a) => a.networkId === net.record.id && a.ip === source)) {
        scope = new Set(ep.record.attachments.map((a) => a.networkId));
        break;
      }
    const ips: string[] = [];
    for (const ep of this.#endpoints.values()) {
      if (!ep.live) continue;
      for (const a of ep.record.attachments)
        if (scope.has(a.networkId) && a.dnsNames.includes(name) && !ips.includes(a.ip)) ips.push(a.ip);
    }
    if (ips.length === 0) return undefined;
    ips.sort(compareIps);
    const key = `${[...scope].sort().join(",")}/${name}`;
    const turn = this.#rotation.get(key) ?? 0;
    this.#rotation.set(key, (turn + 1) % 1_000_000);
    const k = turn % ips.length;
    return [...ips.slice(k), ...ips.slice(0, k)];
  }

  #upstreamsFor(net: Network, source: string): readonly string[] {
    for (const ep of this.#endpoints.values())
      if (ep.record.attachments.some((a) => a.networkId === net.record.id && a.ip === source))
        return ep.record.upstreams;
    return this.#upstreams;
  }

  // -----------------------------------------------------------------------------------------------
  // Container endpoints (ContainerNetworking)

  #mode(ctx: Omit<ContainerContext, "rootfs">): string {
    const mode = ctx.config.HostConfig?.NetworkMode ?? "";
    return mode === "" || mode === "default" ? this.#defaultMode : mode;
  }

  /** Networks a bridge-mode container attaches to: the mode's network first, then EndpointsConfig's. */
  #requestedNetworks(ctx: Omit<ContainerContext, "rootfs">, mode: string): string[] {
    const names = [mode];
    for (const key of Object.keys(ctx.config.NetworkingConfig?.EndpointsConfig ?? {})) {
      const n = this.#find(key);
      const m = this.#find(mode);
      if (key !== mode && (n === undefined || n !== m) && !names.includes(key)) names.push(key);
    }
    return names;
  }

  validate(ctx: Omit<ContainerContext, "rootfs">): Promise<void> {
    return Promise.resolve().then(() => {
      const what = `creating container ${ctx.name}`;
      const mode = this.#mode(ctx);
      const h = ctx.config.HostConfig ?? {};
      try {
        parsePortBindings(h.PortBindings);
      } catch (e) {
        throw new TsstackError("container/invalid-config", `${what}: ${errorText(e)}`, { cause: e });
      }
      if (mode === "none" || mode === "host") return;
      if (mode.startsWith("container:")) {
        if (mode.length === "container:".length)
          throw new TsstackError(
            "container/invalid-config",
            `${what}: network mode "container:" names no container`,
          );
        return;
      }
      for (const name of this.#requestedNetworks(ctx, mode)) {
        if (name === DEFAULT_NETWORK && this.#find(name) === undefined) continue;
        const net = this.#find(name);
        if (net === undefined)
          throw new TsstackError("network/not-found", `${what}: network ${name} not found`);
        const requested = this.#endpointConfig(ctx, name, net)?.IPAMConfig?.IPv4Address;
        if (requested !== undefined && requested !== "") {
          const ip = parseIpv4(requested);
          if (ip === undefined || !contains(net.subnet, ip))
            throw new TsstackError(
              "container/invalid-config",
              `${what}: address ${requested} is not in subnet ${net.record.subnet} of network ${net.record.name}`,
            );
        }
      }
    });
  }

  #endpointConfig(ctx: Omit<ContainerContext, "rootfs">, key: string, net: Network | undefined) {
    const all = ctx.config.NetworkingConfig?.EndpointsConfig ?? {};
    return (
      all[key] ??
      (net !== undefined ? (all[net.record.name] ?? all[net.record.id]) : undefined) ??
      Object.entries(all).find(([k]) => net !== undefined && this.#find(k) === net)?.[1]
    );
  }

  setUp(ctx: ContainerContext): Promise<NetworkSetup> {
    this.#checkOpen();
    return this.#queue.run(() => this.#setUp(ctx));
  }

  async #setUp(ctx: ContainerContext): Promise<NetworkSetup> {
    const mode = this.#mode(ctx);
    const h = ctx.config.HostConfig ?? {};
    const extraHosts = h.ExtraHosts ?? [];
    if (mode === "none")
      return {
        ...(extraHosts.length > 0 ? { hosts: hostsFile(ctx.hostname, [], extraHosts, undefined) } : {}),
        settings: emptySettings(),
      };
    if (mode === "host") {
      const hosts = await readFile("/etc/hosts", "utf8").catch(() =>
        hostsFile(ctx.hostname, [], [], undefined),
      );
      return {
        hostNetwork: true,
        resolvConf: await readFile("/etc/resolv.conf", "utf8").catch(() => ""),
        hosts: extraHosts.length > 0 ? `${hosts.trimEnd()}\n${extraLines(extraHosts, undefined)}` : hosts,
        settings: emptySettings(),
      };
    }
    if (mode.startsWith("container:")) {
      const target = this.#joinTarget(ctx, mode.slice("container:".length));
      return {
        netnsPath: `/run/netns/${target.record.netns}`,
        resolvConf: target.record.resolvConf,
        hosts: target.record.hosts,
        settings: emptySettings(),
      };
    }
    // A previous run's endpoint that was never torn down (a crash in between): start afresh.
    if (this.#endpoints.has(ctx.id)) await this.#tearDown(ctx.id);
    return this.#attach(ctx, mode);
  }

  #joinTarget(ctx: Omit<ContainerContext, "rootfs">, ref: string): Endpoint {
    const eps = [...this.#endpoints.values()].filter((e) => e.live);
    const ep =
      eps.find((e) => e.record.containerId === ref || e.record.containerName === ref.replace(/^\//, "")) ??
      (/^[a-f0-9]{1,63}$/.test(ref) ? eps.filter((e) => e.record.containerId.startsWith(ref)) : []).find(
        (_, __, all) => all.length === 1,
      );
    if (ep === undefined)
      throw new TsstackError(
        "container/not-running",
        `starting container ${ctx.name}: network mode container:${ref}: no running container ${ref} with a network namespace of its own (it must be running, on a network)`,
      );
    return ep;
  }

  async #attach(ctx: ContainerContext, mode: string): Promise<NetworkSetup> {
    const h = ctx.config.HostConfig ?? {};
    const what = `starting container ${ctx.name}`;
    const nets: { net: Network; key: string }[] = [];
    for (const key of this.#requestedNetworks(ctx, mode)) {
      let net = this.#find(key);
      if (net === undefined && key === DEFAULT_NETWORK)
        net = await this.#createNetwork({
          Name: DEFAULT_NETWORK,
          Options: { "com.docker.network.bridge.default_bridge": "true" },
        });
      if (net === undefined) throw new TsstackError("network/not-found", `${what}: network ${key} not found`);
      nets.push({ net, key });
    }
    const requests = parsePortBindings(h.PortBindings);
    const primary = nets[0]?.net;
    if (primary === undefined)
      throw new TsstackError("internal", "internal: a bridge-mode container without a network");
    const labels = ctx.config.Labels ?? {};
    const service = labels[SERVICE_LABEL];
    const netns = `${this.#prefix}-${ctx.id.slice(0, 12)}`;
    const attachments: Attachment[] = [];
    const holds: (() => Promise<void>)[] = [];
    const ports: PublishedPort[] = [];
    let wired = false;
    try {
      // 1. Everything that can fail for the user's reasons, before anything exists on the host.
      for (const [i, { net, key }] of nets.entries()) {
        const cfg = this.#endpointConfig(ctx, key, net);
        const ip = net.ipam.allocate(cfg?.IPAMConfig?.IPv4Address ?? undefined);
        const aliases = [...(cfg?.Aliases ?? [])];
        const dnsNames = [
          ctx.name,
          ctx.id.slice(0, 12),
          ...(service !== undefined ? [service] : []),
          ...aliases,
        ]
          .map((n) => n.toLowerCase().replace(/\.$/, ""))
          .filter((n, j, all) => n !== "" && all.indexOf(n) === j);
        attachments.push({
          networkId: net.record.id,
          ip: formatIpv4(ip),
          mac: macForIpv4(ip),
          veth: `${this.#prefix}v${randomBytes(8)
            .toString("hex")
            .slice(0, 14 - this.#prefix.length)}`,
          ifname: `eth${i}`,
          aliases,
          dnsNames,
        });
      }
      const primaryIp = attachments[0]?.ip ?? "";
      for (const req of requests) {
        const held = await this.#holdHostPort(ctx, req.proto, req.hostIp, req.hostPorts, ports);
        holds.push(held.close);
        ports.push({ ...req, hostPort: held.port, networkId: primary.record.id });
      }
      const upstreams = (h.Dns ?? []).filter((d) => parseIpv4(d) !== undefined);
      const record: EndpointRecord = {
        version: 1,
        containerId: ctx.id,
        containerName: ctx.name,
        netns,
        attachments,
        ports,
        exposed: Object.keys(ctx.config.ExposedPorts ?? {}),
        upstreams: upstreams.length > 0 ? upstreams : [...this.#upstreams],
        resolvConf: resolvConf(primary.record.gateway, h.DnsSearch ?? []),
        hosts: hostsFile(ctx.hostname, [primaryIp], h.ExtraHosts ?? [], primary.record.gateway),
      };
      // 2. The intent on disk, then the kernel objects.
      await writeEndpointFile(join(this.#endpointDir, `${ctx.id}.json`), record);
      const ep: Endpoint = { record, live: false, holds };
      this.#endpoints.set(ctx.id, ep);
      wired = true;
      await this.#wireEndpoint(ep, what);
      ep.live = true;
      return {
        netnsPath: `/run/netns/${netns}`,
        resolvConf: record.resolvConf,
        hosts: record.hosts,
        settings: this.#settings(ep),
      };
    } catch (e) {
      if (wired)
        await this.#tearDown(ctx.id).catch((e2: unknown) => {
          this.#log(`undoing the network setup of container ${ctx.name}: ${errorText(e2)}`);
        });
      else {
        for (const close of holds) await close();
        for (const [i, a] of attachments.entries()) {
          const ip = parseIpv4(a.ip);
          if (ip !== undefined) nets[i]?.net.ipam.release(ip);
        }
      }
      throw e;
    }
  }

  /** Reserves a host port for `ctx` (see src/network/ports.ts), naming the holder on a conflict. */
  async #holdHostPort(
    ctx: Omit<ContainerContext, "rootfs">,
    proto: "tcp" | "udp",
    hostIp: string,
    [first, last]: readonly [number, number],
    mine: readonly PortMapping[],
  ): Promise<{ port: number; close: () => Promise<void> }> {
    const clash = (port: number): string | undefined => {
      const overlap = (m: PortMapping): boolean =>
        m.proto === proto &&
        m.hostPort === port &&
        (m.hostIp === hostIp || m.hostIp === "0.0.0.0" || hostIp === "0.0.0.0");
      if (mine.some(overlap)) return `container ${ctx.name} itself`;
      for (const ep of this.#endpoints.values())
        if (ep.record.containerId !== ctx.id && ep.record.ports.some(overlap))
          return `container ${ep.record.containerName} (${ep.record.containerId.slice(0, 12)})`;
      return undefined;
    };
    const fail = (port: number, holder: string, cause?: unknown): TsstackError =>
      new TsstackError(
        "network/port-in-use",
        `starting container ${ctx.name}: host port ${hostIp}:${port}/${proto} is already in use by ${holder}`,
        cause !== undefined ? { cause } : undefined,
      );
    if (first === 0) {
      // The kernel picks a free port; one the engine maps already cannot be picked (its socket holds it).
      const held = await holdPort(proto, hostIp, 0);
      return held;
    }
    let lastError: TsstackError | undefined;
    for (let port = first; port <= last; port++) {
      const holder = clash(port);
      if (holder !== undefined) {
        lastError = fail(port, holder);
        continue;
      }
      try {
        return await holdPort(proto, hostIp, port);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "EADDRNOTAVAIL")
          throw new TsstackError(
            "container/invalid-config",
            `starting container ${ctx.name}: cannot publish on ${hostIp}:${port}/${proto}: ${hostIp} is not an address of this host`,
            { cause: e },
          );
        lastError = fail(port, `another program on this host (${code ?? errorText(e)})`, e);
      }
    }
    throw lastError ?? fail(first, "nobody");
  }

  /** The netns, veths, addresses, routes and port rules of an endpoint record. */
  async #wireEndpoint(ep: Endpoint, what: string): Promise<void> {
    const r = ep.record;
    const host: string[] = [`netns add ${r.netns}`];
    const inside: string[] = ["link set lo up"];
    let route: string | undefined;
    for (const a of r.attachments) {
      const net = this.#networks.get(a.networkId);
      if (net === undefined)
        throw new TsstackError("internal", `internal: endpoint on unknown network ${a.networkId}`);
      const mtu = net.record.options[MTU_OPTION];
      host.push(
        `link add ${a.veth}${mtu !== undefined ? ` mtu ${mtu}` : ""} type veth peer name ${a.ifname} address ${a.mac}${mtu !== undefined ? ` mtu ${mtu}` : ""} netns ${r.netns}`,
        `link set ${a.veth} master ${net.record.bridge} up`,
      );
      // A container reaching its own published port through the host must get its packets back
      // through the port they left by.
      if (r.ports.length > 0) host.push(`link set ${a.veth} type bridge_slave hairpin on`);
      inside.push(`addr add ${a.ip}/${net.subnet.prefix} dev ${a.ifname}`, `link set ${a.ifname} up`);
      if (route === undefined && !net.record.internal)
        route = `route add default via ${net.record.gateway} dev ${a.ifname}`;
    }
    if (route !== undefined) inside.push(route);
    await run(
      this.#runner,
      `${what}: creating its network endpoints`,
      "ip",
      ["-batch", "-"],
      host.join("\n"),
    );
    await run(
      this.#runner,
      `${what}: configuring its network namespace`,
      "ip",
      ["-n", r.netns, "-batch", "-"],
      inside.join("\n"),
    );
    await this.#addPortRules(ep, what);
  }

  async #addPortRules(ep: Endpoint, what: string): Promise<void> {
    const byNet = new Map<string, PublishedPort[]>();
    for (const p of ep.record.ports) byNet.set(p.networkId, [...(byNet.get(p.networkId) ?? []), p]);
    for (const [networkId, ports] of byNet) {
      const net = this.#networks.get(networkId);
      const a = ep.record.attachments.find((x) => x.networkId === networkId);
      if (net === undefined || a === undefined) continue;
      await this.#iptables.add(
        `${networkId}:${ep.record.containerId.slice(0, 12)}`,
        this.#portRules(net, a.ip, ports),
        `${what}: publishing its ports`,
      );
    }
  }

  /**
   * Per published port: DNAT from the host's addresses (PREROUTING for traffic from outside, OUTPUT
   * for the host's own, 127.0.0.1 included), FORWARD accept ahead of the isolation rules, and a
   * MASQUERADE for a container reaching its own published port (hairpin).
   */
  #portRules(net: Network, ip: string, ports: readonly PublishedPort[]): Rule[] {
    const ipt = this.#iptables;
    const br = net.record.bridge;
    const rules: Rule[] = [];
    for (const p of ports) {
      const dst = p.hostIp === "0.0.0.0" ? "" : `-d ${p.hostIp}/32 `;
      const m = `-p ${p.proto} -m ${p.proto}`;
      rules.push(
        {
          table: "nat",
          chain: ipt.dnat,
          spec: `${dst}${m} --dport ${p.hostPort} -j DNAT --to-destination ${ip}:${p.containerPort}`,
        },
        {
          table: "nat",
          chain: ipt.postrouting,
          spec: `-s ${ip}/32 -d ${ip}/32 ${m} --dport ${p.containerPort} -j MASQUERADE`,
        },
        {
          table: "filter",
          chain: ipt.forward,
          insert: true,
          spec: `-d ${ip}/32 ! -i ${br} -o ${br} ${m} --dport ${p.containerPort} -j ACCEPT`,
        },
      );
    }
    return rules;
  }

  #settings(ep: Endpoint): ContainerInspect["NetworkSettings"] {
    const networks: ContainerInspect["NetworkSettings"]["Networks"] = {};
    for (const a of ep.record.attachments) {
      const net = this.#networks.get(a.networkId);
      if (net === undefined) continue;
      networks[net.record.name] = {
        IPAddress: a.ip,
        Gateway: net.record.gateway,
        MacAddress: a.mac,
        Aliases: a.aliases.length > 0 ? [...a.aliases] : null,
      };
    }
    const first = ep.record.attachments[0];
    return {
      Networks: networks,
      Ports: portsSettings(ep.record.ports, ep.record.exposed),
      IPAddress: first?.ip ?? "",
      Gateway: first !== undefined ? (this.#networks.get(first.networkId)?.record.gateway ?? "") : "",
      MacAddress: first?.mac ?? "",
    };
  }

  ports(id: string): { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[] {
    const ep = this.#endpoints.get(id);
    if (ep === undefined) return [];
    const out: { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[] =
      ep.record.ports.map((p) => ({
        IP: p.hostIp,
        PrivatePort: p.containerPort,
        PublicPort: p.hostPort,
        Type: p.proto,
      }));
    for (const e of ep.record.exposed) {
      const [port = "", type = "tcp"] = e.split("/");
      if (!out.some((o) => String(o.PrivatePort) === port && o.Type === type))
        out.push({ PrivatePort: Number(port), Type: type });
    }
    return out;
  }

  tearDown(ctx: Omit<ContainerContext, "rootfs">): Promise<void> {
    return this.#queue.run(() => this.#tearDown(ctx.id));
  }

  /** Removes port rules, veths, the namespace, addresses and the record of an endpoint. Idempotent. */
  async #tearDown(id: string): Promise<void> {
    const ep = this.#endpoints.get(id);
    if (ep === undefined) return;
    ep.live = false;
    const r = ep.record;
    if (r.ports.length > 0)
      for (const networkId of new Set(r.ports.map((p) => p.networkId)))
        await this.#iptables.remove(`${networkId}:${id.slice(0, 12)}`);
    await this.#releaseHolds(ep);
    const cmds: string[] = [];
    // Deleting the namespace alone would leave the veths until the kernel's cleanup work gets to them.
    for (const a of r.attachments)
      if (existsSync(`/sys/class/net/${a.veth}`)) cmds.push(`link del ${a.veth}`);
    if (existsSync(`/run/netns/${r.netns}`)) cmds.push(`netns del ${r.netns}`);
    if (cmds.length > 0)
      await run(
        this.#runner,
        `removing the network endpoints of container ${r.containerName}`,
        "ip",
        ["-batch", "-"],
        cmds.join("\n"),
      );
    for (const a of r.attachments) {
      const ip = parseIpv4(a.ip);
      if (ip !== undefined) this.#networks.get(a.networkId)?.ipam.release(ip);
    }
    this.#endpoints.delete(id);
    await rm(join(this.#endpointDir, `${id}.json`), { force: true });
  }

  async #releaseHolds(ep: Endpoint): Promise<void> {
    for (const close of ep.holds.splice(0)) await close().catch(() => undefined);
  }

  restore(ctx: Omit<ContainerContext, "rootfs">): Promise<NetworkSetup | undefined> {
    return this.#queue.run(async () => {
      const mode = this.#mode(ctx);
      // `container:<x>` shares x's namespace: nothing of its own to restore.
      if (mode.startsWith("container:")) return undefined;
      const ep = this.#endpoints.get(ctx.id);
      if (ep === undefined) return undefined;
      const r = ep.record;
      if (!existsSync(`/run/netns/${r.netns}`)) {
        this.#log(
          `container ${ctx.name} runs, but its network namespace ${r.netns} is gone: it has no network`,
        );
        return undefined;
      }
      await this.#releaseHolds(ep);
      for (const p of r.ports)
        try {
          ep.holds.push((await holdPort(p.proto, p.hostIp, p.hostPort)).close);
        } catch (e) {
          this.#log(
            `container ${ctx.name}: cannot hold host port ${p.hostIp}:${p.hostPort}/${p.proto} again: ${errorText(e)}`,
          );
        }
      for (const networkId of new Set(r.ports.map((p) => p.networkId)))
        if (!(await this.#iptables.has(`${networkId}:${ctx.id.slice(0, 12)}`)))
          await this.#addPortRules(
            { ...ep, record: { ...r, ports: r.ports.filter((p) => p.networkId === networkId) } },
            `restoring container ${ctx.name}`,
          );
      ep.live = true;
      return {
        netnsPath: `/run/netns/${r.netns}`,
        resolvConf: r.resolvConf,
        hosts: r.hosts,
        settings: this.#settings(ep),
      };
    });
  }
}

function compareIps(a: string, b: string): number {
  return (parseIpv4(a) ?? 0) - (parseIpv4(b) ?? 0);
}

function endpointId(networkId: string, containerId: string): string {
  return createHash("sha256").update(`${networkId}/${containerId}`).digest("hex");
}

function untilMs(v: string): number {
  return /^\d+(\.\d+)?$/.test(v) ? Number(v) * 1000 : Date.parse(v);
}

function emptySettings(): ContainerInspect["NetworkSettings"] {
  return { Networks: {}, Ports: {}, IPAddress: "", Gateway: "", MacAddress: "" };
}

function resolvConf(gateway: string, search: readonly string[]): string {
  return `nameserver ${gateway}\n${search.length > 0 ? `search ${search.join(" ")}\n` : ""}`;
}

/** `host:ip` entries (`host-gateway` = the gateway of the primary network) as hosts lines. */
function extraLines(extra: readonly string[], gateway: string | undefined): string {
  return extra
    .map((e) => {
      const i = e.indexOf(":");
      const name = e.slice(0, i);
      const ip = e.slice(i + 1);
      if (i <= 0 || ip === "")
        throw new TsstackError("container/invalid-config", `invalid extra host "${e}": expected name:ip`);
      return `${ip === "host-gateway" ? (gateway ?? "127.0.0.1") : ip}\t${name}\n`;
    })
    .join("");
}

function hostsFile(
  hostname: string,
  ips: readonly string[],
  extra: readonly string[],
  gateway: string | undefined,
): string {
  const own = ips.filter((ip) => ip !== "");
  return (
    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
    (own.length > 0 ? own.map((ip) => `${ip}\t${hostname}\n`).join("") : `127.0.1.1\t${hostname}\n`) +
    extraLines(extra, gateway)
  );
}

/**
 * Writes an endpoint record by rename (a reader never sees a torn file) but without fsync: what it
 * describes — veths, the namespace under /run/netns — does not survive a power loss either, while
 * after a crash of the process the page cache still has the file. Saves ~1.5 ms per start.
 */
async function writeEndpointFile(path: string, record: EndpointRecord): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(record)}\n`, { mode: 0o600 });
  await rename(tmp, path);
}
