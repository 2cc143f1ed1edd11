import { describe, expect, it } from "vitest";
import { parseChunkedBody } from "../../../src/api/context.js";

describe("parseChunkedBody", () => {
  it("reads the empty body docker-modem sends with an upgrade", () => {
    expect(parseChunkedBody(Buffer.from("0\r\n\r\nstdin!"), 100)).toEqual({
      body: Buffer.alloc(0),
      consumed: 5,
    });
  });

  it("reads chunks, extensions and trailers, and says where the body ends", () => {
    const wire = Buffer.from('5;ext=1\r\n{"Det\r\nb\r\nach":false}\r\n0\r\nX-Trailer: y\r\n\r\nrest');
    const parsed = parseChunkedBody(wire, 100);
    expect(parsed?.body.toString()).toBe('{"Detach":false}');
    expect(wire.subarray(parsed?.consumed).toString()).toBe("rest");
  });

  it("asks for more input when the body is incomplete", () => {
    const wire = Buffer.from("5\r\nhello\r\n0\r\n\r\n");
    for (let cut = 0; cut < wire.length; cut++)
      expect(parseChunkedBody(wire.subarray(0, cut), 100)).toBeUndefined();
  });

  it("refuses malformed chunks and bodies over the limit", () => {
    expect(() => parseChunkedBody(Buffer.from("zz\r\n"), 100)).toThrow(/bad chunk size/);
    expect(() => parseChunkedBody(Buffer.from("3\r\nabcX\r\n"), 100)).toThrow(/CRLF/);
    expect(() => parseChunkedBody(Buffer.from("ff\r\n"), 100)).toThrow(/exceeds 100 bytes/);
  });
});
