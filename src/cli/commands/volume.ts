/**
 * `tsstack volume create|ls|inspect|rm|prune`: the flags, output and exit codes of `docker volume`,
 * against the engine daemon (started on demand). The engine has the `local` driver only.
 */
import type { Command } from "commander";
import type { VolumeInspect } from "../../volumes/manager.js";
import { humanSize } from "../format.js";
import type { CliIo } from "../io.js";
import { UsageError } from "./config.js";
import { collect, forEachContainer } from "./container/shared.js";
import {
  confirm,
  defaultObjectsContext,
  filterFlags,
  inspectEach,
  keyValues,
  labelText,
  objectCommands,
  type ObjectsContext,
  writeList,
} from "./engine-objects.js";

export function volumeCommands(
  program: Command,
  io: CliIo,
  ctx: ObjectsContext = defaultObjectsContext(io),
): void {
  objectCommands(
    program,
    "volume",
    "manage volumes (create, ls, inspect, rm, prune)",
    { create: defineCreate, ls: defineLs, inspect: defineInspect, rm: defineRm, prune: definePrune },
    ctx,
  );
}

// --- create ------------------------------------------------------------------------------------------

interface CreateFlags {
  driver: string;
  name?: string;
  label?: string[];
  opt?: string[];
}

function defineCreate(cmd: Command, ctx: ObjectsContext): Command {
  return cmd
    .description("create a volume (default: an anonymous one with a generated name)")
    .argument("[name]", "volume name")
    .option("-d, --driver <driver>", "volume driver (only local)", "local")
    .option("--name <name>", "volume name (the same as the argument)")
    .option("--label <key=value>", "set metadata on the volume (repeatable)", collect)
    .option(
      "-o, --opt <key=value>",
      "local driver options: type=none, o=bind, device=/host/dir for a host directory (repeatable)",
      collect,
    )
    .action(async (arg: string | undefined, flags: CreateFlags, c: Command) => {
      if (arg !== undefined && flags.name !== undefined && arg !== flags.name)
        throw new UsageError(
          "conflicting options: either specify --name or provide positional arg, not both",
        );
      const name = arg ?? flags.name;
      const labels = keyValues("--label", flags.label ?? []);
      const driverOpts = keyValues("--opt", flags.opt ?? []);
      await using conn = await ctx.connect(c);
      const volume = await conn.engine.createVolume({
        ...(name !== undefined ? { Name: name } : {}),
        Driver: flags.driver,
        DriverOpts: driverOpts,
        Labels: labels,
      });
      ctx.io.stdout.write(`${volume.Name}\n`);
    });
}

// --- ls ----------------------------------------------------------------------------------------------

/** One row of `volume ls`, with docker's field names (what `--format` templates see). */
interface VolumeRow {
  Name: string;
  Driver: string;
  Scope: string;
  Mountpoint: string;
  Labels: string;
  Links: string;
  Size: string;
  CreatedAt: string;
}

const LS_HEADERS: Record<string, string> = {
  Name: "VOLUME NAME",
  Driver: "DRIVER",
  Scope: "SCOPE",
  Mountpoint: "MOUNTPOINT",
  Labels: "LABELS",
  Links: "LINKS",
  Size: "SIZE",
  CreatedAt: "CREATED AT",
};

const LS_FILTERS = ["dangling", "driver", "label", "name"];

function volumeRow(v: VolumeInspect): VolumeRow {
  return {
    Name: v.Name,
    Driver: v.Driver,
    Scope: v.Scope,
    Mountpoint: v.Mountpoint,
    Labels: labelText(v.Labels),
    // docker shows N/A unless asked for disk usage (`system df -v`), which tsstack does not have.
    Links: "N/A",
    Size: "N/A",
    CreatedAt: v.CreatedAt,
  };
}

interface LsFlags {
  quiet?: boolean;
  format?: string;
  filter?: string[];
}

function defineLs(cmd: Command, ctx: ObjectsContext): Command {
  return cmd
    .description("list volumes")
    .option("-q, --quiet", "only show volume names")
    .option("--format <format>", "table (default), json, or a Go-style template such as '{{.Name}}'")
    .option("-f, --filter <filter>", `filter output: ${LS_FILTERS.map((k) => `${k}=…`).join(", ")}`, collect)
    .action(async (flags: LsFlags, c: Command) => {
      const filters = filterFlags(flags.filter ?? [], LS_FILTERS);
      await using conn = await ctx.connect(c);
      const { Volumes, Warnings } = await conn.engine.listVolumes({ filters });
      for (const w of Warnings ?? []) ctx.io.stderr.write(`WARNING: ${w}\n`);
      // docker sorts by name.
      const rows = [...Volumes]
        .sort((a, b) => a.Name.localeCompare(b.Name, undefined, { numeric: true }))
        .map(volumeRow);
      writeList(ctx.io, rows, flags, { id: "Name", columns: ["Driver", "Name"] }, LS_HEADERS);
    });
}

// --- inspect / rm / prune ----------------------------------------------------------------------------

function defineInspect(cmd: Command, ctx: ObjectsContext): Command {
  return cmd
    .description("show detailed information on volumes (Docker-shaped JSON)")
    .argument("<volume...>", "names")
    .option("-f, --format <template>", "format with a Go-style template, e.g. '{{.Mountpoint}}'")
    .action(async (names: string[], flags: { format?: string }, c: Command) => {
      await using conn = await ctx.connect(c);
      await inspectEach(ctx.io, names, flags.format, (ref) => conn.engine.inspectVolume(ref), {
        code: "volume/not-found",
        noun: "volume",
      });
    });
}

function defineRm(cmd: Command, ctx: ObjectsContext): Command {
  return cmd
    .description("remove volumes no container uses")
    .argument("<volume...>", "names")
    .option("-f, --force", "do not fail on volumes that do not exist")
    .action(async (names: string[], flags: { force?: boolean }, c: Command) => {
      await using conn = await ctx.connect(c);
      // Like docker: go on with the other volumes, report every failure, exit 1.
      await forEachContainer(ctx.io, names, async (name) => {
        await conn.engine.removeVolume(name, { force: flags.force === true });
        ctx.io.stdout.write(`${name}\n`);
      });
    });
}

function definePrune(cmd: Command, ctx: ObjectsContext): Command {
  return cmd
    .description("remove anonymous volumes no container uses (with -a, every volume no container uses)")
    .option("-a, --all", "remove named volumes too, not only anonymous ones")
    .option("-f, --force", "do not prompt for confirmation")
    .option("--filter <filter>", "only volumes matching: label=KEY[=VALUE], label!=KEY[=VALUE]", collect)
    .action(async (flags: { all?: boolean; force?: boolean; filter?: string[] }, c: Command) => {
      const filters = filterFlags(flags.filter ?? [], ["label", "label!"]);
      if (flags.all === true) filters["all"] = ["true"];
      const warning =
        flags.all === true
          ? "This will remove all local volumes not used by at least one container."
          : "This will remove anonymous local volumes not used by at least one container.";
      if (flags.force !== true && !(await confirm(ctx.io, warning))) return;
      await using conn = await ctx.connect(c);
      const { VolumesDeleted, SpaceReclaimed } = await conn.engine.pruneVolumes({ filters });
      if (VolumesDeleted.length > 0)
        ctx.io.stdout.write(`Deleted Volumes:\n${VolumesDeleted.map((n) => `${n}\n`).join("")}\n`);
      ctx.io.stdout.write(`Total reclaimed space: ${humanSize(SpaceReclaimed)}\n`);
    });
}
