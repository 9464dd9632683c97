/**
 * The main job (`grpo.config.ts`: the math task from the shipped SFT policy) with its rollouts on
 * rollout workers, for `npm run bench:workers`: MAX_STALENESS=0 is the synchronous pipeline, 1 the
 * asynchronous one; QUEUE names the queues. Paths of the main config are relative to the repository root.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from '@grpo/cli';
import workers from '@grpo/plugin-workers';
import main from '../../../grpo.config.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export default defineConfig({
  ...main,
  plugins: [...(main.plugins ?? []), workers()],
  policy: { ...main.policy, checkpoint: path.join(root, main.policy!.checkpoint!) },
  generation: { ...main.generation, engine: 'workers' },
  train: { ...main.train, checkpointEvery: 0, logSamplesEvery: 0 },
  workers: { queue: process.env.QUEUE ?? 'bench-pipeline', maxStaleness: Number(process.env.MAX_STALENESS ?? 0) },
});
