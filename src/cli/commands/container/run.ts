/**
 * `run`, `create`, `start` and `exec`: the commands that start processes, and with them the exit
 * statuses of exit-codes.ts.
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { Command } from "commander";
import { TsstackError } from "../../../common/errors.js";
import type { Container, ContainerCreateOptions, Runtime } from "../../../runtime/runtime.js";
import { processSignals, type CliIo } from "../../io.js";
import { UsageError } from "../config.js";
import { buildCreateOptions, environment, type CreateFlags } from "./create-options.js";
import type { ContainerContext } from "./engine.js";
import { engineFailure, ExitStatus, RunExitCode, startFailure } from "./exit-codes.js";
import { collect, forEachContainer } from "./shared.js";
import { writeLogs } from "./info.js";
import { streamProcess } from "./streams.js";

/** The create flags shared by `run` and `create` (docker's names, short forms and meanings). */
function addCreateFlags(cmd: Command): Command {
  return (
    cmd
      // docker's `-h` is --hostname; help stays on --help.
      .helpOption("--help", "display help for command")
      .argument("<image>", "image name or id (it must be in the store: see `tsstack pull`)")
      .argument("[command...]", "command and arguments (default: the image's)")
      // Options after the image belong to the container's command.
      .passThroughOptions()
      .option("--name <name>", "assign a name to the container")
      .option("-i, --interactive", "keep stdin open and forward the terminal's input")
      .option("-t, --tty", "allocate a pseudo-TTY")
      .option(
        "-e, --env <KEY=VALUE>",
        "set an environment variable (KEY alone: from this environment)",
        collect,
      )
      .option("--env-file <file>", "read environment variables from a file (docker's format)", collect)
      .option("-w, --workdir <dir>", "working directory inside the container")
      .option("-u, --user <user>", "user[:group] to run as (name or id)")
      .option("--entrypoint <command>", 'override the image\'s entrypoint ("" resets it)')
      .option("-h, --hostname <name>", "container host name")
      .option("-l, --label <KEY=VALUE>", "set a label", collect)
      .option("-m, --memory <bytes>", "memory limit (64m, 1g, or bytes)")
      .option("--memory-swap <bytes>", "memory + swap limit (-1: unlimited swap)")
      .option("--cpus <number>", "number of CPUs (0.5, 2)")
      .option("-c, --cpu-shares <weight>", "relative CPU weight")
      .option("--cpuset-cpus <list>", "CPUs the container may use (0-2,4)")
      .option("--pids-limit <n>", "process count limit (-1: unlimited)")
      .option("--read-only", "mount the root filesystem read-only")
      .option("--tmpfs <path[:options]>", "mount a tmpfs (e.g. /run:size=64m)", collect)
      .option("--cap-add <capability>", "add a Linux capability", collect)
      .option("--cap-drop <capability>", "drop a Linux capability", collect)
      .option("--privileged", "give extended privileges to the container")
      .option("--init", "run an init process that forwards signals and reaps zombies")
      .option("--sysctl <KEY=VALUE>", "set a namespaced kernel parameter", collect)
      .option("--ulimit <NAME=SOFT[:HARD]>", "set a resource limit (nofile=1024:2048)", collect)
      .option("--device <host[:container][:rwm]>", "add a host device", collect)
      .option("--shm-size <bytes>", "size of /dev/shm")
      .option("--stop-signal <signal>", "signal that stops the container")
      .option("--stop-timeout <seconds>", "seconds to wait before killing the container on stop")
      .option("--security-opt <option>", "security option (no-new-privileges=false)", collect)
      .option("--network <mode>", "network mode (none, host)")
      .option("--restart <policy>", "restart policy: no, always, unless-stopped, on-failure[:n]")
  );
}

interface RunFlags extends CreateFlags {
  detach?: boolean;
  sigProxy?: boolean;
}

