/**
 * The `browser` export condition of the packages the playground uses: each browser entry bundles
 * for the browser platform from the sources without any `node:` module (esbuild refuses to resolve
 * one there), and exports a subset of the Node entry's names, so code written against the browser
 * entry runs unchanged in Node.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Packages with a `browser` condition, with their browser and Node entries (subpath → source files). */
const PACKAGES = ['packages/core', 'plugins/tokenizers', 'plugins/grpo', 'plugins/backend-wasm', 'plugins/transformer', 'plugins/math-task'];

interface Target {
  browser?: { source?: string };
  source?: string;
}

function entries(dir: string): { subpath: string; browser: string; node: string }[] {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, dir, 'package.json'), 'utf8')) as { exports: Record<string, Target | string> };
  return Object.entries(pkg.exports).flatMap(([subpath, target]) =>
    typeof target === 'object' && target.browser?.source && target.source
      ? [{ subpath, browser: path.join(ROOT, dir, target.browser.source), node: path.join(ROOT, dir, target.source) }]
      : [],
  );
}

/** npm dependencies stay external (their own browser builds are theirs); @grpo/* and `#` imports are bundled from source. */
const externalDeps: Plugin = {
  name: 'external-deps',
  setup(b) {
    b.onResolve({ filter: /^[^./#]/ }, (args) =>
      args.path.startsWith('@grpo/') || args.path.startsWith('node:') ? undefined : { path: args.path, external: true },
    );
  },
};

describe('browser entries', () => {
  it.each(PACKAGES)('%s: its browser entries bundle for a browser without node: modules', async (dir) => {
    const found = entries(dir);
    expect(found.length).toBeGreaterThan(0);
    for (const { browser } of found) {
      const result = await build({
        entryPoints: [browser],
        bundle: true,
        write: false,
        platform: 'browser',
        format: 'esm',
        conditions: ['browser', 'source'],
        plugins: [externalDeps],
        logLevel: 'silent',
        metafile: true,
      });
      const inputs = Object.keys(result.metafile.inputs);
      expect(inputs.filter((f) => f.startsWith('node:'))).toEqual([]);
      expect(inputs.some((f) => /node-io\.ts$/.test(f))).toBe(false);
    }
  });

  it.each(PACKAGES)('%s: each browser entry exports a subset of the Node entry', async (dir) => {
    for (const { browser, node } of entries(dir)) {
      const [b, n] = await Promise.all([import(browser) as Promise<Record<string, unknown>>, import(node) as Promise<Record<string, unknown>>]);
      const missing = Object.keys(b).filter((k) => !(k in n));
      expect(missing).toEqual([]);
      for (const k of Object.keys(b)) expect(b[k], k).toBe(n[k]);
    }
  });

  it('the Node entries do bundle node: modules (the check above can fail)', async () => {
    const result = await build({
      entryPoints: [path.join(ROOT, 'packages/core/src/index.ts')],
      bundle: true,
      write: false,
      platform: 'node',
      format: 'esm',
      conditions: ['source'],
      plugins: [externalDeps],
      logLevel: 'silent',
      metafile: true,
    });
    expect(Object.keys(result.metafile.inputs).some((f) => f.startsWith('node:'))).toBe(false);
    expect(Object.values(result.metafile.outputs).some((o) => o.imports.some((i) => i.path.startsWith('node:')))).toBe(true);
  });
});
