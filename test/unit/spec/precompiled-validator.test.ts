/**
 * The Compose-schema validator precompiled at build time (scripts/build-validator.mjs ->
 * dist/spec/compose-validator.cjs): the built loader uses it, and it accepts exactly what ajv compiling
 * the schema at run time accepts, on every upstream stack file and on mutations of them.
 * `npm test` builds first; run `npm run build` before running this file alone.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Ajv2020 } from "ajv/dist/2020.js";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import composeSpec from "../../../src/spec/schema/compose-spec.json" with { type: "json" };
import { corpus, haveCorpora, repoRoot } from "../../helpers/corpora.js";

const built = join(repoRoot, "dist/spec/compose-validator.cjs");
const require = createRequire(import.meta.url);

function builtCheck(): (data: unknown) => boolean {
  if (!existsSync(built)) throw new Error(`${built} is missing: run npm run build first`);
  return require(built) as (data: unknown) => boolean;
}

function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...yamlFiles(path));
    else if (/\.ya?ml$/.test(name)) out.push(path);
  }
  return out;
}

/** Documents derived from `doc`: each service's first scalar or mapping key swapped for other types. */
function mutations(doc: unknown): unknown[] {
  const out: unknown[] = [];
  if (typeof doc !== "object" || doc === null) return out;
  const services = (doc as { services?: unknown }).services;
  if (typeof services !== "object" || services === null) return out;
  for (const [name, svc] of Object.entries(services as Record<string, unknown>)) {
    if (typeof svc !== "object" || svc === null) continue;
    for (const key of Object.keys(svc)) {
      for (const value of [42, "text", ["a"], { a: 1 }, null, true]) {
        out.push({ ...doc, services: { ...services, [name]: { ...svc, [key]: value } } });
      }
    }
  }
  return out;
}

describe("precompiled Compose-schema validator", () => {
  it("is what the built loader uses", async () => {
    builtCheck();
    const mod = (await import(pathToFileURL(join(repoRoot, "dist/spec/validate.js")).href)) as {
      usesPrecompiledValidator(): boolean;
    };
    expect(mod.usesPrecompiledValidator()).toBe(true);
  });

  it.skipIf(!haveCorpora)("agrees with ajv on every upstream stack file and mutations of them", () => {
    const check = builtCheck();
    const full = new Ajv2020({ strict: false }).compile(composeSpec);
    const files = [...yamlFiles(corpus("compose-go")), ...yamlFiles(corpus("compose-spec"))];
    expect(files.length).toBeGreaterThan(20);
    let valid = 0;
    let invalid = 0;
    for (const file of files) {
      let doc: unknown;
      try {
        doc = parse(readFileSync(file, "utf8"), { maxAliasCount: 1000 });
      } catch {
        continue; // not YAML the parser takes: the loader's business, not the schema's
      }
      for (const candidate of [doc, ...mutations(doc)]) {
        const expected = full(candidate);
        expect(check(candidate), file).toBe(expected);
        if (expected) valid++;
        else invalid++;
      }
    }
    // Both answers were exercised, many times.
    expect(valid).toBeGreaterThan(50);
    expect(invalid).toBeGreaterThan(50);
  });
});
