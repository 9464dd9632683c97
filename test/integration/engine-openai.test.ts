/**
 * The HTTP rollout engine against a real server: `grpo serve` started as its own process on
 * loopback, serving the tiny task's initial policy; the trainer samples through it by token ids,
 * writes its weights after each update and makes the server reload them. The server's log-probs
 * then stay the trainer's own (mismatch ≈ 0) at every step, which they would not if a sync were
 * missed: the policy moves at each update.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineError, type Policy } from '@grpo/core';
import openAiEngine, { OpenAiEngine } from '@grpo/plugin-engine-openai';
import { tinyConfig, tinyTrainer, useWasm } from './tiny-task.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
let tmp: string;
let server: ChildProcess | undefined;
let serverLog = '';

/** Starts `grpo serve` on a free loopback port; resolves with its URL from the line it prints. */
function serve(checkpoint: string): Promise<string> {
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', 'packages/cli/src/bin.ts', 'serve', '--checkpoint', checkpoint, '--port', '0', '--cwd', tmp],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  server = child;
  child.stderr!.on('data', (d: Buffer) => (serverLog += d.toString()));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const url = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
      if (url) resolve(url);
    });
    child.on('exit', (code) => reject(new Error(`grpo serve exited with ${code}: ${serverLog}`)));
  });
}

beforeAll(async () => {
  await useWasm();
  tmp = mkdtempSync(path.join(os.tmpdir(), 'grpo-engine-openai-'));
});

afterAll(() => {
  server?.kill('SIGTERM');
  rmSync(tmp, { recursive: true, force: true });
});

describe('openai-http engine with grpo serve (a real process on loopback)', () => {
  it('trains the tiny task through the server, syncing weights by checkpoint reload after every update', async () => {
    // The server starts from the same weights the trainer starts from (tinyTrainer's seed).
    const start = await tinyTrainer(tinyConfig({}, path.join(tmp, 'unused')));
    await start.policy.save(path.join(tmp, 'initial'));
    start.dispose();
    start.policy.dispose();
    const url = await serve(path.join(tmp, 'initial'));

    const config = await tinyConfig({ generation: { engine: 'openai-http' } }, path.join(tmp, 'run'), [
      openAiEngine({ baseUrl: url, sync: 'checkpoint', logprobs: 'processed', retries: 1, timeoutMs: 60_000 }),
    ]);
    const trainer = await tinyTrainer(config);
    expect(trainer.describe().engine).toBe('openai-http');
    const steps = [];
    for (let i = 0; i < 3; i++) steps.push((await trainer.trainStep()).metrics);
    for (const m of steps) {
      // The server's numbers are the trainer's up to float32 kernels: the sync kept it on-policy.
      expect(Math.abs(m['mismatch/mismatch_kl']!)).toBeLessThan(1e-3);
      expect(m['sampling/sampling_logp_difference/max']).toBeLessThan(1e-2);
      expect(m['sampling/importance_sampling_ratio/mean']).toBeCloseTo(1, 2);
      expect(m['timing/sync_weights']).toBeGreaterThan(0);
      expect(m['completions/mean_length']).toBeGreaterThan(0);
      expect(Number.isFinite(m.loss)).toBe(true);
    }
    // The policy moved at each update: without the reloads the server's log-probs drift (about 4e-3 in mismatch_kl by step 1, measured).
    expect(steps[1]!.grad_norm).toBeGreaterThan(0);
    // One reload before the first rollout and one after each of the first two updates.
    expect(serverLog.match(/POST \/update_weights_from_disk 200/g)).toHaveLength(3);
    // Token in, token out: the server saw the prompts' ids (BOS + characters), no text.
    const policy = trainer.policy as Policy;
    expect(policy.encodePrompt('bc')).toHaveLength(3);
    trainer.dispose();
    policy.dispose();
  });

  it('fails loudly, naming the engine and the address, when no server answers', async () => {
    const engine = new OpenAiEngine({ baseUrl: 'http://127.0.0.1:9', retries: 1, backoffMs: 1, timeoutMs: 2000 });
    expect(await engine.health()).toMatchObject({ ok: false });
    await expect(engine.generate([{ text: 'b', ids: [1, 2] }], 2, { maxNewTokens: 2, temperature: 1 })).rejects.toThrow(EngineError);
    await expect(engine.generate([{ text: 'b', ids: [1, 2] }], 2, { maxNewTokens: 2, temperature: 1 })).rejects.toThrow(
      /rollout engine 'openai-http': http:\/\/127.0.0.1:9\/v1\/completions failed after 2 attempts: .*Is the server running at http:\/\/127.0.0.1:9\?/,
    );
  });
});
