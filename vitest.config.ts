import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Test files run in parallel on 2 cores next to model and worker start-ups: vitest's 5 s default
    // fails tests that take 4 s on a quiet machine. Slow tests set their own, longer limits.
    testTimeout: 60_000,
  },
});
