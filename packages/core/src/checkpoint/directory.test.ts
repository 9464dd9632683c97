import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { CheckpointError } from '../errors.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readJsonFile, readSafetensorsFile, writeDirAtomic } from './directory.js';
import { encodeSafetensors } from './safetensors.js';
import { fromStTensor, toStTensor, toStTensors } from './tensors.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'grpo-ckpt-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) {
      const path = join(e.parentPath, e.name);
      out[path.slice(dir.length + 1)] = await readFile(path, 'utf8');
    }
  }
  return out;
}

describe('writeDirAtomic', () => {
  it('writes a new directory (creating parents and subfolders) and leaves no temporary siblings', async () => {
    const dir = join(root, 'runs', 'ckpt-1');
    await writeDirAtomic(dir, { 'config.json': '{"a":1}', 'model.bin': new Uint8Array([1, 2, 3]), 'sub/x.txt': 'x' });
    expect(await snapshot(dir)).toEqual({ 'config.json': '{"a":1}', 'model.bin': '\x01\x02\x03', 'sub/x.txt': 'x' });
    expect(await readdir(join(root, 'runs'))).toEqual(['ckpt-1']);
  });

  it('replaces an existing directory completely', async () => {
    const dir = join(root, 'ckpt');
    await writeDirAtomic(dir, { 'a.json': 'old', 'stale.txt': 'gone' });
    await writeDirAtomic(dir, { 'a.json': 'new' });
    expect(await snapshot(dir)).toEqual({ 'a.json': 'new' });
    expect(await readdir(root)).toEqual(['ckpt']);
  });

  it('keeps the old directory intact when writing fails midway', async () => {
    const dir = join(root, 'ckpt');
    await writeDirAtomic(dir, { 'a.json': 'old', 'b.json': 'old b' });
    // The first file writes fine; the second needs 'a.json' to be a folder and fails (ENOTDIR).
    const error = await writeDirAtomic(dir, { 'a.json': 'new', 'a.json/inner': 'boom' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CheckpointError);
    expect((error as Error).message).toContain(`Cannot write checkpoint ${dir}`);
    expect(await snapshot(dir)).toEqual({ 'a.json': 'old', 'b.json': 'old b' });
    expect(await readdir(root)).toEqual(['ckpt']);
  });

  it('leaves no directory at all when the first write of a new directory fails before commit', async () => {
    const dir = join(root, 'fresh');
    await expect(
      writeDirAtomic(
        dir,
        { 'a.json': 'x' },
        {
          beforeCommit: async () => {
            // Everything is written to the temporary sibling by now, and nothing is at `dir`.
            expect((await readdir(root)).filter((n) => n.startsWith('.fresh.tmp-'))).toHaveLength(1);
            await expect(readdir(dir)).rejects.toThrow();
            throw new Error('simulated crash');
          },
        },
      ),
    ).rejects.toThrow(/simulated crash/);
    expect(await readdir(root)).toEqual([]);
  });

  it('keeps the old directory when the process fails right before commit', async () => {
    const dir = join(root, 'ckpt');
    await writeDirAtomic(dir, { 'w.safetensors': 'v1' });
    await expect(writeDirAtomic(dir, { 'w.safetensors': 'v2' }, { beforeCommit: () => Promise.reject(new Error('disk full')) })).rejects.toThrow(/disk full/);
    expect(await snapshot(dir)).toEqual({ 'w.safetensors': 'v1' });
    expect(await readdir(root)).toEqual(['ckpt']);
  });

  it('refuses file names that escape the directory', async () => {
    await expect(writeDirAtomic(join(root, 'd'), { '../evil': 'x' })).rejects.toThrow(/must be a relative path/);
    await expect(writeDirAtomic(join(root, 'd'), { '/abs': 'x' })).rejects.toThrow(CheckpointError);
    expect(await readdir(root)).toEqual([]);
  });
});

describe('readers', () => {
  it('readJsonFile parses JSON and names the file when it is missing or malformed', async () => {
    const file = join(root, 'config.json');
    await expect(readJsonFile(file)).rejects.toThrow(`${file}: file is missing.`);
    await writeFile(file, '{"dModel": 8,');
    await expect(readJsonFile(file)).rejects.toThrow(CheckpointError);
    await expect(readJsonFile(file)).rejects.toThrow(`${file}: malformed JSON`);
    await writeFile(file, '{"dModel": 8}');
    expect(await readJsonFile<{ dModel: number }>(file)).toEqual({ dModel: 8 });
  });

  it('readSafetensorsFile reads what encodeSafetensors wrote and names the file on errors', async () => {
    const file = join(root, 'model.safetensors');
    await expect(readSafetensorsFile(file)).rejects.toThrow(`${file}: file is missing.`);
    const bytes = encodeSafetensors({ w: { dtype: 'F32', shape: [1, 2], data: new Float32Array([0.25, -1]) } }, { kind: 'test' });
    await writeFile(file, bytes);
    const { tensors, metadata } = await readSafetensorsFile(file);
    expect(metadata).toEqual({ kind: 'test' });
    expect(tensors.w?.shape).toEqual([1, 2]);
    expect([...(tensors.w?.data ?? [])]).toEqual([0.25, -1]);
    await writeFile(file, bytes.subarray(0, bytes.length - 1));
    await expect(readSafetensorsFile(file)).rejects.toThrow(new RegExp(`^${file.replace(/[.\\/]/g, '\\$&')}: not a valid safetensors file`));
    await mkdir(join(root, 'dir.safetensors'));
    await expect(readSafetensorsFile(join(root, 'dir.safetensors'))).rejects.toThrow(/cannot read/);
  });
});

describe('tensor helpers', () => {
  it('copy tensors to safetensors entries and back without leaking', () => {
    const before = tf.memory().numTensors;
    const a = tf.tensor2d([
      [1, -0.5],
      [3, 4],
    ]);
    const b = tf.tensor1d([5, -6], 'int32');
    const c = tf.tensor1d([true, false], 'bool');
    const st = toStTensors({ a, b, c });
    expect(st.a).toEqual({ dtype: 'F32', shape: [2, 2], data: new Float32Array([1, -0.5, 3, 4]) });
    expect(st.b).toEqual({ dtype: 'I32', shape: [2], data: new Int32Array([5, -6]) });
    expect(st.c).toEqual({ dtype: 'I32', shape: [2], data: new Int32Array([1, 0]) });
    const back = fromStTensor(toStTensor(a));
    expect(back.dtype).toBe('float32');
    expect(back.shape).toEqual([2, 2]);
    expect(back.arraySync()).toEqual([
      [1, -0.5],
      [3, 4],
    ]);
    const backInt = fromStTensor(toStTensor(b));
    expect(backInt.dtype).toBe('int32');
    expect(backInt.arraySync()).toEqual([5, -6]);
    tf.dispose([a, b, c, back, backInt]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
