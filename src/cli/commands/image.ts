/**
 * `tsstack image pull|push|ls|inspect|rm|tag|prune|load|save|import`, and docker's top-level aliases
 * (`pull`, `push`, `images`, `rmi`, `tag`, `load`, `save`, `import`): the flags and output of the docker
 * CLI, against the embedded image store under the engine root (`--root` / `TSSTACK_ROOT`).
 */
import { createReadStream } from "node:fs";
import { resolve } from "node:path";
import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { Option, type Command } from "commander";
import { internalError, TsstackError } from "../../common/errors.js";
import {
  applyChanges,
  importRootfs,
  loadArchive,
  saveArchive,
  type ArchiveFormat,
  type ArchiveSource,
} from "../../runtime/images/archive.js";
import {
  familiarName,
  formatReference,
  formatRepository,
  parseReference,
} from "../../runtime/images/reference.js";
import { CredentialStore, defaultAuthFilePath } from "../../runtime/images/registry/credentials.js";
import type { RegistryClientOptions } from "../../runtime/images/registry/client.js";
import { ProgressRenderer } from "../../runtime/images/registry/progress.js";
import { pullImageWithStats } from "../../runtime/images/registry/pull.js";
import { pushImage } from "../../runtime/images/registry/push.js";
import { imageUseCheck } from "../../runtime/containers/record.js";
import { ImageStore } from "../../runtime/images/store.js";
import { imageInspect, readImageConfig } from "../../runtime/images/inspect.js";
import type { ImageRecord, Platform, TransferProgress } from "../../runtime/images/types.js";
import { addEngineOptions, engineRoot, type EngineFlags } from "../engine-options.js";
import { goTime, humanDuration, humanSize, table, writeFormatted } from "../format.js";
import type { CliIo } from "../io.js";
import { UsageError } from "./config.js";
import { readLine } from "./login.js";

type Define = (cmd: Command, io: CliIo) => Command;

const SUBCOMMANDS: readonly {
  readonly name: string;
  readonly aliases?: readonly string[];
  /** docker's top-level shortcut (`docker images` for `docker image ls`). */
  readonly topLevel?: string;
  readonly define: Define;
}[] = [
  { name: "pull", topLevel: "pull", define: definePull },
  { name: "push", topLevel: "push", define: definePush },
  { name: "ls", aliases: ["list"], topLevel: "images", define: defineLs },
  { name: "inspect", define: defineInspect },
  { name: "rm", aliases: ["remove"], topLevel: "rmi", define: defineRm },
  { name: "tag", topLevel: "tag", define: defineTag },
  { name: "prune", define: definePrune },
  { name: "load", topLevel: "load", define: defineLoad },
  { name: "save", topLevel: "save", define: defineSave },
  { name: "import", topLevel: "import", define: defineImport },
];

export function imageCommands(program: Command, io: CliIo): void {
  const image = program.command("image").description("manage images (pull, push, ls, load, save, import, …)");
  for (const sub of SUBCOMMANDS) {
    // --root also after the subcommand: docker-style commands take program options only before it.
    const cmd = addEngineOptions(sub.define(image.command(sub.name), io));
    for (const alias of sub.aliases ?? []) cmd.alias(alias);
    if (sub.topLevel !== undefined) addEngineOptions(sub.define(program.command(sub.topLevel), io));
  }
}

/**
 * Opens the image store under the engine root; the caller must close it (`await using`), which
 * releases the store root's lock for the next command. Waits for another command holding it.
 */
function openStore(cmd: Command, io: CliIo): Promise<ImageStore> {
  const root = engineRoot(cmd.optsWithGlobals<EngineFlags>(), io);
  return ImageStore.open(root, {
    // Images of containers (running or not) are in use: `rmi` refuses them, prune keeps them.
    inUse: imageUseCheck(root),
    onLockWait: ({ root }) => {
      io.stderr.write(`waiting for another tsstack command using ${root}…\n`);
    },
  });
}

