import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, Tokenizer, assembleContainer, resolveConfig, type GrpoPlugin } from '@grpo/core';
import { describe, expect, it } from 'vitest';
import tokenizers, { CharTokenizer } from '../src/index.js';

const containerWith = async (plugin: GrpoPlugin) => assembleContainer(await resolveConfig({ plugins: [plugin] }, { source: 'test' }));

describe('tokenizers plugin', () => {
  it('declares its metadata', () => {
    expect(tokenizers().meta).toEqual({ name: '@grpo/plugin-tokenizers', version: '0.1.0', core: '^0.1.0' });
  });

  it('binds a character tokenizer built from options', async () => {
    const container = await containerWith(tokenizers({ char: { corpus: ['ba'] } }));
    const tok = await container.getAsync<Tokenizer>(Tokenizer);
    expect(tok.kind).toBe('char');
    expect(tok.encode('ab')).toEqual([4, 5]);
  });

  it('binds the tokenizer of a checkpoint directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'grpo-plugin-'));
    try {
      await CharTokenizer.fromChars(['x', 'y']).save(dir);
      const container = await containerWith(tokenizers({ dir }));
      expect((await container.getAsync<Tokenizer>(Tokenizer)).encode('yx')).toEqual([5, 4]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('binds nothing without options', async () => {
    const container = await containerWith(tokenizers());
    expect(container.isBound(Tokenizer)).toBe(false);
  });

  it('reports options that describe no tokenizer with the config problems', async () => {
    const bad = resolveConfig({ plugins: [tokenizers({ chars: 'ab' } as never)] }, { source: 'test' });
    await expect(bad).rejects.toThrow(ConfigError);
    await expect(bad).rejects.toThrow(
      /plugins\[@grpo\/plugin-tokenizers\]: expected \{ char: \{ chars \| corpus \} \}, \{ file \}, \{ dir \} or \{ tokenizer \}/,
    );
  });
});
