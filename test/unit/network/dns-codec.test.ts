import { createSocket } from "node:dgram";
import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import {
  encodeQuery,
  encodeResponse,
  parseMessage,
  rcodeOf,
  RCODE_NOERROR,
  RCODE_NXDOMAIN,
  RCODE_SERVFAIL,
  TYPE_A,
  TYPE_AAAA,
} from "../../../src/network/dns-codec.js";
import { DnsServer, nameserversOf } from "../../../src/network/dns-server.js";

describe("DNS message codec", () => {
  it("round-trips a query", () => {
    const q = parseMessage(encodeQuery(7, "Web.Example.", TYPE_AAAA));
    expect(q).toMatchObject({
      id: 7,
      questions: [{ name: "web.example", type: TYPE_AAAA, class: 1 }],
      answers: [],
    });
    expect(q.flags & 0x0100).toBe(0x0100);
  });

  it.each([
    ["no answers", [], RCODE_NXDOMAIN],
    ["one answer", ["10.0.0.2"], RCODE_NOERROR],
    ["three answers", ["10.0.0.2", "10.0.0.3", "10.0.0.4"], RCODE_NOERROR],
  ])("encodes a response with %s", (_what, addresses, rcode) => {
    const query = parseMessage(encodeQuery(99, "api"));
    const r = parseMessage(encodeResponse(query, { rcode, addresses, authoritative: true, ttl: 30 }));
    expect(r.id).toBe(99);
    expect(rcodeOf(r.flags)).toBe(rcode);
    expect(r.flags & 0x8000).toBe(0x8000);
    expect(r.flags & 0x0400).toBe(0x0400);
    expect(r.questions).toEqual([{ name: "api", type: TYPE_A, class: 1 }]);
    expect(r.answers.map((a) => [a.name, a.type, a.ttl, a.data])).toEqual(
      addresses.map((ip) => ["api", TYPE_A, 30, ip]),
    );
  });

  it("truncates at the UDP limit and sets TC", () => {
    const query = parseMessage(encodeQuery(1, "many"));
    const addresses = Array.from({ length: 100 }, (_, i) => `10.0.${i >> 8}.${i & 255}`);
    const buf = encodeResponse(query, { rcode: RCODE_NOERROR, addresses, maxSize: 512 });
    expect(buf.length).toBeLessThanOrEqual(512);
    const r = parseMessage(buf);
    expect(r.flags & 0x0200).toBe(0x0200);
    expect(r.answers.length).toBeGreaterThan(20);
  });

  it.each([
    ["a short header", Buffer.from([1, 2, 3])],
    ["a name past the end", Buffer.concat([encodeQuery(1, "x").subarray(0, 12), Buffer.from([5, 97])])],
    [
      "a compression loop",
      Buffer.concat([Buffer.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), Buffer.from([0xc0, 12, 0, 1, 0, 1])]),
    ],
  ])("refuses %s", (_what, buf) => {
    expect(() => parseMessage(buf)).toThrow(expect.objectContaining({ code: "dns/malformed" }));
  });

  it("reads nameservers from resolv.conf text", () => {
    expect(
      nameserversOf("# c\nnameserver 10.0.0.1\nnameserver ::1\nsearch x\n nameserver 127.0.0.53 \n"),
    ).toEqual(["10.0.0.1", "127.0.0.53"]);
  });
});

describe("DNS server", () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of closers.splice(0)) await c();
  });

  async function ask(port: number, name: string, type = TYPE_A): Promise<ReturnType<typeof parseMessage>> {
    const sock = createSocket("udp4");
    try {
      return await new Promise((resolve, reject) => {
        const t = setTimeout(() => {
          reject(new Error("no answer"));
        }, 5000);
        sock.on("message", (m) => {
          clearTimeout(t);
          resolve(parseMessage(m));
        });
        sock.send(encodeQuery(1234, name, type), port, "127.0.0.1");
      });
    } finally {
      sock.close();
    }
  }

  async function start(upstreams: string[]): Promise<DnsServer> {
    const server = await DnsServer.start({
      address: "127.0.0.1",
      port: 0,
      log: () => undefined,
      forwardTimeoutMs: 300,
      resolver: {
        lookup: (name) => (name === "web" ? ["10.9.0.2", "10.9.0.3"] : name === "v6only" ? [] : undefined),
        upstreams: () => upstreams,
      },
    });
    closers.push(() => server.close());
    return server;
  }

  it("answers known names, AAAA with nothing, unknown single labels with NXDOMAIN", async () => {
    const s = await start([]);
    const a = await ask(s.port, "WEB.");
    expect(rcodeOf(a.flags)).toBe(RCODE_NOERROR);
    expect(a.answers.map((r) => r.data)).toEqual(["10.9.0.2", "10.9.0.3"]);
    const aaaa = await ask(s.port, "web", TYPE_AAAA);
    expect([rcodeOf(aaaa.flags), aaaa.answers]).toEqual([RCODE_NOERROR, []]);
    expect(rcodeOf((await ask(s.port, "nope")).flags)).toBe(RCODE_NXDOMAIN);
  });

  it("forwards other names upstream, and fails them with SERVFAIL when nobody answers", async () => {
    const upstream = createSocket("udp4");
    await new Promise<void>((r) => upstream.bind(0, "127.0.0.1", r));
    closers.push(
      () =>
        new Promise((r) =>
          upstream.close(() => {
            r();
          }),
        ),
    );
    upstream.on("message", (m, rinfo) => {
      upstream.send(
        encodeResponse(parseMessage(m), { rcode: RCODE_NOERROR, addresses: ["192.0.2.80"] }),
        rinfo.port,
        rinfo.address,
      );
    });
    const s = await start([`127.0.0.1:${upstream.address().port}`]);
    expect((await ask(s.port, "example.org")).answers.map((r) => r.data)).toEqual(["192.0.2.80"]);
    const dead = await start(["127.0.0.1:9"]);
    expect(rcodeOf((await ask(dead.port, "example.org")).flags)).toBe(RCODE_SERVFAIL);
  });

  it("answers over TCP with length-prefixed messages", async () => {
    const s = await start([]);
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const sock = connect(s.port, "127.0.0.1");
      const q = encodeQuery(5, "web");
      const len = Buffer.alloc(2);
      len.writeUInt16BE(q.length, 0);
      let got = Buffer.alloc(0);
      sock.on("data", (d: Buffer) => {
        got = Buffer.concat([got, d]);
        if (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) {
          sock.end();
          resolve(got.subarray(2));
        }
      });
      sock.on("error", reject);
      sock.write(Buffer.concat([len, q]));
    });
    expect(parseMessage(reply).answers.map((r) => r.data)).toEqual(["10.9.0.2", "10.9.0.3"]);
  });
});
