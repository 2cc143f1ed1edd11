/**
 * The rows of `ps` (docker's cli/command/formatter/container.go): what the table shows and what
 * `--format` templates see, from the engine's container summaries. Pure; the clock is passed in.
 */
import { familiarName, parseReference } from "../../../runtime/images/reference.js";
import type { ContainerSummary } from "../../../runtime/runtime.js";
import { ellipsis, goQuote, goTime, humanDuration } from "../../format.js";

/** docker's ps fields, all strings, as `--format '{{.Field}}'` and `--format json` print them. */
export interface PsRow {
  ID: string;
  Image: string;
  Command: string;
  CreatedAt: string;
  RunningFor: string;
  Ports: string;
  State: string;
  Status: string;
  Size: string;
  Names: string;
  Labels: string;
  Mounts: string;
  Networks: string;
  LocalVolumes: string;
}

export const PS_HEADERS: Record<string, string> = {
  ID: "CONTAINER ID",
  Image: "IMAGE",
  Command: "COMMAND",
  CreatedAt: "CREATED AT",
  RunningFor: "CREATED",
  Ports: "PORTS",
  State: "STATE",
  Status: "STATUS",
  Size: "SIZE",
  Names: "NAMES",
  Labels: "LABELS",
  Mounts: "MOUNTS",
  Networks: "NETWORKS",
  LocalVolumes: "LOCAL VOLUMES",
};

/** docker's default `ps` table. */
export const PS_TABLE_COLUMNS = ["ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names"] as const;

export function psRow(c: ContainerSummary, opts: { readonly truncate: boolean; readonly now: Date }): PsRow {
  const created = new Date(c.Created * 1000);
  const t = opts.truncate;
  return {
    ID: t ? truncateId(c.Id) : c.Id,
    Image: imageColumn(c.Image, c.ImageID, t),
    Command: goQuote(t ? ellipsis(c.Command, 20) : c.Command),
    CreatedAt: goTime(created),
    RunningFor: `${humanDuration(opts.now.getTime() - created.getTime())} ago`,
    Ports: formatPorts(c.Ports),
    State: c.State,
    Status: c.Status,
    Size: "",
    Names: containerNames(c.Names, t),
    Labels: Object.entries(c.Labels)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${k}=${v}`)
      .join(","),
    Mounts: c.Mounts.map((m) => (t ? ellipsis(m.Source, 15) : m.Source)).join(","),
    Networks: "",
    LocalVolumes: String(c.Mounts.filter((m) => m.Type === "volume").length),
  };
}

/** The first 12 hex digits of an id (`sha256:` dropped), docker's `stringid.TruncateID`. */
export function truncateId(id: string): string {
  const hex = id.startsWith("sha256:") ? id.slice("sha256:".length) : id;
  return hex.slice(0, 12);
}

/**
 * docker's IMAGE column: an image id is shortened, a name shown in its familiar form (no
 * `docker.io/library/`) with its tag if it had one and without a digest if it has a tag or none.
 */
export function imageColumn(image: string, imageId: string, truncate: boolean): string {
  if (image === "") return "<no image>";
  if (!truncate) return image;
  if (truncateId(image) === truncateId(imageId) || /^sha256:[0-9a-f]{64}$/.test(image)) {
    return truncateId(image);
  }
  try {
    const ref = parseReference(image);
    const withoutDigest = image.includes("@") ? image.slice(0, image.indexOf("@")) : image;
    const hasTag = withoutDigest.slice(withoutDigest.lastIndexOf("/") + 1).includes(":");
    if (hasTag) return familiarName({ registry: ref.registry, repository: ref.repository, tag: ref.tag });
    const name = familiarName({ registry: ref.registry, repository: ref.repository, tag: "x" });
    return name.slice(0, name.lastIndexOf(":"));
  } catch {
    return image;
  }
}

/** Names without their leading `/`; truncated output hides link names (`/other/alias`). */
function containerNames(names: readonly string[], truncate: boolean): string {
  return names
    .map((n) => (n.startsWith("/") ? n.slice(1) : n))
    .filter((n) => !truncate || !n.includes("/"))
    .join(",");
}

/**
 * docker's PORTS column: `0.0.0.0:8080->80/tcp` for published ports, `443/tcp` for exposed ones,
 * comma-separated, ordered by port. (docker also folds consecutive ports into ranges; tsstack lists
 * each.)
 */
export function formatPorts(ports: ContainerSummary["Ports"]): string {
  return [...ports]
    .sort(
      (a, b) =>
        a.PrivatePort - b.PrivatePort ||
        (a.PublicPort ?? 0) - (b.PublicPort ?? 0) ||
        (a.Type < b.Type ? -1 : a.Type > b.Type ? 1 : 0),
    )
    .map((p) => {
      if (p.PublicPort === undefined) return `${p.PrivatePort}/${p.Type}`;
      const ip = p.IP === undefined || p.IP === "" ? "" : p.IP.includes(":") ? `[${p.IP}]:` : `${p.IP}:`;
      return `${ip}${p.PublicPort}->${p.PrivatePort}/${p.Type}`;
    })
    .join(", ");
}
