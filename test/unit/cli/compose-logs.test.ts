import { describe, expect, it } from "vitest";
import {
  LineSplitter,
  LOG_COLORS,
  LogPrefixer,
  colorize,
  logName,
} from "../../../src/cli/commands/compose/log-prefix.js";
import { writeStackLogs } from "../../../src/cli/commands/compose/stack-logs.js";
import { capture, entry, FakeRuntime, stackContainer } from "./compose-fakes.js";

describe("log prefixes", () => {
  it("pads every name to the widest so the bars line up", () => {
    const p = new LogPrefixer({ color: false });
    p.add("web-1", "worker-10");
    expect(p.line("web-1", "hello")).toBe("web-1     | hello\n");
    expect(p.line("worker-10", "hi")).toBe("worker-10 | hi\n");
  });

  it("gives containers compose's colours in order of appearance, cycling after ten", () => {
    const p = new LogPrefixer({ color: true });
    const names = Array.from({ length: 12 }, (_, i) => `svc-${String(i + 1)}`);
    p.add(...names);
    expect(names.map((n) => p.colorOf(n))).toEqual([...LOG_COLORS, LOG_COLORS[0], LOG_COLORS[1]]);
    expect(LOG_COLORS.slice(0, 5)).toEqual(["36", "33", "32", "35", "34"]);
    expect(p.prefix("svc-1")).toBe(colorize("36", "svc-1  | "));
    expect(p.prefix("svc-2")).toBe("\x1b[33msvc-2  | \x1b[0m");
  });

  it("keeps a container's colour when more containers appear", () => {
    const p = new LogPrefixer({ color: true });
    const first = p.colorOf("web-1");
    p.add("db-1", "web-2");
    expect(p.colorOf("web-1")).toBe(first);
    expect(p.colorOf("db-1")).not.toBe(first);
  });

  it.each([
    [
      {
        Names: ["/demo-web-1"],
        Labels: { "com.docker.compose.service": "web", "com.docker.compose.container-number": "1" },
      },
      "web-1",
    ],
    [{ Names: ["/demo-adopted"], Labels: {} }, "adopted"],
    [{ Names: ["/other"], Labels: {} }, "other"],
  ])("names a container in logs %#", (c, name) => {
    expect(logName(c, "demo")).toBe(name);
  });

  it("splits entries into whole lines, holding a partial line until it ends", () => {
    const s = new LineSplitter();
    expect(s.push("a", "one\ntw")).toEqual(["one"]);
    expect(s.push("b", "x\n")).toEqual(["x"]);
    expect(s.push("a", "o\nthree")).toEqual(["two"]);
    expect(s.flush("a")).toEqual(["three"]);
    expect(s.flush("a")).toEqual([]);
  });
});

describe("merged stack logs", () => {
  const web1 = stackContainer("demo", "web", 1);
  const web2 = stackContainer("demo", "web", 2);
  const db = stackContainer("demo", "db", 1);
  const logs = {
    [web1.Id]: [
      entry("2024-06-01T12:00:00.000000001Z", "web1 a\n"),
      entry("2024-06-01T12:00:00.300000000Z", "web1 "),
      entry("2024-06-01T12:00:00.500000000Z", "partial\n"),
    ],
    [web2.Id]: [
      entry("2024-06-01T12:00:00.000000002Z", "web2 a\n"),
      entry("2024-06-01T12:00:00.400000000Z", "web2 oops\n", "stderr"),
    ],
    [db.Id]: [entry("2024-06-01T12:00:00.200000000Z", "db ready\n")],
  };

  it("merges every replica's lines in the order they were logged, stderr to stderr", async () => {
    const rt = new FakeRuntime([web1, web2, db], logs);
    const c = capture();
    await writeStackLogs(c.io, rt.asRuntime(), [web1, web2, db], {
      project: "demo",
      follow: false,
      timestamps: false,
      color: false,
    });
    expect(c.out()).toBe("web-1 | web1 a\nweb-2 | web2 a\ndb-1  | db ready\nweb-1 | web1 partial\n");
    expect(c.err()).toBe("web-2 | web2 oops\n");
  });

  it("prefixes each line once with its time under -t, a split line with the time it began", async () => {
    const rt = new FakeRuntime([web1], logs);
    const c = capture();
    await writeStackLogs(c.io, rt.asRuntime(), [web1], {
      project: "demo",
      follow: false,
      timestamps: true,
      color: false,
    });
    expect(c.out()).toBe(
      "web-1 | 2024-06-01T12:00:00.000000001Z web1 a\nweb-1 | 2024-06-01T12:00:00.300000000Z web1 partial\n",
    );
  });

  it("passes --tail to every container and colours prefixes on request", async () => {
    const rt = new FakeRuntime([web2, db], logs);
    const c = capture();
    await writeStackLogs(c.io, rt.asRuntime(), [web2, db], {
      project: "demo",
      follow: false,
      tail: 1,
      timestamps: false,
      color: true,
    });
    expect(rt.logOptions.map((o) => o.tail)).toEqual([1, 1]);
    expect(c.out()).toBe(`${colorize("33", "db-1  | ")}db ready\n`);
    expect(c.err()).toBe(`${colorize("36", "web-2 | ")}web2 oops\n`);
  });

  it("follows all replicas until each stream ends, telling when each ended", async () => {
    const rt = new FakeRuntime([web1, db], logs);
    const c = capture();
    const ended: string[] = [];
    const done = writeStackLogs(c.io, rt.asRuntime(), [web1, db], {
      project: "demo",
      follow: true,
      timestamps: false,
      color: false,
      onEnd: (name) => {
        ended.push(name);
      },
    });
    rt.stopped.get(db.Id)?.();
    rt.stopped.get(web1.Id)?.();
    await done;
    expect(c.out().split("\n").sort()).toEqual([
      "",
      "db-1  | db ready",
      "web-1 | web1 a",
      "web-1 | web1 partial",
    ]);
    expect(ended.sort()).toEqual(["db-1", "web-1"]);
  });

  it("stops following on abort without reporting the streams as ended", async () => {
    const rt = new FakeRuntime([web1], logs);
    const c = capture();
    const abort = new AbortController();
    const ended: string[] = [];
    const done = writeStackLogs(c.io, rt.asRuntime(), [web1], {
      project: "demo",
      follow: true,
      timestamps: false,
      color: false,
      signal: abort.signal,
      onEnd: (name) => {
        ended.push(name);
      },
    });
    abort.abort();
    await done;
    expect(ended).toEqual([]);
    expect(c.out()).toBe("web-1 | web1 a\nweb-1 | web1 partial\n");
  });
});
