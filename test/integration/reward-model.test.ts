/**
 * Learned reward models end to end (tiny transformers on wasm):
 * - an ORM trained on rule-labelled samples of a policy tells right from wrong on held-out samples;
 * - a PRM trained on step labels finds the first wrong step of held-out solutions;
 * - GRPO driven only by the learned reward model (retrained after each RL iteration on the policy's
 *   new samples, labelled by the rule) raises the policy's rule-checked greedy accuracy.
 */
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  DirectoryCheckpointer,
  ArrayPromptDataset,
  assembleContainer,
  resolveConfig,
  Trainer,
  Policy,
  PromptDataset,
  RewardFunction,
  Rng,
  TrainerHook,
  type GrpoPlugin,
  type RewardExample,
  type RewardInput,
} from '@grpo/core';
import grpo from '@grpo/plugin-grpo';
import rewardModel, { labelSamples, TransformerRewardModel, type IterativeRewardModel } from '@grpo/plugin-reward-model';
import { CharTokenizer } from '@grpo/plugin-tokenizers';
import { createPolicy, type TransformerPolicy } from '@grpo/plugin-transformer';
import { beforeAll, describe, expect, it } from 'vitest';
import { useWasm, withoutTimings } from './tiny-task.js';

/** A GRPO trainer on the letter task without a reward model (for checkpoint compatibility checks). */
async function tinyTrainerFor(outputDir: string): Promise<Trainer> {
  const config = await resolveConfig(
    {
      seed: 5,
      outputDir,
      generation: { maxNewTokens: 6, temperature: 1 },
      train: { steps: 5, promptsPerStep: 4, groupSize: 4 },
      algorithm: { kl: { beta: 0.04 } },
      plugins: [task],
    },
    { source: 'test', defaults: [grpo()] },
  );
  const container = await assembleContainer(config);
  container.bind(Policy).toConstantValue(newPolicy());
  return Trainer.fromContainer(container);
}

beforeAll(useWasm);

/** The rule ("verifier") of the letter task: a completion is right when it contains an `a`. */
const hasA: RewardFunction = { name: 'has_a', score: ({ completions }) => completions.map((c) => (c.includes('a') ? 1 : 0)) };

const tokenizer = CharTokenizer.fromChars('abcd');
const prompts = ['b', 'c', 'd', 'bc', 'cd', 'db', 'cb', 'dc', 'bd', 'bb', 'cc', 'dd'];
const newPolicy = () => createPolicy({ model: { dModel: 32, nLayers: 1, nHeads: 2, maxSeqLen: 16 }, tokenizer, seed: 11 });
const newRm = () => TransformerRewardModel.create({ tokenizer, model: { dModel: 32, nLayers: 1, nHeads: 2, maxSeqLen: 16 }, seed: 4, name: 'rm' });

async function sampleInput(policy: TransformerPolicy, groupSize: number, seed: number, temperature = 1): Promise<RewardInput> {
  const groups = await policy.generate(prompts, groupSize, { maxNewTokens: 6, temperature, seed });
  const flat = groups.flatMap((g, i) => g.map((c) => ({ prompt: prompts[i]!, c })));
  return {
    prompts: flat.map((x) => x.prompt),
    completions: flat.map((x) => x.c.text),
    completionIds: flat.map((x) => x.c.tokenIds),
    finishReasons: flat.map((x) => x.c.finishReason),
    rows: flat.map((x) => ({ prompt: x.prompt })),
  };
}

/** The letter task as a plugin: prompts and the rule (given weight 0: logged, not trained on). */
const task: GrpoPlugin = {
  meta: { name: 'letter-task', version: '0.0.0', core: '^0.1.0' },
  register: ({ bind }) => {
    bind(PromptDataset).toConstantValue(
      new ArrayPromptDataset(
        'letters',
        prompts.map((prompt) => ({ prompt })),
      ),
    );
    bind(RewardFunction).toConstantValue(hasA);
  },
};

/** Rule-checked greedy accuracy of a policy over the prompts. */
async function greedyAccuracy(policy: TransformerPolicy): Promise<number> {
  const input = await sampleInput(policy, 1, 0, 0);
  const scores = (await hasA.score(input)) as number[];
  return scores.reduce((a, b) => a + b, 0) / scores.length;
}

