/**
 * The loop with fakes (core's own test kit): what reaches the objective — padding, masks, where
 * each advantage lands, the aggregation context — checked against hand computations, and each
 * contribution point (engine, filter, shaper, reference schedule, update participant) called as
 * documented.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AdvantageEstimator, AggregationContext, Algorithm, LossAggregation, Objective } from '../contracts/algorithm.js';
import { Algorithm as AlgorithmToken } from '../contracts/algorithm.js';
import type { RewardFunction } from '../contracts/reward.js';
import { RewardShaper, RolloutEngine, RolloutFilter, type PlannedGeneration } from '../contracts/rollout.js';
import { ReferenceSchedule, UpdateParticipant } from '../contracts/update.js';
import type { GrpoConfigInput } from '../config/schema.js';
import type { GrpoPlugin } from '../plugin/types.js';
import { createTestTrainer, FakePolicy } from '../testing/index.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** What the objective saw in one micro-batch. */
interface Seen {
  mask: number[][];
  advantages: number[][];
  logprobs: number[][];
  context: AggregationContext;
  hasOld: boolean;
  hasRef: boolean;
}

/**
 * A REINFORCE objective that records its input: ℓ_t = −A_t·log π(y_t), aggregated as
 * Σ m·ℓ / totalTokens (a token mean over the whole optimizer step).
 */
function spyObjective(seen: Seen[]): { objective: Objective; aggregation: LossAggregation } {
  const aggregation: LossAggregation = {
    name: 'step-token-mean',
    aggregate: (perToken, mask, context) => tf.div(tf.sum(tf.mul(perToken, mask)), context.totalTokens) as tf.Scalar,
  };
  const objective: Objective = {
    name: 'spy',
    loss: (input, agg, context) => {
      seen.push({
        mask: input.mask.arraySync(),
        advantages: input.advantages.arraySync(),
        logprobs: input.logprobs.arraySync(),
        context,
        hasOld: input.oldLogprobs !== undefined,
        hasRef: input.refLogprobs !== undefined,
      });
      return { loss: agg.aggregate(tf.neg(tf.mul(input.advantages, input.logprobs)) as tf.Tensor2D, input.mask, context), metrics: {} };
    },
  };
  return { objective, aggregation };
}

/** Advantage 10·i + t on token t of completion i: where each one lands is visible. */
const placing: AdvantageEstimator = {
  name: 'placing',
  estimate: ({ groups }) => ({ advantages: groups.flatMap((g) => g.completions).map((c, i) => c.tokenIds.map((_, t) => 10 * i + t)), metrics: {} }),
};

const length: RewardFunction = { name: 'length', score: ({ completions }) => completions.map((c) => c.length) };

/** Completions of 1, 2, 3 and 1 characters (+ EOS), cycling through the group. */
const TEXTS = ['a', 'ab', 'abb', 'b'];

function algorithmPlugin(
  algorithm: Omit<Algorithm, 'advantageOptions' | 'kl'> & { kl?: Algorithm['kl'] },
  extra: (bind: (token: symbol) => { toConstantValue(v: unknown): unknown }) => void = () => {},
): GrpoPlugin {
  return {
    meta: { name: 'test-algorithm', version: '0.0.0', core: '*' },
    register: ({ bind }) => {
      bind(AlgorithmToken).toConstantValue({
        advantageOptions: { std: 'unbiased', eps: 1e-4, zeroVarianceToZero: true, singleton: 'zero' },
        kl: { placement: 'none', beta: 0 },
        ...algorithm,
      } satisfies Algorithm);
      extra(bind as never);
    },
  };
}

async function trainerWith(options: { config?: GrpoConfigInput; plugin: GrpoPlugin; policy?: FakePolicy }) {
  const policy = options.policy ?? new FakePolicy({ chars: 'pqab', complete: (prompt, i) => TEXTS[(prompt === 'q' ? i + 2 : i) % 4]! });
  const trainer = await createTestTrainer({
    config: {
      seed: 1,
      ...options.config,
      generation: { maxNewTokens: 8, ...options.config?.generation },
      train: { promptsPerStep: 2, groupSize: 2, learningRate: 0.01, maxGradNorm: 0, ...options.config?.train },
    },
    plugins: [options.plugin],
    policy,
    rewards: [length],
    rows: [{ prompt: 'p' }, { prompt: 'q' }],
  });
  return { trainer, policy };
}

