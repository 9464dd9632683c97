/**
 * End to end: for every template, run the real scaffolder into a temporary directory, then
 * `npm install` (the `@grpo/*` packages are `file:` copies of this checkout, third-party ones come
 * from the npm cache or registry), `npm run build`, `npm test` and `npm run train` (5 steps from
 * the shipped SFT policy, with the evaluation before and after), as a user would, and check that
 * training moved the held-out accuracy and that the template's own piece took part. The
 * checkout's packages must be built (their `dist/` is what a project installs); the ones whose
 * sources are newer than their build are rebuilt first.
 *
 * About 3 minutes with the checkout built, 4.5 with nothing built (2 shared cores); on by default
 * (CI runs it as part of `npm test`). GRPO_TEST_TEMPLATES=0 leaves it out of a local run.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { listTemplates, rewritePackageJson, scaffold, workspacePackages } from 'create-grpo';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const templates = listTemplates(path.join(repo, 'templates'));
const enabled = process.env.GRPO_TEST_TEMPLATES !== '0';

/** The environment of a user's shell: none of this test runner's variables (a nested vitest would read them). */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(VITEST|TEST$|NODE_ENV$|NODE_OPTIONS$)/.test(k)) env[k] = v;
  return { ...env, NO_COLOR: '1', FORCE_COLOR: '0', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };
}

async function npm(args: string[], cwd: string): Promise<string> {
  try {
    const { stdout, stderr } = await run('npm', args, { cwd, env: userEnv(), maxBuffer: 64 * 1024 * 1024 });
    return `${stdout}\n${stderr}`;
  } catch (error) {
    const e = error as Error & { stdout?: string; stderr?: string };
    throw new Error(`npm ${args.join(' ')} failed in ${cwd}:\n${e.stdout ?? ''}\n${e.stderr ?? ''}`, { cause: error });
  }
}

