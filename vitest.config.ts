import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Integration tests start daemons and servers of their own; two cores gain nothing from more.
    maxWorkers: 2,
    reporters: ['default', './test/support/summary-reporter.ts'],
    // Temporary files of the whole run under one folder, removed at its end.
    globalSetup: ['./test/support/temp-root.ts'],
  },
});
