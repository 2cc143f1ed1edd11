/**
 * Progress of `up` and `down`, as docker compose shows it: on a terminal one line per resource,
 * redrawn in place (` ✔ Container proj-web-1  Started  0.4s`); otherwise one plain line per change
 * (`Container proj-web-1  Started`); with `--progress json` one JSON object per line for machines.
 * Renderers only format the daemon's StackProgress lines; the clock is injected.
 */
import type { StackProgress } from "../../../api/stack-types.js";
import { UsageError } from "../config.js";

export const PROGRESS_MODES = ["auto", "tty", "plain", "json", "quiet"] as const;
export type ProgressFlag = (typeof PROGRESS_MODES)[number];
export type ProgressMode = Exclude<ProgressFlag, "auto">;

/** `--progress`: `auto` is `tty` on a terminal, `plain` otherwise. */
export function progressMode(flag: string | undefined, isTTY: boolean): ProgressMode {
  const value = flag ?? "auto";
  if (!(PROGRESS_MODES as readonly string[]).includes(value))
    throw new UsageError(`invalid --progress "${value}" (one of ${PROGRESS_MODES.join(", ")})`);
  if (value === "auto") return isTTY ? "tty" : "plain";
  return value as ProgressMode;
}

type OpProgress = Extract<StackProgress, { type: "op" }>;

/**
 * How compose names a resource: `container:web.2` of project `proj` is `Container proj-web-2`
 * (compose's container name), `network:proj_default` is `Network proj_default`, a volume is quoted
 * (`Volume "proj_data"`) as compose quotes it.
 */
export function resourceName(target: string, project: string): string {
  const colon = target.indexOf(":");
  const kind = colon === -1 ? "" : target.slice(0, colon);
  const rest = colon === -1 ? target : target.slice(colon + 1);
  switch (kind) {
    case "container": {
      const replica = /^(.+)\.(\d+)$/.exec(rest);
      return `Container ${replica === null ? rest : `${project}-${replica[1] ?? ""}-${replica[2] ?? ""}`}`;
    }
    case "network":
      return `Network ${rest}`;
    case "volume":
      return `Volume "${rest}"`;
    default:
      return target;
  }
}

/** compose's words for an operation in progress and done, by plan operation kind. */
const WORDS: Readonly<Record<string, readonly [working: string, done: string]>> = {
  create: ["Creating", "Started"],
  "create-network": ["Creating", "Created"],
  "create-volume": ["Creating", "Created"],
  start: ["Starting", "Started"],
  restart: ["Restarting", "Started"],
  recreate: ["Recreate", "Recreated"],
  rename: ["Renaming", "Renamed"],
  stop: ["Stopping", "Stopped"],
  remove: ["Removing", "Removed"],
  "remove-network": ["Removing", "Removed"],
  "remove-volume": ["Removing", "Removed"],
};

/** The status word of an op line: `Creating`, `Started`, `Waiting`, `Error`. */
export function statusText(p: OpProgress): string {
  switch (p.status) {
    case "waiting":
      return "Waiting";
    case "failed":
      return "Error";
    case "started":
      return WORDS[p.kind]?.[0] ?? `${capitalize(p.kind)} started`;
    case "done":
      return WORDS[p.kind]?.[1] ?? `${capitalize(p.kind)} done`;
  }
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

export interface ProgressRenderer {
  update(p: StackProgress): void;
  /** The stream has ended: a terminal gets its final frame. */
  done(): void;
}

export interface ProgressOptions {
  readonly mode: ProgressMode;
  /** Names containers (`proj-web-1`). */
  readonly project: string;
  readonly out: { write(chunk: string): unknown };
  /** Milliseconds, for the elapsed time of each line on a terminal. Default: Date.now. */
  readonly now?: () => number;
  /** The header on a terminal (`[+] Running 2/3`). Default `Running`. */
  readonly title?: string;
}

export function createProgressRenderer(opts: ProgressOptions): ProgressRenderer {
  switch (opts.mode) {
    case "quiet":
      return { update: () => undefined, done: () => undefined };
    case "json":
      return {
        update: (p) => opts.out.write(`${JSON.stringify(jsonLine(p, opts.project))}\n`),
        done: () => undefined,
      };
    case "plain":
      return {
        update: (p) => {
          if (p.type !== "op") return;
          opts.out.write(`${resourceName(p.target, opts.project)}  ${withMessage(p)}\n`);
        },
        done: () => undefined,
      };
    case "tty":
      return new TtyRenderer(opts);
  }
}

/** The JSON form: the daemon's line, with compose's `id` (resource) and `text` on op lines. */
function jsonLine(p: StackProgress, project: string): unknown {
  if (p.type !== "op") return p;
  return { ...p, resource: resourceName(p.target, project), text: statusText(p) };
}

function withMessage(p: OpProgress): string {
  const text = statusText(p);
  return p.message === undefined || p.message === "" ? text : `${text} ${p.message}`;
}

interface Line {
  name: string;
  text: string;
  state: OpProgress["status"];
  startedAt: number;
  endedAt?: number;
}

/** ANSI: cursor up n lines; erase the whole line. */
const up = (n: number): string => `\x1b[${String(n)}A`;
const ERASE_LINE = "\x1b[2K";

const ICONS: Readonly<Record<OpProgress["status"], string>> = {
  started: "⠿",
  waiting: "⠿",
  done: "✔",
  failed: "✘",
};

/**
 * compose's terminal view: a header and one line per resource in order of first appearance, the whole
 * block redrawn after each change (cursor up, erase, rewrite). It redraws on changes only, so the
 * elapsed times of running operations move when something happens rather than on a timer.
 */
class TtyRenderer implements ProgressRenderer {
  readonly #lines = new Map<string, Line>();
  #drawn = 0;
  readonly #now: () => number;

  constructor(private readonly opts: ProgressOptions) {
    this.#now = opts.now ?? Date.now;
  }

  update(p: StackProgress): void {
    if (p.type !== "op") return;
    const name = resourceName(p.target, this.opts.project);
    const at = this.#now();
    const line = this.#lines.get(name) ?? { name, text: "", state: p.status, startedAt: at };
    line.text = withMessage(p);
    line.state = p.status;
    if (p.status === "done" || p.status === "failed") line.endedAt = at;
    else delete line.endedAt;
    this.#lines.set(name, line);
    this.#draw();
  }

  done(): void {
    if (this.#lines.size > 0) this.#draw();
  }

  #draw(): void {
    const lines = [...this.#lines.values()];
    const finished = lines.filter((l) => l.state === "done").length;
    const nameWidth = Math.max(...lines.map((l) => l.name.length));
    const textWidth = Math.max(...lines.map((l) => l.text.length));
    const now = this.#now();
    const rows = [
      `[+] ${this.opts.title ?? "Running"} ${String(finished)}/${String(lines.length)}`,
      ...lines.map((l) => {
        const elapsed = (((l.endedAt ?? now) - l.startedAt) / 1000).toFixed(1);
        return ` ${ICONS[l.state]} ${l.name.padEnd(nameWidth)}  ${l.text.padEnd(textWidth)}  ${elapsed}s`;
      }),
    ];
    const rewind = this.#drawn > 0 ? up(this.#drawn) : "";
    this.opts.out.write(rewind + rows.map((r) => `${ERASE_LINE}${r}\n`).join(""));
    this.#drawn = rows.length;
  }
}
