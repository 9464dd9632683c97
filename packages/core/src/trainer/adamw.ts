import * as tf from '@tensorflow/tfjs';
import type { OptimizerState } from '../contracts/checkpoint.js';

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  /** Decoupled weight decay (Loshchilov & Hutter), w ← w − lr·wd·w, on matrices only (not norm gains or biases). */
  weightDecay: number;
}

/**
 * AdamW with its state in named variables, so a checkpoint can save and restore it exactly.
 * (tfjs's Adam has no decoupled decay and hides its learning rate.)
 */
export class AdamW {
  private step = 0;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();

  constructor(private readonly options: AdamWOptions) {}

  get iterations(): number {
    return this.step;
  }

  /**
   * Applies one update with learning rate `lr` (or a rate per variable, e.g. a smaller one for a
   * pretrained backbone than for a fresh head); `grads` are keyed by variable name. Does not dispose `grads`.
   */
  apply(variables: readonly tf.Variable[], grads: Readonly<Record<string, tf.Tensor>>, lr: number | ((variable: tf.Variable) => number)): void {
    this.step++;
    const { beta1, beta2, eps, weightDecay } = this.options;
    const c1 = 1 - beta1 ** this.step;
    const c2 = 1 - beta2 ** this.step;
    for (const variable of variables) {
      const g = grads[variable.name];
      if (!g) continue;
      const m = this.moment(this.m, variable);
      const v = this.moment(this.v, variable);
      tf.tidy(() => {
        const m1 = m.mul(beta1).add(g.mul(1 - beta1));
        const v1 = v.mul(beta2).add(g.square().mul(1 - beta2));
        m.assign(m1);
        v.assign(v1);
        let update = m1.div(c1).div(v1.div(c2).sqrt().add(eps));
        if (weightDecay > 0 && variable.rank >= 2) update = update.add(variable.mul(weightDecay));
        variable.assign(variable.sub(update.mul(typeof lr === 'number' ? lr : lr(variable))));
      });
    }
  }

  /**
   * One optimizer step as every training loop takes it: clip the gradients to `maxGradNorm`
   * (0 = off), apply them with `lr`, dispose them. Returns the global norm before clipping.
   */
  update(
    variables: readonly tf.Variable[],
    grads: Record<string, tf.Tensor>,
    options: { lr: number | ((variable: tf.Variable) => number); maxGradNorm: number },
  ): number {
    const clipped = clipByGlobalNorm(grads, options.maxGradNorm);
    this.apply(variables, clipped.grads, options.lr);
    tf.dispose(Object.values(clipped.grads));
    return clipped.norm;
  }

  private moment(store: Map<string, tf.Variable>, variable: tf.Variable): tf.Variable {
    let s = store.get(variable.name);
    if (!s) {
      s = tf.tidy(() => tf.variable(tf.zerosLike(variable), false));
      store.set(variable.name, s);
    }
    return s;
  }

  /**
   * State as plain arrays keyed by the variable's position (`m/3`, `v/3`): variable names carry
   * per-instance prefixes in tfjs, positions in `trainableVariables()` do not.
   */
  getState(variables: readonly tf.Variable[]): OptimizerState {
    const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
    variables.forEach((variable, i) => {
      for (const [prefix, store] of [
        ['m', this.m],
        ['v', this.v],
      ] as const) {
        const t = store.get(variable.name);
        if (t) tensors[`${prefix}/${i}`] = { shape: t.shape, data: t.dataSync() as Float32Array };
      }
    });
    return { step: this.step, tensors };
  }

  setState(state: OptimizerState, variables: readonly tf.Variable[]): void {
    for (const [key, value] of Object.entries(state.tensors)) {
      const m = /^([mv])\/(\d+)$/.exec(key);
      if (!m) throw new Error(`optimizer state has an unknown entry '${key}'`);
      const variable = variables[Number(m[2])];
      if (!variable) throw new Error(`optimizer state has '${key}', but the model has only ${variables.length} variables`);
      if (variable.shape.join('x') !== value.shape.join('x'))
        throw new Error(`optimizer state '${key}' has shape [${value.shape}], but variable ${m[2]} ('${variable.name}') has [${variable.shape}]`);
    }
    this.dispose();
    this.step = state.step;
    for (const [key, value] of Object.entries(state.tensors)) {
      const [prefix, index] = key.split('/') as [string, string];
      const variable = variables[Number(index)]!;
      (prefix === 'm' ? this.m : this.v).set(
        variable.name,
        tf.tidy(() => tf.variable(tf.tensor(value.data, value.shape), false)),
      );
    }
  }

  dispose(): void {
    for (const store of [this.m, this.v]) {
      for (const t of store.values()) t.dispose();
      store.clear();
    }
  }
}

/** Global L2 norm of the gradients; scales them in place (new tensors) to `maxNorm` when above it (0 = off). */
export function clipByGlobalNorm(grads: Record<string, tf.Tensor>, maxNorm: number): { grads: Record<string, tf.Tensor>; norm: number } {
  const norm = tf.tidy(
    () =>
      tf
        .addN(Object.values(grads).map((g) => g.square().sum()))
        .sqrt()
        .dataSync()[0] ?? 0,
  );
  if (!(maxNorm > 0) || norm <= maxNorm || !Number.isFinite(norm)) return { grads, norm };
  const scale = maxNorm / (norm + 1e-6);
  const clipped: Record<string, tf.Tensor> = {};
  for (const [k, g] of Object.entries(grads)) {
    clipped[k] = tf.tidy(() => g.mul(scale));
    g.dispose();
  }
  return { grads: clipped, norm };
}
