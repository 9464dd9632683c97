/**
 * Programmatic `grpo rm train` / `grpo rm eval`: train a reward model from JSONL files and write a
 * checkpoint; evaluate a checkpoint on JSONL files.
 */
import { DataError, Rng, type RewardExample, type Tokenizer } from '@grpo/core';
import { loadTokenizer } from '@grpo/plugin-tokenizers';
import { loadPolicy, type ModelOptions } from '@grpo/plugin-transformer';
import { readExamples } from './data.js';
import type { StepSplitOptions } from './steps.js';
import type { RewardModelMode, ScoringOptions } from './readout.js';
import { TransformerRewardModel } from './scoring.js';
import type { TrainOptions } from './training.js';

export interface TrainRewardModelOptions extends Omit<TrainOptions, 'eval' | 'onStep'> {
  /** JSONL training files (`{prompt, completion, label}`, `{prompt, chosen, rejected}` or step labels). */
  data: string | readonly string[];
  /** JSONL held-out files; without them `evalFraction` of the training data is held out. */
  evalData?: string | readonly string[];
  /** Share of `data` held out when no `evalData` is given; default 0.1 (0 holds out nothing). */
  evalFraction?: number;
  /** Where the checkpoint is written (atomically). */
  out: string;
  /** Continue training this reward-model checkpoint. */
  resume?: string;
  /** Initialise the backbone from this policy checkpoint (e.g. the SFT model); its tokenizer is used. */
  initPolicy?: string;
  /** A fresh backbone: its architecture and a tokenizer (or a directory holding `tokenizer.json`). */
  model?: ModelOptions;
  tokenizer?: Tokenizer | string;
  /** Scoring mode saved with the checkpoint; default: `process` if the data has step labels, `preference` for pairs, else `outcome`. */
  mode?: RewardModelMode;
  steps?: StepSplitOptions;
  name?: string;
  /** A fresh model's score also reads the backbone's token log-probabilities (see `CreateRewardModelOptions.likelihood`). */
  likelihood?: boolean;
  /** How outcome scores are read from per-token scores (saved with the checkpoint); default `last`. */
  pooling?: ScoringOptions['pooling'];
  /** Progress lines (one per epoch). */
  log?: (line: string) => void;
}

const files = (f: string | readonly string[]) => (typeof f === 'string' ? [f] : [...f]);

async function readAll(paths: readonly string[], steps: StepSplitOptions | undefined): Promise<RewardExample[]> {
  const out: RewardExample[] = [];
  for (const p of paths) out.push(...(await readExamples(p, { steps })));
  return out;
}

function inferMode(examples: readonly RewardExample[]): RewardModelMode {
  const kinds = new Set(examples.map((e) => e.kind));
  return kinds.has('process') ? 'process' : kinds.size === 1 && kinds.has('preference') ? 'preference' : 'outcome';
}

/** Trains (or continues training) a reward model on JSONL data; writes the checkpoint to `out`; returns the metrics. */
export async function trainRewardModel(options: TrainRewardModelOptions): Promise<{ dir: string; metrics: Record<string, number> }> {
  let train = await readAll(files(options.data), options.steps);
  let evalSet = options.evalData ? await readAll(files(options.evalData), options.steps) : [];
  if (!options.evalData) {
    const fraction = options.evalFraction ?? 0.1;
    if (!(fraction >= 0 && fraction < 1)) throw new DataError(`evalFraction must be in [0, 1), got ${fraction}`);
    const shuffled = new Rng(`${options.seed ?? 0}:rm-split`).shuffle(train);
    const n = Math.round(shuffled.length * fraction);
    evalSet = shuffled.slice(0, n);
    train = shuffled.slice(n);
  }
  const scoring: ScoringOptions = { mode: options.mode ?? inferMode(train), steps: options.steps, name: options.name, pooling: options.pooling };
  let rm: TransformerRewardModel;
  if (options.resume)
    rm = await TransformerRewardModel.load(options.resume, {
      ...(options.mode ? { mode: options.mode } : {}),
      ...(options.name ? { name: options.name } : {}),
    });
  else if (options.initPolicy) {
    const policy = await loadPolicy(options.initPolicy);
    rm = TransformerRewardModel.create({ ...scoring, tokenizer: policy.tokenizer, from: policy, seed: options.seed, likelihood: options.likelihood });
    policy.dispose();
  } else {
    if (!options.tokenizer) throw new DataError('a fresh reward model needs a tokenizer (or use initPolicy / resume)');
    const tokenizer = typeof options.tokenizer === 'string' ? await loadTokenizer(options.tokenizer) : options.tokenizer;
    rm = TransformerRewardModel.create({ ...scoring, tokenizer, model: options.model, seed: options.seed, likelihood: options.likelihood });
  }
  try {
    const epochs = options.epochs ?? 1;
    let metrics: Record<string, number> = {};
    for (let epoch = 0; epoch < epochs; epoch++) {
      metrics = await rm.train(train, {
        ...options,
        epochs: 1,
        seed: (options.seed ?? 0) + epoch,
        eval: epoch === epochs - 1 || options.log ? evalSet : undefined,
      });
      options.log?.(
        `epoch ${epoch + 1}/${epochs} ${Object.entries(metrics)
          .map(([k, v]) => `${k}=${Number.isInteger(v) ? v : v.toFixed(4)}`)
          .join(' ')}`,
      );
    }
    await rm.save(options.out);
    return { dir: options.out, metrics };
  } finally {
    rm.dispose();
  }
}

/** Evaluates a reward-model checkpoint on JSONL files: accuracy/AUC (outcome), step metrics (process), pairwise accuracy (preference). */
export async function evaluateRewardModel(options: {
  checkpoint: string;
  data: string | readonly string[];
  steps?: StepSplitOptions;
  batchSize?: number;
}): Promise<Record<string, number>> {
  const rm = await TransformerRewardModel.load(options.checkpoint, options.batchSize ? { batchSize: options.batchSize } : {});
  try {
    return await rm.evaluate(await readAll(files(options.data), options.steps ?? rm.scoring.steps));
  } finally {
    rm.dispose();
  }
}
