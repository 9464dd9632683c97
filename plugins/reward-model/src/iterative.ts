/**
 * Iterative RL (DeepSeekMath, Algorithm 1): after every RL iteration of `everySteps` steps, label
 * the policy's new samples with a labeller (e.g. the math task's rule-based `task_accuracy` or
 * `step_correctness`), continue training the reward model on them plus a replay of historical
 * examples (`replayFraction` of the mix, 10% by default), and reset π_ref ← π_θ.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readJsonFile, readOptimizerState, writeOptimizerState } from '@grpo/core/checkpoint';
import {
  CheckpointError,
  ConfigError,
  GrpoError,
  rewardInput,
  Rng,
  scoreWith,
  type ConfigIssue,
  type FrozenPolicy,
  type Policy,
  type RewardExample,
  type RewardFunction,
  type RewardInput,
  type RewardScore,
  type RolloutsEvent,
  type StepSummary,
  type TrainerHook,
} from '@grpo/core';
import type { TransformerRewardModel } from './scoring.js';
import type { TrainOptions } from './training.js';
import { exampleToJson, parseExamples } from './data.js';

const STATE_FORMAT = 'grpo.iterative-reward-model';

/** Labellers run through core's validated scoring: a bad label stops the run, naming the labeller and the sample. */
export const LABELLER_RUN = { timeoutMs: 60_000, onError: 'raise', penalty: 0 } as const;

export interface IterativeOptions {
  /** Steps per RL iteration; the reward model trains after each. */
  everySteps: number;
  /** Labels new samples: its score (outcome) or its step rewards (process). */
  labeller: RewardFunction;
  /** Which labels to make; default `process` for a PRM, else `outcome`. */
  labels?: 'outcome' | 'process';
  /** A score (or step reward) ≥ this is label 1, else 0; default 0.5. */
  threshold?: number;
  /** Share of each round's training mix drawn from historical examples; default 0.1. */
  replayFraction?: number;
  /** Most historical examples kept (oldest dropped first); default 20000. */
  maxHistory?: number;
  /** Reset π_ref ← π_θ after each iteration (needs `attach` or the handles); default true. */
  resetReference?: boolean;
  /** Options of each round's `train` call (epochs, learning rate, ...). */
  train?: Omit<TrainOptions, 'eval'>;
  seed?: number;
  /** Called after each round with its metrics (`rm/*`). */
  onIteration?: (record: { step: number; metrics: Record<string, number> }) => void;
}

/**
 * The training mix of one round: every fresh example plus k historical ones drawn without
 * replacement, k = round(|fresh| · f / (1 − f)) capped at |history|, so that historical data make
 * up the fraction f of the mix.
 */
export function replayMix<T>(fresh: readonly T[], history: readonly T[], fraction: number, rng: Rng): T[] {
  if (!(fraction >= 0 && fraction < 1)) throw new GrpoError(`replayMix: replayFraction must be in [0, 1), got ${fraction}`);
  const k = Math.min(history.length, Math.round((fresh.length * fraction) / (1 - fraction)));
  return [...fresh, ...rng.shuffle(history).slice(0, k)];
}

/** The problems of iterative options, each with its path in the plugin's options (`iterative.everySteps`, ...). */
export function iterativeOptionIssues(options: Pick<IterativeOptions, 'everySteps' | 'replayFraction'>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (!Number.isInteger(options.everySteps) || options.everySteps < 1)
    issues.push({ path: 'iterative.everySteps', message: `expected an integer ≥ 1, got ${String(options.everySteps)}` });
  const f = options.replayFraction ?? 0.1;
  if (!(f >= 0 && f < 1)) issues.push({ path: 'iterative.replayFraction', message: `expected a number in [0, 1), got ${String(f)}` });
  return issues;
}

/** Turns labeller scores into reward-model examples (samples the labeller does not apply to are skipped). */
export function labelSamples(input: RewardInput, scores: readonly RewardScore[], kind: 'outcome' | 'process', threshold = 0.5): RewardExample[] {
  const out: RewardExample[] = [];
  input.completions.forEach((completion, i) => {
    if (!completion) return;
    const s = scores[i];
    const prompt = input.prompts[i]!;
    if (kind === 'outcome') {
      const value = typeof s === 'number' ? s : s && typeof s === 'object' ? s.score : null;
      if (value === null || value === undefined || !Number.isFinite(value)) return;
      out.push({ kind, prompt, completion, label: value >= threshold ? 1 : 0 });
    } else {
      const steps = s && typeof s === 'object' ? s.steps : undefined;
      if (!steps?.length) return;
      out.push({ kind, prompt, completion, steps: steps.map((st) => ({ endChar: st.endChar, reward: st.reward >= threshold ? 1 : 0 })) });
    }
  });
  return out;
}

export class IterativeRewardModel implements TrainerHook {
  readonly name = 'reward-model/iterative';
  /** Examples of earlier rounds (the replay pool). */
  readonly history: RewardExample[] = [];
  /** Labelled examples of the iteration in progress. */
  pending: RewardExample[] = [];
  readonly rounds: { step: number; metrics: Record<string, number> }[] = [];
  private rng: Rng;
  private readonly kind: 'outcome' | 'process';
  private run: { reference: FrozenPolicy | undefined; policy: Policy } | undefined;

  constructor(
    readonly model: TransformerRewardModel,
    readonly options: IterativeOptions,
  ) {
    const issues = iterativeOptionIssues(options);
    if (issues.length) throw new ConfigError('@grpo/plugin-reward-model options', issues);
    this.kind = options.labels ?? (model.scoring.mode === 'process' ? 'process' : 'outcome');
    this.rng = new Rng(`${options.seed ?? 0}:rm-replay`);
  }

