// Vitest configuration for every package: tests import the built packages (dist/), so `npm test` builds first.
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores on CI machines: multi-process tests spawn their own nodes, so keep file parallelism low.
    maxWorkers: 2,
    setupFiles: ['./test/setup.ts'],
  },
})
