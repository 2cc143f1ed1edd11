import { describe, expect, it } from "vitest";
import { formatCidr, formatIpv4, macForIpv4, parseCidr, parseIpv4 } from "../../../src/network/addr.js";
import { Ipam, pickSubnet } from "../../../src/network/ipam.js";

function ipam(subnet: string, opts: { gateway?: string; range?: string } = {}): Ipam {
  const s = parseCidr(subnet);
  return new Ipam(
    {
      subnet: s,
      gateway: parseIpv4(opts.gateway ?? "") ?? s.base + 1,
      ...(opts.range !== undefined ? { range: parseCidr(opts.range) } : {}),
    },
    "test",
  );
}

describe("IPv4 addresses", () => {
  it.each([
    ["10.0.0.0/24", "10.0.0.0/24"],
    ["192.168.1.0/30", "192.168.1.0/30"],
    ["0.0.0.0/0", "0.0.0.0/0"],
  ])("parses and formats %s", (text, out) => {
    expect(formatCidr(parseCidr(text))).toBe(out);
  });

  it.each(["10.0.0.1/24", "10.0.0.0", "10.0.0.0/33", "300.0.0.0/8", "a.b.c.d/8", "10.0.0.0/24/1"])(
    "refuses %s as a subnet",
    (text) => {
      expect(() => parseCidr(text)).toThrow(expect.objectContaining({ code: "network/invalid-config" }));
    },
  );

  it("derives Docker's MAC from an address", () => {
    expect(macForIpv4(parseIpv4("172.17.0.2") ?? 0)).toBe("02:42:ac:11:00:02");
  });
});

describe("Ipam", () => {
  it("hands out addresses after the gateway in order, skipping taken ones", () => {
    const a = ipam("10.1.0.0/24");
    expect(formatIpv4(a.allocate())).toBe("10.1.0.2");
    a.claim(parseIpv4("10.1.0.3") ?? 0);
    expect(formatIpv4(a.allocate())).toBe("10.1.0.4");
  });

  it("reuses a released address only after going round", () => {
    const a = ipam("10.1.0.0/29"); // hosts .1-.6, gateway .1
    const first = a.allocate();
    a.allocate();
    a.release(first);
    expect(formatIpv4(a.allocate())).toBe("10.1.0.4");
    expect(a.allocated.map(formatIpv4)).toEqual(["10.1.0.3", "10.1.0.4"]);
  });

  it("honours a static address and refuses it twice, or outside the subnet, or the gateway", () => {
    const a = ipam("10.1.0.0/24");
    expect(formatIpv4(a.allocate("10.1.0.50"))).toBe("10.1.0.50");
    expect(() => a.allocate("10.1.0.50")).toThrow(
      expect.objectContaining({ code: "network/address-in-use" }),
    );
    expect(() => a.allocate("10.2.0.50")).toThrow(
      expect.objectContaining({ code: "network/invalid-config" }),
    );
    expect(() => a.allocate("10.1.0.1")).toThrow(/gateway/);
    expect(() => a.allocate("10.1.0.255")).toThrow(
      expect.objectContaining({ code: "network/invalid-config" }),
    );
    expect(() => a.allocate("not-an-ip")).toThrow(
      expect.objectContaining({ code: "network/invalid-config" }),
    );
  });

  it("allocates dynamically only from the IP range, statically from the whole subnet", () => {
    const a = ipam("10.1.0.0/24", { range: "10.1.0.128/30" });
    expect([a.allocate(), a.allocate(), a.allocate(), a.allocate()].map(formatIpv4)).toEqual([
      "10.1.0.128",
      "10.1.0.129",
      "10.1.0.130",
      "10.1.0.131",
    ]);
    expect(() => a.allocate()).toThrow(expect.objectContaining({ code: "network/exhausted" }));
    expect(formatIpv4(a.allocate("10.1.0.9"))).toBe("10.1.0.9");
  });

  it("reports exhaustion, and recovers after a release", () => {
    const a = ipam("10.1.0.0/30"); // one host address besides the gateway
    const only = a.allocate();
    expect(formatIpv4(only)).toBe("10.1.0.2");
    expect(() => a.allocate()).toThrow(expect.objectContaining({ code: "network/exhausted" }));
    a.release(only);
    expect(formatIpv4(a.allocate())).toBe("10.1.0.2");
  });

  it("refuses a gateway outside the subnet and a range outside it", () => {
    expect(() => ipam("10.1.0.0/24", { gateway: "10.2.0.1" })).toThrow(/gateway/);
    expect(() => ipam("10.1.0.0/24", { range: "10.1.1.0/28" })).toThrow(/IP range/);
    expect(() => ipam("10.1.0.0/31")).toThrow(/too small/);
  });
});

describe("pickSubnet", () => {
  const pool = parseCidr("10.213.0.0/16");
  it.each([
    [[], "10.213.0.0/24"],
    [["10.213.0.0/24", "10.213.1.0/24"], "10.213.2.0/24"],
    [["10.213.0.0/23"], "10.213.2.0/24"],
    [["10.213.0.128/25"], "10.213.1.0/24"],
    [["10.0.0.0/8"], undefined],
  ] as const)("with %j taken picks %s", (used, expected) => {
    const got = pickSubnet(
      pool,
      24,
      used.map((u) => parseCidr(u)),
    );
    expect(got === undefined ? undefined : formatCidr(got)).toBe(expected);
  });
});
