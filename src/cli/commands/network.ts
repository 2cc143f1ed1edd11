/**
 * `tsstack network create|ls|inspect|rm|prune`: the flags, output and exit codes of `docker network`,
 * against the engine daemon (started on demand). The engine's networks are IPv4 bridges.
 */
import type { Command } from "commander";
import { TsstackError } from "../../common/errors.js";
import type { NetworkCreateOptions, NetworkInspect } from "../../network/types.js";
import { goTime } from "../format.js";
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

export function networkCommands(
  program: Command,
  io: CliIo,
  ctx: ObjectsContext = defaultObjectsContext(io),
): void {
  objectCommands(
    program,
    "network",
    "manage networks (create, ls, inspect, rm, prune)",
    { create: defineCreate, ls: defineLs, inspect: defineInspect, rm: defineRm, prune: definePrune },
    ctx,
  );
}

// --- create ------------------------------------------------------------------------------------------

interface CreateFlags {
  driver: string;
  subnet?: string[];
  gateway?: string[];
  ipRange?: string[];
  internal?: boolean;
  attachable?: boolean;
  ipv6?: boolean;
  label?: string[];
  opt?: string[];
}

/** At most one value of a repeatable flag: the engine's networks have one IPv4 subnet. */
function single(flag: string, values: readonly string[] | undefined): string | undefined {
  if (values !== undefined && values.length > 1)
    throw new UsageError(`--${flag} was given ${values.length} times: a tsstack network has one IPv4 subnet`);
  return values?.[0];
}

/** The create body of the flags; refusals (IPv6, several subnets) before anything is sent. */
function networkCreateOptions(name: string, flags: CreateFlags): NetworkCreateOptions {
  if (flags.ipv6 === true)
    throw new UsageError(
      `creating network ${name}: --ipv6 is not supported: tsstack's networks are IPv4-only (create it without --ipv6)`,
    );
  const subnet = single("subnet", flags.subnet);
  const gateway = single("gateway", flags.gateway);
  const ipRange = single("ip-range", flags.ipRange);
  const config = {
    ...(subnet !== undefined ? { Subnet: subnet } : {}),
    ...(gateway !== undefined ? { Gateway: gateway } : {}),
    ...(ipRange !== undefined ? { IPRange: ipRange } : {}),
  };
  return {
    Name: name,
    Driver: flags.driver,
    Internal: flags.internal === true,
    Attachable: flags.attachable === true,
    Labels: keyValues("--label", flags.label ?? []),
    Options: keyValues("--opt", flags.opt ?? []),
    IPAM: { Driver: "default", Config: Object.keys(config).length > 0 ? [config] : [] },
  };
}

function defineCreate(cmd: Command, ctx: ObjectsContext): Command {
  return cmd
    .description("create a network (an IPv4 bridge)")
    .argument("<name>", "network name")
    .option("-d, --driver <driver>", "network driver (only bridge)", "bridge")
    .option(
      "--subnet <cidr>",
      "subnet, e.g. 10.20.0.0/24 (default: a free /24 of the engine's pool)",
      collect,
    )
    .option("--gateway <ip>", "gateway address in the subnet (default: its first address)", collect)
    .option("--ip-range <cidr>", "allocate container addresses from this part of the subnet", collect)
    .option("--internal", "no access to or from outside the network")
    .option("--attachable", "accepted for docker compatibility (every network is attachable)")
    .option("--ipv6", "refused: tsstack's networks are IPv4-only")
    .option("--label <key=value>", "set metadata on the network (repeatable)", collect)
    .option(
      "-o, --opt <key=value>",
      "driver options, e.g. com.docker.network.driver.mtu=1400 (repeatable)",
      collect,
    )
    .action(async (name: string, flags: CreateFlags, c: Command) => {
      const options = networkCreateOptions(name, flags);
      await using conn = await ctx.connect(c);
      const result = await conn.engine.createNetwork(options);
      if (result.Warning !== "") ctx.io.stderr.write(`WARNING: ${result.Warning}\n`);
      ctx.io.stdout.write(`${result.Id}\n`);
    });
}

// --- ls ----------------------------------------------------------------------------------------------

/** One row of `network ls`, with docker's field names (what `--format` templates see). */
interface NetworkRow {
  ID: string;
  Name: string;
  Driver: string;
  Scope: string;
  IPv6: string;
  Internal: string;
  Labels: string;
  CreatedAt: string;
}

