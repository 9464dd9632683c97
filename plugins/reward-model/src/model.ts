/**
 * A learned reward model: the transformer backbone with a scalar head (`ScalarHeadModel`,
 * alignment `after`: the score at completion token j reads the text up to and including j).
 *
 * - outcome (ORM): σ(score at the last token) — the completion is encoded with a final EOS, so the
 *   last token has read the whole completion; trained with binary cross-entropy.
 * - process (PRM): one probability per step, read at the token that holds the step's last
 *   character (core's `charToToken`, the same token the trainer puts step rewards on); trained
 *   with binary cross-entropy per step.
 * - preference (Bradley–Terry): −log σ(r_chosen − r_rejected) on last-token scores.
 */
import { readdir, readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  AdamW,
  charToToken,
  CheckpointError,
  DataError,
  learningRateAt,
  Rng,
  type DatasetRow,
  type OptimizerState,
  type RewardExample,
  type RewardInput,
  type RewardModel,
  type RewardScore,
  type Tokenizer,
} from '@grpo/core';
import { readJsonFile, writeDirAtomic } from '@grpo/core/checkpoint';
import { loadTokenizer } from '@grpo/plugin-tokenizers';
import { ScalarHeadModel, type ModelOptions, type TransformerPolicy } from '@grpo/plugin-transformer';
import { binaryAccuracy, firstWrongStep, pairwiseAccuracy, rocAuc, sigmoid } from './metrics.js';
import { splitSteps, type StepSplitOptions } from './steps.js';

export type RewardModelMode = 'outcome' | 'process' | 'preference';

/** How the reward model scores (serves) completions; saved with the checkpoint. */
export interface ScoringOptions {
  /** Reward-function name; default `rm`. */
  readonly name?: string;
  /** What `score` returns: an outcome score, per-step scores (PRM), or a preference score. Default `outcome`. */
  readonly mode?: RewardModelMode;
  /** `probability` (σ of the head) or the raw `logit`; default `probability` (outcome, process), `logit` (preference). */
  readonly output?: 'probability' | 'logit';
  /**
   * How outcome and step scores are read from the per-token scores z_t:
   * - `last` (default): σ(z) at one token — the last one (outcome), the step's last one (process);
   * - `noisy-and`: P(right so far) = Π σ(z_t) over the tokens up to that point — the whole
   *   completion (outcome) or everything up to the step's end (process: a step built on a wrong one
   *   is wrong too, as the math task's `step_correctness` rules). Text is right only if no token is
   *   wrong, so a wrong label sends the gradient to its least likely tokens (multiple-instance
   *   learning) instead of asking one token to find the error.
   */
  readonly pooling?: 'last' | 'noisy-and';
  /** PRM: the completion's overall score is the `min` of its step scores (default) or the `last` one. */
  readonly processScore?: 'min' | 'last';
  /** PRM: where steps end; default each non-blank line. */
  readonly steps?: StepSplitOptions;
  /** Completions per forward pass when scoring; default 32. */
  readonly batchSize?: number;
}

/** How `train` optimises. */
export interface TrainOptions {
  epochs?: number;
  /** Examples per optimizer step (a preference pair counts once); default 16. */
  batchSize?: number;
  learningRate?: number;
  /** `constant` (default, suits continued training) or `cosine` decay over this call's steps. */
  schedule?: 'constant' | 'cosine';
  warmupSteps?: number;
  weightDecay?: number;
  maxGradNorm?: number;
  /**
   * The backbone's learning rate is `learningRate` × this; the score head's is `learningRate`.
   * Default 1. Below 1 keeps a pretrained backbone (and what its language model knows) while the
   * fresh head learns; 0 trains the head alone.
   */
  backboneLrScale?: number;
  /** Shuffling seed; default 0 (each call draws a fresh order from the model's RNG otherwise). */
  seed?: number;
  /** Held-out examples: `eval/*` metrics after training. */
  eval?: readonly RewardExample[];
  onStep?: (record: { step: number; loss: number; lr: number; gradNorm: number }) => void;
}

