/** Messages between the page (main.ts) and the training worker (worker.ts). */
import type { PlaygroundSettings, StepView } from './settings.js';

export type ToWorker =
  /** (Re)start from the shipped SFT policy with these settings. */
  | { type: 'reset'; settings: PlaygroundSettings }
  /** The reward from the next step on: compiled JavaScript of the page's reward, or null for the task's own (answered by `reward`). */
  | { type: 'reward'; id: number; code: string | null }
  /** Run up to `steps` more steps (until paused). */
  | { type: 'run'; steps: number }
  | { type: 'pause' }
  /** Next-token log-probs of the current policy after `prompt` (answered by `logprobs`). */
  | { type: 'logprobs'; id: number; prompt: string }
  /** The current policy's checkpoint files (answered by `files`). */
  | { type: 'files'; id: number };

export type FromWorker =
  | { type: 'ready'; backend: string }
  | { type: 'step'; view: StepView }
  | { type: 'idle'; step: number }
  | { type: 'error'; message: string; where: 'reward' | 'setup' | 'step' }
  | { type: 'logprobs'; id: number; values: number[] }
  /** The reward was loaded and ran on an empty batch (`error` when it did not). */
  | { type: 'reward'; id: number; error: string | null }
  | { type: 'files'; id: number; files: Record<string, Uint8Array> };
