import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { assembleContainer, CheckpointError, ConfigError, PolicyFactory, Tokenizer, resolveConfig } from '@grpo/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FrozenTransformerPolicy } from '../src/index.js';
import transformer, { TransformerPolicy, createPolicy, loadPolicy, resolveModelConfig, weightShapes } from '../src/index.js';
import { sampleLogprobs as logprobs, TINY, charTokenizer, tinyPolicy, useWasm, weightValues } from './helpers.js';

let dir: string;
beforeAll(async () => {
  await useWasm();
  dir = await mkdtemp(join(tmpdir(), 'grpo-transformer-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('config', () => {
  it('fills defaults like core (ffnDim ≈ 8/3·dModel rounded to 8) and reports every bad size at once', () => {
    const cfg = resolveModelConfig({}, 64);
    expect(cfg).toMatchObject({ vocabSize: 64, dModel: 128, nLayers: 4, nHeads: 4, nKvHeads: 4, ffnDim: 344, maxSeqLen: 128, tiedEmbeddings: true });
    let err: unknown;
    try {
      resolveModelConfig({ dModel: 30, nHeads: 4, nKvHeads: 3, vocabSize: 10 }, 12);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const paths = (err as ConfigError).issues.map((i) => i.path);
    expect(paths).toEqual(['policy.model.nHeads', 'policy.model.nKvHeads', 'policy.model.vocabSize']);
  });

  it('initialises deterministically from the seed', () => {
    const a = createPolicy({ model: TINY, tokenizer: charTokenizer(), seed: 4 });
    const b = createPolicy({ model: TINY, tokenizer: charTokenizer(), seed: 4 });
    const c = createPolicy({ model: TINY, tokenizer: charTokenizer(), seed: 5 });
    const [wa, wb, wc] = [weightValues(a), weightValues(b), weightValues(c)];
    expect(wb).toEqual(wa);
    expect(wc.get('layers.0.attn.wq')).not.toEqual(wa.get('layers.0.attn.wq'));
    const std = Math.sqrt((wa.get('layers.1.mlp.w1') as Float32Array).reduce((s, x) => s + x * x, 0) / (wa.get('layers.1.mlp.w1') as Float32Array).length);
    expect(std).toBeGreaterThan(0.015);
    expect(std).toBeLessThan(0.025);
    for (const p of [a, b, c]) p.dispose();
  });
});

describe('checkpoints', () => {
  it('save → loadPolicy round-trips weights, config and tokenizer bit-exactly', async () => {
    const policy = tinyPolicy({ ...TINY, nKvHeads: 2, tiedEmbeddings: false });
    const ck = join(dir, 'ck1');
    await policy.save(ck);
    const loaded = await loadPolicy(ck);
    expect(loaded.config).toEqual(policy.config);
    expect(weightValues(loaded)).toEqual(weightValues(policy));
    expect(loaded.tokenizer.encode('hello, world!')).toEqual(policy.tokenizer.encode('hello, world!'));
    expect(logprobs(loaded)).toEqual(logprobs(policy));
    const opts = { maxNewTokens: 6, temperature: 1, seed: 3 };
    expect(await loaded.generate(['abc'], 2, opts)).toEqual(await policy.generate(['abc'], 2, opts));
    // Saving again over the same directory replaces it.
    await loaded.save(ck);
    expect(weightValues(await loadPolicy(ck).then((p) => (p.dispose(), loaded)))).toEqual(weightValues(policy));
    policy.dispose();
    loaded.dispose();
  });

  it('rejects checkpoints that do not match their config.json, naming the file and the problem', async () => {
    const policy = tinyPolicy();
    const ck = join(dir, 'ck2');
    await policy.save(ck);
    const cfgFile = join(ck, 'config.json');
    const original = await readFile(cfgFile, 'utf8');
    const json = JSON.parse(original) as { model: { ffnDim: number } };
    json.model.ffnDim = 32;
    await writeFile(cfgFile, JSON.stringify(json));
    await expect(loadPolicy(ck)).rejects.toThrow(CheckpointError);
    await expect(loadPolicy(ck)).rejects.toThrow(/model\.safetensors.*layers\.0\.mlp\.w1.*shape \[16,24\].*\[16,32\]/);
    await writeFile(cfgFile, '{ not json');
    await expect(loadPolicy(ck)).rejects.toThrow(/config\.json.*malformed/);
    await writeFile(cfgFile, JSON.stringify({ format: 'something-else' }));
    await expect(loadPolicy(ck)).rejects.toThrow(/config\.json.*not a grpo\.transformer/);
    await rm(cfgFile);
    await expect(loadPolicy(ck)).rejects.toThrow(/config\.json.*missing/);
    await writeFile(cfgFile, original);
    await writeFile(join(ck, 'model.safetensors'), new Uint8Array([1, 2, 3]));
    await expect(loadPolicy(ck)).rejects.toThrow(CheckpointError);
    policy.dispose();
  });

  it('load(dir) replaces the weights of a policy and of a frozen copy; a different architecture is refused', async () => {
    const a = tinyPolicy(TINY, 1);
    const b = tinyPolicy(TINY, 2);
    const ck = join(dir, 'ck3');
    await a.save(ck);
    expect(logprobs(b)).not.toEqual(logprobs(a));
    await b.load(ck);
    expect(weightValues(b)).toEqual(weightValues(a));
    const frozen = tinyPolicy(TINY, 3).snapshot();
    await frozen.load(ck);
    expect(logprobs(frozen)).toEqual(logprobs(a));
    const frozenDir = join(dir, 'ck3-frozen');
    await frozen.save(frozenDir);
    expect(weightValues(await loadPolicy(frozenDir))).toEqual(weightValues(a));
    const other = tinyPolicy({ ...TINY, ffnDim: 32 });
    await expect(other.load(ck)).rejects.toThrow(/config\.json.*ffnDim 24 ≠ 32/);
    for (const p of [a, b, frozen, other]) p.dispose();
  });
});

describe('snapshots', () => {
  it('snapshot() freezes the weights; syncFrom copies or mixes them (TR-DPO)', () => {
    const policy = tinyPolicy();
    const n0 = tf.memory().numTensors;
    const snap = policy.snapshot() as FrozenTransformerPolicy;
    expect(logprobs(snap)).toEqual(logprobs(policy));
    const before = weightValues(policy);
    // Change the policy.
    tf.tidy(() => {
      for (const v of policy.trainableVariables()) v.assign(tf.add(v, 0.05));
    });
    expect(logprobs(snap)).not.toEqual(logprobs(policy));
    expect(weightValues(snap)).toEqual(before);
    snap.syncFrom(policy, 0.25);
    const after = weightValues(policy);
    const mixed = weightValues(snap);
    for (const [name, w] of mixed) {
      const exp = (before.get(name) as Float32Array).map((x, i) => 0.25 * (after.get(name) as Float32Array)[i]! + 0.75 * x);
      w.forEach((x, i) => expect(Math.abs(x - (exp[i] as number))).toBeLessThan(1e-6));
    }
    snap.syncFrom(policy);
    expect(weightValues(snap)).toEqual(after);
    expect(snap.weights.get('embed.weight')?.trainable).toBe(false);
    snap.dispose();
    expect(tf.memory().numTensors).toBe(n0);
    policy.dispose();
  });

  it('a snapshot shares no fate with its policy: it outlives policy.dispose() and SFT-style updates', () => {
    const policy = tinyPolicy();
    const expected = logprobs(policy);
    const snap = policy.snapshot();
    tf.tidy(() => {
      for (const v of policy.trainableVariables()) v.assign(tf.mul(v, 0.5));
    });
    policy.dispose();
    expect(logprobs(snap)).toEqual(expected);
    snap.dispose();
  });

  it('names every weight as in weightShapes', () => {
    const policy = tinyPolicy({ ...TINY, tiedEmbeddings: false });
    expect([...policy.weights.keys()]).toEqual(weightShapes(policy.config).map(([n]) => n));
    expect([...policy.weights.keys()]).toContain('layers.1.attn.wq');
    expect([...policy.weights.keys()]).toContain('lm_head.weight');
    policy.dispose();
  });
});

describe('plugin', () => {
  /** The container core's prepareContainer builds: the config, the plugin, a bound tokenizer. */
  const containerFor = async (raw: Record<string, unknown>, withTokenizer = true) => {
    const config = await resolveConfig(raw, { source: join(dir, 'grpo.config.json'), defaults: [transformer()] });
    const container = await assembleContainer(config);
    if (withTokenizer) container.bind<Tokenizer>(Tokenizer).toConstantValue(charTokenizer());
    return { config, container };
  };

  it('owns policy.model and contributes a PolicyFactory that builds from the config and the bound tokenizer', async () => {
    const plugin = transformer();
    expect(plugin.meta).toEqual({ name: '@grpo/plugin-transformer', version: '0.1.0', core: '^0.1.0' });
    const { config, container } = await containerFor({ seed: 7, policy: { model: TINY } });
    const factory = container.get<PolicyFactory>(PolicyFactory);
    expect(factory.name).toBe('transformer');
    const policy = await factory.create({ config, tokenizer: charTokenizer() });
    expect(policy).toBeInstanceOf(TransformerPolicy);
    expect(weightValues(policy as TransformerPolicy)).toEqual(weightValues(createPolicy({ model: TINY, tokenizer: charTokenizer(), seed: 7 })));
    const ck = join(dir, 'ck-plugin');
    await policy.save(ck);
    const fromCk = await factory.create({ config, checkpoint: ck });
    expect(weightValues(fromCk as TransformerPolicy)).toEqual(weightValues(policy as TransformerPolicy));
    policy.dispose();
    fromCk.dispose();
    await expect(factory.create({ config })).rejects.toThrow(ConfigError);
  });

  it('validates policy.model with the config: the transformer needs dModel ≥ 2', async () => {
    await expect(containerFor({ policy: { model: { dModel: 1, nLayers: 0 } } })).rejects.toThrow(
      /policy\.model\.dModel: expected an integer ≥ 2, got 1[\s\S]*policy\.model\.nLayers: expected an integer ≥ 1, got 0/,
    );
  });
});
