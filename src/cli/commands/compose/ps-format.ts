/**
 * The rows of compose's `ps` (docker/compose cmd/compose/ps.go and cmd/formatter/container.go): the
 * table NAME IMAGE COMMAND SERVICE CREATED STATUS PORTS, and the JSON objects `--format json` prints.
 * Pure; the clock is passed in.
 */
import { LABEL_CONTAINER_NUMBER, LABEL_PROJECT, LABEL_SERVICE } from "../../../reconciler/labels.js";
import type { ContainerSummary } from "../../../runtime/runtime.js";
import { ellipsis, goQuote, humanDuration } from "../../format.js";
import { formatPorts } from "../container/ps-format.js";

/** What compose's `ps --format json` prints per container (and what templates see). */
export interface ComposePsRow {
  ID: string;
  Name: string;
  Names: string;
  Image: string;
  Command: string;
  Project: string;
  Service: string;
  /** Replica number (compose's container-number label); 0 when unlabelled. */
  Number: number;
  /** Unix seconds. */
  Created: number;
  State: string;
  /** `Up 5 seconds (healthy)`, as the engine reports it. */
  Status: string;
  /** `healthy`, `unhealthy`, `starting`, or empty without a healthcheck. */
  Health: string;
  ExitCode: number;
  RunningFor: string;
  Ports: string;
  Publishers: { URL: string; TargetPort: number; PublishedPort: number; Protocol: string }[];
  Labels: string;
}

export const COMPOSE_PS_HEADERS: Record<string, string> = {
  ID: "CONTAINER ID",
  Name: "NAME",
  Names: "NAMES",
  Image: "IMAGE",
  Command: "COMMAND",
  Project: "PROJECT",
  Service: "SERVICE",
  Number: "NUMBER",
  Created: "CREATED AT",
  RunningFor: "CREATED",
  State: "STATE",
  Status: "STATUS",
  Health: "HEALTH",
  ExitCode: "EXIT CODE",
  Ports: "PORTS",
  Publishers: "PUBLISHERS",
  Labels: "LABELS",
};

/** compose's default `ps` table. */
export const COMPOSE_PS_COLUMNS = [
  "Name",
  "Image",
  "Command",
  "Service",
  "RunningFor",
  "Status",
  "Ports",
] as const;

/** The health in an engine status (`Up 5 seconds (healthy)`, `Up 1 second (health: starting)`). */
export function healthOf(status: string): string {
  const m = /\((healthy|unhealthy|health: starting)\)\s*$/.exec(status);
  if (m === null) return "";
  return m[1] === "health: starting" ? "starting" : (m[1] ?? "");
}

/** The exit code in an engine status (`Exited (137) 2 seconds ago`); 0 otherwise. */
export function exitCodeOf(status: string): number {
  const m = /^Exited \((-?\d+)\)/.exec(status);
  return m === null ? 0 : Number(m[1]);
}

export function composePsRow(
  c: ContainerSummary,
  opts: { readonly truncate: boolean; readonly now: Date },
): ComposePsRow {
  const name = (c.Names[0] ?? "").replace(/^\//, "");
  return {
    ID: c.Id,
    Name: name,
    Names: name,
    Image: c.Image,
    Command: goQuote(opts.truncate ? ellipsis(c.Command, 20) : c.Command),
    Project: c.Labels[LABEL_PROJECT] ?? "",
    Service: c.Labels[LABEL_SERVICE] ?? "",
    Number: Number(c.Labels[LABEL_CONTAINER_NUMBER] ?? "0") || 0,
    Created: c.Created,
    State: c.State,
    Status: c.Status,
    Health: healthOf(c.Status),
    ExitCode: exitCodeOf(c.Status),
    RunningFor: `${humanDuration(opts.now.getTime() - c.Created * 1000)} ago`,
    Ports: formatPorts(c.Ports),
    Publishers: [...c.Ports]
      .sort((a, b) => a.PrivatePort - b.PrivatePort)
      .map((p) => ({
        URL: p.IP ?? "",
        TargetPort: p.PrivatePort,
        PublishedPort: p.PublicPort ?? 0,
        Protocol: p.Type,
      })),
    Labels: Object.entries(c.Labels)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${k}=${v}`)
      .join(","),
  };
}

/**
 * By service, then replica number, then name (compose sorts by name alone, which puts `web-10` before
 * `web-2`).
 */
export function sortForPs(rows: readonly ComposePsRow[]): ComposePsRow[] {
  return [...rows].sort(
    (a, b) =>
      (a.Service < b.Service ? -1 : a.Service > b.Service ? 1 : 0) ||
      a.Number - b.Number ||
      (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0),
  );
}
