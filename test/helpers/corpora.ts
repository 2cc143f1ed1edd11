import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Repository root (this file is test/helpers/corpora.ts). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/**
 * Upstream test material lives beside the checkout in ../shared/corpora (never copied into the
 * project). TSSTACK_CORPORA overrides the location.
 */
export const corporaDir = process.env["TSSTACK_CORPORA"] ?? resolve(repoRoot, "../shared/corpora");
export const haveCorpora = existsSync(corporaDir);

export function corpus(...parts: string[]): string {
  return join(corporaDir, ...parts);
}

if (!haveCorpora) {
  // Said loudly once per worker, so a skipped conformance suite is never mistaken for a passing one.
  console.warn(
    `conformance: corpora folder not found at ${corporaDir}; conformance suites are SKIPPED (set TSSTACK_CORPORA)`,
  );
}
