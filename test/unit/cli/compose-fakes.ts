/**
 * Fakes for the compose command tests: a runtime holding a few labelled containers with canned logs
 * and events, and a stack API replaying canned progress. Only what the compose commands call.
 */
import type { Command } from "commander";
import type {
  ApplyRequest,
  DownRequest,
  PlanResponse,
  StackProgress,
  StackStatus,
  StackSummary,
} from "../../../src/api/stack-types.js";
import type { ComposeContext, StackApi, StackResult } from "../../../src/cli/commands/compose/stack-api.js";
import type { CliIo } from "../../../src/cli/io.js";
import type {
  Container,
  ContainerSummary,
  ListContainersOptions,
  LogEntry,
  LogsOptions,
  Runtime,
  RuntimeEvent,
} from "../../../src/runtime/runtime.js";

export const NOW = new Date("2024-06-01T12:00:00Z");

export function stackContainer(
  project: string,
  service: string,
  n: number,
  over: Partial<ContainerSummary> = {},
): ContainerSummary {
  return {
    Id: `${project}-${service}-${String(n)}-id`,
    Names: [`/${project}-${service}-${String(n)}`],
    Image: "busybox:latest",
    ImageID: "sha256:1111",
    Command: "sleep 3600",
    Created: NOW.getTime() / 1000 - 5,
    State: "running",
    Status: "Up 5 seconds",
    Labels: {
      "com.docker.compose.project": project,
      "com.docker.compose.service": service,
      "com.docker.compose.container-number": String(n),
    },
    Ports: [],
    Mounts: [],
    ...over,
  };
}

export function entry(time: string, line: string, stream: "stdout" | "stderr" = "stdout"): LogEntry {
  return { stream, time, line: Buffer.from(line) };
}

/** Resolves when `signal` aborts. */
function aborted(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal === undefined) return;
    if (signal.aborted) resolve();
    else
      signal.addEventListener(
        "abort",
        () => {
          resolve();
        },
        { once: true },
      );
  });
}

export class FakeRuntime {
  readonly calls: string[] = [];
  readonly logOptions: LogsOptions[] = [];
  /** A followed log ends when this resolves for its container (it "stopped"), or on abort. */
  readonly stopped = new Map<string, () => void>();
  #stopSignals = new Map<string, Promise<void>>();

  constructor(
    readonly containers: ContainerSummary[],
    readonly logs: Readonly<Record<string, readonly LogEntry[]>> = {},
    readonly events: readonly RuntimeEvent[] = [],
  ) {
    for (const c of containers) {
      this.#stopSignals.set(
        c.Id,
        new Promise<void>((resolve) => {
          this.stopped.set(c.Id, resolve);
        }),
      );
    }
  }

  listContainers(opts: ListContainersOptions = {}): Promise<ContainerSummary[]> {
    const labels = opts.filters?.["label"] ?? [];
    return Promise.resolve(
      this.containers.filter(
        (c) =>
          (opts.all === true || c.State === "running") &&
          labels.every((l) => {
            const [k = "", v] = l.split("=");
            return v === undefined ? k in c.Labels : c.Labels[k] === v;
          }),
      ),
    );
  }

  getContainer(id: string): Container {
    const act = (what: string) => (): Promise<void> => {
      this.calls.push(`${what} ${id}`);
      if (what === "stop" || what === "kill") this.stopped.get(id)?.();
      return Promise.resolve();
    };
    const entries = this.logs[id] ?? [];
    const stopSignal = this.#stopSignals.get(id) ?? Promise.resolve();
    const logOptions = this.logOptions;
    return {
      id,
      start: act("start"),
      stop: act("stop"),
      restart: act("restart"),
      kill: act("kill"),
      inspect: () => Promise.resolve({ State: { ExitCode: 0 } }),
      logs: async function* (opts: LogsOptions = {}) {
        logOptions.push(opts);
        const tail = opts.tail === undefined || opts.tail === "all" ? entries.length : opts.tail;
        for (const e of entries.slice(entries.length - tail)) yield e;
        if (opts.follow === true) await Promise.race([stopSignal, aborted(opts.signal)]);
      },
    } as unknown as Container;
  }

  async *getEvents(opts: { readonly signal?: AbortSignal } = {}): AsyncIterable<RuntimeEvent> {
    for (const e of this.events) yield e;
    await aborted(opts.signal);
  }

  asRuntime(): Runtime {
    return this as unknown as Runtime;
  }
}

export class FakeStackApi implements StackApi {
  readonly requests: { readonly method: string; readonly name: string; readonly req?: unknown }[] = [];

  constructor(
    readonly progress: readonly StackProgress[] = [],
    readonly result: StackResult = { ok: true, errors: [] },
    readonly planText = "",
    readonly stacks: StackSummary[] = [],
  ) {}

  apply(name: string, req: ApplyRequest, onProgress: (p: StackProgress) => void): Promise<StackResult> {
    this.requests.push({ method: "apply", name, req });
    for (const p of this.progress) onProgress(p);
    return Promise.resolve(this.result);
  }

  plan(name: string, req: ApplyRequest): Promise<PlanResponse> {
    this.requests.push({ method: "plan", name, req });
    return Promise.resolve({ text: this.planText, operations: [] });
  }

  down(name: string, req: DownRequest, onProgress: (p: StackProgress) => void): Promise<StackResult> {
    this.requests.push({ method: "down", name, req });
    for (const p of this.progress) onProgress(p);
    return Promise.resolve(this.result);
  }

  list(): Promise<StackSummary[]> {
    return Promise.resolve(this.stacks);
  }

  status(name: string): Promise<StackStatus> {
    return Promise.resolve({ name, state: "idle", services: [] });
  }
}

export interface Captured {
  readonly io: CliIo;
  out(): string;
  err(): string;
}

export function capture(opts: { tty?: boolean; cwd?: string } = {}): Captured {
  let out = "";
  let err = "";
  return {
    io: {
      stdout: { write: (s: string) => (out += s), isTTY: opts.tty === true },
      stderr: { write: (s: string) => (err += s) },
      env: {},
      cwd: opts.cwd ?? "/",
      homeDir: "/root",
      now: () => NOW,
    },
    out: () => out,
    err: () => err,
  };
}

/** A ComposeContext over fakes; `interrupt()` plays a Ctrl-C. */
export function fakeContext(
  io: CliIo,
  stacks: StackApi,
  runtime: FakeRuntime,
): ComposeContext & { interrupt(): void; readonly connected: Command[] } {
  const listeners = new Set<() => void>();
  const connected: Command[] = [];
  return {
    io,
    connected,
    connect: (cmd) => {
      connected.push(cmd);
      return Promise.resolve({
        stacks,
        runtime: runtime.asRuntime(),
        [Symbol.asyncDispose]: () => Promise.resolve(),
      });
    },
    onInterrupt: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    interrupt: () => {
      for (const l of [...listeners]) l();
    },
  };
}
