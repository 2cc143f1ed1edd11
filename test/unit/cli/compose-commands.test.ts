/**
 * The compose commands end to end over fakes: a stack file on disk, the command line as users type
 * it, a fake stack API and runtime behind the injected context. The real daemon is test/cli/compose.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Command, CommanderError } from "commander";
import { describe, expect, it } from "vitest";
import type { ApplyRequest, StackProgress } from "../../../src/api/stack-types.js";
import { composeCommands } from "../../../src/cli/commands/compose/commands.js";
import type { ComposeContext } from "../../../src/cli/commands/compose/stack-api.js";
import { UsageError } from "../../../src/cli/commands/config.js";
import { ExitStatus } from "../../../src/cli/commands/container/exit-codes.js";
import { addEngineOptions } from "../../../src/cli/engine-options.js";
import { addProjectOptions } from "../../../src/cli/project-options.js";
import { TsstackError } from "../../../src/common/errors.js";
import type { RuntimeEvent } from "../../../src/runtime/runtime.js";
import { useTmpDirs } from "../../helpers/tmp.js";
import {
  capture,
  entry,
  fakeContext,
  FakeRuntime,
  FakeStackApi,
  NOW,
  stackContainer,
  type Captured,
} from "./compose-fakes.js";

const tmp = useTmpDirs("tsstack-compose-cli-");

const STACK = `
name: demo
services:
  web:
    image: busybox:latest
    command: ["sh", "-c", "echo hello; sleep 3600"]
  worker:
    image: busybox:latest
`;

async function stackDir(text = STACK): Promise<string> {
  const dir = await tmp();
  await writeFile(join(dir, "stack.yml"), text);
  return dir;
}

/** main's parse and exit codes, with the compose commands over `ctx` (main builds its own context). */
async function run(argv: string[], ctx: ComposeContext): Promise<number> {
  const program = new Command("tsstack")
    .exitOverride()
    .configureOutput({ writeOut: (s) => ctx.io.stdout.write(s), writeErr: (s) => ctx.io.stderr.write(s) });
  addProjectOptions(program);
  addEngineOptions(program);
  composeCommands(program, ctx.io, ctx);
  program.enablePositionalOptions();
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof ExitStatus) {
      if (e.message !== "") ctx.io.stderr.write(`tsstack: ${e.message}\n`);
      return e.exitCode;
    }
    if (e instanceof UsageError) {
      ctx.io.stderr.write(`tsstack: ${e.message}\n`);
      return 2;
    }
    if (e instanceof TsstackError) {
      ctx.io.stderr.write(`${e.message}\n`);
      return e.code.startsWith("spec/") ? 2 : 1;
    }
    throw e;
  }
}

const op = (id: number, target: string, kind: string, status: "started" | "done"): StackProgress => ({
  type: "op",
  id,
  target,
  kind,
  status,
});

const UP_PROGRESS: StackProgress[] = [
  op(1, "network:demo_default", "create-network", "started"),
  op(1, "network:demo_default", "create-network", "done"),
  op(2, "container:web.1", "create", "started"),
  op(2, "container:web.1", "create", "done"),
  { type: "result", ok: true, errors: [] },
];

interface Setup {
  readonly dir: string;
  readonly c: Captured;
  readonly api: FakeStackApi;
  readonly rt: FakeRuntime;
  readonly ctx: ReturnType<typeof fakeContext>;
}

async function setup(
  opts: { api?: FakeStackApi; rt?: FakeRuntime; tty?: boolean; stack?: string } = {},
): Promise<Setup> {
  const dir = await stackDir(opts.stack);
  const c = capture({ cwd: dir, ...(opts.tty !== undefined ? { tty: opts.tty } : {}) });
  const api = opts.api ?? new FakeStackApi(UP_PROGRESS);
  const rt = opts.rt ?? new FakeRuntime([]);
  return { dir, c, api, rt, ctx: fakeContext(c.io, api, rt) };
}

