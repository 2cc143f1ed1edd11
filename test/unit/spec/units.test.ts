import { describe, expect, it } from "vitest";
import { formatDuration, parseBytes, parseDuration } from "../../../src/spec/units.js";

describe("parseDuration", () => {
  it.each([
    ["10s", 10_000],
    ["1m30s", 90_000],
    ["1.5h", 5_400_000],
    ["250ms", 250],
    ["10us", 0.01],
    ["10µs", 0.01],
    ["100ns", 0.0001],
    ["0", 0],
    ["-5s", -5000],
    ["2h45m", 9_900_000],
  ])("reads %s as %d ms", (text, ms) => {
    expect(parseDuration(text)).toBeCloseTo(ms, 9);
  });

  it.each(["", "10", "s", "1x", "1s2", "abc", "1.2.3s"])("refuses %j", (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

describe("formatDuration", () => {
  it.each([
    [0, "0s"],
    [10_000, "10s"],
    [60_000, "1m0s"],
    [120_000, "2m0s"],
    [1500, "1.5s"],
    [250, "250ms"],
    [3_600_000, "1h0m0s"],
    [5_430_500, "1h30m30.5s"],
    [0.0015, "1.5µs"],
    [-2000, "-2s"],
  ])("prints %d ms as Go does: %s", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it("round-trips through parseDuration", () => {
    for (const ms of [1, 999, 1000, 61_000, 3_599_999, 86_400_000]) {
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    }
  });
});

describe("parseBytes", () => {
  it.each<[string | number, number]>([
    ["1024", 1024],
    [1024, 1024],
    ["50M", 52_428_800],
    ["20m", 20_971_520],
    ["1.5g", 1_610_612_736],
    ["512kb", 524_288],
    ["512MiB", 536_870_912],
    ["1Gi", 1_073_741_824],
    ["20 k", 20_480],
    ["10b", 10],
  ])("reads %j as %d bytes", (text, bytes) => {
    expect(parseBytes(text)).toBe(bytes);
  });

  it.each<string | number>(["", "M", "1x", "1  m", "-1", "1mbb", "one", -1, Number.NaN])(
    "refuses %j",
    (v) => {
      expect(parseBytes(v)).toBeUndefined();
    },
  );
});
