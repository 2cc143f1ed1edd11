/**
 * The embedded DNS server of one network: UDP and TCP on the network's gateway address, port 53 (the
 * bridge holds that address, so containers reach it directly and nothing else on the host is
 * disturbed). Names the engine knows are answered from `resolver` (which scopes them to the asking
 * container's networks); unknown single-label names get NXDOMAIN; everything else is forwarded to
 * upstream resolvers from this process — which runs on the host, so even a 127.0.0.x resolver of the
 * host's /etc/resolv.conf is reachable, unlike from inside a container.
 */
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { createServer, type Server, type Socket } from "node:net";
import {
  CLASS_IN,
  encodeError,
  encodeResponse,
  isResponse,
  opcodeOf,
  parseMessage,
  RCODE_FORMERR,
  RCODE_NOERROR,
  RCODE_NOTIMP,
  RCODE_NXDOMAIN,
  RCODE_SERVFAIL,
  TYPE_A,
  UDP_MAX,
  type DnsMessage,
} from "./dns-codec.js";

export interface DnsResolver {
  /**
   * Addresses of `name` (lower case, no trailing dot) for the client at `source`, in answer order; an
   * empty array for a known name without IPv4 addresses; undefined for a name the engine does not know.
   */
  lookup(name: string, source: string): readonly string[] | undefined;
  /** Resolvers to forward other names to, for the client at `source` (`ip` or `ip:port`). */
  upstreams(source: string): readonly string[];
}

export interface DnsServerOptions {
  readonly address: string;
  /** Default 53. */
  readonly port?: number;
  readonly resolver: DnsResolver;
  readonly log: (line: string) => void;
  /** Per upstream attempt. Default 2000 ms. */
  readonly forwardTimeoutMs?: number;
  /** TTL of local answers. Default 600 s, Docker's. */
  readonly ttl?: number;
}

export class DnsServer {
  readonly #connections = new Set<Socket>();

  private constructor(
    readonly opts: DnsServerOptions,
    readonly udp: UdpSocket,
    readonly tcp: Server,
  ) {}

  static async start(opts: DnsServerOptions): Promise<DnsServer> {
    const port = opts.port ?? 53;
    const udp = createSocket({ type: "udp4" });
    await new Promise<void>((resolve, reject) => {
      udp.once("error", reject);
      udp.bind({ address: opts.address, port, exclusive: true }, () => {
        udp.off("error", reject);
        resolve();
      });
    });
    const tcp = createServer();
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once("error", reject);
        tcp.listen({ host: opts.address, port: udp.address().port, exclusive: true }, () => {
          tcp.off("error", reject);
          resolve();
        });
      });
    } catch (e) {
      udp.close();
      throw e;
    }
    const server = new DnsServer(opts, udp, tcp);
    udp.on("message", (msg, rinfo) => {
      void server.#answer(msg, rinfo.address, UDP_MAX).then((reply) => {
        if (reply !== undefined) udp.send(reply, rinfo.port, rinfo.address);
      });
    });
    udp.on("error", (e) => {
      opts.log(`DNS server on ${opts.address}:${port}/udp: ${e.message}`);
    });
    tcp.on("connection", (sock) => {
      server.#serveTcp(sock);
    });
    udp.unref();
    tcp.unref();
    return server;
  }

  /** The UDP port listened on (the TCP one is the same); useful with port 0. */
  get port(): number {
    return this.udp.address().port;
  }

  async close(): Promise<void> {
    for (const c of this.#connections) c.destroy();
    await Promise.all([
      new Promise<void>((r) => {
        this.udp.close(() => {
          r();
        });
      }),
      new Promise<void>((r) => {
        this.tcp.close(() => {
          r();
        });
      }),
    ]);
  }

  #serveTcp(sock: Socket): void {
    this.#connections.add(sock);
    sock.setTimeout(10_000, () => sock.destroy());
    sock.on("close", () => this.#connections.delete(sock));
    sock.on("error", () => undefined);
    let pending = Buffer.alloc(0);
    sock.on("data", (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2) {
        const len = pending.readUInt16BE(0);
        if (pending.length < 2 + len) break;
        const msg = pending.subarray(2, 2 + len);
        pending = pending.subarray(2 + len);
        void this.#answer(msg, sock.remoteAddress ?? "", undefined).then((reply) => {
          if (reply === undefined || sock.destroyed) return;
          const len2 = Buffer.alloc(2);
          len2.writeUInt16BE(reply.length, 0);
          sock.write(Buffer.concat([len2, reply]));
        });
      }
    });
  }

  /** The reply to one message, or undefined to stay silent (responses, garbage shorter than an id). */
  async #answer(msg: Buffer, source: string, maxSize: number | undefined): Promise<Buffer | undefined> {
    const client = source.replace(/^::ffff:/, "");
    let query: DnsMessage;
    try {
      query = parseMessage(msg);
    } catch {
      return msg.length >= 2 ? encodeError(msg.readUInt16BE(0), RCODE_FORMERR) : undefined;
    }
    if (isResponse(query.flags)) return undefined;
    if (opcodeOf(query.flags) !== 0) return encodeResponse(query, { rcode: RCODE_NOTIMP });
    const q = query.questions[0];
    if (q === undefined) return encodeResponse(query, { rcode: RCODE_FORMERR });
    const size = maxSize !== undefined ? { maxSize } : {};
    const known = q.class === CLASS_IN ? this.opts.resolver.lookup(q.name, client) : undefined;
    if (known !== undefined)
      // A known name: its A records; any other type (AAAA included) is an empty NOERROR, so resolvers
      // do not go on to ask upstream for a name that is ours.
      return encodeResponse(query, {
        rcode: RCODE_NOERROR,
        addresses: q.type === TYPE_A ? known : [],
        authoritative: true,
        ttl: this.opts.ttl ?? 600,
        ...size,
      });
    if (!q.name.includes("."))
      return encodeResponse(query, { rcode: RCODE_NXDOMAIN, authoritative: true, ...size });
    const forwarded = await this.#forward(msg, this.opts.resolver.upstreams(client));
    return forwarded ?? encodeResponse(query, { rcode: RCODE_SERVFAIL, ...size });
  }

  /** Relays the query to each upstream in turn (a fresh socket each: ids of clients never collide). */
  async #forward(msg: Buffer, upstreams: readonly string[]): Promise<Buffer | undefined> {
    const id = msg.readUInt16BE(0);
    for (const upstream of upstreams) {
      const [host = "", port = "53"] = upstream.split(":");
      const reply = await new Promise<Buffer | undefined>((resolve) => {
        const sock = createSocket("udp4");
        const done = (r: Buffer | undefined): void => {
          clearTimeout(timer);
          sock.close();
          resolve(r);
        };
        const timer = setTimeout(() => {
          done(undefined);
        }, this.opts.forwardTimeoutMs ?? 2000);
        sock.on("error", () => {
          done(undefined);
        });
        sock.on("message", (reply) => {
          if (reply.length >= 2 && reply.readUInt16BE(0) === id) done(reply);
        });
        sock.send(msg, Number(port), host);
      });
      if (reply !== undefined) return reply;
      this.opts.log(`DNS on ${this.opts.address}: upstream ${upstream} did not answer; trying the next one`);
    }
    return undefined;
  }
}

/** Nameservers of a resolv.conf text (IPv4 only: the forwarder speaks udp4). */
export function nameserversOf(resolvConf: string): string[] {
  const out: string[] = [];
  for (const line of resolvConf.split("\n")) {
    const m = /^\s*nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/.exec(line);
    if (m?.[1] !== undefined) out.push(m[1]);
  }
  return out;
}
