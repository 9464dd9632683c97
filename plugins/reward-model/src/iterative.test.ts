import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setupBackend } from '@grpo/plugin-backend-wasm';
import {
  assembleContainer,
  CheckpointError,
  CliCommand,
  ConfigError,
  ReferenceSchedule,
  resolveConfig,
  GrpoError,
  Rng,
  RewardFunction,
  TrainerHook,
  type FrozenPolicy,
  type GrpoPlugin,
  type Policy,
  type RewardExample,
  type ScoredGroup,
} from '@grpo/core';
import { CharTokenizer } from '@grpo/plugin-tokenizers';
import { beforeAll, describe, expect, it } from 'vitest';
import rewardModel, { IterativeRewardModel, labelSamples, replayMix, TransformerRewardModel } from './index.js';

beforeAll(async () => {
  if (tf.getBackend() !== 'wasm') await setupBackend('wasm');
});

const tokenizer = CharTokenizer.fromChars('0123456789+-=# \n');
const tiny = () => TransformerRewardModel.create({ tokenizer, model: { dModel: 16, nLayers: 1, nHeads: 2, maxSeqLen: 32 }, seed: 1 });

/**
 * Rule-based labellers, written like the math task's verifiers (which label these samples alike; the
 * math task's own are checked in test/integration/reward-model-math-task.test.ts): `answerRule`
 * scores 1 when the `#### n` answer is the row's (`task_accuracy`); `stepRule` marks each `a+b=c`
 * line right or wrong at its end (`step_correctness`).
 */
