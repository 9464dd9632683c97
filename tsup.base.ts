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

/**
 * The browser build of a package (the `browser` condition of its exports): `entry` bundled for the
 * browser platform, so a package's `#node-io` import resolves to its browser module and esbuild
 * refuses any `node:` import that is left. Written beside the Node build (no clean: both share dist/).
 */
export function browserConfig(entry: Record<string, string>): Options {
  return { ...baseConfig, entry, platform: 'browser', target: 'es2022', clean: false };
}
