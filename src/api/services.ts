/**
 * State the API server keeps across requests: the event fan-out (one runtime subscription, replay of
 * recent events for `since`), exec configurations between create and start, and the attach sessions
 * a container resize reaches.
 */
import { randomBytes } from "node:crypto";
import type { ExecOptions, ExecProcess, Runtime, RuntimeEvent } from "../runtime/runtime.js";
import type { StackService } from "../reconciler/engine-stacks.js";
import { describeError, HttpError } from "./errors.js";

export interface ApiServices {
  readonly runtime: Runtime;
  /** The engine's state root (the image store lives under it). */
  readonly root: string;
  readonly version: string;
  readonly log: (line: string) => void;
  readonly events: EventHub;
  readonly execs: ExecRegistry;
  readonly attachments: AttachRegistry;
  /** The engine's stacks (routes/stacks.ts); absent when the runtime cannot run stacks. */
  readonly stacks?: StackService;
}

/** Docker keeps the last 256 events for `since`; so do we. */
const EVENT_BUFFER = 256;
const RESUBSCRIBE_MS = 1000;

/**
 * One subscription to `runtime.getEvents`, fanned out to every `/events` client, with the recent
 * events kept for replay. Events are stored Docker-shaped (with the legacy `status`/`id`/`from`).
 */
export class EventHub {
  readonly #recent: RuntimeEvent[] = [];
  readonly #subscribers = new Set<(event: RuntimeEvent) => void>();
  readonly #stop = new AbortController();
  #running: Promise<void> | undefined;

  constructor(
    private readonly runtime: Runtime,
    private readonly log: (line: string) => void,
  ) {}

  start(): void {
    this.#running ??= this.#run();
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    // A function, not the property: the loop body awaits, and the signal may abort meanwhile.
    const stopped = (): boolean => signal.aborted;
    while (!stopped()) {
      try {
        for await (const event of this.runtime.getEvents({ signal })) this.#publish(dockerEvent(event));
        if (stopped()) return;
        this.log("events: the runtime's event stream ended; resubscribing");
      } catch (error) {
        if (stopped()) return;
        this.log(`events: reading the runtime's events failed; resubscribing: ${describeError(error)}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, RESUBSCRIBE_MS);
        signal.addEventListener("abort", () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  #publish(event: RuntimeEvent): void {
    this.#recent.push(event);
    if (this.#recent.length > EVENT_BUFFER) this.#recent.shift();
    for (const fn of this.#subscribers) fn(event);
  }

  /** Buffered events at or after `since` (Unix seconds), oldest first. */
  recent(since: number): RuntimeEvent[] {
    const sinceNano = BigInt(Math.round(since * 1e6)) * 1000n;
    return this.#recent.filter((e) => BigInt(e.timeNano) >= sinceNano);
  }

  subscribe(fn: (event: RuntimeEvent) => void): () => void {
    this.#subscribers.add(fn);
    return () => this.#subscribers.delete(fn);
  }

  async close(): Promise<void> {
    this.#stop.abort();
    this.#subscribers.clear();
    await this.#running;
  }
}

/** An event as `/events` sends it. */
export type DockerEvent = RuntimeEvent & {
  readonly scope: "local";
  readonly status?: string;
  readonly id?: string;
  readonly from?: string;
};

/** Adds Docker's legacy fields (`status`, `id`, `from`) and `scope`, which older clients read. */
function dockerEvent(event: RuntimeEvent): DockerEvent {
  const legacy =
    event.Type === "container"
      ? { status: event.Action, id: event.Actor.ID, from: event.Actor.Attributes["image"] ?? "" }
      : {};
  return { ...legacy, ...event, scope: "local" };
}

/** `POST /containers/{id}/exec` body (the parts tsstack acts on). */
export interface ExecConfig {
  readonly AttachStdin?: boolean;
  readonly AttachStdout?: boolean;
  readonly AttachStderr?: boolean;
  readonly DetachKeys?: string;
  readonly Tty?: boolean;
  readonly Env?: readonly string[] | null;
  readonly Cmd: readonly string[];
  readonly Privileged?: boolean;
  readonly User?: string;
  readonly WorkingDir?: string;
}

export interface ExecRecord {
  readonly id: string;
  readonly containerId: string;
  readonly config: ExecConfig;
  started: boolean;
  running: boolean;
  exitCode: number | null;
  process: ExecProcess | undefined;
  /** When it ended (ms), for pruning. */
  endedAt: number | undefined;
}

/** Finished execs kept for `GET /exec/{id}/json`; the oldest go first beyond this. */
const MAX_FINISHED_EXECS = 512;

/** Exec configurations live in memory only: a daemon restart forgets them, as Docker's does. */
export class ExecRegistry {
  readonly #execs = new Map<string, ExecRecord>();

  create(containerId: string, config: ExecConfig): ExecRecord {
    this.#prune();
    const record: ExecRecord = {
      id: randomBytes(32).toString("hex"),
      containerId,
      config,
      started: false,
      running: false,
      exitCode: null,
      process: undefined,
      endedAt: undefined,
    };
    this.#execs.set(record.id, record);
    return record;
  }

  get(id: string): ExecRecord {
    const record = this.#execs.get(id);
    if (record === undefined) throw new HttpError(404, "exec/not-found", `No such exec instance: ${id}`);
    return record;
  }

  /**
   * Marks an exec started with its process; the promise resolves once its end (exit code, not
   * running) is recorded. It never rejects.
   */
  started(record: ExecRecord, process: ExecProcess): Promise<void> {
    record.process = process;
    record.running = true;
    return process.exit
      .then(
        (code) => {
          record.exitCode = code;
        },
        () => {
          record.exitCode = -1;
        },
      )
      .finally(() => {
        record.running = false;
        record.endedAt = Date.now();
      });
  }

  #prune(): void {
    const finished = [...this.#execs.values()].filter((r) => r.endedAt !== undefined);
    if (finished.length <= MAX_FINISHED_EXECS) return;
    finished.sort((a, b) => (a.endedAt ?? 0) - (b.endedAt ?? 0));
    for (const r of finished.slice(0, finished.length - MAX_FINISHED_EXECS)) this.#execs.delete(r.id);
  }

  toExecOptions(config: ExecConfig): ExecOptions {
    return {
      Cmd: config.Cmd,
      ...(config.Env !== undefined && config.Env !== null ? { Env: config.Env } : {}),
      ...(config.User !== undefined && config.User !== "" ? { User: config.User } : {}),
      ...(config.WorkingDir !== undefined && config.WorkingDir !== ""
        ? { WorkingDir: config.WorkingDir }
        : {}),
      ...(config.Tty !== undefined ? { Tty: config.Tty } : {}),
      ...(config.Privileged !== undefined ? { Privileged: config.Privileged } : {}),
    };
  }
}

/** Attach sessions per container id, so that `POST /containers/{id}/resize` reaches their TTY. */
export class AttachRegistry {
  readonly #byContainer = new Map<string, Set<ExecProcess>>();

  add(containerId: string, process: ExecProcess): () => void {
    let set = this.#byContainer.get(containerId);
    if (set === undefined) {
      set = new Set();
      this.#byContainer.set(containerId, set);
    }
    set.add(process);
    return () => {
      set.delete(process);
      if (set.size === 0) this.#byContainer.delete(containerId);
    };
  }

  of(containerId: string): readonly ExecProcess[] {
    return [...(this.#byContainer.get(containerId) ?? [])];
  }
}
