import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  AdamW,
  Algorithm,
  assembleContainer,
  DirectoryCheckpointer,
  Environment,
  EnvironmentError,
  environmentReward,
  JsonlMetricsSink,
  multiTurnGenerate,
  Policy,
  policyEngine,
  readMetrics,
  Trainer,
  type Completion,
  type EnvironmentStep,
  type GenerationRequest,
  type GrpoPlugin,
  type GrpoConfigInput,
  type RolloutEngine,
  type SamplingOptions,
} from '@grpo/core';
import { CharTokenizer } from '@grpo/plugin-tokenizers';
import { createPolicy, type TransformerPolicy } from '@grpo/plugin-transformer';
import { prepare } from '../../packages/core/src/pipeline/prepare.js';
import { estimate } from '../../packages/core/src/pipeline/estimate.js';
import { update } from '../../packages/core/src/pipeline/update.js';
import { scoreRollouts } from '../../packages/core/src/pipeline/score.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { tinyConfig, useWasm, withoutTimings } from './tiny-task.js';

beforeAll(useWasm);

const tokenizer = CharTokenizer.fromChars('abcd');
const tinyPolicy = () => createPolicy({ model: { dModel: 32, nLayers: 1, nHeads: 2, maxSeqLen: 40 }, tokenizer, seed: 11 });

/**
 * A game over the letters a–d: each model turn ends at `c` (the stop string); the environment
 * answers `dd` (two tokens the model did not sample) and rewards the turn with its share of `a`;
 * after three turns it is done.
 */
const lettersEnv = (overrides: Partial<Environment> = {}): Environment => ({
  name: 'letters',
  stop: ['c'],
  reset: () => undefined,
  step: (completion, { turn }): EnvironmentStep => ({
    done: turn >= 3,
    observation: 'dd',
    reward: completion.length ? [...completion].filter((ch) => ch === 'a').length / completion.length : 0,
    metrics: { 'letters/turns': 1 },
  }),
  ...overrides,
});

const sampling: SamplingOptions = { maxNewTokens: 5, temperature: 1, seed: 3 };
const options = { maxTurns: 4, maxTokens: 24, timeoutMs: 2000, onError: 'raise' as const };
const rows = [{ prompt: 'b' }, { prompt: 'db' }];
const requestsFor = (policy: TransformerPolicy) => rows.map((row) => ({ row, text: row.prompt, ids: policy.encodePrompt(row.prompt) }));

/** The policy's engine, recording every completion it returns for every request. */
function recordingEngine(policy: TransformerPolicy): { engine: RolloutEngine; calls: { requests: readonly GenerationRequest[]; out: Completion[][] }[] } {
  const inner = policyEngine(policy);
  const calls: { requests: readonly GenerationRequest[]; out: Completion[][] }[] = [];
  return {
    calls,
    engine: {
      name: 'recording',
      generate: async (requests, groupSize, opts) => {
        const out = await inner.generate(requests, groupSize, opts);
        calls.push({ requests, out });
        return out;
      },
    },
  };
}

