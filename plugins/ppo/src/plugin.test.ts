import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { AdvantageEstimator, algorithmNames, assembleContainer, configSchema, Objective, Policy, ValueModel, type FrozenPolicy, type ResolvedConfig } from '@grpo/core';
import grpo from '@grpo/plugin-grpo';
import { CharTokenizer } from '@grpo/plugin-tokenizers';
import { createPolicy } from '@grpo/plugin-transformer';
import ppo, { KL_STATE_FILE, KlController, PLUGIN_NAME, TransformerValueModel } from './index.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const tokenizer = CharTokenizer.fromChars('abcd');
const config = (input: object = {}): ResolvedConfig => ({ ...configSchema.parse(input), plugins: [], source: 'test' });

describe('ppo() plugin', () => {
  it('declares itself and, loaded after grpo(), becomes the default algorithm', async () => {
    const plugin = ppo();
    expect(plugin.meta).toMatchObject({ name: PLUGIN_NAME, version: '0.1.0', core: '^0.1.0' });
    const container = await assembleContainer({ config: config(), defaults: [grpo()], plugins: [plugin] });
    expect(algorithmNames(container, config())).toEqual({ estimator: 'gae', objective: 'ppo' });
    // A name in the config still wins.
    const named = config({ algorithm: { advantage: { estimator: 'grpo' } } });
    expect(algorithmNames(container, named).estimator).toBe('grpo');
    expect(container.getAll<AdvantageEstimator>(AdvantageEstimator).map((e) => e.name)).toContain('gae');
    expect(container.getAll<Objective>(Objective).map((o) => o.name)).toEqual(['clipped-surrogate', 'ppo']);
  });

  it('builds the critic from the policy bound after the plugins load, or from scratch', async () => {
    const policy = createPolicy({ model: { dModel: 16, nLayers: 1, nHeads: 2, maxSeqLen: 16 }, tokenizer, seed: 1 });
    const copy = await assembleContainer({ config: config(), defaults: [grpo()], plugins: [ppo()] });
    copy.bind(Policy).toConstantValue(policy);
    const critic = copy.get<ValueModel>(ValueModel) as TransformerValueModel;
    expect(critic.model.config).toEqual(policy.config);
    expect(critic.model.alignment).toBe('before');
    expect(copy.get(ValueModel)).toBe(critic); // one critic per container

    const scratch = await assembleContainer({ config: config(), defaults: [grpo()], plugins: [ppo({ critic: { model: { dModel: 8, nLayers: 2, nHeads: 2, maxSeqLen: 16 } } })] });
    scratch.bind(Policy).toConstantValue(policy);
    const small = scratch.get<ValueModel>(ValueModel) as TransformerValueModel;
    expect(small.model.config).toMatchObject({ dModel: 8, nLayers: 2, vocabSize: tokenizer.vocabSize });
    critic.dispose();
    small.dispose();
    policy.dispose();
  });

  it('explains what is missing', async () => {
    const none = await assembleContainer({ config: config(), defaults: [grpo()], plugins: [ppo()] });
    expect(() => none.get(ValueModel)).toThrow(/no Policy is bound/);
    const foreign = await assembleContainer({ config: config(), defaults: [grpo()], plugins: [ppo()] });
    foreign.bind(Policy).toConstantValue({ tokenizer } as unknown as FrozenPolicy);
    expect(() => foreign.get(ValueModel)).toThrow(/critic: \{ model \}/);
    expect(() => ppo({ critic: { learningRate: -1 } })).toThrow(/learningRate/);
  });
});

describe('TransformerValueModel', () => {
  it('scores the state before each completion token, zero at padding', () => {
    const critic = TransformerValueModel.create({ tokenizer, model: { dModel: 8, nLayers: 1, nHeads: 2, maxSeqLen: 16 }, seed: 2 });
    const before = tf.memory().numTensors;
    const [full, short] = tf.tidy(() => {
      const both = critic.values({ prompts: [[1, 3], [1, 3]], completions: [[4, 5, 6], [4]] }).arraySync();
      return [both[0]!, both[1]!];
    });
    expect(tf.memory().numTensors).toBe(before);
    // V of the first completion token depends only on the prompt: the same in both rows.
    expect(short[0]).toBeCloseTo(full[0]!, 5);
    expect(short.slice(1)).toEqual([0, 0]);
    critic.dispose();
  });

  it('saves and loads its weights and the adaptive KL β', async () => {
    const dir = path.join(await mkdtemp(path.join(tmpdir(), 'ppo-critic-')), 'critic');
    const kl = new KlController({ target: 1 });
    kl.update(0.1, 2); // e = 0.2 → β = 0.102
    const a = TransformerValueModel.create({ tokenizer, model: { dModel: 8, nLayers: 1, nHeads: 2, maxSeqLen: 16 }, seed: 2, klController: kl });
    await a.save(dir);
    expect(JSON.parse(await readFile(path.join(dir, KL_STATE_FILE), 'utf8'))).toEqual({ beta: 0.1 * 1.02 });
    const restored = new KlController({ target: 1 });
    const b = TransformerValueModel.create({ tokenizer, model: { dModel: 8, nLayers: 1, nHeads: 2, maxSeqLen: 16 }, seed: 9, klController: restored });
    await b.load(dir);
    expect(restored.beta(0.5)).toBeCloseTo(0.102, 12);
    b.trainableVariables().forEach((v, i) => expect(Array.from(v.dataSync())).toEqual(Array.from(a.trainableVariables()[i]!.dataSync())));
    a.dispose();
    b.dispose();
  });
});