describe("up", () => {
  it("applies the stack detached and prints a plain line per change off a terminal", async () => {
    const s = await setup();
    expect(await run(["up", "-d", "--remove-orphans", "--scale", "web=2", "web"], s.ctx)).toBe(0);
    expect(s.c.out()).toBe(
      "Network demo_default  Creating\nNetwork demo_default  Created\nContainer demo-web-1  Creating\nContainer demo-web-1  Started\n",
    );
    const [call] = s.api.requests;
    expect(call?.method).toBe("apply");
    expect(call?.name).toBe("demo");
    const req = call?.req as ApplyRequest;
    expect(req.options).toEqual({ removeOrphans: true, scale: { web: 2 }, services: ["web"] });
    expect(req.configFiles).toEqual([join(s.dir, "stack.yml")]);
    expect(req.workingDir).toBe(s.dir);
    expect(Object.keys(req.spec.services)).toEqual(["web", "worker"]);
  });

  it("takes the stack file before or after the command, and under `compose`", async () => {
    for (const argv of [
      ["-f", "stack.yml", "up", "-d"],
      ["up", "-d", "-f", "stack.yml"],
      ["compose", "-f", "stack.yml", "up", "-d"],
      ["compose", "up", "-d", "--file", "stack.yml", "-p", "other"],
    ]) {
      const s = await setup();
      expect(await run(argv, s.ctx)).toBe(0);
      expect(s.api.requests[0]?.name).toBe(argv.includes("other") ? "other" : "demo");
    }
  });

  it("maps --no-recreate, --force-recreate and --wait onto the request", async () => {
    const s = await setup();
    await run(["up", "--no-recreate", "--wait", "--wait-timeout", "30"], s.ctx);
    await run(["up", "-d", "--force-recreate"], s.ctx);
    expect(s.api.requests.map((r) => (r.req as ApplyRequest).options)).toEqual([
      { noRecreate: true, wait: true, waitTimeout: 30 },
      { forceRecreate: true },
    ]);
  });

  it("exits 1 with each error on stderr when the apply fails", async () => {
    const api = new FakeStackApi([], {
      ok: false,
      errors: ["web.1: image not found", "web.2: image not found"],
    });
    const s = await setup({ api });
    expect(await run(["up", "-d"], s.ctx)).toBe(1);
    expect(s.c.err()).toBe("tsstack: web.1: image not found\ntsstack: web.2: image not found\n");
  });

  it("prints the plan's notes as warnings on stderr, and the operations as usual", async () => {
    const note = "volume demo_data exists but does not match the stack file (labels +tier=db); it is kept";
    const api = new FakeStackApi([
      { type: "plan", text: `#1 network:demo_default create-network (missing)\n! ${note}` },
    ]);
    const s = await setup({ api });
    expect(await run(["up", "-d"], s.ctx)).toBe(0);
    expect(s.c.err()).toBe(`warning: ${note}\n`);
    expect(s.c.out()).toBe("");
  });

  it("prints the daemon's progress as JSON lines with --progress json", async () => {
    const s = await setup();
    expect(await run(["up", "-d", "--progress", "json"], s.ctx)).toBe(0);
    const lines = s.c
      .out()
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string });
    expect(lines.map((l) => l.type)).toEqual(["op", "op", "op", "op", "result"]);
  });

  it("redraws progress in place on a terminal", async () => {
    const s = await setup({ tty: true });
    expect(await run(["up", "-d"], s.ctx)).toBe(0);
    expect(s.c.out()).toContain("\x1b[3A\x1b[2K[+] Running 2/2\n");
    expect(s.c.out()).toContain(" ✔ Container demo-web-1  Started  0.0s\n");
  });

  it("prints the plan with --dry-run and `plan`, and changes nothing", async () => {
    const api = new FakeStackApi([], undefined, "#1 container:web.1 create (missing)\n");
    const s = await setup({ api });
    expect(await run(["up", "--dry-run"], s.ctx)).toBe(0);
    expect(await run(["plan", "--scale", "web=3"], s.ctx)).toBe(0);
    expect(s.c.out()).toBe("#1 container:web.1 create (missing)\n#1 container:web.1 create (missing)\n");
    expect(s.api.requests.map((r) => r.method)).toEqual(["plan", "plan"]);
    expect((s.api.requests[1]?.req as ApplyRequest).options).toEqual({ scale: { web: 3 } });
  });

  it("says `nothing to do` for an empty plan", async () => {
    const s = await setup({ api: new FakeStackApi([], undefined, "") });
    expect(await run(["plan"], s.ctx)).toBe(0);
    expect(s.c.out()).toBe("nothing to do\n");
  });

  it.each([
    [["up", "--scale", "web"], /invalid scale "web"/],
    [["up", "nope"], /no such service: nope/],
    [["up", "--progress", "fancy"], /invalid/],
    [["up", "--force-recreate", "--no-recreate"], /incompatible/],
  ])("exits 2 on a usage error: %j", async (argv, message) => {
    const s = await setup();
    expect(await run(argv, s.ctx)).toBe(2);
    expect(s.c.err()).toMatch(message);
    expect(s.api.requests).toEqual([]);
  });

  it("exits 2 on an invalid stack file, before connecting", async () => {
    const s = await setup({ stack: "services:\n  web:\n    image: 3\n    ports: [nope]\n" });
    expect(await run(["up", "-d"], s.ctx)).toBe(2);
    expect(s.c.err()).toMatch(/invalid stack file/);
    expect(s.ctx.connected).toEqual([]);
  });
});

