/**
 * The commander wiring of the container commands (which words are flags, which belong to the
 * container's command) and docker's per-container reporting, against a recording fake engine: no
 * daemon, no containers. The behaviour against a real engine is test/cli/container.test.ts.
 */
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { containerCommands } from "../../../src/cli/commands/container.js";
import type { EngineConnection } from "../../../src/cli/commands/container/engine.js";
import { ExitStatus } from "../../../src/cli/commands/container/exit-codes.js";
import { addEngineOptions } from "../../../src/cli/engine-options.js";
import type { CliIo } from "../../../src/cli/io.js";
import { TsstackError } from "../../../src/common/errors.js";
import type { Container, ContainerCreateOptions, Runtime } from "../../../src/runtime/runtime.js";

const ID = "0123456789ab".repeat(5) + "cdef";

interface Recorded {
  created: ContainerCreateOptions[];
  calls: string[];
}

/** Records what the commands ask; containers named `missing…` do not exist. */
function fakeRuntime(rec: Recorded): Runtime {
  const handle = (ref: string): Container => {
    const act = (what: string) => (): Promise<void> => {
      rec.calls.push(`${what} ${ref}`);
      return ref.startsWith("missing")
        ? Promise.reject(new TsstackError("container/not-found", `No such container: ${ref}`))
        : Promise.resolve();
    };
    return {
      id: ref,
      inspect: () => Promise.resolve({ Id: ID } as Awaited<ReturnType<Container["inspect"]>>),
      start: act("start"),
      stop: act("stop"),
      restart: act("restart"),
      kill: act("kill"),
      pause: act("pause"),
      unpause: act("unpause"),
      remove: act("remove"),
      wait: () => Promise.resolve({ StatusCode: 3 }),
    } as Partial<Container> as Container;
  };
  return {
    createContainer: (opts) => {
      rec.created.push(opts);
      return Promise.resolve(handle("new"));
    },
    getContainer: handle,
    listContainers: () => Promise.resolve([]),
    getEvents: () => ({
      [Symbol.asyncIterator]: () => ({
        next: () => Promise.resolve({ done: true as const, value: undefined }),
      }),
    }),
  };
}

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string; rec: Recorded }> {
  let stdout = "";
  let stderr = "";
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: { FROM_ENV: "yes" },
    cwd: "/",
    homeDir: "/root",
  };
  const rec: Recorded = { created: [], calls: [] };
  const connection: EngineConnection = {
    runtime: fakeRuntime(rec),
    [Symbol.asyncDispose]: () => Promise.resolve(),
  };
  const program = addEngineOptions(new Command("tsstack").exitOverride());
  program.configureOutput({ writeOut: (s) => (stdout += s), writeErr: (s) => (stderr += s) });
  containerCommands(program, io, { io, connect: () => Promise.resolve(connection) });
  for (const sub of program.commands) sub.exitOverride().configureOutput(program.configureOutput());
  // As main does for docker-style commands.
  program.enablePositionalOptions();
  let code = 0;
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (e) {
    if (e instanceof ExitStatus) {
      if (e.message !== "") stderr += `${e.message}\n`;
      code = e.exitCode;
    } else if (e instanceof Error) {
      stderr += `${e.message}\n`;
      code = e instanceof TsstackError ? 1 : 2;
    }
  }
  return { code, stdout, stderr, rec };
}

describe("container command wiring", () => {
  it("gives the words after the image to the container, flags included", async () => {
    const r = await run(["create", "--name", "x", "busybox", "ls", "-l", "--name", "-e"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${ID}\n`);
    expect(r.rec.created).toEqual([{ name: "x", Image: "busybox", Cmd: ["ls", "-l", "--name", "-e"] }]);
  });

  it("reads -h as --hostname and combined -it, like docker", async () => {
    const r = await run([
      "container",
      "create",
      "-it",
      "-h",
      "box",
      "-e",
      "A=1",
      "-e",
      "FROM_ENV",
      "busybox",
    ]);
    expect(r.rec.created).toEqual([
      { Image: "busybox", Hostname: "box", Tty: true, OpenStdin: true, Env: ["A=1", "FROM_ENV=yes"] },
    ]);
  });

  it("exits 125 for a flag value docker would refuse, before reaching the engine", async () => {
    const r = await run(["run", "--memory", "lots", "busybox"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain('invalid argument "lots" for "--memory" flag');
    expect(r.rec.created).toEqual([]);
  });

  it("prints the full id for run -d", async () => {
    const r = await run(["run", "-d", "--rm", "busybox", "sleep", "10"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${ID}\n`);
    expect(r.rec.created[0]?.HostConfig).toEqual({ AutoRemove: true });
    expect(r.rec.calls).toEqual(["start new"]);
  });

  it("acts on every container, prints each one done, reports each failure and exits 1", async () => {
    const r = await run(["stop", "-t", "1", "a", "missing1", "b", "missing2"]);
    expect(r.rec.calls).toEqual(["stop a", "stop missing1", "stop b", "stop missing2"]);
    expect(r.stdout).toBe("a\nb\n");
    expect(r.stderr).toBe("tsstack: No such container: missing1\ntsstack: No such container: missing2\n");
    expect(r.code).toBe(1);
  });

  it.each([
    ["start", "start"],
    ["restart", "restart"],
    ["kill", "kill"],
    ["pause", "pause"],
    ["unpause", "unpause"],
    ["rm", "remove"],
  ])("%s prints the names it was given", async (command, call) => {
    const r = await run([command, "a", "b"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("a\nb\n");
    expect(r.rec.calls).toEqual([`${call} a`, `${call} b`]);
  });

  it("wait prints each exit code", async () => {
    const r = await run(["wait", "a", "b"]);
    expect(r.stdout).toBe("3\n3\n");
  });

  it("ls and ps print an empty table with docker's headers", async () => {
    for (const argv of [["ps"], ["container", "ls", "-a"], ["container", "ps"]]) {
      const r = await run(argv);
      expect(r.stdout).toBe("CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n");
    }
  });

  it("refuses to attach several containers at once", async () => {
    const r = await run(["start", "-a", "a", "b"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("cannot start and attach multiple containers");
  });
});