/**
 * Pull/push/login talk to registries with the user's `tsstack login` credentials. Plain HTTP is only
 * for loopback and for the hosts (host, host:port or CIDR) listed in TSSTACK_INSECURE_REGISTRIES,
 * comma-separated: the counterpart of Docker's `insecure-registries` daemon setting.
 */
export function registryOptions(io: Pick<CliIo, "env">): RegistryClientOptions {
  const insecureRegistries = (io.env["TSSTACK_INSECURE_REGISTRIES"] ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  return { credentials: new CredentialStore(defaultAuthFilePath(io.env)), insecureRegistries };
}

function now(io: CliIo): Date {
  return io.now?.() ?? new Date();
}

// --- pull / push -------------------------------------------------------------------------------------

interface TransferFlags {
  quiet?: boolean;
  platform?: string;
}

function definePull(cmd: Command, io: CliIo): Command {
  return cmd
    .description("download an image from a registry")
    .argument("<name>", "NAME[:TAG|@DIGEST]")
    .option("-q, --quiet", "print only the image name")
    .option("--platform <platform>", "platform of a multi-platform image (os/arch[/variant])")
    .action(async (name: string, flags: TransferFlags, c: Command) => {
      const ref = parseReference(name);
      const platform = flags.platform !== undefined ? parsePlatform(flags.platform) : undefined;
      await using store = await openStore(c, io);
      const say = (s: string): void => {
        if (flags.quiet !== true) io.stdout.write(s);
      };
      if (!hasTagOrDigest(name)) say(`Using default tag: ${ref.tag ?? "latest"}\n`);
      say(`${ref.digest ?? ref.tag ?? ""}: Pulling from ${ref.repository}\n`);
      const before = await store.resolve(formatReference(ref));
      const progress = progressFor(io, flags.quiet);
      const result = await pullImageWithStats(store, name, {
        client: registryOptions(io),
        platform,
        onProgress: progress?.update,
      });
      progress?.finish();
      say(`Digest: ${result.digest}\n`);
      const upToDate = before?.id === result.image.id && result.stats.blobsDownloaded === 0;
      say(
        `Status: ${upToDate ? "Image is up to date" : "Downloaded newer image"} for ${familiarName(ref)}\n`,
      );
      io.stdout.write(`${formatReference(ref)}\n`);
    });
}

function definePush(cmd: Command, io: CliIo): Command {
  return cmd
    .description("upload an image to a registry")
    .argument("<name>", "NAME[:TAG]")
    .option("-q, --quiet", "print only the pushed reference")
    .action(async (name: string, flags: TransferFlags, c: Command) => {
      const ref = parseReference(name);
      await using store = await openStore(c, io);
      const say = (s: string): void => {
        if (flags.quiet !== true) io.stdout.write(s);
      };
      say(`The push refers to repository [${formatRepository(ref)}]\n`);
      const progress = progressFor(io, flags.quiet);
      const result = await pushImage(store, name, undefined, {
        client: registryOptions(io),
        onProgress: progress?.update,
      });
      progress?.finish();
      if (flags.quiet === true) io.stdout.write(`${result.reference}\n`);
      else say(`${ref.tag ?? ref.digest ?? ""}: digest: ${result.digest} size: ${result.size}\n`);
    });
}

function progressFor(
  io: CliIo,
  quiet: boolean | undefined,
): { update: (p: TransferProgress) => void; finish: () => void } | undefined {
  if (quiet === true) return undefined;
  const renderer = new ProgressRenderer(io.stdout, { now: () => now(io).getTime() });
  return {
    update: (p) => {
      renderer.update(p);
    },
    finish: () => {
      renderer.finish();
    },
  };
}

/** `busybox` has neither; `busybox:1`, `x@sha256:…`, `localhost:5000/x:y` have one. */
function hasTagOrDigest(name: string): boolean {
  return name.includes("@") || name.slice(name.lastIndexOf("/") + 1).includes(":");
}

function parsePlatform(text: string): Platform {
  const [os, architecture, variant, ...rest] = text.split("/");
  if (os === undefined || os === "" || architecture === undefined || architecture === "" || rest.length > 0) {
    throw new UsageError(`invalid platform "${text}": expected os/arch[/variant], e.g. linux/amd64`);
  }
  return { os, architecture, ...(variant !== undefined && variant !== "" ? { variant } : {}) };
}

// --- ls ----------------------------------------------------------------------------------------------

interface LsFlags {
  all?: boolean;
  quiet?: boolean;
  digests?: boolean;
  trunc?: boolean;
  format?: string;
  filter?: string[];
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/** One row of `image ls`, with docker's field names (what `--format` templates see). */
interface ImageRow {
  Containers: string;
  CreatedAt: string;
  CreatedSince: string;
  Digest: string;
  ID: string;
  Repository: string;
  SharedSize: string;
  Size: string;
  Tag: string;
  UniqueSize: string;
  VirtualSize: string;
}

const LS_HEADERS: Record<string, string> = {
  Containers: "CONTAINERS",
  CreatedAt: "CREATED AT",
  CreatedSince: "CREATED",
  Digest: "DIGEST",
  ID: "IMAGE ID",
  Repository: "REPOSITORY",
  SharedSize: "SHARED SIZE",
  Size: "SIZE",
  Tag: "TAG",
  UniqueSize: "UNIQUE SIZE",
  VirtualSize: "VIRTUAL SIZE",
};

function defineLs(cmd: Command, io: CliIo): Command {
  return cmd
    .description("list images")
    .argument("[reference]", "only images matching REPOSITORY[:TAG]")
    .option(
      "-a, --all",
      "show all images (there are no intermediate images; accepted for docker compatibility)",
    )
    .option("-q, --quiet", "only show image IDs")
    .option("--digests", "show digests")
    .option("--no-trunc", "don't truncate output")
    .option(
      "--format <format>",
      "table (default), json, or a Go-style template such as '{{.Repository}}:{{.Tag}}'",
    )
    .option(
      "-f, --filter <filter>",
      "filter output: dangling=true|false, reference=PATTERN, label=KEY[=VALUE]",
      collect,
    )
    .action(async (reference: string | undefined, flags: LsFlags, c: Command) => {
      const filters = parseFilters(flags.filter ?? []);
      if (reference !== undefined) filters.reference.push(reference);
      await using store = await openStore(c, io);
      const images: ImageRecord[] = [];
      for (const image of await store.list()) {
        if (await matchesFilters(store, image, filters)) images.push(image);
      }
      const truncate = flags.trunc !== false;
      const rows = images.flatMap((image) => imageRows(image, truncate, now(io), filters.reference));
      if (flags.quiet === true) {
        for (const row of rows) io.stdout.write(`${row.ID}\n`);
        return;
      }
      const format = flags.format ?? "table";
      if (format === "table") {
        const columns = [
          "Repository",
          "Tag",
          ...(flags.digests === true ? ["Digest"] : []),
          "ID",
          "CreatedSince",
          "Size",
        ];
        io.stdout.write(table(columns, rows as unknown as Record<string, unknown>[], LS_HEADERS));
        return;
      }
      writeFormatted(io, format, rows, LS_HEADERS);
    });
}

interface Filters {
  dangling?: boolean;
  reference: string[];
  label: { key: string; value?: string }[];
}

function parseFilters(specs: readonly string[]): Filters {
  const filters: Filters = { reference: [], label: [] };
  for (const spec of specs) {
    const eq = spec.indexOf("=");
    const key = eq === -1 ? spec : spec.slice(0, eq);
    const value = eq === -1 ? "" : spec.slice(eq + 1);
    if (key === "dangling" && (value === "true" || value === "false")) filters.dangling = value === "true";
    else if (key === "reference" && value !== "") filters.reference.push(value);
    else if (key === "label" && value !== "") {
      const e = value.indexOf("=");
      filters.label.push(e === -1 ? { key: value } : { key: value.slice(0, e), value: value.slice(e + 1) });
    } else {
      throw new UsageError(
        `invalid filter "${spec}" (supported: dangling=true|false, reference=PATTERN, label=KEY[=VALUE])`,
      );
    }
  }
  return filters;
}

async function matchesFilters(store: ImageStore, image: ImageRecord, f: Filters): Promise<boolean> {
  if (f.dangling !== undefined && (image.repoTags.length === 0) !== f.dangling) return false;
  if (
    f.reference.length > 0 &&
    !image.repoTags.some((t) => f.reference.some((p) => referenceMatches(p, t)))
  ) {
    return false;
  }
  if (f.label.length > 0) {
    const labels = (await readImageConfig(store, image)).config?.Labels ?? {};
    for (const want of f.label) {
      const have = labels[want.key];
      if (have === undefined || (want.value !== undefined && have !== want.value)) return false;
    }
  }
  return true;
}

/** docker's reference filter: a glob (path.Match) over the familiar `name` or `name:tag`. */
function referenceMatches(pattern: string, fullName: string): boolean {
  const familiarFull = familiarName(parseReference(fullName));
  const repo = familiarFull.slice(0, familiarFull.lastIndexOf(":"));
  const re = new RegExp(
    `^${pattern
      .split("")
      .map((ch) => (ch === "*" ? "[^/]*" : ch === "?" ? "[^/]" : ch.replace(/[.+^${}()|[\]\\]/g, "\\$&")))
      .join("")}$`,
  );
  return re.test(familiarFull) || re.test(repo);
}

function imageRows(image: ImageRecord, truncate: boolean, at: Date, patterns: readonly string[]): ImageRow[] {
  const id = truncate ? image.id.slice("sha256:".length, "sha256:".length + 12) : image.id;
  const created = image.created !== undefined ? new Date(image.created) : undefined;
  const valid = created !== undefined && !Number.isNaN(created.getTime());
  const base = {
    Containers: "N/A",
    CreatedAt: valid ? goTime(created) : "N/A",
    CreatedSince: valid ? `${humanDuration(at.getTime() - created.getTime())} ago` : "N/A",
    ID: id,
    SharedSize: "N/A",
    Size: humanSize(image.size),
    UniqueSize: "N/A",
    VirtualSize: humanSize(image.size),
  };
  const digestFor = (repo: string): string => {
    const d = image.repoDigests.find((r) => r.startsWith(`${repo}@`));
    return d === undefined ? "<none>" : d.slice(d.indexOf("@") + 1);
  };
  const tags =
    patterns.length > 0
      ? image.repoTags.filter((t) => patterns.some((p) => referenceMatches(p, t)))
      : image.repoTags;
  if (tags.length > 0) {
    return tags.map((t) => {
      const colon = t.lastIndexOf(":");
      const repo = t.slice(0, colon);
      return {
        ...base,
        Repository: familiarRepository(repo),
        Tag: t.slice(colon + 1),
        Digest: digestFor(repo),
      };
    });
  }
  // Untagged but pulled by digest: docker shows the repository with tag <none>.
  if (image.repoDigests.length > 0) {
    return image.repoDigests.map((d) => {
      const repo = d.slice(0, d.indexOf("@"));
      return {
        ...base,
        Repository: familiarRepository(repo),
        Tag: "<none>",
        Digest: d.slice(d.indexOf("@") + 1),
      };
    });
  }
  return [{ ...base, Repository: "<none>", Tag: "<none>", Digest: "<none>" }];
}

/** `busybox` for `docker.io/library/busybox`, `localhost:5000/x` as is. */
function familiarRepository(repo: string): string {
  const name = familiarName(parseReference(`${repo}:latest`));
  return name.slice(0, name.lastIndexOf(":"));
}

// --- inspect -----------------------------------------------------------------------------------------

function defineInspect(cmd: Command, io: CliIo): Command {
  return cmd
    .description("show detailed information on images (Docker-shaped JSON)")
    .argument("<image...>", "names or ids")
    .option(
      "-f, --format <template>",
      "format with a Go-style template, e.g. '{{.Id}}' or '{{json .Config}}'",
    )
    .action(async (refs: string[], flags: { format?: string }, c: Command) => {
      await using store = await openStore(c, io);
      const found: unknown[] = [];
      const missing: string[] = [];
      for (const ref of refs) {
        const image = await store.resolve(ref);
        if (image === undefined) missing.push(ref);
        else found.push(imageInspect(image, await readImageConfig(store, image)));
      }
      if (flags.format !== undefined) writeFormatted(io, flags.format, found, {});
      else io.stdout.write(`${JSON.stringify(found, null, 4)}\n`);
      if (missing.length > 0)
        throw new TsstackError("image/not-found", `No such image: ${missing.join(", ")}`);
    });
}

// --- rm / tag / prune --------------------------------------------------------------------------------

function defineRm(cmd: Command, io: CliIo): Command {
  return cmd
    .description("remove images (untag; delete when no name is left)")
    .argument("<image...>", "names or ids")
    .option("-f, --force", "remove an image with several names by id, or untag one in use")
    .option("--no-prune", "accepted for docker compatibility (tsstack images have no untagged parents)")
    .action(async (refs: string[], flags: { force?: boolean }, c: Command) => {
      await using store = await openStore(c, io);
      const errors: Error[] = [];
      for (const ref of refs) {
        try {
          const { untagged, deleted } = await store.remove(ref, { force: flags.force === true });
          for (const name of untagged) io.stdout.write(`Untagged: ${familiarName(parseReference(name))}\n`);
          for (const id of deleted) io.stdout.write(`Deleted: ${id}\n`);
        } catch (e) {
          errors.push(e instanceof Error ? e : internalError(`removing ${ref}: threw ${typeof e}`));
        }
      }
      // Like docker: go on with the other images, report every failure, exit 1.
      const last = errors.pop();
      for (const e of errors) io.stderr.write(`tsstack: ${e.message}\n`);
      if (last !== undefined) throw last;
    });
}

function defineTag(cmd: Command, io: CliIo): Command {
  return cmd
    .description("create a tag TARGET_IMAGE that refers to SOURCE_IMAGE")
    .argument("<source>", "SOURCE_IMAGE[:TAG] or id")
    .argument("<target>", "TARGET_IMAGE[:TAG]")
    .action(async (source: string, target: string, _flags: unknown, c: Command) => {
      await using store = await openStore(c, io);
      await store.tag(source, target);
    });
}

function definePrune(cmd: Command, io: CliIo): Command {
  return cmd
    .description("remove unused images")
    .option("-a, --all", "remove all images not used by a container, not just dangling ones")
    .option("-f, --force", "do not prompt for confirmation")
    .action(async (flags: { all?: boolean; force?: boolean }, c: Command) => {
      if (flags.force !== true) {
        io.stdout.write(
          flags.all === true
            ? "WARNING! This will remove all images without at least one container associated to them.\n"
            : "WARNING! This will remove all dangling images.\n",
        );
        io.stdout.write("Are you sure you want to continue? [y/N] ");
        const answer = io.stdin === undefined ? undefined : await readLine(io.stdin);
        if (!/^y(es)?$/i.test((answer ?? "").trim())) {
          io.stdout.write("\n");
          return;
        }
      }
      await using store = await openStore(c, io);
      const { deleted, reclaimedBytes } = await store.prune({ all: flags.all === true });
      if (deleted.length > 0) {
        io.stdout.write("Deleted Images:\n");
        for (const id of deleted) io.stdout.write(`deleted: ${id}\n`);
        io.stdout.write("\n");
      }
      io.stdout.write(`Total reclaimed space: ${humanSize(reclaimedBytes)}\n`);
    });
}

// --- load / save / import ----------------------------------------------------------------------------

function defineLoad(cmd: Command, io: CliIo): Command {
  return cmd
    .description("load images from a docker save or OCI layout archive (tar, optionally gzip)")
    .option("-i, --input <file>", "read from this file instead of standard input")
    .option("-q, --quiet", "suppress progress output (the loaded names are still printed)")
    .action(async (flags: { input?: string; quiet?: boolean }, c: Command) => {
      let source: ArchiveSource;
      if (flags.input !== undefined) source = resolve(io.cwd, flags.input);
      else {
        // docker's check: an interactive terminal is not an archive.
        if (io.stdin === undefined || io.stdin.isTTY === true) {
          throw new TsstackError("image/invalid-argument", "requested load from stdin, but stdin is empty");
        }
        source = io.stdin;
      }
      await using store = await openStore(c, io);
      const { images } = await loadArchive(store, source);
      for (const { image, names } of images) {
        if (names.length === 0) io.stdout.write(`Loaded image ID: ${image.id}\n`);
        for (const name of names) io.stdout.write(`Loaded image: ${familiarName(parseReference(name))}\n`);
      }
    });
}

function defineSave(cmd: Command, io: CliIo): Command {
  return cmd
    .description("save images to a tar archive (docker save format, or an OCI layout)")
    .argument("<image...>", "names, repositories (every tag) or ids")
    .option("-o, --output <file>", "write to this file instead of standard output")
    .addOption(
      new Option(
        "--format <format>",
        "docker: what `docker load` reads; oci: OCI image layout (docker ≥ 25 reads it too)",
      )
        .choices(["docker", "oci"])
        .default("docker"),
    )
    .action(async (refs: string[], flags: { output?: string; format: ArchiveFormat }, c: Command) => {
      let dest: string | NonNullable<CliIo["stdoutBytes"]>;
      if (flags.output !== undefined) dest = resolve(io.cwd, flags.output);
      else {
        if (io.stdoutBytes === undefined || io.stdoutBytes.isTTY === true) {
          throw new TsstackError(
            "image/invalid-argument",
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
          );
        }
        dest = io.stdoutBytes;
      }
      await using store = await openStore(c, io);
      await saveArchive(store, refs, dest, flags.format);
    });
}

interface ImportFlags {
  change?: string[];
  message?: string;
  platform?: string;
}

function defineImport(cmd: Command, io: CliIo): Command {
  return cmd
    .description("create a one-layer image from a root filesystem tar (plain or gzip)")
    .argument("<source>", "file, http(s) URL, or - for standard input")
    .argument("[name]", "REPOSITORY[:TAG] for the new image")
    .option(
      "-c, --change <instruction>",
      "apply a Dockerfile instruction (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, WORKDIR, VOLUME, STOPSIGNAL); repeatable",
      collect,
    )
    .option("-m, --message <message>", "history comment for the imported image")
    .option("--platform <platform>", "platform recorded in the image (os/arch[/variant])")
    .action(async (from: string, name: string | undefined, flags: ImportFlags, c: Command) => {
      const changes = flags.change ?? [];
      try {
        // Typos in --change are usage errors, found before anything is read.
        applyChanges({}, changes);
        if (name !== undefined) parseReference(name);
      } catch (e) {
        if (e instanceof TsstackError) throw new UsageError(e.message);
        throw e;
      }
      const platform = flags.platform !== undefined ? parsePlatform(flags.platform) : undefined;
      const source = await importSource(from, io);
      await using store = await openStore(c, io);
      const image = await importRootfs(store, source, name, changes, {
        sourceName: from,
        message: flags.message,
        platform,
        now: () => now(io),
      });
      io.stdout.write(`${image.id}\n`);
    });
}

async function importSource(from: string, io: CliIo): Promise<ArchiveSource> {
  if (from === "-") {
    if (io.stdin === undefined)
      throw new TsstackError("image/invalid-argument", "importing from -: no standard input");
    return io.stdin;
  }
  if (/^https?:\/\//i.test(from)) {
    let response: Response;
    try {
      response = await fetch(from);
    } catch (e) {
      throw new TsstackError(
        "image/import-failed",
        `importing ${from}: ${e instanceof Error ? e.message : String(e)}`,
        { cause: e },
      );
    }
    if (!response.ok || response.body === null) {
      throw new TsstackError(
        "image/import-failed",
        `importing ${from}: HTTP ${response.status} ${response.statusText}`,
      );
    }
    return Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
  }
  const path = resolve(io.cwd, from);
  // Open now so a missing file is reported before the store is touched.
  const stream = createReadStream(path);
  await new Promise<void>((ok, fail) => {
    stream.once("open", () => {
      ok();
    });
    stream.once("error", (e) => {
      fail(new TsstackError("image/import-failed", `importing ${from}: ${e.message}`, { cause: e }));
    });
  });
  return stream;
}
