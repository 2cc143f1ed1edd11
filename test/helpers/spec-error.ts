import { SpecError } from "../../src/spec/diagnostics.js";

/** Runs `fn`, which must fail with a SpecError, and returns it (any other outcome fails the test). */
export function specError(fn: () => unknown): SpecError {
  try {
    fn();
  } catch (e) {
    if (e instanceof SpecError) return e;
    throw e;
  }
  throw new Error("expected a SpecError, the load succeeded");
}
