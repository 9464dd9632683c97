/**
 * Multi-turn sampling with the KV cache carried from one turn to the next (`Policy.openTurns`).
 *
 * The session keeps, for every trajectory (by its key), the keys and values of the ids it has fed
 * through the model. A turn feeds only what the trajectory gained since (the last token sampled
 * in the previous turn, which ended the turn unfed, and the environment's observation) as one
 * chunk on top of that cache, then decodes token by token as `generateFromIds` does.
 *
 * Layout: every layer's cache is one `[n, Hkv, C, hd]` tensor whose rows are the trajectories of
 * the last call and whose C columns grow by each chunk and each decoding step. A row's column is
 * either one of its fed tokens or a hole (chunk padding, a step after the row finished, a row
 * prefilled from scratch): `valid[row][column]` says which, and holes get a −1e9 attention bias.
 * Rotary positions are each token's index in its trajectory, as in a full prefill, so holes change
 * nothing but the order of float sums.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng, type IdCompletion, type FinishReason, type SamplingOptions, type TurnRequest, type TurnSession } from '@grpo/core';
import { checkSampling, decodeToken, type DecodingRules, type ModelState } from './generate.js';
import { gatherRows } from './kernels.js';
import { chunkContext, decodeStep, forwardHidden, lmHead, type LayerKv } from './model.js';

const MASKED = -1e9;

interface Row {
  /** The ids whose keys and values are in the cache, in order. */
  fed: number[];
  /** Per cache column: one of this row's fed tokens (true) or a hole. */
  valid: boolean[];
}

export interface TurnCacheOptions {
  eosIds: readonly number[];
  padId: number;
  decode?: (ids: readonly number[]) => string;
}

export class TurnCache implements TurnSession {
  readonly #model: ModelState;
  readonly #options: TurnCacheOptions;
  /** Row state by trajectory key; a row's index in the cache is its position in `#keys`. */
  #rows = new Map<number, Row>();
  #keys: number[] = [];
  #kv: LayerKv[] = [];
  #columns = 0;
  #disposed = false;

  constructor(model: ModelState, options: TurnCacheOptions) {
    this.#model = model;
    this.#options = options;
  }

