/**
 * `stats` numbers as the docker CLI computes them (cli/command/container/stats_helpers.go) from two
 * samples of the engine's counters. Pure.
 */
import type { ContainerStats } from "../../../runtime/runtime.js";
import { binarySize } from "../../format.js";
import { truncateId } from "./ps-format.js";

/** docker's stats fields, as `--format '{{.Field}}'` sees them. */
export interface StatsRow {
  Container: string;
  ID: string;
  Name: string;
  CPUPerc: string;
  MemUsage: string;
  MemPerc: string;
  NetIO: string;
  BlockIO: string;
  PIDs: string;
}

export const STATS_HEADERS: Record<string, string> = {
  Container: "CONTAINER",
  ID: "CONTAINER ID",
  Name: "NAME",
  CPUPerc: "CPU %",
  MemUsage: "MEM USAGE / LIMIT",
  MemPerc: "MEM %",
  NetIO: "NET I/O",
  BlockIO: "BLOCK I/O",
  PIDs: "PIDS",
};

export const STATS_DEFAULT_FORMAT =
  "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

type CpuSample = ContainerStats["cpu_stats"];

/**
 * CPU % over the interval between two samples: the container's share of the host's CPU time, times
 * the number of CPUs (so one busy core is 100%, as in docker). 0 when either delta is not positive.
 */
export function cpuPercent(previous: CpuSample, current: CpuSample): number {
  const cpuDelta = current.cpu_usage.total_usage - previous.cpu_usage.total_usage;
  const systemDelta = current.system_cpu_usage - previous.system_cpu_usage;
  if (cpuDelta <= 0 || systemDelta <= 0) return 0;
  return (cpuDelta / systemDelta) * current.online_cpus * 100;
}

/** MEM %: usage over the limit; 0 without a limit. */
export function memoryPercent(usage: number, limit: number): number {
  return limit > 0 ? (usage / limit) * 100 : 0;
}

/**
 * The previous CPU sample for `current`: its own `precpu_stats` when the engine filled it (it took
 * two readings), else `earlier`, a sample this CLI took before.
 */
export function previousCpu(current: ContainerStats, earlier?: ContainerStats): CpuSample {
  if (current.precpu_stats.system_cpu_usage > 0 || earlier === undefined) return current.precpu_stats;
  return earlier.cpu_stats;
}

export function statsRow(
  container: { readonly id: string; readonly name: string },
  current: ContainerStats,
  previous: CpuSample,
  truncate: boolean,
): StatsRow {
  const { usage, limit } = current.memory_stats;
  return {
    Container: container.name,
    ID: truncate ? truncateId(container.id) : container.id,
    Name: container.name,
    CPUPerc: `${cpuPercent(previous, current.cpu_stats).toFixed(2)}%`,
    MemUsage: `${binarySize(usage)} / ${binarySize(limit)}`,
    MemPerc: `${memoryPercent(usage, limit).toFixed(2)}%`,
    // The runtime interface has no network or block I/O counters yet; docker prints "--" when a
    // value is unavailable.
    NetIO: "--",
    BlockIO: "--",
    PIDs: String(current.pids_stats.current),
  };
}
