import type { Options } from 'tsup';

/** Shared tsup settings every package spreads (ESM + .d.ts, node target). */
export const baseConfig: Options = {
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  dts: true,
  sourcemap: true,
  clean: true,
  splitting: false,
  treeshake: true,
};