describe('multi-turn rollouts (tiny transformer, wasm)', () => {
  it('keeps token ids = what the model sampled + what the environment appended, byte for byte, with the mask', async () => {
    const policy = tinyPolicy();
    const { engine, calls } = recordingEngine(policy);
    const out = await multiTurnGenerate(requestsFor(policy), 3, sampling, { engine, environment: lettersEnv(), tokenizer, options });
    const trajectories = out.flat();
    expect(trajectories).toHaveLength(6);
    // Independently rebuilt: each turn's sampled ids from the engine's own return values, then the observation's encoding.
    // Call k serves the trajectories that have a turn k, in sample order.
    let multiTurn = 0;
    trajectories.forEach((t, i) => {
      const request = requestsFor(policy)[Math.floor(i / 3)]!;
      const rebuilt: number[] = [];
      const mask: number[] = [];
      for (const [k, turn] of t.turns!.entries()) {
        const call = calls[k]!;
        const j = trajectories.slice(0, i).filter((other) => other.turns!.length > k).length;
        expect(call.requests[j]!.ids).toEqual([...request.ids, ...rebuilt]);
        expect(call.requests[j]!.continued).toBe(true);
        const ids = call.out[j]![0]!.tokenIds;
        rebuilt.push(...ids);
        mask.push(...ids.map(() => 1));
        expect(t.tokenIds.slice(turn.start, turn.end)).toEqual(ids);
        if (turn.observation) {
          const env = tokenizer.encode(turn.observation);
          rebuilt.push(...env);
          mask.push(...env.map(() => 0));
          expect(t.tokenIds.slice(turn.end, turn.observationEnd)).toEqual(env);
        }
      }
      expect(t.tokenIds).toEqual(rebuilt);
      expect(t.mask).toEqual(mask);
      expect(t.logprobs.filter((_, n) => mask[n] === 0).every((l) => l === 0)).toBe(true);
      expect(t.text).toBe(
        t.turns!.map((turn) => tokenizer.decode(t.tokenIds.slice(turn.start, turn.end), { skipSpecial: true }) + (turn.observation ?? '')).join(''),
      );
      if (t.turns!.length > 1) multiTurn++;
    });
    expect(multiTurn).toBeGreaterThan(0);
    // Reproducible from the seed.
    const again = await multiTurnGenerate(requestsFor(policy), 3, sampling, { engine: policyEngine(policy), environment: lettersEnv(), tokenizer, options });
    expect(again.flat().map((t) => t.tokenIds)).toEqual(trajectories.map((t) => t.tokenIds));
    policy.dispose();
  });

  it('gives the environment’s tokens exactly zero loss gradient (real GRPO objective, real update stage)', async () => {
    const policy = tinyPolicy();
    const out = await multiTurnGenerate(requestsFor(policy), 4, sampling, { engine: policyEngine(policy), environment: lettersEnv(), tokenizer, options });
    const rollouts = rows.map((row, i) => ({ row, prompt: row.prompt, promptIds: policy.encodePrompt(row.prompt), completions: out[i]! }));
    const scored = await scoreRollouts(rollouts, [{ name: 'len', score: ({ completions }) => completions.map((c) => c.length) }], {
      weights: {},
      timeoutMs: 1000,
      onError: 'raise',
      penalty: 0,
    });
    const config = await tinyConfig({ algorithm: { kl: { beta: 0.04 } } });
    const container = await assembleContainer(config);
    const algorithm = await container.getAsync<Algorithm>(Algorithm);
    const reference = policy.snapshot();
    const prepared = prepare(scored.groups, { policy, reference, needOldLogprobs: true, microBatchSize: 8 });
    const estimated = estimate(scored.groups, prepared, algorithm, { needsReturns: false });
    // A probe added to π_θ's log-probs: its gradient is the loss gradient with respect to each token position.
    const L = Math.max(...prepared.samples.map((s) => s.completionIds.length));
    const probe = tf.variable(tf.zeros([8, L]), true, 'probe');
    const probed = {
      ...policy,
      tokenLogProbs: (batch: Parameters<typeof policy.tokenLogProbs>[0], o?: { entropy?: boolean }) => {
        const r = policy.tokenLogProbs(batch, o);
        return { ...r, logprobs: tf.add(r.logprobs, probe.slice([0, 0], r.logprobs.shape)) as tf.Tensor2D };
      },
      trainableVariables: () => [...policy.trainableVariables(), probe],
    } as unknown as Policy;
    const captured: Record<string, number[][]> = {};
    class Capture extends AdamW {
      override apply(_vars: readonly tf.Variable[], grads: Readonly<Record<string, tf.Tensor>>): void {
        captured.probe = (grads.probe as tf.Tensor2D).arraySync();
      }
    }
    update(prepared, estimated, {
      policy: probed,
      algorithm,
      participants: [],
      optimizer: new Capture({ beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 }),
      learningRate: () => 1e-3,
      numIterations: 1,
      miniBatchSize: 8,
      maxGradNorm: 0,
      maxLength: 24,
      step: 0,
    });
    const samples = prepared.samples;
    let environmentPositions = 0;
    let nonZeroModel = 0;
    samples.forEach((s, i) => {
      const completion = scored.groups[Math.floor(i / 4)]!.completions[i % 4]!;
      completion.mask!.forEach((m, t) => {
        const g = captured.probe![i]![t]!;
        if (m === 0) {
          environmentPositions++;
          expect(Object.is(g, 0) || Object.is(g, -0)).toBe(true);
        } else if (g !== 0) nonZeroModel++;
      });
    });
    expect(environmentPositions).toBeGreaterThan(0);
    expect(nonZeroModel).toBeGreaterThan(0);
    // The model's tokens of EVERY turn, not only the last turn's, carry the trajectory's advantage: worked by hand,
    // seq-mean-token-mean at ρ = 1 with π_ref = π_θ (the k3 term's gradient is 1 − e^(ref − logp) = 0) gives each
    // model token ∂loss/∂logp_t = −A_i / (|o_i| · G), |o_i| the trajectory's model tokens, G = 8 trajectories.
    let laterTurnTokens = 0;
    samples.forEach((s, i) => {
      const completion = scored.groups[Math.floor(i / 4)]!.completions[i % 4]!;
      const modelTokens = completion.mask!.reduce((a, m) => a + m, 0);
      for (const [k, turn] of completion.turns!.entries())
        for (let t = turn.start; t < turn.end; t++) {
          expect(captured.probe![i]![t]!).toBeCloseTo(-estimated.advantages[i]![t]! / (modelTokens * samples.length), 6);
          if (k > 0 && estimated.advantages[i]![t] !== 0) laterTurnTokens++;
        }
    });
    expect(laterTurnTokens).toBeGreaterThan(0);
    probe.dispose();
    reference.dispose();
    policy.dispose();
  });

  it("ends a trajectory at the budget or the model's context, whichever comes first ('length')", async () => {
    const policy = createPolicy({ model: { dModel: 32, nLayers: 1, nHeads: 2, maxSeqLen: 12 }, tokenizer, seed: 11 });
    const endless = lettersEnv({ step: () => ({ done: false, observation: 'dd' }) });
    for (const [maxTokens, maxSeqLen] of [
      [7, undefined],
      [40, 12],
    ] as const) {
      const out = await multiTurnGenerate(requestsFor(policy), 3, sampling, {
        engine: policyEngine(policy),
        environment: endless,
        tokenizer,
        options: { ...options, maxTurns: 50, maxTokens },
        maxSeqLen,
      });
      for (const [i, t] of out.flat().entries()) {
        const promptLength = requestsFor(policy)[Math.floor(i / 3)]!.ids.length;
        expect(t.tokenIds.length).toBeLessThanOrEqual(Math.min(maxTokens, (maxSeqLen ?? Infinity) - promptLength));
        if (t.finishReason !== 'eos') expect(t.finishReason).toBe('length');
      }
    }
    policy.dispose();
  });

  describe('fault policy', () => {
    const run = (environment: Environment, onError: 'raise' | 'penalty', timeoutMs = 300) => {
      const policy = tinyPolicy();
      return multiTurnGenerate(requestsFor(policy), 2, sampling, {
        engine: policyEngine(policy),
        environment,
        tokenizer,
        options: { ...options, timeoutMs, onError },
      }).finally(() => policy.dispose());
    };
    const faulty = {
      throws: lettersEnv({
        step: (_c, { sample, turn }) => {
          if (sample === 3 && turn === 1) throw new Error('board exploded');
          return { done: true };
        },
      }),
      hangs: lettersEnv({ step: (_c, { sample }) => (sample === 3 ? new Promise<EnvironmentStep>(() => {}) : { done: true }) }),
      garbage: lettersEnv({ step: (_c, { sample }) => (sample === 3 ? ({ done: 'yes' } as unknown as EnvironmentStep) : { done: true }) }),
      nanReward: lettersEnv({ step: (_c, { sample }) => ({ done: true, reward: sample === 3 ? Number.NaN : 1 }) }),
    };
    it.each([
      ['throws', /step threw: board exploded on sample 3 \(prompt "db", turn 1, completion /],
      ['hangs', /step timed out after 300 ms on sample 3 \(prompt "db"/],
      ['garbage', /step returned done = "yes" \(expected true or false\) on sample 3 \(prompt "db"/],
      ['nanReward', /step returned reward NaN \(expected a finite number\) on sample 3/],
    ] as const)('raise: an environment that %s stops with an EnvironmentError naming it and the sample', async (kind, message) => {
      const error = await run(faulty[kind], 'raise').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EnvironmentError);
      expect((error as Error).message).toMatch(/^Environment 'letters': /);
      expect((error as Error).message).toMatch(message);
    });
    it.each(['throws', 'hangs', 'garbage'] as const)('penalty: an environment that %s ends that trajectory with the error kept', async (kind) => {
      const out = (await run(faulty[kind], 'penalty')).flat();
      expect(out[3]!.turns!.at(-1)!.error).toMatch(kind === 'hangs' ? /timed out/ : /./);
      expect(out.filter((t) => t.turns!.some((turn) => turn.error))).toHaveLength(1);
      const scores = await environmentReward('letters', -1).score({
        prompts: out.map(() => ''),
        completions: out.map((t) => t.text),
        completionIds: out.map((t) => t.tokenIds),
        finishReasons: out.map((t) => t.finishReason),
        rows: out.map(() => ({ prompt: '' })),
        turns: out.map((t) => t.turns),
      });
      expect(scores[3]).toBe(-1);
      expect(scores.filter((s) => s === -1)).toHaveLength(1);
    });
  });
});

describe('a training run with an environment', () => {
  const config = (dir: string, overrides: GrpoConfigInput = {}) =>
    tinyConfig(
      {
        generation: { maxNewTokens: 5, temperature: 1, environment: { maxTurns: 3, maxTokens: 20, timeoutMs: 2000 } },
        train: { steps: 4, promptsPerStep: 2, groupSize: 4, checkpointEvery: 2, logSamplesEvery: 1 },
        ...overrides,
      },
      dir,
      [{ meta: { name: 'letters-env', version: '0.0.0', core: '^0.1.0' }, register: ({ bind }) => void bind(Environment).toConstantValue(lettersEnv()) }],
    );
  const trainer = async (dir: string, overrides?: GrpoConfigInput) => {
    const container = await assembleContainer(await config(dir, overrides));
    container.bind(Policy).toConstantValue(createPolicy({ model: { dModel: 32, nLayers: 1, nHeads: 2, maxSeqLen: 40 }, tokenizer, seed: 11 }));
    return Trainer.fromContainer(container);
  };

  it('logs turns and the environment’s reward, and resumes exactly mid-run', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'grpo-multiturn-'));
    const straight = await trainer(dir);
    expect(straight.describe().environment).toBe('letters');
    expect(straight.describe().rewards.map((r) => r.name)).toEqual(['share_of_a', 'letters']);
    const straightSink = new JsonlMetricsSink(path.join(dir, 'straight'));
    await straight.train({ sinks: [straightSink] });
    straight.dispose();
    const metrics = await readMetrics(straightSink.file);
    expect(metrics[0]!['num_turns/mean']).toBeGreaterThan(1);
    expect(metrics[0]!['letters/turns']).toBe(metrics[0]!['num_turns/mean']);
    expect(metrics[0]!['rewards/letters/mean']).toBeGreaterThanOrEqual(0);

    const controller = new AbortController();
    const first = await trainer(dir);
    const checkpointer = new DirectoryCheckpointer(path.join(dir, 'resumed', 'checkpoints'));
    const firstSink = new JsonlMetricsSink(path.join(dir, 'resumed'));
    await first.train({
      checkpointer,
      sinks: [firstSink, { name: 'stop', log: (step) => void (step === 1 && controller.abort()) }],
      signal: controller.signal,
    });
    first.dispose();
    const second = await trainer(dir);
    expect((await checkpointer.restore((await checkpointer.latest())!, second)).step).toBe(2);
    const secondSink = new JsonlMetricsSink(path.join(dir, 'resumed'), { resumeStep: 2 });
    await second.train({ checkpointer, sinks: [secondSink] });
    second.dispose();
    expect((await readMetrics(secondSink.file)).map(withoutTimings)).toEqual(metrics.map(withoutTimings));
  });

  it('checks the environment at start-up, before the first step', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'grpo-multiturn-'));
    const broken: GrpoPlugin = {
      meta: { name: 'broken-env', version: '0.0.0', core: '^0.1.0' },
      register: ({ bind }) => void bind(Environment).toConstantValue(lettersEnv({ reset: () => 42 as unknown as string })),
    };
    const container = await assembleContainer(await tinyConfig({}, dir, [broken]));
    container.bind(Policy).toConstantValue(tinyPolicy());
    await expect(Trainer.fromContainer(container)).rejects.toThrow(
      /Environment 'letters': reset returned 42 \(expected a string or nothing\) in its start-up check \(reset, then step\(''\) on the first training row, "b"\)/,
    );
  });
});