  async generate(turns: readonly TurnRequest[], options: SamplingOptions): Promise<IdCompletion[]> {
    if (this.#disposed) throw new Error('this turn session was disposed');
    const { cfg } = this.#model;
    const { padId, decode } = this.#options;
    const stops = checkSampling(
      cfg,
      turns.map((t) => t.ids),
      options,
      decode !== undefined,
    );
    if (turns.length === 0) return [];
    const n = turns.length;

    // Rows that extend what is cached keep their cache; the others start over (every column a hole).
    const rows: Row[] = turns.map(({ key, ids }) => {
      const row = this.#rows.get(key);
      const extends_ = row !== undefined && ids.length > row.fed.length && row.fed.every((id, i) => ids[i] === id);
      return extends_ ? { fed: row.fed, valid: row.valid } : { fed: [], valid: new Array<boolean>(this.#columns).fill(false) };
    });
    const from = turns.map(({ key }) => this.#keys.indexOf(key));
    const chunks = turns.map(({ ids }, k) => ids.slice(rows[k]!.fed.length));
    const T = Math.max(...chunks.map((c) => c.length));
    const C = this.#columns;

    // The chunk: right-padded to T, each token at its index in the trajectory; it sees the row's valid columns and the chunk's earlier tokens.
    const ids = new Int32Array(n * T).fill(padId);
    const positions: number[][] = [];
    const bias = new Float32Array(n * T * (C + T)).fill(MASKED);
    chunks.forEach((chunk, k) => {
      const { fed, valid } = rows[k]!;
      ids.set(chunk, k * T);
      positions.push(Array.from({ length: T }, (_, j) => Math.min(cfg.maxSeqLen - 1, fed.length + j)));
      for (let j = 0; j < T; j++) {
        const at = (k * T + j) * (C + T);
        for (let c = 0; c < C; c++) if (valid[c]) bias[at + c] = 0;
        for (let i = 0; i <= Math.min(j, chunk.length - 1); i++) bias[at + C + i] = 0;
      }
    });
    const prefill = tf.tidy(() => {
      const past =
        C === 0
          ? undefined
          : this.#kv.map((l) => ({
              k: gatherRows(
                l.k,
                from.map((r) => Math.max(r, 0)),
              ),
              v: gatherRows(
                l.v,
                from.map((r) => Math.max(r, 0)),
              ),
            }));
      const ctx = chunkContext(cfg, this.#model.tables, positions, tf.tensor4d(bias, [n, 1, T, C + T]));
      const { hidden, kv } = forwardHidden(cfg, this.#model.weights, ids, ctx, true, this.#model.lora, past);
      const last = tf.gather(
        hidden,
        tf.tensor1d(
          chunks.map((c, k) => k * T + c.length - 1),
          'int32',
        ),
      ) as tf.Tensor2D;
      return { logits: lmHead(cfg, this.#model.weights, last), kv };
    });
    tf.dispose(this.#kv.flatMap((l) => [l.k, l.v]));
    this.#kv = prefill.kv;
    let logits = prefill.logits;
    chunks.forEach((chunk, k) => {
      const row = rows[k]!;
      row.fed = [...row.fed, ...chunk];
      row.valid = [...row.valid, ...Array.from({ length: T }, (_, j) => j < chunk.length)];
    });
    this.#columns = C + T;
    this.#keys = turns.map((t) => t.key);
    this.#rows = new Map(turns.map((t, k) => [t.key, rows[k]!]));

    // Decoding, as generateFromIds: each completion has its own RNG stream drawn from the seed, in request order.
    const seedRng = new Rng(options.seed ?? 0);
    const seqs = turns.map((t) => ({
      limit: Math.min(options.maxNewTokens, cfg.maxSeqLen - t.ids.length),
      rng: new Rng(seedRng.seed()),
      tokens: [] as number[],
      logprobs: [] as number[],
      text: '',
      finish: undefined as FinishReason | undefined,
    }));
    const rules: DecodingRules = {
      sampler: { temperature: options.temperature, topK: options.topK, topP: options.topP },
      eos: new Set(this.#options.eosIds),
      stops,
      decode,
    };
    const V = cfg.vocabSize;
    /**
     * The decoding batch: `batch[i]` is the row of cache row i and of logits row i. When a quarter
     * of the batch has finished, the finished rows are parked (their cache set aside at its
     * column count) and the batch shrinks to the rest; at the end every row goes back into one
     * cache, parked rows padded with holes to the final column count.
     */
    let batch = turns.map((_, k) => k);
    let batchKv = this.#kv;
    const parked: { rows: number[]; kv: LayerKv[] }[] = [];
    try {
      for (;;) {
        const values = (await logits.data()) as Float32Array;
        batch.forEach((k, i) => {
          const s = seqs[k]!;
          if (s.finish) return;
          decodeToken(s, values.subarray(i * V, (i + 1) * V), rules);
        });
        // A finished row's last token stays unfed: the next turn feeds it with the observation.
        const live = batch.map((k) => !seqs[k]!.finish);
        if (!live.includes(true)) break;
        if (live.filter(Boolean).length <= 0.75 * batch.length) {
          const keep = batch.flatMap((_, i) => (live[i] ? [i] : []));
          const done = batch.flatMap((_, i) => (live[i] ? [] : [i]));
          const old = batchKv;
          parked.push({ rows: done.map((i) => batch[i]!), kv: old.map((l) => ({ k: gatherRows(l.k, done), v: gatherRows(l.v, done) })) });
          batchKv = old.map((l) => ({ k: gatherRows(l.k, keep), v: gatherRows(l.v, keep) }));
          tf.dispose(old.flatMap((l) => [l.k, l.v]));
          batch = keep.map((i) => batch[i]!);
          live.length = 0;
          live.push(...batch.map(() => true));
        }
        const m = batch.length;
        const L = this.#columns;
        const step = new Int32Array(m).fill(padId);
        const stepPositions = new Array<number>(m).fill(0);
        const stepBias = new Float32Array(m * (L + 1)).fill(MASKED);
        batch.forEach((k, i) => {
          const row = rows[k]!;
          if (live[i]) {
            step[i] = seqs[k]!.tokens.at(-1)!;
            stepPositions[i] = row.fed.length;
          }
          for (let c = 0; c < L; c++) if (row.valid[c]) stepBias[i * (L + 1) + c] = 0;
          // A finished row attends to its own new column only so that its (ignored) softmax stays finite.
          stepBias[i * (L + 1) + L] = 0;
        });
        const prev = logits;
        const prevKv = batchKv;
        const out = tf.tidy(() =>
          decodeStep(cfg, this.#model.weights, this.#model.tables, step, stepPositions, prevKv, tf.tensor4d(stepBias, [m, 1, 1, L + 1]), this.#model.lora),
        );
        logits = out.logits;
        batchKv = out.cache;
        prev.dispose();
        tf.dispose(prevKv.flatMap((l) => [l.k, l.v]));
        this.#columns = L + 1;
        batch.forEach((k, i) => {
          rows[k]!.valid.push(live[i]!);
          if (live[i]) rows[k]!.fed.push(step[i]!);
        });
      }
    } finally {
      logits.dispose();
      // One cache again, rows in request order; parked rows get hole columns up to the final count.
      const C = this.#columns;
      const order = [...batch, ...parked.flatMap((p) => p.rows)];
      const position = new Array<number>(n);
      order.forEach((k, i) => (position[k] = i));
      for (const p of parked) for (const k of p.rows) rows[k]!.valid.push(...new Array<boolean>(C - rows[k]!.valid.length).fill(false));
      const parts = [batchKv, ...parked.map((p) => p.kv)];
      this.#kv =
        parked.length === 0
          ? batchKv
          : tf.tidy(() =>
              batchKv.map((_, l) => {
                const join = (which: 'k' | 'v') => {
                  const pieces = parts.map((kv) => {
                    const t = kv[l]![which];
                    const extra = C - t.shape[2];
                    return extra > 0
                      ? tf.pad(t, [
                          [0, 0],
                          [0, 0],
                          [0, extra],
                          [0, 0],
                        ])
                      : t;
                  });
                  return gatherRows(tf.concat(pieces, 0) as tf.Tensor4D, position);
                };
                return { k: join('k'), v: join('v') };
              }),
            );
      if (parked.length > 0) tf.dispose(parts.flatMap((kv) => kv.flatMap((l) => [l.k, l.v])));
    }
    return seqs.map((s) => ({
      tokenIds: s.tokens,
      text: s.finish === 'stop' ? s.text : decode ? decode(s.tokens) : null,
      logprobs: s.logprobs,
      finishReason: s.finish ?? 'length',
    }));
  }

  dispose(): void {
    this.#disposed = true;
    tf.dispose(this.#kv.flatMap((l) => [l.k, l.v]));
    this.#kv = [];
    this.#rows.clear();
    this.#keys = [];
  }
}