  /** Gives the hook the run's policy and reference, so it can reset π_ref after each iteration. */
  attach(run: { reference: FrozenPolicy | undefined; policy: Policy }): this {
    this.run = run;
    return this;
  }

  /** Labels the step's scored groups (core calls this after scoring, before the update). */
  async onRollouts(event: RolloutsEvent): Promise<void> {
    await this.add(rewardInput(event.groups));
  }

  /** Labels a batch of samples and queues them for the next round. */
  async add(input: RewardInput): Promise<number> {
    const { scores } = await scoreWith(this.options.labeller, input, LABELLER_RUN);
    const examples = labelSamples(input, scores, this.kind, this.options.threshold);
    this.pending.push(...examples);
    return examples.length;
  }

  async onStepEnd(summary: StepSummary): Promise<void> {
    if ((summary.step + 1) % this.options.everySteps === 0) await this.iterate(summary.step);
  }

  /** One round: train on the pending examples plus replay, move them into history, reset π_ref. */
  async iterate(step = -1): Promise<Record<string, number>> {
    const fresh = this.pending;
    this.pending = [];
    const metrics: Record<string, number> = { 'rm/new_examples': fresh.length };
    if (fresh.length) {
      // How well the reward model judges the policy's latest samples before it learns from them
      // (they are held out for it at this point): the drift iterative RL is there to correct.
      for (const [k, v] of Object.entries(await this.model.evaluate(fresh))) if (!k.endsWith('/count')) metrics[`rm/fresh_${k.split('/')[1]}`] = v;
      const mix = replayMix(fresh, this.history, this.options.replayFraction ?? 0.1, this.rng);
      metrics['rm/replayed_examples'] = mix.length - fresh.length;
      if (this.kind === 'outcome') metrics['rm/positive_frac'] = fresh.filter((e) => e.kind === 'outcome' && e.label >= 0.5).length / fresh.length;
      const trained = await this.model.train(mix, { seed: this.rounds.length, ...this.options.train });
      for (const [k, v] of Object.entries(trained)) metrics[`rm/${k}`] = v;
      this.history.push(...fresh);
      const max = this.options.maxHistory ?? 20_000;
      if (this.history.length > max) this.history.splice(0, this.history.length - max);
    }
    if ((this.options.resetReference ?? true) && this.run?.reference) {
      this.run.reference.syncFrom(this.run.policy);
      metrics['rm/reference_reset'] = 1;
    }
    const record = { step, metrics };
    this.rounds.push(record);
    this.options.onIteration?.(record);
    return metrics;
  }

  /**
   * Saves what a resumed run needs to continue exactly (called by the trainer's checkpointer):
   * the reward model's weights and optimizer, the replay history, the examples of the iteration in
   * progress, the replay RNG and the rounds so far.
   */
  async saveState(dir: string): Promise<void> {
    await this.model.save(join(dir, 'model'));
    await writeOptimizerState(join(dir, 'optimizer.safetensors'), this.model.getOptimizerState());
    const jsonl = (examples: readonly RewardExample[]) => examples.map((e) => `${exampleToJson(e)}\n`).join('');
    await writeFile(join(dir, 'history.jsonl'), jsonl(this.history));
    await writeFile(join(dir, 'pending.jsonl'), jsonl(this.pending));
    await writeFile(
      join(dir, 'state.json'),
      `${JSON.stringify({ format: STATE_FORMAT, version: 1, rng: this.rng.getState(), rounds: this.rounds }, null, 2)}\n`,
    );
  }

  /** Restores what `saveState` wrote (validated; a damaged file is a `CheckpointError` naming it). */
  async loadState(dir: string): Promise<void> {
    const file = join(dir, 'state.json');
    const state = await readJsonFile<{ format?: unknown; version?: unknown; rng?: unknown; rounds?: unknown }>(file);
    if (state.format !== STATE_FORMAT || state.version !== 1 || typeof state.rng !== 'string' || !Array.isArray(state.rounds))
      throw new CheckpointError(`${file}: not an iterative reward-model state (expected format '${STATE_FORMAT}' version 1 with rng and rounds)`);
    let rng: Rng;
    try {
      rng = Rng.fromState(state.rng);
    } catch (error) {
      throw new CheckpointError(`${file}: bad rng state (${(error as Error).message})`);
    }
    const read = async (name: string): Promise<RewardExample[]> => {
      const path = join(dir, name);
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (error) {
        throw new CheckpointError(`${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
      }
      if (!text.trim()) return [];
      try {
        return parseExamples(text, path, { kind: this.kind });
      } catch (error) {
        throw new CheckpointError((error as Error).message);
      }
    };
    const history = await read('history.jsonl');
    const pending = await read('pending.jsonl');
    const optimizer = await readOptimizerState(join(dir, 'optimizer.safetensors'));
    await this.model.restore(join(dir, 'model'));
    try {
      this.model.setOptimizerState(optimizer);
    } catch (error) {
      throw new CheckpointError(`${join(dir, 'optimizer.safetensors')}: ${(error as Error).message}`);
    }
    this.history.splice(0, this.history.length, ...history);
    this.pending = pending;
    this.rounds.splice(0, this.rounds.length, ...(state.rounds as { step: number; metrics: Record<string, number> }[]));
    this.rng = rng;
  }
}