describe('the step pipeline, seen by the objective', () => {
  it('pads each micro-batch to its longest completion, with the mask and advantages in place and the step-wide context', async () => {
    const seen: Seen[] = [];
    const { trainer, policy } = await trainerWith({
      plugin: algorithmPlugin({ estimator: placing, ...spyObjective(seen) }),
      config: { train: { microBatchSize: 2 } },
    });
    await trainer.trainStep();
    // Rows are drawn in the trainer's shuffled order; either way each group holds the texts of its prompt.
    const prompts = policy.calls[0]!.prompts;
    const texts = prompts.flatMap((p) => (p === 'q' ? [TEXTS[2]!, TEXTS[3]!] : [TEXTS[0]!, TEXTS[1]!]));
    const lengths = texts.map((t) => t.length + 1); // + EOS
    expect(seen).toHaveLength(2);
    const total = lengths.reduce((a, b) => a + b, 0);
    seen.forEach((m, k) => {
      const rows = [2 * k, 2 * k + 1];
      const L = Math.max(...rows.map((i) => lengths[i]!));
      expect(m.mask).toEqual(rows.map((i) => Array.from({ length: L }, (_, t) => (t < lengths[i]! ? 1 : 0))));
      expect(m.advantages).toEqual(rows.map((i) => Array.from({ length: L }, (_, t) => (t < lengths[i]! ? 10 * i + t : 0))));
      // Log-probs are zero at padding (the Policy contract).
      m.logprobs.forEach((row, j) => row.forEach((v, t) => (t >= lengths[rows[j]!]! ? expect(Math.abs(v)).toBe(0) : expect(v).toBeLessThan(0))));
      // One optimizer step over the whole batch: the context counts every valid token of it.
      expect(m.context).toEqual({ totalTokens: total, totalSequences: 4, maxLength: 8 });
      // μ = 1 and one mini-batch: π_old is the detached π_θ; no KL, no reference.
      expect([m.hasOld, m.hasRef]).toEqual([true, false]);
    });
    trainer.dispose();
  });

  it('takes one optimizer step with the gradient of Σ −A·log π / N (Adam moves each logit by lr against its sign)', async () => {
    const seen: Seen[] = [];
    const { trainer, policy } = await trainerWith({ plugin: algorithmPlugin({ estimator: placing, ...spyObjective(seen) }) });
    const before = Array.from(policy.logits.dataSync());
    const p = tf.tidy(() => Array.from(tf.softmax(policy.logits).dataSync()));
    await trainer.trainStep();
    const after = Array.from(policy.logits.dataSync());
    // Hand gradient of a unigram model: ∂/∂z_v of −A·log softmax(z)_y = −A·(1[y = v] − p_v), summed over valid tokens, / N.
    const grad = new Array<number>(before.length).fill(0);
    const ids = policy.calls[0]!.prompts.flatMap((prompt) =>
      [0, 1].map((g) => policy.tokenizer.encode(TEXTS[(prompt === 'q' ? g + 2 : g) % 4]!, { addEos: true })),
    );
    const N = ids.reduce((a, r) => a + r.length, 0);
    ids.forEach((row, i) => row.forEach((y, t) => grad.forEach((_, v) => (grad[v]! += (-(10 * i + t) * ((y === v ? 1 : 0) - p[v]!)) / N))));
    // Adam's first step: Δ = −lr·m̂/(√v̂ + ε) = −lr·g/(|g| + ε) ≈ −lr·sign(g).
    grad.forEach((g, v) => expect(after[v]! - before[v]!).toBeCloseTo(-0.01 * Math.sign(g), 6));
    trainer.dispose();
  });

  it('a masked completion gets mask 0 and leaves the token count, and μ = 2 computes π_old once before the update', async () => {
    const seen: Seen[] = [];
    const maskFirst: RewardShaper = {
      name: 'mask-first',
      shape: (groups) => ({ groups: groups.map((g) => ({ ...g, masked: g.completions.map((_, i) => i === 0) })) }),
    };
    const plugin = algorithmPlugin({ estimator: placing, ...spyObjective(seen) }, (bind) => bind(RewardShaper).toConstantValue(maskFirst));
    const { trainer, policy } = await trainerWith({ plugin, config: { train: { numIterations: 2 } } });
    await trainer.trainStep();
    const lengths = policy.calls[0]!.prompts.flatMap((p) => (p === 'q' ? [TEXTS[2]!, TEXTS[3]!] : [TEXTS[0]!, TEXTS[1]!])).map((t) => t.length + 1);
    expect(seen).toHaveLength(2); // two passes over one micro-batch of 4
    for (const m of seen) {
      expect(m.mask.map((row) => row.reduce((a, b) => a + b, 0))).toEqual(lengths.map((n, i) => (i % 2 === 0 ? 0 : n)));
      expect(m.context.totalTokens).toBe(lengths[1]! + lengths[3]!);
      expect(m.hasOld).toBe(true);
    }
    // The second pass sees log-probs moved by the first update; π_old stayed the same.
    expect(seen[1]!.logprobs).not.toEqual(seen[0]!.logprobs);
    trainer.dispose();
  });
});