/**
 * Signals an attached `run`/`start -a` without a TTY forwards to the container (docker's
 * `--sig-proxy`, on by default): Ctrl-C reaches the container's process instead of ending the CLI.
 * (With a TTY, Ctrl-C is a byte on the terminal; SIGKILL and SIGSTOP cannot be caught.)
 */
const PROXIED_SIGNALS: readonly NodeJS.Signals[] = [
  "SIGINT",
  "SIGTERM",
  "SIGHUP",
  "SIGQUIT",
  "SIGUSR1",
  "SIGUSR2",
];

/**
 * docker's `--sig-proxy` (default true). `--sig-proxy=false` is turned into `--no-sig-proxy` before
 * parsing (main.ts, `dockerBooleanFlags`): a flag with an optional value would take the image name.
 */
function sigProxyOption(cmd: Command): Command {
  return cmd
    .option("--sig-proxy", "proxy received signals to the process (default; not with a TTY)")
    .option("--no-sig-proxy", "leave received signals to the CLI (docker: --sig-proxy=false)");
}

function sigProxyEnabled(flag: boolean | undefined): boolean {
  return flag !== false;
}

export function defineRun(cmd: Command, ctx: ContainerContext): Command {
  return sigProxyOption(addCreateFlags(cmd))
    .description("create and start a container from an image")
    .option("-d, --detach", "run in the background and print the container id")
    .option("--rm", "remove the container when it exits")
    .action(async (image: string, command: string[], flags: RunFlags, c: Command) => {
      const { io } = ctx;
      const built = await createOptions(image, command, flags, io);
      // In the foreground, runForeground removes the container itself (see there).
      const opts = flags.detach === true ? built : withoutAutoRemove(built);
      const interactive = flags.interactive === true;
      const tty = flags.tty === true;
      if (tty && interactive && io.stdin?.isTTY !== true) {
        throw new ExitStatus(RunExitCode.engineFailed, "the input device is not a TTY");
      }
      await using engine = await ctx.connect(c).catch((e: unknown) => {
        throw engineFailure(e);
      });
      const container = await create(engine.runtime, opts);
      const id = await fullId(container);
      if (flags.detach === true) {
        await container.start().catch((e: unknown) => {
          throw startFailure(e);
        });
        io.stdout.write(`${id}\n`);
        return;
      }
      const code = await runForeground(container, io, {
        stdin: interactive,
        tty,
        rm: flags.rm === true,
        sigProxy: sigProxyEnabled(flags.sigProxy),
      });
      if (code !== 0) throw new ExitStatus(code);
    });
}

export function defineCreate(cmd: Command, ctx: ContainerContext): Command {
  return addCreateFlags(cmd)
    .description("create a container from an image without starting it; prints its id")
    .option("--rm", "remove the container when it exits")
    .action(async (image: string, command: string[], flags: CreateFlags, c: Command) => {
      const opts = await createOptions(image, command, flags, ctx.io);
      await using engine = await ctx.connect(c).catch((e: unknown) => {
        throw engineFailure(e);
      });
      const container = await create(engine.runtime, opts);
      ctx.io.stdout.write(`${await fullId(container)}\n`);
    });
}

/** The create body; flag errors are docker's 125. */
async function createOptions(
  image: string,
  command: readonly string[],
  flags: CreateFlags,
  io: CliIo,
): Promise<ContainerCreateOptions> {
  try {
    const envFiles = await readEnvFiles(flags.envFile ?? [], io);
    return buildCreateOptions({ image, command, flags, envFiles, lookupEnv: (name) => io.env[name] });
  } catch (e) {
    throw engineFailure(e);
  }
}

async function readEnvFiles(paths: readonly string[], io: CliIo): Promise<{ path: string; text: string }[]> {
  return Promise.all(
    paths.map(async (path) => {
      try {
        return { path, text: await readFile(resolve(io.cwd, path), "utf8") };
      } catch (e) {
        throw new TsstackError(
          "container/invalid-config",
          `reading env file ${path}: ${e instanceof Error ? e.message : String(e)}`,
          { cause: e },
        );
      }
    }),
  );
}

