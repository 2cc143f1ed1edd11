import { describe, expect, it } from "vitest";
import { Diagnostics } from "../../../src/spec/diagnostics.js";
import { interpolateTree } from "../../../src/spec/interpolate.js";
import { parseYaml } from "../../../src/spec/parse.js";
import { SourceMap } from "../../../src/spec/source.js";
import { deepFreeze } from "./frozen.js";

function run(yaml: string, env: Record<string, string> = {}) {
  const sources = new SourceMap();
  const diags = new Diagnostics();
  const parsed = parseYaml(yaml, "stack.yml", sources, diags);
  expect(diags.issues).toEqual([]);
  const lookup = (name: string): string | undefined => (Object.hasOwn(env, name) ? env[name] : undefined);
  const snapshot = structuredClone(parsed.value);
  const out = interpolateTree(deepFreeze(parsed.value), { sources, diags, lookup });
  expect(parsed.value).toEqual(snapshot);
  return { input: parsed.value, out, sources, diags };
}

/** The value at `path` in a plain tree. */
function at(tree: unknown, ...path: (string | number)[]): unknown {
  let node = tree;
  for (const seg of path) node = (node as Record<string | number, unknown>)[seg];
  return node;
}

describe("interpolateTree", () => {
  it("substitutes string values everywhere but leaves keys and non-strings alone", () => {
    const { out, diags } = run(
      "services:\n  ${SVC}:\n    image: nginx:${TAG:-latest}\n    command: [echo, $MSG]\n    environment:\n      N: 3\n      FLAG: true\nx-note: $MSG\n",
      { MSG: "hi", SVC: "web" },
    );
    expect(diags.issues).toEqual([]);
    expect(out).toEqual({
      services: {
        ["${SVC}"]: {
          image: "nginx:latest",
          command: ["echo", "hi"],
          environment: { N: 3, FLAG: true },
        },
      },
      "x-note": "hi",
    });
  });

  it("returns new containers and leaves the input unchanged", () => {
    const { input, out } = run("services:\n  web:\n    image: $IMG\n", { IMG: "redis" });
    expect(at(input, "services", "web", "image")).toBe("$IMG");
    expect(at(out, "services", "web", "image")).toBe("redis");
    expect(at(out, "services", "web")).not.toBe(at(input, "services", "web"));
  });

  it("copies only the containers on the way to a substituted value and shares the others", () => {
    const { input, out, sources } = run(
      "services:\n  web:\n    image: $IMG\n    ports: ['80:80']\n  db:\n    image: postgres\nvolumes:\n  data: {}\n",
      { IMG: "redis" },
    );
    expect(out).not.toBe(input);
    expect(at(out, "services")).not.toBe(at(input, "services"));
    expect(at(out, "services", "web")).not.toBe(at(input, "services", "web"));
    expect(at(out, "services", "web", "ports")).toBe(at(input, "services", "web", "ports"));
    expect(at(out, "services", "db")).toBe(at(input, "services", "db"));
    expect(at(out, "volumes")).toBe(at(input, "volumes"));
    for (const path of [
      ["services", "web", "image"],
      ["services", "db", "image"],
      ["volumes", "data"],
    ]) {
      expect(sources.locate(out, path, "key")).toEqual(sources.locate(input, path, "key"));
    }
  });

  it("returns its input itself when there is nothing to substitute", () => {
    const { input, out } = run("services:\n  web:\n    image: nginx\n    environment: [A=1, B=$$2]\n");
    expect(out).not.toBe(input);
    expect(at(out, "services", "web", "environment", 1)).toBe("B=$2");
    const plain = run("services:\n  web:\n    image: nginx\n    environment: [A=1]\n    ports: [80]\n");
    expect(plain.out).toBe(plain.input);
  });

  it("keeps the positions, merge tags and resets of every entry", () => {
    const yaml =
      "x-base: &b {image: a, ports: [80]}\nservices:\n  web:\n    <<: *b\n    ports: !reset []\n    environment: !override\n      - A=${A}\n";
    const { input, out, sources } = run(yaml, { A: "1" });
    for (const path of [
      ["services", "web", "environment", 0],
      ["services", "web", "image"],
      ["x-base", "ports", 0],
    ]) {
      expect(sources.locate(out, path, "key")).toEqual(sources.locate(input, path, "key"));
      expect(sources.locate(out, path)).toEqual(sources.locate(input, path));
    }
    expect(sources.locate(out, ["services", "web", "environment", 0])).toEqual({
      file: "stack.yml",
      line: 7,
      col: 9,
    });
    const web = at(out, "services", "web") as object;
    expect(sources.tag(web, "environment")).toBe("override");
    expect([...sources.resets(web).keys()]).toEqual(["ports"]);
    expect(at(out, "services", "web", "environment", 0)).toBe("A=1");
  });

  it("reports every error with its position, not only the first, and keeps the text as written", () => {
    const { out, diags } = run(
      "services:\n  web:\n    image: ${ IMG}\n    user: ${USER:?who runs it}\n    working_dir: ${DIR:?}\n",
    );
    expect(diags.issues.map((i) => [i.code, i.path, i.message, i.loc])).toEqual([
      [
        "interpolate/invalid",
        ["services", "web", "image"],
        'Invalid template: "${ IMG}"',
        { file: "stack.yml", line: 3, col: 12 },
      ],
      [
        "interpolate/required",
        ["services", "web", "user"],
        "required variable USER is missing a value: who runs it",
        { file: "stack.yml", line: 4, col: 11 },
      ],
      [
        "interpolate/required",
        ["services", "web", "working_dir"],
        "required variable DIR is missing a value",
        { file: "stack.yml", line: 5, col: 18 },
      ],
    ]);
    expect(diags.issues.every((i) => i.severity === "error")).toBe(true);
    expect(at(out, "services", "web", "image")).toBe("${ IMG}");
  });

  it("warns once per unset variable, at its first use", () => {
    const { diags } = run(
      "services:\n  a:\n    image: $TAG\n    user: ${TAG}\n  b:\n    image: ${OTHER}${TAG}\n    user: ${DEF:-x}\n",
    );
    expect(diags.issues.map((i) => [i.severity, i.code, i.path, i.message, i.loc?.line])).toEqual([
      [
        "warning",
        "interpolate/unset",
        ["services", "a", "image"],
        'The "TAG" variable is not set. Defaulting to a blank string.',
        3,
      ],
      [
        "warning",
        "interpolate/unset",
        ["services", "b", "image"],
        'The "OTHER" variable is not set. Defaulting to a blank string.',
        6,
      ],
    ]);
  });

  describe("type casting", () => {
    const env = { N: "3", YES: "true", CPU: "0.5", MODE: "0440", BIG: "99999999999999999999", ON: "on" };

    it.each([
      ["services.web.deploy.replicas", "services:\n  web:\n    deploy:\n      replicas: ${N}\n", 3],
      ["services.web.scale", "services:\n  web:\n    scale: $N\n", 3],
      ["services.web.privileged", "services:\n  web:\n    privileged: ${YES}\n", true],
      ["services.web.read_only", "services:\n  web:\n    read_only: ${NOPE:-false}\n", false],
      ["services.web.cpus", "services:\n  web:\n    cpus: ${CPU}\n", 0.5],
      ["services.web.ulimits.nproc", "services:\n  web:\n    ulimits:\n      nproc: ${N}\n", 3],
      [
        "services.web.ulimits.nofile.soft",
        "services:\n  web:\n    ulimits:\n      nofile:\n        soft: ${N}\n",
        3,
      ],
      ["services.web.ports[0].target", "services:\n  web:\n    ports:\n      - target: ${N}0\n", 30],
      ["services.web.healthcheck.retries", "services:\n  web:\n    healthcheck:\n      retries: ${N}\n", 3],
      [
        "services.web.depends_on.db.required",
        "services:\n  web:\n    depends_on:\n      db:\n        required: ${YES}\n",
        true,
      ],
      ["services.web.secrets[0].mode", "services:\n  web:\n    secrets:\n      - mode: ${MODE}\n", 440],
      ["networks.front.external", "networks:\n  front:\n    external: ${YES}\n", true],
      ["volumes.data.external", "volumes:\n  data:\n    external: ${YES}\n", true],
    ])("casts %s", (_path, yaml, expected) => {
      const { out, diags } = run(yaml, env);
      expect(diags.issues).toEqual([]);
      const path = _path.split(/\.|\[|\]/).filter((s) => s !== "");
      expect(at(out, ...path.map((s) => (/^\d+$/.test(s) ? Number(s) : s)))).toBe(expected);
    });

    it("leaves strings without a reference, and other paths, as strings", () => {
      const { out, diags } = run(
        "services:\n  web:\n    privileged: 'true'\n    environment:\n      N: ${N}\n    ports:\n      - ${N}:80\n",
        env,
      );
      expect(diags.issues).toEqual([]);
      expect(at(out, "services", "web", "privileged")).toBe("true");
      expect(at(out, "services", "web", "environment", "N")).toBe("3");
      expect(at(out, "services", "web", "ports", 0)).toBe("3:80");
    });

    it("accepts YAML 1.1 booleans with a warning", () => {
      const { out, diags } = run("services:\n  web:\n    tty: ${ON}\n", env);
      expect(at(out, "services", "web", "tty")).toBe(true);
      expect(diags.issues.map((i) => [i.severity, i.code, i.message])).toEqual([
        [
          "warning",
          "interpolate/yaml11-boolean",
          '"on" for boolean is not supported by YAML 1.2, please use `true`',
        ],
      ]);
    });

    it.each([
      ["services:\n  web:\n    privileged: ${N}\n", "invalid boolean: 3"],
      ["services:\n  web:\n    deploy:\n      replicas: ${CPU}\n", "invalid integer: 0.5"],
      ["services:\n  web:\n    deploy:\n      replicas: ${NOPE:-}\n", "invalid integer: "],
      ["services:\n  web:\n    pids_limit: ${BIG}\n", "integer out of range: 99999999999999999999"],
      ["services:\n  web:\n    cpus: ${YES}\n", "invalid number: true"],
      ["services:\n  web:\n    cpus: 1e${N}9\n", "number out of range: 1e39"],
    ])("reports a value that cannot be cast, at its position: %j", (yaml, reason) => {
      const { diags } = run(yaml, env);
      const errors = diags.issues.filter((i) => i.severity === "error");
      expect(errors).toHaveLength(1);
      expect(errors[0]?.code).toBe("interpolate/type");
      expect(errors[0]?.message).toBe(`failed to cast to expected type: ${reason}`);
      const lines = yaml.split("\n");
      expect(errors[0]?.loc?.line).toBe(lines.length - 1);
      expect(errors[0]?.loc?.col).toBe((lines.at(-2) ?? "").indexOf(":") + 3);
    });
  });

  it("keeps a literal __proto__ key as data", () => {
    const sources = new SourceMap();
    const diags = new Diagnostics();
    const tree: unknown = JSON.parse('{"x-meta": {"__proto__": "${V}"}}');
    const out = interpolateTree(tree, { sources, diags, lookup: () => "ok" }) as Record<string, object>;
    const meta = out["x-meta"] ?? {};
    expect(Object.getPrototypeOf(meta)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(meta, "__proto__")?.value).toBe("ok");
  });
});
