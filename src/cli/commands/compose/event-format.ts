/**
 * compose's `events` lines (docker/compose pkg/api Event.String and cmd/compose/events.go): text
 * `2024-06-01 12:00:00.000000 container start <id> (image=busybox, name=proj-web-1)`, or with
 * `--json` one object per line. compose's own labels are left out of the attributes, as compose does.
 * Times are UTC (compose prints local time).
 */
import { LABEL_PROJECT, LABEL_SERVICE } from "../../../reconciler/labels.js";
import type { RuntimeEvent } from "../../../runtime/runtime.js";

/** Whether `e` is about a container of `project` (and of one of `services`, when given). */
export function isStackEvent(e: RuntimeEvent, project: string, services: readonly string[] = []): boolean {
  if (e.Type !== "container" || e.Actor.Attributes[LABEL_PROJECT] !== project) return false;
  return services.length === 0 || services.includes(e.Actor.Attributes[LABEL_SERVICE] ?? "");
}

function attributes(e: RuntimeEvent): Record<string, string> {
  return Object.fromEntries(
    Object.entries(e.Actor.Attributes)
      .filter(([k]) => !k.startsWith("com.docker.compose."))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
}

/** The event's time, from its nanoseconds when it has them. */
function eventDate(e: RuntimeEvent): { readonly date: Date; readonly micros: string } {
  const ns = e.timeNano > 0 ? BigInt(e.timeNano) : BigInt(e.time) * 1_000_000_000n;
  const date = new Date(Number(ns / 1_000_000n));
  const micros = String((ns / 1000n) % 1_000_000n).padStart(6, "0");
  return { date, micros };
}

export function formatEvent(e: RuntimeEvent, opts: { readonly json: boolean }): string {
  const { date, micros } = eventDate(e);
  if (opts.json) {
    return `${JSON.stringify({
      time: `${date.toISOString().slice(0, 19)}.${micros}Z`,
      type: "container",
      service: e.Actor.Attributes[LABEL_SERVICE] ?? "",
      id: e.Actor.ID,
      action: e.Action,
      attributes: attributes(e),
    })}\n`;
  }
  const attrs = Object.entries(attributes(e))
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
  const time = `${date.toISOString().slice(0, 10)} ${date.toISOString().slice(11, 19)}.${micros}`;
  return `${time} container ${e.Action} ${e.Actor.ID} (${attrs})\n`;
}