describe("attached up", () => {
  const web1 = stackContainer("demo", "web", 1);
  const web2 = stackContainer("demo", "web", 2);
  const worker = stackContainer("demo", "worker", 1);
  const other = stackContainer("other", "web", 1);
  const logs = {
    [web1.Id]: [entry("2024-06-01T12:00:01Z", "hello from 1\n")],
    [web2.Id]: [entry("2024-06-01T12:00:02Z", "hello from 2\n")],
  };

  it("follows every replica's logs with prefixes, and on Ctrl-C stops the stack and exits 130", async () => {
    const rt = new FakeRuntime([web1, web2, worker, other], logs);
    const s = await setup({ rt });
    const running = run(["up"], s.ctx);
    await eventuallyTrue(() => s.c.out().includes("hello from 2"));
    s.ctx.interrupt();
    expect(await running).toBe(130);
    expect(s.c.err()).toContain("Gracefully stopping... (press Ctrl+C again to force)");
    expect(rt.calls.sort()).toEqual([`stop ${web1.Id}`, `stop ${web2.Id}`, `stop ${worker.Id}`]);
    const out = s.c.out();
    expect(out).toContain("Attaching to web-1, web-2, worker-1\n");
    expect(out).toContain("web-1    | hello from 1\n");
    expect(out).toContain("web-2    | hello from 2\n");
    expect(out).toContain("Container demo-web-1  Stopped\n");
    // As compose: each container's end shows once its stream ends.
    expect(out).toContain("web-1 exited with code 0\n");
    // Logs from just before the apply on.
    expect(
      rt.logOptions.every((o) => o.follow === true && o.since === Math.floor(NOW.getTime() / 1000)),
    ).toBe(true);
  });

  it("kills the containers on a second Ctrl-C", async () => {
    const rt = new FakeRuntime([web1], logs);
    // The stop never completes, so the second Ctrl-C has something to cut short.
    const slowStop = rt.getContainer.bind(rt);
    rt.getContainer = (id) => ({ ...slowStop(id), stop: () => new Promise<void>(() => undefined) });
    const s = await setup({ rt });
    const running = run(["up", "web"], s.ctx);
    await eventuallyTrue(() => s.c.out().includes("hello from 1"));
    s.ctx.interrupt();
    s.ctx.interrupt();
    expect(await running).toBe(130);
    expect(rt.calls).toEqual([`kill ${web1.Id}`]);
  });

  it("returns 0 when the containers stop by themselves, saying how each exited", async () => {
    const rt = new FakeRuntime([web1], logs);
    const s = await setup({ rt });
    const running = run(["up", "web"], s.ctx);
    await eventuallyTrue(() => s.c.out().includes("hello from 1"));
    rt.stopped.get(web1.Id)?.();
    expect(await running).toBe(0);
    expect(s.c.out()).toContain("web-1 exited with code 0\n");
  });
});

describe("down, scale, ls", () => {
  it("sends down's flags, naming the stack by -p alone when there is no stack file", async () => {
    const s = await setup();
    const empty = await tmp();
    const c = capture({ cwd: empty });
    const ctx = fakeContext(c.io, s.api, s.rt);
    expect(await run(["-p", "demo", "down", "-v", "-t", "3", "--remove-orphans"], ctx)).toBe(0);
    expect(s.api.requests).toEqual([
      { method: "down", name: "demo", req: { volumes: true, timeout: 3, removeOrphans: true } },
    ]);
  });

  it("fails without a stack file or -p", async () => {
    const empty = await tmp();
    const c = capture({ cwd: empty });
    const ctx = fakeContext(c.io, new FakeStackApi(), new FakeRuntime([]));
    expect(await run(["down"], ctx)).toBe(2);
    expect(c.err()).toMatch(/no stack file found/);
  });

  it("scales only the named services", async () => {
    const s = await setup();
    expect(await run(["scale", "web=3", "worker=0"], s.ctx)).toBe(0);
    expect((s.api.requests[0]?.req as ApplyRequest).options).toEqual({
      scale: { web: 3, worker: 0 },
      services: ["web", "worker"],
      noRecreate: true,
    });
  });

  it("lists running stacks, all with -a, as a table or JSON", async () => {
    const api = new FakeStackApi([], undefined, "", [
      { Name: "web", Status: "running(2)", ConfigFiles: "/s/web/stack.yml" },
      { Name: "batch", Status: "exited(1)", ConfigFiles: "/s/batch/stack.yml" },
    ]);
    const s = await setup({ api });
    await run(["ls"], s.ctx);
    expect(s.c.out()).toBe("NAME      STATUS       CONFIG FILES\nweb       running(2)   /s/web/stack.yml\n");
    const all = await setup({ api });
    await run(["ls", "-a", "--format", "json"], all.ctx);
    expect(JSON.parse(all.c.out())).toEqual([
      { Name: "batch", Status: "exited(1)", ConfigFiles: "/s/batch/stack.yml" },
      { Name: "web", Status: "running(2)", ConfigFiles: "/s/web/stack.yml" },
    ]);
  });
});

