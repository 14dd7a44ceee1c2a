import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests share one machine's Redis and databases; files run in
    // parallel but each uses its own key prefix, schema and ports.
    pool: 'forks',
  },
})
