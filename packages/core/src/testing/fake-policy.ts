/**
 * A policy for tests that needs no model files: completions come from a script, and the
 * log-probabilities from a real, trainable unigram model (a logit per token id, the same at every
 * position), so gradients, optimizer steps, snapshots and checkpoints all run for real.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { Completion, FinishReason, TokenBatch } from '../records.js';
import type { FrozenPolicy, LogProbModel, Policy, SamplingOptions, TokenLogProbs } from '../contracts/policy.js';
import type { Tokenizer } from '../contracts/tokenizer.js';
import { CheckpointError } from '../errors.js';
import { Rng } from '../util/rng.js';

/** A character tokenizer over a fixed alphabet: pad 0, bos 1, eos 2, then one id per character. */
export class FakeTokenizer implements Tokenizer {
  readonly kind = 'fake-char';
  readonly padId = 0;
  readonly bosId = 1;
  readonly eosId = 2;
  readonly vocabSize: number;
  private readonly ids: Map<string, number>;

  constructor(readonly chars: string) {
    const unique = [...new Set(chars)];
    this.ids = new Map(unique.map((c, i) => [c, i + 3]));
    this.vocabSize = unique.length + 3;
  }

  encode(text: string, options: { addBos?: boolean; addEos?: boolean } = {}): number[] {
    const ids = [...text].map((c) => {
      const id = this.ids.get(c);
      if (id === undefined) throw new Error(`FakeTokenizer: '${c}' is not in its alphabet '${this.chars}'`);
      return id;
    });
    return [...(options.addBos ? [this.bosId] : []), ...ids, ...(options.addEos ? [this.eosId] : [])];
  }

  decode(ids: readonly number[], options: { skipSpecial?: boolean } = {}): string {
    const chars = [...this.ids.keys()];
    return ids.map((id) => (id >= 3 ? (chars[id - 3] ?? '') : options.skipSpecial ? '' : ['<pad>', '<s>', '</s>'][id])).join('');
  }

  async save(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'fake-tokenizer.json'), JSON.stringify({ chars: this.chars }));
  }
}

/** Per-token log-probs (and entropy) of a unigram model with `logits` `[V]`, `[B, Lmax]`, zero at padding. */
function unigramLogProbs(logits: tf.Tensor1D, batch: TokenBatch, options?: { entropy?: boolean }): TokenLogProbs {
  return tf.tidy(() => {
    const L = Math.max(1, ...batch.completions.map((c) => c.length));
    const ids = batch.completions.flatMap((c) => Array.from({ length: L }, (_, t) => c[t] ?? 0));
    const valid = tf.tensor2d(
      batch.completions.flatMap((c) => Array.from({ length: L }, (_, t) => (t < c.length ? 1 : 0))),
      [batch.completions.length, L],
    );
    const logSoftmax = tf.logSoftmax(logits);
    const logprobs = tf.mul(tf.reshape(tf.gather(logSoftmax, tf.tensor1d(ids, 'int32')), [batch.completions.length, L]), valid) as tf.Tensor2D;
    if (!options?.entropy) return { logprobs };
    const entropy = tf.neg(tf.sum(tf.mul(tf.exp(logSoftmax), logSoftmax)));
    return { logprobs, entropy: tf.mul(valid, entropy) as tf.Tensor2D };
  });
}

/** Writes or reads a unigram model's logits. */
const LOGITS_FILE = 'fake-policy.json';
async function saveLogits(dir: string, logits: tf.Tensor1D, tokenizer: FakeTokenizer): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, LOGITS_FILE), JSON.stringify({ chars: tokenizer.chars, logits: Array.from(await logits.data()) }));
}
async function readLogits(dir: string, size: number): Promise<number[]> {
  const file = path.join(dir, LOGITS_FILE);
  const json = JSON.parse(await readFile(file, 'utf8').catch(() => 'null')) as { logits?: unknown } | null;
  if (!json || !Array.isArray(json.logits) || json.logits.length !== size || json.logits.some((v) => typeof v !== 'number'))
    throw new CheckpointError(`${file}: not a fake policy with ${size} logits`);
  return json.logits as number[];
}

