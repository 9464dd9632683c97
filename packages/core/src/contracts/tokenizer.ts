/** Text ↔ token ids. Special ids are always defined so padding and stopping need no guessing. */
export const Tokenizer = Symbol.for('grpo.Tokenizer');
export interface Tokenizer {
  /** Distinguishes tokenizer kinds in checkpoints (`char`, `hf-bpe`, …). */
  readonly kind: string;
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  encode(text: string, options?: { addBos?: boolean; addEos?: boolean }): number[];
  decode(ids: readonly number[], options?: { skipSpecial?: boolean }): string;
  /** Writes the tokenizer's files into a checkpoint directory. */
  save(dir: string): Promise<void>;
}
