import { defineConfig } from 'vitest/config';

// Tests run against sources: every @grpo/* package exports a "source" condition that points at src/.
export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'], externalConditions: ['source'] } },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'plugins/*/src/**/*.test.ts', 'plugins/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Every core (vitest's default leaves one free): much of the suite waits on child processes,
    // servers and browsers. On the 2-core CI machine: 576 s instead of 722 s, the same tests passing.
    maxWorkers: '100%',
    // Child processes resolve @grpo/* to sources too (config files loaded through tsx import them).
    execArgv: ['--conditions=source'],
  },
});
