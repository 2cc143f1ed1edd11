/**
 * File system operations on a container: `docker export` (the merged root as a tar), `docker commit`
 * (the upper directory as an image layer), and `docker cp` in both directions.
 *
 * Reading: GNU tar walks the tree (it knows hard links, xattrs, devices, sparse reads and odd names
 * natively) and its output is parsed by the layer reader (images/tar.ts) and re-encoded: names are
 * rebased (`./x` → `x`, `cp`'s basename), overlayfs whiteouts become OCI ones, xattrs are filtered,
 * timestamps are cut to whole seconds. So every archive leaving here has one canonical form
 * (USTAR + PAX, numeric ids, no atime/ctime, entries sorted by name), whatever GNU tar's defaults are.
 *
 * Writing (`putArchive`): the archive is parsed and validated entry by entry against the layer
 * reader's rules plus what is already on disk, and only re-encoded, validated headers reach GNU tar
 * (see `putArchive`).
 *
 * Races: the container must not run while these touch its root (the engine pauses it around `cp` and
 * commit, as Docker does since CVE-2018-15664); see rootfs.ts.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { lstatSync } from "node:fs";
import { lstat, readlink } from "node:fs/promises";
import { posix } from "node:path";
import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";

import { TsstackError, internalError } from "../../common/errors.js";
import {
  BLOCK_SIZE,
  TarReader,
  TarType,
  displayName,
  encodeHeader,
  type TarEntry,
  type TarHeaderFields,
  type TarSink,
} from "../images/tar.js";
import {
  MediaType,
  type Descriptor,
  type Digest,
  type ImageConfig,
  type ImageRecord,
  type ImageStoreApi,
} from "../images/types.js";
import type { ContainerPathStat } from "../runtime.js";
import { fileKindOfMode, goFileMode, goTime, statName } from "../path-stat.js";
import { resolveInRoot } from "./rootfs.js";

const ZERO_BLOCKS = Buffer.alloc(BLOCK_SIZE * 2);
const WHITEOUT_PREFIX = ".wh.";
const WHITEOUT_OPAQUE = ".wh..wh..opq";
const OPAQUE_XATTR = "trusted.overlay.opaque";

// ---------------------------------------------------------------------------------------------------
// docker export

/**
 * The whole merged root file system as a tar stream, as `docker export` gives it: entries named
 * without `./` (`bin/`, `bin/sh`, …), sorted, numeric uid/gid, modes with setuid/setgid/sticky,
 * whole-second mtimes, symlinks, hard links (within the archive), fifos and device nodes as they
 * are; xattrs `security.capability` (file capabilities, as Docker keeps them) and `user.*`. Sockets
 * are left out (GNU tar skips them), and so is anything mounted below `rootfs` (`--one-file-system`:
 * the host sees no volumes there anyway). Files that change while being read are tolerated (GNU
 * tar's exit status 1), as export does not pause the container.
 *
 * `rootfs` is the mounted merged directory. Errors (`container/export-failed`) arrive on the stream.
 */
export function exportFilesystem(rootfs: string): Readable {
  const what = `exporting the container file system ${rootfs}`;
  return Readable.from(
    retar(what, rootfs, ".", passThrough(".", ""), {
      xattrs: ["security.capability", "user.*"],
      tolerateChanges: true,
      code: "container/export-failed",
    }),
    { objectMode: false },
  );
}

// ---------------------------------------------------------------------------------------------------
// docker commit

/**
 * The changes of a container, as an uncompressed OCI layer tar: the upper directory of its overlay,
 * with overlayfs whiteouts turned back into OCI form — a 0:0 character device `x` becomes an empty
 * file `.wh.x` (mode 0600, as Docker writes it), a directory with `trusted.overlay.opaque=y` is
 * followed by `<dir>/.wh..wh..opq` — and the other `trusted.overlay.*` attributes dropped. Regular
 * files, directories, symlinks, hard links (overlayfs shares one inode among whiteouts; those links
 * become whiteouts too) and fifos keep mode, uid/gid and (whole-second) mtime; `security.capability`
 * and `user.*` xattrs are kept. The upper's root directory itself is not an entry.
 *
 * Relies on the mount options of `mountOverlay`: with `redirect_dir` or `metacopy` on, the upper
 * alone does not describe the changes, and a directory carrying those attributes fails the diff.
 * Device nodes other than whiteouts fail it too (`container/commit-failed`): the image store refuses
 * layers with devices. An unchanged container gives the empty layer (two zero blocks, diff ID
 * `sha256:5f70bf18…`), as in Docker.
 *
 * The container must be stopped or paused. Errors arrive on the stream.
 */
export function diffLayer(upper: string): Readable {
  const what = `computing the changes of the container layer ${upper}`;
  return Readable.from(
    retar(what, upper, ".", diffRewriter(what), {
      xattrs: ["security.capability", "user.*", "trusted.overlay.*"],
      tolerateChanges: false,
      code: "container/commit-failed",
    }),
    { objectMode: false },
  );
}

