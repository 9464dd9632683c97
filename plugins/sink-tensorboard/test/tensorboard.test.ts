import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { assembleContainer, ConfigError, MetricsSink } from '@grpo/core';
import { testConfig } from '@grpo/core/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import sinkTensorBoard, { crc32c, maskedCrc32c, samplesMarkdown, TensorBoardSink, tfRecord } from '../src/index.js';
import { decodeEvent, readRecords } from './event-reader.js';

const samples = [
  { prompt: 'What is 2 + 3?', completion: 'The answer is 5.', reward: 1, rewards: { accuracy: 1, format: null }, advantage: 0.87, reference: '5' },
  { prompt: 'What is 2 + 3?', completion: 'It is ```6```.', reward: 0, rewards: { accuracy: 0, format: null }, advantage: -0.87, reference: '5' },
];

describe('event file encoding', () => {
  it('computes CRC-32C and its TFRecord mask as specified', () => {
    const ascii = (s: string) => new TextEncoder().encode(s);
    // The check value of CRC-32C, and RFC 3720's test vector of 32 zero bytes.
    expect(crc32c(ascii('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    const crc = 0xe3069283;
    expect(maskedCrc32c(ascii('123456789'))).toBe((((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0);
  });

  it('frames a record as length, masked CRC of the length, data and masked CRC of the data', () => {
    const record = tfRecord(new TextEncoder().encode('abc'));
    expect(record.length).toBe(8 + 4 + 3 + 4);
    expect(readRecords(record).map((r) => new TextDecoder().decode(r))).toEqual(['abc']);
    const corrupt = Uint8Array.from(record);
    corrupt[13] = corrupt[13]! ^ 1;
    expect(() => readRecords(corrupt)).toThrow('bad data CRC');
  });
});

describe('TensorBoardSink', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'grpo-tb-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const events = async (file: string) => readRecords(new Uint8Array(await readFile(file))).map(decodeEvent);

  it('writes the file version, one event of scalars per step and the samples as a text summary', async () => {
    let now = 1_700_000_000;
    const sink = new TensorBoardSink({ dir, flushSeconds: 0, now: () => now });
    await sink.log(0, { reward: 0.25, 'rewards/accuracy/mean': 0.1, learning_rate: 1e-6 });
    now += 2;
    await sink.log(1, { reward: 0.5, kl: Number.NaN });
    await sink.logSamples(1, samples);
    await sink.close();
    expect(await readdir(dir)).toEqual([path.basename(sink.file!)]);
    expect(path.basename(sink.file!)).toMatch(/^events\.out\.tfevents\.1700000000\..+\.\d+\.\d+$/);
    const [version, step0, step1, text] = await events(sink.file!);
    expect(version).toEqual({ wallTime: 1_700_000_000, step: 0, fileVersion: 'brain.Event:2' });
    expect(step0!.step).toBe(0);
    expect(step0!.values).toEqual([
      { tag: 'reward', simpleValue: 0.25 },
      { tag: 'rewards/accuracy/mean', simpleValue: Math.fround(0.1) },
      { tag: 'learning_rate', simpleValue: Math.fround(1e-6) },
    ]);
    expect(step1!.wallTime).toBe(1_700_000_002);
    expect(step1!.values![1]!.tag).toBe('kl');
    expect(step1!.values![1]!.simpleValue).toBeNaN();
    expect(text!.step).toBe(1);
    expect(text!.values).toEqual([{ tag: 'samples', pluginName: 'text', dtype: 7, strings: [samplesMarkdown(samples)] }]);
    expect(samplesMarkdown(samples)).toContain('**Sample 1** · reward 1 (accuracy 1, format —) · advantage 0.87');
    // A completion with backticks stays inside its code block.
    expect(samplesMarkdown(samples)).toContain('````\nIt is ```6```.\n````');
  });

  it('buffers events and writes them every flushSeconds and at close', async () => {
    let now = 100;
    const sink = new TensorBoardSink({ dir, flushSeconds: 10, now: () => now });
    await sink.log(0, { reward: 1 });
    now += 5;
    await sink.log(1, { reward: 2 });
    expect((await events(sink.file!)).map((e) => e.step)).toEqual([0]); // only the file version so far
    now += 5;
    await sink.log(2, { reward: 3 });
    expect((await events(sink.file!)).filter((e) => e.values).map((e) => e.step)).toEqual([0, 1, 2]);
    await sink.log(3, { reward: 4 });
    await sink.close();
    expect((await events(sink.file!)).filter((e) => e.values).map((e) => e.step)).toEqual([0, 1, 2, 3]);
  });

  it('marks a resumed run with a SessionLog START at its first step, in a new file', async () => {
    const first = new TensorBoardSink({ dir, flushSeconds: 0 });
    for (const step of [0, 1, 2, 3]) await first.log(step, { reward: step });
    await first.close();
    const resumed = new TensorBoardSink({ dir, flushSeconds: 0 });
    await resumed.log(2, { reward: 20 });
    await resumed.close();
    expect(resumed.file).not.toBe(first.file);
    expect((await readdir(dir)).sort()).toEqual([path.basename(first.file!), path.basename(resumed.file!)].sort());
    const [version, start, step2] = await events(resumed.file!);
    expect(version!.fileVersion).toBe('brain.Event:2');
    expect(start).toMatchObject({ step: 2, sessionStatus: 1 });
    expect(step2!.values).toEqual([{ tag: 'reward', simpleValue: 20 }]);
  });

  it('leaves samples out when asked, and writes no file when nothing was logged', async () => {
    const sink = new TensorBoardSink({ dir, flushSeconds: 0, samples: false });
    await sink.close();
    expect(await readdir(dir)).toEqual([]);
    await sink.logSamples(0, samples);
    await sink.log(0, { reward: 1 });
    await sink.close();
    expect((await events(sink.file!)).flatMap((e) => e.values ?? []).map((v) => v.tag)).toEqual(['reward']);
  });
});

describe('the plugin', () => {
  it('binds a TensorBoard sink writing to <outputDir>/tensorboard, or logDir/runName', async () => {
    const outputDir = path.join(tmpdir(), 'grpo-tb-plugin-run');
    const plain = await assembleContainer(await testConfig({ outputDir }, [sinkTensorBoard()]));
    const [sink] = plain.getAll<MetricsSink>(MetricsSink);
    expect(sink).toBeInstanceOf(TensorBoardSink);
    expect((sink as TensorBoardSink).dir).toBe(path.resolve(outputDir, 'tensorboard'));
    const named = await assembleContainer(await testConfig({}, [sinkTensorBoard({ logDir: '/tmp/tb', runName: 'lr-1e-4', flushSeconds: 30 })]));
    expect((named.getAll<MetricsSink>(MetricsSink)[0] as TensorBoardSink).dir).toBe('/tmp/tb/lr-1e-4');
  });

  it('reports bad options with the config problems', async () => {
    const error = await testConfig({}, [sinkTensorBoard({ flushSeconds: -1, runName: 'a/b' })]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain('flushSeconds');
    expect((error as Error).message).toContain('a directory name');
  });
});

/**
 * Cross-check with TensorBoard's own loader, where a Python with `tensorboard` is available
 * (`GRPO_TENSORBOARD_PYTHON=/path/to/python`, or a `python3` that imports it); skipped otherwise.
 */
const python = (() => {
  for (const candidate of [process.env.GRPO_TENSORBOARD_PYTHON, 'python3'].filter((c): c is string => Boolean(c))) {
    try {
      execFileSync(candidate, ['-c', 'import tensorboard'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // not this one
    }
  }
  return undefined;
})();

describe.skipIf(!python)("TensorBoard's own loader", () => {
  it('reads the scalars and the samples back, dropping the points a resumed run replaced', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'grpo-tb-python-'));
    try {
      const first = new TensorBoardSink({ dir, flushSeconds: 0, now: () => 1000 });
      for (const step of [0, 1, 2, 3]) await first.log(step, { reward: step / 4, 'eval/accuracy': 0.5 });
      await first.logSamples(1, samples);
      await first.close();
      const resumed = new TensorBoardSink({ dir, flushSeconds: 0, now: () => 1001 });
      for (const step of [2, 3, 4]) await resumed.log(step, { reward: 10 + step });
      await resumed.close();
      const script = [
        'import json, sys',
        'from tensorboard.backend.event_processing.event_accumulator import EventAccumulator',
        'acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0, "tensors": 0}); acc.Reload()',
        'tags = acc.Tags()',
        'out = {"scalars": {t: [[e.step, e.value] for e in acc.Scalars(t)] for t in tags["scalars"]}}',
        'out["text"] = [[e.step, e.tensor_proto.string_val[0].decode()] for e in acc.Tensors("samples")] if "samples" in tags["tensors"] else []',
        'print(json.dumps(out))',
      ].join('\n');
      const read = JSON.parse(execFileSync(python!, ['-c', script, dir], { encoding: 'utf8' })) as {
        scalars: Record<string, [number, number][]>;
        text: [number, string][];
      };
      // Steps 2 and 3 of the first run are replaced by the resumed run's.
      expect(read.scalars.reward).toEqual([
        [0, 0],
        [1, 0.25],
        [2, 12],
        [3, 13],
        [4, 14],
      ]);
      expect(read.scalars['eval/accuracy']).toEqual([
        [0, 0.5],
        [1, 0.5],
      ]);
      expect(read.text).toEqual([[1, samplesMarkdown(samples)]]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
