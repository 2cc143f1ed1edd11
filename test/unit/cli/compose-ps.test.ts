import { describe, expect, it } from "vitest";
import { writeComposePs } from "../../../src/cli/commands/compose/containers.js";
import { composePsRow, exitCodeOf, healthOf } from "../../../src/cli/commands/compose/ps-format.js";
import type { CliIo } from "../../../src/cli/io.js";
import type { ContainerSummary } from "../../../src/runtime/runtime.js";

const NOW = new Date("2024-06-01T12:00:00Z");

function ctr(service: string, n: number, over: Partial<ContainerSummary> = {}): ContainerSummary {
  return {
    Id: `${service}${String(n)}`.padEnd(64, "0"),
    Names: [`/demo-${service}-${String(n)}`],
    Image: "busybox:latest",
    ImageID: "sha256:1111",
    Command: "sleep 3600",
    Created: NOW.getTime() / 1000 - 5,
    State: "running",
    Status: "Up 5 seconds",
    Labels: {
      "com.docker.compose.project": "demo",
      "com.docker.compose.service": service,
      "com.docker.compose.container-number": String(n),
    },
    Ports: [],
    Mounts: [],
    ...over,
  };
}

function capture(): { io: CliIo; out: () => string } {
  let out = "";
  return {
    io: {
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: () => true },
      env: {},
      cwd: "/",
      homeDir: "/root",
      now: () => NOW,
    },
    out: () => out,
  };
}

const WEB_2 = ctr("web", 2, {
  Status: "Up 5 seconds (healthy)",
  Ports: [
    { IP: "0.0.0.0", PrivatePort: 80, PublicPort: 8080, Type: "tcp" },
    { PrivatePort: 443, Type: "tcp" },
  ],
});
const DB = ctr("db", 1, { Command: "postgres -c shared_buffers=256MB -c fsync=off" });
const STACK = [
  WEB_2,
  ctr("web", 1, { Status: "Up 1 second (health: starting)" }),
  DB,
  ctr("job", 1, { State: "exited", Status: "Exited (3) 2 seconds ago" }),
];

describe("compose ps", () => {
  it("lists containers as compose's table, by service and replica, health in the status", () => {
    const c = capture();
    writeComposePs(c.io, STACK, { format: "table" });
    expect(c.out()).toBe(
      [
        "NAME         IMAGE            COMMAND                  SERVICE   CREATED         STATUS                           PORTS",
        'demo-db-1    busybox:latest   "postgres -c shared_…"   db        5 seconds ago   Up 5 seconds                     ',
        'demo-job-1   busybox:latest   "sleep 3600"             job       5 seconds ago   Exited (3) 2 seconds ago         ',
        'demo-web-1   busybox:latest   "sleep 3600"             web       5 seconds ago   Up 1 second (health: starting)   ',
        'demo-web-2   busybox:latest   "sleep 3600"             web       5 seconds ago   Up 5 seconds (healthy)           0.0.0.0:8080->80/tcp, 443/tcp',
        "",
      ].join("\n"),
    );
  });

  it("prints one JSON object per container with service, replica, health and publishers", () => {
    const c = capture();
    writeComposePs(c.io, [WEB_2], { format: "json" });
    const row = JSON.parse(c.out()) as Record<string, unknown>;
    expect(row).toMatchObject({
      Name: "demo-web-2",
      Project: "demo",
      Service: "web",
      Number: 2,
      State: "running",
      Status: "Up 5 seconds (healthy)",
      Health: "healthy",
      ExitCode: 0,
      Ports: "0.0.0.0:8080->80/tcp, 443/tcp",
      Publishers: [
        { URL: "0.0.0.0", TargetPort: 80, PublishedPort: 8080, Protocol: "tcp" },
        { URL: "", TargetPort: 443, PublishedPort: 0, Protocol: "tcp" },
      ],
    });
  });

  it("prints full ids with -q, and each service once with --services", () => {
    const q = capture();
    writeComposePs(q.io, STACK, { format: "table", quiet: true });
    expect(q.out().split("\n")[0]).toHaveLength(64);
    const s = capture();
    writeComposePs(s.io, STACK, { format: "table", services: true });
    expect(s.out()).toBe("db\njob\nweb\n");
  });

  it("renders a Go-style template", () => {
    const c = capture();
    writeComposePs(c.io, STACK.slice(0, 2), { format: "{{.Service}}.{{.Number}} {{.Health}}" });
    expect(c.out()).toBe("web.1 starting\nweb.2 healthy\n");
  });

  it("keeps the whole command with --no-trunc", () => {
    const row = composePsRow(DB, { truncate: false, now: NOW });
    expect(row.Command).toBe('"postgres -c shared_buffers=256MB -c fsync=off"');
  });

  it.each([
    ["Up 5 seconds (healthy)", "healthy"],
    ["Up 2 minutes (unhealthy)", "unhealthy"],
    ["Up 1 second (health: starting)", "starting"],
    ["Up 5 seconds", ""],
    ["Exited (0) 2 seconds ago", ""],
  ])("reads the health of %j as %j", (status, health) => {
    expect(healthOf(status)).toBe(health);
  });

  it.each([
    ["Exited (137) 2 seconds ago", 137],
    ["Exited (0) 1 hour ago", 0],
    ["Up 5 seconds", 0],
  ])("reads the exit code of %j as %d", (status, code) => {
    expect(exitCodeOf(status)).toBe(code);
  });
});