/** The run config keys of a commit (the API body, `docker commit --change`); see `commitImage`. */
export interface CommitConfigChanges {
  readonly Cmd?: readonly string[] | null;
  readonly Entrypoint?: readonly string[] | null;
  readonly Env?: readonly string[];
  readonly WorkingDir?: string;
  readonly User?: string;
  readonly Labels?: Readonly<Record<string, string>> | null;
  readonly ExposedPorts?: Readonly<Record<string, object>>;
  readonly Volumes?: Readonly<Record<string, object>>;
  readonly StopSignal?: string;
  readonly Healthcheck?: object;
}

export interface CommitImageOptions {
  readonly store: ImageStoreApi;
  /** The image the container was created from: its layers are the new image's lower layers. */
  readonly baseImage: ImageRecord;
  /**
   * Its config. The new config is this one with the new layer's diff ID and a history entry appended,
   * and `changes` merged into its `config` section. (Docker merges into the container's config, not
   * the image's: pass the container's effective config as `config` here to match.)
   */
  readonly baseConfig: ImageConfig;
  /** The container's upper directory (stopped or paused). */
  readonly upper: string;
  /** Run config changes (Cmd, Entrypoint, Env, WorkingDir, User, Labels, ExposedPorts, …). */
  readonly changes?: CommitConfigChanges;
  /** History comment (`docker commit -m`). */
  readonly comment?: string;
  /** Author (`docker commit -a`), recorded in the config and the history entry. */
  readonly author?: string;
  /** History `created_by`, e.g. the container's command (Docker records its Cmd). */
  readonly createdBy?: string;
  /** Names (tags) for the new image. Default none (a dangling image, as `docker commit` without one). */
  readonly names?: readonly string[];
  /** Creation time. Default: now. */
  readonly created?: Date;
}

/**
 * `docker commit`: writes the container's changes as a gzip layer blob, a new image config (the base
 * config + `changes`, the layer's diff ID, a history entry), a manifest (Docker schema 2 when the
 * base image's is, else OCI) and registers it with `store.addImage(manifest, { names })`, which
 * unpacks the new layer into its snapshot. A commit without changes still adds an (empty) layer, as
 * Docker's does.
 *
 * `changes` merge like Docker's `merge()`: keys given replace the base's, except `Env` (base
 * variables not set in `changes` are kept, after the given ones) and `Labels`, `ExposedPorts`,
 * `Volumes` (the union, `changes` winning); an `Entrypoint` given without `Cmd` drops the base `Cmd`
 * (as a Dockerfile ENTRYPOINT does); empty strings and lists count as not given. Throws `container/commit-failed` (with the layer error as cause) or
 * the store's errors.
 */
export async function commitImage(opts: CommitImageOptions): Promise<ImageRecord> {
  const { store, baseImage, baseConfig, upper } = opts;
  const what = `committing the container layer ${upper} onto image ${baseImage.id}`;
  const docker = baseImage.manifestMediaType === MediaType.dockerManifest;

  const hash = createHash("sha256");
  const diff = diffLayer(upper);
  async function* hashed(): AsyncGenerator<Buffer> {
    for await (const chunk of diff as AsyncIterable<Buffer>) {
      hash.update(chunk);
      yield chunk;
    }
  }
  const gzip = createGzip();
  const piping = pipeline(Readable.from(hashed()), gzip);
  let layer: { digest: Digest; size: number };
  try {
    layer = await store.writeBlob(gzip);
  } catch (err) {
    gzip.destroy();
    // The diff's own error (e.g. a device node in the upper) explains more than the blob write's.
    const pipeError: unknown = await piping.then(
      () => undefined,
      (e: unknown) => e,
    );
    const cause = pipeError ?? err;
    if (cause instanceof TsstackError) throw cause;
    throw new TsstackError("container/commit-failed", `${what}: ${errorText(cause)}`, { cause });
  }
  await piping;
  const diffId = `sha256:${hash.digest("hex")}`;

  const created = (opts.created ?? new Date()).toISOString();
  const configJson = newConfig(baseConfig, diffId, created, opts);
  const configBytes = Buffer.from(JSON.stringify(configJson));
  const config = await store.writeBlob(once(configBytes));

  const layerDescriptor: Descriptor = {
    mediaType: docker ? MediaType.dockerLayerGzip : MediaType.ociLayerGzip,
    digest: layer.digest,
    size: layer.size,
  };
  const manifest = {
    schemaVersion: 2,
    mediaType: docker ? MediaType.dockerManifest : MediaType.ociManifest,
    config: {
      mediaType: docker ? MediaType.dockerConfig : MediaType.ociConfig,
      digest: config.digest,
      size: config.size,
    },
    layers: [
      ...baseImage.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
      layerDescriptor,
    ],
  };
  return store.addImage(Buffer.from(JSON.stringify(manifest)), { names: opts.names ?? [] });
}

