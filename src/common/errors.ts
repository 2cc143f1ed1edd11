/**
 * Typed errors. Every error names what was being done, to what, and why; each has a stable `code`
 * that callers and tests match on instead of message text.
 */
export class TsstackError extends Error {
  override readonly name: string = "TsstackError";
  constructor(
    /** Stable, machine-readable identifier, e.g. `spec/invalid`. */
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A broken invariant inside tsstack: a bug, never the user's fault. */
export function internalError(message: string): TsstackError {
  return new TsstackError("internal", `internal: ${message}`);
}
