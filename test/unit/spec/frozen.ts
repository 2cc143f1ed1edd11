/**
 * Test helper for the loader phases, which must never modify their input: they share unchanged
 * containers between input and output, so a phase writing into a container it did not create would
 * corrupt the previous phase's result. Freezing the input turns any such write into a TypeError
 * (modules are strict mode), wherever in the tree it happens.
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
