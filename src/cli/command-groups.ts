/**
 * The CLI's commands in groups, each loaded only when it runs: `tsstack up` does not load the image
 * store, the registry client and the container commands, `tsstack run` not the stack loader (~40
 * modules fewer to load per run). A group's top-level names are listed here so that choosing the
 * group needs none of them; test/cli/command-groups.test.ts checks the lists against what each group
 * registers.
 */
import type { Command } from "commander";
import type { CliIo } from "./io.js";

export interface CommandGroup {
  /** The top-level command names the group registers. */
  readonly names: readonly string[];
  /**
   * docker's commands reuse -f and -p (filter, password) that compose's project options also claim:
   * for them, program options count only before the subcommand name, as docker's global flags do.
   * The compose commands take -f, -v, -t as their own (`logs -f`, `down -v`) and repeat the project
   * flags themselves (compose/project.ts).
   */
  readonly positionalOptions: boolean;
  register(program: Command, io: CliIo): Promise<unknown>;
}

/** In help order. */
export const COMMAND_GROUPS: readonly CommandGroup[] = [
  {
    names: ["config"],
    positionalOptions: false,
    register: async (program, io) => (await import("./commands/config.js")).configCommand(program, io),
  },
  {
    names: ["image", "pull", "push", "images", "rmi", "tag", "load", "save", "import"],
    positionalOptions: true,
    register: async (program, io) => {
      (await import("./commands/image.js")).imageCommands(program, io);
    },
  },
  {
    names: [
      ...["container", "run", "create", "ps", "logs", "exec", "start", "stop", "restart", "kill", "rm"],
      ...["pause", "unpause", "wait", "inspect", "top", "stats", "cp", "commit", "export"],
    ],
    positionalOptions: true,
    register: async (program, io) => {
      (await import("./commands/container.js")).containerCommands(program, io);
    },
  },
  {
    names: ["network"],
    positionalOptions: true,
    register: async (program, io) => {
      (await import("./commands/network.js")).networkCommands(program, io);
    },
  },
  {
    names: ["volume"],
    positionalOptions: true,
    register: async (program, io) => {
      (await import("./commands/volume.js")).volumeCommands(program, io);
    },
  },
  {
    names: ["login", "logout"],
    positionalOptions: true,
    register: async (program, io) => {
      (await import("./commands/login.js")).loginCommands(program, io);
    },
  },
  {
    names: ["daemon"],
    positionalOptions: false,
    register: async (program, io) => {
      (await import("./commands/daemon.js")).daemonCommand(program, io);
    },
  },
  {
    names: ["compose", "up", "down", "plan", "scale", "ls", "events"],
    positionalOptions: true,
    register: async (program, io) => {
      (await import("./commands/compose/commands.js")).composeCommands(program, io);
    },
  },
];