export interface FakePolicyOptions {
  /** The alphabet of prompts and completions. */
  chars: string;
  /**
   * The completion text of sample `index` of a group for `prompt` (`seed` is the call's sampling
   * seed). It ends with EOS unless cut by `maxNewTokens` (finish reason `length`) or a stop string.
   */
  complete: (prompt: string, index: number, seed: number) => string;
  /** Seed of the initial logits (default 0: small values from a seeded RNG). */
  seed?: number;
}

let instances = 0;

/** A unigram model's logits in a variable, with log-probs and checkpoints: what the policy and its snapshots share. */
abstract class UnigramModel implements LogProbModel {
  readonly logits: tf.Variable<tf.Rank.R1>;

  constructor(
    readonly tokenizer: FakeTokenizer,
    init: tf.Tensor1D | readonly number[],
    trainable: boolean,
  ) {
    const name = `fake-${trainable ? 'policy' : 'frozen'}-${++instances}`;
    this.logits = tf.tidy(() => tf.variable(Array.isArray(init) ? tf.tensor1d(init as number[]) : (init as tf.Tensor1D).clone(), trainable, name));
  }

  tokenLogProbs(batch: TokenBatch, options?: { entropy?: boolean }): TokenLogProbs {
    return unigramLogProbs(this.logits, batch, options);
  }

  save(dir: string): Promise<void> {
    return saveLogits(dir, this.logits, this.tokenizer);
  }

  async load(dir: string): Promise<void> {
    const values = await readLogits(dir, this.logits.shape[0]);
    tf.tidy(() => this.logits.assign(tf.tensor1d(values)));
  }

  dispose(): void {
    this.logits.dispose();
  }
}

class FrozenFakePolicy extends UnigramModel implements FrozenPolicy {
  syncFrom(source: Policy, alpha = 1): void {
    if (!(source instanceof FakePolicy)) throw new TypeError('a fake policy snapshot syncs from a FakePolicy only');
    tf.tidy(() => this.logits.assign(tf.add(tf.mul(source.logits, alpha), tf.mul(this.logits, 1 - alpha))));
  }
}

export class FakePolicy extends UnigramModel implements Policy {
  /** Every generate call's prompts and options, for assertions. */
  readonly calls: { prompts: readonly string[]; groupSize: number; options: SamplingOptions }[] = [];
  private readonly complete: FakePolicyOptions['complete'];

  constructor(options: FakePolicyOptions) {
    const tokenizer = new FakeTokenizer(options.chars);
    const rng = new Rng(options.seed ?? 0);
    super(
      tokenizer,
      Array.from({ length: tokenizer.vocabSize }, () => (rng.next() - 0.5) * 0.1),
      true,
    );
    this.complete = options.complete;
  }

  encodePrompt(prompt: string): number[] {
    return this.tokenizer.encode(prompt, { addBos: true });
  }

  async generate(prompts: readonly string[], groupSize: number, options: SamplingOptions): Promise<Completion[][]> {
    this.calls.push({ prompts: [...prompts], groupSize, options });
    const seed = options.seed ?? 0;
    const logSoftmax = tf.tidy(() => tf.logSoftmax(this.logits).arraySync());
    return prompts.map((prompt) =>
      Array.from({ length: groupSize }, (_, g) => {
        let text = this.complete(prompt, g, seed);
        let finishReason: FinishReason = 'eos';
        for (const stop of options.stop ?? []) {
          const at = text.indexOf(stop);
          if (at >= 0) {
            text = text.slice(0, at + stop.length);
            finishReason = 'stop';
          }
        }
        let tokenIds = this.tokenizer.encode(text, { addEos: finishReason === 'eos' });
        if (tokenIds.length > options.maxNewTokens) {
          tokenIds = tokenIds.slice(0, options.maxNewTokens);
          finishReason = 'length';
        }
        return { tokenIds, text: this.tokenizer.decode(tokenIds, { skipSpecial: true }), logprobs: tokenIds.map((id) => logSoftmax[id]!), finishReason };
      }),
    );
  }

  trainableVariables(): tf.Variable[] {
    return [this.logits];
  }

  snapshot(): FrozenPolicy {
    return new FrozenFakePolicy(this.tokenizer, this.logits, false);
  }
}