const LS_HEADERS: Record<string, string> = {
  ID: "NETWORK ID",
  Name: "NAME",
  Driver: "DRIVER",
  Scope: "SCOPE",
  IPv6: "IPV6",
  Internal: "INTERNAL",
  Labels: "LABELS",
  CreatedAt: "CREATED AT",
};

const LS_FILTERS = ["driver", "id", "label", "name", "scope", "type", "dangling"];

function networkRow(n: NetworkInspect, truncate: boolean): NetworkRow {
  const created = new Date(n.Created);
  return {
    ID: truncate ? n.Id.slice(0, 12) : n.Id,
    Name: n.Name,
    Driver: n.Driver,
    Scope: n.Scope,
    IPv6: String(n.EnableIPv6),
    Internal: String(n.Internal),
    Labels: labelText(n.Labels),
    CreatedAt: Number.isNaN(created.getTime()) ? "" : goTime(created),
  };
}

interface LsFlags {
  quiet?: boolean;
  trunc?: boolean;
  format?: string;
  filter?: string[];
}

function defineLs(cmd: Command, ctx: ObjectsContext): Command {
  return cmd
    .description("list networks")
    .option("-q, --quiet", "only show network IDs")
    .option("--no-trunc", "don't truncate IDs")
    .option("--format <format>", "table (default), json, or a Go-style template such as '{{.Name}}'")
    .option("-f, --filter <filter>", `filter output: ${LS_FILTERS.map((k) => `${k}=…`).join(", ")}`, collect)
    .action(async (flags: LsFlags, c: Command) => {
      const filters = filterFlags(flags.filter ?? [], LS_FILTERS);
      await using conn = await ctx.connect(c);
      const networks = await conn.engine.listNetworks({ filters });
      // docker sorts by name.
      networks.sort((a, b) => a.Name.localeCompare(b.Name, undefined, { numeric: true }));
      const rows = networks.map((n) => networkRow(n, flags.trunc !== false));
      writeList(ctx.io, rows, flags, { id: "ID", columns: ["ID", "Name", "Driver", "Scope"] }, LS_HEADERS);
    });
}

// --- inspect / rm / prune ----------------------------------------------------------------------------

function defineInspect(cmd: Command, ctx: ObjectsContext): Command {
  return cmd
    .description("show detailed information on networks (Docker-shaped JSON)")
    .argument("<network...>", "names or ids")
    .option("-f, --format <template>", "format with a Go-style template, e.g. '{{.Id}}' or '{{json .IPAM}}'")
    .action(async (refs: string[], flags: { format?: string }, c: Command) => {
      await using conn = await ctx.connect(c);
      await inspectEach(ctx.io, refs, flags.format, (ref) => conn.engine.inspectNetwork(ref), {
        code: "network/not-found",
        noun: "network",
      });
    });
}

function defineRm(cmd: Command, ctx: ObjectsContext): Command {
  return cmd
    .description("remove networks")
    .argument("<network...>", "names or ids")
    .option("-f, --force", "do not fail on networks that do not exist")
    .action(async (refs: string[], flags: { force?: boolean }, c: Command) => {
      await using conn = await ctx.connect(c);
      // Like docker: go on with the other networks, report every failure, exit 1.
      await forEachContainer(ctx.io, refs, async (ref) => {
        try {
          await conn.engine.removeNetwork(ref);
        } catch (e) {
          if (flags.force === true && e instanceof TsstackError && e.code === "network/not-found") return;
          throw e;
        }
        ctx.io.stdout.write(`${ref}\n`);
      });
    });
}

function definePrune(cmd: Command, ctx: ObjectsContext): Command {
  return cmd
    .description("remove all networks no container uses")
    .option("-f, --force", "do not prompt for confirmation")
    .option("--filter <filter>", "only networks matching: label=KEY[=VALUE], until=TIMESTAMP", collect)
    .action(async (flags: { force?: boolean; filter?: string[] }, c: Command) => {
      const filters = filterFlags(flags.filter ?? [], ["label", "until"]);
      if (
        flags.force !== true &&
        !(await confirm(ctx.io, "This will remove all custom networks not used by at least one container."))
      )
        return;
      await using conn = await ctx.connect(c);
      const { NetworksDeleted } = await conn.engine.pruneNetworks({ filters });
      if (NetworksDeleted.length > 0)
        ctx.io.stdout.write(`Deleted Networks:\n${NetworksDeleted.map((n) => `${n}\n`).join("")}\n`);
    });
}
