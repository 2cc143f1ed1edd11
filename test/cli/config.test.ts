import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import YAML from "yaml";
import { main } from "../../src/cli/main.js";
import type { CliIo } from "../../src/cli/io.js";
import { repoRoot } from "../helpers/corpora.js";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(argv: string[], cwd: string, env: Record<string, string> = {}): Promise<Run> {
  let stdout = "";
  let stderr = "";
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env,
    cwd,
    homeDir: "/home/tester",
  };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "tsstack-cli-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function write(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe("tsstack config", () => {
  it("prints the canonical YAML of the default file in the working directory", async () => {
    write("compose.yaml", "services:\n  web:\n    image: nginx\n    ports: ['8080:80']\n");
    const r = await run(["config"], dir);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const model = YAML.parse(r.stdout) as { name: string; services: { web: { ports: unknown[] } } };
    expect(model.services.web.ports).toEqual([
      { mode: "ingress", target: 80, published: "8080", protocol: "tcp" },
    ]);
    expect(model.name).toBe(
      dir
        .split("/")
        .pop()
        ?.toLowerCase()
        .replace(/[^a-z0-9_-]/g, ""),
    );
  });

  it("prints JSON with --format json and honours -p", async () => {
    write("stack.yml", "services:\n  web:\n    image: nginx\n");
    const r = await run(["-p", "shop", "config", "--format", "json"], dir);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { name: string }).name).toBe("shop");
  });

  it("accepts project flags after the subcommand, like docker compose", async () => {
    write("a.yml", "services:\n  web:\n    image: nginx\n");
    const r = await run(["config", "-f", "a.yml", "--services"], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("web\n");
  });

  it("merges several -f files in order", async () => {
    write("a.yml", "services:\n  web:\n    image: nginx\n    environment: [A=1]\n");
    write("b.yml", "services:\n  web:\n    image: nginx:2\n    environment: [B=2]\n  db:\n    image: pg\n");
    const r = await run(["-f", "a.yml", "-f", "b.yml", "config", "--format", "json"], dir);
    expect(r.code).toBe(0);
    const m = JSON.parse(r.stdout) as { services: Record<string, { image: string; environment: object }> };
    expect(m.services["web"]).toMatchObject({ image: "nginx:2", environment: { A: "1", B: "2" } });
    expect(Object.keys(m.services).sort()).toEqual(["db", "web"]);
  });

  it("lists services, volumes, images and profiles", async () => {
    write(
      "compose.yaml",
      "services:\n  a: {image: x:1, volumes: ['v:/d']}\n  b: {image: y:2, profiles: [debug]}\nvolumes:\n  v: {}\n",
    );
    expect((await run(["config", "--services"], dir)).stdout).toBe("a\n");
    expect((await run(["config", "--services", "--profile", "debug"], dir)).stdout).toBe("a\nb\n");
    expect((await run(["config", "--volumes"], dir)).stdout).toBe("v\n");
    expect((await run(["config", "--images"], dir)).stdout).toBe("x:1\n");
    expect((await run(["config", "--profiles"], dir)).stdout).toBe("debug\n");
    expect((await run(["config", "--services"], dir, { TSSTACK_PROFILES: "debug" })).stdout).toBe("a\nb\n");
  });

  it("prints a stable hash per service that changes only with that service", async () => {
    write("compose.yaml", "services:\n  a: {image: x:1}\n  b: {image: y:1}\n");
    const before = (await run(["config", "--hash", "*"], dir)).stdout;
    expect(before).toMatch(/^a [0-9a-f]{64}\nb [0-9a-f]{64}\n$/);
    write("compose.yaml", "services:\n  b: {image: y:1}\n  a: {image: x:2}\n");
    const after = (await run(["config", "--hash", "a,b"], dir)).stdout;
    const [a1, b1] = before.trim().split("\n");
    const [a2, b2] = after.trim().split("\n");
    expect(b2).toBe(b1);
    expect(a2).not.toBe(a1);
  });

  it("validates quietly with -q and exits 0", async () => {
    write("compose.yaml", "services:\n  a: {image: x}\n");
    const r = await run(["config", "-q"], dir);
    expect(r).toEqual({ code: 0, stdout: "", stderr: "" });
  });

  it("reports every error at once with file:line:col and exits 2", async () => {
    const file = write(
      "compose.yaml",
      "services:\n  web:\n    imgae: nginx\n    depends_on: [db]\n  db:\n    image: pg\n    depends_on: [web]\n",
    );
    const r = await run(["config"], dir);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`${file}:3:5: error: services.web: unknown key "imgae"`);
    expect(r.stderr).toContain('did you mean "image"?');
  });

  it("exits 2 on usage errors and unknown services for --hash", async () => {
    write("compose.yaml", "services:\n  a: {image: x}\n");
    expect((await run(["config", "--format", "toml"], dir)).code).toBe(2);
    expect((await run(["nonsense"], dir)).code).toBe(2);
    const r = await run(["config", "--hash", "nope"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("no such service: nope");
  });

  it("fails clearly when there is no stack file", async () => {
    const r = await run(["config"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("no stack file found");
  });

  it("prints help for each subcommand and the version", async () => {
    const help = await run(["config", "--help"], dir);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("--hash <services>");
    const v = await run(["--version"], dir);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe("the tsstack binary", () => {
  const bin = join(repoRoot, "bin/tsstack.js");
  // `npm test` builds dist/ first; the binary runs the compiled CLI, as `npx tsstack` does.
  it("runs the quick start example as a real process", () => {
    expect(existsSync(join(repoRoot, "dist/cli/main.js")), "dist/ missing: run `npm run build`").toBe(true);
    const out = execFileSync(
      process.execPath,
      [bin, "config", "-f", "examples/hello/stack.yml", "--services"],
      {
        cwd: repoRoot,
        encoding: "utf8",
      },
    );
    expect(out.split("\n").filter(Boolean).sort()).toEqual(["api", "web", "worker"]);
    const bad = spawnSync(process.execPath, [bin, "config", "-f", "does-not-exist.yml"], {
      cwd: repoRoot,
      encoding: "utf8",
    });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("does-not-exist.yml");
  });

  it("keeps --env-file for itself when run through its shebang, as npx runs it", () => {
    const dir = mkdtempSync(join(tmpdir(), "tsstack-bin-"));
    try {
      writeFileSync(join(dir, "compose.yaml"), "services:\n  web:\n    image: nginx:${TAG}\n");
      writeFileSync(join(dir, "vars.env"), "TAG=1.27\n");
      const out = execFileSync(bin, ["config", "--env-file", "vars.env", "--images"], {
        cwd: dir,
        encoding: "utf8",
      });
      expect(out).toBe("nginx:1.27\n");
      const missing = spawnSync(bin, ["config", "--env-file=nope.env"], { cwd: dir, encoding: "utf8" });
      expect(missing.status).toBe(2);
      expect(missing.stderr).toContain("nope.env");
      expect(missing.stderr).not.toContain("node:");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
