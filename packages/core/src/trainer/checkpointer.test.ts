import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError } from '../errors.js';
import type { Checkpointable } from '../contracts/checkpoint.js';
import { DirectoryCheckpointer, readOptimizerState, writeOptimizerState } from './checkpointer.js';

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

describe('trainer.json', () => {
  it('refuses a malformed RNG state, a negative step, components that are no list or a hasReference that is no boolean, before touching the run (found by npm run fault:mutate)', async () => {
    const run = { components: [] } as unknown as Checkpointable;
    const checkpointer = new DirectoryCheckpointer(path.join(dir, 'checkpoints'));
    for (const [state, message] of [
      [{ step: 1, rng: '4', dataCursor: 0 }, "trainer.json: state.rng: invalid RNG state '4' (expected 32 hex digits)"],
      [{ step: -1, rng: '0'.repeat(32), dataCursor: 0 }, 'trainer.json: state.step (-1) and state.dataCursor (0) must be integers ≥ 0'],
      [{ step: 2, rng: '0'.repeat(32), dataCursor: 0 }, "trainer.json: 'components' must be a list of names, got 0"],
      [{ step: 3, rng: '0'.repeat(32), dataCursor: 0 }, `trainer.json: 'hasReference' must be true or false, got "yes"`],
    ] as const) {
      const ckpt = path.join(dir, `ckpt-${state.step}`);
      await mkdir(ckpt, { recursive: true });
      const components = state.step === 2 ? 0 : [];
      await writeFile(
        path.join(ckpt, 'trainer.json'),
        JSON.stringify({ format: 'grpo-trainer-checkpoint', version: 2, state, hasReference: state.step === 3 ? 'yes' : false, components }),
      );
      const error = await checkpointer.restore(ckpt, run).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CheckpointError);
      expect((error as Error).message).toBe(`${path.join(ckpt, message)}`);
    }
  });
});
