import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Training-sized tests (a few tensor steps) need more than vitest's default 5 s.
  test: { include: ['test/**/*.test.ts'], testTimeout: 60_000 },
});
