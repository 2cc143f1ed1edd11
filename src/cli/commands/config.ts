import { Option, type Command } from "commander";
import { formatIssue } from "../../spec/diagnostics.js";
import { serviceConfigHash, toCanonical } from "../../spec/canonical.js";
import type { LoadedStack } from "../../spec/load.js";
import type { CliIo } from "../io.js";
import { loadOptionsFrom, type ProjectFlags } from "../project-options.js";

interface ConfigFlags {
  format: "yaml" | "json";
  services?: boolean;
  volumes?: boolean;
  profiles?: boolean;
  images?: boolean;
  hash?: string;
  quiet?: boolean;
}

/** `tsstack config`: validate and print the canonical model, like `docker compose config`. */
export function configCommand(program: Command, io: CliIo): Command {
  return program
    .command("config")
    .description("validate the stack files and print the canonical model")
    .addOption(new Option("--format <format>", "output format").choices(["yaml", "json"]).default("yaml"))
    .option("--services", "print the service names, one per line")
    .option("--volumes", "print the volume names, one per line")
    .option("--profiles", "print every profile named in the files, one per line")
    .option("--images", "print the image of each service, one per line")
    .option(
      "--hash <services>",
      "print `service hash` per line for the given services (comma-separated, or *)",
    )
    .option("-q, --quiet", "only validate; print nothing but problems")
    .action(async (flags: ConfigFlags, cmd: Command) => {
      // Loaded on use: the loader pulls in ajv and the Compose schema, which every other command
      // (and --help, --version) would otherwise pay for at start-up.
      const { loadStack } = await import("../../spec/load.js");
      const project = cmd.optsWithGlobals<ProjectFlags>();
      const loaded = loadStack(loadOptionsFrom(project, io));
      for (const w of loaded.warnings) io.stderr.write(`${formatIssue(w)}\n`);
      const { spec } = loaded;
      const list = listing(flags, loaded);
      if (list !== undefined) {
        for (const item of list) io.stdout.write(`${item}\n`);
        return;
      }
      const model = toCanonical(spec);
      if (flags.format === "json") io.stdout.write(`${JSON.stringify(model, null, 2)}\n`);
      else {
        const { default: YAML } = await import("yaml");
        io.stdout.write(YAML.stringify(model, { lineWidth: 0 }));
      }
    });
}

/** The one-item-per-line forms (`--services`, `--hash`, …); `undefined` for the full model. */
function listing(flags: ConfigFlags, loaded: LoadedStack): string[] | undefined {
  const { spec } = loaded;
  if (flags.quiet === true) return [];
  if (flags.services === true) return Object.keys(spec.services);
  if (flags.volumes === true) return Object.keys(spec.volumes);
  if (flags.profiles === true) return [...loaded.allProfiles];
  if (flags.images === true) {
    // Like compose: a service without `image` is built as <project>-<service>.
    return Object.entries(spec.services).map(([name, svc]) => svc.image ?? `${spec.name}-${name}`);
  }
  if (flags.hash !== undefined) {
    const wanted =
      flags.hash.trim() === "*" ? Object.keys(spec.services) : flags.hash.split(",").map((s) => s.trim());
    const unknown = wanted.filter((s) => !(s in spec.services));
    if (unknown.length > 0) throw new UsageError(`no such service: ${unknown.join(", ")}`);
    return wanted.map((s) => `${s} ${serviceConfigHash(spec, s)}`);
  }
  return undefined;
}

/** Wrong use of the command line (exit code 2). */
export class UsageError extends Error {
  override readonly name = "UsageError";
}
