import { describe, expect, it } from "vitest";
import { ExitStatus, engineFailure, startFailure } from "../../../src/cli/commands/container/exit-codes.js";
import { logsOptions, parsePsFilters, writeLogs, writePs } from "../../../src/cli/commands/container/info.js";
import {
  formatPorts,
  imageColumn,
  psRow,
  truncateId,
} from "../../../src/cli/commands/container/ps-format.js";
import {
  cpuPercent,
  memoryPercent,
  previousCpu,
  statsRow,
} from "../../../src/cli/commands/container/stats-format.js";
import { parseTimestamp } from "../../../src/cli/commands/container/time-args.js";
import { parseCopyEndpoint, splitRepoTag } from "../../../src/cli/commands/container/copy.js";
import { binarySize, ellipsis, goQuote, humanDuration } from "../../../src/cli/format.js";
import type { CliIo } from "../../../src/cli/io.js";
import { TsstackError } from "../../../src/common/errors.js";
import type { ContainerStats, ContainerSummary, LogEntry } from "../../../src/runtime/runtime.js";

const NOW = new Date("2024-06-01T12:00:00Z");
const ID = "4f6c1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f";
const IMAGE_ID = "sha256:1111111111112222222222223333333333334444444444445555555555556666";

function summary(over: Partial<ContainerSummary> = {}): ContainerSummary {
  return {
    Id: ID,
    Names: ["/web"],
    Image: "busybox",
    ImageID: IMAGE_ID,
    Command: "sleep 300",
    Created: NOW.getTime() / 1000 - 5,
    State: "running",
    Status: "Up 3 seconds",
    Labels: {},
    Ports: [],
    Mounts: [],
    ...over,
  };
}

function capture(): { io: CliIo; out: () => string; err: () => string } {
  let out = "";
  let err = "";
  return {
    io: {
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: (s: string) => (err += s) },
      env: {},
      cwd: "/",
      homeDir: "/root",
      now: () => NOW,
    },
    out: () => out,
    err: () => err,
  };
}

async function* stream<T>(items: readonly T[]): AsyncGenerator<T> {
  for (const item of items) {
    await Promise.resolve();
    yield item;
  }
}

