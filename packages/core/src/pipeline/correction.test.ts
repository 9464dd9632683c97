/**
 * The off-policy correction against numbers worked by hand (TRL's formulas): trainer log-probs
 * [−1, −2, −0.5, −1], engine [−1.2, −1, −0.5, −2.5], so δ = trainer − engine = [0.2, −1, 0, 1.5]
 * and e^δ = [1.221403, 0.367879, 1, 4.481689]; the sequence's Σδ = 0.7, e^0.7 = 2.013753.
 */
import { describe, expect, it } from 'vitest';
import { correctionWeights, engineLogprobs, importanceCorrections, mismatchMetrics, plainSampling } from './correction.js';

const trainer = [-1, -2, -0.5, -1];
const engine = [-1.2, -1, -0.5, -2.5];
const close = (actual: number[], expected: number[]) => actual.forEach((a, i) => expect(a).toBeCloseTo(expected[i]!, 5));

describe('importance corrections (TRL vllm_importance_sampling modes)', () => {
  it('token_truncate clamps each token ratio into [clipMin, clipMax]', () => {
    close(importanceCorrections.token_truncate(trainer, engine, { clipMax: 3 }), [1.221403, 0.367879, 1, 3]);
    close(importanceCorrections.token_truncate(trainer, engine, { clipMin: 0.5, clipMax: 3 }), [1.221403, 0.5, 1, 3]);
  });

  it('token_mask zeroes each token ratio outside [clipMin, clipMax]', () => {
    close(importanceCorrections.token_mask(trainer, engine, { clipMax: 3 }), [1.221403, 0.367879, 1, 0]);
    close(importanceCorrections.token_mask(trainer, engine, { clipMin: 0.5, clipMax: 3 }), [1.221403, 0, 1, 0]);
  });

  it('the sequence modes put one ratio exp(Σδ) on every token', () => {
    close(importanceCorrections.sequence_truncate(trainer, engine, { clipMax: 3 }), [2.013753, 2.013753, 2.013753, 2.013753]);
    close(importanceCorrections.sequence_truncate(trainer, engine, { clipMax: 1.5 }), [1.5, 1.5, 1.5, 1.5]);
    close(importanceCorrections.sequence_mask(trainer, engine, { clipMax: 3 }), [2.013753, 2.013753, 2.013753, 2.013753]);
    expect(importanceCorrections.sequence_mask(trainer, engine, { clipMax: 1.5 })).toEqual([0, 0, 0, 0]);
  });
});

describe('a batch', () => {
  const input = { trainer: [trainer, [-3]], engine: [engine, [-3]], excluded: [false, false] };

  it('mismatch figures: k1 = mean(engine − trainer), k3 = mean(e^δ − δ − 1), |δ| mean and max', () => {
    const m = mismatchMetrics(input);
    // δ = [0.2, −1, 0, 1.5, 0]: k1 = −0.7 / 5; k3 = (0.021403 + 0.367879 + 0 + 1.981689 + 0) / 5; |δ| = 2.7 / 5.
    expect(m['mismatch/mismatch_kl']).toBeCloseTo(-0.14, 6);
    expect(m['mismatch/mismatch_k3_kl']).toBeCloseTo(2.370971 / 5, 5);
    expect(m['sampling/sampling_logp_difference/mean']).toBeCloseTo(0.54, 6);
    expect(m['sampling/sampling_logp_difference/max']).toBeCloseTo(1.5, 6);
  });

  it('token-mode weights and their figures over tokens; excluded sequences count in none', () => {
    const { weights, metrics } = correctionWeights('token_mask', { ...input, excluded: [false, true] }, { clipMax: 3 });
    close(weights[0]!, [1.221403, 0.367879, 1, 0]);
    expect(weights[1]).toEqual([1]);
    expect(metrics['sampling/importance_sampling_ratio/min']).toBe(0);
    expect(metrics['sampling/importance_sampling_ratio/max']).toBeCloseTo(1.221403, 5);
    expect(metrics['sampling/importance_sampling_ratio/mean']).toBeCloseTo(2.589282 / 4, 5);
    expect(metrics['mismatch/rollout_is_masked_fraction']).toBeCloseTo(0.25, 6);
  });

  it('sequence-mode figures are over sequences', () => {
    const { metrics } = correctionWeights('sequence_truncate', input, { clipMax: 1.5 });
    expect(metrics['sampling/importance_sampling_ratio/mean']).toBeCloseTo((1.5 + 1) / 2, 6);
    expect(metrics['mismatch/rollout_is_masked_fraction']).toBe(0);
  });
});

describe('which engine log-probs compare with the trainer (trl#6789)', () => {
  const completion = { tokenIds: [1, 2], text: 'ab', logprobs: [-0.1, -0.2], finishReason: 'eos' as const };

  it('raw log-probs when the engine reports them, sampled ones only when sampling was plain', () => {
    expect(plainSampling({ temperature: 1 })).toBe(true);
    expect(plainSampling({ temperature: 1, topK: 0, topP: 1 })).toBe(true);
    expect(plainSampling({ temperature: 0.7 })).toBe(false);
    expect(plainSampling({ temperature: 1, topP: 0.9 })).toBe(false);
    expect(engineLogprobs(completion, { temperature: 1 }, 'x')).toEqual([-0.1, -0.2]);
    expect(engineLogprobs({ ...completion, rawLogprobs: [-0.3, -0.4] }, { temperature: 1, topK: 5 }, 'x')).toEqual([-0.3, -0.4]);
    expect(() => engineLogprobs(completion, { temperature: 1, topK: 5 }, 'llama.cpp')).toThrow(/'llama.cpp'.*topK 5.*trl#6789/);
  });

  it('refuses log-probs that do not match the tokens, naming the engine', () => {
    expect(() => engineLogprobs({ ...completion, logprobs: [-0.1] }, { temperature: 1 }, 'openai-http')).toThrow(
      /'openai-http' returned 1 log-probs for 2 tokens/,
    );
  });
});
