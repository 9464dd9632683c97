import {
  AdvantageEstimator,
  definePlugin,
  field,
  GrpoConfig,
  GrpoError,
  KlEstimator,
  Objective,
  Policy,
  selectNamed,
  UpdateParticipant,
  type ResolvedConfig,
} from '@grpo/core';
import { AlgorithmDefaults, klEstimators, surrogateOptionsFromConfig } from '@grpo/plugin-grpo';
import { modelSchema } from '@grpo/plugin-transformer';
import { z } from 'zod';
import { CriticParticipant } from './critic.js';
import { gae } from './gae.js';
import { KlController } from './kl-controller.js';
import { ppoObjective } from './objective.js';
import { TransformerValueModel } from './value-model.js';

export const PLUGIN_NAME = '@grpo/plugin-ppo';
export const PLUGIN_VERSION = '0.1.0';

const { fraction, int, nonNegative, positive } = field;

/** `ppo(options)`: validated with the config (problems are reported under `plugins[@grpo/plugin-ppo]`). */
export const ppoOptionsSchema = z
  .strictObject({
    critic: z
      .strictObject({
        model: modelSchema.describe(
          "Sizes of a critic built from scratch (vocabulary from the policy's tokenizer); absent: a copy of the policy's backbone with a fresh scalar head.",
        ),
        seed: int(0).optional().describe("Seed of the scratch critic's weights and of the scalar head (default: the config's seed)."),
        learningRate: positive().optional().describe("Learning rate of the critic's optimizer (default: train.learningRate and its schedule)."),
      })
      .prefault({}),
    gamma: fraction().default(1).describe('GAE discount γ.'),
    lambda: fraction().default(0.95).describe('GAE λ.'),
    whiten: z.boolean().default(true).describe("Whiten advantages over the batch's valid tokens."),
    vfCoef: nonNegative().default(1).describe('Weight of the value loss.'),
    valueClip: positive().default(0.5).describe('Value clipping c.'),
    kl: z
      .strictObject({
        adaptive: z
          .strictObject({
            target: positive().describe('KL_target: the per-completion KL (nats, summed over tokens) the controller steers to.'),
            gain: positive().optional().describe("K_β, the controller's gain (default 0.1, Ziegler et al.)."),
          })
          .optional()
          .describe('With algorithm.kl.inReward: an adaptive β (Ziegler et al. 2019) instead of the fixed algorithm.kl.beta.'),
      })
      .prefault({}),
  })
  .prefault({});

export type PpoOptions = z.input<typeof ppoOptionsSchema>;

/**
 * The PPO baseline: the `gae` advantage estimator, the `ppo` objective, a critic (an update
 * participant) and `AlgorithmDefaults` naming them, so `plugins: [ppo()]` alone switches from
 * GRPO to PPO (names in `algorithm.advantage.estimator` / `algorithm.objective.name` still win).
 *
 * The critic is built when the trainer is, so the policy may be bound after the plugins load
 * (core's `prepareContainer` does that); loss aggregations and KL estimators come from
 * `@grpo/plugin-grpo`, whose `algorithm` section configures the KL.
 */
export const ppo = definePlugin({
  meta: { name: PLUGIN_NAME, version: PLUGIN_VERSION, core: '^0.1.0' },
  options: ppoOptionsSchema,
  register({ bind, config, options }) {
    const { kl } = config.algorithm;
    if (options.kl.adaptive && !(kl.inReward && kl.beta > 0))
      throw new GrpoError(
        'ppo({ kl: { adaptive } }) adapts the β of the KL in the reward: set algorithm.kl.inReward: true and algorithm.kl.beta > 0 (the initial β)',
      );
    // Per container: the β state shared by the `gae` estimator and the critic's checkpoint.
    const controller = new KlController(options.kl.adaptive);
    bind<AlgorithmDefaults>(AlgorithmDefaults).toConstantValue({ name: PLUGIN_NAME, estimator: 'gae', objective: 'ppo' });

    bind<UpdateParticipant>(UpdateParticipant)
      .toDynamicValue(async (ctx) => {
        const cfg = ctx.get<ResolvedConfig>(GrpoConfig);
        const policy = await ctx.getAsync<Policy>(Policy, { optional: true });
        if (!policy) throw new GrpoError('ppo: the critic is built from the policy, but no Policy is bound');
        const { critic } = options;
        const common = { seed: critic.seed ?? cfg.seed, klController: controller };
        let model: TransformerValueModel;
        if (critic.model) model = TransformerValueModel.create({ ...common, tokenizer: policy.tokenizer, model: critic.model });
        else {
          try {
            model = TransformerValueModel.fromPolicy(policy, common);
          } catch (error) {
            if (!(error instanceof GrpoError)) throw error;
            throw new GrpoError(
              `ppo: the critic starts as a copy of the policy's backbone, but ${error.message}: give ppo({ critic: { model } }) for a critic of its own`,
            );
          }
        }
        const t = cfg.train;
        return new CriticParticipant(model, {
          vfCoef: options.vfCoef,
          valueClip: options.valueClip,
          learningRate: critic.learningRate,
          maxGradNorm: t.maxGradNorm,
          adam: { beta1: t.adamBeta1, beta2: t.adamBeta2, eps: t.adamEps, weightDecay: t.weightDecay },
        });
      })
      .inSingletonScope();

    bind<AdvantageEstimator>(AdvantageEstimator).toConstantValue(gae({ gamma: options.gamma, lambda: options.lambda, whiten: options.whiten, kl: controller }));

    bind<Objective>(Objective)
      .toDynamicValue((ctx) => {
        // KL estimators come from @grpo/plugin-grpo's bindings (a user's own included), else its built-in list.
        // With KL in the reward the trainer gives the objective no reference log-probs.
        const bound = ctx.getAll<KlEstimator>(KlEstimator, { optional: true });
        const estimators = bound.length ? bound : [...klEstimators];
        const estimator = selectNamed<KlEstimator>({ getAll: <T>() => estimators as T[] }, KlEstimator, kl.estimator, 'KL estimator');
        return ppoObjective({ surrogate: surrogateOptionsFromConfig(config, estimator) });
      })
      .inSingletonScope();
  },
});
