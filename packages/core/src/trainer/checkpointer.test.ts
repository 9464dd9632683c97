import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError } from '../errors.js';
import { readOptimizerState, writeOptimizerState } from './checkpointer.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'grpo-checkpointer-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('optimizer state', () => {
  it('refuses non-finite moments, naming the file and the tensor (issue 21, item 3)', async () => {
    const file = path.join(dir, 'optimizer.safetensors');
    await writeOptimizerState(file, { step: 3, tensors: { 'm/0': { shape: [2], data: Float32Array.of(0.5, Number.NaN) } } });
    const error = await readOptimizerState(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CheckpointError);
    expect((error as Error).message).toBe(`${file}: tensor 'm/0' holds a non-finite value (NaN at index 1); the checkpoint is corrupt`);
  });
});