describe("ps rows", () => {
  it("shows docker's columns: 12-char id, quoted command, created ago, the engine's status", () => {
    const { io, out } = capture();
    writePs(
      io,
      [
        summary(),
        summary({
          Id: "a".repeat(64),
          Names: ["/db"],
          Image: "docker.io/library/postgres:16",
          Command: "docker-entrypoint.sh postgres -c shared_buffers=1GB",
          Created: NOW.getTime() / 1000 - 2 * 3600,
          State: "exited",
          Status: "Exited (0) 2 minutes ago",
        }),
      ],
      {},
    );
    expect(out()).toBe(
      [
        "CONTAINER ID   IMAGE         COMMAND                  CREATED         STATUS                     PORTS     NAMES",
        '4f6c1a2b3c4d   busybox       "sleep 300"              5 seconds ago   Up 3 seconds                         web',
        'aaaaaaaaaaaa   postgres:16   "docker-entrypoint.s…"   2 hours ago     Exited (0) 2 minutes ago             db',
        "",
      ].join("\n"),
    );
  });

  it("prints full ids and commands with --no-trunc, only ids with -q", () => {
    const long = summary({ Command: "sh -c 'while true; do date; sleep 1; done'" });
    const row = psRow(long, { truncate: false, now: NOW });
    expect(row.ID).toBe(ID);
    expect(row.Command).toBe(`"sh -c 'while true; do date; sleep 1; done'"`);
    const { io, out } = capture();
    writePs(io, [long], { quiet: true });
    expect(out()).toBe("4f6c1a2b3c4d\n");
  });

  it("renders --format templates and json over docker's field names", () => {
    const { io, out } = capture();
    writePs(io, [summary({ Labels: { b: "2", a: "1" } })], {
      format: "{{.ID}} {{.Names}} {{.State}} {{.Labels}}",
    });
    expect(out()).toBe("4f6c1a2b3c4d web running a=1,b=2\n");
    const json = capture();
    writePs(json.io, [summary()], { format: "json" });
    expect(JSON.parse(json.out()) as Record<string, string>).toMatchObject({
      ID: "4f6c1a2b3c4d",
      Image: "busybox",
      Command: '"sleep 300"',
      RunningFor: "5 seconds ago",
      Status: "Up 3 seconds",
      Names: "web",
    });
  });

  it("renders a table template with docker's headers", () => {
    const { io, out } = capture();
    writePs(io, [summary()], { format: "table {{.Names}}\\t{{.Status}}" });
    expect(out()).toBe("NAMES     STATUS\nweb       Up 3 seconds\n");
  });

  it.each([
    ["busybox", "busybox"],
    ["busybox:1.36", "busybox:1.36"],
    ["docker.io/library/busybox:latest", "busybox:latest"],
    [`busybox@sha256:${"a".repeat(64)}`, "busybox"],
    [`busybox:1@sha256:${"a".repeat(64)}`, "busybox:1"],
    ["localhost:5000/app:v2", "localhost:5000/app:v2"],
    [IMAGE_ID, "111111111111"],
    ["", "<no image>"],
  ])("shows image %s as %s", (image, shown) => {
    expect(imageColumn(image, IMAGE_ID, true)).toBe(shown);
  });

  it("lists ports like docker", () => {
    expect(
      formatPorts([
        { PrivatePort: 443, Type: "tcp" },
        { IP: "0.0.0.0", PrivatePort: 80, PublicPort: 8080, Type: "tcp" },
        { IP: "::", PrivatePort: 80, PublicPort: 8080, Type: "tcp" },
        { PrivatePort: 53, Type: "udp" },
      ]),
    ).toBe("53/udp, 0.0.0.0:8080->80/tcp, [::]:8080->80/tcp, 443/tcp");
  });

  it("hides link names when truncating", () => {
    expect(psRow(summary({ Names: ["/web", "/other/alias"] }), { truncate: true, now: NOW }).Names).toBe(
      "web",
    );
  });

  it("truncates ids with or without the sha256: prefix", () => {
    expect(truncateId(IMAGE_ID)).toBe("111111111111");
    expect(truncateId(ID)).toBe("4f6c1a2b3c4d");
  });
});

describe("docker's text helpers", () => {
  it.each([
    [0, "Less than a second"],
    [1_000, "1 second"],
    [5_000, "5 seconds"],
    [60_000, "About a minute"],
    [120_000, "2 minutes"],
    [3_600_000, "About an hour"],
    [2 * 3_600_000, "2 hours"],
    [3 * 24 * 3_600_000, "3 days"],
    [3 * 7 * 24 * 3_600_000, "3 weeks"],
    [90 * 24 * 3_600_000, "3 months"],
    [3 * 365 * 24 * 3_600_000, "3 years"],
  ])("%d ms is %s", (ms, text) => {
    expect(humanDuration(ms)).toBe(text);
  });

  it.each([
    ["sleep 300", 20, "sleep 300"],
    ["12345678901234567890", 20, "12345678901234567890"],
    ["123456789012345678901", 20, "1234567890123456789…"],
  ])("ellipsis(%s, %d)", (text, max, out) => {
    expect(ellipsis(text, max)).toBe(out);
  });

  it("quotes like Go's strconv.Quote", () => {
    expect(goQuote('sh -c "echo \\ hi"\n\t\u0001')).toBe('"sh -c \\"echo \\\\ hi\\"\\n\\t\\x01"');
  });

  it.each([
    [0, "0B"],
    [1023, "1023B"],
    [1536, "1.5KiB"],
    [64 * 1024 ** 2, "64MiB"],
    [8_346_238_976, "7.773GiB"],
  ])("binarySize(%d) is %s", (n, text) => {
    expect(binarySize(n)).toBe(text);
  });
});