const answerRule: RewardFunction = {
  name: 'answer_rule',
  score: ({ completions, rows }) => completions.map((c, i) => (/#### (\d+)/.exec(c)?.[1] === String(rows[i]!.answer) ? 1 : 0)),
};
const stepRule: RewardFunction = {
  name: 'step_rule',
  score: ({ completions }) =>
    completions.map((c) => {
      let start = 0;
      const steps = c.split('\n').flatMap((line) => {
        const end = start + line.length;
        start = end + 1;
        const m = /^(\d+)\+(\d+)=(\d+)$/.exec(line);
        return m ? [{ endChar: end, reward: Number(m[1]) + Number(m[2]) === Number(m[3]) ? 1 : 0 }] : [];
      });
      return { score: null, steps };
    }),
};

function group(prompt: string, answer: string, texts: string[]): ScoredGroup {
  return {
    row: { prompt, answer, numbers: [1, 2] },
    prompt,
    promptIds: [],
    completions: texts.map((text) => ({ text, tokenIds: tokenizer.encode(text), logprobs: [], finishReason: 'eos' as const })),
    rewards: texts.map(() => 0),
    rewardsByFunction: {},
    unscored: texts.map(() => false),
  };
}

describe('replay and labelling', () => {
  it('mixes every fresh example with historical ones making up the replay fraction', () => {
    const fresh = Array.from({ length: 90 }, (_, i) => i);
    const history = Array.from({ length: 50 }, (_, i) => 1000 + i);
    const mix = replayMix(fresh, history, 0.1, new Rng(1));
    expect(mix).toHaveLength(100); // 90 fresh + round(90·0.1/0.9) = 10 old
    expect(mix.slice(0, 90)).toEqual(fresh);
    const old = mix.slice(90);
    expect(new Set(old).size).toBe(10);
    for (const x of old) expect(history).toContain(x);
    expect(replayMix(fresh, history.slice(0, 4), 0.1, new Rng(1))).toHaveLength(94); // capped by the history
    expect(replayMix(fresh, history, 0, new Rng(1))).toEqual(fresh);
    expect(() => replayMix(fresh, history, 1, new Rng(1))).toThrow(GrpoError);
    expect(() => replayMix(fresh, history, 1, new Rng(1))).toThrow('replayMix: replayFraction must be in [0, 1), got 1');
  });

  it('labels samples with the rule-based verifiers (outcome and process)', async () => {
    const input = {
      prompts: ['q\n', 'q\n', 'q\n'],
      completions: ['1+2=3\n#### 3', '1+2=4\n#### 4', ''],
      completionIds: [[], [], []],
      finishReasons: ['eos', 'eos', 'length'] as const,
      rows: [
        { prompt: 'q\n', answer: '3', numbers: [1, 2] },
        { prompt: 'q\n', answer: '3', numbers: [1, 2] },
        { prompt: 'q\n', answer: '3', numbers: [1, 2] },
      ],
    };
    const outcome = labelSamples(input, await answerRule.score(input), 'outcome');
    expect(outcome).toEqual([
      { kind: 'outcome', prompt: 'q\n', completion: '1+2=3\n#### 3', label: 1 },
      { kind: 'outcome', prompt: 'q\n', completion: '1+2=4\n#### 4', label: 0 },
    ]);
    const process = labelSamples(input, await stepRule.score(input), 'process');
    expect(process.map((e) => e.kind === 'process' && e.steps)).toEqual([[{ endChar: 5, reward: 1 }], [{ endChar: 5, reward: 0 }]]);
  });
});

describe('IterativeRewardModel hook', () => {
  it('collects each step’s samples, trains after every iteration with replay, and resets π_ref', async () => {
    const rm = tiny();
    const syncs: Policy[] = [];
    const policy = { name: 'policy' } as unknown as Policy;
    const reference = { syncFrom: (p: Policy) => syncs.push(p) } as unknown as FrozenPolicy;
    const rounds: Record<string, number>[] = [];
    const hook = new IterativeRewardModel(rm, {
      everySteps: 2,
      labeller: answerRule,
      replayFraction: 0.5,
      train: { batchSize: 4 },
      onIteration: (r) => rounds.push(r.metrics),
    }).attach({ policy, reference });
    const right = '1+2=3\n#### 3';
    const wrong = '1+2=4\n#### 4';
    let freshBefore: Record<string, number> = {};
    for (let step = 0; step < 4; step++) {
      await hook.onRollouts({ step, groups: [group('q\n', '3', [right, wrong, wrong])] });
      if (step === 1) freshBefore = await rm.evaluate(hook.pending);
      await hook.onStepEnd({ step, metrics: {}, samples: [] });
      expect(syncs).toHaveLength(step < 1 ? 0 : step < 3 ? 1 : 2);
    }
    expect(rounds).toHaveLength(2);
    // The round reports how the model judged the new samples before training on them.
    expect(rounds[0]!['rm/fresh_accuracy']).toBe(freshBefore['outcome/accuracy']);
    expect(rounds[0]!['rm/fresh_auc']).toBe(freshBefore['outcome/auc']);
    expect(rounds[0]).toMatchObject({ 'rm/new_examples': 6, 'rm/replayed_examples': 0, 'rm/examples': 6, 'rm/positive_frac': 1 / 3, 'rm/reference_reset': 1 });
    // Second round: 6 new + 6 old (half the mix, replayFraction 0.5).
    expect(rounds[1]).toMatchObject({ 'rm/new_examples': 6, 'rm/replayed_examples': 6, 'rm/examples': 12 });
    expect(hook.history).toHaveLength(12);
    expect(hook.pending).toHaveLength(0);
    expect(rm.steps).toBe(2 + 3);
    expect(syncs.every((p) => p === policy)).toBe(true);
    rm.dispose();
  });

  it('saves and restores its state (model, optimizer, history, pending, replay RNG): a resumed run continues exactly', async () => {
    const right = '1+2=3\n#### 3';
    const wrong = '1+2=4\n#### 4';
    const make = () => {
      const rm = tiny();
      return { rm, hook: new IterativeRewardModel(rm, { everySteps: 2, labeller: answerRule, replayFraction: 0.5, train: { batchSize: 4 } }) };
    };
    const feed = async (hook: IterativeRewardModel, step: number) => {
      await hook.onRollouts({ step, groups: [group('q\n', '3', step % 2 ? [wrong, right] : [right, wrong, wrong])] });
      await hook.onStepEnd({ step, metrics: {}, samples: [] });
    };
    const probe = [
      { prompt: 'q\n', completion: right },
      { prompt: 'q\n', completion: wrong },
    ];
    // Straight: steps 0..5. Resumed: steps 0..2, save, a fresh model and hook load, steps 3..5.
    const straight = make();
    for (let step = 0; step < 6; step++) await feed(straight.hook, step);
    const first = make();
    for (let step = 0; step < 3; step++) await feed(first.hook, step);
    const dir = await mkdtemp(join(tmpdir(), 'rm-iter-'));
    await first.hook.saveState(dir);
    const resumed = make();
    await resumed.hook.loadState(dir);
    expect(resumed.hook.pending).toEqual(first.hook.pending);
    expect(resumed.hook.history).toEqual(first.hook.history);
    expect(resumed.rm.steps).toBe(first.rm.steps);
    for (let step = 3; step < 6; step++) await feed(resumed.hook, step);
    expect(resumed.hook.history).toEqual(straight.hook.history);
    expect(resumed.hook.rounds.map((r) => r.metrics)).toEqual(straight.hook.rounds.map((r) => r.metrics));
    expect(await resumed.rm.outcomeScores(probe)).toEqual(await straight.rm.outcomeScores(probe));

    // Damaged state is a CheckpointError naming the file; the model is left as it was.
    await writeFile(join(dir, 'history.jsonl'), '{"prompt": "q"}\n');
    await expect(make().hook.loadState(dir)).rejects.toThrow(/history\.jsonl:1: missing field 'completion'/);
    await writeFile(join(dir, 'state.json'), '{"format": "other"}');
    await expect(make().hook.loadState(dir)).rejects.toThrow(CheckpointError);
    for (const x of [straight, first, resumed]) x.rm.dispose();
  });

  /** The container of a config whose plugins are `plugins` (grpo's section is not needed here). */
  const containerOf = async (plugins: GrpoPlugin[], source = 'test') => assembleContainer(await resolveConfig({ plugins }, { source }));

  it('the plugin binds the model as a named reward, the hook, a reference reset per round, and `grpo rm`', async () => {
    const rm = tiny();
    // The labeller, by name: a reward another plugin binds (as the math task binds `task_accuracy`).
    const rules: GrpoPlugin = {
      meta: { name: 'rules', version: '0.0.0', core: '^0.1.0' },
      register: ({ bind }) => void bind(RewardFunction).toConstantValue(answerRule),
    };
    const plugin = rewardModel({ model: rm, iterative: { everySteps: 3, labeller: 'answer_rule' } });
    expect(plugin.meta).toEqual({ name: '@grpo/plugin-reward-model', version: '0.1.0', core: '^0.1.0' });
    const ok = await containerOf([rules, plugin]);
    expect(await ok.getAllAsync<RewardFunction>(RewardFunction)).toContain(rm);
    const hooks = await ok.getAllAsync<TrainerHook>(TrainerHook);
    expect(hooks).toHaveLength(1);
    expect(hooks[0]).toBeInstanceOf(IterativeRewardModel);
    expect((await ok.getAllAsync<TrainerHook>(TrainerHook))[0]).toBe(hooks[0]); // one hook per run: the trainer and the caller see the same
    expect((hooks[0] as IterativeRewardModel).options.labeller).toBe(answerRule);
    expect(ok.getAll<CliCommand>(CliCommand).map((c) => c.name)).toEqual(['rm']);
    // π_ref ← π_θ after every round (steps 3, 6, …), whatever algorithm.kl says.
    const [schedule] = ok.getAll<ReferenceSchedule>(ReferenceSchedule);
    const synced: number[] = [];
    for (let step = 0; step < 6; step++)
      schedule!.afterUpdate({ step, policy: {} as Policy, reference: { syncFrom: () => void synced.push(step) } as unknown as FrozenPolicy });
    expect(synced).toEqual([2, 5]);
    // Without a model the plugin only adds the command; resetReference: false binds no schedule.
    const commandOnly = await containerOf([rewardModel()]);
    expect(commandOnly.isBound(RewardFunction)).toBe(false);
    expect(commandOnly.getAll<CliCommand>(CliCommand).map((c) => c.name)).toEqual(['rm']);
    const noReset = await containerOf([rules, rewardModel({ model: rm, iterative: { everySteps: 3, labeller: 'answer_rule', resetReference: false } })]);
    expect(noReset.isBound(ReferenceSchedule)).toBe(false);
    rm.dispose();
  });

  it('a labeller given by name must be a reward another plugin binds; otherwise a config error lists the bound ones', async () => {
    const rm = tiny();
    const bindReward = (reward: RewardFunction): GrpoPlugin => ({
      meta: { name: `bind-${reward.name}`, version: '0.0.0', core: '^0.1.0' },
      register: ({ bind }) => void bind(RewardFunction).toConstantValue(reward),
    });
    // No built-in fallback: 'task_accuracy' is the math task's reward, so without that plugin it is unknown.
    const unbound = rewardModel({ model: rm, iterative: { everySteps: 2, labeller: 'task_accuracy' } });
    const withOthers = await containerOf([bindReward(answerRule), bindReward(stepRule), unbound], 'grpo.config.ts');
    await expect(withOthers.getAllAsync<TrainerHook>(TrainerHook)).rejects.toThrow(ConfigError);
    await expect(withOthers.getAllAsync<TrainerHook>(TrainerHook)).rejects.toThrow(
      "plugins[@grpo/plugin-reward-model].iterative.labeller: no reward function named 'task_accuracy' is bound (the rewards bound besides this reward model are 'answer_rule', 'step_rule'); " +
        "the labeller must be a reward that another plugin binds (e.g. the math task's 'task_accuracy': add mathTask() to plugins) or a RewardFunction passed in",
    );
    const alone = await containerOf([unbound]);
    await expect(alone.getAllAsync<TrainerHook>(TrainerHook)).rejects.toThrow(
      "no reward function named 'task_accuracy' is bound (no reward is bound besides this reward model ('rm'))",
    );
    // The model cannot label its own samples.
    const itself = await containerOf([rewardModel({ model: rm, iterative: { everySteps: 2, labeller: 'rm' } })]);
    await expect(itself.getAllAsync<TrainerHook>(TrainerHook)).rejects.toThrow("no reward function named 'rm' is bound");
    // A RewardFunction passed in needs no binding.
    const given = await containerOf([rewardModel({ model: rm, iterative: { everySteps: 2, labeller: stepRule } })]);
    expect(((await given.getAllAsync<TrainerHook>(TrainerHook))[0] as IterativeRewardModel).options.labeller).toBe(stepRule);
    rm.dispose();
  });

  it('bad options are config errors naming the option (every problem at once), from the config and from the hook', async () => {
    const rm = tiny();
    const problems = async (plugin: GrpoPlugin) =>
      resolveConfig({ plugins: [plugin] }, { source: 'test' }).then(
        () => [],
        (e: unknown) => (e as ConfigError).issues.map((i) => `${i.path}: ${i.message}`),
      );
    expect(await problems(rewardModel({ model: rm, iterative: { everySteps: 0, labeller: answerRule } }))).toEqual([
      'plugins[@grpo/plugin-reward-model].iterative.everySteps: expected an integer ≥ 1, got 0',
    ]);
    expect(await problems(rewardModel({ iterative: { everySteps: 2.5, labeller: answerRule, replayFraction: 1 } }))).toEqual([
      'plugins[@grpo/plugin-reward-model].iterative.everySteps: expected an integer ≥ 1, got 2.5',
      'plugins[@grpo/plugin-reward-model].iterative.replayFraction: expected a number in [0, 1), got 1',
    ]);
    expect(await problems(rewardModel({ iterative: { everySteps: 2, labeller: answerRule } }))).toEqual([
      'plugins[@grpo/plugin-reward-model]: iterative RL needs a reward model: give checkpoint or model',
    ]);
    expect(() => new IterativeRewardModel(rm, { everySteps: 0, labeller: answerRule })).toThrow(ConfigError);
    expect(() => new IterativeRewardModel(rm, { everySteps: 1, labeller: answerRule, replayFraction: -0.1 })).toThrow(
      'iterative.replayFraction: expected a number in [0, 1), got -0.1',
    );
    rm.dispose();
  });

  it('unlabelled samples are skipped', () => {
    const ex: RewardExample[] = labelSamples(
      { prompts: ['p', 'p'], completions: ['a', 'b'], completionIds: [[], []], finishReasons: ['eos', 'eos'], rows: [{ prompt: 'p' }, { prompt: 'p' }] },
      [null, { score: 0.7 }],
      'outcome',
    );
    expect(ex).toEqual([{ kind: 'outcome', prompt: 'p', completion: 'b', label: 1 }]);
  });
});
