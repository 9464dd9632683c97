import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { CheckpointError } from '@grpo/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { ScalarHeadModel } from '../src/index.js';
import { charTokenizer, naiveLogits, tinyPolicy, useWasm, weightValues } from './helpers.js';

beforeAll(useWasm);

/**
 * With tied embeddings, a head equal to embedding row k makes the score at a position the logit
 * of token k there, which the independent float64 reference (`naiveLogits`) computes.
 */
function headAsLogitOf(model: ScalarHeadModel, k: number, embed: Float32Array, d: number): void {
  tf.tidy(() => {
    model.weights.get('score_head.weight')!.assign(tf.tensor2d(embed.slice(k * d, (k + 1) * d), [d, 1]));
    model.weights.get('score_head.bias')!.assign(tf.tensor1d([0.25]));
  });
}

describe('ScalarHeadModel', () => {
  const tok = charTokenizer();
  const prompts = [tok.encode('ab', { addBos: true }), tok.encode('hello', { addBos: true })];
  const completions = [tok.encode('cde'), tok.encode('x', { addEos: true })];

  for (const alignment of ['before', 'after'] as const) {
    it(`scores completion tokens from the ${alignment === 'before' ? 'predicting' : 'reading'} position (matches a float64 reference)`, () => {
      const policy = tinyPolicy();
      const w = weightValues(policy);
      const d = policy.config.dModel;
      const model = ScalarHeadModel.create({ tokenizer: tok, from: policy, alignment });
      const k = 7;
      headAsLogitOf(model, k, w.get('embed.weight')!, d);
      const before = tf.memory().numTensors;
      const scores = tf.tidy(() => model.scores({ prompts, completions }).arraySync());
      expect(tf.memory().numTensors).toBe(before);
      prompts.forEach((p, b) => {
        const c = completions[b]!;
        const logits = naiveLogits(policy.config, w, [...p, ...c]);
        c.forEach((_, j) => {
          const pos = p.length + j + (alignment === 'before' ? -1 : 0);
          expect(scores[b]![j]).toBeCloseTo(logits[pos]![k]! + 0.25, 4);
        });
        for (let j = c.length; j < 3; j++) expect(scores[b]![j]).toBe(0);
      });
      model.dispose();
      policy.dispose();
    });
  }

  it('copies the policy backbone: training the policy later does not move the model', () => {
    const policy = tinyPolicy();
    const model = ScalarHeadModel.create({ tokenizer: tok, from: policy, alignment: 'after' });
    const s0 = tf.tidy(() => model.scores({ prompts, completions }).arraySync());
    tf.tidy(() => policy.weights.get('layers.0.mlp.w1')!.assign(tf.zerosLike(policy.weights.get('layers.0.mlp.w1')!)));
    expect(tf.tidy(() => model.scores({ prompts, completions }).arraySync())).toEqual(s0);
    model.dispose();
    policy.dispose();
  });

  it('has gradients for every weight and saves/loads bit-exactly with validation', async () => {
    const model = ScalarHeadModel.create({ tokenizer: tok, model: { dModel: 16, nLayers: 1, nHeads: 2, maxSeqLen: 32, tiedEmbeddings: false }, seed: 3, alignment: 'before' });
    const { grads } = tf.variableGrads(() => model.scores({ prompts, completions }).square().sum() as tf.Scalar, model.trainableVariables());
    expect(Object.keys(grads).length).toBe(model.trainableVariables().length);
    tf.dispose(Object.values(grads));
    const dir = path.join(await mkdtemp(path.join(tmpdir(), 'grpo-scalar-')), 'rm');
    await model.save(dir);
    const loaded = await ScalarHeadModel.fromCheckpoint(dir, tok);
    for (const [name, v] of model.weights) expect(Array.from(loaded.weights.get(name)!.dataSync())).toEqual(Array.from(v.dataSync()));
    const other = ScalarHeadModel.create({ tokenizer: tok, model: { dModel: 8, nLayers: 1, nHeads: 2, maxSeqLen: 32 }, alignment: 'before' });
    await expect(other.load(dir)).rejects.toThrow(CheckpointError);
    await expect(other.load(dir)).rejects.toThrow(/architecture differs.*dModel/);
    [model, loaded, other].forEach((m) => m.dispose());
  });
});
