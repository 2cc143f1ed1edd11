/**
 * The Runtime contract: behaviour every implementation of src/runtime/runtime.ts must show, written
 * once and run against each (the embedded engine in-process, the same engine through the daemon's API
 * client, and later the Docker implementation). Implementations differ only in `setup`.
 */
import { describe, expect, it } from "vitest";
import type { Runtime, RuntimeEvent } from "../../src/runtime/runtime.js";

export interface ContractSubject {
  readonly runtime: Runtime;
  /** A busybox-like image with sh, echo, sleep, true, false, cat. */
  readonly image: string;
}

async function text(
  entries: AsyncIterable<{ stream: string; line: Buffer }>,
  stream?: string,
): Promise<string> {
  let s = "";
  for await (const e of entries) if (stream === undefined || e.stream === stream) s += e.line.toString();
  return s;
}

async function collect(s: NodeJS.ReadableStream): Promise<string> {
  let out = "";
  for await (const c of s) out += (c as Buffer).toString();
  return out;
}

/** Registers the contract's tests; `setup` is called per test and must clean up after it. */
export function runtimeContract(name: string, enabled: boolean, setup: () => Promise<ContractSubject>): void {
  describe.skipIf(!enabled)(`Runtime contract: ${name}`, () => {
    it("runs a command and reports its exit code, output and state", async () => {
      const { runtime, image } = await setup();
      const c = await runtime.createContainer({
        name: "contract-exit",
        Image: image,
        Cmd: ["sh", "-c", "echo out; echo err >&2; exit 5"],
        Labels: { "contract.test": "yes" },
      });
      expect((await c.inspect()).State.Status).toBe("created");
      await c.start();
      expect(await c.wait()).toMatchObject({ StatusCode: 5 });
      const info = await c.inspect();
      expect(info.Id).toMatch(/^[a-f0-9]{64}$/);
      expect(info.Name).toBe("/contract-exit");
      expect(info.State).toMatchObject({ Status: "exited", Running: false, ExitCode: 5, OOMKilled: false });
      expect(info.Config.Labels["contract.test"]).toBe("yes");
      expect(Date.parse(info.State.FinishedAt)).toBeGreaterThanOrEqual(Date.parse(info.State.StartedAt));
      expect(await text(c.logs({ stdout: true, stderr: false }))).toBe("out\n");
      expect(await text(c.logs({ stdout: false, stderr: true }))).toBe("err\n");
      await c.remove();
    });

    it("lists running containers, all with `all`, and filters by label and name", async () => {
      const { runtime, image } = await setup();
      const a = await runtime.createContainer({
        name: "contract-a",
        Image: image,
        Cmd: ["sleep", "60"],
        Labels: { role: "a" },
      });
      const b = await runtime.createContainer({
        name: "contract-b",
        Image: image,
        Cmd: ["true"],
        Labels: { role: "b" },
      });
      await a.start();
      const running = await runtime.listContainers();
      expect(running.map((c) => c.Names[0])).toContain("/contract-a");
      expect(running.map((c) => c.Names[0])).not.toContain("/contract-b");
      const byLabel = await runtime.listContainers({ all: true, filters: { label: ["role=b"] } });
      expect(byLabel.map((c) => c.Names[0])).toEqual(["/contract-b"]);
      const byName = await runtime.listContainers({ all: true, filters: { name: ["contract-a"] } });
      expect(byName.map((c) => c.State)).toEqual(["running"]);
      await a.remove({ force: true });
      await b.remove();
    });

    it("refuses a name in use, and names an unknown container or image in its errors", async () => {
      const { runtime, image } = await setup();
      const c = await runtime.createContainer({ name: "contract-dup", Image: image, Cmd: ["true"] });
      await expect(runtime.createContainer({ name: "contract-dup", Image: image })).rejects.toMatchObject({
        code: "container/conflict",
      });
      await expect(runtime.getContainer("contract-nope").inspect()).rejects.toMatchObject({
        code: "container/not-found",
      });
      await expect(runtime.createContainer({ Image: "contract-no-such-image:1" })).rejects.toMatchObject({
        code: "image/not-found",
      });
      await c.remove();
    });

    it("stops within the grace period with SIGKILL, refuses to remove running without force", async () => {
      const { runtime, image } = await setup();
      const c = await runtime.createContainer({
        Image: image,
        Cmd: ["sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"],
      });
      await c.start();
      await expect(c.remove()).rejects.toMatchObject({ code: "container/conflict" });
      const t0 = Date.now();
      await c.stop({ t: 1 });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
      expect((await c.inspect()).State).toMatchObject({ Status: "exited", ExitCode: 137 });
      await c.remove();
      await expect(c.inspect()).rejects.toMatchObject({ code: "container/not-found" });
    });

    it("execs in a running container with stdin, env and exit code", async () => {
      const { runtime, image } = await setup();
      const c = await runtime.createContainer({ Image: image, Cmd: ["sleep", "60"] });
      await c.start();
      const p = await c.exec({ Cmd: ["sh", "-c", "read x; echo $x-$V; exit 3"], Env: ["V=env"] });
      const out = collect(p.stdout);
      p.stdin.end("in\n");
      expect(await p.exit).toBe(3);
      expect(await out).toBe("in-env\n");
      await c.remove({ force: true });
    });

    it("emits create, start, die and destroy events", async () => {
      const { runtime, image } = await setup();
      const ac = new AbortController();
      const seen: RuntimeEvent[] = [];
      const done = (async () => {
        for await (const e of runtime.getEvents({ signal: ac.signal })) {
          seen.push(e);
          if (e.Action === "destroy") break;
        }
      })();
      // Let the subscription start before the container's life does.
      await new Promise((r) => setTimeout(r, 100));
      const c = await runtime.createContainer({ Image: image, Cmd: ["true"] });
      const id = (await c.inspect()).Id;
      await c.start();
      await c.wait();
      await c.remove();
      await Promise.race([done, new Promise((r) => setTimeout(r, 5000))]);
      ac.abort();
      const mine = seen.filter((e) => e.Actor.ID === id);
      expect(mine.map((e) => e.Action)).toEqual(["create", "start", "die", "destroy"]);
      expect(mine[2]?.Actor.Attributes["exitCode"]).toBe("0");
    });
  });
}
