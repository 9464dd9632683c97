// @grpo/plugin-tokenizers: a character tokenizer and Hugging Face tokenizer.json support (with chat templates).
import { definePlugin, Tokenizer } from '@grpo/core';
import { z } from 'zod';
import { CharTokenizer, type CharTokenizerOptions } from './char.js';
import { HfTokenizer, type HfTokenizerOptions } from './hf.js';
import { loadTokenizer } from './load.js';

export { CharTokenizer, TOKENIZER_FILE, type CharTokenizerJSON, type CharTokenizerOptions, type SpecialName } from './char.js';
export { HfTokenizer, readTokenizerCompanions, TOKENIZER_CONFIG_FILE, type HfTokenizerOptions } from './hf.js';
export { CHAT_TEMPLATE_FILE, JinjaChatTemplate } from './chat-template.js';
export { loadTokenizer, tokenizerFromJson } from './load.js';

export const meta = { name: '@grpo/plugin-tokenizers', version: '0.1.0', core: '^0.1.0' } as const;

/** Which tokenizer the plugin binds to core's `Tokenizer` token. */
export type TokenizersOptions =
  /** A character tokenizer over `chars`, or over the characters of `corpus`. */
  | { char: CharTokenizerOptions & ({ chars: Iterable<string> } | { corpus: Iterable<string> }) }
  /** A Hugging Face `tokenizer.json` file (its `tokenizer_config.json` sibling is read if present). */
  | ({ file: string } & HfTokenizerOptions)
  /** A checkpoint directory's tokenizer, whatever its kind. */
  | { dir: string }
  /** An already built tokenizer. */
  | { tokenizer: Tokenizer };

async function build(options: TokenizersOptions): Promise<Tokenizer> {
  if ('tokenizer' in options) return options.tokenizer;
  if ('dir' in options) return loadTokenizer(options.dir);
  if ('file' in options) {
    const { file, ...rest } = options;
    return HfTokenizer.fromFile(file, rest);
  }
  const { char } = options;
  return 'chars' in char ? CharTokenizer.fromChars(char.chars, char) : CharTokenizer.fromCorpus(char.corpus, char);
}

const isTokenizer = (v: unknown): v is Tokenizer =>
  typeof v === 'object' && v !== null && typeof (v as Tokenizer).encode === 'function' && typeof (v as Tokenizer).decode === 'function';

/** `tokenizers(options)`: one of `{ char }`, `{ file }`, `{ dir }`, `{ tokenizer }`, or nothing. */
export const tokenizersOptionsSchema = z
  .union(
    [
      z.strictObject({ char: z.looseObject({}).refine((c) => 'chars' in c || 'corpus' in c, 'give chars or corpus') }),
      z.looseObject({ file: z.string().min(1) }),
      z.strictObject({ dir: z.string().min(1) }),
      z.strictObject({ tokenizer: z.custom<Tokenizer>(isTokenizer, { error: 'expected a Tokenizer' }) }),
    ],
    { error: () => 'expected { char: { chars | corpus } }, { file }, { dir } or { tokenizer }' },
  )
  .optional();

/**
 * The tokenizers plugin. With options it binds core's `Tokenizer` token to the tokenizer they
 * describe (built when first needed); without, it binds nothing (the policy then brings its
 * checkpoint's tokenizer, read with `loadTokenizer`).
 */
const tokenizers = definePlugin({
  meta,
  options: tokenizersOptionsSchema,
  register({ bind, options }) {
    if (!options) return;
    bind<Tokenizer>(Tokenizer)
      .toDynamicValue(() => build(options as TokenizersOptions))
      .inSingletonScope();
  },
});
export default tokenizers;
