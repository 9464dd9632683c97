import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointError, DataError } from '@grpo/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HfTokenizer, loadTokenizer } from '../src/index.js';

/**
 * A tiny byte-level BPE tokenizer.json written by hand. Byte-level maps ' ' to 'Ġ'.
 * Merges in rank order: a+b → ab, ab+c → abc, Ġ+a → Ġa, Ġa+b → Ġab.
 */
function tinyBpe(): Record<string, unknown> {
  const added = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [added(0, '<s>'), added(1, '</s>'), added(2, '<pad>')],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: { '<s>': 0, '</s>': 1, '<pad>': 2, a: 3, b: 4, c: 5, Ġ: 6, ab: 7, abc: 8, Ġa: 9, Ġab: 10 },
      merges: ['a b', 'ab c', 'Ġ a', 'Ġa b'],
    },
  };
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'grpo-hf-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('HfTokenizer on a hand-written BPE tokenizer.json', () => {
  const tok = HfTokenizer.fromJSON(tinyBpe());

  it('finds BOS/EOS/PAD among the special tokens', () => {
    expect(tok.kind).toBe('hf');
    expect([tok.bosId, tok.eosId, tok.padId, tok.vocabSize]).toEqual([0, 1, 2, 11]);
  });

  it('encodes by applying merges in rank order', () => {
    // "abc" → a b c → ab c → abc (8). " ab" → Ġ a b: "a b" (rank 0) beats "Ġ a" (rank 2) → Ġ ab;
    // no merge "Ġ ab" exists, so [6, 7] even though "Ġab" is in the vocabulary.
    expect(tok.encode('abc ab')).toEqual([8, 6, 7]);
    expect(tok.encode(' a')).toEqual([9]);
    expect(tok.encode('ba')).toEqual([4, 3]);
    expect(tok.encode('cab', { addBos: true, addEos: true })).toEqual([0, 5, 7, 1]);
  });

  it('decodes back to the text, skipping special tokens when asked', () => {
    for (const text of ['abc ab', 'ba c', ' a b c ']) expect(tok.decode(tok.encode(text))).toBe(text);
    expect(tok.decode([0, 8, 6, 7, 1, 2])).toBe('<s>abc ab</s><pad>');
    expect(tok.decode([0, 8, 6, 7, 1, 2, 2], { skipSpecial: true })).toBe('abc ab');
    // A completion that is only EOS has no text (the library itself refuses an empty list).
    expect(tok.decode([1], { skipSpecial: true })).toBe('');
    expect(tok.decode([])).toBe('');
    expect(() => tok.decode([11])).toThrow(DataError);
  });

  it('lets options override the special tokens and rejects unknown ones', () => {
    const t = HfTokenizer.fromJSON(tinyBpe(), { bos: '</s>', pad: '</s>' });
    expect([t.bosId, t.eosId, t.padId]).toEqual([1, 1, 1]);
    expect(() => HfTokenizer.fromJSON(tinyBpe(), { eos: '<|end|>' })).toThrow(/EOS token "<\|end\|>" is not in the vocabulary/);
  });

  it('falls back BOS and PAD to EOS, and fails clearly when no EOS can be found', () => {
    const gpt2 = tinyBpe();
    const model = gpt2.model as { vocab: Record<string, number> };
    model.vocab = { '<|endoftext|>': 0, a: 1, b: 2, ab: 3 };
    (gpt2.model as { merges: string[] }).merges = ['a b'];
    gpt2.added_tokens = [{ id: 0, content: '<|endoftext|>', special: true }];
    const t = HfTokenizer.fromJSON(gpt2);
    expect([t.bosId, t.eosId, t.padId, t.vocabSize]).toEqual([0, 0, 0, 4]);
    expect(t.encode('abba')).toEqual([3, 2, 1]);

    const none = tinyBpe();
    none.added_tokens = [];
    (none.model as { vocab: Record<string, number> }).vocab = { a: 0, b: 1 };
    (none.model as { merges: string[] }).merges = [];
    expect(() => HfTokenizer.fromJSON(none, {}, 'x/tokenizer.json')).toThrow(/x\/tokenizer\.json: cannot tell which token is EOS/);
  });

  it('rejects JSON that is not a tokenizer, naming the source', () => {
    expect(() => HfTokenizer.fromJSON({ kind: 'char' }, {}, 'f.json')).toThrow(/f\.json: not a Hugging Face tokenizer\.json/);
    expect(() => HfTokenizer.fromJSON('{oops', {}, 'f.json')).toThrow(/f\.json: malformed JSON/);
  });

  it('loads from a file, saves tokenizer.json verbatim plus a config, and loadTokenizer restores it', async () => {
    const src = join(dir, 'src');
    const text = JSON.stringify(tinyBpe(), null, 1);
    await mkdir(src);
    await writeFile(join(src, 'tokenizer.json'), text);
    await writeFile(join(src, 'tokenizer_config.json'), JSON.stringify({ bos_token: { content: '</s>' } }));
    const fromFile = await HfTokenizer.fromFile(join(src, 'tokenizer.json'));
    expect([fromFile.bosId, fromFile.eosId, fromFile.padId]).toEqual([1, 1, 2]);

    const out = join(dir, 'ckpt');
    await fromFile.save(out);
    expect(await readFile(join(out, 'tokenizer.json'), 'utf8')).toBe(text);
    expect(JSON.parse(await readFile(join(out, 'tokenizer_config.json'), 'utf8'))).toEqual({
      grpo_kind: 'hf',
      bos_token: '</s>',
      eos_token: '</s>',
      pad_token: '<pad>',
    });
    const loaded = await loadTokenizer(out);
    expect(loaded).toBeInstanceOf(HfTokenizer);
    expect([loaded.bosId, loaded.eosId, loaded.padId, loaded.vocabSize]).toEqual([1, 1, 2, 11]);
    expect(loaded.encode('abc ab')).toEqual([8, 6, 7]);

    await writeFile(join(out, 'tokenizer_config.json'), '[');
    await expect(loadTokenizer(out)).rejects.toThrow(CheckpointError);
    await expect(loadTokenizer(out)).rejects.toThrow(`${join(out, 'tokenizer_config.json')}: malformed JSON`);
    await expect(HfTokenizer.fromFile(join(dir, 'missing.json'))).rejects.toThrow(/missing\.json: cannot read/);
  });
});