export interface CreateRewardModelOptions extends ScoringOptions {
  tokenizer: Tokenizer;
  /** Architecture of a fresh backbone (ignored with `from`). */
  model?: ModelOptions;
  /** Initialise the backbone from a policy (e.g. the SFT checkpoint). */
  from?: TransformerPolicy;
  /**
   * Score token t as w·h_t + b + a·log p(x_t | x_<t), the log-probability from the backbone's own
   * language-model head (a starts at 1; see `ScalarHeadModel.create`). From a policy, the reward
   * model starts out knowing which tokens that policy finds unlikely.
   */
  likelihood?: boolean;
  seed?: number;
  /** Defaults for `train`. */
  train?: Omit<TrainOptions, 'eval' | 'onStep'>;
}

export const RM_FORMAT = 'grpo.reward-model';
export const RM_FILE = 'reward-model.json';

interface RmCheckpoint {
  format: typeof RM_FORMAT;
  version: 1;
  scoring: ScoringOptions;
  train: Omit<TrainOptions, 'eval' | 'onStep'>;
  trainedSteps: number;
}

interface Encoded {
  prompt: number[];
  completion: number[];
  /** Decoded text length after each completion token. */
  ends: number[];
}

/** Per-token logits of one completion and the text length after each token. */
export interface TokenScores {
  logits: number[];
  ends: number[];
}

const MODES: readonly RewardModelMode[] = ['outcome', 'process', 'preference'];

export class TransformerRewardModel<Row extends DatasetRow = DatasetRow> implements RewardModel<Row> {
  readonly name: string;
  readonly scoring: Required<Omit<ScoringOptions, 'output' | 'steps'>> & Pick<ScoringOptions, 'output' | 'steps'>;
  readonly trainDefaults: Omit<TrainOptions, 'eval' | 'onStep'>;
  private optimizer: AdamW;
  private trainedSteps = 0;
  private disposed = false;

  constructor(
    readonly head: ScalarHeadModel,
    scoring: ScoringOptions = {},
    train: Omit<TrainOptions, 'eval' | 'onStep'> = {},
  ) {
    if (head.alignment !== 'after') throw new Error(`a reward model needs a scalar head aligned 'after' each token, got '${head.alignment}'`);
    const mode = scoring.mode ?? 'outcome';
    if (!MODES.includes(mode)) throw new RangeError(`reward model mode must be one of ${MODES.join(', ')}, got ${String(mode)}`);
    const pooling = scoring.pooling ?? 'last';
    if (pooling !== 'last' && pooling !== 'noisy-and') throw new RangeError(`pooling must be 'last' or 'noisy-and', got ${String(pooling)}`);
    this.scoring = { name: scoring.name ?? 'rm', mode, pooling, processScore: scoring.processScore ?? 'min', batchSize: scoring.batchSize ?? 32, output: scoring.output, steps: scoring.steps };
    this.name = this.scoring.name;
    this.trainDefaults = train;
    this.optimizer = this.newOptimizer();
  }

  static create<Row extends DatasetRow = DatasetRow>(options: CreateRewardModelOptions): TransformerRewardModel<Row> {
    const head = ScalarHeadModel.create({ tokenizer: options.tokenizer, model: options.model, from: options.from, seed: options.seed, alignment: 'after', likelihood: options.likelihood });
    return new TransformerRewardModel<Row>(head, options, options.train);
  }

