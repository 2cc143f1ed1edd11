import { describe, expect, it } from "vitest";
import { Diagnostics, formatIssue, type SpecIssue } from "../../../src/spec/diagnostics.js";
import { parseYaml } from "../../../src/spec/parse.js";
import { formatLocation, formatPath, SourceMap } from "../../../src/spec/source.js";
import composeSpec from "../../../src/spec/schema/compose-spec.json" with { type: "json" };
import { closestMatch, editDistance, validateSchema } from "../../../src/spec/validate.js";

/** Drops the first newline and the common indentation, so line 1 is the first line of YAML. */
function yaml(text: string): string {
  const lines = text.replace(/^\n/, "").split("\n");
  const indent = Math.min(...lines.filter((l) => l.trim() !== "").map((l) => /^ */.exec(l)?.[0].length ?? 0));
  return lines.map((l) => l.slice(indent)).join("\n");
}

function validate(text: string): SpecIssue[] {
  const sources = new SourceMap();
  const diags = new Diagnostics();
  const { value } = parseYaml(yaml(text), "stack.yml", sources, diags);
  expect(diags.issues).toEqual([]); // the YAML itself is fine in every case below
  validateSchema(value, { sources, diags });
  return diags.issues;
}

/** code, YAML path, file:line:col, message and hint of each issue, in one comparable row. */
function rows(issues: readonly SpecIssue[]) {
  return issues.map((i) => ({
    code: i.code,
    path: formatPath(i.path),
    at: formatLocation(i.loc),
    message: i.message,
    hint: i.hint,
  }));
}

