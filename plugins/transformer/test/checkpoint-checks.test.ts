/**
 * Issue 21, items 3 and 7: a checkpoint with non-finite weights or a malformed `config.json` is
 * refused with a `CheckpointError` naming the file (and tensor), before anything is allocated —
 * no TypeError, RangeError, minutes of work or an out-of-memory crash.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assembleContainer, CheckpointError, ConfigError, PolicyFactory, resolveConfig } from '@grpo/core';
import { decodeSafetensors, encodeSafetensors } from '@grpo/core/checkpoint';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import transformer, { loadPolicy, ScalarHeadModel } from '../src/index.js';
import { charTokenizer, TINY, tinyPolicy, useWasm } from './helpers.js';

let dir: string;
let good: string;
let goodScalar: string;
let n = 0;

beforeAll(async () => {
  await useWasm();
  dir = await mkdtemp(join(tmpdir(), 'grpo-ckpt-checks-'));
  good = join(dir, 'good');
  const policy = tinyPolicy();
  await policy.save(good);
  goodScalar = join(dir, 'good-scalar');
  const scalar = ScalarHeadModel.create({ tokenizer: policy.tokenizer, from: policy, alignment: 'after' });
  await scalar.save(goodScalar);
  scalar.dispose();
  policy.dispose();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A copy of `from` with `config.json#model` changed by `edit` (or the whole file replaced by `whole`). */
async function withConfig(from: string, edit: (model: Record<string, unknown>) => void, whole?: string): Promise<string> {
  const copy = join(dir, `copy-${n++}`);
  await cp(from, copy, { recursive: true });
  const file = join(copy, 'config.json');
  if (whole !== undefined) await writeFile(file, whole);
  else {
    const json = JSON.parse(await readFile(file, 'utf8')) as { model: Record<string, unknown> };
    edit(json.model);
    await writeFile(file, JSON.stringify(json));
  }
  return copy;
}

/** A copy of `from` with value `index` of tensor `name` set to `value`. */
async function withWeight(from: string, name: string, index: number, value: number): Promise<string> {
  const copy = join(dir, `copy-${n++}`);
  await cp(from, copy, { recursive: true });
  const file = join(copy, 'model.safetensors');
  const { tensors, metadata } = decodeSafetensors(await readFile(file), file);
  (tensors[name]!.data as Float32Array)[index] = value;
  await writeFile(file, encodeSafetensors(tensors, metadata));
  return copy;
}

async function refusal(load: Promise<unknown>): Promise<string> {
  const error = await load.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CheckpointError);
  return (error as Error).message;
}

describe('non-finite weights (item 3)', () => {
  it('loadPolicy and policy.load refuse NaN and ±Infinity, naming the file and the tensor', async () => {
    const nan = await withWeight(good, 'layers.1.attn_norm.weight', 3, Number.NaN);
    expect(await refusal(loadPolicy(nan))).toMatch(
      /model\.safetensors: tensor 'layers\.1\.attn_norm\.weight' holds 1 non-finite value \(first: NaN at index 3 of 16\)/,
    );
    const inf = await withWeight(good, 'embed.weight', 0, -Infinity);
    const policy = await loadPolicy(good);
    expect(await refusal(policy.load(inf))).toMatch(/tensor 'embed\.weight' holds 1 non-finite value \(first: -Infinity at index 0/);
    policy.dispose();
  });

  it('the scalar-head loader refuses them too', async () => {
    const nan = await withWeight(goodScalar, 'score_head.weight', 1, Number.NaN);
    expect(await refusal(ScalarHeadModel.fromCheckpoint(nan, charTokenizer()))).toMatch(/tensor 'score_head\.weight' holds 1 non-finite value/);
  });
});

describe('malformed config.json (item 7)', () => {
  it('null, arrays and a null model are refused without a TypeError', async () => {
    for (const whole of ['null', '[]', '"text"', '{"format":"grpo.transformer","version":1,"model":null}']) {
      const copy = await withConfig(good, () => {}, whole);
      expect(await refusal(loadPolicy(copy))).toMatch(/config\.json: not a grpo\.transformer v1 config/);
    }
  });

  it('wrong types are refused, every one named', async () => {
    const copy = await withConfig(good, (m) => {
      m.normEps = true;
      m.ropeBase = '4';
      m.tiedEmbeddings = 1;
      m.dModel = 16.5;
    });
    const message = await refusal(loadPolicy(copy));
    expect(message).toContain('model.dModel: expected an integer in [2, 65536], got 16.5');
    expect(message).toContain('model.ropeBase: expected a finite number > 0, got "4"');
    expect(message).toContain('model.normEps: expected a finite number > 0, got true');
    expect(message).toContain('model.tiedEmbeddings: expected true or false, got 1');
  });

  it('huge sizes are refused at once, before anything is allocated', async () => {
    const started = performance.now();
    for (const [key, value] of [
      ['maxSeqLen', 1e9],
      ['maxSeqLen', 1e7],
      ['nLayers', 1e9],
      ['vocabSize', 1e12],
    ] as const) {
      const copy = await withConfig(good, (m) => void (m[key] = value));
      expect(await refusal(loadPolicy(copy))).toMatch(new RegExp(`model\\.${key}: expected an integer in \\[\\d+, \\d+\\], got ${value}`));
    }
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('sizes within bounds must match the tensors present', async () => {
    const layers = await withConfig(good, (m) => void (m.nLayers = 1000));
    expect(await refusal(loadPolicy(layers))).toMatch(/model\.safetensors: config\.json says nLayers 1000, but the file holds 2 layers \(indices 0–1\)/);
    const tied = await withConfig(good, (m) => void (m.tiedEmbeddings = false));
    expect(await refusal(loadPolicy(tied))).toMatch(/missing tensor 'lm_head\.weight' \(config\.json says tiedEmbeddings: false\)/);
    const width = await withConfig(good, (m) => {
      m.dModel = 32;
      m.ffnDim = 24;
    });
    expect(await refusal(loadPolicy(width))).toMatch(/tensor 'embed\.weight' has shape \[\d+,16\], config\.json implies \[\d+,32\]/);
    const scalar = await withConfig(goodScalar, (m) => void (m.nLayers = 1e6));
    expect(await refusal(ScalarHeadModel.fromCheckpoint(scalar, charTokenizer()))).toMatch(/model\.nLayers: expected an integer in \[1, 1024\], got 1000000/);
  });
});

describe('policy.model beside policy.checkpoint (item 8)', () => {
  const factoryFor = async (model: Record<string, unknown>) => {
    const config = await resolveConfig({ policy: { checkpoint: good, model } }, { source: join(dir, 'grpo.config.json'), defaults: [transformer()] });
    return { config, factory: (await assembleContainer(config)).get<PolicyFactory>(PolicyFactory) };
  };

  it('is refused when it describes another architecture than the checkpoint, naming what differs', async () => {
    const { config, factory } = await factoryFor({ dModel: 32, nLayers: 2, nHeads: 4, ffnDim: 24, maxSeqLen: 48 });
    const error = await factory.create({ config, checkpoint: good }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toEqual([
      {
        path: 'policy.model',
        message: `describes another architecture than the checkpoint ${good} (dModel 32 ≠ 16); policy.model only builds a fresh model: remove it when starting from a checkpoint, or make it match`,
      },
    ]);
  });

  it('is accepted when it describes the checkpoint', async () => {
    const { config, factory } = await factoryFor({ ...TINY });
    const policy = await factory.create({ config, checkpoint: good });
    policy.dispose();
  });
});