  /** Loads a checkpoint written by `save` (validated: format, architecture, tensors, tokenizer). */
  static async load<Row extends DatasetRow = DatasetRow>(dir: string, overrides: ScoringOptions = {}): Promise<TransformerRewardModel<Row>> {
    const file = join(dir, RM_FILE);
    const meta = await readJsonFile<Partial<RmCheckpoint>>(file);
    if (meta.format !== RM_FORMAT || meta.version !== 1 || typeof meta.scoring !== 'object' || meta.scoring === null)
      throw new CheckpointError(`${file}: not a ${RM_FORMAT} v1 checkpoint (expected format, version 1 and scoring)`);
    if (meta.scoring.mode !== undefined && !MODES.includes(meta.scoring.mode)) throw new CheckpointError(`${file}: unknown mode ${JSON.stringify(meta.scoring.mode)}`);
    if (meta.scoring.pooling !== undefined && meta.scoring.pooling !== 'last' && meta.scoring.pooling !== 'noisy-and')
      throw new CheckpointError(`${file}: unknown pooling ${JSON.stringify(meta.scoring.pooling)} (expected 'last' or 'noisy-and')`);
    const tokenizer = await loadTokenizer(dir);
    const head = await ScalarHeadModel.fromCheckpoint(dir, tokenizer);
    if (head.alignment !== 'after') {
      head.dispose();
      throw new CheckpointError(`${dir}: the scalar head is aligned '${head.alignment}', a reward model needs 'after'`);
    }
    const model = new TransformerRewardModel<Row>(head, { ...meta.scoring, ...overrides }, meta.train ?? {});
    model.trainedSteps = meta.trainedSteps ?? 0;
    return model;
  }

  get tokenizer(): Tokenizer {
    return this.head.tokenizer;
  }

  get steps(): number {
    return this.trainedSteps;
  }

  private newOptimizer(): AdamW {
    return new AdamW({ beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: this.trainDefaults.weightDecay ?? 0 });
  }

  private encode(prompt: string, completion: string): Encoded {
    const tok = this.head.tokenizer;
    let p = tok.encode(prompt, { addBos: true });
    const c = [...tok.encode(completion), tok.eosId];
    let total = 0;
    const ends = c.map((id) => (total += tok.decode([id], { skipSpecial: true }).length));
    const max = this.head.config.maxSeqLen;
    if (c.length + 1 > max) throw new DataError(`a completion of ${c.length} tokens (with EOS) does not fit the reward model's maxSeqLen ${max}`);
    // Keep BOS and the end of a prompt that is too long.
    if (p.length + c.length > max) p = [p[0]!, ...p.slice(p.length - (max - c.length - 1))];
    return { prompt: p, completion: c, ends };
  }

  /** Raw per-token scores (logits) of each completion, in chunks of `scoring.batchSize`; leaves no tensors. */
  async tokenScores(items: readonly { prompt: string; completion: string }[]): Promise<TokenScores[]> {
    this.checkAlive();
    const out: TokenScores[] = [];
    const size = this.scoring.batchSize;
    for (let i = 0; i < items.length; i += size) {
      const enc = items.slice(i, i + size).map((x) => this.encode(x.prompt, x.completion));
      const scores = tf.tidy(() => this.head.scores({ prompts: enc.map((e) => e.prompt), completions: enc.map((e) => e.completion) }));
      const data = await scores.data();
      scores.dispose();
      const L = scores.shape[1];
      enc.forEach((e, b) => out.push({ logits: Array.from(data.subarray(b * L, b * L + e.completion.length)), ends: e.ends }));
    }
    return out;
  }

  private out(logit: number): number {
    const output = this.scoring.output ?? (this.scoring.mode === 'preference' ? 'logit' : 'probability');
    return output === 'logit' ? logit : sigmoid(logit);
  }

  /** The logit of "right up to and including token `at`" from one completion's token scores (see `pooling`). */
  pooledLogit(logits: readonly number[], at: number): number {
    return this.scoring.pooling === 'noisy-and' ? noisyAndLogit(logits.slice(0, at + 1)) : logits[at]!;
  }

  /** The outcome logit of one completion's token scores (see `pooling`). */
  outcomeLogit(logits: readonly number[]): number {
    return this.pooledLogit(logits, logits.length - 1);
  }

  /** Outcome score of each completion. */
  async outcomeScores(items: readonly { prompt: string; completion: string }[]): Promise<number[]> {
    return (await this.tokenScores(items)).map((s) => this.out(this.outcomeLogit(s.logits)));
  }