describe('contribution points', () => {
  it("samples with the engine `generation.engine` names, refills while a filter drops groups, and logs the filter's figures", async () => {
    const seen: Seen[] = [];
    const requests: string[][] = [];
    const engine: RolloutEngine = {
      name: 'scripted',
      generate: async (reqs, groupSize) => {
        requests.push(reqs.map((r) => r.text));
        // Prompt ids arrive with the text: BOS + one id per character.
        reqs.forEach((r) => expect(r.ids).toHaveLength(r.text.length + 1));
        return reqs.map((r) =>
          Array.from({ length: groupSize }, () => ({ tokenIds: [3, 2], text: r.text === 'p' ? 'x' : 'y', logprobs: [-1, -1], finishReason: 'eos' as const })),
        );
      },
    };
    const onlyP: RolloutFilter = { name: 'only_p', refillRounds: 3, keep: (g) => g.prompt === 'p' };
    const plugin = algorithmPlugin({ estimator: placing, ...spyObjective(seen) }, (bind) => {
      bind(RolloutEngine).toConstantValue(engine);
      bind(RolloutFilter).toConstantValue(onlyP);
    });
    const { trainer, policy } = await trainerWith({ plugin, config: { generation: { engine: 'scripted', maxNewTokens: 8 } } });
    const { metrics } = await trainer.trainStep();
    expect(policy.calls).toHaveLength(0); // the policy's own sampler was not used
    // First round: both prompts; each refill asks for as many prompts as are missing.
    expect(requests[0]).toHaveLength(2);
    expect(requests.slice(1).every((r) => r.length >= 1)).toBe(true);
    expect(metrics['only_p/kept_groups']).toBeGreaterThanOrEqual(1);
    expect(metrics['only_p/rounds']).toBe(requests.length - 1);
    trainer.dispose();
  });

  it('moves π_ref with the reference schedules and trains an update participant with its own gradients', async () => {
    const seen: Seen[] = [];
    const steps: number[] = [];
    const schedule: ReferenceSchedule = {
      name: 'every-step',
      afterUpdate: ({ step, policy, reference }) => void (steps.push(step), reference.syncFrom(policy)),
    };
    const bias = tf.variable(tf.scalar(0.5), true, 'participant-bias');
    const applied: string[][] = [];
    const participant = {
      name: 'bias',
      trainableVariables: () => [bias],
      // A term that depends only on its own variable: (b − 2)², aggregated once per micro-batch.
      loss: () => ({ loss: tf.square(tf.sub(bias, 2)) as tf.Scalar, metrics: { bias: tf.clone(bias) as tf.Scalar } }),
      applyGradients: (grads: Record<string, tf.Tensor>) => {
        applied.push(Object.keys(grads));
        tf.dispose(Object.values(grads));
        return { 'bias/steps': 1 };
      },
    };
    const plugin = algorithmPlugin({ estimator: placing, ...spyObjective(seen), kl: { placement: 'loss', beta: 0.1 } }, (bind) => {
      bind(ReferenceSchedule).toConstantValue(schedule);
      bind(UpdateParticipant).toConstantValue(participant);
    });
    const { trainer, policy } = await trainerWith({ plugin });
    const { metrics } = await trainer.trainStep();
    expect(seen[0]!.hasRef).toBe(true); // KL in the loss: the objective gets π_ref
    expect(steps).toEqual([0]);
    // The schedule synced π_ref to the updated policy.
    const ref = trainer.reference!.tokenLogProbs({ prompts: [[1]], completions: [[3]] }).logprobs.arraySync();
    const cur = policy.tokenLogProbs({ prompts: [[1]], completions: [[3]] }).logprobs.arraySync();
    expect(ref).toEqual(cur);
    expect(applied).toEqual([['participant-bias']]);
    expect(metrics['bias/steps']).toBe(1);
    expect(metrics.bias).toBeCloseTo(0.5, 6);
    expect(trainer.components.map((c) => c.name)).toEqual(['bias']);
    trainer.dispose();
    bias.dispose();
  });

  it('keeps the number of tensors constant across steps', async () => {
    const seen: Seen[] = [];
    const { trainer } = await trainerWith({
      plugin: algorithmPlugin({ estimator: placing, ...spyObjective(seen), kl: { placement: 'loss', beta: 0.1 } }),
      config: { train: { microBatchSize: 2, numIterations: 2 } },
    });
    await trainer.trainStep();
    const before = tf.memory().numTensors;
    await trainer.trainStep();
    await trainer.trainStep();
    expect(tf.memory().numTensors).toBe(before);
    trainer.dispose();
  });
});