/** Newest modification time of the files under `dir` (0 when it does not exist). */
function newest(dir: string): number {
  let latest = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    latest = Math.max(latest, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return latest;
}

/** Workspace folders the templates install from this checkout whose `dist/` is missing or older than their sources. */
function staleBuilds(): string[] {
  const workspaces = workspacePackages(repo);
  const needed = new Set<string>();
  for (const t of templates) {
    const template = JSON.parse(readFileSync(path.join(t.dir, 'package.json'), 'utf8')) as Parameters<typeof rewritePackageJson>[0];
    const { pkg } = rewritePackageJson(template, 'x', repo);
    for (const [name, spec] of Object.entries({ ...pkg.dependencies, ...pkg.devDependencies })) if (spec.startsWith('file:')) needed.add(name);
  }
  return [...needed].filter((name) => {
    const dir = workspaces.get(name)!;
    const built = newest(path.join(dir, 'dist'));
    const sources = Math.max(newest(path.join(dir, 'src')), statSync(path.join(dir, 'package.json')).mtimeMs);
    return built === 0 || built < sources;
  });
}

if (enabled)
  describe('templates, end to end', () => {
    let root: string;
    const timings: string[] = [];

    beforeAll(async () => {
      root = await mkdtemp(path.join(tmpdir(), 'grpo-templates-'));
      const stale = staleBuilds();
      if (stale.length > 0) {
        const started = performance.now();
        await npm(['run', 'build', '--silent', ...stale.flatMap((w) => ['-w', w])], repo);
        timings.push(`build ${stale.join(', ')}: ${((performance.now() - started) / 1000).toFixed(1)}s`);
      }
    }, 600_000);

    afterAll(async () => {
      if (timings.length > 0) process.stderr.write(`template e2e timings:\n  ${timings.join('\n  ')}\n`);
      if (root) await rm(root, { recursive: true, force: true });
    });

    it('covers every template', () => {
      expect(templates.map((t) => t.name)).toEqual(['custom-estimator', 'custom-reward', 'math-reasoning', 'tool-use']);
    });

    for (const template of templates) {
      it(`${template.name}: scaffolds, installs, builds, passes its tests, and 5 steps of training move its accuracy`, async () => {
        const lap = (() => {
          let t = performance.now();
          const parts: string[] = [];
          return Object.assign(
            (what: string) => {
              const now = performance.now();
              parts.push(`${what} ${((now - t) / 1000).toFixed(1)}s`);
              t = now;
            },
            { parts },
          );
        })();
        const result = await scaffold({ target: template.name, template: template.name, cwd: root, grpoSource: repo });
        const dir = result.dir;
        expect(result.dependencies).toBe('file');
        expect(result.warnings).toEqual([]);

        await npm(['install', '--prefer-offline', '--no-audit', '--no-fund'], dir);
        lap('install');
        await npm(['run', 'build'], dir);
        expect((await readdir(path.join(dir, 'dist'))).sort()).toEqual(['grpo.config.d.ts', 'grpo.config.js', 'grpo.config.js.map', 'src', 'test']);
        lap('build');
        const tested = await npm(['test'], dir);
        expect(tested).toMatch(/Tests\s+\d+ passed/);
        expect(tested).not.toMatch(/failed|skipped/);
        lap('test');
        const trained = await npm(['run', 'train'], dir);
        lap('train');
        timings.push(`${template.name}: ${lap.parts.join(', ')}`);

        expect(trained).toContain('report:');
        const runDir = path.join(dir, 'runs/smoke');
        const lines = (await readFile(path.join(runDir, 'metrics.jsonl'), 'utf8'))
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { step: number; metrics?: Record<string, number> } & Record<string, unknown>);
        const text = JSON.stringify(lines);
        // Every training step was logged, and the template's own piece took part in them.
        expect(text).toMatch(/"step":\s*4\b/);
        const steps = lines.filter((l) => 'reward' in l);
        expect(steps).toHaveLength(5);
        if (template.name === 'custom-estimator') expect(steps.some((l) => (l.frac_nonzero_advantage as number) > 0)).toBe(true);
        if (template.name === 'custom-reward') expect(steps.every((l) => (l['rewards/correct_steps/mean'] as number) > 0)).toBe(true);
        if (template.name === 'math-reasoning') expect(text).toContain('rewards/repetition/mean');
        // The policy called the calculator during its rollouts (multi-turn trajectories).
        if (template.name === 'tool-use') expect(steps.every((l) => (l['tools/calls'] as number) > 0 && (l['num_turns/mean'] as number) > 1)).toBe(true);
        // The shipped SFT policy already solves part of the task, and the 5 steps moved it: the
        // rewards told its samples apart (the run is seeded: the same figures every time).
        expect(steps.some((l) => (l.reward as number) > 0)).toBe(true);
        const accuracy = lines.filter((l) => typeof l['eval/accuracy'] === 'number').map((l) => l['eval/accuracy'] as number);
        expect(accuracy).toHaveLength(2);
        const [before, after] = accuracy as [number, number];
        expect(before).toBeGreaterThan(0.2);
        expect(after, `${template.name}: held-out accuracy ${before} before training, ${after} after`).toBeGreaterThan(before);
        // The template's README quotes this run's figures.
        const quoted = /`npm run train` prints `(accuracy before \d+\.\d% after \d+\.\d%)/.exec(await readFile(path.join(dir, 'README.md'), 'utf8'))?.[1];
        expect(quoted, `${template.name}/README.md quotes what \`npm run train\` prints`).toBeDefined();
        expect(trained).toContain(quoted);
        // The run recorded its config and started from the packaged SFT checkpoint of the installed plugin.
        const record = JSON.parse(await readFile(path.join(runDir, 'config.json'), 'utf8')) as { config: { policy: { checkpoint: string } } };
        const checkpoint = template.name === 'tool-use' ? 'checkpoints/sft-calc' : 'checkpoints/sft';
        expect(record.config.policy.checkpoint).toBe(path.join(dir, 'node_modules/@grpo/plugin-math-task', checkpoint));
        expect(await readdir(runDir)).toContain('report.html');
      }, 600_000);
    }
  });
else
  describe('templates, end to end (left out: GRPO_TEST_TEMPLATES=0)', () => {
    it('the templates it would scaffold, build, test and train exist and resolve against this checkout', () => {
      expect(templates.map((t) => t.name)).toEqual(['custom-estimator', 'custom-reward', 'math-reasoning', 'tool-use']);
      // Every workspace package a template installs is found (a rename would break the file: links).
      expect(() => staleBuilds()).not.toThrow();
    });
  });
