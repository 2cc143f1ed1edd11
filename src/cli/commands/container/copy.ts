/**
 * `cp`, `export` and `commit`: files in and out of containers.
 *
 * `cp` follows docker's rules (cli/command/container/cp.go): a file goes into an existing directory
 * under its own name or becomes the destination path; a directory goes into an existing directory
 * under its own name (its contents, for `SRC/.`) or becomes a new destination directory; `-` is a tar
 * on stdin or stdout.
 *
 * Host side, the container's tar is hostile input: it is written to a temporary file and extracted by
 * the image layer extractor (unpack.ts: no `..`, no writing through symlinks, no device nodes) into a
 * fresh directory next to the destination, then moved into place without following any symlink that
 * already exists in the destination tree (an existing symlink is replaced, never written through).
 */
import { createReadStream, createWriteStream } from "node:fs";
import { lchown, lstat, mkdir, mkdtemp, readdir, readlink, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Command } from "commander";
import { TsstackError } from "../../../common/errors.js";
import { parseReference } from "../../../runtime/images/reference.js";
import { writeTar, type TarWriteEntry } from "../../../runtime/images/tar-writer.js";
import { unpackLayer } from "../../../runtime/images/unpack.js";
import { isGoDirMode } from "../../../runtime/path-stat.js";
import type { Container } from "../../../runtime/runtime.js";
import type { CliIo } from "../../io.js";
import { UsageError } from "../config.js";
import type { ContainerContext } from "./engine.js";
import { collect } from "./shared.js";

// --- cp ----------------------------------------------------------------------------------------------

/** One side of `cp`: a path in a container, a host path, or `-` (a tar on stdin/stdout). */
export type CopyEndpoint =
  | { readonly kind: "container"; readonly container: string; readonly path: string }
  | { readonly kind: "host"; readonly path: string }
  | { readonly kind: "stream" };

/**
 * docker's operand syntax: `CONTAINER:PATH` when a colon comes before any `/` (so `./a:b` and `/x:y`
 * are host paths), `-` for the stream.
 */
export function parseCopyEndpoint(arg: string): CopyEndpoint {
  if (arg === "-") return { kind: "stream" };
  const colon = arg.indexOf(":");
  const slash = arg.indexOf("/");
  if (colon > 0 && (slash === -1 || colon < slash)) {
    return { kind: "container", container: arg.slice(0, colon), path: arg.slice(colon + 1) };
  }
  return { kind: "host", path: arg };
}

interface CpFlags {
  archive?: boolean;
  quiet?: boolean;
  followLink?: boolean;
}

export function defineCp(cmd: Command, ctx: ContainerContext): Command {
  return cmd
    .description("copy files between a container and the host (CONTAINER:PATH, host path, or - for a tar)")
    .argument("<src>", "CONTAINER:SRC_PATH, a host path, or -")
    .argument("<dest>", "CONTAINER:DEST_PATH, a host path, or -")
    .option("-a, --archive", "keep uid/gid of the source (default: root in a container, you on the host)")
    .option("-L, --follow-link", "follow a symlink given as the source")
    .option("-q, --quiet", "accepted for docker compatibility (no progress is printed)")
    .action(async (srcArg: string, destArg: string, flags: CpFlags, c: Command) => {
      const src = parseCopyEndpoint(srcArg);
      const dest = parseCopyEndpoint(destArg);
      if ((src.kind === "container") === (dest.kind === "container")) {
        throw new UsageError(
          "copying between containers or between host paths is not supported: one side must be CONTAINER:PATH",
        );
      }
      await using engine = await ctx.connect(c);
      if (src.kind === "container") {
        if (src.path === "") throw new UsageError("the source path in the container is empty");
        const container = engine.runtime.getContainer(src.container);
        if (dest.kind === "stream") {
          const out = binaryStdout(ctx.io, "cp");
          await pipeline(await container.getArchive({ path: src.path }), out, { end: false });
          return;
        }
        if (dest.kind === "host") {
          await copyToHost(container, src.path, dest.path, ctx.io.cwd, flags.archive === true);
        }
        return;
      }
      if (dest.kind !== "container") return;
      if (dest.path === "") throw new UsageError("the destination path in the container is empty");
      const container = engine.runtime.getContainer(dest.container);
      if (src.kind === "stream") {
        if (ctx.io.stdin === undefined) throw new UsageError("cp -: no standard input");
        await container.putArchive(ctx.io.stdin, { path: dest.path });
        return;
      }
      await copyToContainer(container, resolve(ctx.io.cwd, src.path), src.path, dest.path, flags);
    });
}

/** The CLI's byte stdout, refused when it is a terminal (docker's rule for archives). */
function binaryStdout(io: CliIo, what: string): NonNullable<CliIo["stdoutBytes"]> {
  if (io.stdoutBytes === undefined || io.stdoutBytes.isTTY === true) {
    throw new TsstackError(
      "container/invalid-argument",
      `${what}: cowardly refusing to write a tar archive to a terminal. Use a file or redirect`,
    );
  }
  return io.stdoutBytes;
}

