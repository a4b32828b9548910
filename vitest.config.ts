import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/support/leak-check.ts'],
    // Compile-time guarantees (a wrong payload type is an error) are tests too.
    typecheck: { enabled: true, include: ['test/**/*.test-d.ts'], tsconfig: './tsconfig.json' },
    // Separate processes: tests open real database files and spawn real worker processes.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 30_000,
    // Timing-dependent assertions live in bench/, so a loaded CI machine slows tests, never fails them.
    retry: 0,
  },
})
