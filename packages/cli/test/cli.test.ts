import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../src/index.js';
import { CLI_VERSION } from '../src/version.js';

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

/** A project directory; `inRepo` puts it inside this checkout so that plugin names in JSON/YAML configs resolve to the workspace packages. */
async function project(files: Record<string, string>, inRepo = false): Promise<string> {
  let base = tmpdir();
  if (inRepo) {
    base = path.resolve(import.meta.dirname, '../../../node_modules/.cache/grpo-tests');
    await mkdir(base, { recursive: true });
  }
  const dir = await mkdtemp(path.join(base, 'grpo-cli-'));
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), content);
  }
  return dir;
}

describe('grpo CLI', () => {
  it('prints help with examples and exits 0', async () => {
    const { code, out } = await run(['--help']);
    expect(code).toBe(0);
    expect(out).toContain('Usage: grpo');
    expect(out).toContain('Examples:');
  });

  it('config print shows the resolved config as JSON with plugins by name', async () => {
    const cwd = await project({ '.grporc.json': '{"seed": 3, "train": {"groupSize": 4}}' });
    const { code, out } = await run(['config', 'print', '--cwd', cwd]);
    expect(code).toBe(0);
    const printed = JSON.parse(out) as { seed: number; train: { groupSize: number; steps: number }; plugins: unknown[]; source: string };
    expect(printed).toMatchObject({ seed: 3, train: { groupSize: 4, steps: 100 } });
    // The default plugins, with their validated options, and the sections they own (algorithm: the grpo plugin's).
    expect(printed.plugins).toContain('@grpo/plugin-grpo@0.1.0');
    expect(printed.plugins).toContainEqual({ '@grpo/plugin-backend-wasm@0.1.0': {} });
    expect(printed).toHaveProperty(['algorithm', 'kl', 'beta'], 0.04);
    expect(printed.source).toBe(path.join(cwd, '.grporc.json'));
  });

  it('config validate exits 2 on a bad config, listing every problem without a stack trace', async () => {
    const cwd = await project({ 'bad.yaml': 'train:\n  groupSize: 1\n  steps: 0\nseeed: 3\n' });
    const { code, err, out } = await run(['config', 'validate', '--cwd', cwd, '--config', 'bad.yaml']);
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toContain('train.groupSize: expected an integer ≥ 2, got 1');
    expect(err).toContain('train.steps: expected an integer ≥ 1, got 0');
    expect(err).toContain("unknown key 'seeed'");
    expect(err).not.toMatch(/\n\s+at /);
  });

  it('config validate accepts a good config and says what the run trains with', async () => {
    const cwd = await project({ '.grporc.yaml': 'plugins: [math-task]\ntrain:\n  groupSize: 4\n' }, true);
    const { code, out, err } = await run(['config', 'validate', '--cwd', cwd]);
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toMatch(/^config OK: .*\.grporc\.yaml \(8 plugins: @grpo\/plugin-grpo, /);
    expect(out).toContain(
      'algorithm: estimator grpo, objective clipped-surrogate, loss aggregation seq-mean-token-mean, KL k3 (β 0.04, in the loss); rewards: task_accuracy\n',
    );
  });

  it('config validate resolves names and paths like train, listing every problem at once (exit 2)', async () => {
    const cwd = await project(
      {
        '.grporc.yaml': [
          'plugins: [math-task]',
          'backend: wsam',
          'policy: { checkpoint: runs/missing }',
          'data: { eval: nope.jsonl }',
          'algorithm:',
          '  advantage: { estimator: median }',
          '  objective: { name: clipped }',
          '  lossAggregation: token-sum',
          'rewards: { weights: { task_acc: 1, task_accuracy: 1 } }',
          'eval: { accuracyReward: acc }',
          'train: { promptsPerStep: 4, groupSize: 4, miniBatchSize: 3 }',
          '',
        ].join('\n'),
        'runs/old/config.json': '{}',
      },
      true,
    );
    const { code, out, err } = await run(['config', 'validate', '--cwd', cwd]);
    expect(out).toBe('');
    expect(code).toBe(2);
    expect(err).toContain("algorithm.advantage.estimator: No advantage estimator named 'median' is registered. Available: grpo, grpo-process, dr-grpo,");
    expect(err).toContain("algorithm.objective.name: No objective named 'clipped' is registered. Available: clipped-surrogate.");
    expect(err).toContain("algorithm.lossAggregation: No loss aggregation named 'token-sum' is registered. Available: seq-mean-token-mean, token-mean,");
    expect(err).toContain("backend: no tensor backend named 'wsam' is registered. Available: wasm, cpu, native, tfjs-node, tfjs-node-gpu.");
    expect(err).toContain('rewards.weights.task_acc: names no reward function (have: task_accuracy)');
    expect(err).not.toContain('rewards.weights.task_accuracy');
    expect(err).toContain('eval.accuracyReward: names no reward function (have: task_accuracy)');
    expect(err).toContain(`policy.checkpoint: runs/missing: no such directory; ${path.join(cwd, 'runs')} holds: old/`);
    expect(err).toContain(`data.eval: no such file: ${path.join(cwd, 'nope.jsonl')}`);
    expect(err).toContain('train.miniBatchSize: must divide the batch of promptsPerStep × groupSize = 16 sequences, got 3');
    expect(err).not.toMatch(/\n\s+at /);

    const kl = await project({ '.grporc.yaml': 'plugins: [math-task]\nalgorithm: { kl: { estimator: k4 } }\n' }, true);
    const second = await run(['config', 'validate', '--cwd', kl]);
    expect(second.code).toBe(2);
    expect(second.err).toContain("algorithm.kl.estimator: No KL estimator named 'k4' is registered. Available: k1, abs, k2, k3.");
  });

  it('without a config file, train and validate say that none was found and how to make one', async () => {
    const cwd = await project({ 'package.json': '{"name": "empty", "private": true}' });
    for (const argv of [['train'], ['config', 'validate'], ['eval']]) {
      const { code, err } = await run([...argv, '--cwd', cwd]);
      expect(code).toBe(2);
      expect(err).toContain(`grpo: no config found in ${cwd} (looked for package.json#grpo, .grporc, `);
      expect(err).toContain('Create a project with `grpo init <dir>`');
    }
  });

  it('--version is the package version', async () => {
    const pkg = JSON.parse(await readFile(path.resolve(import.meta.dirname, '../package.json'), 'utf8')) as { version: string };
    expect(CLI_VERSION).toBe(pkg.version);
    expect((await run(['--version'])).out.trim()).toBe(pkg.version);
  });

  it('exits 2 on an unknown command or option', async () => {
    expect((await run(['trian'])).code).toBe(2);
    expect((await run(['config', 'print', '--bogus'])).code).toBe(2);
  });
});