  /** Per-step scores at the given step ends (or the step splitter's). */
  async stepScores(items: readonly { prompt: string; completion: string; ends?: readonly number[] }[]): Promise<number[][]> {
    const scores = await this.tokenScores(items);
    return scores.map((s, i) => {
      const ends = items[i]!.ends ?? splitSteps(items[i]!.completion, this.scoring.steps);
      return ends.map((e) => this.out(this.pooledLogit(s.logits, charToToken(s.ends, e))));
    });
  }

  /** Serves the model as a reward function (batched; leaves no tensors). */
  async score(input: RewardInput<Row>): Promise<RewardScore[]> {
    const items = input.completions.map((completion, i) => ({ prompt: input.prompts[i] ?? '', completion }));
    const scores = await this.tokenScores(items);
    return scores.map((s, i) => {
      const last = this.out(this.scoring.mode === 'preference' ? s.logits[s.logits.length - 1]! : this.outcomeLogit(s.logits));
      if (this.scoring.mode !== 'process') return last;
      const completion = items[i]!.completion;
      const steps = splitSteps(completion, this.scoring.steps).map((endChar) => ({ endChar, reward: this.out(this.pooledLogit(s.logits, charToToken(s.ends, endChar))) }));
      if (steps.length === 0) return { score: last, steps };
      const values = steps.map((x) => x.reward);
      return { score: this.scoring.processScore === 'last' ? values[values.length - 1]! : Math.min(...values), steps };
    });
  }

  /** The training loss of a batch of examples (a scalar tensor; differentiable). */
  loss(batch: readonly RewardExample[]): tf.Scalar {
    const noisyAnd = this.scoring.pooling === 'noisy-and';
    const pooled: { row: number; length: number; label: number; weight: number }[] = [];
    const prompts: number[][] = [];
    const completions: number[][] = [];
    const bce: { row: number; token: number; label: number; weight: number }[] = [];
    const pairs: [number, number][] = [];
    const add = (prompt: string, completion: string) => {
      const e = this.encode(prompt, completion);
      prompts.push(e.prompt);
      completions.push(e.completion);
      return { row: prompts.length - 1, e };
    };
    for (const ex of batch) {
      if (ex.kind === 'outcome') {
        const { row, e } = add(ex.prompt, ex.completion);
        if (noisyAnd) pooled.push({ row, length: e.completion.length, label: ex.label, weight: 1 });
        else bce.push({ row, token: e.completion.length - 1, label: ex.label, weight: 1 });
      } else if (ex.kind === 'process') {
        const { row, e } = add(ex.prompt, ex.completion);
        for (const s of ex.steps) {
          const token = charToToken(e.ends, s.endChar);
          if (noisyAnd) pooled.push({ row, length: token + 1, label: s.reward, weight: 1 / ex.steps.length });
          else bce.push({ row, token, label: s.reward, weight: 1 / ex.steps.length });
        }
      } else {
        const c = add(ex.prompt, ex.chosen);
        const r = add(ex.prompt, ex.rejected);
        pairs.push([c.row, r.row]);
      }
    }
    const lastIndex = completions.map((c) => c.length - 1);
    return tf.tidy(() => {
      const z = this.head.scores({ prompts, completions });
      const [B, L] = z.shape;
      const flat = z.reshape([B * L, 1]);
      // Picks entries by a one-hot matrix product (gather has no gradient kernel on wasm).
      const pick = (indices: readonly number[]) => {
        const sel = new Float32Array(indices.length * B * L);
        indices.forEach((at, k) => (sel[k * B * L + at] = 1));
        return tf.matMul(tf.tensor2d(sel, [indices.length, B * L]), flat).reshape([indices.length]);
      };
      let total = tf.scalar(0);
      if (bce.length) {
        const at = pick(bce.map((t) => t.row * L + t.token));
        const y = tf.tensor1d(bce.map((t) => t.label));
        const w = tf.tensor1d(bce.map((t) => t.weight));
        // y·softplus(−z) + (1 − y)·softplus(z)
        const terms = tf.add(tf.mul(y, tf.softplus(tf.neg(at))), tf.mul(tf.sub(1, y), tf.softplus(at)));
        total = tf.add(total, tf.sum(tf.mul(w, terms)));
      }
      if (pooled.length) {
        // log P(correct) = Σ_t log σ(z_t) over each completion's tokens (a 0/1 mask picks rows and tokens).
        const mask = new Float32Array(pooled.length * B * L);
        pooled.forEach((p, k) => mask.fill(1, k * B * L + p.row * L, k * B * L + p.row * L + p.length));
        const logSig = tf.neg(tf.softplus(tf.neg(flat)));
        const logP = tf.matMul(tf.tensor2d(mask, [pooled.length, B * L]), logSig).reshape([pooled.length]);
        const y = tf.tensor1d(pooled.map((p) => p.label));
        const w = tf.tensor1d(pooled.map((p) => p.weight));
        // −y·log P − (1 − y)·log(1 − P), with 1 − P kept away from 0.
        const logNotP = tf.log(tf.maximum(tf.sub(1, tf.exp(logP)), 1e-6));
        total = tf.add(total, tf.sum(tf.mul(w, tf.neg(tf.add(tf.mul(y, logP), tf.mul(tf.sub(1, y), logNotP))))));
      }
      if (pairs.length) {
        const chosen = pick(pairs.map(([c]) => c * L + lastIndex[c]!));
        const rejected = pick(pairs.map(([, r]) => r * L + lastIndex[r]!));
        total = tf.add(total, tf.sum(tf.softplus(tf.neg(tf.sub(chosen, rejected)))));
      }
      return tf.div(total, Math.max(1, batch.length)) as tf.Scalar;
    });
  }

