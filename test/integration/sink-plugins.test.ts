/**
 * The TensorBoard and W&B sink plugins in a real (tiny) training run: loaded from the config's
 * plugin list like any plugin, bound as `MetricsSink`s, resolved by the trainer, and closed at the
 * end of training.
 */
import { readdir, readFile, rm, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sinkTensorBoard from '@grpo/plugin-sink-tensorboard';
import sinkWandb from '@grpo/plugin-sink-wandb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeEvent, readRecords } from '../../plugins/sink-tensorboard/test/event-reader.js';
import { decodeRecord, readLog } from '../../plugins/sink-wandb/test/log-reader.js';
import { tinyConfig, tinyTrainer, useWasm } from './tiny-task.js';

beforeAll(useWasm);

describe('sink plugins in a training run', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'grpo-sinks-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('log every step to TensorBoard event files and a W&B offline run', async () => {
    const outputDir = path.join(dir, 'run-a');
    const config = tinyConfig({ train: { steps: 3 } }, outputDir, [sinkTensorBoard({ runName: 'a' }), sinkWandb({ project: 'tiny' })]);
    const trainer = await tinyTrainer(config);
    await trainer.train();
    trainer.dispose();

    const tbDir = path.join(outputDir, 'tensorboard', 'a');
    const [eventFile] = await readdir(tbDir);
    const events = readRecords(new Uint8Array(await readFile(path.join(tbDir, eventFile!)))).map(decodeEvent);
    const scalars = events.filter((e) => e.values?.some((v) => v.tag === 'reward'));
    expect(scalars.map((e) => e.step)).toEqual([0, 1, 2]);
    expect(scalars[0]!.values!.map((v) => v.tag)).toEqual(expect.arrayContaining(['reward', 'kl', 'loss', 'rewards/share_of_a/mean', 'step_time']));
    expect(events.filter((e) => e.values?.some((v) => v.tag === 'samples')).map((e) => e.step)).toEqual([0, 1, 2]);

    const [runDir] = await readdir(path.join(outputDir, 'wandb'));
    const runPath = path.join(outputDir, 'wandb', runDir!);
    const [logFile] = (await readdir(runPath)).filter((f) => f.endsWith('.wandb'));
    const log = readLog(new Uint8Array(await readFile(path.join(runPath, logFile!)))).map(decodeRecord);
    expect(log.map((r) => r.type)).toEqual(['header', 'run', 'history', 'history', 'history', 'summary', 'exit', 'final']);
    const run = log[1] as Extract<(typeof log)[number], { type: 'run' }>;
    expect(run).toMatchObject({ project: 'tiny', displayName: 'run-a' });
    expect(JSON.parse(run.config.find(([k]) => k === 'train')![1])).toMatchObject({ steps: 3, groupSize: 4 });
    const first = log[2] as Extract<(typeof log)[number], { type: 'history' }>;
    expect(first.items.map(([k]) => k)).toEqual(expect.arrayContaining(['reward', 'kl', '_step', '_runtime', '_timestamp']));
  });
});
