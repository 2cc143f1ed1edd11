import { describe, expect, it } from "vitest";
import {
  encodeFilters,
  eventMatches,
  labelMatches,
  parseFilters,
  queryBool,
  queryInt,
  queryTime,
} from "../../../src/api/filters.js";
import { HttpError } from "../../../src/api/errors.js";
import type { RuntimeEvent } from "../../../src/runtime/runtime.js";

describe("parseFilters", () => {
  it.each([
    ["absent", undefined, {}],
    ["empty", "", {}],
    [
      "current encoding",
      '{"label":["a=b","c"],"status":["running"]}',
      { label: ["a=b", "c"], status: ["running"] },
    ],
    ["legacy map encoding", '{"label":{"a=b":true},"name":{"web":true}}', { label: ["a=b"], name: ["web"] }],
  ])("reads %s", (_what, raw, expected) => {
    expect(parseFilters(raw)).toEqual(expected);
  });

  it.each([
    ["not JSON", "{label"],
    ["not an object", '["label"]'],
    ["values not strings", '{"label":[1]}'],
    ["a bare string value", '{"label":"a"}'],
  ])("refuses %s with a 400", (_what, raw) => {
    const error = (() => {
      try {
        parseFilters(raw);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).status).toBe(400);
  });

  it("encodes the current form and omits empty filters", () => {
    expect(encodeFilters({ label: ["a"], name: [] })).toBe('{"label":["a"]}');
    expect(encodeFilters({ name: [] })).toBeUndefined();
    expect(encodeFilters(undefined)).toBeUndefined();
  });
});

describe("query values", () => {
  const q = new URLSearchParams(
    "a=1&b=true&c=0&d=false&e=no&f=&g=none&h=yes&n=12&bad=1x&t=1700000000.5&r=2024-01-01T00:00:00Z",
  );

  it("reads booleans as Docker does", () => {
    expect(["a", "b", "h"].map((k) => queryBool(q, k))).toEqual([true, true, true]);
    expect(["c", "d", "e", "f", "g"].map((k) => queryBool(q, k))).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
    expect(queryBool(q, "absent")).toBe(false);
    expect(queryBool(q, "absent", true)).toBe(true);
  });

  it("reads integers and refuses anything else", () => {
    expect(queryInt(q, "n")).toBe(12);
    expect(queryInt(q, "absent")).toBeUndefined();
    expect(() => queryInt(q, "bad")).toThrow(/not an integer/);
  });

  it("reads times as Unix seconds or RFC 3339", () => {
    expect(queryTime(q, "t")).toBe(1_700_000_000.5);
    expect(queryTime(q, "r")).toBe(1_704_067_200);
    expect(() => queryTime(q, "bad")).toThrow(/Unix seconds/);
  });
});

describe("label and event filters", () => {
  it("matches labels by key or key=value", () => {
    expect(labelMatches({ a: "b" }, "a")).toBe(true);
    expect(labelMatches({ a: "b" }, "a=b")).toBe(true);
    expect(labelMatches({ a: "b" }, "a=c")).toBe(false);
    expect(labelMatches({ a: "b=c" }, "a=b=c")).toBe(true);
    expect(labelMatches({}, "toString")).toBe(false);
  });

  const event: RuntimeEvent = {
    Type: "container",
    Action: "exec_start: sh -c ls",
    Actor: { ID: "abcdef123456", Attributes: { name: "web-1", image: "busybox", tier: "front" } },
    time: 1,
    timeNano: 1e9,
  };

  it.each([
    [{}, true],
    [{ type: ["container"] }, true],
    [{ type: ["image"] }, false],
    [{ type: ["image", "container"] }, true],
    [{ container: ["abcdef"] }, true],
    [{ container: ["web-1"] }, true],
    [{ container: ["/web-1"] }, true],
    [{ container: ["db"] }, false],
    [{ label: ["tier=front"] }, true],
    [{ label: ["tier=back"] }, false],
    [{ event: ["exec_start"] }, true],
    [{ image: ["busybox"] }, true],
    [{ type: ["container"], label: ["tier=back"] }, false],
  ])("%j matches: %s", (filters, expected) => {
    expect(eventMatches(event, filters)).toBe(expected);
  });
});
