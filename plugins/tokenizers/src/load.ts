import { join, readFile } from '#node-io';
import { CheckpointError, DataError, type Tokenizer } from '@grpo/core';
import { CharTokenizer, TOKENIZER_FILE } from './char.js';
import { HfTokenizer, readTokenizerCompanions, type HfTokenizerOptions } from './hf.js';

async function readJson(file: string, required: boolean): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (!required && (error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CheckpointError(`${file}: cannot read the tokenizer file: ${(error as Error).message}`, { cause: error });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new CheckpointError(`${file}: malformed JSON: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Reads the tokenizer a checkpoint directory holds and returns the matching implementation:
 * `tokenizer.json` with `"kind": "char"` is a {@link CharTokenizer}; one with a `"model"` field is
 * a Hugging Face tokenizer ({@link HfTokenizer}, with `tokenizer_config.json` and
 * `chat_template.jinja` if present).
 * Throws a `CheckpointError` naming the file when it is missing or malformed.
 */
export async function loadTokenizer(dir: string): Promise<Tokenizer> {
  const file = join(dir, TOKENIZER_FILE);
  return tokenizerFromJson(await readJson(file, true), file, () => readTokenizerCompanions(dir));
}

/**
 * `loadTokenizer` for a `tokenizer.json` already parsed (a browser has no directory to read):
 * `companions` gives a Hugging Face tokenizer's `tokenizer_config.json` and chat template (none
 * when absent). `file` is named in errors.
 */
export async function tokenizerFromJson(json: unknown, file: string, companions: () => Promise<HfTokenizerOptions> = async () => ({})): Promise<Tokenizer> {
  try {
    if (typeof json === 'object' && json !== null && !Array.isArray(json)) {
      const record = json as Record<string, unknown>;
      if (record.kind === 'char') return CharTokenizer.fromJSON(json, file);
      if ('model' in record) return HfTokenizer.fromJSON(record, await companions(), file);
    }
  } catch (error) {
    if (error instanceof DataError) throw new CheckpointError(error.message, { cause: error });
    throw error;
  }
  throw new CheckpointError(`${file}: unknown tokenizer format: expected {"kind": "char", ...} or a Hugging Face tokenizer.json (with "model").`);
}
