import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { assembleContainer, ConfigError, MetricsSink } from '@grpo/core';
import { testConfig } from '@grpo/core/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import sinkWandb, { crc32, valueJson, WandbSink } from '../src/index.js';
import { decodeRecord, readLog, type DecodedRecord } from './log-reader.js';

describe('W&B transaction log encoding', () => {
  it("uses zlib's CRC-32 and Python's JSON for non-finite numbers", () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    // W&B's header magic is the low 16 bits of the CRC-32 of its name.
    expect(crc32(new TextEncoder().encode('Weights & Biases')) & 0xffff).toBe(0xbee1);
    expect([Number.NaN, Infinity, -Infinity, 0.5, 'a'].map(valueJson)).toEqual(['NaN', 'Infinity', '-Infinity', '0.5', '"a"']);
  });
});

describe('WandbSink', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'grpo-wandb-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const records = async (sink: WandbSink): Promise<DecodedRecord[]> => readLog(new Uint8Array(await readFile(sink.logFile!))).map(decodeRecord);
  const config = { train: { steps: 3, learningRate: 1e-4 }, seed: 7, plugins: ['@grpo/plugin-grpo@0.1.0'] };

  it('writes an offline run directory: the run with its config, a history row per step, then summary, exit and final', async () => {
    let now = Date.UTC(2026, 11, 1, 10, 0, 0);
    const sink = new WandbSink({ dir, project: 'grpo', name: 'lr-1e-4', runId: 'abc123', tags: ['gsm8k'], config, flushSeconds: 0, now: () => now });
    await sink.log(0, { reward: 0.25, kl: 0 });
    now += 1500;
    await sink.log(1, { reward: 0.5, kl: Number.NaN });
    await sink.close();
    const runDir = sink.runDir!;
    expect(path.basename(runDir)).toMatch(/^offline-run-\d{8}_\d{6}-abc123$/);
    expect((await readdir(runDir)).sort()).toEqual(['files', 'run-abc123.wandb']);
    expect((await readdir(path.join(runDir, 'files'))).sort()).toEqual(['config.yaml', 'wandb-metadata.json', 'wandb-summary.json']);
    const log = await records(sink);
    expect(log.map((r) => [r.num, r.type])).toEqual([
      [1, 'header'],
      [2, 'run'],
      [3, 'history'],
      [4, 'history'],
      [5, 'summary'],
      [6, 'exit'],
      [7, 'final'],
    ]);
    expect(log[0]).toMatchObject({ producer: 'grpo-ts 0.1.0' });
    expect(log[1]).toMatchObject({
      runId: 'abc123',
      project: 'grpo',
      entity: '',
      displayName: 'lr-1e-4',
      tags: ['gsm8k'],
      startSeconds: Date.UTC(2026, 11, 1, 10, 0, 0) / 1000,
      config: [
        ['train', '{"steps":3,"learningRate":0.0001}'],
        ['seed', '7'],
        ['plugins', '["@grpo/plugin-grpo@0.1.0"]'],
      ],
    });
    expect(log[3]).toEqual({
      num: 4,
      type: 'history',
      step: 1,
      items: [
        ['reward', '0.5'],
        ['kl', 'NaN'],
        ['_step', '1'],
        ['_runtime', '1.5'],
        ['_timestamp', String(now / 1000)],
      ],
    });
    // The summary keeps the last finite value of each metric.
    expect(log[4]).toMatchObject({
      type: 'summary',
      items: expect.arrayContaining([
        ['reward', '0.5'],
        ['kl', '0'],
        ['_step', '1'],
      ]),
    });
    expect(log[5]).toMatchObject({ exitCode: 0 });
    expect(parse(await readFile(path.join(runDir, 'files', 'config.yaml'), 'utf8'))).toEqual({
      train: { value: config.train },
      seed: { value: 7 },
      plugins: { value: config.plugins },
    });
    expect(JSON.parse(await readFile(path.join(runDir, 'files', 'wandb-summary.json'), 'utf8'))).toMatchObject({ reward: 0.5, kl: 0, _step: 1 });
    expect(JSON.parse(await readFile(path.join(runDir, 'files', 'wandb-metadata.json'), 'utf8'))).toMatchObject({ program: 'grpo' });
  });

  it('splits records larger than what is left of a block into FIRST, MIDDLE and LAST chunks, padding short block tails', async () => {
    const sink = new WandbSink({ dir, project: 'p', runId: 'big', flushSeconds: 0 });
    const long = 'x'.repeat(70_000); // a history record spanning three 32 KiB blocks
    for (let step = 0; step < 300; step++) await sink.log(step, { reward: step, [`m/${step % 3 === 0 ? long : 'short'}`]: 1 });
    await sink.close();
    const log = await records(sink);
    expect(log).toHaveLength(2 + 300 + 3);
    expect((await readFile(sink.logFile!)).length).toBeGreaterThan(3 * 32768);
    const history = log.filter((r): r is Extract<DecodedRecord, { type: 'history' }> => r.type === 'history');
    expect(history.map((r) => r.step)).toEqual([...Array(300).keys()]);
    expect(history[3]!.items[1]![0]).toBe(`m/${long}`);
  });

  it('buffers records and appends them every flushSeconds and at close', async () => {
    let now = 0;
    const sink = new WandbSink({ dir, project: 'p', runId: 'flush', flushSeconds: 10, now: () => now });
    await sink.log(0, { reward: 1 });
    expect(await readFile(sink.logFile!)).toHaveLength(7); // the file header only
    now += 10_000;
    await sink.log(1, { reward: 2 });
    expect((await records(sink)).map((r) => r.type)).toEqual(['header', 'run', 'history', 'history']);
    await sink.log(2, { reward: 3 });
    await sink.close();
    await sink.close();
    expect((await records(sink)).map((r) => r.type)).toEqual(['header', 'run', 'history', 'history', 'history', 'summary', 'exit', 'final']);
  });

  it('writes nothing when nothing was logged', async () => {
    const sink = new WandbSink({ dir, project: 'p' });
    await sink.close();
    expect(await readdir(dir)).toEqual([]);
    expect(sink.runId).toMatch(/^[a-z0-9]{8}$/);
  });
});

