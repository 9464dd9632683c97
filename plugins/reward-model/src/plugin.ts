import { CliCommand, ConfigError, definePlugin, field, ReferenceSchedule, RewardFunction, TrainerHook } from '@grpo/core';
import { z } from 'zod';
import { rmCommand } from './command.js';
import { IterativeRewardModel } from './iterative.js';
import { TransformerRewardModel } from './scoring.js';

export const meta = { name: '@grpo/plugin-reward-model', version: '0.1.0', core: '^0.1.0' } as const;

const { fractionBelowOne, int } = field;

const isRewardFunction = (v: unknown): v is RewardFunction =>
  typeof v === 'object' && v !== null && typeof (v as RewardFunction).name === 'string' && typeof (v as RewardFunction).score === 'function';

/** `rewardModel(options)`, validated with the config (problems are reported under `plugins[@grpo/plugin-reward-model]`). */
export const rewardModelOptionsSchema = z
  .strictObject({
    checkpoint: z
      .string()
      .min(1)
      .optional()
      .describe('A reward-model checkpoint directory (written by `grpo rm train`); absent: the plugin only adds `grpo rm`.'),
    model: z.instanceof(TransformerRewardModel).optional().describe('Or a model built in code (a TypeScript config).'),
    name: z.string().min(1).optional().describe('Reward-function name; default `rm`.'),
    mode: z.enum(['outcome', 'process', 'preference']).optional(),
    output: z.enum(['probability', 'logit']).optional(),
    pooling: z.enum(['last', 'noisy-and']).optional(),
    processScore: z.enum(['min', 'last']).optional(),
    steps: z.strictObject({ separator: z.string().optional(), stopAt: z.string().optional() }).optional(),
    batchSize: int(1).optional(),
    iterative: z
      .strictObject({
        everySteps: int(1).describe('Steps per RL iteration; the reward model trains after each.'),
        labeller: z
          .union([z.string().min(1), z.custom<RewardFunction>(isRewardFunction)], {
            error: () => 'expected the name of a bound reward function, or a RewardFunction',
          })
          .describe('Labels new samples: a RewardFunction, or the name of a reward another plugin binds (weight 0 logs it without training on it).'),
        labels: z.enum(['outcome', 'process']).optional(),
        threshold: z.number().optional(),
        replayFraction: fractionBelowOne().optional(),
        maxHistory: int(1).optional(),
        resetReference: z.boolean().optional().describe('Reset π_ref ← π_θ after each iteration (default true).'),
        train: z.record(z.string(), z.unknown()).optional().describe("Options of each round's training (epochs, learningRate, …)."),
        seed: int(0).optional(),
        onIteration: z.custom<(record: { step: number; metrics: Record<string, number> }) => void>((v) => typeof v === 'function').optional(),
      })
      .optional(),
  })
  .refine((o) => !(o.checkpoint && o.model), { message: 'give checkpoint or model, not both' })
  .refine((o) => !o.iterative || o.checkpoint || o.model, { message: 'iterative RL needs a reward model: give checkpoint or model' })
  .prefault({});

export type RewardModelPluginOptions = z.input<typeof rewardModelOptionsSchema>;

/**
 * Adds `grpo rm` (train and evaluate reward models) and, with `checkpoint` or `model`, binds the
 * reward model as a `RewardFunction` (named `name`, default `rm`; loaded after the tensor backend
 * is set up). With `iterative` it also binds the `TrainerHook` that keeps training it on the
 * policy's new samples, and a `ReferenceSchedule` that resets π_ref after each round.
 */
export const rewardModel = definePlugin({
  meta,
  options: rewardModelOptionsSchema,
  register({ bind, config, options }) {
    bind<CliCommand>(CliCommand).toConstantValue(rmCommand);
    const { checkpoint, model: given, iterative, ...scoring } = options;
    if (!checkpoint && !given) return;
    // One token per plugin instance: an ORM and a PRM can be loaded side by side.
    const Model = Symbol('reward-model');
    bind<TransformerRewardModel>(Model)
      .toDynamicValue(async () => given ?? TransformerRewardModel.load(checkpoint!, scoring))
      .inSingletonScope();
    bind<RewardFunction>(RewardFunction).toDynamicValue((ctx) => ctx.getAsync<TransformerRewardModel>(Model));
    if (!iterative) return;
    const { labeller, train, ...rest } = iterative;
    bind<TrainerHook>(TrainerHook)
      .toDynamicValue(async (ctx) => {
        const rm = await ctx.getAsync<TransformerRewardModel>(Model);
        if (typeof labeller !== 'string') return new IterativeRewardModel(rm, { ...rest, train: train as never, labeller });
        const others = (await ctx.getAllAsync<RewardFunction>(RewardFunction)).filter((r) => r !== rm);
        const fn = others.find((r) => r.name === labeller);
        if (!fn) {
          const bound = others.length
            ? `the rewards bound besides this reward model are ${others.map((r) => `'${r.name}'`).join(', ')}`
            : `no reward is bound besides this reward model ('${rm.name}')`;
          throw new ConfigError(config.source, [
            {
              path: 'plugins[@grpo/plugin-reward-model].iterative.labeller',
              message: `no reward function named '${labeller}' is bound (${bound}); the labeller must be a reward that another plugin binds (e.g. the math task's 'task_accuracy': add mathTask() to plugins) or a RewardFunction passed in`,
            },
          ]);
        }
        return new IterativeRewardModel(rm, { ...rest, train: train as never, labeller: fn });
      })
      .inSingletonScope();
    if (iterative.resetReference ?? true)
      bind<ReferenceSchedule>(ReferenceSchedule).toConstantValue({
        name: 'reward-model/iterative',
        afterUpdate: ({ step, policy, reference }) => {
          if ((step + 1) % iterative.everySteps === 0) reference.syncFrom(policy);
        },
      });
  },
});
