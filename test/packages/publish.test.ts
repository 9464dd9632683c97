/**
 * The registry path, ready for publishing: every workspace package is public with provenance, and
 * what `npm pack` puts in a tarball is what a project needs — the shipped SFT policy in
 * `@grpo/plugin-math-task`, the templates (and nothing a local run left in them) in `create-grpo`.
 * Packs run in a copy of the checkout (create-grpo's `prepack` writes into its folder).
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { sftCheckpoint } from '@grpo/plugin-math-task';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshCheckout, repo, userEnv } from '../support/checkout.js';

const run = promisify(execFile);

interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  license?: string;
  files?: string[];
  exports?: Record<string, unknown>;
  publishConfig?: { access?: string; provenance?: boolean };
  dependencies?: Record<string, string>;
}

/** Workspaces that are applications, never published (the playground is a static site). */
const APPS = new Set(['packages/playground']);

const all = ['packages', 'plugins'].flatMap((group) =>
  readdirSync(path.join(repo, group))
    .filter((name) => existsSync(path.join(repo, group, name, 'package.json')))
    .map((name) => ({ dir: `${group}/${name}`, pkg: JSON.parse(readFileSync(path.join(repo, group, name, 'package.json'), 'utf8')) as Manifest })),
);
const workspaces = all.filter((w) => !APPS.has(w.dir));

/** The files `npm pack` would put in the tarball of a workspace of `cwd`. */
async function packed(cwd: string, workspace: string): Promise<string[]> {
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--workspace', workspace], { cwd, env: userEnv(), maxBuffer: 64 * 1024 * 1024 });
  const [result] = JSON.parse(stdout) as { files: { path: string }[] }[];
  return result!.files.map((f) => f.path).sort();
}

describe('publishing', () => {
  let clone: string;

  beforeAll(() => {
    clone = freshCheckout('grpo-pack-');
  }, 120_000);

  afterAll(() => {
    if (clone) rmSync(clone, { recursive: true, force: true });
  });

  it('every package is public, with provenance, a license, files and an exports map; @grpo ranges match the versions', () => {
    const versions = new Map(workspaces.map((w) => [w.pkg.name, w.pkg.version]));
    expect(workspaces.length).toBeGreaterThan(10);
    for (const { dir, pkg } of workspaces) {
      expect(pkg.private, dir).toBeUndefined();
      expect(pkg.publishConfig, dir).toEqual({ access: 'public', provenance: true });
      expect(pkg.license, dir).toBe('MIT');
      expect(pkg.files, dir).toEqual(expect.arrayContaining(['dist', 'src']));
      // Browser builds live in dist-browser/ (see tsup.base.ts): a package with a browser condition ships it.
      if (JSON.stringify(pkg.exports ?? {}).includes('"browser"')) expect(pkg.files, dir).toContain('dist-browser');
      expect(Object.keys(pkg.exports ?? {}), dir).toContain('.');
      expect(pkg.name === 'create-grpo' || pkg.name.startsWith('@grpo/'), dir).toBe(true);
      for (const [dep, range] of Object.entries(pkg.dependencies ?? {})) if (versions.has(dep)) expect(range, `${dir}: ${dep}`).toBe(`^${versions.get(dep)}`);
    }
    // Applications stay private, and no published package depends on one.
    for (const dir of APPS) expect(all.find((w) => w.dir === dir)?.pkg.private, dir).toBe(true);
    const apps = new Set(all.filter((w) => APPS.has(w.dir)).map((w) => w.pkg.name));
    for (const { dir, pkg } of workspaces)
      expect(
        Object.keys(pkg.dependencies ?? {}).filter((d) => apps.has(d)),
        dir,
      ).toEqual([]);
  });

  it('@grpo/plugin-math-task ships its SFT policy, and sftCheckpoint() finds it', async () => {
    const files = await packed(clone, 'plugins/math-task');
    expect(files).toEqual(expect.arrayContaining(['checkpoints/sft/config.json', 'checkpoints/sft/model.safetensors', 'checkpoints/sft/tokenizer.json']));
    expect(files.filter((f) => f.startsWith('test/'))).toEqual([]);
    expect(sftCheckpoint()).toBe(path.join(repo, 'plugins/math-task/checkpoints/sft'));
    expect(readdirSync(sftCheckpoint()).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json']);
  }, 120_000);

  it('create-grpo ships the templates, without what a local run or install leaves in them', async () => {
    // What a user's run of a template inside the checkout leaves behind.
    await mkdir(path.join(clone, 'templates/custom-reward/runs/smoke'), { recursive: true });
    await writeFile(path.join(clone, 'templates/custom-reward/runs/smoke/metrics.jsonl'), '{}\n');
    await mkdir(path.join(clone, 'templates/custom-reward/dist'), { recursive: true });
    await writeFile(path.join(clone, 'templates/custom-reward/dist/x.js'), '');
    const files = await packed(clone, 'packages/create-grpo');
    for (const t of ['custom-estimator', 'custom-reward', 'math-reasoning', 'tool-use'])
      expect(files).toEqual(expect.arrayContaining([`templates/${t}/package.json`, `templates/${t}/_gitignore`, `templates/${t}/grpo.config.ts`]));
    expect(files).toContain('templates/custom-reward/src/correct-steps.ts');
    expect(files.filter((f) => /\/(runs|dist|node_modules)\//.test(f))).toEqual([]);
    // prepack's copy is gone again.
    expect(existsSync(path.join(clone, 'packages/create-grpo/templates'))).toBe(false);
  }, 120_000);
});
