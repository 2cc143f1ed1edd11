import fc from "fast-check";
import { describe, expect, it } from "vitest";
import YAML from "yaml";
import { SpecError } from "../../src/spec/diagnostics.js";
import { loadStack } from "../../src/spec/load.js";

/** Runs the whole loader on in-memory text; anything but success or a SpecError is a bug. */
function loadText(text: string): "ok" | "spec-error" {
  try {
    loadStack({
      files: ["/virtual/compose.yaml"],
      workingDir: "/virtual",
      environment: { HOME: "/home/u" },
      homeDir: "/home/u",
      readFile: (p) => {
        if (p === "/virtual/compose.yaml") return text;
        throw Object.assign(new Error(`ENOENT: ${p}`), { code: "ENOENT" });
      },
    });
    return "ok";
  } catch (e) {
    if (e instanceof SpecError) return "spec-error";
    throw e;
  }
}

const scalar = fc.oneof(
  fc.string(),
  fc.integer(),
  fc.double({ noNaN: true }),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(
    "${X}",
    "${X:-d}",
    "${X:?required}",
    "$$",
    "80:80",
    "./a:/b:ro",
    "10s",
    "1g",
    "service_healthy",
  ),
);
const keys = fc.constantFrom(
  "services",
  "networks",
  "volumes",
  "secrets",
  "configs",
  "include",
  "name",
  "web",
  "db",
  "image",
  "ports",
  "volumes",
  "depends_on",
  "environment",
  "extends",
  "deploy",
  "replicas",
  "healthcheck",
  "command",
  "x-a",
  "profiles",
  "build",
  "labels",
  "external",
  "driver",
  "<<",
);
const tree = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: "small" }, scalar, tie("list"), tie("map")),
  list: fc.array(tie("node"), { maxLength: 4 }),
  map: fc.dictionary(keys, tie("node"), { maxKeys: 5 }),
})).node;

describe("the loader on arbitrary input", () => {
  it("never fails with anything but a SpecError, in bounded time, for arbitrary YAML-shaped models", () => {
    fc.assert(
      fc.property(tree, (value) => {
        const t0 = performance.now();
        const outcome = loadText(YAML.stringify(value));
        expect(["ok", "spec-error"]).toContain(outcome);
        expect(performance.now() - t0).toBeLessThan(2000);
      }),
      { numRuns: 300 },
    );
  });

  it("never fails with anything but a SpecError for arbitrary text", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        expect(["ok", "spec-error"]).toContain(loadText(text));
      }),
      { numRuns: 500 },
    );
  });

  it("never crashes on services built from plausible Compose fragments", () => {
    const service = fc.record(
      {
        image: fc.constantFrom("nginx", "redis:7", "${IMG:-x}"),
        ports: fc.array(fc.constantFrom("80", "8080:80", "127.0.0.1:90-91:90-91/udp", 5000, "x:y"), {
          maxLength: 3,
        }),
        volumes: fc.array(fc.constantFrom("data:/d", "./a:/b:ro", "/abs:/c", "~/h:/h", ":/bad"), {
          maxLength: 3,
        }),
        depends_on: fc.array(fc.constantFrom("a", "b", "c"), { maxLength: 2 }),
        environment: fc.oneof(
          fc.array(fc.constantFrom("A=1", "B", "C=${C:-x}")),
          fc.dictionary(fc.string(), scalar),
        ),
        healthcheck: fc.record({
          test: fc.constantFrom("true", ["CMD", "x"]),
          interval: fc.constantFrom("1s", "x", 3),
        }),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom("a", "b", "c"), service, { maxKeys: 3 }), (services) => {
        expect(["ok", "spec-error"]).toContain(loadText(YAML.stringify({ services, volumes: { data: {} } })));
      }),
      { numRuns: 300 },
    );
  });
});
