/**
 * Reward-model checkpoints: the scalar-head model's files (backbone, head, tokenizer) plus
 * `reward-model.json` (format, scoring options, training defaults, steps trained), written
 * atomically and validated on the way back; every problem is a `CheckpointError` naming the file.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointError } from '@grpo/core';
import { readJsonFile, writeDirAtomic } from '@grpo/core/checkpoint';
import { loadTokenizer } from '@grpo/plugin-tokenizers';
import { ScalarHeadModel } from '@grpo/plugin-transformer';
import { isPooling, MODES, type ResolvedScoring, type ScoringOptions } from './readout.js';
import type { TrainOptions } from './training.js';

export const RM_FORMAT = 'grpo.reward-model';
export const RM_FILE = 'reward-model.json';

/** Training defaults saved with the model. */
export type TrainDefaults = Omit<TrainOptions, 'eval' | 'onStep'>;

interface RmCheckpoint {
  format: typeof RM_FORMAT;
  version: 1;
  scoring: ScoringOptions;
  train: TrainDefaults;
  trainedSteps: number;
}

/** What `readRewardModel` loads: the head and the saved options and step count. */
export interface LoadedRewardModel {
  head: ScalarHeadModel;
  scoring: ScoringOptions;
  train: TrainDefaults;
  trainedSteps: number;
}

/** Reads a checkpoint written by `writeRewardModel` (validated: format, options, architecture, tensors, tokenizer). */
export async function readRewardModel(dir: string): Promise<LoadedRewardModel> {
  const file = join(dir, RM_FILE);
  const meta = await readJsonFile<Partial<RmCheckpoint>>(file);
  if (meta.format !== RM_FORMAT || meta.version !== 1 || typeof meta.scoring !== 'object' || meta.scoring === null)
    throw new CheckpointError(`${file}: not a ${RM_FORMAT} v1 checkpoint (expected format, version 1 and scoring)`);
  if (meta.scoring.mode !== undefined && !MODES.includes(meta.scoring.mode))
    throw new CheckpointError(`${file}: unknown mode ${JSON.stringify(meta.scoring.mode)}`);
  if (meta.scoring.pooling !== undefined && !isPooling(meta.scoring.pooling))
    throw new CheckpointError(`${file}: unknown pooling ${JSON.stringify(meta.scoring.pooling)} (expected 'last' or 'noisy-and')`);
  const tokenizer = await loadTokenizer(dir);
  const head = await ScalarHeadModel.fromCheckpoint(dir, tokenizer);
  if (head.alignment !== 'after') {
    head.dispose();
    throw new CheckpointError(`${dir}: the scalar head is aligned '${head.alignment}', a reward model needs 'after'`);
  }
  return { head, scoring: meta.scoring, train: meta.train ?? {}, trainedSteps: meta.trainedSteps ?? 0 };
}

/**
 * Loads a checkpoint's weights into `head` (same architecture and tokenizer, validated) and returns
 * its step count; the scoring options in the file are not read.
 */
export async function restoreRewardModel(head: ScalarHeadModel, dir: string): Promise<number> {
  const file = join(dir, RM_FILE);
  const meta = await readJsonFile<Partial<RmCheckpoint>>(file);
  if (meta.format !== RM_FORMAT || meta.version !== 1) throw new CheckpointError(`${file}: not a ${RM_FORMAT} v1 checkpoint`);
  if (meta.trainedSteps !== undefined && !(Number.isInteger(meta.trainedSteps) && meta.trainedSteps >= 0))
    throw new CheckpointError(`${file}: trainedSteps must be an integer ≥ 0, got ${JSON.stringify(meta.trainedSteps)}`);
  await head.load(dir);
  return meta.trainedSteps ?? 0;
}

/** Writes the backbone, head, tokenizer and `reward-model.json` atomically into `dir`. */
export async function writeRewardModel(
  dir: string,
  model: { head: ScalarHeadModel; scoring: ResolvedScoring; train: TrainDefaults; trainedSteps: number },
): Promise<void> {
  const tmp = await mkdtemp(join(tmpdir(), 'grpo-rm-'));
  try {
    const staged = join(tmp, 'model');
    await model.head.save(staged);
    const files: Record<string, Uint8Array | string> = {};
    for (const name of await readdir(staged)) files[name] = await readFile(join(staged, name));
    const { name, mode, output, pooling, processScore, steps, batchSize } = model.scoring;
    const meta: RmCheckpoint = {
      format: RM_FORMAT,
      version: 1,
      scoring: { name, mode, output, pooling, processScore, steps, batchSize },
      train: model.train,
      trainedSteps: model.trainedSteps,
    };
    files[RM_FILE] = `${JSON.stringify(meta, null, 2)}\n`;
    await writeDirAtomic(dir, files);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
