/**
 * ShellRunner: host tools through one long-lived shell. Arguments arrive verbatim (quoting), input
 * reaches stdin, exit statuses and output come back per request, cwd applies to one request only.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ShellRunner } from "../../../src/common/shell.js";

const runners: ShellRunner[] = [];
function runner(code?: string, opts?: { timeoutMs?: number }): ShellRunner {
  const r = new ShellRunner(code, opts);
  runners.push(r);
  return r;
}
afterEach(async () => {
  for (const r of runners.splice(0)) await r.close();
});

describe("ShellRunner", () => {
  it("passes arguments verbatim, quotes and all, and feeds input on stdin", async () => {
    const sh = runner();
    const odd = `it's "quoted" $HOME \`x\` ; rm -rf / \\ end`;
    expect(await sh.run("printf", ["%s|", odd, ""])).toBe(`${odd}||`);
    // A here-document: the input arrives with a final newline.
    expect(await sh.run("cat", [], "line one\nline two")).toBe("line one\nline two\n");
  });

  it("reports each request's status and merged output, and rejects a failure with the given code", async () => {
    const sh = runner("rootfs/command-failed");
    expect(await sh.status("sh", ["-c", "echo out; echo err >&2; exit 3"])).toEqual({
      code: 3,
      output: "out\nerr\n",
    });
    await expect(sh.run("sh", ["-c", "echo nope >&2; exit 4"])).rejects.toMatchObject({
      code: "rootfs/command-failed",
      message: expect.stringContaining("exited with code 4: nope") as unknown as string,
    });
    // The shell lives on after a failed command.
    expect(await sh.run("echo", ["still here"])).toBe("still here\n");
  });

  it("runs a request in its cwd without moving the shell", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tsstack-shell-"));
    try {
      const sh = runner();
      const before = await sh.run("pwd", []);
      expect(await sh.status("pwd", [], { cwd: dir })).toEqual({ code: 0, output: `${dir}\n` });
      expect(await sh.run("pwd", [])).toBe(before);
      expect((await sh.status("pwd", [], { cwd: join(dir, "missing") })).code).not.toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keeps concurrent requests apart", async () => {
    const sh = runner();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => sh.status("sh", ["-c", `echo n${i}; exit ${i % 3}`])),
    );
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => ({ code: i % 3, output: `n${i}\n` })));
  });

  it("fails a request that hangs past the timeout, and the next one runs in a new shell", async () => {
    const sh = runner("rootfs/command-failed", { timeoutMs: 300 });
    const first = await sh.run("sh", ["-c", "echo $PPID"]);
    const t0 = Date.now();
    await expect(sh.run("sleep", ["37"])).rejects.toMatchObject({
      code: "rootfs/command-failed",
      message: expect.stringContaining("sleep 37: did not finish within 0.3 s") as unknown as string,
    });
    expect(Date.now() - t0).toBeLessThan(5000);
    // Killed with its shell: nothing of the request is left running. (37: a duration no other test
    // sleeps, so a parallel test's sleeper is never counted.)
    const { execFileSync } = await import("node:child_process");
    const left = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" })
      .split("\n")
      .filter((l) => l === "sleep 37");
    expect(left).toEqual([]);
    const second = await sh.run("sh", ["-c", "echo $PPID"]);
    expect(second).not.toBe(first);
    expect(await sh.run("echo", ["fine"])).toBe("fine\n");
  });
});
