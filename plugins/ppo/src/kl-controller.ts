/**
 * The β of PPO's KL-in-reward penalty r_t ← r_t − β·(log π_old − log π_ref): fixed, or adapted
 * after every step with the proportional controller of Ziegler et al. 2019 ("Fine-Tuning
 * Language Models from Human Preferences", §2.2):
 *
 *   e_t = clip(KL_t / KL_target − 1, −0.2, 0.2),   β_{t+1} = β_t · (1 + K_β · e_t)
 *
 * where KL_t is the batch mean of each completion's summed k1 estimate Σ_t (log π_old − log π_ref).
 */
import { GrpoError } from '@grpo/core';

export interface AdaptiveKlOptions {
  /** KL_target: the per-completion KL (in nats, summed over tokens) the controller steers to. */
  target: number;
  /** K_β, the controller's gain (0.1 in Ziegler et al.). */
  gain?: number;
}

/** Holds β between steps; the adaptive one is saved with the critic so a resumed run continues exactly. */
export class KlController {
  private current: number | undefined;
  readonly target: number | undefined;
  readonly gain: number;

  constructor(adaptive?: AdaptiveKlOptions) {
    if (adaptive) {
      if (!(adaptive.target > 0)) throw new GrpoError(`ppo: kl.adaptive.target must be > 0, got ${adaptive.target}`);
      if (adaptive.gain !== undefined && !(adaptive.gain > 0)) throw new GrpoError(`ppo: kl.adaptive.gain must be > 0, got ${adaptive.gain}`);
    }
    this.target = adaptive?.target;
    this.gain = adaptive?.gain ?? 0.1;
  }

  get adaptive(): boolean {
    return this.target !== undefined;
  }

  /** β for this step: the configured β until the controller has moved it. */
  beta(configured: number): number {
    return this.adaptive ? (this.current ?? configured) : configured;
  }

  /** Feeds the step's observed KL (batch mean of per-completion Σ k1) into the controller. */
  update(beta: number, observedKl: number): void {
    if (this.target === undefined || !Number.isFinite(observedKl)) return;
    const error = Math.min(0.2, Math.max(-0.2, observedKl / this.target - 1));
    this.current = beta * (1 + this.gain * error);
  }

  getState(): { beta: number | undefined } {
    return { beta: this.current };
  }

  setState(state: { beta?: number | null }): void {
    this.current = typeof state.beta === 'number' ? state.beta : undefined;
  }
}
