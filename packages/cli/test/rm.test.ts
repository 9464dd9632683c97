import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setupBackend } from '@grpo/plugin-backend-wasm';
import { CharTokenizer } from '@grpo/plugin-tokenizers';
import { createPolicy } from '@grpo/plugin-transformer';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/index.js';

let dir: string;

beforeAll(async () => {
  await setupBackend('wasm');
  dir = await mkdtemp(path.join(tmpdir(), 'grpo-rm-cli-'));
  const policy = createPolicy({ model: { dModel: 16, nLayers: 1, nHeads: 2, maxSeqLen: 32 }, tokenizer: CharTokenizer.fromChars('abcd xy'), seed: 2 });
  await policy.save(path.join(dir, 'policy'));
  policy.dispose();
  const rows = Array.from({ length: 24 }, (_, i) => ({ prompt: 'x', completion: i % 2 ? 'aab' : 'ccd', label: i % 2 }));
  await writeFile(path.join(dir, 'train.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n'));
  await writeFile(path.join(dir, 'bad.jsonl'), '{"prompt": "x", "completion": "ab", "label": 1}\n{"prompt": "x", "completion": "ab", "label": "yes"}\n');
});

async function run(argv: string[]) {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

describe('grpo rm', () => {
  it('trains an outcome reward model from JSONL and evaluates it', async () => {
    const out = path.join(dir, 'rm');
    const trained = await run([
      '--plugin',
      'reward-model',
      'rm',
      'train',
      '--data',
      path.join(dir, 'train.jsonl'),
      '--init-policy',
      path.join(dir, 'policy'),
      '--out',
      out,
      '--epochs',
      '1',
      '--eval-fraction',
      '0.25',
    ]);
    expect(trained.err).not.toMatch(/error/i);
    expect(trained.code).toBe(0);
    expect(trained.out).toContain(`reward model: ${out}`);
    const evaluated = await run(['--plugin', 'reward-model', 'rm', 'eval', '--checkpoint', out, '--data', path.join(dir, 'train.jsonl')]);
    expect(evaluated.code).toBe(0);
    const metrics = JSON.parse(evaluated.out) as Record<string, number>;
    expect(metrics['outcome/count']).toBe(24);
    expect(metrics['outcome/accuracy']).toBeGreaterThanOrEqual(0);
    expect(metrics['outcome/accuracy']).toBeLessThanOrEqual(1);
    expect(metrics['outcome/auc']).toBeGreaterThanOrEqual(0);
  });

  it('names the file and line of malformed training data', async () => {
    const { code, err } = await run([
      '--plugin',
      'reward-model',
      'rm',
      'train',
      '--data',
      path.join(dir, 'bad.jsonl'),
      '--init-policy',
      path.join(dir, 'policy'),
      '--out',
      path.join(dir, 'x'),
    ]);
    expect(code).toBe(1);
    expect(err).toContain(`${path.join(dir, 'bad.jsonl')}:2`);
    expect(err).not.toMatch(/\n\s+at /);
  });

  it('comes with the reward-model plugin: without it the CLI says how to add it', async () => {
    const { code, err } = await run(['rm', 'eval']);
    expect(code).toBe(2);
    expect(err).toContain("unknown command 'rm'");
    expect(err).toContain('--plugin <name>');
  });
});