function newConfig(
  base: ImageConfig,
  diffId: Digest,
  created: string,
  opts: CommitImageOptions,
): Record<string, unknown> {
  // Fields about the container the base was built in describe another container; drop them.
  const {
    container: _container,
    container_config: _containerConfig,
    ...rest
  } = base as ImageConfig & {
    container?: unknown;
    container_config?: unknown;
  };
  const history = {
    created,
    ...(opts.createdBy !== undefined && opts.createdBy !== "" ? { created_by: opts.createdBy } : {}),
    ...(opts.author !== undefined && opts.author !== "" ? { author: opts.author } : {}),
    ...(opts.comment !== undefined && opts.comment !== "" ? { comment: opts.comment } : {}),
  };
  const { author: _author, ...withoutAuthor } = rest;
  return {
    ...withoutAuthor,
    created,
    ...(opts.author !== undefined && opts.author !== "" ? { author: opts.author } : {}),
    config: mergeConfig(base.config ?? {}, opts.changes ?? {}),
    rootfs: { type: "layers", diff_ids: [...base.rootfs.diff_ids, diffId] },
    history: [...(base.history ?? []), history],
  };
}

type RunConfig = NonNullable<ImageConfig["config"]>;

/** moby's `daemon/commit.go` `merge(userConf, imageConf)`. */
function mergeConfig(base: RunConfig, changes: CommitConfigChanges): Record<string, unknown> {
  const { Cmd, Entrypoint, Env, WorkingDir, User, Labels, ExposedPorts, Volumes, StopSignal, Healthcheck } =
    changes;
  const out: Record<string, unknown> = { ...base };
  if (StopSignal !== undefined && StopSignal !== "") out["StopSignal"] = StopSignal;
  if (Healthcheck !== undefined) out["Healthcheck"] = Healthcheck;
  if (Volumes !== undefined && Object.keys(Volumes).length > 0)
    out["Volumes"] = { ...base.Volumes, ...Volumes };
  if (User !== undefined && User !== "") out["User"] = User;
  if (WorkingDir !== undefined && WorkingDir !== "") out["WorkingDir"] = WorkingDir;
  if (ExposedPorts !== undefined && Object.keys(ExposedPorts).length > 0) {
    out["ExposedPorts"] = { ...base.ExposedPorts, ...ExposedPorts };
  }
  if (Env !== undefined && Env.length > 0) {
    const given = new Set(Env.map(envKey));
    out["Env"] = [...Env, ...(base.Env ?? []).filter((e) => !given.has(envKey(e)))];
  }
  if (Labels !== undefined && Labels !== null) out["Labels"] = { ...base.Labels, ...Labels };
  const entrypoint = Entrypoint ?? undefined;
  if (entrypoint === undefined || entrypoint.length === 0) {
    if (Cmd !== undefined && Cmd !== null && Cmd.length > 0) out["Cmd"] = Cmd;
    // An explicitly empty Entrypoint clears the base's; an absent one keeps it.
    if (entrypoint !== undefined) out["Entrypoint"] = [];
  } else {
    out["Entrypoint"] = entrypoint;
    out["Cmd"] = Cmd ?? null;
  }
  return out;
}

function envKey(entry: string): string {
  const eq = entry.indexOf("=");
  return eq < 0 ? entry : entry.slice(0, eq);
}

// eslint-disable-next-line @typescript-eslint/require-await -- an async iterable of one buffer
async function* once(data: Buffer): AsyncGenerator<Buffer> {
  yield data;
}

// ---------------------------------------------------------------------------------------------------
// docker cp: reading

/** Where a `cp` source is: GNU tar runs in `cwd` on `member`, and the archive names it `name`. */
interface CopySource {
  readonly cwd: string;
  readonly member: string;
  readonly name: string;
}

/**
 * Finds a `cp` source the way Docker does: the last component is not followed when it is a symlink
 * (the link itself is copied), unless the path ends in `/`; a path ending in `/.` (or the root)
 * means the directory's contents, named `./…`. Everything else is resolved in the root.
 */
async function locateSource(rootfs: string, containerPath: string, what: string): Promise<CopySource> {
  const parts = containerPath.split("/").filter((c) => c !== "");
  const last = parts[parts.length - 1];
  const root = posix.resolve(rootfs);
  let source: CopySource;
  if (last === undefined || last === "." || last === "..") {
    const dir = await resolveInRoot(root, containerPath);
    source = { cwd: dir, member: ".", name: last === ".." ? posix.basename(dir) : "." };
    if (dir === root && last === "..") source = { ...source, name: "." };
  } else if (containerPath.endsWith("/")) {
    const host = await resolveInRoot(root, containerPath);
    source =
      host === root
        ? { cwd: root, member: ".", name: last }
        : { cwd: posix.dirname(host), member: posix.basename(host), name: last };
  } else {
    const parent = await resolveInRoot(root, parts.slice(0, -1).join("/"));
    source = { cwd: parent, member: last, name: last };
  }
  const host = source.member === "." ? source.cwd : posix.join(source.cwd, source.member);
  try {
    const st = await lstat(host);
    if (containerPath.endsWith("/") && !st.isDirectory()) {
      throw new TsstackError("container/not-a-directory", `${what}: ${containerPath} is not a directory`);
    }
  } catch (err) {
    if (isErrno(err, "ENOENT") || isErrno(err, "ENOTDIR")) {
      throw new TsstackError("container/path-not-found", `${what}: no such file or directory`, {
        cause: err,
      });
    }
    throw err;
  }
  return source;
}

