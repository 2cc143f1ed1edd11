/**
 * IP address management for one network (pure): which addresses of the subnet (or of its IPRange) are
 * free, static requests checked against the subnet and against what is taken, sequential allocation.
 *
 * Allocation is sequential with wrap-around from the last address handed out, as Docker's IPAM does: an
 * address just released is the last to be reused, so a stale ARP or DNS entry elsewhere does not send
 * a new container traffic meant for the old one.
 */
import { TsstackError } from "../common/errors.js";
import { contains, formatCidr, formatIpv4, overlaps, parseIpv4, size, type Subnet } from "./addr.js";

export interface IpamConfig {
  readonly subnet: Subnet;
  readonly gateway: number;
  /** Dynamic allocations come from here (a part of the subnet); static ones may use the whole subnet. */
  readonly range?: Subnet;
}

export class Ipam {
  readonly #taken = new Set<number>();
  #last: number;

  constructor(
    readonly config: IpamConfig,
    /** Name for messages. */
    readonly network: string,
  ) {
    const { subnet, gateway, range } = config;
    if (subnet.prefix > 30)
      throw new TsstackError(
        "network/invalid-config",
        `network ${network}: subnet ${formatCidr(subnet)} is too small (at most /30)`,
      );
    if (!this.#usable(gateway))
      throw new TsstackError(
        "network/invalid-config",
        `network ${network}: gateway ${formatIpv4(gateway)} is not a host address of ${formatCidr(subnet)}`,
      );
    if (range !== undefined && !(contains(subnet, range.base) && range.prefix >= subnet.prefix))
      throw new TsstackError(
        "network/invalid-config",
        `network ${network}: IP range ${formatCidr(range)} is not inside subnet ${formatCidr(subnet)}`,
      );
    this.#last = gateway;
  }

  /** A host address of the subnet: neither the network nor the broadcast address. */
  #usable(ip: number): boolean {
    const { subnet } = this.config;
    return contains(subnet, ip) && ip !== subnet.base && ip !== subnet.base + size(subnet) - 1;
  }

  isTaken(ip: number): boolean {
    return this.#taken.has(ip);
  }

  get allocated(): readonly number[] {
    return [...this.#taken].sort((a, b) => a - b);
  }

  /** Marks an address as taken (loading persisted allocations); no checks beyond the subnet. */
  claim(ip: number): void {
    if (!this.#usable(ip) || ip === this.config.gateway)
      throw new TsstackError(
        "network/invalid-config",
        `network ${this.network}: ${formatIpv4(ip)} is not an assignable address of ${formatCidr(this.config.subnet)}`,
      );
    this.#taken.add(ip);
  }

  /**
   * Allocates `requested` (a dotted quad) when given, else the next free address of the range.
   * @throws network/invalid-config for an address outside the subnet or the gateway,
   *   network/address-in-use when taken, network/exhausted when nothing is free.
   */
  allocate(requested?: string): number {
    if (requested !== undefined && requested !== "") {
      const ip = parseIpv4(requested);
      if (ip === undefined)
        throw new TsstackError(
          "network/invalid-config",
          `network ${this.network}: invalid IPv4 address "${requested}"`,
        );
      if (!this.#usable(ip) || ip === this.config.gateway)
        throw new TsstackError(
          "network/invalid-config",
          `network ${this.network}: ${requested} is not an assignable address of subnet ${formatCidr(this.config.subnet)}${ip === this.config.gateway ? " (it is the gateway)" : ""}`,
        );
      if (this.#taken.has(ip))
        throw new TsstackError(
          "network/address-in-use",
          `network ${this.network}: address ${requested} is already in use`,
        );
      this.#taken.add(ip);
      return ip;
    }
    const pool = this.config.range ?? this.config.subnet;
    const first = pool.base;
    const n = size(pool);
    const start = contains(pool, this.#last) ? this.#last - first + 1 : 0;
    for (let i = 0; i < n; i++) {
      const ip = first + ((start + i) % n);
      if (!this.#usable(ip) || ip === this.config.gateway || this.#taken.has(ip)) continue;
      this.#taken.add(ip);
      this.#last = ip;
      return ip;
    }
    throw new TsstackError(
      "network/exhausted",
      `network ${this.network}: no free address left in ${formatCidr(pool)} (${this.#taken.size} in use)`,
    );
  }

  release(ip: number): void {
    this.#taken.delete(ip);
  }
}

/**
 * The first `/prefix` block of `pool` that overlaps none of `used` (the engine's own networks and the
 * host's routes), or undefined.
 */
export function pickSubnet(pool: Subnet, prefix: number, used: readonly Subnet[]): Subnet | undefined {
  if (prefix < pool.prefix) return undefined;
  const step = 2 ** (32 - prefix);
  const count = 2 ** (prefix - pool.prefix);
  for (let i = 0; i < count; i++) {
    const candidate = { base: pool.base + i * step, prefix };
    if (!used.some((u) => overlaps(u, candidate))) return candidate;
  }
  return undefined;
}
