/**
 * The exact-resume check the integration tests share: a run trained straight, and the same run
 * stopped after `stopAt` steps as a Ctrl-C stops it (the step in hand finishes and is
 * checkpointed), then resumed from that checkpoint in a fresh trainer.
 */
import path from 'node:path';
import { DirectoryCheckpointer, JsonlMetricsSink, readMetrics, type Trainer } from '@grpo/core';
import { expect } from 'vitest';

/** A trainer, or a trainer with parts of its own to dispose of (PPO's critic). */
export type TrainerRun = Trainer | { trainer: Trainer; dispose(): void };
const trainerOf = (run: TrainerRun): Trainer => ('trainer' in run ? run.trainer : run);

/**
 * Trains `make()` straight (metrics in `dir/straight`) and stopped + resumed (`dir/resumed`);
 * `inspect` sees each finished trainer before it is disposed. Returns both runs' metrics records.
 */
export async function straightAndResumed(
  make: () => Promise<TrainerRun>,
  dir: string,
  stopAt: number,
  inspect?: (which: 'straight' | 'resumed', trainer: Trainer) => void,
): Promise<{ straight: Record<string, number>[]; resumed: Record<string, number>[] }> {
  const straight = await make();
  const straightSink = new JsonlMetricsSink(path.join(dir, 'straight'));
  await trainerOf(straight).train({ sinks: [straightSink] });
  inspect?.('straight', trainerOf(straight));
  straight.dispose();

  const controller = new AbortController();
  const first = await make();
  const checkpointer = new DirectoryCheckpointer(path.join(dir, 'resumed', 'checkpoints'));
  await trainerOf(first).train({
    checkpointer,
    sinks: [new JsonlMetricsSink(path.join(dir, 'resumed')), { name: `stop-after-${stopAt}`, log: (step) => void (step === stopAt - 1 && controller.abort()) }],
    signal: controller.signal,
  });
  expect(trainerOf(first).step).toBe(stopAt);
  first.dispose();

  const second = await make();
  const latest = await checkpointer.latest();
  expect(latest).toMatch(new RegExp(`step-${String(stopAt).padStart(6, '0')}$`));
  expect((await checkpointer.restore(latest!, trainerOf(second))).step).toBe(stopAt);
  const secondSink = new JsonlMetricsSink(path.join(dir, 'resumed'), { resumeStep: stopAt });
  await trainerOf(second).train({ checkpointer, sinks: [secondSink] });
  inspect?.('resumed', trainerOf(second));
  second.dispose();

  return { straight: await readMetrics(straightSink.file), resumed: await readMetrics(secondSink.file) };
}
