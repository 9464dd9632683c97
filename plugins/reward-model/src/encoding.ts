/**
 * A prompt and completion as the reward model reads them: BOS + prompt, then the completion with a
 * final EOS (so the last token has read the whole completion), cut to the model's context.
 */
import { DataError, tokenCharEnds, type Tokenizer } from '@grpo/core';

export interface Encoded {
  prompt: number[];
  completion: number[];
  /** Decoded text length after each completion token. */
  ends: number[];
}

/** Per-token logits of one completion and the text length after each token. */
export interface TokenScores {
  logits: number[];
  ends: number[];
}

/**
 * Encodes one prompt and completion for a context of `maxSeqLen` tokens. A completion that does not
 * fit is a `DataError`; a prompt that does not fit keeps its BOS and its end.
 */
export function encodeForScoring(tokenizer: Tokenizer, maxSeqLen: number, prompt: string, completion: string): Encoded {
  let p = tokenizer.encode(prompt, { addBos: true });
  const c = [...tokenizer.encode(completion), tokenizer.eosId];
  const ends = tokenCharEnds(tokenizer, c);
  if (c.length + 1 > maxSeqLen) throw new DataError(`a completion of ${c.length} tokens (with EOS) does not fit the reward model's maxSeqLen ${maxSeqLen}`);
  if (p.length + c.length > maxSeqLen) p = [p[0]!, ...p.slice(p.length - (maxSeqLen - c.length - 1))];
  return { prompt: p, completion: c, ends };
}
