import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer, assembleContainer, resolveConfig, type ResolvedConfig } from '@grpo/core';
import { beforeAll, describe, expect, it } from 'vitest';
import tokenizers, { CharTokenizer } from '../src/index.js';

let config: ResolvedConfig;
beforeAll(async () => {
  config = await resolveConfig({}, 'test', process.cwd());
});

describe('tokenizers plugin', () => {
  it('declares its metadata', () => {
    expect(tokenizers().meta).toEqual({ name: '@grpo/plugin-tokenizers', version: '0.1.0', core: '^0.1.0' });
  });

  it('binds a character tokenizer built from options', async () => {
    const container = await assembleContainer({ config, plugins: [tokenizers({ char: { corpus: ['ba'] } })] });
    const tok = container.get<Tokenizer>(Tokenizer);
    expect(tok.kind).toBe('char');
    expect(tok.encode('ab')).toEqual([4, 5]);
  });

  it('binds the tokenizer of a checkpoint directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'grpo-plugin-'));
    try {
      await CharTokenizer.fromChars(['x', 'y']).save(dir);
      const container = await assembleContainer({ config, plugins: [tokenizers({ dir })] });
      expect(container.get<Tokenizer>(Tokenizer).encode('yx')).toEqual([5, 4]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('binds nothing without options', async () => {
    const container = await assembleContainer({ config, plugins: [tokenizers()] });
    expect(container.isBound(Tokenizer)).toBe(false);
  });
});
