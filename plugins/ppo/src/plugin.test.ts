import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  Algorithm,
  AdvantageEstimator,
  assembleContainer,
  ConfigError,
  Objective,
  Policy,
  resolveConfig,
  UpdateParticipant,
  type FrozenPolicy,
  type GrpoConfigInput,
  type GrpoPlugin,
} from '@grpo/core';
import grpo from '@grpo/plugin-grpo';
import { CharTokenizer } from '@grpo/plugin-tokenizers';
import { createPolicy } from '@grpo/plugin-transformer';
import ppo, { CriticParticipant, KL_STATE_FILE, KlController, PLUGIN_NAME, TransformerValueModel } from './index.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const tokenizer = CharTokenizer.fromChars('abcd');
/** The container of a config with grpo() and then `plugin` loaded, as the CLI's defaults + config plugins. */
const containerWith = async (plugin: GrpoPlugin, input: GrpoConfigInput = {}) =>
  assembleContainer(await resolveConfig({ ...input, plugins: [plugin] }, { source: 'test', defaults: [grpo()] }));

describe('ppo() plugin', () => {
  it('declares itself and, loaded after grpo(), becomes the default algorithm', async () => {
    const plugin = ppo();
    expect(plugin.meta).toMatchObject({ name: PLUGIN_NAME, version: '0.1.0', core: '^0.1.0' });
    const container = await containerWith(plugin);
    const algorithm = container.get<Algorithm>(Algorithm);
    expect([algorithm.estimator.name, algorithm.objective.name]).toEqual(['gae', 'ppo']);
    // A name in the config still wins.
    const named = await containerWith(ppo(), { algorithm: { advantage: { estimator: 'grpo' } } });
    expect(named.get<Algorithm>(Algorithm).estimator.name).toBe('grpo');
    expect(container.getAll<AdvantageEstimator>(AdvantageEstimator).map((e) => e.name)).toContain('gae');
    expect(container.getAll<Objective>(Objective).map((o) => o.name)).toEqual(['clipped-surrogate', 'ppo']);
  });

  it('builds the critic participant from the policy bound after the plugins load, or from scratch', async () => {
    const policy = createPolicy({ model: { dModel: 16, nLayers: 1, nHeads: 2, maxSeqLen: 16 }, tokenizer, seed: 1 });
    const copy = await containerWith(ppo());
    copy.bind(Policy).toConstantValue(policy);
    const participant = await copy.getAsync<UpdateParticipant>(UpdateParticipant);
    expect(participant).toBeInstanceOf(CriticParticipant);
    const critic = (participant as CriticParticipant).model as TransformerValueModel;
    expect(critic.model.config).toEqual(policy.config);
    expect(critic.model.alignment).toBe('before');
    expect(await copy.getAsync(UpdateParticipant)).toBe(participant); // one critic per container

    const scratch = await containerWith(ppo({ critic: { model: { dModel: 8, nLayers: 2, nHeads: 2, maxSeqLen: 16 } } }));
    scratch.bind(Policy).toConstantValue(policy);
    const small = ((await scratch.getAsync<UpdateParticipant>(UpdateParticipant)) as CriticParticipant).model as TransformerValueModel;
    expect(small.model.config).toMatchObject({ dModel: 8, nLayers: 2, vocabSize: tokenizer.vocabSize });
    participant.dispose?.();
    small.dispose();
    policy.dispose();
  });

  it('explains what is missing, and reports bad options with the config', async () => {
    const none = await containerWith(ppo());
    await expect(none.getAsync(UpdateParticipant)).rejects.toThrow(/no Policy is bound/);
    const foreign = await containerWith(ppo());
    foreign.bind(Policy).toConstantValue({ tokenizer } as unknown as FrozenPolicy);
    await expect(foreign.getAsync(UpdateParticipant)).rejects.toThrow(/critic: \{ model \}/);
    const bad = await resolveConfig({ plugins: [ppo({ critic: { learningRate: -1 }, lambda: 2 })] }, { source: 'test', defaults: [grpo()] }).then(
      () => undefined,
      (e: unknown) => e as ConfigError,
    );
    expect(bad).toBeInstanceOf(ConfigError);
    expect(bad!.issues.map((i) => i.path)).toEqual(['plugins[@grpo/plugin-ppo].critic.learningRate', 'plugins[@grpo/plugin-ppo].lambda']);
  });
});

describe('TransformerValueModel', () => {
  it('scores the state before each completion token, zero at padding', () => {
    const critic = TransformerValueModel.create({ tokenizer, model: { dModel: 8, nLayers: 1, nHeads: 2, maxSeqLen: 16 }, seed: 2 });
    const before = tf.memory().numTensors;
    const [full, short] = tf.tidy(() => {
      const both = critic
        .values({
          prompts: [
            [1, 3],
            [1, 3],
          ],
          completions: [[4, 5, 6], [4]],
        })
        .arraySync();
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