describe("stats", () => {
  const cpu = (total: number, system: number, cpus = 2): ContainerStats["cpu_stats"] => ({
    cpu_usage: { total_usage: total },
    system_cpu_usage: system,
    online_cpus: cpus,
  });

  it.each([
    // Half of one core on a 2-CPU host: 25% of the host, shown as 50% like docker.
    [cpu(0, 0), cpu(500, 2000), 50],
    [cpu(1000, 1000), cpu(1000, 3000), 0],
    [cpu(1000, 1000), cpu(3000, 1000), 0],
    [cpu(0, 0, 4), cpu(4000, 4000, 4), 400],
  ])("CPU %% from %j to %j is %d", (previous, current, percent) => {
    expect(cpuPercent(previous, current)).toBeCloseTo(percent);
  });

  it("computes MEM % against the limit, 0 without one", () => {
    expect(memoryPercent(256, 1024)).toBe(25);
    expect(memoryPercent(256, 0)).toBe(0);
  });

  it("uses the engine's precpu sample when filled, else the CLI's earlier one", () => {
    const earlier: ContainerStats = {
      read: "",
      cpu_stats: cpu(100, 1000),
      precpu_stats: cpu(0, 0),
      memory_stats: { usage: 0, limit: 0 },
      pids_stats: { current: 1 },
    };
    const filled = { ...earlier, precpu_stats: cpu(50, 500) };
    expect(previousCpu(filled, earlier)).toEqual(cpu(50, 500));
    expect(previousCpu({ ...earlier, cpu_stats: cpu(200, 2000) }, earlier)).toEqual(cpu(100, 1000));
  });

  it("formats a row like docker stats", () => {
    const sample: ContainerStats = {
      read: "",
      cpu_stats: cpu(3_000_000, 20_000_000),
      precpu_stats: cpu(1_000_000, 10_000_000),
      memory_stats: { usage: 1536 * 1024, limit: 64 * 1024 ** 2 },
      pids_stats: { current: 3 },
    };
    expect(statsRow({ id: ID, name: "web" }, sample, sample.precpu_stats, true)).toEqual({
      Container: "web",
      ID: "4f6c1a2b3c4d",
      Name: "web",
      CPUPerc: "40.00%",
      MemUsage: "1.5MiB / 64MiB",
      MemPerc: "2.34%",
      NetIO: "--",
      BlockIO: "--",
      PIDs: "3",
    });
  });
});

describe("ps filters", () => {
  it("groups values by key", () => {
    expect(parsePsFilters(["label=a=1", "label=b", "status=exited", "name=web"])).toEqual({
      label: ["a=1", "b"],
      status: ["exited"],
      name: ["web"],
    });
  });

  it.each(["ancestor=busybox", "status=sleeping", "label="])("refuses %s", (spec) => {
    expect(() => parsePsFilters([spec])).toThrow(/invalid filter/);
  });
});

describe("logs", () => {
  it("maps flags to the runtime's options", () => {
    expect(
      logsOptions({ follow: true, tail: "10", timestamps: true, since: "10m", until: "1700000000" }, NOW),
    ).toEqual({
      stdout: true,
      stderr: true,
      follow: true,
      timestamps: true,
      tail: 10,
      since: NOW.getTime() / 1000 - 600,
      until: 1_700_000_000,
    });
    expect(logsOptions({ tail: "all" }, NOW).tail).toBeUndefined();
    expect(logsOptions({ tail: "-1" }, NOW).tail).toBe("all");
    expect(() => logsOptions({ tail: "some" }, NOW)).toThrow(/--tail/);
  });

  it("writes each stream to its CLI stream, timestamps once per line", async () => {
    const entry = (
      stream: "stdout" | "stderr",
      line: string,
      time = "2024-06-01T12:00:00.000000001Z",
    ): LogEntry => ({
      stream,
      time,
      line: Buffer.from(line),
    });
    const entries = [
      entry("stdout", "hel"),
      entry("stdout", "lo\n"),
      entry("stderr", "oops\n"),
      entry("stdout", "bye\n", "2024-06-01T12:00:01Z"),
    ];
    const { io, out, err } = capture();
    await writeLogs(io, stream(entries), true);
    expect(out()).toBe("2024-06-01T12:00:00.000000001Z hello\n2024-06-01T12:00:01Z bye\n");
    expect(err()).toBe("2024-06-01T12:00:00.000000001Z oops\n");
  });

  it("decodes a character split across entries", async () => {
    const euro = Buffer.from("€\n");
    const entries: LogEntry[] = [
      { stream: "stdout", time: "t", line: euro.subarray(0, 1) },
      { stream: "stdout", time: "t", line: euro.subarray(1) },
    ];
    const { io, out } = capture();
    await writeLogs(io, stream(entries), false);
    expect(out()).toBe("€\n");
  });
});

