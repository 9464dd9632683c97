import { defineConfig } from 'tsup';
import { baseConfig, browserConfig } from '../../tsup.base.js';

export default defineConfig([
  {
    ...baseConfig,
    entry: { index: 'src/index.ts', checkpoint: 'src/checkpoint/index.ts', testing: 'src/testing/index.ts' },
    // The entries share code (contracts, errors): split it into chunks instead of copying it into each.
    splitting: true,
  },
  { ...browserConfig({ browser: 'src/browser.ts', 'checkpoint.browser': 'src/checkpoint/browser.ts' }), splitting: true },
]);
