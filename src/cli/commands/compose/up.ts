/**
 * `up`, `plan`, `scale` and `down`: the stack's desired state sent to the daemon, whose reconciler
 * converges it (and keeps it converged after the CLI has gone); the CLI shows the progress stream.
 * Attached `up` then follows the stack's logs until its containers stop or Ctrl-C stops them.
 */
import { Option, type Command } from "commander";
import type { StackProgress } from "../../../api/stack-types.js";
import type { Runtime } from "../../../runtime/runtime.js";
import type { CliIo } from "../../io.js";
import { ExitStatus } from "../container/exit-codes.js";
import { collect, now } from "../container/shared.js";
import { actOnContainers } from "./container-actions.js";
import { applyRequest, downRequest, scaleRequest, type DownFlags, type UpFlags } from "./apply-options.js";
import { createProgressRenderer, PROGRESS_MODES, progressMode, type ProgressMode } from "./progress.js";
import { logName, useColor } from "./log-prefix.js";
import { loadProject, resolveProject, stackContainers } from "./project.js";
import { INTERRUPTED_EXIT_CODE, type ComposeContext, type StackResult } from "./stack-api.js";
import { writeStackLogs } from "./stack-logs.js";

function progressOption(): Option {
  return new Option(
    "--progress <mode>",
    "progress output: auto (tty on a terminal, else plain), tty, plain, json, quiet",
  )
    .choices(PROGRESS_MODES)
    .default("auto");
}

/** Streams an apply or down through the chosen renderer; a failed result exits 1 with every error. */
async function showProgress(
  io: CliIo,
  mode: ProgressMode,
  project: string,
  run: (onProgress: (p: StackProgress) => void) => Promise<StackResult>,
): Promise<void> {
  const renderer = createProgressRenderer({
    mode,
    project,
    out: io.stdout,
    now: () => now(io).getTime(),
  });
  let result: StackResult;
  try {
    result = await run((p) => {
      // The plan's notes (`! …` lines: a changed volume kept, orphans…) are warnings, on stderr as
      // compose's; the JSON stream carries the plan line itself.
      if (p.type === "plan" && mode !== "json")
        for (const line of p.text.split("\n"))
          if (line.startsWith("! ")) io.stderr.write(`warning: ${line.slice(2)}\n`);
      renderer.update(p);
    });
  } finally {
    renderer.done();
  }
  if (!result.ok) {
    for (const error of result.errors) io.stderr.write(`tsstack: ${error}\n`);
    if (result.errors.length === 0) io.stderr.write(`tsstack: ${project}: the stack did not converge\n`);
    throw new ExitStatus(1);
  }
}

export function defineUp(cmd: Command, ctx: ComposeContext): Command {
  return cmd
    .description("create and start the stack's containers (attached: follow their logs until Ctrl-C)")
    .argument("[services...]", "only these services (and what they depend on)")
    .option("-d, --detach", "run in the background: return once the stack is applied")
    .option(
      "--wait",
      "wait until the services are running, and healthy where they have a healthcheck (implies -d)",
    )
    .option("--wait-timeout <seconds>", "give up waiting after this many seconds")
    .option("--remove-orphans", "remove containers of services no longer in the stack file")
    .option("--force-recreate", "recreate containers even if their configuration is unchanged")
    .option("--no-recreate", "keep existing containers even if their configuration changed")
    .option(
      "-V, --renew-anon-volumes",
      "recreate anonymous volumes instead of retrieving data from the previous containers",
    )
    .option("--scale <service=n>", "run n replicas of the service (repeatable; overrides the file)", collect)
    .option("--dry-run", "print what would be done (the plan) and change nothing")
    .addOption(progressOption())
    .action(async (services: string[], flags: UpFlags, c: Command) => {
      const loaded = await loadProject(c, ctx.io);
      const project = loaded.spec.name;
      const req = applyRequest(loaded, normalizeRecreate(flags), services);
      if (flags.dryRun === true) {
        await using conn = await ctx.connect(c);
        printPlan(ctx.io, (await conn.stacks.plan(project, req)).text);
        return;
      }
      const mode = progressMode(flags.progress, ctx.io.stdout.isTTY === true);
      const detach = flags.detach === true || flags.wait === true;
      // Attached: the logs from just before the apply, so the first lines of new containers show.
      const since = Math.floor(now(ctx.io).getTime() / 1000);
      await using conn = await ctx.connect(c);
      await showProgress(ctx.io, mode, project, (onProgress) => conn.stacks.apply(project, req, onProgress));
      if (detach) return;
      const attached = Object.entries(loaded.spec.services)
        .filter(([name, svc]) => svc.attach !== false && (services.length === 0 || services.includes(name)))
        .map(([name]) => name);
      await attach(ctx, conn.runtime, { project, services: attached, since, mode });
    });
}

/**
 * commander gives `--no-recreate` as `recreate: false`; the request builder reads `noRecreate`.
 */
function normalizeRecreate(flags: UpFlags & { recreate?: boolean }): UpFlags {
  const { recreate, ...rest } = flags;
  return recreate === false ? { ...rest, noRecreate: true } : rest;
}

export function printPlan(io: CliIo, text: string): void {
  io.stdout.write(text.trim() === "" ? "nothing to do\n" : `${text.replace(/\n+$/, "")}\n`);
}