describe("the stack's containers", () => {
  const web1 = stackContainer("demo", "web", 1, { Status: "Up 5 seconds (healthy)" });
  const worker = stackContainer("demo", "worker", 1, { State: "exited", Status: "Exited (0) 1 second ago" });
  const other = stackContainer("other", "web", 1);

  it("lists only this stack's running containers with `compose ps`, all with -a", async () => {
    const s = await setup({ rt: new FakeRuntime([web1, worker, other]) });
    await run(["compose", "ps", "--format", "{{.Name}} {{.Health}}"], s.ctx);
    expect(s.c.out()).toBe("demo-web-1 healthy\n");
    const all = await setup({ rt: new FakeRuntime([web1, worker, other]) });
    await run(["compose", "ps", "-a", "--services"], all.ctx);
    expect(all.c.out()).toBe("web\nworker\n");
  });

  it("merges the logs of the services named with `compose logs`", async () => {
    const rt = new FakeRuntime([web1, worker], {
      [web1.Id]: [entry("2024-06-01T12:00:01Z", "w\n")],
      [worker.Id]: [entry("2024-06-01T12:00:00Z", "k\n")],
    });
    const s = await setup({ rt });
    await run(["compose", "logs", "--no-color"], s.ctx);
    expect(s.c.out()).toBe("worker-1 | k\nweb-1    | w\n");
    const one = await setup({ rt });
    await run(["compose", "logs", "web"], one.ctx);
    expect(one.c.out()).toBe("web-1 | w\n");
  });

  it("follows logs with -f until Ctrl-C, then exits 130", async () => {
    const rt = new FakeRuntime([web1], { [web1.Id]: [entry("2024-06-01T12:00:01Z", "w\n")] });
    const s = await setup({ rt });
    const running = run(["compose", "logs", "-f", "--tail", "5"], s.ctx);
    await eventuallyTrue(() => s.c.out().includes("w\n"));
    s.ctx.interrupt();
    expect(await running).toBe(130);
    expect(rt.logOptions[0]).toMatchObject({ follow: true, tail: 5 });
  });

  it("stops running, starts stopped and restarts all containers of the services named", async () => {
    const rt = new FakeRuntime([web1, worker, other]);
    const s = await setup({ rt });
    expect(await run(["compose", "stop", "-t", "2"], s.ctx)).toBe(0);
    expect(await run(["compose", "start"], s.ctx)).toBe(0);
    expect(await run(["compose", "restart", "worker"], s.ctx)).toBe(0);
    expect(rt.calls).toEqual([`stop ${web1.Id}`, `start ${worker.Id}`, `restart ${worker.Id}`]);
    expect(s.c.out()).toContain("Container demo-web-1  Stopped\n");
    expect(s.c.out()).toContain("Container demo-worker-1  Started\n");
  });

  it("prints this stack's runtime events until Ctrl-C", async () => {
    const event = (id: string, project: string, action: string): RuntimeEvent => ({
      Type: "container",
      Action: action,
      Actor: {
        ID: id,
        Attributes: {
          "com.docker.compose.project": project,
          "com.docker.compose.service": "web",
          image: "busybox:latest",
          name: `${project}-web-1`,
        },
      },
      time: 1717243200,
      // Beyond a double's precision: the engine's JSON carries it so too (micros survive).
      timeNano: 1717243200123456800,
    });
    const rt = new FakeRuntime([], {}, [
      event("a1", "demo", "start"),
      event("b2", "other", "start"),
      event("a1", "demo", "die"),
    ]);
    const s = await setup({ rt });
    const running = run(["events"], s.ctx);
    await eventuallyTrue(() => s.c.out().includes("die"));
    s.ctx.interrupt();
    expect(await running).toBe(130);
    expect(s.c.out()).toBe(
      "2024-06-01 12:00:00.123456 container start a1 (image=busybox:latest, name=demo-web-1)\n" +
        "2024-06-01 12:00:00.123456 container die a1 (image=busybox:latest, name=demo-web-1)\n",
    );
    const json = await setup({ rt });
    const jsonRun = run(["events", "--json"], json.ctx);
    await eventuallyTrue(() => json.c.out().includes("die"));
    json.ctx.interrupt();
    await jsonRun;
    expect(JSON.parse(json.c.out().split("\n")[0] ?? "")).toEqual({
      time: "2024-06-01T12:00:00.123456Z",
      type: "container",
      service: "web",
      id: "a1",
      action: "start",
      attributes: { image: "busybox:latest", name: "demo-web-1" },
    });
  });
});

/** Waits (bounded) for a condition on output written by a command still running. */
async function eventuallyTrue(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error("timed out waiting for output");
}
