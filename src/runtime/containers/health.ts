/**
 * Healthchecks, run by the engine as Docker runs them (moby `daemon/health.go`): a probe every
 * `Interval` (every `StartInterval` during the start period), each given `Timeout`; `Retries`
 * consecutive failures make the container `unhealthy`, one success makes it `healthy`; failures
 * inside the start period do not count. The last five results are kept, output capped at 4 KiB.
 *
 * The monitor decides nothing about I/O: the probe, the clock and the timers are injected, so the
 * rules are tested without containers or waiting.
 */
import type { HealthConfig } from "../runtime.js";

export type HealthStatus = "starting" | "healthy" | "unhealthy";

export interface HealthState {
  Status: HealthStatus;
  FailingStreak: number;
  Log: { Start: string; End: string; ExitCode: number; Output: string }[];
}

/** Docker's defaults, in ms. */
export const HEALTH_DEFAULTS = {
  intervalMs: 30_000,
  timeoutMs: 30_000,
  retries: 3,
  startPeriodMs: 0,
  startIntervalMs: 5_000,
} as const;

const MAX_LOG_ENTRIES = 5;
const MAX_OUTPUT = 4096;

export interface EffectiveHealthcheck {
  /** The command to exec: `["/bin/sh", "-c", cmd]` for CMD-SHELL. */
  readonly command: readonly string[];
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly startPeriodMs: number;
  readonly startIntervalMs: number;
}

/**
 * The container's healthcheck: its own over the image's, field by field (a zero duration means "the
 * image's, else the default", as in Docker). Undefined when there is none or it is disabled (NONE).
 */
export function effectiveHealthcheck(
  container: HealthConfig | undefined,
  image: HealthConfig | undefined,
): EffectiveHealthcheck | undefined {
  const test = container?.Test !== undefined && container.Test.length > 0 ? container.Test : image?.Test;
  if (test === undefined || test.length === 0 || test[0] === "NONE") return undefined;
  let command: readonly string[];
  if (test[0] === "CMD") command = test.slice(1);
  else if (test[0] === "CMD-SHELL") command = ["/bin/sh", "-c", test.slice(1).join(" ")];
  else command = ["/bin/sh", "-c", test.join(" ")];
  if (command.length === 0) return undefined;
  const ns = (key: "Interval" | "Timeout" | "StartPeriod" | "StartInterval", dflt: number): number => {
    const v = container?.[key] !== undefined && container[key] > 0 ? container[key] : image?.[key];
    return v !== undefined && v > 0 ? v / 1e6 : dflt;
  };
  const retries =
    container?.Retries !== undefined && container.Retries > 0
      ? container.Retries
      : image?.Retries !== undefined && image.Retries > 0
        ? image.Retries
        : HEALTH_DEFAULTS.retries;
  return {
    command,
    intervalMs: ns("Interval", HEALTH_DEFAULTS.intervalMs),
    timeoutMs: ns("Timeout", HEALTH_DEFAULTS.timeoutMs),
    retries,
    startPeriodMs: ns("StartPeriod", HEALTH_DEFAULTS.startPeriodMs),
    startIntervalMs: ns("StartInterval", HEALTH_DEFAULTS.startIntervalMs),
  };
}

export interface ProbeResult {
  readonly exitCode: number;
  readonly output: string;
}

export interface HealthMonitorDeps {
  readonly check: EffectiveHealthcheck;
  /** Runs the command in the container; a timeout resolves with exit code -1 (Docker's). */
  readonly probe: (command: readonly string[], timeoutMs: number) => Promise<ProbeResult>;
  readonly now: () => number;
  readonly setTimer: (fn: () => void, ms: number) => { cancel(): void };
  /** Called after every probe with the new state; `changed` when the status changed. */
  readonly onResult: (state: HealthState, changed: boolean) => void;
  /** When the container started (ms), for the start period. */
  readonly startedAt: number;
  /** The state to continue from (after an engine restart). */
  readonly initial?: HealthState;
}

/** Applies one probe result to a health state (pure). */
export function nextHealth(
  prev: HealthState,
  result: ProbeResult & { readonly start: string; readonly end: string },
  inStartPeriod: boolean,
  retries: number,
): HealthState {
  const log = [
    ...prev.Log,
    {
      Start: result.start,
      End: result.end,
      ExitCode: result.exitCode,
      Output: result.output.slice(0, MAX_OUTPUT),
    },
  ].slice(-MAX_LOG_ENTRIES);
  if (result.exitCode === 0) return { Status: "healthy", FailingStreak: 0, Log: log };
  // Failures during the start period do not count (unless the container was healthy already).
  if (inStartPeriod && prev.Status === "starting") return { ...prev, Log: log };
  const streak = prev.FailingStreak + 1;
  return { Status: streak >= retries ? "unhealthy" : prev.Status, FailingStreak: streak, Log: log };
}

export class HealthMonitor {
  #state: HealthState;
  #timer: { cancel(): void } | undefined;
  #stopped = false;

  constructor(private readonly deps: HealthMonitorDeps) {
    this.#state = deps.initial ?? { Status: "starting", FailingStreak: 0, Log: [] };
  }

  get state(): HealthState {
    return this.#state;
  }

  start(): void {
    this.#schedule();
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
  }

  #isStopped(): boolean {
    return this.#stopped;
  }

  #inStartPeriod(): boolean {
    return this.deps.now() - this.deps.startedAt < this.deps.check.startPeriodMs;
  }

  #schedule(): void {
    if (this.#stopped) return;
    const { check } = this.deps;
    const delay =
      this.#state.Status === "starting" && this.#inStartPeriod() ? check.startIntervalMs : check.intervalMs;
    this.#timer = this.deps.setTimer(() => {
      void this.#probeOnce();
    }, delay);
  }

  async #probeOnce(): Promise<void> {
    if (this.#stopped) return;
    const start = new Date(this.deps.now()).toISOString();
    const inStart = this.#inStartPeriod();
    let result: ProbeResult;
    try {
      result = await this.deps.probe(this.deps.check.command, this.deps.check.timeoutMs);
    } catch (e) {
      result = { exitCode: -1, output: e instanceof Error ? e.message : String(e) };
    }
    // stop() may have run while the probe was out (the check above ran before the await).
    if (this.#isStopped()) return;
    const prev = this.#state;
    this.#state = nextHealth(
      prev,
      { ...result, start, end: new Date(this.deps.now()).toISOString() },
      inStart,
      this.deps.check.retries,
    );
    this.deps.onResult(this.#state, this.#state.Status !== prev.Status);
    this.#schedule();
  }
}