interface AttachOptions {
  readonly project: string;
  readonly services: readonly string[];
  /** Unix seconds. */
  readonly since: number;
  readonly mode: ProgressMode;
}

/**
 * compose's attached mode: follow the logs of every replica until they all stop. The first Ctrl-C
 * stops the stack's containers (their last lines still show), a second kills them; either way the
 * command then exits 130.
 */
async function attach(ctx: ComposeContext, runtime: Runtime, opts: AttachOptions): Promise<void> {
  const { io } = ctx;
  // Stopped ones too, as compose attaches to every container: their stream ends at once with their
  // exit code, and only running ones are stopped on Ctrl-C.
  const containers = await stackContainers(runtime, opts.project, { all: true, services: opts.services });
  if (containers.length === 0) return;
  const running = containers.filter((c) => c.State === "running");
  const follow = new AbortController();
  let interrupts = 0;
  let stopping: Promise<void> | undefined;
  // Settles once the second Ctrl-C's kill is through: it ends the command even while a graceful stop
  // still waits on a container.
  let killed!: () => void;
  const forced = new Promise<void>((resolve) => (killed = resolve));
  const stopOff = ctx.onInterrupt(() => {
    interrupts++;
    const target = { project: opts.project, mode: opts.mode };
    if (interrupts === 1) {
      io.stderr.write("Gracefully stopping... (press Ctrl+C again to force)\n");
      // Failures are on stderr already; the exit status is the interrupt's either way.
      stopping = actOnContainers(io, runtime, running, "stop", target)
        .catch(() => undefined)
        .finally(() => {
          follow.abort();
        });
    } else if (interrupts === 2) {
      void actOnContainers(io, runtime, running, "kill", { ...target, mode: "quiet" })
        .catch(() => undefined)
        .finally(() => {
          follow.abort();
          killed();
        });
    }
  });
  io.stdout.write(`Attaching to ${containers.map((c) => logName(c, opts.project)).join(", ")}\n`);
  try {
    await writeStackLogs(io, runtime, containers, {
      project: opts.project,
      follow: true,
      since: opts.since,
      timestamps: false,
      color: useColor(io),
      signal: follow.signal,
      onEnd: async (name, c) => {
        const code = await runtime
          .getContainer(c.Id)
          .inspect()
          .then((i) => String(i.State.ExitCode))
          .catch(() => "?");
        io.stdout.write(`${name} exited with code ${code}\n`);
      },
    });
    if (stopping !== undefined) await Promise.race([stopping, forced]);
  } finally {
    stopOff();
  }
  if (interrupts > 0) throw new ExitStatus(INTERRUPTED_EXIT_CODE);
}

export function definePlan(cmd: Command, ctx: ComposeContext): Command {
  return cmd
    .description("print what `up` would do, one operation per line with its reason (same as up --dry-run)")
    .argument("[services...]", "only these services (and what they depend on)")
    .option("--remove-orphans", "plan removing containers of services no longer in the stack file")
    .option("--force-recreate", "plan recreating containers even if their configuration is unchanged")
    .option("--no-recreate", "plan keeping existing containers even if their configuration changed")
    .option("-V, --renew-anon-volumes", "plan fresh anonymous volumes for recreated containers")
    .option("--scale <service=n>", "plan n replicas of the service (repeatable)", collect)
    .action(async (services: string[], flags: UpFlags, c: Command) => {
      const loaded = await loadProject(c, ctx.io);
      const req = applyRequest(loaded, normalizeRecreate(flags), services);
      await using conn = await ctx.connect(c);
      printPlan(ctx.io, (await conn.stacks.plan(loaded.spec.name, req)).text);
    });
}

export function defineScale(cmd: Command, ctx: ComposeContext): Command {
  return cmd
    .description("set the number of replicas of services (SERVICE=REPLICAS …)")
    .argument("<service=replicas...>", "services and their replica counts")
    .addOption(progressOption())
    .action(async (specs: string[], flags: { progress?: string }, c: Command) => {
      const loaded = await loadProject(c, ctx.io);
      const req = scaleRequest(loaded, specs);
      const mode = progressMode(flags.progress, ctx.io.stdout.isTTY === true);
      await using conn = await ctx.connect(c);
      const project = loaded.spec.name;
      await showProgress(ctx.io, mode, project, (onProgress) => conn.stacks.apply(project, req, onProgress));
    });
}

export function defineDown(cmd: Command, ctx: ComposeContext): Command {
  return cmd
    .description("stop and remove the stack's containers and networks (and named volumes with -v)")
    .option("-v, --volumes", "also remove the named volumes declared in the stack file")
    .option("--remove-orphans", "also remove containers of services no longer in the stack file")
    .option("-t, --timeout <seconds>", "seconds to wait for containers to stop before killing them")
    .addOption(progressOption())
    .action(async (flags: DownFlags & { progress?: string }, c: Command) => {
      const req = downRequest(flags);
      const mode = progressMode(flags.progress, ctx.io.stdout.isTTY === true);
      const { name: project } = await resolveProject(c, ctx.io);
      await using conn = await ctx.connect(c);
      await showProgress(ctx.io, mode, project, (onProgress) => conn.stacks.down(project, req, onProgress));
    });
}
