import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeFrame, FrameDecoder, StreamId, type Frame } from "../../../src/api/framing.js";
import { TsstackError } from "../../../src/common/errors.js";

describe("multiplexed stream framing", () => {
  it("encodes Docker's 8-byte header: stream id, three zeros, big-endian length", () => {
    expect(encodeFrame(StreamId.stderr, "hi\n").toString("hex")).toBe("0200000000000003" + "68690a");
    expect(encodeFrame(StreamId.stdout, Buffer.alloc(0)).toString("hex")).toBe("0100000000000000");
    expect(encodeFrame(StreamId.stdout, Buffer.alloc(0x10203)).subarray(0, 8).toString("hex")).toBe(
      "0100000000010203",
    );
  });

  it("decodes frames split at every possible chunk boundary", () => {
    const wire = Buffer.concat([
      encodeFrame(StreamId.stdout, "hello"),
      encodeFrame(StreamId.stderr, "err\n"),
    ]);
    for (let cut = 0; cut <= wire.length; cut++) {
      const d = new FrameDecoder();
      const frames = [...d.push(wire.subarray(0, cut)), ...d.push(wire.subarray(cut))];
      d.end();
      expect(frames).toEqual([
        { stream: StreamId.stdout, payload: Buffer.from("hello") },
        { stream: StreamId.stderr, payload: Buffer.from("err\n") },
      ]);
    }
  });

  it("round-trips any sequence of frames in any chunking", () => {
    const frame = fc.record({
      stream: fc.constantFrom(StreamId.stdout, StreamId.stderr, StreamId.systemerr),
      payload: fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
    });
    fc.assert(
      fc.property(
        fc.array(frame, { maxLength: 8 }),
        fc.array(fc.nat(40), { maxLength: 10 }),
        (frames, cuts) => {
          const wire = Buffer.concat(frames.map((f) => encodeFrame(f.stream, f.payload)));
          const d = new FrameDecoder();
          const out: Frame[] = [];
          let at = 0;
          for (const n of cuts) {
            out.push(...d.push(wire.subarray(at, at + n)));
            at = Math.min(wire.length, at + n);
          }
          out.push(...d.push(wire.subarray(at)));
          d.end();
          expect(out).toEqual(frames);
        },
      ),
    );
  });

  it("rejects a header that is not a frame (raw TTY output read as multiplexed)", () => {
    expect(() => new FrameDecoder().push(Buffer.from("hello world\n"))).toThrow(TsstackError);
  });

  it("rejects input that ends inside a frame", () => {
    const d = new FrameDecoder();
    d.push(encodeFrame(StreamId.stdout, "abcdef").subarray(0, 10));
    expect(() => {
      d.end();
    }).toThrow(/ended inside a frame/);
  });
});
