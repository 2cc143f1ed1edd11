/**
 * The stack a compose command acts on, from the project flags (-f, -p, --project-directory,
 * --env-file, --profile) given before or after the subcommand, loaded exactly as `tsstack config`
 * loads it (same errors, exit code 2 for an invalid file).
 */
import type { Command } from "commander";
import { TsstackError } from "../../../common/errors.js";
import { LABEL_PROJECT, LABEL_SERVICE } from "../../../reconciler/labels.js";
import type { ContainerSummary, Runtime } from "../../../runtime/runtime.js";
import { formatIssue } from "../../../spec/diagnostics.js";
import type { LoadedStack } from "../../../spec/load.js";
import { addEngineOptions } from "../../engine-options.js";
import type { CliIo } from "../../io.js";
import { addProjectOptions, loadOptionsFrom, type ProjectFlags } from "../../project-options.js";

/**
 * The project and engine flags again on a compose subcommand: the program takes its own options only
 * before the subcommand when a compose command runs (so `down -v` and `logs -f` are the subcommand's,
 * not `--version` and `--file`), and compose users write `tsstack up -f stack.yml` too. `-f` is left
 * out where the command uses it otherwise (`logs -f` follows, as in compose); `--file` still works.
 */
export function addStackOptions(cmd: Command, opts: { readonly fileShort?: boolean } = {}): Command {
  return addEngineOptions(addProjectOptions(cmd, opts));
}

/**
 * The project flags of `cmd` and its ancestors: repeatable ones in command-line order (before the
 * subcommand, then after), single ones from the nearest command that has them.
 */
export function projectFlags(cmd: Command): ProjectFlags {
  const chain: Command[] = [];
  for (let c: Command | null = cmd; c !== null; c = c.parent) chain.unshift(c);
  const flags: ProjectFlags = {};
  for (const c of chain) {
    const o = c.opts<ProjectFlags>();
    if (o.file !== undefined) flags.file = [...(flags.file ?? []), ...o.file];
    if (o.envFile !== undefined) flags.envFile = [...(flags.envFile ?? []), ...o.envFile];
    if (o.profile !== undefined) flags.profile = [...(flags.profile ?? []), ...o.profile];
    if (o.projectName !== undefined) flags.projectName = o.projectName;
    if (o.projectDirectory !== undefined) flags.projectDirectory = o.projectDirectory;
  }
  return flags;
}

/** Loads the stack of `cmd`'s flags; warnings go to stderr, invalid files throw SpecError. */
export async function loadProject(cmd: Command, io: CliIo): Promise<LoadedStack> {
  // Loaded on use: the loader pulls in ajv and the Compose schema (see config.ts).
  const { loadStack } = await import("../../../spec/load.js");
  const loaded = loadStack(loadOptionsFrom(projectFlags(cmd), io));
  for (const w of loaded.warnings) io.stderr.write(`${formatIssue(w)}\n`);
  return loaded;
}

/**
 * The stack for commands that need no stack file (`down`, `ps`, `logs`, …): loaded from the file when
 * there is one, else only named by `-p` (or `TSSTACK_PROJECT_NAME` / `COMPOSE_PROJECT_NAME`), as compose
 * allows `docker compose -p proj down` anywhere. An invalid file is still an error (exit 2).
 */
export async function resolveProject(
  cmd: Command,
  io: CliIo,
): Promise<{ readonly name: string; readonly loaded?: LoadedStack }> {
  try {
    const loaded = await loadProject(cmd, io);
    return { name: loaded.spec.name, loaded };
  } catch (error) {
    const named =
      projectFlags(cmd).projectName ?? io.env["TSSTACK_PROJECT_NAME"] ?? io.env["COMPOSE_PROJECT_NAME"];
    if (error instanceof TsstackError && error.code === "spec/no-file" && named !== undefined && named !== "")
      return { name: named };
    throw error;
  }
}

/** The stack's containers (running ones unless `all`), only of `services` when given. */
export async function stackContainers(
  runtime: Runtime,
  project: string,
  opts: { readonly all: boolean; readonly services?: readonly string[] },
): Promise<ContainerSummary[]> {
  const containers = await runtime.listContainers({
    all: opts.all,
    filters: { label: [`${LABEL_PROJECT}=${project}`] },
  });
  const services = opts.services ?? [];
  return services.length === 0
    ? containers
    : containers.filter((c) => services.includes(c.Labels[LABEL_SERVICE] ?? ""));
}
