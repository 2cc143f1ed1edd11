/**
 * Start, stop, restart or kill a stack's containers through the runtime, all at once, with a progress
 * line each as compose shows them (` ✔ Container proj-web-1  Stopped`); used by `start`/`stop`/
 * `restart` and by attached `up` on Ctrl-C.
 */
import { LABEL_CONTAINER_NUMBER, LABEL_SERVICE } from "../../../reconciler/labels.js";
import type { ContainerSummary, Runtime } from "../../../runtime/runtime.js";
import type { CliIo } from "../../io.js";
import { ExitStatus } from "../container/exit-codes.js";
import { now } from "../container/shared.js";
import { createProgressRenderer, type ProgressMode } from "./progress.js";

export type ContainerAction = "start" | "stop" | "restart" | "kill";

/** The plan target of a stack container (`container:web.2`), for progress lines. */
export function containerTarget(c: Pick<ContainerSummary, "Id" | "Names" | "Labels">): string {
  const service = c.Labels[LABEL_SERVICE];
  const n = c.Labels[LABEL_CONTAINER_NUMBER];
  return service !== undefined && n !== undefined
    ? `container:${service}.${n}`
    : `container:${(c.Names[0] ?? c.Id).replace(/^\//, "")}`;
}

export interface ContainerActionOptions {
  readonly project: string;
  readonly mode: ProgressMode;
  /** Seconds before a stop kills (stop, restart). Default: each container's own stop timeout. */
  readonly timeout?: number;
}

/** Acts on every container at once; every failure is reported on stderr and makes the command exit 1. */
export async function actOnContainers(
  io: CliIo,
  runtime: Runtime,
  containers: readonly ContainerSummary[],
  action: ContainerAction,
  opts: ContainerActionOptions,
): Promise<void> {
  const renderer = createProgressRenderer({
    mode: opts.mode,
    project: opts.project,
    out: io.stdout,
    now: () => now(io).getTime(),
  });
  // A kill shows as a stop, as compose's `kill` does.
  const kind = action === "kill" ? "stop" : action;
  const t = opts.timeout !== undefined ? { t: opts.timeout } : {};
  const failures: string[] = [];
  await Promise.all(
    containers.map(async (c, i) => {
      const base = { type: "op" as const, id: i + 1, target: containerTarget(c), kind };
      renderer.update({ ...base, status: "started" });
      const container = runtime.getContainer(c.Id);
      try {
        if (action === "kill") await container.kill();
        else if (action === "stop") await container.stop(t);
        else if (action === "restart") await container.restart(t);
        else await container.start();
        renderer.update({ ...base, status: "done" });
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        renderer.update({ ...base, status: "failed", message });
        failures.push(`${action} ${containerTarget(c).slice("container:".length)}: ${message}`);
      }
    }),
  );
  renderer.done();
  if (failures.length > 0) {
    for (const f of failures) io.stderr.write(`tsstack: ${f}\n`);
    throw new ExitStatus(1);
  }
}