function withoutAutoRemove(opts: ContainerCreateOptions): ContainerCreateOptions {
  if (opts.HostConfig?.AutoRemove !== true) return opts;
  const { AutoRemove: _autoRemove, ...hostConfig } = opts.HostConfig;
  return { ...opts, HostConfig: hostConfig };
}

async function create(runtime: Runtime, opts: ContainerCreateOptions): Promise<Container> {
  try {
    return await runtime.createContainer(opts);
  } catch (e) {
    if (e instanceof TsstackError && e.code === "image/not-found") {
      // docker pulls here; tsstack's run does not reach out to registries on its own.
      throw new ExitStatus(
        RunExitCode.engineFailed,
        `Unable to find image '${opts.Image}' locally: pull it first with \`tsstack pull ${opts.Image}\``,
        { cause: e },
      );
    }
    throw engineFailure(e);
  }
}

async function fullId(container: Container): Promise<string> {
  try {
    return (await container.inspect()).Id;
  } catch (e) {
    throw engineFailure(e);
  }
}

/**
 * Starts the container and streams its output until it stops; resolves with its exit code.
 *
 * Without `-i` the output is read from the container's log (`logs --follow`): from its beginning for
 * a container `run` just created (all it ever wrote), from just before the start for `start -a`. The
 * log, unlike an attach made before the start, needs nothing of the engine beyond the Runtime
 * contract, and cannot lose the first lines of a short-lived command. With `-i` the CLI attaches
 * before starting (stdin needs the attach stream); that needs an engine that can attach to a created
 * container.
 */
async function startAndStream(
  container: Container,
  io: CliIo,
  opts: {
    readonly stdin: boolean;
    readonly tty: boolean;
    readonly fromStart: boolean;
    readonly sigProxy: boolean;
  },
): Promise<number> {
  const stopProxy =
    opts.sigProxy && !opts.tty
      ? (io.onSignals ?? processSignals)(PROXIED_SIGNALS, (signal) => {
          void container.kill({ signal }).catch(() => undefined);
        })
      : () => undefined;
  try {
    return await streamAttached(container, io, opts);
  } finally {
    stopProxy();
  }
}

async function streamAttached(
  container: Container,
  io: CliIo,
  opts: { readonly stdin: boolean; readonly tty: boolean; readonly fromStart: boolean },
): Promise<number> {
  if (opts.stdin) {
    const proc = await container.attach({ stdin: true }).catch((e: unknown) => {
      throw engineFailure(e);
    });
    await container.start().catch((e: unknown) => {
      proc.stdin.end();
      throw startFailure(e);
    });
    return streamProcess(proc, io, opts);
  }
  // The engine's clock, not the CLI's injected one: log times are compared with it. A second of
  // margin covers a start within the same second as this reading.
  const since = opts.fromStart ? undefined : Math.floor(Date.now() / 1000) - 1;
  await container.start().catch((e: unknown) => {
    throw startFailure(e);
  });
  await writeLogs(
    io,
    container.logs({ follow: true, stdout: true, stderr: true, ...(since !== undefined ? { since } : {}) }),
    false,
  );
  return (await container.wait()).StatusCode;
}

/**
 * `run` in the foreground. `--rm` removes the container here once its exit code is known, rather
 * than with AutoRemove: the engine removes an AutoRemove container as it exits, which can be before
 * the CLI asks for the exit code. (`run -d --rm` uses AutoRemove: nobody waits there.)
 */
async function runForeground(
  container: Container,
  io: CliIo,
  opts: { readonly stdin: boolean; readonly tty: boolean; readonly rm: boolean; readonly sigProxy: boolean },
): Promise<number> {
  try {
    return await startAndStream(container, io, { ...opts, fromStart: true });
  } finally {
    if (opts.rm) {
      await container.remove({ force: true }).catch((e: unknown) => {
        if (!(e instanceof TsstackError && e.code === "container/not-found")) throw e;
      });
    }
  }
}