/** `/x/.` (or `/x/./`) asks for the contents of the directory x rather than x itself. */
function endsWithDot(path: string): boolean {
  return /(^|\/)\.\/?$/.test(path);
}

async function lstatOrUndefined(path: string): Promise<Awaited<ReturnType<typeof lstat>> | undefined> {
  try {
    return await lstat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

async function copyToHost(
  container: Container,
  srcPath: string,
  destArg: string,
  cwd: string,
  keepOwners: boolean,
): Promise<void> {
  const dest = resolve(cwd, destArg);
  // The destination itself may be a symlink the user made (`cp ctr:/x ./link-to-dir`): follow it, as
  // cp(1) does; nothing below it is followed.
  const destStat = await stat(dest).catch((e: unknown) => {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  });
  if (destStat === undefined && destArg.endsWith("/")) {
    throw new TsstackError("container/invalid-argument", `copying to ${destArg}: no such directory`);
  }
  const parent = destStat?.isDirectory() === true ? dest : dirname(dest);
  const work = await mkdtemp(join(parent, ".tsstack-cp-"));
  try {
    const tarFile = join(work, "archive.tar");
    const tree = join(work, "tree");
    await mkdir(tree);
    await pipeline(await container.getArchive({ path: srcPath }), createWriteStream(tarFile));
    await unpackLayer({ blobPath: tarFile, mediaType: "application/vnd.oci.image.layer.v1.tar", dest: tree });
    if (!keepOwners) await chownTree(tree, process.getuid?.() ?? 0, process.getgid?.() ?? 0);
    if (endsWithDot(srcPath)) {
      // `SRC/.`: the archive holds the directory's contents.
      if (destStat === undefined) await rename(tree, dest);
      else if (!destStat.isDirectory()) throw cannotCopyDirToFile(dest);
      else await mergeInto(tree, dest);
      return;
    }
    const [top, ...others] = await readdir(tree);
    if (top === undefined || others.length > 0) {
      throw new TsstackError(
        "container/invalid-archive",
        `copying ${srcPath}: the engine's archive must hold exactly one top-level entry, it has ${others.length + (top === undefined ? 0 : 1)}`,
      );
    }
    const extracted = join(tree, top);
    if (destStat === undefined) await rename(extracted, dest);
    else if (!destStat.isDirectory()) {
      if ((await lstat(extracted)).isDirectory()) throw cannotCopyDirToFile(dest);
      await rename(extracted, dest);
    } else await moveEntry(extracted, join(dest, top));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function cannotCopyDirToFile(dest: string): TsstackError {
  return new TsstackError("container/invalid-argument", `cannot copy a directory to a file: ${dest}`);
}

/** Moves `from` to `to`: a directory onto an existing real directory merges; anything else replaces. */
async function moveEntry(from: string, to: string): Promise<void> {
  const existing = await lstatOrUndefined(to);
  const fromIsDir = (await lstat(from)).isDirectory();
  if (existing?.isDirectory() === true) {
    if (!fromIsDir)
      throw new TsstackError(
        "container/invalid-argument",
        `cannot overwrite directory ${to} with a non-directory`,
      );
    await mergeInto(from, to);
    return;
  }
  // A file or a symlink (even one to a directory) is replaced, never written through.
  if (existing !== undefined) await rm(to, { force: true });
  await rename(from, to);
}

async function mergeInto(fromDir: string, toDir: string): Promise<void> {
  for (const name of await readdir(fromDir)) await moveEntry(join(fromDir, name), join(toDir, name));
}

/** docker gives copied files to the user who copies them (unless `-a`). */
async function chownTree(path: string, uid: number, gid: number): Promise<void> {
  await lchown(path, uid, gid);
  if ((await lstat(path)).isDirectory()) {
    for (const name of await readdir(path)) await chownTree(join(path, name), uid, gid);
  }
}

async function copyToContainer(
  container: Container,
  hostPath: string,
  srcArg: string,
  destPath: string,
  flags: CpFlags,
): Promise<void> {
  const srcStat = flags.followLink === true ? await stat(hostPath) : await lstat(hostPath);
  const srcIsDir = srcStat.isDirectory();
  const dest = await containerPathKind(container, destPath);
  let intoDir: string;
  let rootName: string | undefined;
  if (dest === "missing") {
    if (destPath.endsWith("/"))
      throw new TsstackError(
        "container/invalid-argument",
        `copying to ${destPath}: no such directory in the container`,
      );
    intoDir = dirname(destPath);
    rootName = basename(destPath);
  } else if (dest === "directory") {
    intoDir = destPath;
    // `SRC/.`: the contents go straight into the directory.
    rootName = srcIsDir && endsWithDot(srcArg) ? undefined : basename(hostPath);
  } else {
    if (srcIsDir) throw cannotCopyDirToFile(destPath);
    intoDir = dirname(destPath);
    rootName = basename(destPath);
  }
  const tar = Readable.from(
    writeTar(hostEntries(hostPath, rootName, flags.archive === true, flags.followLink === true)),
  );
  await container.putArchive(tar, { path: intoDir });
}

/** Whether a path exists in the container and what it is (a stat: any pause ends with the call). */
async function containerPathKind(
  container: Container,
  path: string,
): Promise<"missing" | "directory" | "other"> {
  try {
    const stat = await container.infoArchive({ path });
    return isGoDirMode(stat.mode) ? "directory" : "other";
  } catch (e) {
    if (e instanceof TsstackError && e.code === "container/path-not-found") return "missing";
    throw e;
  }
}

/**
 * Tar entries for a host path, walked without following symlinks (with `-L`, only the source itself
 * is followed). `rootName` renames the top entry; undefined puts a directory's children at the top.
 * Owners are root unless `keepOwners` (docker's rule for copies into a container).
 */
async function* hostEntries(
  path: string,
  rootName: string | undefined,
  keepOwners: boolean,
  followRoot: boolean,
): AsyncGenerator<TarWriteEntry> {
  async function* walk(abs: string, name: string, follow: boolean): AsyncGenerator<TarWriteEntry> {
    const st = follow ? await stat(abs) : await lstat(abs);
    const common = {
      mode: st.mode & 0o7777,
      mtime: Math.floor(st.mtimeMs / 1000),
      uid: keepOwners ? st.uid : 0,
      gid: keepOwners ? st.gid : 0,
    };
    if (st.isDirectory()) {
      if (name !== "") yield { ...common, name: `${name}/`, type: "directory" };
      for (const child of (await readdir(abs)).sort()) {
        yield* walk(join(abs, child), name === "" ? child : `${name}/${child}`, false);
      }
    } else if (st.isSymbolicLink()) {
      yield { ...common, name, type: "symlink", linkname: await readlink(abs) };
    } else if (st.isFile()) {
      yield { ...common, name, type: "file", body: { size: st.size, open: () => createReadStream(abs) } };
    } else {
      throw new TsstackError(
        "container/invalid-argument",
        `copying ${abs}: only files, directories and symlinks can be copied`,
      );
    }
  }
  yield* walk(path, rootName ?? "", followRoot);
}

// --- export ------------------------------------------------------------------------------------------

export function defineExport(cmd: Command, ctx: ContainerContext): Command {
  return cmd
    .description("export a container's filesystem as a tar archive")
    .argument("<container>", "name or id")
    .option("-o, --output <file>", "write to this file instead of standard output")
    .action(async (ref: string, flags: { output?: string }, c: Command) => {
      const out = flags.output !== undefined ? undefined : binaryStdout(ctx.io, "export");
      await using engine = await ctx.connect(c);
      const archive = await engine.runtime.getContainer(ref).export();
      if (out !== undefined) await pipeline(archive, out, { end: false });
      else if (flags.output !== undefined)
        await pipeline(archive, createWriteStream(resolve(ctx.io.cwd, flags.output)));
    });
}

// --- commit ------------------------------------------------------------------------------------------

interface CommitFlags {
  author?: string;
  change?: string[];
  message?: string;
  pause: boolean;
}

/** `repo[:tag]` → the commit options' repo and tag (validated as an image reference). */
export function splitRepoTag(name: string): { repo: string; tag?: string } {
  try {
    parseReference(name);
  } catch (e) {
    if (e instanceof TsstackError) throw new UsageError(e.message);
    throw e;
  }
  if (name.includes("@"))
    throw new UsageError(`invalid reference "${name}": a commit gets a tag, not a digest`);
  const colon = name.lastIndexOf(":");
  return colon > name.lastIndexOf("/")
    ? { repo: name.slice(0, colon), tag: name.slice(colon + 1) }
    : { repo: name };
}

export function defineCommit(cmd: Command, ctx: ContainerContext): Command {
  return cmd
    .description("create an image from a container's changes; prints the new image id")
    .argument("<container>", "name or id")
    .argument("[repository]", "REPOSITORY[:TAG] for the new image")
    .option("-a, --author <author>", 'author (e.g. "Jane <jane@example.com>")')
    .option(
      "-c, --change <instruction>",
      "apply a Dockerfile instruction (CMD, ENV, LABEL, …); repeatable",
      collect,
    )
    .option("-m, --message <message>", "commit message")
    .option("-p, --pause", "pause the container while committing (default)", true)
    .option("--no-pause", "do not pause the container while committing")
    .action(async (ref: string, name: string | undefined, flags: CommitFlags, c: Command) => {
      const target = name !== undefined ? splitRepoTag(name) : undefined;
      await using engine = await ctx.connect(c);
      const { Id } = await engine.runtime.getContainer(ref).commit({
        ...(target !== undefined
          ? { repo: target.repo, ...(target.tag !== undefined ? { tag: target.tag } : {}) }
          : {}),
        ...(flags.author !== undefined ? { author: flags.author } : {}),
        ...(flags.message !== undefined ? { comment: flags.message } : {}),
        changes: flags.change ?? [],
        pause: flags.pause,
      });
      ctx.io.stdout.write(`${Id}\n`);
    });
}
