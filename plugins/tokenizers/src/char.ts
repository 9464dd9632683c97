import { join, mkdir, writeFile } from '#node-io';
import { DataError, type Tokenizer } from '@grpo/core';

/** Name of the file every tokenizer of this package writes into a checkpoint directory. */
export const TOKENIZER_FILE = 'tokenizer.json';

/** Names of the special tokens; `unk` is optional. */
export type SpecialName = 'pad' | 'bos' | 'eos' | 'unk';

/**
 * The on-disk format of a character tokenizer (`tokenizer.json`, format version 1):
 *
 * ```json
 * { "kind": "char", "version": 1,
 *   "vocab": ["<pad>", "<bos>", "<eos>", "<unk>", "a", "b", ...],
 *   "special": { "pad": 0, "bos": 1, "eos": 2, "unk": 3 } }
 * ```
 *
 * `vocab[id]` is the string of token `id`: a single Unicode code point for ordinary tokens,
 * a display string (never produced by `encode`) for special ones. `special` gives the id of
 * each special token; `unk` may be absent, in which case unseen characters are an error.
 */
export interface CharTokenizerJSON {
  kind: 'char';
  version: 1;
  vocab: string[];
  special: { pad: number; bos: number; eos: number; unk?: number };
}

export interface CharTokenizerOptions {
  /**
   * What `encode` does with a character that is not in the vocabulary: `'unk'` (default) maps it
   * to the UNK token, `'error'` throws a `DataError` naming the character. Without an UNK token
   * (`specialTokens.unk: null`) it is always an error.
   */
  unknown?: 'unk' | 'error';
  /** Display strings of the special tokens (default `<pad>`, `<bos>`, `<eos>`, `<unk>`); `unk: null` drops UNK. */
  specialTokens?: { pad?: string; bos?: string; eos?: string; unk?: string | null };
}

const DEFAULT_SPECIAL = { pad: '<pad>', bos: '<bos>', eos: '<eos>', unk: '<unk>' } as const;

/**
 * A character-level tokenizer. Ids `0..3` are PAD, BOS, EOS, UNK (UNK only if kept), followed by
 * the characters in the order given (duplicates dropped). Characters are Unicode code points, so
 * an emoji is one token. Special-token strings in the input text are NOT parsed: `encode('<eos>')`
 * gives five character tokens; use `addBos` / `addEos` to add special tokens.
 */
export class CharTokenizer implements Tokenizer {
  readonly kind = 'char';
  readonly vocabSize: number;
  readonly padId: number;
  readonly bosId: number;
  readonly eosId: number;
  /** Id of the UNK token, or `undefined` when unseen characters are an error. */
  readonly unkId: number | undefined;
  readonly unknown: 'unk' | 'error';
  readonly #vocab: readonly string[];
  readonly #ids = new Map<string, number>();
  readonly #special: ReadonlySet<number>;

