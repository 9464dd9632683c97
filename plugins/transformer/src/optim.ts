import * as tf from '@tensorflow/tfjs';

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay (applied as `θ ← θ − lr·wd·θ`) to matrices only, not to norm gains. */
  weightDecay?: number;
}

/** AdamW (Loshchilov & Hutter) with bias correction; the learning rate is given per step. */
export class AdamW {
  private readonly m = new Map<tf.Variable, tf.Variable>();
  private readonly v = new Map<tf.Variable, tf.Variable>();
  private t = 0;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;

  constructor(options: AdamWOptions = {}) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0;
  }

  get step(): number {
    return this.t;
  }

  /** Applies one update; `grads` are consumed (disposed) by the caller afterwards. */
  apply(vars: readonly tf.Variable[], grads: readonly tf.Tensor[], lr: number): void {
    this.t++;
    const c1 = 1 - Math.pow(this.beta1, this.t);
    const c2 = 1 - Math.pow(this.beta2, this.t);
    tf.tidy(() => {
      vars.forEach((p, i) => {
        const g = grads[i] as tf.Tensor;
        let m = this.m.get(p);
        let v = this.v.get(p);
        if (!m || !v) {
          m = tf.variable(tf.zerosLike(p), false);
          v = tf.variable(tf.zerosLike(p), false);
          this.m.set(p, m);
          this.v.set(p, v);
        }
        const mNew = tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1));
        const vNew = tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        m.assign(mNew);
        v.assign(vNew);
        let update = tf.div(tf.mul(mNew, lr / c1), tf.add(tf.sqrt(tf.div(vNew, c2)), this.eps));
        if (this.weightDecay > 0 && p.rank >= 2) update = tf.add(update, tf.mul(p, lr * this.weightDecay));
        p.assign(tf.sub(p, update));
      });
    });
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}

/** Linear warmup from 0 then cosine decay to `minLrRatio·lr` at `totalSteps` (`step` counts from 0). */
export function cosineLr(step: number, opts: { lr: number; warmupSteps: number; totalSteps: number; minLrRatio?: number }): number {
  const { lr, warmupSteps, totalSteps } = opts;
  const minLr = lr * (opts.minLrRatio ?? 0);
  if (step < warmupSteps) return (lr * (step + 1)) / warmupSteps;
  const span = Math.max(1, totalSteps - warmupSteps);
  const progress = Math.min(1, (step - warmupSteps) / span);
  return minLr + 0.5 * (lr - minLr) * (1 + Math.cos(Math.PI * progress));
}

/**
 * Scales gradients so their global L2 norm is at most `maxNorm` (0 = no clipping). Returns new
 * tensors (the caller disposes both old and new) and the norm before clipping, as a scalar tensor.
 */
export function clipByGlobalNorm(grads: readonly tf.Tensor[], maxNorm: number): { grads: tf.Tensor[]; norm: tf.Scalar } {
  return tf.tidy(() => {
    const norm = tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g))))) as tf.Scalar;
    if (!(maxNorm > 0)) return { grads: grads.map((g) => tf.clone(g)), norm };
    const scale = tf.minimum(1, tf.div(maxNorm, tf.add(norm, 1e-6)));
    return { grads: grads.map((g) => tf.mul(g, scale)), norm };
  });
}
