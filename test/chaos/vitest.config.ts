import { defineConfig } from 'vitest/config'

// `npm run test:chaos`: the coherence checker's long run only.
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.chaos.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    pool: 'forks',
  },
})