describe("validateSchema", () => {
  it("accepts a valid stack, extensions included, and reports nothing", () => {
    const issues = validate(`
      x-common: &common { restart: always }
      services:
        web:
          <<: *common
          image: nginx:1.27
          ports: ["8080:80", { target: 443, published: "8443" }]
          environment: { A: "1", B: 2, C: null }
          depends_on: { db: { condition: service_healthy } }
          x-note: anything
        db:
          image: postgres
          healthcheck: { test: ["CMD", "pg_isready"], interval: 5s }
      volumes:
        data:
    `);
    expect(issues).toEqual([]);
  });

  it.each([
    {
      name: "an unknown service key, with the closest known key as a hint",
      text: `
        services:
          web:
            imgae: nginx
      `,
      expected: {
        code: "schema/unknown-key",
        path: "services.web",
        at: "stack.yml:3:5",
        message: 'unknown key "imgae"',
        hint: 'did you mean "image"?',
      },
    },
    {
      name: "an unknown key with no close match, pointing at extensions",
      text: `
        services:
          web:
            image: nginx
            colour: blue
      `,
      expected: {
        code: "schema/unknown-key",
        path: "services.web",
        at: "stack.yml:4:5",
        message: 'unknown key "colour"',
        hint: 'custom keys must start with "x-"',
      },
    },
    {
      name: "a misspelt top-level section",
      text: `
        servces:
          web: {}
      `,
      expected: {
        code: "schema/unknown-key",
        path: "(root)",
        at: "stack.yml:1:1",
        message: 'unknown key "servces"',
        hint: 'did you mean "services"?',
      },
    },
    {
      name: "a service name with characters Compose refuses",
      text: `
        services:
          "my web":
            image: nginx
      `,
      expected: {
        code: "schema/invalid-name",
        path: "services",
        at: "stack.yml:2:3",
        message: '"my web" is not a valid name: use only letters, digits, ".", "_" and "-"',
        hint: undefined,
      },
    },
    {
      name: "a value of the wrong type, at the value's position",
      text: `
        services:
          web:
            image: 3
      `,
      expected: {
        code: "schema/type",
        path: "services.web.image",
        at: "stack.yml:3:12",
        message: "must be a string, not the number 3",
        hint: undefined,
      },
    },
    {
      name: "a value allowed several types",
      text: `
        services:
          web:
            image: nginx
            mem_limit: [1]
      `,
      expected: {
        code: "schema/type",
        path: "services.web.mem_limit",
        at: "stack.yml:4:16",
        message: "must be a number or a string, not a list",
        hint: undefined,
      },
    },
    {
      name: "an empty service",
      text: `
        services:
          web:
      `,
      expected: {
        code: "schema/type",
        path: "services.web",
        at: "stack.yml:2:3",
        message: "must be a mapping, but it is empty",
        hint: undefined,
      },
    },
    {
      name: "a value outside an enum, with the allowed values and the nearest one",
      text: `
        services:
          web:
            image: nginx
            cgroup: privat
      `,
      expected: {
        code: "schema/enum",
        path: "services.web.cgroup",
        at: "stack.yml:4:13",
        message: '"privat" is not allowed here; must be one of "host", "private"',
        hint: 'did you mean "private"?',
      },
    },
    {
      name: "a missing required key in the long depends_on syntax",
      text: `
        services:
          web:
            image: nginx
            depends_on:
              db: { required: true }
          db:
            image: postgres
      `,
      expected: {
        code: "schema/required",
        path: "services.web.depends_on.db",
        at: "stack.yml:5:11",
        message: 'missing required key "condition"',
        hint: undefined,
      },
    },
    {
      name: "a value that breaks a pattern",
      text: `
        services:
          web:
            image: nginx
            container_name: "_"
      `,
      expected: {
        code: "schema/pattern",
        path: "services.web.container_name",
        at: "stack.yml:4:21",
        message: '"_" does not match the pattern /[a-zA-Z0-9][a-zA-Z0-9_.-]+/',
        hint: undefined,
      },
    },
    {
      name: "the same list entry twice, at the repetition",
      text: `
        services:
          web:
            image: nginx
            ports:
              - "80:80"
              - "80:80"
      `,
      expected: {
        code: "schema/duplicate-item",
        path: "services.web.ports[1]",
        at: "stack.yml:6:9",
        message: "repeats item [0]; each entry must be listed once",
        hint: undefined,
      },
    },
  ])("reports $name", ({ text, expected }) => {
    expect(rows(validate(text))).toEqual([expected]);
  });

  describe("collapses oneOf cascades", () => {
    it("into one message naming the accepted shapes when no branch fits the value's shape", () => {
      const issues = validate(`
        services:
          web:
            image: nginx
            environment: 3
            command: { run: server }
      `);
      expect(rows(issues)).toEqual([
        {
          code: "schema/type",
          path: "services.web.environment",
          at: "stack.yml:4:18",
          message: "must be a mapping or a list of strings, not the number 3",
          hint: undefined,
        },
        {
          code: "schema/type",
          path: "services.web.command",
          at: "stack.yml:5:14",
          message: "must be a string or a list of strings, not a mapping",
          hint: undefined,
        },
      ]);
    });

    it("into the errors of the one branch whose shape fits, however deep", () => {
      const issues = validate(`
        services:
          web:
            image: nginx
            networks:
              front:
                aliasses: [www]
      `);
      expect(rows(issues)).toEqual([
        {
          code: "schema/unknown-key",
          path: "services.web.networks.front",
          at: "stack.yml:6:9",
          message: 'unknown key "aliasses"',
          hint: 'did you mean "aliases"?',
        },
      ]);
    });

    it("for list items inside a oneOf branch", () => {
      const issues = validate(`
        services:
          web:
            image: nginx
            depends_on: [db, 3]
          db:
            image: postgres
      `);
      expect(rows(issues)).toEqual([
        {
          code: "schema/type",
          path: "services.web.depends_on[1]",
          at: "stack.yml:4:22",
          message: "must be a string, not the number 3",
          hint: undefined,
        },
      ]);
    });

    it("for long-syntax entries of a list whose items are a oneOf", () => {
      const issues = validate(`
        services:
          web:
            image: nginx
            ports:
              - target: 80
                published: true
                protocl: tcp
      `);
      expect(rows(issues)).toEqual([
        {
          code: "schema/type",
          path: "services.web.ports[0].published",
          at: "stack.yml:6:20",
          message: "must be a string or an integer, not the boolean true",
          hint: undefined,
        },
        {
          code: "schema/unknown-key",
          path: "services.web.ports[0]",
          at: "stack.yml:7:9",
          message: 'unknown key "protocl"',
          hint: 'did you mean "protocol"?',
        },
      ]);
    });

    it("for range limits inside the matching branch", () => {
      const issues = validate(`
        services:
          web:
            image: nginx
            cpu_percent: 150
      `);
      expect(rows(issues)).toEqual([
        {
          code: "schema/range",
          path: "services.web.cpu_percent",
          at: "stack.yml:4:18",
          message: "must be <= 100, not 150",
          hint: undefined,
        },
      ]);
    });

    it("for a build mapping with a misspelt key", () => {
      const issues = validate(`
        services:
          web:
            build:
              context: .
              dockerfiel: Dockerfile.dev
      `);
      expect(rows(issues)).toEqual([
        {
          code: "schema/unknown-key",
          path: "services.web.build",
          at: "stack.yml:5:7",
          message: 'unknown key "dockerfiel"',
          hint: 'did you mean "dockerfile"?',
        },
      ]);
    });
  });

  it("reports every mistake of a file at once, each at its own position", () => {
    const issues = validate(`
      services:
        web:
          imgae: nginx
          ports: 8080
          restart: [always]
          ulimits:
            nofile: { soft: 1024 }
        "db!":
          image: postgres
      volumes:
        data:
          drivr: local
      secretz: {}
    `);
    // Top to bottom, whatever order the schema checks them in.
    expect(issues.map((i) => formatIssue(i))).toEqual([
      'stack.yml:3:5: error: services.web: unknown key "imgae"\n    hint: did you mean "image"?',
      "stack.yml:4:12: error: services.web.ports: must be a list, not the number 8080",
      "stack.yml:5:14: error: services.web.restart: must be a string, not a list",
      'stack.yml:7:15: error: services.web.ulimits.nofile: missing required key "hard"',
      'stack.yml:8:3: error: services: "db!" is not a valid name: use only letters, digits, ".", "_" and "-"',
      'stack.yml:12:5: error: volumes.data: unknown key "drivr"\n    hint: did you mean "driver"?',
      'stack.yml:13:1: error: (root): unknown key "secretz"\n    hint: did you mean "secrets"?',
    ]);
    expect(issues.every((i) => i.severity === "error")).toBe(true);
  });

  it("reports a top level that is not a mapping", () => {
    const sources = new SourceMap();
    const diags = new Diagnostics();
    validateSchema(["not", "a", "mapping"], { sources, diags });
    expect(rows(diags.issues)).toEqual([
      {
        code: "schema/type",
        path: "(root)",
        at: "",
        message: "must be a mapping, not a list",
        hint: undefined,
      },
    ]);
  });

  it("relies on an invariant of the vendored schema: a oneOf never shares its node with other checks", () => {
    // translate() attributes the errors just before a failed oneOf to its branches; that is only
    // sound while no node of the schema also validates something else next to its oneOf.
    const annotations = new Set(["oneOf", "description", "default", "deprecated", "title"]);
    const offenders: string[] = [];
    const walk = (node: unknown, where: string): void => {
      if (Array.isArray(node)) {
        node.forEach((n, i) => {
          walk(n, `${where}/${i}`);
        });
        return;
      }
      if (typeof node !== "object" || node === null) return;
      const keys = Object.keys(node);
      if (keys.includes("oneOf") || keys.includes("anyOf")) {
        const extra = keys.filter((k) => !annotations.has(k));
        if (extra.length > 0) offenders.push(`${where}: ${extra.join(", ")}`);
      }
      for (const [k, v] of Object.entries(node)) walk(v, `${where}/${k}`);
    };
    walk(composeSpec, "#");
    expect(offenders).toEqual([]);
  });

  it("gives the same answer on repeated use of the compiled schema", () => {
    const text = `
      services:
        web:
          imgae: nginx
    `;
    expect(validate(text)).toEqual(validate(text));
  });
});

describe("closestMatch", () => {
  it.each([
    { word: "imgae", candidates: ["image", "init"], expected: "image" },
    { word: "Image", candidates: ["image"], expected: "image" },
    { word: "enviroment", candidates: ["entrypoint", "environment"], expected: "environment" },
    { word: "mem-limit", candidates: ["mem_limit", "memswap_limit"], expected: "mem_limit" },
    { word: "dbb", candidates: ["db", "web"], expected: "db" },
    { word: "colour", candidates: ["command", "cpus"], expected: undefined },
    { word: "ab", candidates: ["xy"], expected: undefined },
    { word: "image", candidates: ["image"], expected: undefined },
  ])("suggests $expected for $word", ({ word, candidates, expected }) => {
    expect(closestMatch(word, candidates)).toBe(expected);
  });
});

describe("editDistance", () => {
  it.each([
    ["", "", 0],
    ["abc", "", 3],
    ["kitten", "sitting", 3],
    ["imgae", "image", 1],
    ["ca", "abc", 3],
  ] as const)("between %j and %j is %i", (a, b, d) => {
    expect(editDistance(a, b)).toBe(d);
  });
});
