/**
 * Signalling a container's init by pid: only the very process that started (pid + start time).
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { processStartTime, signalIfSame } from "../../../../src/runtime/containers/conmon.js";

describe("signalIfSame", () => {
  it("signals the process that started at the recorded time", async () => {
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    const pid = child.pid ?? 0;
    const start = await processStartTime(pid);
    expect(start).toMatch(/^\d+$/);
    const exited = once(child, "exit");
    expect(await signalIfSame(pid, start ?? "", 15)).toBe(true);
    expect(await exited).toEqual([null, "SIGTERM"]);
  });

  it("leaves alone a process whose start time differs (a reused pid) and reports it", async () => {
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    const pid = child.pid ?? 0;
    const start = Number(await processStartTime(pid));
    try {
      expect(await signalIfSame(pid, String(start - 1), 9)).toBe(false);
      expect(child.exitCode).toBe(null);
      expect(await processStartTime(pid)).toBe(String(start));
    } finally {
      child.kill("SIGKILL");
      await once(child, "exit");
    }
    // Gone: nothing to signal.
    expect(await processStartTime(pid)).toBeUndefined();
    expect(await signalIfSame(pid, String(start), 9)).toBe(false);
  });

  it("reads the start time even when the command name holds spaces and parentheses", async () => {
    // The shell renames itself, then waits for its sleep.
    // Its own process group, so the sleep goes with the shell at the end.
    const child = spawn("/bin/sh", ["-c", "printf 'odd) (x 1' > /proc/$$/comm; echo ok; sleep 30"], {
      stdio: ["ignore", "pipe", "ignore"],
      detached: true,
    });
    try {
      await once(child.stdout, "data");
      const pid = child.pid ?? 0;
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      expect(stat).toContain("(odd) (x 1)");
      // Field 22 counted naively (split on spaces) would land 2 fields off.
      expect(await processStartTime(pid)).toBe(stat.split(" ")[23]);
    } finally {
      process.kill(-(child.pid ?? 0), "SIGKILL");
      await once(child, "exit");
    }
  });
});
