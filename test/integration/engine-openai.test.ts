/**
 * The HTTP rollout engine against a real server: `grpo serve` started as its own process on
 * loopback, serving the tiny task's initial policy; the trainer samples through it by token ids,
 * writes its weights after each update and makes the server reload them. The server's log-probs
 * then stay the trainer's own (mismatch ≈ 0) at every step, which they would not if a sync were
 * missed: the policy moves at each update.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineError, type Policy } from '@grpo/core';
import openAiEngine, { OpenAiEngine } from '@grpo/plugin-engine-openai';
import { resolveLoraConfig, type TransformerPolicy } from '@grpo/plugin-transformer';
import { tinyConfig, tinyPolicy, tinyTrainer, useWasm } from './tiny-task.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
let tmp: string;
const servers: ChildProcess[] = [];

/** Starts `grpo serve` on a free loopback port; resolves with its URL from the line it prints, and its request log so far. */
async function serve(checkpoint: string): Promise<{ url: string; log: () => string }> {
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', 'packages/cli/src/bin.ts', 'serve', '--checkpoint', checkpoint, '--port', '0', '--cwd', tmp],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  servers.push(child);
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const found = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
      if (found) resolve(found);
    });
    child.on('exit', (code) => reject(new Error(`grpo serve exited with ${code}: ${log}`)));
  });
  return { url, log: () => log };
}

/** POSTs (or GETs, without a body) JSON to the server; the status and the parsed answer. */
async function call(url: string, body?: object): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, body ? { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {});
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  await useWasm();
  tmp = mkdtempSync(path.join(os.tmpdir(), 'grpo-engine-openai-'));
});

afterAll(() => {
  for (const server of servers) server.kill('SIGTERM');
  rmSync(tmp, { recursive: true, force: true });
});

describe('openai-http engine with grpo serve (a real process on loopback)', () => {
  it('trains the tiny task through the server, syncing weights by checkpoint reload after every update', async () => {
    // The server starts from the same weights the trainer starts from (tinyTrainer's seed).
    const start = await tinyTrainer(tinyConfig({}, path.join(tmp, 'unused')));
    await start.policy.save(path.join(tmp, 'initial'));
    start.dispose();
    start.policy.dispose();
    const { url, log: serverLog } = await serve(path.join(tmp, 'initial'));

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
    expect(serverLog().match(/POST \/update_weights_from_disk 200/g)).toHaveLength(3);
    // Token in, token out: the server saw the prompts' ids (BOS + characters), no text.
    const policy = trainer.policy as Policy;
    expect(policy.encodePrompt('bc')).toHaveLength(3);
    trainer.dispose();
    policy.dispose();
  });

  it('trains a LoRA policy through the server, sending only its adapters after every update (/v1/load_lora_adapter)', async () => {
    const lora = resolveLoraConfig({ r: 2, alpha: 4, targetModules: 'all-linear' });
    const loraPolicy = () => tinyPolicy().withLora(lora, 1);
    const initial = loraPolicy();
    await initial.save(path.join(tmp, 'lora-initial'));
    initial.dispose();
    const { url, log } = await serve(path.join(tmp, 'lora-initial'));

    const run = path.join(tmp, 'lora-run');
    const config = await tinyConfig({ generation: { engine: 'openai-http' } }, run, [
      openAiEngine({ baseUrl: url, sync: 'lora', logprobs: 'processed', retries: 1, timeoutMs: 60_000 }),
    ]);
    const trainer = await tinyTrainer(config, { policy: loraPolicy() });
    const steps = [];
    for (let i = 0; i < 3; i++) steps.push((await trainer.trainStep()).metrics);
    for (const m of steps) {
      expect(Math.abs(m['mismatch/mismatch_kl']!)).toBeLessThan(1e-4);
      expect(m['sampling/sampling_logp_difference/max']).toBeLessThan(1e-2);
      expect(m['timing/sync_weights']).toBeGreaterThan(0);
    }
    // One adapter before the first rollout and one after each of the first two updates, each the adapters alone.
    expect(log().match(/POST \/v1\/load_lora_adapter 200/g)).toHaveLength(3);
    for (const step of ['step-0', 'step-1', 'step-2'])
      expect(readdirSync(path.join(run, 'engine-weights', step)).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    // The server serves the last adapter on its base, as vLLM lists it; the base alone is no longer served, and says why.
    const models = await call(`${url}/v1/models`);
    expect((models.json.data as { id: string; parent: string | null }[]).map((m) => [m.id, m.parent])).toEqual([
      ['lora-initial', null],
      ['grpo-3', 'lora-initial'],
    ]);
    const base = await call(`${url}/v1/completions`, { model: 'lora-initial', prompt: [1, 2], max_tokens: 2 });
    expect(base.status).toBe(400);
    expect(JSON.stringify(base.json)).toMatch(/not served alone while the LoRA adapter `grpo-3` is loaded/);
    const old = await call(`${url}/v1/completions`, { model: 'grpo-1', prompt: [1, 2], max_tokens: 2 });
    expect(old.status).toBe(404);
    // The adapters the server holds are the trainer's after step 2: the server scores as the trainer's policy did then.
    const policy = trainer.policy as TransformerPolicy;
    const copy = loraPolicy();
    await copy.loadAdapter!(path.join(run, 'engine-weights', 'step-2'));
    const answer = await call(`${url}/v1/completions`, {
      model: 'grpo-3',
      prompt: copy.encodePrompt('bc'),
      max_tokens: 4,
      logprobs: 0,
      seed: 3,
      return_token_ids: true,
    });
    const choice = (answer.json.choices as { token_ids: number[]; logprobs: { token_logprobs: number[] } }[])[0]!;
    const ours = tf.tidy(() => Array.from(copy.tokenLogProbs({ prompts: [copy.encodePrompt('bc')], completions: [choice.token_ids] }).logprobs.dataSync()));
    for (const [i, lp] of choice.logprobs.token_logprobs.entries()) expect(lp).toBeCloseTo(ours[i]!, 4);
    trainer.dispose();
    policy.dispose();
    copy.dispose();
  });

  it("refuses sync 'lora' for a policy without adapters, naming the engine and the fix", async () => {
    const engine = new OpenAiEngine({ baseUrl: 'http://127.0.0.1:9', sync: { kind: 'lora', dir: path.join(tmp, 'never') } });
    const plain = tinyPolicy();
    await expect(engine.syncWeights(plain, { signal: new AbortController().signal })).rejects.toThrow(
      /rollout engine 'openai-http': weight sync 'lora' sends the policy's LoRA adapters, and this policy trains all its weights: set policy.lora/,
    );
    plain.dispose();
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