describe('the plugin', () => {
  it('binds a W&B sink writing under <outputDir>/wandb, named after the run directory, with the resolved config', async () => {
    const outputDir = path.join(tmpdir(), 'grpo-wandb-plugin', 'lr-1e-4');
    const container = await assembleContainer(await testConfig({ outputDir, seed: 3 }, [sinkWandb({ project: 'math', tags: ['a'] })]));
    const [sink] = container.getAll<MetricsSink>(MetricsSink);
    expect(sink).toBeInstanceOf(WandbSink);
    const options = (sink as unknown as { options: { dir: string; name: string; project: string; config: Record<string, unknown> } }).options;
    expect(options.dir).toBe(path.resolve(outputDir, 'wandb'));
    expect(options.name).toBe('lr-1e-4');
    expect(options.project).toBe('math');
    expect(options.config).toMatchObject({ seed: 3, outputDir, train: { groupSize: 8 } });
    expect(options.config.plugins).toContainEqual({ '@grpo/plugin-sink-wandb@0.1.0': expect.objectContaining({ project: 'math', mode: 'offline' }) });
  });

  it('reports bad options with the config problems; online mode is not offered', async () => {
    const error = await testConfig({}, [sinkWandb({ mode: 'online' as 'offline', runId: 'a b' })]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain('mode');
    expect((error as Error).message).toContain('letters, digits, _ and - only');
  });
});

/**
 * Cross-check with W&B's own reader, where its `wandb-core` binary is available
 * (`GRPO_WANDB_CORE=/path/to/wandb/bin/wandb-core`, from the `wandb` Python package): its record
 * inspector (`leet --inspect`, which prints the records as text when stdout is not a terminal)
 * must read every record back. Skipped otherwise.
 */
const wandbCore = process.env.GRPO_WANDB_CORE;
describe.skipIf(!wandbCore || !existsSync(wandbCore))("W&B's own reader", () => {
  it('reads every record of the log, large ones included', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'grpo-wandb-core-'));
    try {
      const sink = new WandbSink({ dir, project: 'grpo', runId: 'check1', name: 'check', config: { seed: 1 }, flushSeconds: 0 });
      for (let step = 0; step < 50; step++)
        await sink.log(step, { reward: step / 10, kl: step === 3 ? Number.NaN : 0.01, [`m/${'y'.repeat(step === 7 ? 40_000 : 1)}`]: step });
      await sink.close();
      const printed = execFileSync(wandbCore!, ['leet', '--no-observability', '--inspect', '--run-file', sink.logFile!, dir], {
        encoding: 'utf8',
        env: { ...process.env, HOME: dir },
        maxBuffer: 64 * 1024 * 1024,
      });
      const types = [...printed.matchAll(/^# record (\d+): (\w+)$/gm)].map((m) => `${m[1]}:${m[2]}`);
      expect(types).toEqual(['1:header', '2:run', ...Array.from({ length: 50 }, (_, i) => `${i + 3}:history`), '53:summary', '54:exit', '55:final']);
      expect(printed).toContain('run_id: "check1"');
      expect(printed).toContain('value_json: "NaN"');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
