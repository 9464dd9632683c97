/**
 * The llama.cpp engine on real models: the stories260K Llama (../shared/models) exported to GGUF
 * must give llama2.c's own greedy continuations (goldens.json) — which checks every tensor's name,
 * layout and the rotary permutation — and the built-in task's char model trains through it, with
 * llama.cpp's log-probs within float noise of the trainer's after every weight reload.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend } from '@grpo/plugin-backend-wasm';
import { loadHfPolicy } from '@grpo/plugin-transformer';
import { permuteRope, transpose } from './gguf.js';
import { LlamaCppEngine } from './engine.js';
import llamaCppEngine from './index.js';
import { tinyConfig, tinyTrainer } from '../../../test/integration/tiny-task.js';

const STORIES = path.resolve(import.meta.dirname, '../../../../shared/models/stories260k');
const engines: LlamaCppEngine[] = [];

beforeAll(async () => {
  await setupBackend('wasm');
});
afterAll(async () => {
  for (const e of engines) await e.close();
});

describe('GGUF layout helpers', () => {
  it('transposes row-major matrices and reorders each head from rotate-half to adjacent pairs', () => {
    expect([...transpose(Float32Array.from([1, 2, 3, 4, 5, 6]), 2, 3)]).toEqual([1, 4, 2, 5, 3, 6]);
    // Two heads of hd = 4, one column: rows [a0 a1 b0 b1] (halves a, b) become [a0 b0 a1 b1].
    expect([...permuteRope(Float32Array.from([0, 1, 2, 3, 10, 11, 12, 13]), 2, 1)]).toEqual([0, 2, 1, 3, 10, 12, 11, 13]);
  });
});

describe('llama.cpp engine (node-llama-cpp 3.21.1, prebuilt CPU binary)', () => {
  it("gives llama2.c's greedy tokens for stories260K exported to GGUF", async () => {
    const goldens = JSON.parse(readFileSync(path.join(STORIES, 'goldens.json'), 'utf8')) as { prompts: { ids: number[]; greedy: number[] }[] };
    const policy = await loadHfPolicy(STORIES);
    const engine = new LlamaCppEngine({ threads: 1 });
    engines.push(engine);
    expect(await engine.health()).toMatchObject({ ok: true });
    await engine.syncWeights(policy);
    for (const p of goldens.prompts) {
      const completions = await engine.generate([{ text: '', ids: p.ids }], 1, { maxNewTokens: p.greedy.length, temperature: 0 });
      expect(completions[0]![0]!.tokenIds).toEqual(p.greedy);
    }
    policy.dispose();
  });

  it('trains the tiny task through llama.cpp, reloading the weights after every update', async () => {
    const config = await tinyConfig({ generation: { engine: 'llama.cpp' } }, 'runs/llama-cpp-test', [llamaCppEngine({ threads: 1 })]);
    const trainer = await tinyTrainer(config);
    expect(trainer.describe().engine).toBe('llama.cpp');
    const steps = [];
    for (let i = 0; i < 3; i++) steps.push((await trainer.trainStep()).metrics);
    for (const m of steps) {
      // llama.cpp's numbers differ from tfjs's only by float32 kernels once the weights are reloaded.
      expect(Math.abs(m['mismatch/mismatch_kl']!)).toBeLessThan(1e-3);
      expect(m['sampling/sampling_logp_difference/max']).toBeLessThan(1e-2);
      expect(m['timing/sync_weights']).toBeGreaterThan(0);
      expect(m['completions/mean_length']).toBeGreaterThan(0);
    }
    expect(steps[1]!.grad_norm).toBeGreaterThan(0);
    trainer.dispose();
    trainer.policy.dispose();
  });
});
