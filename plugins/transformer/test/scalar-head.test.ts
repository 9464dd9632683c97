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

/** Column k of a row-major [d, V] matrix. */
const columnOf = (m: Float32Array, d: number, V: number, k: number) => Float32Array.from({ length: d }, (_, i) => m[i * V + k]!);

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

  for (const tiedEmbeddings of [true, false]) {
    it(`likelihood feature (${tiedEmbeddings ? 'tied' : 'untied'} embeddings): score = w·h + b + a·log p(token), log p from the float64 reference`, async () => {
      const policy = tinyPolicy({ dModel: 16, nLayers: 2, nHeads: 2, maxSeqLen: 32, tiedEmbeddings });
      const w = weightValues(policy);
      const d = policy.config.dModel;
      const model = ScalarHeadModel.create({ tokenizer: tok, from: policy, alignment: 'after', likelihood: true });
      const k = 7;
      // Head = logit of token k at the reading position (+0.25); a = 0.5 times log p of the token just read.
      tf.tidy(() => {
        model.weights
          .get('score_head.weight')!
          .assign(
            tf.tensor2d(tiedEmbeddings ? w.get('embed.weight')!.slice(k * d, (k + 1) * d) : columnOf(w.get('lm_head.weight')!, d, policy.config.vocabSize, k), [
              d,
              1,
            ]),
          );
        model.weights.get('score_head.bias')!.assign(tf.tensor1d([0.25]));
        model.weights.get('score_head.likelihood')!.assign(tf.tensor1d([0.5]));
      });
      const before = tf.memory().numTensors;
      const scores = tf.tidy(() => model.scores({ prompts, completions }).arraySync());
      expect(tf.memory().numTensors).toBe(before);
      prompts.forEach((p, b) => {
        const c = completions[b]!;
        const ids = [...p, ...c];
        const logits = naiveLogits(policy.config, w, ids);
        c.forEach((token, j) => {
          const prev = logits[p.length + j - 1]!;
          const max = Math.max(...prev);
          const logProb = prev[token]! - max - Math.log(prev.reduce((a, x) => a + Math.exp(x - max), 0));
          expect(scores[b]![j]).toBeCloseTo(logits[p.length + j]![k]! + 0.25 + 0.5 * logProb, 4);
        });
      });
      // Gradients reach every weight (the language-model head included); the option survives a save/load.
      const { grads } = tf.variableGrads(() => model.scores({ prompts, completions }).sum() as tf.Scalar, model.trainableVariables());
      expect(Object.keys(grads).length).toBe(model.trainableVariables().length);
      expect(model.weights.has('lm_head.weight')).toBe(!tiedEmbeddings);
      tf.dispose(Object.values(grads));
      const dir = path.join(await mkdtemp(path.join(tmpdir(), 'grpo-scalar-lik-')), 'rm');
      await model.save(dir);
      const loaded = await ScalarHeadModel.fromCheckpoint(dir, tok);
      expect(loaded.likelihood).toBe(true);
      expect(tf.tidy(() => loaded.scores({ prompts, completions }).arraySync())).toEqual(scores);
      const plain = ScalarHeadModel.create({ tokenizer: tok, from: policy, alignment: 'after' });
      await expect(plain.load(dir)).rejects.toThrow(/architecture differs.*likelihood/);
      expect(() => ScalarHeadModel.create({ tokenizer: tok, from: policy, alignment: 'before', likelihood: true })).toThrow("needs alignment 'after'");
      [model, loaded, plain].forEach((m) => m.dispose());
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
    const model = ScalarHeadModel.create({
      tokenizer: tok,
      model: { dModel: 16, nLayers: 1, nHeads: 2, maxSeqLen: 32, tiedEmbeddings: false },
      seed: 3,
      alignment: 'before',
    });
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
