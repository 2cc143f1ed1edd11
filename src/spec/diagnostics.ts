import { TsstackError } from "../common/errors.js";
import { formatLocation, formatPath, type SourceLocation, type YamlPath } from "./source.js";

/** One problem (or warning) found in a stack file. */
export interface SpecIssue {
  readonly severity: "error" | "warning";
  /** Stable identifier, e.g. `schema/unknown-key`, `interpolate/required`, `depends-on/cycle`. */
  readonly code: string;
  /** Plain-English description of what is wrong. */
  readonly message: string;
  /** Where in the model: `["services", "web", "ports", 0]`. */
  readonly path: YamlPath;
  /** Where in the files; absent only for problems that no file declared (e.g. a missing `services`). */
  readonly loc?: SourceLocation | undefined;
  /** How to fix it, e.g. a did-you-mean suggestion. */
  readonly hint?: string | undefined;
}

/** `stack.yml:3:5: error: services.web.image: must be a string (hint: …)` */
export function formatIssue(issue: SpecIssue): string {
  const where = issue.loc === undefined ? "" : `${formatLocation(issue.loc)}: `;
  const hint = issue.hint === undefined ? "" : `\n    hint: ${issue.hint}`;
  return `${where}${issue.severity}: ${formatPath(issue.path)}: ${issue.message}${hint}`;
}

/** Orders issues by file, line, column so that output reads top to bottom. */
export function sortIssues(issues: readonly SpecIssue[]): SpecIssue[] {
  return [...issues].sort((a, b) => {
    const fa = a.loc?.file ?? "";
    const fb = b.loc?.file ?? "";
    if (fa !== fb) return fa < fb ? -1 : 1;
    return (a.loc?.line ?? 0) - (b.loc?.line ?? 0) || (a.loc?.col ?? 0) - (b.loc?.col ?? 0);
  });
}

/** The stack file(s) are invalid. Carries every error found, not only the first. */
export class SpecError extends TsstackError {
  override readonly name = "SpecError";
  constructor(readonly issues: readonly SpecIssue[]) {
    const errors = sortIssues(issues.filter((i) => i.severity === "error"));
    const head = `invalid stack file: ${errors.length} error${errors.length === 1 ? "" : "s"}`;
    super("spec/invalid", [head, ...errors.map((i) => `  ${formatIssue(i)}`)].join("\n"));
  }
}

/** Collects issues across a phase; `throwIfErrors` raises one SpecError holding all of them. */
export class Diagnostics {
  readonly issues: SpecIssue[] = [];
  readonly #errorKeys = new Set<string>();

  /**
   * Records an error. Several phases look at the same values (the semantic checks and normalize both
   * read durations, sizes, ports), so only the first error about one value — same path, same
   * position — is kept: one problem, one line.
   */
  error(code: string, path: YamlPath, message: string, loc?: SourceLocation, hint?: string): void {
    const key = `${formatPath(path)}@${formatLocation(loc)}`;
    if (this.#errorKeys.has(key)) return;
    this.#errorKeys.add(key);
    this.issues.push({ severity: "error", code, path, message, loc, hint });
  }

  warn(code: string, path: YamlPath, message: string, loc?: SourceLocation, hint?: string): void {
    this.issues.push({ severity: "warning", code, path, message, loc, hint });
  }

  get errorCount(): number {
    return this.#errorKeys.size;
  }

  get hasErrors(): boolean {
    return this.issues.some((i) => i.severity === "error");
  }

  get warnings(): SpecIssue[] {
    return this.issues.filter((i) => i.severity === "warning");
  }

  throwIfErrors(): void {
    if (this.hasErrors) throw new SpecError(this.issues);
  }
}
