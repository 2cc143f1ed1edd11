/**
 * A Runtime double FOR TESTING THE HTTP LAYER ONLY (routing, framing, hijack, errors, client
 * decoding): it records calls and plays scripted containers in memory. It is not a runtime and proves
 * nothing about containers; end-to-end tests of the daemon use the embedded runtime.
 *
 * Scripted commands (Cmd, or Entrypoint + Cmd):
 *   echo A B…      writes "A B…\n" to stdout, exits 0
 *   fail N MSG…    writes "MSG…\n" to stderr, exits N
 *   sleep          runs until stopped or killed (exit 143 / 137)
 *   cat            echoes what attach stdin sends to stdout; exits 0 when stdin ends
 * Exec commands: the same, with `exit N` (exits N, no output).
 */
import { EventEmitter } from "node:events";
import { PassThrough, Readable, Writable } from "node:stream";
import { TsstackError } from "../../../src/common/errors.js";
import { tarToBuffer } from "../../../src/runtime/images/tar-writer.js";
import type {
  CommitOptions,
  Container,
  ContainerCreateOptions,
  ContainerInspect,
  ContainerPathStat,
  ContainerStats,
  ContainerStatus,
  ContainerSummary,
  ExecOptions,
  ExecProcess,
  ListContainersOptions,
  LogEntry,
  LogsOptions,
  Runtime,
  RuntimeEvent,
  TopResult,
  WaitResult,
} from "../../../src/runtime/runtime.js";

export interface RecordedCall {
  readonly method: string;
  readonly id?: string;
  readonly args?: unknown;
}

interface Record_ {
  id: string;
  name: string;
  created: Date;
  opts: ContainerCreateOptions;
  status: ContainerStatus;
  exitCode: number;
  pid: number;
  startedAt: string;
  finishedAt: string;
  logs: LogEntry[];
  /** "data" (stream, Buffer), "exit" (code), "removed". */
  bus: EventEmitter;
  stdinSink: ((chunk: Buffer | null) => void) | undefined;
  puts: { path: string; bytes: Buffer }[];
}

const NEVER = "0001-01-01T00:00:00Z";

export class RecordingRuntime implements Runtime {
  readonly calls: RecordedCall[] = [];
  readonly #records = new Map<string, Record_>();
  readonly #events = new EventEmitter();
  #seq = 0;
  #now = 1_700_000_000_000;

  record(method: string, id?: string, args?: unknown): void {
    this.calls.push({ method, ...(id !== undefined ? { id } : {}), ...(args !== undefined ? { args } : {}) });
  }

  /** Emits an event as the runtime would (tests of /events). */
  emit(event: Omit<RuntimeEvent, "time" | "timeNano"> & { time?: number }): RuntimeEvent {
    const ms = event.time !== undefined ? event.time * 1000 : this.#tick();
    const full: RuntimeEvent = { ...event, time: Math.floor(ms / 1000), timeNano: ms * 1e6 };
    this.#events.emit("event", full);
    return full;
  }