  /** Trains on `examples` (any mix of kinds); returns the mean loss of the last epoch and, with `eval`, `eval/*` metrics. */
  async train(examples: readonly RewardExample[], options: TrainOptions = {}): Promise<Record<string, number>> {
    this.checkAlive();
    const o = { ...this.trainDefaults, ...options };
    if (examples.length === 0) throw new DataError('reward model training: no examples');
    for (const [i, ex] of examples.entries()) checkExample(ex, `example ${i}`);
    const epochs = o.epochs ?? 1;
    const batchSize = Math.min(o.batchSize ?? 16, examples.length);
    const perEpoch = Math.ceil(examples.length / batchSize);
    const total = epochs * perEpoch;
    const rng = new Rng(`${o.seed ?? 0}:${this.trainedSteps}`);
    const vars = this.head.trainableVariables();
    const headVars = new Set(this.head.headVariables());
    if (o.backboneLrScale !== undefined && !(o.backboneLrScale >= 0)) throw new RangeError(`backboneLrScale must be ≥ 0, got ${o.backboneLrScale}`);
    let epochLoss = 0;
    let step = 0;
    for (let epoch = 0; epoch < epochs; epoch++) {
      const order = rng.shuffle(examples.map((_, i) => i));
      epochLoss = 0;
      for (let b = 0; b < perEpoch; b++) {
        const batch = order.slice(b * batchSize, (b + 1) * batchSize).map((i) => examples[i]!);
        const { value, grads } = tf.variableGrads(() => this.loss(batch), vars);
        const lr = learningRateAt(step, {
          learningRate: o.learningRate ?? 1e-3,
          schedule: o.schedule ?? 'constant',
          warmupSteps: o.warmupSteps ?? 0,
          totalSteps: total,
          minLrRatio: 0.1,
        });
        const scale = o.backboneLrScale ?? 1;
        const gradNorm = this.optimizer.update(vars, grads as Record<string, tf.Tensor>, { lr: scale === 1 ? lr : (v) => (headVars.has(v) ? lr : lr * scale), maxGradNorm: o.maxGradNorm ?? 1 });
        const loss = (await value.data())[0]!;
        value.dispose();
        if (!Number.isFinite(loss)) throw new DataError(`reward model training: the loss became ${loss}; lower the learning rate`);
        epochLoss += (loss * batch.length) / examples.length;
        o.onStep?.({ step: this.trainedSteps, loss, lr, gradNorm });
        step++;
        this.trainedSteps++;
      }
    }
    const metrics: Record<string, number> = { loss: epochLoss, steps: step, examples: examples.length };
    if (o.eval?.length) for (const [k, v] of Object.entries(await this.evaluate(o.eval))) metrics[`eval/${k}`] = v;
    return metrics;
  }

