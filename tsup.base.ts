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
 * refuses any `node:` import that is left. Written to its own dist-browser/: tsup runs the builds of
 * an array at once, and each cleans its own output directory first.
 */
export function browserConfig(entry: Record<string, string>): Options {
  return { ...baseConfig, entry, platform: 'browser', target: 'es2022', outDir: 'dist-browser' };
}
