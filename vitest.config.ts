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
    // Child processes resolve @grpo/* to sources too (config files loaded through tsx import them).
    execArgv: ['--conditions=source'],
  },
});
