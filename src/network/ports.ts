/**
 * Published ports: parsing HostConfig.PortBindings and reserving host ports.
 *
 * Traffic reaches containers through iptables DNAT (src/network/iptables.ts), not through a proxy, so
 * nothing would otherwise hold the host port: a program binding it later would be silently shadowed.
 * So the engine holds a socket bound to every published host ip:port for as long as the mapping exists
 * (Docker 25+ does the same), which also makes the "is it free?" check and the reservation one step.
 * The DNAT rules divert the traffic before it could reach these sockets; a connection that does
 * arrive (a path the rules do not cover) is closed at once.
 */
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { createServer, type Server } from "node:net";
import { TsstackError } from "../common/errors.js";
import { parseIpv4 } from "./addr.js";

export type Proto = "tcp" | "udp";

export interface PortRequest {
  readonly proto: Proto;
  readonly containerPort: number;
  /** "0.0.0.0" for all addresses. */
  readonly hostIp: string;
  /** 0 = any free port; a range = the first free one of it. */
  readonly hostPorts: readonly [number, number];
}

export interface PortMapping {
  readonly proto: Proto;
  readonly containerPort: number;
  readonly hostIp: string;
  readonly hostPort: number;
}

function invalid(message: string): TsstackError {
  return new TsstackError("container/invalid-config", message);
}

function parsePort(text: string, what: string): number {
  const n = Number(text);
  if (!/^\d{1,5}$/.test(text) || n < 1 || n > 65535) throw invalid(`invalid ${what} "${text}"`);
  return n;
}

/**
 * The requests of HostConfig.PortBindings (`"80/tcp": [{HostIp, HostPort}]`). IPv6 host addresses are
 * skipped (the embedded networks are IPv4-only), as Docker skips them where IPv6 is off.
 */
export function parsePortBindings(
  bindings:
    | Readonly<Record<string, readonly { readonly HostIp?: string; readonly HostPort?: string }[] | null>>
    | undefined,
): PortRequest[] {
  const out: PortRequest[] = [];
  for (const [key, list] of Object.entries(bindings ?? {})) {
    const [portText = "", protoText = "tcp", ...rest] = key.split("/");
    if (rest.length > 0 || (protoText !== "tcp" && protoText !== "udp"))
      throw invalid(`invalid port "${key}": expected <port>[/tcp|/udp] (sctp is not supported)`);
    const containerPort = parsePort(portText, `container port in "${key}"`);
    for (const b of list ?? [{}]) {
      const hostIp = b.HostIp === undefined || b.HostIp === "" ? "0.0.0.0" : b.HostIp;
      if (hostIp.includes(":")) continue;
      if (parseIpv4(hostIp) === undefined) throw invalid(`invalid host IP "${hostIp}" for port ${key}`);
      const hp = b.HostPort ?? "";
      let hostPorts: [number, number];
      if (hp === "" || hp === "0") hostPorts = [0, 0];
      else if (hp.includes("-")) {
        const [a = "", z = ""] = hp.split("-");
        hostPorts = [parsePort(a, `host port range "${hp}"`), parsePort(z, `host port range "${hp}"`)];
        if (hostPorts[0] > hostPorts[1]) throw invalid(`invalid host port range "${hp}"`);
      } else {
        const p = parsePort(hp, `host port for ${key}`);
        hostPorts = [p, p];
      }
      out.push({ proto: protoText, containerPort, hostIp, hostPorts });
    }
  }
  return out;
}

/** A bound socket holding a host port. */
export interface PortHold {
  readonly mapping: PortMapping;
  close(): Promise<void>;
}

/** Binds `proto` ip:port (0 = the kernel picks); rejects with the socket error (EADDRINUSE, …). */
export async function holdPort(
  proto: Proto,
  hostIp: string,
  port: number,
): Promise<{ port: number; close: () => Promise<void> }> {
  if (proto === "tcp") {
    const server: Server = createServer((c) => c.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: hostIp, port, exclusive: true }, () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.unref();
    const addr = server.address();
    return {
      port: typeof addr === "object" && addr !== null ? addr.port : port,
      close: () =>
        new Promise((r) =>
          server.close(() => {
            r();
          }),
        ),
    };
  }
  const sock: UdpSocket = createSocket("udp4");
  await new Promise<void>((resolve, reject) => {
    sock.once("error", reject);
    sock.bind({ address: hostIp, port, exclusive: true }, () => {
      sock.off("error", reject);
      resolve();
    });
  });
  sock.on("message", () => undefined);
  sock.unref();
  return {
    port: sock.address().port,
    close: () =>
      new Promise((r) => {
        try {
          sock.close(() => {
            r();
          });
        } catch {
          r();
        }
      }),
  };
}

/** Docker's `NetworkSettings.Ports` and `ps` forms. */
export function portsSettings(
  mappings: readonly PortMapping[],
  exposed: readonly string[],
): Record<string, { HostIp: string; HostPort: string }[] | null> {
  const out: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
  for (const e of exposed) out[e.includes("/") ? e : `${e}/tcp`] = null;
  for (const m of mappings) {
    const key = `${m.containerPort}/${m.proto}`;
    const list = out[key] ?? [];
    list.push({ HostIp: m.hostIp, HostPort: String(m.hostPort) });
    out[key] = list;
  }
  return out;
}