describe("--since/--until values", () => {
  it.each([
    ["1700000000", 1_700_000_000],
    ["1700000000.25", 1_700_000_000.25],
    ["10m", NOW.getTime() / 1000 - 600],
    ["1h30m", NOW.getTime() / 1000 - 5400],
    ["2024-06-01T11:00:00Z", NOW.getTime() / 1000 - 3600],
    ["2024-06-01T13:00:00+02:00", NOW.getTime() / 1000 - 3600],
    ["2024-06-01T11:00:00.5Z", NOW.getTime() / 1000 - 3599.5],
  ])("%s", (text, seconds) => {
    expect(parseTimestamp("--since", text, NOW)).toBeCloseTo(seconds, 6);
  });

  it("reads a date without a zone as local time, as docker does", () => {
    expect(parseTimestamp("--since", "2024-06-01", NOW)).toBe(new Date(2024, 5, 1).getTime() / 1000);
  });

  it("refuses what is none of them", () => {
    expect(() => parseTimestamp("--since", "yesterday", NOW)).toThrow(
      /invalid value "yesterday" for --since/,
    );
  });
});

describe("docker's exit statuses", () => {
  it.each<[string, unknown, number]>([
    ["a create error", new TsstackError("container/invalid-config", "bad"), 125],
    ["an engine that cannot be reached", new TsstackError("engine/unreachable", "no daemon"), 125],
  ])("%s before starting is 125", (_what, err, code) => {
    expect(engineFailure(err).exitCode).toBe(code);
  });

  it.each<[string, unknown, number]>([
    ["a command not in $PATH", new Error('exec: "nope": executable file not found in $PATH'), 127],
    ["a missing file", new Error("exec /x: no such file or directory"), 127],
    ["a runtime code for not found", new TsstackError("container/command-not-found", "x"), 127],
    ["a command without permission", new Error("exec /etc/passwd: permission denied"), 126],
    ["a directory", new Error("exec /bin: is a directory"), 126],
    ["a runtime code for not executable", new TsstackError("exec/command-not-executable", "x"), 126],
    ["any other start error", new TsstackError("runtime/start-failed", "cgroup trouble"), 125],
  ])("starting: %s gives %d", (_what, err, code) => {
    expect(startFailure(err).exitCode).toBe(code);
  });

  it("keeps an ExitStatus as it is", () => {
    const status = new ExitStatus(3);
    expect(startFailure(status)).toBe(status);
    expect(engineFailure(status)).toBe(status);
  });
});

describe("cp operands and commit names", () => {
  it.each([
    ["web:/etc/hosts", { kind: "container", container: "web", path: "/etc/hosts" }],
    ["web:relative", { kind: "container", container: "web", path: "relative" }],
    ["./a:b", { kind: "host", path: "./a:b" }],
    ["/abs/x:y", { kind: "host", path: "/abs/x:y" }],
    ["plain", { kind: "host", path: "plain" }],
    ["-", { kind: "stream" }],
  ])("%s", (arg, endpoint) => {
    expect(parseCopyEndpoint(arg)).toEqual(endpoint);
  });

  it.each([
    ["myimg", { repo: "myimg" }],
    ["myimg:v1", { repo: "myimg", tag: "v1" }],
    ["localhost:5000/app", { repo: "localhost:5000/app" }],
    ["localhost:5000/app:v2", { repo: "localhost:5000/app", tag: "v2" }],
  ])("commit name %s", (name, split) => {
    expect(splitRepoTag(name)).toEqual(split);
  });

  it("refuses an invalid commit name", () => {
    expect(() => splitRepoTag("Bad Name")).toThrow(/whitespace/);
  });
});