/**
 * `stat` of a `cp` source (the archive API's `X-Docker-Container-Path-Stat`), resolved like
 * `getArchive`. Throws `container/path-not-found`.
 */
export async function statInRoot(rootfs: string, containerPath: string): Promise<ContainerPathStat> {
  const what = `inspecting ${JSON.stringify(containerPath)} in the container root ${rootfs}`;
  const source = await locateSource(rootfs, containerPath, what);
  const host = source.member === "." ? source.cwd : posix.join(source.cwd, source.member);
  try {
    const st = await lstat(host, { bigint: true });
    // Floored, so a time before 1970 (a container may set one) still has a fraction in [0, 1 s).
    const ns = st.mtimeNs;
    const fraction = ((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n;
    return {
      name: statName(containerPath),
      size: Number(st.size),
      mode: goFileMode(fileKindOfMode(Number(st.mode)), Number(st.mode)),
      mtime: goTime(Number((ns - fraction) / 1_000_000_000n), fraction.toString().padStart(9, "0")),
      linkTarget: st.isSymbolicLink() ? await readlink(host) : "",
    };
  } catch (err) {
    // Gone since locateSource looked: as missing as if it had never been there.
    if (isErrno(err, "ENOENT") || isErrno(err, "ENOTDIR") || isErrno(err, "EINVAL"))
      throw new TsstackError("container/path-not-found", `${what}: no such file or directory`, {
        cause: err,
      });
    throw err;
  }
}

/**
 * `docker cp ctr:path -`: a tar stream of `containerPath`, its entry named by the path's basename (a
 * directory recursively, its entries `name/…`); `dir/.` gives the directory's contents as `./…`.
 * A final symlink is archived as the link, unless the path ends in `/`. Resolved in the root
 * (`resolveInRoot`), and GNU tar never follows a symlink below the source. Same canonical form and
 * xattrs as `exportFilesystem`.
 *
 * The engine pauses the container around this call (CVE-2018-15664: between resolving and reading,
 * a running container could swap a directory for a symlink to the host). Throws
 * `container/path-not-found` before streaming; later errors (`container/archive-failed`) arrive on
 * the stream.
 */
export async function getArchive(rootfs: string, containerPath: string): Promise<Readable> {
  const what = `archiving ${JSON.stringify(containerPath)} of the container root ${rootfs}`;
  const source = await locateSource(rootfs, containerPath, what);
  return Readable.from(
    retar(what, source.cwd, source.member, passThrough(byteString(source.member), byteString(source.name)), {
      xattrs: ["security.capability", "user.*"],
      tolerateChanges: true,
      code: "container/archive-failed",
    }),
    { objectMode: false },
  );
}

// ---------------------------------------------------------------------------------------------------
// Re-encoding GNU tar's output

/** What to write for one entry read from GNU tar: headers, and whether its data follows the last. */
interface Emitted {
  readonly headers: readonly TarHeaderFields[];
  readonly data: boolean;
}
type Rewrite = (e: TarEntry) => Emitted;

const SKIP: Emitted = { headers: [], data: false };

interface RetarOptions {
  /** `--xattrs-include` patterns. */
  readonly xattrs: readonly string[];
  /** Accept GNU tar's exit status 1 ("file changed as we read it"): the archive is still whole. */
  readonly tolerateChanges: boolean;
  readonly code: string;
}

/**
 * Runs `tar --create` on `member` in `cwd` and yields the re-encoded archive. Stopping the iteration
 * early kills tar.
 */
async function* retar(
  what: string,
  cwd: string,
  member: string,
  rewrite: Rewrite,
  opts: RetarOptions,
): AsyncGenerator<Buffer> {
  const args = [
    "--create",
    "--file=-",
    `--directory=${cwd}`,
    "--numeric-owner",
    "--format=posix",
    // No atime/ctime records, and no pid in PAX header names: reproducible output.
    "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
    "--sort=name",
    "--one-file-system",
    "--xattrs",
    ...opts.xattrs.map((p) => `--xattrs-include=${p}`),
    // The member comes from stdin, NUL-terminated and verbatim: no option or pattern parsing.
    "--null",
    "--verbatim-files-from",
    "--files-from=-",
  ];
  const tar = startTar(args);
  tar.child.stdin?.end(Buffer.concat([Buffer.from(member), Buffer.from([0])]));
  const sink = new RetarSink(rewrite);
  const reader = new TarReader(sink);
  try {
    const stdout = tar.child.stdout;
    if (stdout === null) throw internalError("tar stdout is not piped");
    for await (const chunk of stdout as AsyncIterable<Buffer>) {
      reader.push(chunk);
      const out = sink.take();
      if (out.length > 0) yield Buffer.concat(out);
    }
    const { code, signal, error } = await tar.exit;
    const ok = code === 0 || (opts.tolerateChanges && code === 1);
    if (!ok) throw tarFailed(opts.code, `${what}: tar --create`, { code, signal, error }, tar.stderr());
    reader.finish();
    yield ZERO_BLOCKS;
  } catch (err) {
    if (err instanceof TsstackError) {
      throw err.message.startsWith(what)
        ? err
        : new TsstackError(err.code, `${what}: ${err.message}`, { cause: err });
    }
    throw new TsstackError(opts.code, `${what}: ${errorText(err)}`, { cause: err });
  } finally {
    tar.kill();
    await tar.exit;
  }
}

/** `<doing> failed (how tar ended): <its stderr>`, as the error `code`. */
function tarFailed(
  code: string,
  doing: string,
  exit: { readonly code: number | null; readonly signal: string | null; readonly error?: Error | undefined },
  detail: string,
): TsstackError {
  const how = exit.error
    ? exit.error.message
    : exit.signal !== null
      ? `killed by ${exit.signal}`
      : `exit code ${exit.code ?? "?"}`;
  return new TsstackError(code, `${doing} failed (${how})${detail ? `: ${detail}` : ""}`);
}

/**
 * A sink that writes tar again: the headers its `entry` chooses, then the data of the entries it
 * forwards, padded to whole blocks. `take` hands over what is ready.
 */
abstract class TarRewriter implements TarSink {
  private out: Buffer[] = [];
  private forwarding = false;
  private size = 0;
  protected readonly reserve = (size: number): { buf: Buffer; at: number } => {
    const buf = Buffer.alloc(size);
    this.out.push(buf);
    return { buf, at: 0 };
  };

  take(): Buffer[] {
    const out = this.out;
    this.out = [];
    return out;
  }

  abstract entry(e: TarEntry): void;

  /** Whether the data of the current entry (`size` bytes) goes out after its headers. */
  protected forward(on: boolean, size: number): void {
    this.forwarding = on;
    this.size = size;
  }

  data(chunk: Buffer): void {
    // A view into tar's stdout chunk, which nothing reuses: no copy needed.
    if (this.forwarding) this.out.push(chunk);
  }

  entryEnd(): void {
    if (this.forwarding) {
      const pad = (BLOCK_SIZE - (this.size % BLOCK_SIZE)) % BLOCK_SIZE;
      if (pad > 0) this.out.push(Buffer.alloc(pad));
    }
    this.forwarding = false;
  }
}

class RetarSink extends TarRewriter {
  constructor(private readonly rewrite: Rewrite) {
    super();
  }

  entry(e: TarEntry): void {
    const { headers, data } = this.rewrite(e);
    for (const h of headers) encodeHeader(h, this.reserve);
    this.forward(data && e.size > 0, e.size);
  }
}

/**
 * Renames the member `from` (a byte string; `.` for a directory's contents) to `to` ("" to drop the
 * `./` of a `.` member and skip the root entry) in names and hard link targets; keeps everything
 * else but sub-second times and the xattrs tar was not told to read.
 */
function passThrough(from: string, to: string): Rewrite {
  const rename = (name: string): string | undefined => rebase(name, from, to);
  return (e) => {
    const name = rename(e.name);
    if (name === undefined) return SKIP;
    const linkname = e.type === TarType.hardlink ? (rename(e.linkname) ?? e.linkname) : e.linkname;
    return {
      headers: [{ ...fieldsOf(e), name: e.type === TarType.dir ? dirName(name) : name, linkname }],
      data: e.type === TarType.file,
    };
  };
}

/**
 * `name` (as GNU tar wrote it: `member`, `member/x`, dirs with a trailing `/`) with `from` replaced
 * by `to`; undefined for the root entry when `to` is "".
 */
function rebase(name: string, from: string, to: string): string | undefined {
  const n = name.endsWith("/") ? name.slice(0, -1) : name;
  if (n === from) return to === "" ? undefined : to;
  if (n.startsWith(`${from}/`)) {
    const rest = n.slice(from.length + 1);
    return to === "" ? rest : `${to}/${rest}`;
  }
  // GNU tar only writes names under the member; anything else is passed on as it is.
  return n;
}

function dirName(name: string): string {
  return name.endsWith("/") ? name : `${name}/`;
}

function fieldsOf(e: TarEntry): TarHeaderFields {
  return {
    name: e.name,
    type: e.type,
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    size: e.size,
    mtime: { seconds: e.mtime.seconds, fraction: "" },
    linkname: e.linkname,
    devmajor: e.devmajor,
    devminor: e.devminor,
    xattrs: keptXattrs(e.xattrs),
  };
}

/** `security.capability` and `user.*`; everything else (trusted.*, security.selinux, …) is dropped. */
function keptXattrs(xattrs: ReadonlyMap<string, string>): ReadonlyMap<string, string> | undefined {
  if (xattrs.size === 0) return undefined;
  const kept = new Map<string, string>();
  for (const [key, value] of xattrs) {
    if (key === "security.capability" || key.startsWith("user.")) kept.set(key, value);
  }
  return kept.size === 0 ? undefined : kept;
}

/** overlayfs attributes that mean the upper alone does not describe a change. */
const UNSUPPORTED_OVERLAY_XATTRS = ["trusted.overlay.redirect", "trusted.overlay.metacopy"];

/** The upper directory → OCI layer conversion of `diffLayer`. */
function diffRewriter(what: string): Rewrite {
  /** Names of whiteouts written so far (hard links to them are whiteouts too). */
  const whiteouts = new Set<string>();
  const whiteout = (e: TarEntry, name: string): Emitted => {
    whiteouts.add(name);
    const slash = name.lastIndexOf("/");
    const woName = `${name.slice(0, slash + 1)}${WHITEOUT_PREFIX}${name.slice(slash + 1)}`;
    return {
      headers: [
        {
          ...fieldsOf(e),
          name: woName,
          type: TarType.file,
          mode: 0o600,
          size: 0,
          linkname: "",
          xattrs: undefined,
        },
      ],
      data: false,
    };
  };
  return (e) => {
    const name = rebase(e.name, ".", "");
    if (name === undefined) return SKIP;
    for (const key of UNSUPPORTED_OVERLAY_XATTRS) {
      if (e.xattrs.has(key)) {
        throw new TsstackError(
          "container/commit-failed",
          `${what}: ${displayName(name)} carries the overlayfs attribute ${key} (the overlay was not mounted by tsstack's mountOverlay)`,
        );
      }
    }
    switch (e.type) {
      case TarType.char:
      case TarType.block:
        if (e.type === TarType.char && e.devmajor === 0 && e.devminor === 0) return whiteout(e, name);
        throw new TsstackError(
          "container/commit-failed",
          `${what}: the container created the device node ${displayName(name)}; image layers may not carry devices`,
        );
      case TarType.hardlink: {
        const target = rebase(e.linkname, ".", "") ?? "";
        if (whiteouts.has(target)) return whiteout(e, name);
        return { headers: [{ ...fieldsOf(e), name, linkname: target }], data: false };
      }
      case TarType.dir: {
        const dir = { ...fieldsOf(e), name: dirName(name) };
        if (e.xattrs.get(OPAQUE_XATTR) !== "y") return { headers: [dir], data: false };
        const marker: TarHeaderFields = {
          ...fieldsOf(e),
          name: `${name}/${WHITEOUT_OPAQUE}`,
          type: TarType.file,
          mode: e.mode & 0o777,
          size: 0,
          xattrs: undefined,
        };
        return { headers: [dir, marker], data: false };
      }
      default:
        return { headers: [{ ...fieldsOf(e), name }], data: e.type === TarType.file };
    }
  };
}

// ---------------------------------------------------------------------------------------------------
// docker cp: writing

/** What a path is now, as far as this archive's entries go. */
type Kind = "dir" | "file" | "symlink" | "fifo";
/** What a path not touched by the archive is on disk (memoized while extracting). */
type HostKind = "dir" | "missing" | "symlink" | "other";

/**
 * `docker cp - ctr:path`: extracts a tar into the directory `containerPath` of the container root,
 * as the archive API's PUT does (uid/gid, modes and mtimes from the archive; existing directories
 * keep their metadata, other existing files are replaced).
 *
 * The archive is hostile. `containerPath` is resolved in the root (`resolveInRoot`) and must be a
 * directory (`container/path-not-found`, `container/not-a-directory`). Then every entry is parsed
 * with the layer reader (images/tar.ts) and checked before its re-encoded header is written to GNU
 * `tar --extract` (tar sees nothing but validated headers); the first refusal (`container/archive-
 * refused`, naming the entry) stops the extraction, kills tar and throws — entries before it stay
 * extracted, as in Docker. Refused:
 * - names with a `..` component (a leading `/` is dropped: names are relative to the target);
 * - entries whose parent is, or goes through, a symlink — one made earlier by this archive, or one
 *   already in the container (copy into the resolved path instead). Existing parents are checked
 *   with lstat, so tar never writes through a symlink that leads out of (or anywhere in) the root;
 * - a directory entry over an existing symlink or over a symlink of this archive (GNU tar would
 *   replace the link; if that failed, later entries would go through it);
 * - hard links to anything but an earlier file, fifo or symlink of this archive (never to a host file
 *   nor through a symlink), device nodes, and names that are not a directory but the target root.
 * xattrs other than `user.*` and `security.capability` are dropped. GNU tar runs with its safe
 * defaults (no `--overwrite`: an existing file or symlink is unlinked, never opened through;
 * `--no-overwrite-dir`; names stripped of `/` and `..`) as a second line.
 *
 * CVE-2018-15664: the checks look at the disk before tar writes, so nothing else may change the root
 * meanwhile — the engine pauses the container around this call (and `getArchive`), as Docker does.
 * Errors while extracting: `container/archive-failed` with tar's stderr; a malformed archive:
 * `layer/corrupt` / `layer/unsupported` from the reader.
 */
export async function putArchive(
  rootfs: string,
  containerPath: string,
  archive: AsyncIterable<Uint8Array>,
): Promise<void> {
  const what = `extracting an archive into ${JSON.stringify(containerPath)} of the container root ${rootfs}`;
  const dest = await resolveInRoot(rootfs, containerPath);
  try {
    const st = await lstat(dest);
    if (!st.isDirectory()) {
      throw new TsstackError("container/not-a-directory", `${what}: it is not a directory`);
    }
  } catch (err) {
    if (isErrno(err, "ENOENT") || isErrno(err, "ENOTDIR")) {
      throw new TsstackError("container/path-not-found", `${what}: no such directory`, { cause: err });
    }
    throw err;
  }

  const tar = startTar([
    "--extract",
    "--file=-",
    `--directory=${dest}`,
    "--numeric-owner",
    "--same-owner",
    "--same-permissions",
    "--no-overwrite-dir",
    "--xattrs",
    "--xattrs-include=user.*",
    "--xattrs-include=security.capability",
    "--warning=no-timestamp",
  ]);
  const stdin = tar.child.stdin;
  if (stdin === null) throw internalError("tar stdin is not piped");
  const validator = new PutValidator(dest);
  const reader = new TarReader(validator);
  try {
    for await (const chunk of archive) {
      reader.push(
        Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength),
      );
      if (!writeAll(stdin, validator.take())) await drained(stdin, tar);
    }
    reader.finish();
    writeAll(stdin, [...validator.take(), ZERO_BLOCKS]);
    stdin.end();
    const { code, signal, error } = await tar.exit;
    if (code !== 0)
      throw tarFailed(
        "container/archive-failed",
        `${what}: tar --extract`,
        { code, signal, error },
        tar.stderr(),
      );
  } catch (err) {
    tar.kill();
    await tar.exit;
    if (err instanceof TsstackError) {
      throw err.message.startsWith(what)
        ? err
        : new TsstackError(err.code, `${what}: ${err.message}`, { cause: err });
    }
    const detail = tar.stderr();
    throw new TsstackError(
      "container/archive-failed",
      `${what}: ${errorText(err)}${detail ? ` (tar: ${detail})` : ""}`,
      {
        cause: err,
      },
    );
  }
}

/** The validator of `putArchive` (the rules are in its JSDoc). */
class PutValidator extends TarRewriter {
  /** Paths ("a/b", relative to the target) written by this archive, with what they are now. */
  private readonly kinds = new Map<string, Kind>();
  private readonly everSymlink = new Set<string>();
  private readonly hostKinds = new Map<string, HostKind>();

  constructor(private readonly dest: string) {
    super();
  }

  entry(e: TarEntry): void {
    this.forward(false, 0);
    const parts = splitPath(e.name, e);
    const path = parts.join("/");
    if (path === "") {
      // The target directory itself: it exists and keeps its metadata (`--no-overwrite-dir`).
      if (e.type !== TarType.dir) throw refused(e, "names the target directory but is not a directory");
      return;
    }
    this.checkParents(e, parts);
    switch (e.type) {
      case TarType.dir:
        if (this.everSymlink.has(path))
          throw refused(e, "replaces a symlink of this archive with a directory");
        if (!this.kinds.has(path) && this.hostKind(path) === "symlink") {
          throw refused(e, "would replace a symlink in the container with a directory");
        }
        this.kinds.set(path, "dir");
        this.emit({ ...fieldsOf(e), name: dirName(path) });
        return;
      case TarType.file:
        this.kinds.set(path, "file");
        this.emit({ ...fieldsOf(e), name: path });
        this.forward(e.size > 0, e.size);
        return;
      case TarType.symlink:
        if (e.linkname === "") throw refused(e, "is a symlink with an empty target");
        this.kinds.set(path, "symlink");
        this.everSymlink.add(path);
        this.emit({ ...fieldsOf(e), name: path });
        return;
      case TarType.fifo:
        this.kinds.set(path, "fifo");
        this.emit({ ...fieldsOf(e), name: path });
        return;
      case TarType.hardlink: {
        const target = splitPath(e.linkname, e);
        const targetPath = target.join("/");
        const about = `is a hard link to ${displayName(e.linkname)}`;
        for (let i = 1; i < target.length; i++) {
          const prefix = target.slice(0, i).join("/");
          if (this.everSymlink.has(prefix) || this.kinds.get(prefix) !== "dir") {
            throw refused(e, `${about}, which is not reached through directories of this archive`);
          }
        }
        const kind = this.kinds.get(targetPath);
        if (kind === undefined || kind === "dir") {
          throw refused(e, `${about}, which is not an earlier file of this archive`);
        }
        if (targetPath === path) throw refused(e, "is a hard link to itself");
        if (kind === "symlink") this.everSymlink.add(path);
        this.kinds.set(path, kind);
        this.emit({ ...fieldsOf(e), name: path, linkname: targetPath });
        return;
      }
      case TarType.char:
      case TarType.block:
        throw refused(
          e,
          `is a device node (${e.devmajor}:${e.devminor}); copying devices into a container is not allowed`,
        );
    }
  }

  /** Every ancestor must be a real directory: of this archive, or on disk; missing ones are made. */
  private checkParents(e: TarEntry, parts: readonly string[]): void {
    for (let i = 1; i < parts.length; i++) {
      const prefix = parts.slice(0, i).join("/");
      if (this.everSymlink.has(prefix)) {
        throw refused(e, `goes through ${displayName(prefix)}, a symlink of this archive`);
      }
      const kind = this.kinds.get(prefix);
      if (kind === "dir") continue;
      if (kind !== undefined)
        throw refused(e, `has a parent ${displayName(prefix)} that is a ${kind}, not a directory`);
      const host = this.hostKind(prefix);
      if (host === "dir") continue;
      if (host === "symlink") {
        throw refused(e, `goes through ${displayName(prefix)}, a symlink in the container`);
      }
      if (host === "other") throw refused(e, `has a parent ${displayName(prefix)} that is not a directory`);
      // Missing: an explicit 0755 root directory, so tar never invents parents.
      this.kinds.set(prefix, "dir");
      this.emit({
        name: dirName(prefix),
        type: TarType.dir,
        mode: 0o755,
        uid: 0,
        gid: 0,
        size: 0,
        mtime: { seconds: e.mtime.seconds, fraction: "" },
        linkname: "",
        devmajor: 0,
        devminor: 0,
      });
    }
  }

  /**
   * What a path this archive has not written is on disk. Synchronous (the tar sink is): one lstat per
   * distinct parent directory, memoized.
   */
  private hostKind(path: string): HostKind {
    const known = this.hostKinds.get(path);
    if (known !== undefined) return known;
    let kind: HostKind;
    try {
      // As bytes: names need not be UTF-8.
      const hostPath = Buffer.concat([Buffer.from(`${this.dest}/`), Buffer.from(path, "latin1")]);
      const st = lstatSync(hostPath, { throwIfNoEntry: false });
      kind =
        st === undefined ? "missing" : st.isSymbolicLink() ? "symlink" : st.isDirectory() ? "dir" : "other";
    } catch (err) {
      if (!isErrno(err, "ENOTDIR")) throw err;
      kind = "other";
    }
    this.hostKinds.set(path, kind);
    return kind;
  }

  private emit(h: TarHeaderFields): void {
    encodeHeader(
      { ...h, xattrs: h.type === TarType.dir || h.type === TarType.file ? h.xattrs : undefined },
      this.reserve,
    );
  }
}

/** Splits an archive name into components, dropping empty and `.` ones; `..` is refused. */
function splitPath(name: string, e: TarEntry): string[] {
  const parts = name.split("/").filter((c) => c !== "" && c !== ".");
  if (parts.includes("..")) {
    throw refused(
      e,
      name === e.name
        ? `has a path containing ".."`
        : `links to ${displayName(name)}, a path containing ".."`,
    );
  }
  return parts;
}

function refused(e: TarEntry, reason: string): TsstackError {
  return new TsstackError("container/archive-refused", `entry ${displayName(e.name)} ${reason}`);
}

// ---------------------------------------------------------------------------------------------------
// GNU tar

interface TarExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly error?: Error;
}

