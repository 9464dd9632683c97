import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointError } from '@grpo/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { policyFromFiles } from '../src/index.js';
import { sampleLogprobs, tinyPolicy, useWasm, weightValues } from './helpers.js';

let dir: string;
beforeAll(async () => {
  await useWasm();
  dir = await mkdtemp(join(tmpdir(), 'grpo-policy-files-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const bytes = (files: Record<string, Uint8Array | string>) =>
  Object.fromEntries(Object.entries(files).map(([name, c]) => [name, typeof c === 'string' ? new TextEncoder().encode(c) : c]));

describe('checkpoint files in memory (a browser has no directory)', () => {
  it('files() are byte for byte what save(dir) writes, and policyFromFiles reads them back to the same policy', async () => {
    const policy = tinyPolicy();
    await policy.save(join(dir, 'saved'));
    const files = bytes(await policy.files());
    const names = (await readdir(join(dir, 'saved'))).sort();
    expect(Object.keys(files).sort()).toEqual(names);
    for (const name of names) expect(Buffer.from(files[name]!).equals(await readFile(join(dir, 'saved', name))), name).toBe(true);
    const copy = await policyFromFiles(files);
    expect(weightValues(copy)).toEqual(weightValues(policy));
    expect(sampleLogprobs(copy)).toEqual(sampleLogprobs(policy));
    policy.dispose();
    copy.dispose();
  });

  it('names the missing or malformed file', async () => {
    const policy = tinyPolicy();
    const files = bytes(await policy.files());
    policy.dispose();
    const { ['tokenizer.json']: _tokenizer, ...noTokenizer } = files;
    await expect(policyFromFiles(noTokenizer, 'upload')).rejects.toThrow(CheckpointError);
    await expect(policyFromFiles(noTokenizer, 'upload')).rejects.toThrow('upload/tokenizer.json: missing');
    await expect(policyFromFiles({ ...files, 'config.json': new TextEncoder().encode('{') }, 'upload')).rejects.toThrow('upload/config.json: malformed JSON');
    const truncated = files['model.safetensors']!.subarray(0, 100);
    await expect(policyFromFiles({ ...files, 'model.safetensors': truncated }, 'upload')).rejects.toThrow(/^upload\/model\.safetensors/);
  });
});