describe('sample logs', () => {
  it("carry the row's reference answer when its `answer` field is a string, and none otherwise", async () => {
    const seen: Seen[] = [];
    const plugin = algorithmPlugin({ estimator: placing, ...spyObjective(seen) });
    const policy = new FakePolicy({ chars: 'pqab', complete: () => 'a' });
    const config = { seed: 1, generation: { maxNewTokens: 4 }, train: { promptsPerStep: 1, groupSize: 2, maxGradNorm: 0, logSamplesEvery: 1 } };
    const withAnswer = await createTestTrainer({ config, plugins: [plugin], policy, rewards: [length], rows: [{ prompt: 'p', answer: 'ab' }] });
    const { samples } = await withAnswer.trainStep();
    expect(samples).toHaveLength(2);
    expect(samples.map((s) => s.reference)).toEqual(['ab', 'ab']);
    withAnswer.dispose();
    const numeric = await createTestTrainer({ config, plugins: [plugin], policy, rewards: [length], rows: [{ prompt: 'p', answer: 3 }] });
    const next = await numeric.trainStep();
    expect(next.samples.every((s) => !('reference' in s))).toBe(true);
    numeric.dispose();
  });
});

describe('non-finite values (issue 21, item 3)', () => {
  const aggregation: LossAggregation = {
    name: 'sum',
    aggregate: (perToken, mask) => tf.sum(tf.mul(perToken, mask)) as tf.Scalar,
  };
  /** Loss √(Σ 0·log π) = 0: finite, but its gradient is ∞·0 = NaN. */
  const nanGradient: Objective = {
    name: 'nan-gradient',
    loss: (input, agg, context) => ({ loss: tf.sqrt(agg.aggregate(tf.mul(input.logprobs, 0) as tf.Tensor2D, input.mask, context)) as tf.Scalar, metrics: {} }),
  };
  /** A plain REINFORCE loss that reports a NaN KL. */
  const nanKl: Objective = {
    name: 'nan-kl',
    loss: (input, agg, context) => ({
      loss: agg.aggregate(tf.neg(tf.mul(input.advantages, input.logprobs)) as tf.Tensor2D, input.mask, context),
      metrics: { kl: tf.scalar(Number.NaN) },
    }),
  };

  it('stops on a non-finite gradient norm, naming the step, and applies nothing', async () => {
    const { trainer, policy } = await trainerWith({ plugin: algorithmPlugin({ estimator: placing, objective: nanGradient, aggregation }) });
    const before = Array.from(policy.logits.dataSync());
    await expect(trainer.trainStep()).rejects.toThrow(
      /a non-finite gradient norm \(NaN\) at step 0 \(iteration 1 of 1, mini-batch 1 of 1\); this optimizer step was not applied and training stopped/,
    );
    expect(Array.from(policy.logits.dataSync())).toEqual(before);
    trainer.dispose();
  });

  it('stops on a non-finite KL and on non-finite log-probs', async () => {
    const kl = await trainerWith({ plugin: algorithmPlugin({ estimator: placing, objective: nanKl, aggregation }) });
    await expect(kl.trainer.trainStep()).rejects.toThrow(/a non-finite KL \(NaN\) at step 0/);
    kl.trainer.dispose();
    const seen: Seen[] = [];
    const { trainer, policy } = await trainerWith({ plugin: algorithmPlugin({ estimator: placing, ...spyObjective(seen) }) });
    tf.tidy(() => policy.logits.assign(tf.concat([tf.tensor1d([Number.NaN]), policy.logits.slice(1)])));
    await expect(trainer.trainStep()).rejects.toThrow(/\d+ non-finite π_θ log-probs? at step 0/);
    trainer.dispose();
  });

  it("with train.onNonFinite: 'skip', drops the update, logs it, and goes on", async () => {
    const { trainer, policy } = await trainerWith({
      plugin: algorithmPlugin({ estimator: placing, objective: nanGradient, aggregation }),
      config: { train: { onNonFinite: 'skip' } },
    });
    const before = Array.from(policy.logits.dataSync());
    const tensors = tf.memory().numTensors;
    const { metrics } = await trainer.trainStep();
    expect(metrics['train/skipped_nonfinite']).toBe(1);
    expect(Array.from(policy.logits.dataSync())).toEqual(before);
    expect(trainer.step).toBe(1);
    await trainer.trainStep();
    expect(tf.memory().numTensors).toBe(tensors);
    trainer.dispose();
  });
});

