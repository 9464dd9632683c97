/**
 * The fingerprints the "before" evaluation's cache is keyed on (eval-cache.ts): small files by
 * their whole content, large ones (weights) by size, mtime and a sampled hash.
 */
import { copyFile, mkdir, mkdtemp, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprintFile, fingerprintPath } from '../src/eval-cache.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'grpo-eval-cache-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Writes `data` to `file` and sets its mtime back to `mtime` (what an edit that keeps the date looks like). */
async function writeKeepingMtime(file: string, data: Buffer | string, mtime: Date): Promise<void> {
  await writeFile(file, data);
  await utimes(file, mtime, mtime);
}

const MiB = 2 ** 20;
/** 12 MiB of a fixed pattern: large against the 64 KiB full-hash limit the tests pass, with gaps between the sampled chunks. */
function big(): Buffer {
  const out = Buffer.alloc(12 * MiB);
  for (let i = 0; i < out.length; i++) out[i] = (i * 7919) & 255;
  return out;
}
const LIMIT = 64 * 1024;

describe('fingerprintFile', () => {
  it('hashes a small file whole: an edit of the same size with the old mtime is seen', async () => {
    const file = path.join(dir, 'tokenizer_config.json');
    const mtime = new Date('2025-01-01T00:00:00Z');
    await writeKeepingMtime(file, '{"chat_template":"{{ a }}"}', mtime);
    const before = await fingerprintFile(file);
    await writeKeepingMtime(file, '{"chat_template":"{{ b }}"}', mtime);
    expect((await stat(file)).mtimeMs).toBe(mtime.getTime());
    expect(await fingerprintFile(file)).not.toBe(before);
  });

  it('keys a large file on size, mtime and a sample: an edit in the sample is seen with the old mtime, a new mtime is a new key', async () => {
    const file = path.join(dir, 'model.safetensors');
    const mtime = new Date('2025-01-01T00:00:00Z');
    const data = big();
    await writeKeepingMtime(file, data, mtime);
    const original = await fingerprintFile(file, LIMIT);
    expect(original).toMatch(/^sampled:12582912:/);
    // The same bytes elsewhere with the same mtime: the same key (where the file lies is no part of it).
    const copy = path.join(dir, 'copy.safetensors');
    await copyFile(file, copy);
    await utimes(copy, mtime, mtime);
    expect(await fingerprintFile(copy, LIMIT)).toBe(original);
    // A byte in the header region (first MiB) and one in the last MiB, each with the mtime kept.
    for (const at of [100, data.length - 10]) {
      const edited = Buffer.from(data);
      edited[at] = (edited[at]! + 1) & 255;
      await writeKeepingMtime(file, edited, mtime);
      expect(await fingerprintFile(file, LIMIT)).not.toBe(original);
    }
    // The same bytes with a new mtime: a new key.
    await writeKeepingMtime(file, data, new Date('2025-01-02T00:00:00Z'));
    expect(await fingerprintFile(file, LIMIT)).not.toBe(original);
    // The limit of sampling, as documented: a byte outside the sample (past the first MiB, between
    // the chunks at 12 MiB·5/65 and 12 MiB·6/65) with the mtime restored is not seen.
    const outside = Buffer.from(data);
    outside[MiB + 1000] = (outside[MiB + 1000]! + 1) & 255;
    await writeKeepingMtime(file, outside, mtime);
    expect(await fingerprintFile(file, LIMIT)).toBe(original);
  });
});

describe('fingerprintPath', () => {
  it('covers every file of a directory with its relative path', async () => {
    const model = path.join(dir, 'model');
    await mkdir(path.join(model, 'sub'), { recursive: true });
    await writeFile(path.join(model, 'config.json'), '{}');
    await writeFile(path.join(model, 'sub', 'a.txt'), 'a');
    const before = await fingerprintPath(model);
    expect(await fingerprintPath(model)).toBe(before);
    await rename(path.join(model, 'sub', 'a.txt'), path.join(model, 'sub', 'b.txt'));
    const renamed = await fingerprintPath(model);
    expect(renamed).not.toBe(before);
    await writeFile(path.join(model, 'generation_config.json'), '{}');
    expect(await fingerprintPath(model)).not.toBe(renamed);
  });
});
