import { describe, expect, it } from "vitest";
import {
  applyRequest,
  downRequest,
  parseScale,
  parseSeconds,
  scaleRequest,
  type UpFlags,
} from "../../../src/cli/commands/compose/apply-options.js";
import { UsageError } from "../../../src/cli/commands/config.js";
import { loadStack, type LoadedStack } from "../../../src/spec/load.js";

const STACK = `
name: demo
services:
  web:
    image: busybox:latest
  worker:
    image: busybox:latest
`;

function loaded(): LoadedStack {
  return loadStack({
    files: ["/stacks/demo/stack.yml"],
    workingDir: "/stacks/demo",
    environment: {},
    homeDir: "/root",
    readFile: () => STACK,
  });
}

describe("--scale parsing", () => {
  it.each([
    [["web=3"], { web: 3 }],
    [["web=3", "worker=0"], { web: 3, worker: 0 }],
    [["web=3", "web=1"], { web: 1 }],
    [[" web=2 "], { web: 2 }],
    [[], {}],
  ])("reads %j as %j", (specs, scale) => {
    expect(parseScale(specs, loaded().spec)).toEqual(scale);
  });

  it.each([["web"], ["web=-1"], ["web=two"], ["=3"], ["web=1.5"]])("refuses %s as a usage error", (spec) => {
    expect(() => parseScale([spec])).toThrow(UsageError);
    expect(() => parseScale([spec])).toThrow(/expected SERVICE=REPLICAS/);
  });

  it("refuses a service the stack does not define", () => {
    expect(() => parseScale(["db=1"], loaded().spec)).toThrow(/no such service: db/);
  });
});

describe("up flags → ApplyRequest", () => {
  const cases: readonly (readonly [string, UpFlags, string[], object])[] = [
    ["no flags", {}, [], {}],
    ["-d alone (detaching is the CLI's business)", { detach: true }, [], {}],
    ["--remove-orphans", { removeOrphans: true }, [], { removeOrphans: true }],
    ["--force-recreate", { forceRecreate: true }, [], { forceRecreate: true }],
    ["--no-recreate", { noRecreate: true }, [], { noRecreate: true }],
    ["--scale", { scale: ["web=3"] }, [], { scale: { web: 3 } }],
    ["services", {}, ["web"], { services: ["web"] }],
    ["--wait", { wait: true }, [], { wait: true }],
    ["--wait --wait-timeout 30", { wait: true, waitTimeout: "30" }, [], { wait: true, waitTimeout: 30 }],
    ["--wait-timeout without --wait", { waitTimeout: "30" }, [], {}],
  ];
  it.each(cases)("maps %s", (_what, flags, services, options) => {
    const l = loaded();
    expect(applyRequest(l, flags, services)).toEqual({
      spec: l.spec,
      configFiles: ["/stacks/demo/stack.yml"],
      workingDir: "/stacks/demo",
      options,
    });
  });

  const refused: readonly (readonly [string, UpFlags, string[], RegExp])[] = [
    ["--force-recreate with --no-recreate", { forceRecreate: true, noRecreate: true }, [], /incompatible/],
    ["an unknown service", {}, ["db"], /no such service: db/],
    ["a bad --wait-timeout", { wait: true, waitTimeout: "soon" }, [], /invalid --wait-timeout "soon"/],
    ["a bad --scale", { scale: ["web"] }, [], /invalid scale "web"/],
  ];
  it.each(refused)("refuses %s as a usage error", (_what, flags, services, message) => {
    expect(() => applyRequest(loaded(), flags, [...services])).toThrow(message);
    expect(() => applyRequest(loaded(), flags, [...services])).toThrow(UsageError);
  });
});

describe("scale and down → requests", () => {
  it("scales only the named services and never recreates", () => {
    expect(scaleRequest(loaded(), ["worker=4"]).options).toEqual({
      scale: { worker: 4 },
      services: ["worker"],
      noRecreate: true,
    });
  });

  it("refuses a scale with nothing to scale", () => {
    expect(() => scaleRequest(loaded(), [])).toThrow(/at least one SERVICE=REPLICAS/);
  });

  it.each([
    [{}, {}],
    [{ volumes: true }, { volumes: true }],
    [
      { removeOrphans: true, timeout: "5" },
      { removeOrphans: true, timeout: 5 },
    ],
    [{ timeout: "0" }, { timeout: 0 }],
  ])("maps down flags %j to %j", (flags, req) => {
    expect(downRequest(flags)).toEqual(req);
  });

  it.each(["-1", "1.5", "ten"])("refuses -t %s", (t) => {
    expect(() => parseSeconds("--timeout", t)).toThrow(/expected whole seconds/);
  });
});
