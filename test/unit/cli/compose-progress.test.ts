import { describe, expect, it } from "vitest";
import type { StackProgress } from "../../../src/api/stack-types.js";
import {
  createProgressRenderer,
  progressMode,
  resourceName,
  statusText,
  type ProgressMode,
} from "../../../src/cli/commands/compose/progress.js";

type Op = Extract<StackProgress, { type: "op" }>;

const op = (id: number, target: string, kind: string, status: Op["status"], message?: string): Op => ({
  type: "op",
  id,
  target,
  kind,
  status,
  ...(message !== undefined ? { message } : {}),
});

/** A stack coming up: its network, then two replicas of web (the second waits for a dependency). */
const UP: readonly (readonly [ms: number, p: StackProgress])[] = [
  [0, { type: "plan", text: "#1 network:demo_default create-network (missing)" }],
  [0, op(1, "network:demo_default", "create-network", "started")],
  [100, op(1, "network:demo_default", "create-network", "done")],
  [100, op(2, "container:web.1", "create", "started")],
  [100, op(3, "container:web.2", "create", "waiting")],
  [400, op(2, "container:web.1", "create", "done")],
  [400, op(3, "container:web.2", "create", "started")],
  [900, op(3, "container:web.2", "create", "failed", "image not found")],
  [900, { type: "result", ok: false, errors: ["web.2: image not found"] }],
];

function render(mode: ProgressMode, events: typeof UP): string {
  let out = "";
  let clock = 0;
  const r = createProgressRenderer({
    mode,
    project: "demo",
    out: { write: (s: string) => (out += s) },
    now: () => clock,
  });
  for (const [ms, p] of events) {
    clock = ms;
    r.update(p);
  }
  r.done();
  return out;
}

/** What a terminal shows after `output`: applies cursor-up and erase-line as a terminal would. */
function screen(output: string): string[] {
  const lines: string[] = [];
  let row = 0;
  const esc = "\x1b";
  for (const token of output.split(new RegExp(`(${esc}\\[\\d+A|${esc}\\[2K|\n)`))) {
    if (token === "") continue;
    const upMatch = new RegExp(`^${esc}\\[(\\d+)A$`).exec(token);
    if (upMatch !== null) row -= Number(upMatch[1]);
    else if (token === "\x1b[2K") lines[row] = "";
    else if (token === "\n") row++;
    else lines[row] = (lines[row] ?? "") + token;
  }
  return lines;
}

describe("compose progress", () => {
  it.each([
    ["container:web.2", "Container demo-web-2"],
    ["container:orphan-x", "Container orphan-x"],
    ["container:my.svc.3", "Container demo-my.svc-3"],
    ["network:demo_default", "Network demo_default"],
    ["volume:demo_data", 'Volume "demo_data"'],
    ["secret:x", "secret:x"],
  ])("names %s as compose does: %s", (target, name) => {
    expect(resourceName(target, "demo")).toBe(name);
  });

  it.each([
    ["create", "started", "Creating"],
    ["create", "done", "Started"],
    ["create-network", "done", "Created"],
    ["recreate", "started", "Recreate"],
    ["recreate", "done", "Recreated"],
    ["stop", "done", "Stopped"],
    ["remove-volume", "done", "Removed"],
    ["start", "waiting", "Waiting"],
    ["remove", "failed", "Error"],
    ["frobnicate", "done", "Frobnicate done"],
  ] as const)("words a %s op that is %s as %s", (kind, status, text) => {
    expect(statusText(op(1, "container:web.1", kind, status))).toBe(text);
  });

  it("prints one plain line per change, with the failure's message", () => {
    expect(render("plain", UP)).toBe(
      [
        "Network demo_default  Creating",
        "Network demo_default  Created",
        "Container demo-web-1  Creating",
        "Container demo-web-2  Waiting",
        "Container demo-web-1  Started",
        "Container demo-web-2  Creating",
        "Container demo-web-2  Error image not found",
        "",
      ].join("\n"),
    );
  });

  it("prints every progress line as one JSON object, op lines with compose's resource name and text", () => {
    const lines = render("json", UP)
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(UP.length);
    expect(lines[0]).toEqual({ type: "plan", text: "#1 network:demo_default create-network (missing)" });
    expect(lines[3]).toEqual({
      type: "op",
      id: 2,
      target: "container:web.1",
      kind: "create",
      status: "started",
      resource: "Container demo-web-1",
      text: "Creating",
    });
    expect(lines.at(-1)).toEqual({ type: "result", ok: false, errors: ["web.2: image not found"] });
  });

  it("redraws one line per resource in place on a terminal, with icons and elapsed times", () => {
    const out = render("tty", UP);
    expect(screen(out)).toEqual([
      "[+] Running 2/3",
      " ✔ Network demo_default  Created                0.1s",
      " ✔ Container demo-web-1  Started                0.3s",
      " ✘ Container demo-web-2  Error image not found  0.8s",
    ]);
    // Each redraw moves back over the block drawn before (header + lines).
    expect(out).toContain("\x1b[2A");
    expect(out).toContain("\x1b[4A");
  });

  it("shows running operations with a spinner and their time so far", () => {
    const out = render("tty", UP.slice(0, 5));
    expect(screen(out)).toEqual([
      "[+] Running 1/3",
      " ✔ Network demo_default  Created   0.1s",
      " ⠿ Container demo-web-1  Creating  0.0s",
      " ⠿ Container demo-web-2  Waiting   0.0s",
    ]);
  });

  it("prints nothing on a terminal when nothing was done", () => {
    expect(render("tty", [[0, { type: "result", ok: true, errors: [] }]])).toBe("");
  });

  it("prints nothing in quiet mode", () => {
    expect(render("quiet", UP)).toBe("");
  });

  it.each([
    [undefined, true, "tty"],
    [undefined, false, "plain"],
    ["auto", true, "tty"],
    ["plain", true, "plain"],
    ["tty", false, "tty"],
    ["json", true, "json"],
  ] as const)("reads --progress %s (terminal: %s) as %s", (flag, tty, mode) => {
    expect(progressMode(flag, tty)).toBe(mode);
  });

  it("refuses an unknown --progress mode as a usage error", () => {
    expect(() => progressMode("fancy", true)).toThrow(/invalid --progress "fancy"/);
  });
});