describe('learned reward models (integration)', () => {
  it('ORM on rule-labelled policy samples: ≥ 90% held-out accuracy', async () => {
    const policy = newPolicy();
    const label = async (seed: number) => {
      const input = await sampleInput(policy, 16, seed);
      return labelSamples(input, await hasA.score(input), 'outcome').filter((e) => e.kind === 'outcome' && e.completion !== '');
    };
    const train = await label(1);
    const heldOut = await label(2);
    const positives = train.filter((e) => e.kind === 'outcome' && e.label === 1).length / train.length;
    const rm = newRm();
    const metrics = await rm.train(train, { epochs: 6, batchSize: 16, learningRate: 3e-3, eval: heldOut });
    console.log(
      `ORM: ${train.length} train / ${heldOut.length} held-out samples, ${(positives * 100).toFixed(0)}% right; held-out accuracy ${metrics['eval/outcome/accuracy']!.toFixed(3)}, AUC ${metrics['eval/outcome/auc']!.toFixed(3)}`,
    );
    expect(positives).toBeGreaterThan(0.2); // a real mix of right and wrong samples
    expect(positives).toBeLessThan(0.8);
    expect(metrics['eval/outcome/accuracy']).toBeGreaterThanOrEqual(0.9);
    expect(metrics['eval/outcome/auc']).toBeGreaterThanOrEqual(0.95);
    rm.dispose();
    policy.dispose();
  });

  it('PRM on step labels locates the first wrong step of most held-out solutions', async () => {
    // Solutions of 3 lines; a line is wrong when it contains a `d`, and every line after a wrong
    // one is wrong too (as the math task's step_correctness treats steps built on a wrong result).
    const tok = CharTokenizer.fromChars('abcd\n');
    const rng = new Rng(3);
    const line = () => Array.from({ length: 2 + rng.int(2) }, () => 'abcd'[rng.next() < 0.12 ? 3 : rng.int(3)]).join('');
    const make = (n: number): RewardExample[] =>
      Array.from({ length: n }, () => {
        const lines = [line(), line(), line()];
        let ok = true;
        let end = -1;
        const steps = lines.map((l) => {
          ok &&= !l.includes('d');
          end += l.length + 1;
          return { endChar: end, reward: ok ? 1 : 0 };
        });
        return { kind: 'process' as const, prompt: 'a', completion: lines.join('\n'), steps };
      });
    const train = make(400);
    const heldOut = make(150);
    const wrong = heldOut.filter((e) => e.kind === 'process' && e.steps.some((s) => s.reward === 0)).length;
    const prm = TransformerRewardModel.create({ tokenizer: tok, model: { dModel: 32, nLayers: 2, nHeads: 2, maxSeqLen: 16 }, seed: 2, mode: 'process' });
    const before = await prm.evaluate(heldOut);
    const metrics = await prm.train(train, { epochs: 6, batchSize: 16, learningRate: 3e-3, eval: heldOut });
    console.log(
      `PRM: held-out first-wrong-step accuracy ${metrics['eval/process/first_error_accuracy']!.toFixed(3)} ` +
        `(${metrics['eval/process/first_error_accuracy_wrong']!.toFixed(3)} on the ${wrong} solutions with a wrong step; untrained ${before['process/first_error_accuracy']!.toFixed(3)}), step AUC ${metrics['eval/process/step_auc']!.toFixed(3)}`,
    );
    expect(wrong).toBeGreaterThan(30);
    expect(metrics['eval/process/first_error_accuracy']).toBeGreaterThan(0.8);
    expect(metrics['eval/process/first_error_accuracy_wrong']).toBeGreaterThan(0.6);
    // Served as per-step rewards for the grpo-process estimator.
    const [served] = (await prm.score({
      prompts: ['a'],
      completions: ['ab\ncd\nbb'],
      completionIds: [[]],
      finishReasons: ['eos'],
      rows: [{ prompt: 'a' }],
    })) as {
      score: number;
      steps: { endChar: number; reward: number }[];
    }[];
    expect(served!.steps.map((s) => s.endChar)).toEqual([2, 5, 8]);
    expect(served!.steps[0]!.reward).toBeGreaterThan(0.5);
    expect(served!.steps[1]!.reward).toBeLessThan(0.5);
    prm.dispose();
  });

  it('GRPO driven by the learned reward model (iterative RL) raises rule-checked accuracy', async () => {
    const policy = newPolicy();
    const accuracyBefore = await greedyAccuracy(policy);
    // Initial reward model: trained on the initial policy's samples, labelled by the rule.
    const rm = newRm();
    const seedInput = await sampleInput(policy, 8, 7);
    await rm.train(labelSamples(seedInput, await hasA.score(seedInput), 'outcome'), { epochs: 4, batchSize: 16, learningRate: 3e-3 });

    const config = await resolveConfig(
      {
        ...{
          seed: 5,
          generation: { maxNewTokens: 6, temperature: 1 },
          train: { steps: 24, promptsPerStep: 4, groupSize: 8, learningRate: 1e-2, logSamplesEvery: 0 },
          algorithm: { kl: { beta: 0.04, refResetEvery: 8 } },
          rewards: { weights: { has_a: 0 } },
        },
        plugins: [task, rewardModel({ model: rm, iterative: { everySteps: 8, labeller: 'has_a', train: { epochs: 2, batchSize: 16, learningRate: 3e-3 } } })],
      },
      { source: 'test', defaults: [grpo()] },
    );
    const container = await assembleContainer(config);
    container.bind(Policy).toConstantValue(policy);
    const trainer = await Trainer.fromContainer(container);
    const hook = (await container.getAllAsync<TrainerHook>(TrainerHook))[0] as IterativeRewardModel;
    const history: Record<string, number>[] = [];
    await trainer.train({ sinks: [{ name: 'collect', log: (_step, m) => void history.push({ ...m }) }] });
    const accuracyAfter = await greedyAccuracy(policy);
    const sampled = (from: number, to: number) => history.slice(from, to).reduce((a, m) => a + m['rewards/has_a/mean']!, 0) / (to - from);
    console.log(
      `GRPO with the learned RM: greedy rule-checked accuracy ${accuracyBefore.toFixed(3)} → ${accuracyAfter.toFixed(3)}; ` +
        `sampled accuracy first 4 steps ${sampled(0, 4).toFixed(3)}, last 4 ${sampled(20, 24).toFixed(3)}; RM rounds ${hook.rounds.length}, history ${hook.history.length}`,
    );
    expect(hook.rounds).toHaveLength(3);
    expect(hook.rounds[1]!.metrics['rm/replayed_examples']).toBeGreaterThan(0);
    expect(accuracyAfter).toBeGreaterThanOrEqual(accuracyBefore + 0.3);
    expect(sampled(20, 24)).toBeGreaterThan(sampled(0, 4) + 0.2);
    trainer.dispose();
    rm.dispose();
    policy.dispose();
  });

  it('iterative RL resumes exactly: the reward model, its optimizer and the replay state are in the trainer checkpoint', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'rm-resume-'));
    // 5 steps, an RM round after steps 3 and (none after 5); the checkpoint after step 2 holds pending samples.
    const build = async () => {
      const policy = newPolicy();
      const rm = newRm();
      const config = await resolveConfig(
        {
          ...{
            seed: 5,
            outputDir: dir,
            generation: { maxNewTokens: 6, temperature: 1 },
            train: { steps: 5, promptsPerStep: 4, groupSize: 4, learningRate: 1e-2, logSamplesEvery: 0, checkpointEvery: 2 },
            algorithm: { kl: { beta: 0.04, refResetEvery: 3 } },
            rewards: { weights: { has_a: 0 } },
          },
          plugins: [task, rewardModel({ model: rm, iterative: { everySteps: 3, labeller: 'has_a', train: { batchSize: 8, learningRate: 3e-3 } } })],
        },
        { source: 'test', defaults: [grpo()] },
      );
      const container = await assembleContainer(config);
      container.bind(Policy).toConstantValue(policy);
      const trainer = await Trainer.fromContainer(container);
      const dispose = () => {
        trainer.dispose();
        rm.dispose();
        policy.dispose();
      };
      return { trainer, rm, hook: trainer.components.find((c) => c.name === 'reward-model/iterative') as IterativeRewardModel, dispose };
    };
    const probe = prompts.map((prompt) => ({ prompt, completion: `${prompt}a` }));
    const collect = (into: Record<string, number>[]) => ({
      name: 'collect',
      log: (_step: number, m: Record<string, number>) => void into.push(withoutTimings(m)),
    });

    const straight = await build();
    const straightMetrics: Record<string, number>[] = [];
    await straight.trainer.train({ sinks: [collect(straightMetrics)] });
    const straightScores = await straight.rm.outcomeScores(probe);

    const first = await build();
    const controller = new AbortController();
    const checkpointer = new DirectoryCheckpointer(path.join(dir, 'checkpoints'));
    const firstMetrics: Record<string, number>[] = [];
    await first.trainer.train({
      checkpointer,
      signal: controller.signal,
      sinks: [collect(firstMetrics), { name: 'stop', log: (step) => void (step === 1 && controller.abort()) }],
    });
    expect(first.hook.pending.length).toBeGreaterThan(0);
    const latest = (await checkpointer.latest())!;
    expect(await readdir(path.join(latest, 'components'))).toEqual([encodeURIComponent('reward-model/iterative')]);

    const second = await build();
    await checkpointer.restore(latest, second.trainer);
    expect(second.hook.pending).toEqual(first.hook.pending);
    const secondMetrics: Record<string, number>[] = [];
    await second.trainer.train({ sinks: [collect(secondMetrics)] });
    expect([...firstMetrics, ...secondMetrics]).toEqual(straightMetrics);
    expect(second.hook.rounds.map((r) => r.metrics)).toEqual(straight.hook.rounds.map((r) => r.metrics));
    expect(await second.rm.outcomeScores(probe)).toEqual(straightScores);

    // The same checkpoint without the iterative hook (a changed config) is refused, naming the hook.
    const plain = await tinyTrainerFor(dir);
    await expect(checkpointer.restore(latest, plain)).rejects.toThrow("holds state for 'reward-model/iterative' that this run does not have");
    // And a checkpoint of a run without it cannot resume a run with it.
    const plainDir = await new DirectoryCheckpointer(path.join(dir, 'plain')).save(plain);
    const third = await build();
    await expect(checkpointer.restore(plainDir, third.trainer)).rejects.toThrow("holds no state for 'reward-model/iterative' that this run has");
    plain.dispose();
    for (const x of [straight, first, second, third]) x.dispose();
  });

  it('a PRM drives the grpo-process estimator through the trainer, leaving no tensors behind', async () => {
    const policy = newPolicy();
    const prm = TransformerRewardModel.create({
      tokenizer,
      model: { dModel: 32, nLayers: 1, nHeads: 2, maxSeqLen: 16 },
      seed: 4,
      name: 'prm',
      mode: 'process',
    });
    const task: GrpoPlugin = {
      meta: { name: 'letter-task', version: '0.0.0', core: '^0.1.0' },
      register: ({ bind }) =>
        void bind(PromptDataset).toConstantValue(
          new ArrayPromptDataset(
            'letters',
            prompts.map((prompt) => ({ prompt })),
          ),
        ),
    };
    const config = await resolveConfig(
      {
        ...{
          seed: 5,
          generation: { maxNewTokens: 6, temperature: 1 },
          train: { steps: 3, promptsPerStep: 4, groupSize: 4, learningRate: 1e-2, logSamplesEvery: 0 },
          algorithm: { kl: { beta: 0 }, advantage: { estimator: 'grpo-process' } },
        },
        plugins: [task, rewardModel({ model: prm })],
      },
      { source: 'test', defaults: [grpo()] },
    );
    const container = await assembleContainer(config);
    container.bind(Policy).toConstantValue(policy);
    const trainer = await Trainer.fromContainer(container);
    const first = await trainer.trainStep(); // creates optimizer moments
    expect(first.metrics['rewards/prm/mean']).toBeGreaterThan(0);
    const before = tf.memory().numTensors;
    await trainer.trainStep();
    await trainer.trainStep();
    expect(tf.memory().numTensors).toBe(before);
    trainer.dispose();
    prm.dispose();
    policy.dispose();
  });
});