describe('an engine other than the trainer’s own sampler', () => {
  /**
   * An engine that samples with the policy but reports every token 2× less likely than the trainer
   * computes it (log π_engine = log π_trainer − ln 2), so each importance ratio is exactly 2.
   */
  function halvingEngine(policy: FakePolicy, extra: Partial<RolloutEngine> = {}): RolloutEngine & { syncs: number } {
    const engine = {
      name: 'halving',
      syncs: 0,
      generate: async (reqs: readonly { text: string; ids: readonly number[] }[], groupSize: number, options: Parameters<RolloutEngine['generate']>[2]) => {
        const groups = await policy.generate(
          reqs.map((r) => r.text),
          groupSize,
          options,
        );
        return groups.map((group, i) =>
          group.map((c) => {
            const trainer = tf.tidy(() => policy.tokenLogProbs({ prompts: [reqs[i]!.ids], completions: [c.tokenIds] }).logprobs.arraySync()[0]!);
            return { ...c, logprobs: c.tokenIds.map((_, t) => trainer[t]! - Math.LN2) };
          }),
        );
      },
      syncWeights: async () => void engine.syncs++,
      ...extra,
    };
    return engine;
  }

  /** An objective whose per-token loss is 1: the aggregation's result is then the mean token weight. */
  function weightProbe(weights: number[]): { objective: Objective; aggregation: LossAggregation } {
    const aggregation: LossAggregation = {
      name: 'token-mean',
      aggregate: (perToken, mask, context) => tf.div(tf.sum(tf.mul(perToken, mask)), context.totalTokens) as tf.Scalar,
    };
    const objective: Objective = {
      name: 'probe',
      loss: (input, agg, context) => {
        weights.push(agg.aggregate(tf.onesLike(input.mask) as tf.Tensor2D, input.mask, context).dataSync()[0]!);
        return { loss: agg.aggregate(tf.neg(tf.mul(input.advantages, input.logprobs)) as tf.Tensor2D, input.mask, context), metrics: {} };
      },
    };
    return { objective, aggregation };
  }

  async function stepWith(correction: Record<string, unknown>, extra: Partial<RolloutEngine> = {}) {
    const weights: number[] = [];
    const policy = new FakePolicy({ chars: 'pqab', complete: (prompt, i) => TEXTS[(prompt === 'q' ? i + 2 : i) % 4]! });
    const engine = halvingEngine(policy, extra);
    const plugin = algorithmPlugin({ estimator: placing, ...weightProbe(weights) }, (bind) => bind(RolloutEngine).toConstantValue(engine));
    const { trainer } = await trainerWith({ plugin, policy, config: { generation: { engine: 'halving', correction } as never } });
    return { trainer, engine, weights };
  }

  it('measures the mismatch and weights each token by the truncated ratio (on by default)', async () => {
    const { trainer, engine, weights } = await stepWith({});
    const { metrics } = await trainer.trainStep();
    expect(weights[0]).toBeCloseTo(2, 5); // ratio 2 under the default cap 3
    expect(metrics['mismatch/mismatch_kl']).toBeCloseTo(-Math.LN2, 5);
    expect(metrics['sampling/importance_sampling_ratio/max']).toBeCloseTo(2, 5);
    expect(metrics['timing/sync_weights']).toBeGreaterThanOrEqual(0);
    expect(metrics['timing/generate_tokens_per_sec']).toBeGreaterThan(0);
    // Synced once before the first rollout, then after each update (before the next rollout).
    expect(engine.syncs).toBe(1);
    await trainer.trainStep();
    expect(engine.syncs).toBe(2);
    trainer.dispose();
  });

  it('truncates at clipMax, masks above it, and leaves the loss alone when turned off (the mismatch still measured)', async () => {
    for (const [correction, expected] of [
      [{ clipMax: 1.5 }, 1.5],
      [{ mode: 'token_mask', clipMax: 1.5 }, 0],
      [{ mode: 'sequence_truncate' }, 3],
      [{ enabled: 'off' }, 1],
    ] as const) {
      const { trainer, weights } = await stepWith(correction);
      const { metrics } = await trainer.trainStep();
      expect(weights[0]).toBeCloseTo(expected, 5);
      expect(metrics['mismatch/mismatch_kl']).toBeCloseTo(-Math.LN2, 5);
      trainer.dispose();
    }
  });

  it('announces to an engine that samples ahead the next steps’ first generations exactly as generate gets them later, never past train.steps', async () => {
    const plans: PlannedGeneration[][] = [];
    const asked: Omit<PlannedGeneration, 'step'>[] = [];
    const policy = new FakePolicy({ chars: 'pqab', complete: (prompt, i) => TEXTS[(prompt === 'q' ? i + 2 : i) % 4]! });
    const halving = halvingEngine(policy);
    const engine: RolloutEngine = {
      ...halving,
      lookahead: 2,
      plan: async (generations) => void plans.push([...generations]),
      generate: (requests, groupSize, options) => {
        asked.push({ requests, groupSize, options });
        return halving.generate(requests, groupSize, options);
      },
    };
    const plugin = algorithmPlugin({ estimator: placing, ...weightProbe([]) }, (bind) => bind(RolloutEngine).toConstantValue(engine));
    const { trainer } = await trainerWith({ plugin, policy, config: { generation: { engine: 'halving' } as never, train: { steps: 4 } } });
    for (let s = 0; s < 4; s++) await trainer.trainStep();
    expect(plans.map((p) => p.map((g) => g.step))).toEqual([[1, 2], [2, 3], [3], []]);
    // Each announcement is the generation of its step (rows of the next epochs, reshuffled; the step's seed).
    for (const { step, ...generation } of plans.flat()) expect(generation).toEqual(asked[step]);
    expect(new Set(asked.map((a) => a.options.seed)).size).toBe(4);
    trainer.dispose();
  });

  it('fails loudly, naming the engine, when a weight sync runs over its timeout or the engine is unhealthy', async () => {
    const { trainer } = await stepWith({}, { syncWeights: (_p, { signal }) => new Promise((resolve) => signal.addEventListener('abort', () => resolve())) });
    (trainer.config.generation as { syncTimeoutSeconds: number }).syncTimeoutSeconds = 0.05;
    await expect(trainer.trainStep()).rejects.toThrow(
      /rollout engine 'halving' did not finish syncing weights within 0.05 s \(generation.syncTimeoutSeconds\)/,
    );
    trainer.dispose();
    const sick = await stepWith({}, { health: async () => ({ ok: false, detail: 'HTTP 503' }) });
    await expect(sick.trainer.train()).rejects.toThrow("rollout engine 'halving' is not healthy: HTTP 503");
    sick.trainer.dispose();
  });
});
