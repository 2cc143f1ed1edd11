/**
 * `stop`, `restart`, `kill`, `rm`, `pause`, `unpause`, `wait`: one action per named container, each
 * printed as given on success, every failure reported (shared.ts `forEachContainer`).
 */
import type { Command } from "commander";
import { UsageError } from "../config.js";
import type { ContainerContext } from "./engine.js";
import { forEachContainer } from "./shared.js";

function seconds(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^-?\d+$/.test(text)) throw new UsageError(`invalid timeout "${text}": expected whole seconds`);
  return Number(text);
}

export function defineStop(cmd: Command, ctx: ContainerContext): Command {
  return cmd
    .description("stop running containers (stop signal, then SIGKILL after the timeout)")
    .argument("<container...>", "names or ids")
    .option("-t, --time <seconds>", "seconds to wait before killing (default: the container's stop timeout)")
    .option("-s, --signal <signal>", "signal to send (default: the container's stop signal)")
    .action(async (refs: string[], flags: { time?: string; signal?: string }, c: Command) => {
      const t = seconds(flags.time);
      await using engine = await ctx.connect(c);
      await forEachContainer(ctx.io, refs, async (ref) => {
        await engine.runtime.getContainer(ref).stop({
          ...(t !== undefined ? { t } : {}),
          ...(flags.signal !== undefined ? { signal: flags.signal } : {}),
        });
        ctx.io.stdout.write(`${ref}\n`);
      });
    });
}

export function defineRestart(cmd: Command, ctx: ContainerContext): Command {
  return cmd
    .description("restart containers")
    .argument("<container...>", "names or ids")
    .option("-t, --time <seconds>", "seconds to wait before killing (default: the container's stop timeout)")
    .action(async (refs: string[], flags: { time?: string }, c: Command) => {
      const t = seconds(flags.time);
      await using engine = await ctx.connect(c);
      await forEachContainer(ctx.io, refs, async (ref) => {
        await engine.runtime.getContainer(ref).restart(t !== undefined ? { t } : {});
        ctx.io.stdout.write(`${ref}\n`);
      });
    });
}

export function defineKill(cmd: Command, ctx: ContainerContext): Command {
  return cmd
    .description("send a signal to running containers (default SIGKILL)")
    .argument("<container...>", "names or ids")
    .option("-s, --signal <signal>", "signal to send (name or number)", "KILL")
    .action(async (refs: string[], flags: { signal: string }, c: Command) => {
      await using engine = await ctx.connect(c);
      await forEachContainer(ctx.io, refs, async (ref) => {
        await engine.runtime.getContainer(ref).kill({ signal: flags.signal });
        ctx.io.stdout.write(`${ref}\n`);
      });
    });
}

export function defineRm(cmd: Command, ctx: ContainerContext): Command {
  return cmd
    .description("remove containers")
    .argument("<container...>", "names or ids")
    .option("-f, --force", "kill and remove running containers")
    .option("-v, --volumes", "remove the anonymous volumes of the containers")
    .action(async (refs: string[], flags: { force?: boolean; volumes?: boolean }, c: Command) => {
      await using engine = await ctx.connect(c);
      await forEachContainer(ctx.io, refs, async (ref) => {
        await engine.runtime
          .getContainer(ref)
          .remove({ force: flags.force === true, v: flags.volumes === true });
        ctx.io.stdout.write(`${ref}\n`);
      });
    });
}

export function definePause(cmd: Command, ctx: ContainerContext): Command {
  return cmd
    .description("suspend all processes of containers (cgroup freezer)")
    .argument("<container...>", "names or ids")
    .action(async (refs: string[], _flags: unknown, c: Command) => {
      await using engine = await ctx.connect(c);
      await forEachContainer(ctx.io, refs, async (ref) => {
        await engine.runtime.getContainer(ref).pause();
        ctx.io.stdout.write(`${ref}\n`);
      });
    });
}

export function defineUnpause(cmd: Command, ctx: ContainerContext): Command {
  return cmd
    .description("resume the processes of paused containers")
    .argument("<container...>", "names or ids")
    .action(async (refs: string[], _flags: unknown, c: Command) => {
      await using engine = await ctx.connect(c);
      await forEachContainer(ctx.io, refs, async (ref) => {
        await engine.runtime.getContainer(ref).unpause();
        ctx.io.stdout.write(`${ref}\n`);
      });
    });
}

export function defineWait(cmd: Command, ctx: ContainerContext): Command {
  return cmd
    .description("block until containers stop, then print their exit codes")
    .argument("<container...>", "names or ids")
    .action(async (refs: string[], _flags: unknown, c: Command) => {
      await using engine = await ctx.connect(c);
      await forEachContainer(ctx.io, refs, async (ref) => {
        const result = await engine.runtime.getContainer(ref).wait();
        ctx.io.stdout.write(`${result.StatusCode}\n`);
      });
    });
}
