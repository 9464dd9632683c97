/**
 * The KV cache carried across turns (`Policy.openTurns`, used by multi-turn rollouts): the same
 * trajectories as re-prefilling every turn, and per-token log-probs equal to an independent full
 * forward pass over each final trajectory.
 */
import * as tf from '@tensorflow/tfjs';
import { multiTurnGenerate, policyEngine, type Environment, type EnvironmentStep, type SamplingOptions } from '@grpo/core';
import { CharTokenizer } from '@grpo/plugin-tokenizers';
import { createPolicy, type TransformerPolicy } from '@grpo/plugin-transformer';
import { beforeAll, describe, expect, it } from 'vitest';
import { useWasm } from './tiny-task.js';

beforeAll(useWasm);

const tokenizer = CharTokenizer.fromChars('abcd');
const tinyPolicy = (seed = 5) => createPolicy({ model: { dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, maxSeqLen: 64 }, tokenizer, seed });

/** Turns end at `c`; the environment answers with `turn` letters `d` (observations of different lengths), done after four turns. */
const growingEnv: Environment = {
  name: 'growing',
  stop: ['c'],
  reset: (row) => (row.prompt === 'b' ? 'a' : undefined),
  step: (_completion, { turn }): EnvironmentStep => ({ done: turn >= 4, observation: 'd'.repeat(turn) }),
};

const rows = [{ prompt: 'b' }, { prompt: 'dab' }, { prompt: 'ca' }];
const requestsFor = (policy: TransformerPolicy) => rows.map((row) => ({ row, text: row.prompt, ids: policy.encodePrompt(row.prompt) }));
const options = { maxTurns: 5, maxTokens: 40, timeoutMs: 2000, onError: 'raise' as const };

/** log π(token | prefix) of every trajectory token, from one full forward pass of the policy over prompt + trajectory. */
function fullLogProbs(policy: TransformerPolicy, prompts: number[][], trajectories: number[][]): number[][] {
  const values = tf.tidy(() => policy.tokenLogProbs({ prompts, completions: trajectories }).logprobs.arraySync());
  return trajectories.map((t, i) => values[i]!.slice(0, t.length));
}

describe('KV cache across turns', () => {
  it.each([
    ['sampled (temperature 1)', { maxNewTokens: 6, temperature: 1, seed: 7 }],
    ['greedy', { maxNewTokens: 6, temperature: 0, seed: 7 }],
  ] as [string, SamplingOptions][])('gives the re-prefill path’s trajectories and the full forward pass’s log-probs (%s)', async (_name, sampling) => {
    const policy = tinyPolicy();
    const requests = requestsFor(policy);
    const context = { engine: policyEngine(policy), environment: growingEnv, tokenizer, options, maxSeqLen: policy.maxSeqLen };
    const before = tf.memory().numTensors;
    const cached = (await multiTurnGenerate(requests, 3, sampling, context)).flat();
    expect(tf.memory().numTensors).toBe(before);
    const prefilled = (await multiTurnGenerate(requests, 3, sampling, { ...context, kvCache: false })).flat();

    // Several turns with observations of different lengths, so chunks are padded and the cache has holes.
    expect(Math.max(...cached.map((t) => t.turns!.length))).toBeGreaterThanOrEqual(3);
    expect(new Set(cached.map((t) => t.tokenIds.length)).size).toBeGreaterThan(1);
    expect(cached.map((t) => t.tokenIds)).toEqual(prefilled.map((t) => t.tokenIds));
    expect(cached.map((t) => t.mask)).toEqual(prefilled.map((t) => t.mask));
    expect(cached.map((t) => t.turns)).toEqual(prefilled.map((t) => t.turns));
    cached.forEach((t, i) => t.logprobs.forEach((l, n) => expect(Math.abs(l - prefilled[i]!.logprobs[n]!)).toBeLessThan(1e-4)));

    // Independent: the policy's own training forward pass over each whole trajectory (temperature 1 samples from π itself).
    if (sampling.temperature === 1) {
      const prompts = cached.map((_, i) => requests[Math.floor(i / 3)]!.ids);
      const full = fullLogProbs(
        policy,
        prompts,
        cached.map((t) => t.tokenIds),
      );
      let checked = 0;
      cached.forEach((t, i) =>
        t.mask!.forEach((m, n) => {
          if (m === 0) return;
          expect(Math.abs(t.logprobs[n]! - full[i]![n]!)).toBeLessThan(1e-4);
          checked++;
        }),
      );
      expect(checked).toBeGreaterThan(30);
    }
    policy.dispose();
  });

  it('starts a trajectory over when its ids do not extend the cache, forgets the ones left out, and frees everything on dispose', async () => {
    const policy = tinyPolicy(9);
    const sampling = { maxNewTokens: 4, temperature: 1, seed: 1 };
    const fresh = async (ids: number[][], seed: number) =>
      (await policy.generateFromIds(ids, 1, { ...sampling, seed })).map((g) => ({ tokenIds: g[0]!.tokenIds, logprobs: g[0]!.logprobs }));
    const before = tf.memory().numTensors;
    const session = policy.openTurns();
    const a = tokenizer.encode('ab');
    const b = tokenizer.encode('dcba');
    const first = await session.generate(
      [
        { key: 0, ids: [tokenizer.bosId, ...a] },
        { key: 1, ids: [tokenizer.bosId, ...b] },
      ],
      sampling,
    );
    const extended = [tokenizer.bosId, ...a, ...first[0]!.tokenIds, ...tokenizer.encode('dd')];
    // Key 1 comes back with different ids (not an extension of its cache), key 2 is new, key 0 continues.
    const turns = [
      { key: 2, ids: [tokenizer.bosId, ...tokenizer.encode('c')] },
      { key: 0, ids: extended },
      { key: 1, ids: [tokenizer.bosId, ...tokenizer.encode('aaa')] },
    ];
    const second = await session.generate(turns, { ...sampling, seed: 2 });
    const expected = await fresh(
      turns.map((t) => t.ids),
      2,
    );
    expect(second.map((c) => c.tokenIds)).toEqual(expected.map((c) => c.tokenIds));
    second.forEach((c, i) => c.logprobs.forEach((l, n) => expect(Math.abs(l - expected[i]!.logprobs[n]!)).toBeLessThan(1e-4)));
    session.dispose();
    expect(tf.memory().numTensors).toBe(before);
    await expect(session.generate(turns, sampling)).rejects.toThrow(/disposed/);
    policy.dispose();
  });
});