export function defineStart(cmd: Command, ctx: ContainerContext): Command {
  return sigProxyOption(cmd)
    .description("start stopped containers")
    .argument("<container...>", "names or ids")
    .option("-a, --attach", "attach the output and exit with the container's exit code")
    .option("-i, --interactive", "attach the container's stdin")
    .action(
      async (
        refs: string[],
        flags: { attach?: boolean; interactive?: boolean; sigProxy?: boolean },
        c: Command,
      ) => {
        const attach = flags.attach === true || flags.interactive === true;
        if (attach && refs.length > 1)
          throw new UsageError("you cannot start and attach multiple containers at once");
        await using engine = await ctx.connect(c);
        const [first] = refs;
        if (attach && first !== undefined) {
          const container = engine.runtime.getContainer(first);
          const { Config } = await container.inspect();
          const code = await startAndStream(container, ctx.io, {
            stdin: flags.interactive === true,
            tty: Config.Tty,
            fromStart: false,
            sigProxy: sigProxyEnabled(flags.sigProxy),
          });
          if (code !== 0) throw new ExitStatus(code);
          return;
        }
        await forEachContainer(ctx.io, refs, async (ref) => {
          await engine.runtime.getContainer(ref).start();
          ctx.io.stdout.write(`${ref}\n`);
        });
      },
    );
}

interface ExecFlags {
  detach?: boolean;
  interactive?: boolean;
  tty?: boolean;
  env?: string[];
  envFile?: string[];
  user?: string;
  workdir?: string;
  privileged?: boolean;
}

export function defineExec(cmd: Command, ctx: ContainerContext): Command {
  return cmd
    .description("run a command in a running container; exits with its exit code")
    .argument("<container>", "name or id")
    .argument("<command...>", "command and arguments")
    .passThroughOptions()
    .option("-d, --detach", "start the command and return")
    .option("-i, --interactive", "forward stdin")
    .option("-t, --tty", "allocate a pseudo-TTY")
    .option("-e, --env <KEY=VALUE>", "set an environment variable", collect)
    .option("--env-file <file>", "read environment variables from a file", collect)
    .option("-u, --user <user>", "user[:group] to run as")
    .option("-w, --workdir <dir>", "working directory inside the container")
    .option("--privileged", "give extended privileges to the command")
    .action(async (ref: string, command: string[], flags: ExecFlags, c: Command) => {
      const { io } = ctx;
      const tty = flags.tty === true;
      const interactive = flags.interactive === true && flags.detach !== true;
      if (tty && interactive && io.stdin?.isTTY !== true) {
        throw new TsstackError("container/invalid-argument", "the input device is not a TTY");
      }
      const env = environment(
        await readEnvFiles(flags.envFile ?? [], io),
        flags.env ?? [],
        (name) => io.env[name],
      );
      await using engine = await ctx.connect(c);
      const proc = await engine.runtime
        .getContainer(ref)
        .exec({
          Cmd: command,
          ...(env.length > 0 ? { Env: env } : {}),
          ...(flags.user !== undefined ? { User: flags.user } : {}),
          ...(flags.workdir !== undefined ? { WorkingDir: flags.workdir } : {}),
          Tty: tty,
          Privileged: flags.privileged === true,
        })
        .catch((e: unknown) => {
          // A missing container is a plain failure; a command that cannot run is docker's 126/127.
          if (e instanceof TsstackError && e.code.startsWith("container/")) throw e;
          throw startFailure(e);
        });
      if (flags.detach === true) {
        proc.stdin.end();
        return;
      }
      const code = await streamProcess(proc, io, { stdin: interactive, tty });
      if (code !== 0) throw new ExitStatus(code);
    });
}
