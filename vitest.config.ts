import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Integration tests later drive real runc/bridges; keep one worker per core.
    maxWorkers: 2,
    // A bound, not a speed target: registry and skopeo round trips under two parallel workers on a
    // 2-core machine have taken ~20 s when the machine was loaded.
    testTimeout: 60_000,
  },
});
