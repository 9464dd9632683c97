import type { Tokenizer } from '../contracts/tokenizer.js';

/**
 * The text length after decoding tokens 0..t of `ids`, for every t (special tokens decode to
 * nothing): how step rewards, given as character offsets, find their token.
 */
export function tokenCharEnds(tokenizer: Tokenizer, ids: readonly number[]): number[] {
  let total = 0;
  return ids.map((id) => (total += tokenizer.decode([id], { skipSpecial: true }).length));
}

/**
 * The index of the token that contains character `endChar - 1`, given `tokenCharEnds` of the
 * completion: the first t with ends[t] ≥ endChar (the last token when the offset is past the end).
 */
export function charToToken(tokenEnds: readonly number[], endChar: number): number {
  if (tokenEnds.length === 0) return 0;
  for (let t = 0; t < tokenEnds.length; t++) if (tokenEnds[t]! >= endChar) return t;
  return tokenEnds.length - 1;
}