interface TarProc {
  readonly child: ChildProcess;
  readonly exit: Promise<TarExit>;
  /** Calls `listener` once tar has exited (at once if it has); returns the unsubscribe. */
  onExit(listener: () => void): () => void;
  stderr(): string;
  kill(): void;
}

function startTar(args: string[]): TarProc {
  // Only PATH and a fixed locale: TAR_OPTIONS and friends must not change what tar does.
  const child = spawn("tar", args, {
    stdio: ["pipe", "pipe", "pipe"],
    env: { PATH: process.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C" },
  });
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (s: string) => {
    stderr = (stderr + s).slice(-4096);
  });
  // A dead reader makes writes fail with EPIPE; the write loop learns that from the exit instead.
  child.stdin.on("error", () => undefined);
  let exited = false;
  const listeners = new Set<() => void>();
  const exit = new Promise<TarExit>((resolve) => {
    const done = (result: TarExit): void => {
      exited = true;
      resolve(result);
      for (const l of listeners) l();
      listeners.clear();
    };
    child.once("error", (error) => {
      done({ code: null, signal: null, error });
    });
    child.once("close", (code, signal) => {
      done({ code, signal });
    });
  });
  return {
    child,
    exit,
    onExit: (listener) => {
      if (exited) {
        listener();
        return () => undefined;
      }
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    stderr: () => stderr.trim(),
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
}

function writeAll(sink: Writable, bufs: readonly Buffer[]): boolean {
  let ok = true;
  for (const b of bufs) ok = sink.write(b);
  return ok;
}

/** Resolves when `sink` wants more; rejects when tar exits first. */
function drained(sink: Writable, tar: TarProc): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = (): void => {
      unsubscribe();
      resolve();
    };
    const unsubscribe = tar.onExit(() => {
      sink.off("drain", onDrain);
      reject(new Error("tar exited while reading the archive"));
    });
    sink.once("drain", onDrain);
  });
}

/** A string as a byte string (latin1: one character per UTF-8 byte), the form tar names have here. */
function byteString(s: string): string {
  return Buffer.from(s).toString("latin1");
}

function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