  /**
   * Held-out metrics per kind of example present:
   * - outcome: `outcome/accuracy` (σ ≥ 0.5 vs label), `outcome/auc`, `outcome/loss`;
   * - process: `process/step_accuracy`, `process/step_auc`, `process/first_error_accuracy` (the first
   *   step scored < 0.5 is the first step labelled wrong, or none when all are right) and the same over
   *   only the examples that have a wrong step (`process/first_error_accuracy_wrong`);
   * - preference: `preference/accuracy` (r_chosen > r_rejected) and `preference/margin`.
   */
  async evaluate(examples: readonly RewardExample[]): Promise<Record<string, number>> {
    const metrics: Record<string, number> = {};
    const outcome = examples.filter((e) => e.kind === 'outcome');
    if (outcome.length) {
      const logits = (await this.tokenScores(outcome)).map((s) => this.outcomeLogit(s.logits));
      const probs = logits.map(sigmoid);
      const labels = outcome.map((e) => e.label);
      metrics['outcome/accuracy'] = binaryAccuracy(probs, labels);
      const auc = rocAuc(logits, labels);
      if (!Number.isNaN(auc)) metrics['outcome/auc'] = auc;
      metrics['outcome/loss'] = logits.reduce((a, z, i) => a + labels[i]! * softplus(-z) + (1 - labels[i]!) * softplus(z), 0) / logits.length;
      metrics['outcome/count'] = outcome.length;
    }
    const process = examples.filter((e) => e.kind === 'process');
    if (process.length) {
      const scores = await this.tokenScores(process);
      const probs = scores.map((s, i) => process[i]!.steps.map((st) => sigmoid(this.pooledLogit(s.logits, charToToken(s.ends, st.endChar)))));
      const labels = process.map((e) => e.steps.map((s) => s.reward));
      metrics['process/step_accuracy'] = binaryAccuracy(probs.flat(), labels.flat());
      const auc = rocAuc(probs.flat(), labels.flat());
      if (!Number.isNaN(auc)) metrics['process/step_auc'] = auc;
      const hits = probs.map((p, i) => firstWrongStep(p) === firstWrongStep(labels[i]!));
      metrics['process/first_error_accuracy'] = hits.filter(Boolean).length / hits.length;
      const wrong = labels.map((l, i) => [firstWrongStep(l) >= 0, hits[i]!] as const).filter(([w]) => w);
      if (wrong.length) metrics['process/first_error_accuracy_wrong'] = wrong.filter(([, h]) => h).length / wrong.length;
      metrics['process/count'] = process.length;
    }
    const prefs = examples.filter((e) => e.kind === 'preference');
    if (prefs.length) {
      const chosen = (await this.tokenScores(prefs.map((p) => ({ prompt: p.prompt, completion: p.chosen })))).map((s) => s.logits[s.logits.length - 1]!);
      const rejected = (await this.tokenScores(prefs.map((p) => ({ prompt: p.prompt, completion: p.rejected })))).map((s) => s.logits[s.logits.length - 1]!);
      metrics['preference/accuracy'] = pairwiseAccuracy(chosen, rejected);
      metrics['preference/margin'] = chosen.reduce((a, c, i) => a + c - rejected[i]!, 0) / chosen.length;
      metrics['preference/count'] = prefs.length;
    }
    return metrics;
  }

  /** The optimizer's moments and step (saved in trainer checkpoints during iterative RL). */
  getOptimizerState(): OptimizerState {
    this.checkAlive();
    return this.optimizer.getState(this.head.trainableVariables());
  }

