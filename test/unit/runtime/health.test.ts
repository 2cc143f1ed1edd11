import { describe, expect, it } from "vitest";
import {
  effectiveHealthcheck,
  HealthMonitor,
  nextHealth,
  type HealthState,
  type ProbeResult,
} from "../../../src/runtime/containers/health.js";

const S = 1e9;

describe("effectiveHealthcheck", () => {
  it.each([
    [
      "CMD-SHELL runs through /bin/sh -c",
      { Test: ["CMD-SHELL", "curl -f x"] },
      undefined,
      ["/bin/sh", "-c", "curl -f x"],
    ],
    ["CMD execs directly", { Test: ["CMD", "true", "a b"] }, undefined, ["true", "a b"]],
    ["the image's applies when the container sets none", undefined, { Test: ["CMD", "probe"] }, ["probe"]],
    ["the container's replaces the image's", { Test: ["CMD", "mine"] }, { Test: ["CMD", "image"] }, ["mine"]],
  ] as const)("%s", (_name, container, image, command) => {
    expect(effectiveHealthcheck(container, image)?.command).toEqual(command);
  });

  it("NONE disables the image's check, and none at all gives undefined", () => {
    expect(effectiveHealthcheck({ Test: ["NONE"] }, { Test: ["CMD", "probe"] })).toBeUndefined();
    expect(effectiveHealthcheck(undefined, undefined)).toBeUndefined();
  });

  it("takes durations in ns field by field, zero meaning the image's, then Docker's defaults", () => {
    const c = effectiveHealthcheck(
      { Test: ["CMD", "x"], Interval: 2 * S, Timeout: 0 },
      { Timeout: 3 * S, Retries: 7 },
    );
    expect(c).toMatchObject({
      intervalMs: 2000,
      timeoutMs: 3000,
      retries: 7,
      startPeriodMs: 0,
      startIntervalMs: 5000,
    });
    expect(effectiveHealthcheck({ Test: ["CMD", "x"] }, undefined)).toMatchObject({
      intervalMs: 30_000,
      timeoutMs: 30_000,
      retries: 3,
    });
  });
});

describe("nextHealth", () => {
  const starting: HealthState = { Status: "starting", FailingStreak: 0, Log: [] };
  const r = (exitCode: number) => ({ exitCode, output: `e${exitCode}`, start: "s", end: "e" });

  it("one success makes it healthy and resets the streak", () => {
    expect(nextHealth({ ...starting, FailingStreak: 2 }, r(0), false, 3)).toMatchObject({
      Status: "healthy",
      FailingStreak: 0,
    });
  });

  it("retries consecutive failures make it unhealthy", () => {
    let h = nextHealth(starting, r(1), false, 2);
    expect(h).toMatchObject({ Status: "starting", FailingStreak: 1 });
    h = nextHealth(h, r(1), false, 2);
    expect(h).toMatchObject({ Status: "unhealthy", FailingStreak: 2 });
  });

  it("failures in the start period do not count", () => {
    expect(nextHealth(starting, r(1), true, 1)).toMatchObject({ Status: "starting", FailingStreak: 0 });
  });

  it("keeps the last five results", () => {
    let h = starting;
    for (let i = 0; i < 8; i++) h = nextHealth(h, r(i), false, 100);
    expect(h.Log.map((l) => l.ExitCode)).toEqual([3, 4, 5, 6, 7]);
  });
});

describe("HealthMonitor", () => {
  it("probes at the start interval during the start period, then at the interval", async () => {
    let now = 0;
    const timers: { at: number; fn: () => void }[] = [];
    const delays: number[] = [];
    const results: ProbeResult[] = [
      { exitCode: 1, output: "" },
      { exitCode: 0, output: "" },
      { exitCode: 1, output: "" },
    ];
    const states: string[] = [];
    const m = new HealthMonitor({
      check: {
        command: ["x"],
        intervalMs: 1000,
        timeoutMs: 100,
        retries: 1,
        startPeriodMs: 500,
        startIntervalMs: 100,
      },
      startedAt: 0,
      now: () => now,
      setTimer: (fn, ms) => {
        delays.push(ms);
        timers.push({ at: now + ms, fn });
        return { cancel: () => undefined };
      },
      probe: () => Promise.resolve(results.shift() ?? { exitCode: 0, output: "" }),
      onResult: (s) => states.push(s.Status),
    });
    m.start();
    for (let i = 0; i < 3; i++) {
      const t = timers.shift();
      if (t === undefined) break;
      now = t.at;
      t.fn();
      await new Promise((r) => setImmediate(r));
    }
    // A failure at 100 ms is inside the start period: still starting; then healthy; then unhealthy.
    expect(states).toEqual(["starting", "healthy", "unhealthy"]);
    expect(delays.slice(0, 3)).toEqual([100, 100, 1000]);
    m.stop();
  });
});