  #tick(): number {
    this.#now += 1000;
    return this.#now;
  }

  resolve(idOrName: string): Record_ {
    const key = idOrName.replace(/^\//, "");
    for (const r of this.#records.values()) if (r.id === key || r.name === key) return r;
    const byPrefix = [...this.#records.values()].filter((r) => key.length >= 3 && r.id.startsWith(key));
    const only = byPrefix.length === 1 ? byPrefix[0] : undefined;
    if (only === undefined) throw new TsstackError("container/not-found", `No such container: ${idOrName}`);
    return only;
  }

  createContainer(opts: ContainerCreateOptions): Promise<Container> {
    this.record("createContainer", undefined, opts);
    if (opts.Image === "missing:latest" || opts.Image === "missing") {
      return Promise.reject(new TsstackError("image/not-found", `No such image: ${opts.Image}`));
    }
    const name = opts.name ?? `ctr${++this.#seq}`;
    if ([...this.#records.values()].some((r) => r.name === name)) {
      return Promise.reject(
        new TsstackError("container/conflict", `Conflict. The container name "/${name}" is already in use`),
      );
    }
    const id = (++this.#seq).toString(16).padStart(64, "a");
    this.#records.set(id, {
      id,
      name,
      created: new Date(this.#tick()),
      opts,
      status: "created",
      exitCode: 0,
      pid: 0,
      startedAt: NEVER,
      finishedAt: NEVER,
      logs: [],
      bus: new EventEmitter(),
      stdinSink: undefined,
      puts: [],
    });
    this.#event(id, "create");
    return Promise.resolve(this.getContainer(id));
  }

  getContainer(idOrName: string): Container {
    return new DoubleContainer(this, idOrName);
  }

  listContainers(opts: ListContainersOptions = {}): Promise<ContainerSummary[]> {
    this.record("listContainers", undefined, opts);
    const all = [...this.#records.values()].filter((r) => opts.all === true || r.status === "running");
    const labels = opts.filters?.["label"] ?? [];
    return Promise.resolve(
      all
        .filter((r) =>
          labels.every((l) => {
            const [k = "", v] = l.split("=", 2);
            const have = r.opts.Labels?.[k];
            return have !== undefined && (v === undefined || have === v);
          }),
        )
        .map((r) => ({
          Id: r.id,
          Names: [`/${r.name}`],
          Image: r.opts.Image,
          ImageID: "sha256:" + "1".repeat(64),
          Command: command(r.opts).join(" "),
          Created: Math.floor(r.created.getTime() / 1000),
          State: r.status,
          Status: r.status,
          Labels: { ...(r.opts.Labels ?? {}) },
          Ports: [],
          Mounts: [],
        })),
    );
  }

  async *getEvents(opts: { readonly signal?: AbortSignal } = {}): AsyncIterable<RuntimeEvent> {
    const queue: RuntimeEvent[] = [];
    let wake: (() => void) | undefined;
    const onEvent = (e: RuntimeEvent): void => {
      queue.push(e);
      wake?.();
    };
    const onAbort = (): void => wake?.();
    this.#events.on("event", onEvent);
    opts.signal?.addEventListener("abort", onAbort);
    try {
      while (opts.signal?.aborted !== true) {
        const next = queue.shift();
        if (next !== undefined) {
          yield next;
          continue;
        }
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    } finally {
      this.#events.off("event", onEvent);
      opts.signal?.removeEventListener("abort", onAbort);
    }
  }

  #event(id: string, action: string): void {
    const r = this.#records.get(id);
    this.emit({
      Type: "container",
      Action: action,
      Actor: {
        ID: id,
        Attributes: { name: r?.name ?? "", image: r?.opts.Image ?? "", ...(r?.opts.Labels ?? {}) },
      },
    });
  }

  // --- behaviour, called by DoubleContainer ---------------------------------------------------------

  output(r: Record_, stream: "stdout" | "stderr", text: string | Buffer): void {
    const line = Buffer.from(text);
    r.logs.push({ stream, time: new Date(this.#tick()).toISOString(), line });
    r.bus.emit("data", stream, line);
  }

  exit(r: Record_, code: number): void {
    if (r.status !== "running") return;
    r.status = "exited";
    r.exitCode = code;
    r.pid = 0;
    r.stdinSink = undefined;
    r.finishedAt = new Date(this.#tick()).toISOString();
    this.#event(r.id, "die");
    r.bus.emit("exit", code);
  }

  start(r: Record_): void {
    if (r.status === "running") return;
    r.status = "running";
    r.pid = 4242;
    r.startedAt = new Date(this.#tick()).toISOString();
    this.#event(r.id, "start");
    const [cmd, ...args] = command(r.opts);
    // The script runs on a later tick, like a real process: attach and wait can come first.
    setImmediate(() => {
      switch (cmd) {
        case "echo":
          this.output(r, "stdout", `${args.join(" ")}\n`);
          this.exit(r, 0);
          break;
        case "fail":
          this.output(r, "stderr", `${args.slice(1).join(" ")}\n`);
          this.exit(r, Number(args[0] ?? "1"));
          break;
        case "cat":
          r.stdinSink = (chunk) => {
            if (chunk === null) this.exit(r, 0);
            else this.output(r, "stdout", chunk);
          };
          break;
        default:
          break;
      }
    });
  }

  remove(r: Record_, force: boolean): void {
    if (r.status === "running" && !force) {
      throw new TsstackError(
        "container/conflict",
        `You cannot remove a running container ${r.id}. Stop the container before attempting removal or force remove`,
      );
    }
    if (r.status === "running") this.exit(r, 137);
    this.#records.delete(r.id);
    this.#event(r.id, "destroy");
    r.bus.emit("removed");
  }
}

function command(opts: ContainerCreateOptions): string[] {
  return [...(opts.Entrypoint ?? []), ...(opts.Cmd ?? [])];
}

class DoubleContainer implements Container {
  constructor(
    private readonly rt: RecordingRuntime,
    readonly id: string,
  ) {}

  #get(method: string, args?: unknown): Record_ {
    this.rt.record(method, this.id, args);
    return this.rt.resolve(this.id);
  }

  inspect(): Promise<ContainerInspect> {
    try {
      const r = this.#get("inspect");
      const cmd = command(r.opts);
      return Promise.resolve({
        Id: r.id,
        Created: r.created.toISOString(),
        Path: cmd[0] ?? "",
        Args: cmd.slice(1),
        State: {
          Status: r.status,
          Running: r.status === "running",
          Paused: r.status === "paused",
          Restarting: false,
          OOMKilled: false,
          Dead: false,
          Pid: r.pid,
          ExitCode: r.exitCode,
          Error: "",
          StartedAt: r.startedAt,
          FinishedAt: r.finishedAt,
        },
        Image: "sha256:" + "1".repeat(64),
        ResolvConfPath: "",
        HostnamePath: "",
        HostsPath: "",
        LogPath: "",
        Name: `/${r.name}`,
        RestartCount: 0,
        Driver: "overlay",
        Platform: "linux",
        Config: {
          Hostname: r.id.slice(0, 12),
          User: "",
          Env: [...(r.opts.Env ?? [])],
          Cmd: r.opts.Cmd ? [...r.opts.Cmd] : null,
          Entrypoint: r.opts.Entrypoint ? [...r.opts.Entrypoint] : null,
          Image: r.opts.Image,
          WorkingDir: "",
          Labels: { ...(r.opts.Labels ?? {}) },
          Tty: r.opts.Tty === true,
          OpenStdin: r.opts.OpenStdin === true,
          StopSignal: "SIGTERM",
          StopTimeout: 10,
        },
        HostConfig: r.opts.HostConfig ?? {},
        GraphDriver: { Name: "overlay", Data: {} },
        Mounts: [],
        NetworkSettings: { Networks: {}, Ports: {}, IPAddress: "", Gateway: "", MacAddress: "" },
      });
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  async start(): Promise<void> {
    await Promise.resolve();
    this.rt.start(this.#get("start"));
  }

  async stop(opts: { readonly t?: number; readonly signal?: string } = {}): Promise<void> {
    await Promise.resolve();
    this.rt.exit(this.#get("stop", opts), 143);
  }

  async restart(opts: { readonly t?: number } = {}): Promise<void> {
    await Promise.resolve();
    const r = this.#get("restart", opts);
    this.rt.exit(r, 143);
    this.rt.start(r);
  }

  async kill(opts: { readonly signal?: string } = {}): Promise<void> {
    await Promise.resolve();
    const r = this.#get("kill", opts);
    if (r.status !== "running")
      throw new TsstackError("container/not-running", `Container ${r.id} is not running`);
    this.rt.exit(r, 137);
  }

  async pause(): Promise<void> {
    await Promise.resolve();
    const r = this.#get("pause");
    if (r.status !== "running")
      throw new TsstackError("container/not-running", `Container ${r.id} is not running`);
    r.status = "paused";
  }

  async unpause(): Promise<void> {
    await Promise.resolve();
    const r = this.#get("unpause");
    if (r.status !== "paused")
      throw new TsstackError("container/conflict", `Container ${r.id} is not paused`);
    r.status = "running";
  }

  async remove(opts: { readonly force?: boolean; readonly v?: boolean } = {}): Promise<void> {
    await Promise.resolve();
    this.rt.remove(this.#get("remove", opts), opts.force === true);
  }

  async wait(
    opts: { readonly condition?: "not-running" | "next-exit" | "removed" } = {},
  ): Promise<WaitResult> {
    await Promise.resolve();
    const r = this.#get("wait", opts);
    const condition = opts.condition ?? "not-running";
    if (condition === "not-running" && r.status !== "running") return { StatusCode: r.exitCode };
    return new Promise((resolve) => {
      if (condition === "removed")
        r.bus.once("removed", () => {
          resolve({ StatusCode: r.exitCode });
        });
      else
        r.bus.once("exit", (code: number) => {
          resolve({ StatusCode: code });
        });
    });
  }

  async *logs(opts: LogsOptions = {}): AsyncIterable<LogEntry> {
    const r = this.#get("logs", { ...opts, signal: undefined });
    const wanted = (e: LogEntry): boolean =>
      (opts.stdout !== false || e.stream !== "stdout") && (opts.stderr !== false || e.stream !== "stderr");
    let past = r.logs.filter(wanted);
    if (typeof opts.tail === "number") past = opts.tail === 0 ? [] : past.slice(-opts.tail);
    yield* past;
    if (opts.follow !== true || r.status !== "running") return;
    const queue: LogEntry[] = [];
    const state = { ended: false };
    let wake: (() => void) | undefined;
    const onData = (stream: "stdout" | "stderr", line: Buffer): void => {
      const e = r.logs[r.logs.length - 1] ?? { stream, time: "", line };
      if (wanted(e)) queue.push(e);
      wake?.();
    };
    const onEnd = (): void => {
      state.ended = true;
      wake?.();
    };
    r.bus.on("data", onData);
    r.bus.once("exit", onEnd);
    opts.signal?.addEventListener("abort", onEnd);
    try {
      for (;;) {
        const next = queue.shift();
        if (next !== undefined) {
          yield next;
          continue;
        }
        if (state.ended) return;
        await new Promise<void>((res) => (wake = res));
        wake = undefined;
      }
    } finally {
      r.bus.off("data", onData);
      r.bus.off("exit", onEnd);
      opts.signal?.removeEventListener("abort", onEnd);
    }
  }

  async exec(opts: ExecOptions): Promise<ExecProcess> {
    await Promise.resolve();
    const r = this.#get("exec", opts);
    if (r.status !== "running")
      throw new TsstackError("container/not-running", `Container ${r.id} is not running`);
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let finish: (code: number) => void = () => undefined;
    const exit = new Promise<number>((resolve) => (finish = resolve));
    const done = (code: number): void => {
      stdout.end();
      stderr.end();
      finish(code);
    };
    const [cmd, ...args] = opts.Cmd;
    const resizes: { rows: number; columns: number }[] = [];
    const stdin = new Writable({
      write(chunk: Buffer, _enc, cb) {
        if (cmd === "cat") stdout.write(chunk);
        cb();
      },
      final(cb) {
        if (cmd === "cat") done(0);
        cb();
      },
    });
    setImmediate(() => {
      if (cmd === "echo") {
        stdout.write(`${args.join(" ")}\n`);
        done(0);
      } else if (cmd === "fail") {
        stderr.write(`${args.slice(1).join(" ")}\n`);
        done(Number(args[0] ?? "1"));
      } else if (cmd === "exit") {
        done(Number(args[0] ?? "0"));
      }
    });
    return {
      stdin,
      stdout,
      stderr,
      exit,
      resize: (size) => {
        resizes.push({ ...size });
        this.rt.record("exec.resize", this.id, size);
      },
    };
  }

  async attach(opts: { readonly stdin?: boolean; readonly signal?: AbortSignal } = {}): Promise<ExecProcess> {
    await Promise.resolve();
    const r = this.#get("attach", { stdin: opts.stdin });
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const onData = (stream: "stdout" | "stderr", line: Buffer): void => {
      (stream === "stdout" ? stdout : stderr).write(line);
    };
    let finish: (code: number) => void = () => undefined;
    const exit = new Promise<number>((resolve) => (finish = resolve));
    const end = (code: number): void => {
      r.bus.off("data", onData);
      stdout.end();
      stderr.end();
      finish(code);
    };
    r.bus.on("data", onData);
    r.bus.once("exit", end);
    opts.signal?.addEventListener("abort", () => {
      end(-1);
    });
    const stdin = new Writable({
      write(chunk: Buffer, _enc, cb) {
        r.stdinSink?.(chunk);
        cb();
      },
      final(cb) {
        r.stdinSink?.(null);
        cb();
      },
    });
    return {
      stdin,
      stdout,
      stderr,
      exit,
      resize: (size) => {
        this.rt.record("attach.resize", this.id, size);
      },
    };
  }

  async top(opts: { readonly ps_args?: string } = {}): Promise<TopResult> {
    await Promise.resolve();
    const r = this.#get("top", opts);
    return { Titles: ["PID", "CMD"], Processes: [[String(r.pid), command(r.opts).join(" ")]] };
  }

  async stats(): Promise<ContainerStats> {
    await Promise.resolve();
    this.#get("stats");
    const usage = { cpu_usage: { total_usage: 1000 }, system_cpu_usage: 5000, online_cpus: 2 };
    return {
      read: new Date(0).toISOString(),
      cpu_stats: usage,
      precpu_stats: usage,
      memory_stats: { usage: 1024, limit: 2048 },
      pids_stats: { current: 1 },
    };
  }

  async export(): Promise<Readable> {
    this.#get("export");
    return Readable.from([
      await tarToBuffer([{ name: "etc/hostname", type: "file", body: Buffer.from("x\n") }]),
    ]);
  }

  async commit(opts: CommitOptions = {}): Promise<{ Id: string }> {
    await Promise.resolve();
    this.#get("commit", opts);
    return { Id: "sha256:" + "c".repeat(64) };
  }

  async getArchive(opts: { readonly path: string }): Promise<Readable> {
    this.#get("getArchive", opts);
    if (opts.path.startsWith("/missing")) {
      throw new TsstackError("container/path-not-found", `Could not find the file ${opts.path} in container`);
    }
    const base = opts.path.replace(/\/+$/, "").split("/").pop() ?? "";
    const tar = await tarToBuffer(
      opts.path.endsWith("/")
        ? [
            { name: `${base}/`, type: "directory", mode: 0o755, mtime: 1_700_000_000 },
            { name: `${base}/a.txt`, type: "file", body: Buffer.from("a\n") },
          ]
        : [{ name: base, type: "file", mode: 0o644, mtime: 1_700_000_000, body: Buffer.from("hello\n") }],
    );
    return Readable.from([tar]);
  }

  async infoArchive(opts: { readonly path: string }): Promise<ContainerPathStat> {
    await Promise.resolve();
    this.#get("infoArchive", opts);
    if (opts.path.startsWith("/missing")) {
      throw new TsstackError("container/path-not-found", `Could not find the file ${opts.path} in container`);
    }
    const dir = opts.path.endsWith("/");
    return {
      name: opts.path.replace(/\/+$/, "").split("/").pop() ?? "",
      size: dir ? 0 : 6,
      mode: dir ? 2 ** 31 + 0o755 : 0o644,
      mtime: "2023-11-14T22:13:20Z",
      linkTarget: "",
    };
  }

  async putArchive(tar: Readable, opts: { readonly path: string }): Promise<void> {
    const r = this.#get("putArchive", opts);
    const parts: Buffer[] = [];
    for await (const chunk of tar as AsyncIterable<Buffer>) parts.push(chunk);
    r.puts.push({ path: opts.path, bytes: Buffer.concat(parts) });
  }

  /** Bytes put into the container (test inspection). */
  puts(): { path: string; bytes: Buffer }[] {
    return this.rt.resolve(this.id).puts;
  }
}
