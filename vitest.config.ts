import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Fault tests spawn worker processes and their own redis-servers; the box has 2 cores.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
