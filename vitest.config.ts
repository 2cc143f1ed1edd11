import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Integration tests later drive real runc/bridges; keep one worker per core.
    maxWorkers: 2,
    testTimeout: 20_000,
  },
});
