/**
 * Bridge networks with the real engine: bridges, veths, network namespaces, iptables and the embedded
 * DNS server. Traffic goes only to loopback and to addresses inside the bridges each test created.
 */
import { createServer } from "node:net";
import { createSocket } from "node:dgram";
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { encodeQuery, parseMessage, rcodeOf, RCODE_NXDOMAIN } from "../../../src/network/dns-codec.js";
import { EmbeddedRuntime } from "../../../src/runtime/embedded.js";
import { canRunContainers, eventually } from "../../helpers/engine.js";
import { execIn, networkLeftovers, removeEverything, runBusybox, useNetworkEngines } from "./helpers.js";

const HTTPD = [
  "sh",
  "-c",
  "mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www",
];

/** An HTTP GET over busybox nc (busybox 1.35's `wget -T` crashes): the raw response, or "" when unreachable. */
function ncGet(host: string): string[] {
  return ["sh", "-c", `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${host} 80`];
}

async function httpGet(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return res.text();
}

/** Asks the DNS server at `server` directly (from the host) for `name`'s A records. */
async function queryA(server: string, name: string): Promise<{ rcode: number; ips: string[] }> {
  const sock = createSocket("udp4");
  try {
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`no DNS answer from ${server} for ${name}`));
      }, 3000);
      sock.on("message", (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      sock.send(encodeQuery(4242, name), 53, server);
    });
    const msg = parseMessage(reply);
    return { rcode: rcodeOf(msg.flags), ips: msg.answers.map((a) => a.data) };
  } finally {
    sock.close();
  }
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const addr = s.address();
  await new Promise<void>((r) =>
    s.close(() => {
      r();
    }),
  );
  return typeof addr === "object" && addr !== null ? addr.port : 0;
}

