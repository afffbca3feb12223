import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Test files run in parallel on 2 cores next to model and worker start-ups, and the suite must
    // pass with another CPU-bound job beside it (2–3× slower than quiet, more at worst): limits are
    // several times the longest quiet duration. vitest's defaults (5 s per test, 10 s per hook)
    // failed tests and the model-loading hooks that take a few seconds on a quiet machine.
    // Slow tests (≥ 5 s quiet) carry "[slow]" in their name or describe block, set their own,
    // longer limits, and are left out by `npm run test:fast`.
    testTimeout: 120_000,
    hookTimeout: 240_000,
  },
});