  setOptimizerState(state: OptimizerState): void {
    this.checkAlive();
    this.optimizer.setState(state, this.head.trainableVariables());
  }

  /**
   * Replaces this model's weights and step count with a checkpoint's (written by `save`; validated:
   * format, same architecture and tokenizer). Scoring options stay as they are.
   */
  async restore(dir: string): Promise<void> {
    this.checkAlive();
    const file = join(dir, RM_FILE);
    const meta = await readJsonFile<Partial<RmCheckpoint>>(file);
    if (meta.format !== RM_FORMAT || meta.version !== 1) throw new CheckpointError(`${file}: not a ${RM_FORMAT} v1 checkpoint`);
    if (meta.trainedSteps !== undefined && !(Number.isInteger(meta.trainedSteps) && meta.trainedSteps >= 0))
      throw new CheckpointError(`${file}: trainedSteps must be an integer ≥ 0, got ${JSON.stringify(meta.trainedSteps)}`);
    await this.head.load(dir);
    this.trainedSteps = meta.trainedSteps ?? 0;
  }

  /** Writes the backbone, head, tokenizer and `reward-model.json` atomically into `dir`. */
  async save(dir: string): Promise<void> {
    this.checkAlive();
    const tmp = await mkdtemp(join(tmpdir(), 'grpo-rm-'));
    try {
      const staged = join(tmp, 'model');
      await this.head.save(staged);
      const files: Record<string, Uint8Array | string> = {};
      for (const name of await readdir(staged)) files[name] = await readFile(join(staged, name));
      const { name, mode, output, pooling, processScore, steps, batchSize } = this.scoring;
      const meta: RmCheckpoint = { format: RM_FORMAT, version: 1, scoring: { name, mode, output, pooling, processScore, steps, batchSize }, train: this.trainDefaults, trainedSteps: this.trainedSteps };
      files[RM_FILE] = `${JSON.stringify(meta, null, 2)}\n`;
      await writeDirAtomic(dir, files);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.optimizer.dispose();
    this.head.dispose();
  }

  private checkAlive(): void {
    if (this.disposed) throw new Error('this reward model has been disposed');
  }
}

const softplus = (z: number): number => (z > 20 ? z : Math.log1p(Math.exp(z)));

/** logit(Π_t σ(z_t)): log P − log(1 − P) with log P = −Σ softplus(−z_t), stable for P near 0 and 1. */
export function noisyAndLogit(logits: readonly number[]): number {
  const logP = Math.min(-1e-12, -logits.reduce((a, z) => a + softplus(-z), 0));
  return logP - Math.log(-Math.expm1(logP));
}

function checkExample(ex: RewardExample, where: string): void {
  const bad = (msg: string): never => {
    throw new DataError(`reward model training: ${where}: ${msg}`);
  };
  if (typeof ex.prompt !== 'string') bad('prompt must be a string');
  if (ex.kind === 'preference') {
    if (typeof ex.chosen !== 'string' || !ex.chosen || typeof ex.rejected !== 'string' || !ex.rejected) bad('chosen and rejected must be non-empty strings');
    return;
  }
  if (typeof ex.completion !== 'string' || !ex.completion) bad('empty completion');
  if (ex.kind === 'outcome') {
    if (!(ex.label >= 0 && ex.label <= 1)) bad(`label must be in [0, 1], got ${String(ex.label)}`);
  } else if (ex.kind === 'process') {
    if (!Array.isArray(ex.steps) || ex.steps.length === 0) bad('a process example needs at least one step');
    for (const s of ex.steps) {
      if (!(s.reward >= 0 && s.reward <= 1)) bad(`step labels must be in [0, 1], got ${String(s.reward)}`);
      if (!Number.isInteger(s.endChar) || s.endChar < 0 || s.endChar > ex.completion.length) bad(`step end ${String(s.endChar)} is outside the completion`);
    }
  } else bad(`unknown kind ${JSON.stringify((ex as { kind: unknown }).kind)}`);
}