describe.runIf(canRunContainers)("bridge networks (embedded engine)", () => {
  const engines = useNetworkEngines();

  it("lets two containers on one network resolve each other by name and exchange data", async () => {
    const { engine } = await engines();
    await engine.createNetwork({ Name: "app" });
    await runBusybox(engine, {
      name: "web",
      Hostname: "web",
      Cmd: HTTPD,
      HostConfig: { NetworkMode: "app" },
    });
    const client = await runBusybox(engine, { name: "client", HostConfig: { NetworkMode: "app" } });
    const lookup = await execIn(engine, client, ["nslookup", "web"]);
    expect(lookup.code).toBe(0);
    const webIp = (await engine.getContainer("web").inspect()).NetworkSettings.IPAddress;
    expect(lookup.stdout).toContain(webIp);
    const got = await eventually(async () => {
      const r = await execIn(engine, client, ["wget", "-q", "-O", "-", "http://web/"]);
      return r.code === 0 ? r.stdout : undefined;
    });
    expect(got).toBe("hello-from-web\n");
    // And the other way round, over nc.
    const back = await execIn(engine, "web", ["sh", "-c", "echo ping | nc -w 2 client 9 ; nslookup client"]);
    expect(back.stdout).toContain((await engine.getContainer("client").inspect()).NetworkSettings.IPAddress);
  });

  it("keeps a container on another network from resolving or reaching them", async () => {
    const { engine } = await engines();
    await engine.createNetwork({ Name: "app" });
    await engine.createNetwork({ Name: "other" });
    await runBusybox(engine, { name: "web", Cmd: HTTPD, HostConfig: { NetworkMode: "app" } });
    const outsider = await runBusybox(engine, { name: "outsider", HostConfig: { NetworkMode: "other" } });
    const webIp = (await engine.getContainer("web").inspect()).NetworkSettings.IPAddress;
    const lookup = await execIn(engine, outsider, ["nslookup", "web"]);
    expect(lookup.code).not.toBe(0);
    expect(`${lookup.stdout}${lookup.stderr}`).toMatch(/NXDOMAIN|can't find/i);
    const reach = await execIn(engine, outsider, ncGet(webIp));
    expect(reach.stdout).not.toContain("hello-from");
    // While a container on web's network gets through.
    const insider = await runBusybox(engine, { name: "insider", HostConfig: { NetworkMode: "app" } });
    const ok = await eventually(async () =>
      (await execIn(engine, insider, ncGet(webIp))).stdout.includes("hello-from"),
    );
    expect(ok).toBe(true);
  });

  it("gives a container on an internal network no default route", async () => {
    const { engine } = await engines();
    await engine.createNetwork({ Name: "backend", Internal: true });
    const id = await runBusybox(engine, { name: "db", HostConfig: { NetworkMode: "backend" } });
    const routes = await execIn(engine, id, ["ip", "route"]);
    expect(routes.code).toBe(0);
    expect(routes.stdout).not.toContain("default");
    expect(routes.stdout).toContain("eth0");
    const net = await engine.inspectNetwork("backend");
    expect(net.Internal).toBe(true);
    expect(net.Containers[id]?.Name).toBe("db");
  });

  it("answers a published port on 127.0.0.1 and on the host's own address in the bridge", async () => {
    const { engine } = await engines();
    await engine.createNetwork({ Name: "app" });
    const fixed = await freePort();
    const id = await runBusybox(engine, {
      name: "web",
      Hostname: "web",
      Cmd: HTTPD,
      ExposedPorts: { "80/tcp": {} },
      HostConfig: {
        NetworkMode: "app",
        PortBindings: { "80/tcp": [{ HostPort: "" }, { HostIp: "127.0.0.1", HostPort: String(fixed) }] },
      },
    });
    const s = (await engine.getContainer(id).inspect()).NetworkSettings;
    const bindings = s.Ports["80/tcp"] ?? [];
    expect(bindings).toHaveLength(2);
    const random = Number(bindings[0]?.HostPort);
    expect(random).toBeGreaterThan(0);
    expect(bindings[1]).toEqual({ HostIp: "127.0.0.1", HostPort: String(fixed) });
    expect(await eventually(() => httpGet(`http://127.0.0.1:${random}/`).catch(() => undefined))).toBe(
      "hello-from-web\n",
    );
    expect(await httpGet(`http://${s.Gateway}:${random}/`)).toBe("hello-from-web\n");
    expect(await httpGet(`http://127.0.0.1:${fixed}/`)).toBe("hello-from-web\n");
    // Bound to 127.0.0.1 only: not on the bridge address.
    await expect(httpGet(`http://${s.Gateway}:${fixed}/`)).rejects.toThrow();
    const [summary] = await engine.listContainers({ filters: { id: [id] } });
    expect(summary?.Ports).toEqual(
      expect.arrayContaining([
        { IP: "0.0.0.0", PrivatePort: 80, PublicPort: random, Type: "tcp" },
        { IP: "127.0.0.1", PrivatePort: 80, PublicPort: fixed, Type: "tcp" },
      ]),
    );
  });

  it("leaves a container with network_mode none only its loopback interface", async () => {
    const { engine } = await engines();
    const id = await runBusybox(engine, { name: "alone", HostConfig: { NetworkMode: "none" } });
    const links = await execIn(engine, id, ["ip", "-o", "link"]);
    expect(
      links.stdout
        .trim()
        .split("\n")
        .map((l) => l.split(": ")[1]),
    ).toEqual(["lo"]);
    expect((await engine.getContainer(id).inspect()).NetworkSettings.Networks).toEqual({});
  });

  it("returns every replica of a service from DNS, rotating the order", async () => {
    const { engine } = await engines();
    await engine.createNetwork({ Name: "app" });
    const ips: string[] = [];
    for (const n of [1, 2, 3]) {
      const id = await runBusybox(engine, {
        name: `stack-api-${n}`,
        Labels: { "com.docker.compose.service": "api" },
        HostConfig: { NetworkMode: "app" },
      });
      ips.push((await engine.getContainer(id).inspect()).NetworkSettings.IPAddress);
    }
    const gw = (await engine.inspectNetwork("app")).IPAM.Config[0]?.Gateway ?? "";
    const first = await queryA(gw, "api");
    expect([...first.ips].sort()).toEqual([...ips].sort());
    const second = await queryA(gw, "API.");
    expect([...second.ips].sort()).toEqual([...ips].sort());
    expect(second.ips[0]).not.toBe(first.ips[0]);
    expect((await queryA(gw, "stack-api-2")).ips).toEqual([ips[1]]);
    expect((await queryA(gw, "nosuchservice")).rcode).toBe(RCODE_NXDOMAIN);
    const fromInside = await execIn(engine, "stack-api-1", ["nslookup", "api"]);
    for (const ip of ips) expect(fromInside.stdout).toContain(ip);
  });

  it("honours a static address and refuses one that is taken", async () => {
    const { engine } = await engines();
    await engine.createNetwork({ Name: "app" });
    const subnet = (await engine.inspectNetwork("app")).IPAM.Config[0]?.Subnet ?? "";
    const ip = subnet.replace(/\.0\/24$/, ".50");
    const id = await runBusybox(engine, {
      name: "fixed",
      HostConfig: { NetworkMode: "app" },
      NetworkingConfig: {
        EndpointsConfig: { app: { IPAMConfig: { IPv4Address: ip }, Aliases: ["db-primary"] } },
      },
    });
    expect((await engine.getContainer(id).inspect()).NetworkSettings.Networks["app"]).toMatchObject({
      IPAddress: ip,
      Aliases: ["db-primary"],
    });
    expect((await execIn(engine, id, ["ip", "-4", "-o", "addr", "show", "eth0"])).stdout).toContain(
      `${ip}/24`,
    );
    const other = await runBusybox(engine, { name: "asker", HostConfig: { NetworkMode: "app" } });
    expect((await execIn(engine, other, ["nslookup", "db-primary"])).stdout).toContain(ip);
    const dup = await engine.createContainer({
      Image: "busybox:latest",
      Cmd: ["sleep", "600"],
      HostConfig: { NetworkMode: "app" },
      NetworkingConfig: { EndpointsConfig: { app: { IPAMConfig: { IPv4Address: ip } } } },
    });
    await expect(dup.start()).rejects.toMatchObject({ code: "network/address-in-use" });
  });

  it("fails a start whose host port is taken, naming the holder, with nothing left wired", async () => {
    const { engine, prefix, chains } = await engines();
    await engine.createNetwork({ Name: "app" });
    const port = await freePort();
    const holder = await runBusybox(engine, {
      name: "holder",
      Cmd: HTTPD,
      HostConfig: { NetworkMode: "app", PortBindings: { "80/tcp": [{ HostPort: String(port) }] } },
    });
    const before = networkLeftovers(prefix, chains);
    const late = await engine.createContainer({
      name: "late",
      Image: "busybox:latest",
      Cmd: ["sleep", "600"],
      HostConfig: { NetworkMode: "app", PortBindings: { "8080/tcp": [{ HostPort: String(port) }] } },
    });
    const err = await late.start().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "network/port-in-use" });
    expect((err as Error).message).toContain(`0.0.0.0:${port}/tcp`);
    expect((err as Error).message).toContain("holder");
    expect(networkLeftovers(prefix, chains)).toEqual(before);
    expect((await late.inspect()).State.Status).not.toBe("running");
    expect(Object.keys((await engine.inspectNetwork("app")).Containers)).toEqual([holder]);
    // A port held by another program is refused the same way.
    const foreign = createServer();
    const other = await freePort();
    await new Promise<void>((r) => foreign.listen(other, "127.0.0.1", r));
    try {
      const c = await engine.createContainer({
        Image: "busybox:latest",
        Cmd: ["sleep", "600"],
        HostConfig: { NetworkMode: "app", PortBindings: { "80/tcp": [{ HostPort: String(other) }] } },
      });
      await expect(c.start()).rejects.toMatchObject({
        code: "network/port-in-use",
        message: expect.stringContaining("another program") as unknown,
      });
      expect(networkLeftovers(prefix, chains)).toEqual(before);
    } finally {
      foreign.close();
    }
  });

  it("attaches a container to several networks and resolves names on each", async () => {
    const { engine } = await engines();
    await engine.createNetwork({ Name: "front" });
    await engine.createNetwork({ Name: "back" });
    const a = await runBusybox(engine, { name: "a", HostConfig: { NetworkMode: "front" } });
    const b = await runBusybox(engine, { name: "b", HostConfig: { NetworkMode: "back" } });
    const both = await runBusybox(engine, {
      name: "both",
      HostConfig: { NetworkMode: "front" },
      NetworkingConfig: { EndpointsConfig: { front: {}, back: { Aliases: ["gateway-svc"] } } },
    });
    const links = await execIn(engine, both, ["ip", "-o", "-4", "addr"]);
    expect(links.stdout).toContain("eth0");
    expect(links.stdout).toContain("eth1");
    for (const [name, id] of [
      ["a", a],
      ["b", b],
    ] as const) {
      const r = await execIn(engine, both, ["nslookup", name]);
      expect(r.stdout).toContain((await engine.getContainer(id).inspect()).NetworkSettings.IPAddress);
    }
    const fromB = await execIn(engine, b, ["nslookup", "gateway-svc"]);
    expect(fromB.stdout).toContain(
      (await engine.getContainer(both).inspect()).NetworkSettings.Networks["back"]?.IPAddress,
    );
    expect((await execIn(engine, a, ["nslookup", "gateway-svc"])).code).not.toBe(0);
  });

  it("shares a running container's namespace with network_mode container:<name>", async () => {
    const { engine } = await engines();
    await engine.createNetwork({ Name: "app" });
    const main = await runBusybox(engine, { name: "main", HostConfig: { NetworkMode: "app" } });
    const side = await runBusybox(engine, { name: "side", HostConfig: { NetworkMode: "container:main" } });
    const ip = (await engine.getContainer(main).inspect()).NetworkSettings.IPAddress;
    expect((await execIn(engine, side, ["ip", "-4", "-o", "addr"])).stdout).toContain(ip);
  });

  it("removes everything it made when containers and networks are removed", async () => {
    const { engine, prefix, chains } = await engines();
    const { Id } = await engine.createNetwork({ Name: "app", Labels: { "com.docker.compose.project": "t" } });
    expect(Id).toMatch(/^[0-9a-f]{64}$/);
    await engine.createNetwork({ Name: "backend", Internal: true });
    const web = await runBusybox(engine, {
      name: "web",
      Cmd: HTTPD,
      HostConfig: { NetworkMode: "app", PortBindings: { "80/tcp": [{}], "53/udp": [{}] } },
      NetworkingConfig: { EndpointsConfig: { backend: {} } },
    });
    expect(networkLeftovers(prefix, chains).length).toBeGreaterThan(0);
    await expect(engine.removeNetwork("app")).rejects.toMatchObject({ code: "network/in-use" });
    expect(
      (await engine.listNetworks({ filters: { label: ["com.docker.compose.project=t"] } })).map(
        (n) => n.Name,
      ),
    ).toEqual(["app"]);
    await engine.getContainer(web).stop({ t: 0 });
    // Stopped: endpoints gone, networks still there.
    const left = networkLeftovers(prefix, chains);
    expect(left.filter((l) => l.startsWith("netns") || /link \w+v/.test(l))).toEqual([]);
    await engine.getContainer(web).remove();
    expect((await engine.pruneNetworks()).NetworksDeleted.sort()).toEqual(["app", "backend"]);
    expect(networkLeftovers(prefix, chains)).toEqual([]);
    expect(await engine.listNetworks()).toEqual([]);
  });

  it("restores DNS and published ports of running containers after an engine restart", async () => {
    const { engine, root, runRoot, network } = await engines();
    await engine.createNetwork({ Name: "app" });
    const web = await runBusybox(engine, {
      name: "web",
      Hostname: "web",
      Cmd: HTTPD,
      HostConfig: { NetworkMode: "app", PortBindings: { "80/tcp": [{}] } },
    });
    const port =
      (await engine.getContainer(web).inspect()).NetworkSettings.Ports["80/tcp"]?.[0]?.HostPort ?? "";
    await engine.close();
    const again = await EmbeddedRuntime.open({ root, runRoot, exitPollMs: 200, network });
    try {
      const s = (await again.getContainer(web).inspect()).NetworkSettings;
      expect(s.Ports["80/tcp"]?.[0]?.HostPort).toBe(port);
      expect((await queryA(s.Gateway, "web")).ips).toEqual([s.IPAddress]);
      expect(await eventually(() => httpGet(`http://127.0.0.1:${port}/`).catch(() => undefined))).toBe(
        "hello-from-web\n",
      );
      expect(existsSync(`/run/netns/${network.bridgePrefix}-${web.slice(0, 12)}`)).toBe(true);
    } finally {
      await removeEverything(again);
      await again.close();
    }
  });

  it("refuses IPv6, unknown drivers, duplicate names and overlapping subnets", async () => {
    const { engine } = await engines();
    await expect(engine.createNetwork({ Name: "v6", EnableIPv6: true })).rejects.toMatchObject({
      code: "network/invalid-config",
    });
    await expect(engine.createNetwork({ Name: "ov", Driver: "overlay" })).rejects.toMatchObject({
      code: "network/invalid-config",
    });
    await engine.createNetwork({ Name: "app" });
    await expect(engine.createNetwork({ Name: "app" })).rejects.toMatchObject({ code: "network/conflict" });
    const subnet = (await engine.inspectNetwork("app")).IPAM.Config[0]?.Subnet ?? "";
    await expect(
      engine.createNetwork({ Name: "clash", IPAM: { Config: [{ Subnet: subnet }] } }),
    ).rejects.toMatchObject({ code: "network/conflict" });
    await expect(
      engine.createContainer({ Image: "busybox:latest", HostConfig: { NetworkMode: "nope" } }),
    ).rejects.toMatchObject({ code: "network/not-found" });
  });
});
