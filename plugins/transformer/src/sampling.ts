import type { Rng } from '@grpo/core';

export interface SamplerOptions {
  /** 0 = greedy. */
  temperature: number;
  /** Keep the k most likely tokens (0 or undefined: all). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (1 or undefined: all). */
  topP?: number;
}

/**
 * The distribution sampled from for one row of logits: softmax(logits / temperature), restricted
 * to the top-k tokens and then to the top-p nucleus, renormalised. Returns log-probabilities
 * (−Infinity outside the support). With temperature 0 it is the greedy point mass on the argmax
 * (ties: lowest id).
 */
export function samplingLogProbs(logits: ArrayLike<number>, opts: SamplerOptions): Float64Array {
  const V = logits.length;
  const out = new Float64Array(V).fill(-Infinity);
  if (opts.temperature === 0) {
    out[argmax(logits)] = 0;
    return out;
  }
  const scaled = new Float64Array(V);
  for (let i = 0; i < V; i++) scaled[i] = (logits[i] as number) / opts.temperature;
  if (!(opts.topK && opts.topK > 0 && opts.topK < V) && !(opts.topP !== undefined && opts.topP < 1)) {
    // Nothing truncated: the log-softmax of every token. The normaliser sums the terms in
    // descending order of value, as the truncating path below does, so the numbers are the same
    // bit for bit; a numeric sort of the values replaces the slower sort of indices.
    const sorted = Float64Array.from(scaled).sort();
    const m = sorted[V - 1] as number;
    let sum = 0;
    for (let r = V - 1; r >= 0; r--) sum += Math.exp((sorted[r] as number) - m);
    const z = m + Math.log(sum);
    for (let i = 0; i < V; i++) out[i] = (scaled[i] as number) - z;
    return out;
  }
  const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => (scaled[b] as number) - (scaled[a] as number) || a - b);
  let keep = V;
  if (opts.topK && opts.topK > 0) keep = Math.min(keep, opts.topK);
  const lse = (n: number) => {
    const m = scaled[order[0] as number] as number;
    let s = 0;
    for (let r = 0; r < n; r++) s += Math.exp((scaled[order[r] as number] as number) - m);
    return m + Math.log(s);
  };
  if (opts.topP !== undefined && opts.topP < 1) {
    const z = lse(keep);
    let cum = 0;
    let n = 0;
    while (n < keep) {
      cum += Math.exp((scaled[order[n] as number] as number) - z);
      n++;
      if (cum >= opts.topP) break;
    }
    keep = Math.max(1, n);
  }
  const z = lse(keep);
  for (let r = 0; r < keep; r++) {
    const i = order[r] as number;
    out[i] = (scaled[i] as number) - z;
  }
  return out;
}

export function argmax(xs: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if ((xs[i] as number) > (xs[best] as number)) best = i;
  return best;
}

/** Draws one index from log-probabilities by inverse CDF with one uniform from `rng`. */
export function drawFrom(logProbs: Float64Array, rng: Rng): number {
  const u = rng.next();
  let cum = 0;
  let last = -1;
  for (let i = 0; i < logProbs.length; i++) {
    const lp = logProbs[i] as number;
    if (lp === -Infinity) continue;
    cum += Math.exp(lp);
    last = i;
    if (u < cum) return i;
  }
  return last;
}

/**
 * Samples a token from one row of logits; returns the token and its log-prob under the sampled
 * distribution. Greedy decoding (temperature 0) reports the log-prob under the plain softmax
 * (temperature 1, no truncation) instead of the point mass's 0, so it stays usable as π_old.
 */
export function sampleToken(logits: ArrayLike<number>, opts: SamplerOptions, rng: Rng): { token: number; logprob: number } {
  if (opts.temperature === 0) {
    const token = argmax(logits);
    return { token, logprob: samplingLogProbs(logits, { temperature: 1 })[token] as number };
  }
  const lps = samplingLogProbs(logits, opts);
  const token = drawFrom(lps, rng);
  return { token, logprob: lps[token] as number };
}
