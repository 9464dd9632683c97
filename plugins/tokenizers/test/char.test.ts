import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointError, DataError } from '@grpo/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CharTokenizer, loadTokenizer } from '../src/index.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'grpo-char-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('CharTokenizer', () => {
  const tok = CharTokenizer.fromChars(['a', 'b', 'c', ' ', 'b']);

  it('puts PAD, BOS, EOS, UNK first, then the characters in order without duplicates', () => {
    expect([tok.padId, tok.bosId, tok.eosId, tok.unkId]).toEqual([0, 1, 2, 3]);
    expect(tok.vocab).toEqual(['<pad>', '<bos>', '<eos>', '<unk>', 'a', 'b', 'c', ' ']);
    expect(tok.vocabSize).toBe(8);
    expect(tok.kind).toBe('char');
  });

  it('encodes characters to ids, adding BOS/EOS only when asked', () => {
    expect(tok.encode('cab a')).toEqual([6, 4, 5, 7, 4]);
    expect(tok.encode('ab', { addBos: true, addEos: true })).toEqual([1, 4, 5, 2]);
    expect(tok.encode('')).toEqual([]);
  });

  it('maps unseen characters to UNK by default and does not parse special-token strings', () => {
    expect(tok.encode('axb')).toEqual([4, 3, 5]);
    expect(tok.encode('<eos>')).toEqual([3, 3, 3, 3, 3]);
  });

  it("throws a DataError naming the character in 'error' mode or without UNK", () => {
    const strict = CharTokenizer.fromChars(['a'], { unknown: 'error' });
    expect(() => strict.encode('aé')).toThrow(DataError);
    expect(() => strict.encode('aé')).toThrow(/"é" \(U\+00E9\)/);
    const noUnk = CharTokenizer.fromChars(['a'], { specialTokens: { unk: null } });
    expect(noUnk.unkId).toBeUndefined();
    expect(noUnk.vocab).toEqual(['<pad>', '<bos>', '<eos>', 'a']);
    expect(() => noUnk.encode('b')).toThrow(/not in the vocabulary/);
  });

  it('decodes, showing or skipping special tokens', () => {
    expect(tok.decode([1, 6, 4, 5, 2, 0, 0])).toBe('<bos>cab<eos><pad><pad>');
    expect(tok.decode([1, 6, 4, 3, 5, 2, 0], { skipSpecial: true })).toBe('cab');
    expect(() => tok.decode([8])).toThrow(/outside the vocabulary \[0, 8\)/);
  });

  it('treats code points, not UTF-16 units, as characters', () => {
    const emoji = CharTokenizer.fromCorpus(['a😀']);
    expect(emoji.vocab.slice(4)).toEqual(['a', '😀']);
    expect(emoji.encode('😀a')).toEqual([5, 4]);
    expect(emoji.decode(emoji.encode('a😀a'))).toBe('a😀a');
    expect(() => CharTokenizer.fromChars(['ab'])).toThrow(/not a single character/);
  });

  it('fromCorpus collects the characters sorted by code point', () => {
    const t = CharTokenizer.fromCorpus(['cab', 'b a']);
    expect(t.vocab.slice(4)).toEqual([' ', 'a', 'b', 'c']);
    const text = 'abc cab';
    expect(t.decode(t.encode(text))).toBe(text);
  });

  it('saves tokenizer.json in the documented format and loads it back', async () => {
    await tok.save(dir);
    const json = JSON.parse(await readFile(join(dir, 'tokenizer.json'), 'utf8')) as unknown;
    expect(json).toEqual({
      kind: 'char',
      version: 1,
      vocab: ['<pad>', '<bos>', '<eos>', '<unk>', 'a', 'b', 'c', ' '],
      special: { pad: 0, bos: 1, eos: 2, unk: 3 },
    });
    const loaded = await loadTokenizer(dir);
    expect(loaded).toBeInstanceOf(CharTokenizer);
    expect(loaded.encode('ba c', { addEos: true })).toEqual([5, 4, 7, 6, 2]);
    expect([loaded.vocabSize, loaded.bosId, loaded.eosId, loaded.padId]).toEqual([8, 1, 2, 0]);
  });

  it('loadTokenizer throws a CheckpointError naming the file for missing or malformed files', async () => {
    const file = join(dir, 'tokenizer.json');
    await expect(loadTokenizer(dir)).rejects.toThrow(CheckpointError);
    await expect(loadTokenizer(dir)).rejects.toThrow(file);
    await writeFile(file, '{"kind": "char", "vocab": [');
    await expect(loadTokenizer(dir)).rejects.toThrow(new RegExp(`${file.replace(/[.\\/]/g, '\\$&')}: malformed JSON`));
    const cases: [unknown, RegExp][] = [
      [{ kind: 'char', version: 1, vocab: ['<p>', '<b>', '<e>', 'a'], special: { pad: 0, bos: 1, eos: 9 } }, /special\.eos/],
      [{ kind: 'char', version: 1, vocab: ['<p>', '<b>', '<e>', 'a', 'a'], special: { pad: 0, bos: 1, eos: 2 } }, /occurs twice/],
      [{ kind: 'char', version: 2, vocab: [], special: {} }, /version/],
      [{ kind: 'char', version: 1, vocab: [1, 2], special: {} }, /array of strings/],
      [{ kind: 'word' }, /unknown tokenizer format/],
      [[1, 2], /unknown tokenizer format/],
    ];
    for (const [content, message] of cases) {
      await writeFile(file, JSON.stringify(content));
      const error = await loadTokenizer(dir).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(CheckpointError);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).toContain(file);
    }
  });
});