  private constructor(json: CharTokenizerJSON, unknown: 'unk' | 'error') {
    this.#vocab = [...json.vocab];
    this.vocabSize = json.vocab.length;
    this.padId = json.special.pad;
    this.bosId = json.special.bos;
    this.eosId = json.special.eos;
    this.unkId = json.special.unk;
    this.unknown = this.unkId === undefined ? 'error' : unknown;
    this.#special = new Set([this.padId, this.bosId, this.eosId, ...(this.unkId === undefined ? [] : [this.unkId])]);
    json.vocab.forEach((token, id) => {
      if (!this.#special.has(id)) this.#ids.set(token, id);
    });
  }

  /** A tokenizer over `chars` (each entry one code point; duplicates are dropped, order kept). */
  static fromChars(chars: Iterable<string>, options: CharTokenizerOptions = {}): CharTokenizer {
    const names = { ...DEFAULT_SPECIAL, ...options.specialTokens };
    const vocab: string[] = [names.pad, names.bos, names.eos];
    const special: CharTokenizerJSON['special'] = { pad: 0, bos: 1, eos: 2 };
    if (names.unk !== null) {
      special.unk = 3;
      vocab.push(names.unk);
    }
    const seen = new Set<string>();
    for (const c of chars) {
      if ([...c].length !== 1) throw new DataError(`CharTokenizer: vocabulary entry ${JSON.stringify(c)} is not a single character.`);
      if (seen.has(c)) continue;
      seen.add(c);
      vocab.push(c);
    }
    return new CharTokenizer({ kind: 'char', version: 1, vocab, special }, options.unknown ?? 'unk');
  }

  /** A tokenizer over every character that occurs in `texts`, sorted by code point. */
  static fromCorpus(texts: Iterable<string>, options: CharTokenizerOptions = {}): CharTokenizer {
    const chars = new Set<string>();
    for (const text of texts) for (const c of text) chars.add(c);
    const sorted = [...chars].sort((a, b) => (a.codePointAt(0) ?? 0) - (b.codePointAt(0) ?? 0));
    return CharTokenizer.fromChars(sorted, options);
  }

  /**
   * Rebuilds a tokenizer from its `tokenizer.json` contents, validating them. `source` (a file
   * name) is used in error messages.
   */
  static fromJSON(value: unknown, source = TOKENIZER_FILE, options: Pick<CharTokenizerOptions, 'unknown'> = {}): CharTokenizer {
    const fail = (problem: string): never => {
      throw new DataError(`${source}: not a valid character tokenizer: ${problem}.`);
    };
    if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('expected a JSON object');
    const json = value as Partial<Record<keyof CharTokenizerJSON, unknown>>;
    if (json.kind !== 'char') fail(`"kind" must be "char", got ${JSON.stringify(json.kind)}`);
    if (json.version !== 1) fail(`unsupported "version" ${JSON.stringify(json.version)} (this package reads version 1)`);
    if (!Array.isArray(json.vocab) || json.vocab.some((t) => typeof t !== 'string')) fail('"vocab" must be an array of strings');
    const vocab = json.vocab as string[];
    if (typeof json.special !== 'object' || json.special === null) fail('"special" must be an object { pad, bos, eos, unk? }');
    const special = json.special as Record<string, unknown>;
    const ids: Partial<Record<SpecialName, number>> = {};
    for (const name of ['pad', 'bos', 'eos', 'unk'] as const) {
      const id = special[name];
      if (id === undefined && name === 'unk') continue;
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocab.length) {
        fail(`"special.${name}" must be an id in [0, ${vocab.length}), got ${JSON.stringify(id)}`);
      }
      ids[name] = id as number;
    }
    const specialIds = new Set(Object.values(ids));
    const seen = new Set<string>();
    vocab.forEach((token, id) => {
      if (specialIds.has(id)) return;
      if ([...token].length !== 1) fail(`vocab[${id}] = ${JSON.stringify(token)} is not a single character`);
      if (seen.has(token)) fail(`vocab[${id}] = ${JSON.stringify(token)} occurs twice`);
      seen.add(token);
    });
    const checked: CharTokenizerJSON = {
      kind: 'char',
      version: 1,
      vocab,
      special: { pad: ids.pad as number, bos: ids.bos as number, eos: ids.eos as number, ...(ids.unk === undefined ? {} : { unk: ids.unk }) },
    };
    return new CharTokenizer(checked, options.unknown ?? 'unk');
  }

  /** The vocabulary, `vocab[id]` being the string of token `id`. */
  get vocab(): readonly string[] {
    return this.#vocab;
  }

  encode(text: string, options: { addBos?: boolean; addEos?: boolean } = {}): number[] {
    const out: number[] = [];
    if (options.addBos) out.push(this.bosId);
    for (const c of text) {
      const id = this.#ids.get(c);
      if (id !== undefined) {
        out.push(id);
      } else if (this.unknown === 'unk' && this.unkId !== undefined) {
        out.push(this.unkId);
      } else {
        const cp = (c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0');
        throw new DataError(`CharTokenizer: character ${JSON.stringify(c)} (U+${cp}) is not in the vocabulary.`);
      }
    }
    if (options.addEos) out.push(this.eosId);
    return out;
  }

  /** Joins the tokens' strings; special tokens appear as their display strings unless `skipSpecial`. */
  decode(ids: readonly number[], options: { skipSpecial?: boolean } = {}): string {
    let out = '';
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new DataError(`CharTokenizer: token id ${id} is outside the vocabulary [0, ${this.vocabSize}).`);
      }
      if (options.skipSpecial && this.#special.has(id)) continue;
      out += this.#vocab[id];
    }
    return out;
  }

  /** True for PAD, BOS, EOS and UNK. */
  isSpecial(id: number): boolean {
    return this.#special.has(id);
  }

  toJSON(): CharTokenizerJSON {
    return {
      kind: 'char',
      version: 1,
      vocab: [...this.#vocab],
      special: { pad: this.padId, bos: this.bosId, eos: this.eosId, ...(this.unkId === undefined ? {} : { unk: this.unkId }) },
    };
  }

  /** The files `save` writes, for callers that write a checkpoint directory in one go. */
  toFiles(): Record<string, string> {
    return { [TOKENIZER_FILE]: `${JSON.stringify(this.toJSON(), null, 2)}\n` };
  }

  async save(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    for (const [name, text] of Object.entries(this.toFiles())) await writeFile(join(dir, name), text);
  }
}
