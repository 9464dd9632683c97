/**
 * Issue 21, item 8: error paths that gave a misleading or unreadable message — NaN and Infinity in
 * a config shown as "got null", a UTF-8 BOM in a JSONL dataset, and a prompt too long for the
 * model that passed the dataset check and failed only when drawn, without its file and line.
 */
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { ConfigError, DataError, JsonlPromptDataset, Policy, prepareContainer, resolveConfig, TensorBackend, type GrpoPlugin } from '../src/index.js';
import { FakePolicy } from '../src/testing/index.js';
import { tempProject } from './helpers.js';

describe('config values JSON cannot say', () => {
  it('reports NaN and ±Infinity as they are, not as null', async () => {
    const error = await resolveConfig({ train: { learningRate: Number.NaN, steps: Infinity, warmupSteps: -Infinity } }, { source: 'test' }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    const messages = (error as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
    expect(messages).toContain('train.learningRate: expected a number > 0, got NaN');
    expect(messages).toContain('train.steps: expected an integer ≥ 1, got Infinity');
    expect(messages).toContain('train.warmupSteps: expected an integer ≥ 0, got -Infinity');
  });
});

describe('JSONL datasets', () => {
  it('ignore a UTF-8 byte order mark', async () => {
    const dir = await tempProject({ 'train.jsonl': '\uFEFF{"prompt": "1+1=", "answer": "2"}\n', 'bad.jsonl': '\uFEFF{"prompt": 1+}\n' });
    const dataset = new JsonlPromptDataset(path.join(dir, 'train.jsonl'));
    expect(dataset.get(0)).toEqual({ prompt: '1+1=', answer: '2' });
    let message = '';
    try {
      new JsonlPromptDataset(path.join(dir, 'bad.jsonl'));
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/bad\.jsonl:1: malformed JSON/);
    expect(message).not.toContain('\uFEFF');
  });

  it('are checked against the policy’s maxSeqLen when they load, naming file and line', async () => {
    const long = 'x'.repeat(40);
    const dir = await tempProject({ 'train.jsonl': `{"prompt": "x"}\n\n{"prompt": "${long}"}\n` });
    const policy = Object.assign(new FakePolicy({ chars: 'x', complete: () => 'x' }), { maxSeqLen: 32 });
    const fakes: GrpoPlugin = {
      meta: { name: 'fakes', version: '0.0.0', core: '*' },
      register: ({ bind }) => {
        bind(TensorBackend).toConstantValue({ name: 'cpu', setup: async () => void (await tf.setBackend('cpu')) });
        bind(Policy).toConstantValue(policy);
      },
    };
    const config = await resolveConfig({ backend: 'cpu', data: { train: path.join(dir, 'train.jsonl') } }, { source: 'test', defaults: [fakes] });
    const error = await prepareContainer(config).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DataError);
    // BOS + 40 characters.
    expect((error as Error).message).toBe(
      `${path.join(dir, 'train.jsonl')}:3: the prompt is 41 tokens, more than the policy's maxSeqLen (32) less one token to generate`,
    );
  });
});
