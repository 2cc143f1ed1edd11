import { describe, expect, it } from "vitest";
import { Diagnostics, formatIssue, SpecError } from "../../../src/spec/diagnostics.js";

const at = { file: "stack.yml", line: 3, col: 5 };

describe("Diagnostics", () => {
  it("keeps one error per value when two phases report the same value", () => {
    const d = new Diagnostics();
    d.error("value/duration", ["services", "web", "stop_grace_period"], '"x" is not a duration', at);
    d.error("normalize/duration", ["services", "web", "stop_grace_period"], 'invalid duration "x"', at);
    d.error("value/duration", ["services", "api", "stop_grace_period"], '"x" is not a duration', at);
    expect(d.issues.map((i) => i.code)).toEqual(["value/duration", "value/duration"]);
  });

  it("raises one SpecError listing every error sorted by position, without the warnings", () => {
    const d = new Diagnostics();
    d.error("b", ["services", "b"], "second", { file: "stack.yml", line: 9, col: 1 });
    d.warn("w", ["version"], "obsolete", { file: "stack.yml", line: 1, col: 1 });
    d.error("a", ["services", "a"], "first", { file: "stack.yml", line: 2, col: 3 }, "fix it");
    expect(() => {
      d.throwIfErrors();
    }).toThrow(SpecError);
    try {
      d.throwIfErrors();
    } catch (e) {
      expect((e as SpecError).message).toBe(
        [
          "invalid stack file: 2 errors",
          "  stack.yml:2:3: error: services.a: first\n    hint: fix it",
          "  stack.yml:9:1: error: services.b: second",
        ].join("\n"),
      );
    }
  });

  it("formats paths with indexes and unusual keys the way users read them", () => {
    const text = formatIssue({
      severity: "warning",
      code: "x",
      path: ["services", "web", "labels", "com.example/a", "ports", 0],
      message: "m",
    });
    expect(text).toBe('warning: services.web.labels["com.example/a"].ports[0]: m');
  });
});
