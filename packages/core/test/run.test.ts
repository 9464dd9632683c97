import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ContainerModule } from 'inversify';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  assembleContainer,
  boundValues,
  CheckpointError,
  configChanges,
  configDefaults,
  configToJson,
  ConfigNotFoundError,
  loadConfig,
  resolvePolicyCheckpoint,
  RewardFunction,
  runRecord,
  type GrpoPlugin,
} from '../src/index.js';
import { tempProject, testConfig } from './helpers.js';

describe('a run record and configChanges', () => {
  it('records the config, versions, seed and backend', async () => {
    const plugin: GrpoPlugin = { meta: { name: 'grpo-plugin-x', version: '2.1.0', core: '^0.1.0' }, register: () => undefined };
    const config = await testConfig({ seed: 3, backend: 'cpu' }, [plugin]);
    const record = runRecord(config, { '@grpo/cli': '9.9.9' });
    expect(record).toMatchObject({ config: configToJson(config), seed: 3, backend: 'cpu' });
    expect(record.versions).toMatchObject({ '@grpo/core': '0.1.0', 'grpo-plugin-x': '2.1.0', '@grpo/cli': '9.9.9', node: process.versions.node });
  });

  it('names every key that differs and says which change training', async () => {
    const plugin = (seed: number): GrpoPlugin => ({
      meta: { name: 'task', version: '1.0.0', core: '^0.1.0' },
      options: { input: { seed }, value: { seed } },
      register: () => undefined,
    });
    const a = configToJson(await testConfig({ train: { learningRate: 1e-4, steps: 10 }, outputDir: 'runs/a' }, [plugin(0)]));
    const b = configToJson(await testConfig({ train: { learningRate: 1e-2, steps: 20 }, outputDir: 'runs/b', eval: { k: 2 } }, [plugin(1)]));
    const changes = configChanges(a, b);
    expect(changes.filter((c) => c.training).map((c) => c.key)).toEqual(['train.learningRate', 'plugins[task].seed']);
    expect(changes.filter((c) => !c.training).map((c) => c.key)).toEqual(['outputDir', 'train.steps', 'eval.k']);
    expect(changes.find((c) => c.key === 'train.learningRate')).toMatchObject({ before: '0.0001', after: '0.01' });
    // With a decaying learning rate the schedule spans train.steps: more steps change training.
    const cosine = (steps: number) => testConfig({ train: { lrSchedule: 'cosine', steps } }).then(configToJson);
    expect(configChanges(await cosine(10), await cosine(20))).toEqual([{ key: 'train.steps', before: '10', after: '20', training: true }]);
    expect(configChanges(a, a)).toEqual([]);
  });

  it('takes a key an older version did not record as unchanged while it keeps its default', async () => {
    const plugin = (options: { seed: number; tool?: boolean }): GrpoPlugin => ({
      meta: { name: 'task', version: '1.0.0', core: '^0.1.0' },
      options: {
        input: options,
        value: { tool: false, ...options },
        schema: z.strictObject({ seed: z.number().default(0), tool: z.boolean().default(false) }),
      },
      register: () => undefined,
    });
    const config = await testConfig({ train: { learningRate: 1e-4 } }, [plugin({ seed: 1 })]);
    const current = configToJson(config);
    // What a version without generation.correction and the task's `tool` option recorded.
    const older = structuredClone(current) as { generation: Record<string, unknown>; plugins: Record<string, Record<string, unknown>>[] };
    delete older.generation.correction;
    delete older.plugins.at(-1)!['task@1.0.0']!.tool;
    const defaults = configDefaults(config);
    expect(configChanges(older, current, defaults)).toEqual([]);
    // Without the defaults (or with a non-default value) the new keys are named.
    expect(configChanges(older, current).map((c) => c.key)).toEqual(expect.arrayContaining(['generation.correction.mode', 'plugins[task].tool']));
    const changed = configToJson(await testConfig({ generation: { correction: { mode: 'sequence_mask' } } }, [plugin({ seed: 1, tool: true })]));
    expect(configChanges(older, changed, defaults)).toEqual([
      { key: 'generation.correction.mode', before: undefined, after: '"sequence_mask"', training: true },
      { key: 'plugins[task].tool', before: undefined, after: 'true', training: true },
    ]);
  });
});

describe('resolvePolicyCheckpoint', () => {
  it('takes a policy directory, a training checkpoint, a checkpoints folder and a run directory', async () => {
    const dir = await tempProject({
      'policy/config.json': '{}',
      'run/checkpoints/step-000010/trainer.json': '{}',
      'run/checkpoints/step-000010/policy/config.json': '{}',
      'run/checkpoints/step-000020/trainer.json': '{}',
      'run/checkpoints/step-000020/policy/config.json': '{}',
      // An interrupted save: no trainer.json, never picked.
      'run/checkpoints/step-000030/policy/config.json': '{}',
    });
    const latest = path.join(dir, 'run/checkpoints/step-000020/policy');
    expect(await resolvePolicyCheckpoint(path.join(dir, 'policy'))).toBe(path.join(dir, 'policy'));
    expect(await resolvePolicyCheckpoint(path.join(dir, 'run/checkpoints/step-000010'))).toBe(path.join(dir, 'run/checkpoints/step-000010/policy'));
    expect(await resolvePolicyCheckpoint(path.join(dir, 'run/checkpoints'))).toBe(latest);
    expect(await resolvePolicyCheckpoint(path.join(dir, 'run'))).toBe(latest);
  });

  it('says which option a wrong path came from and what exists', async () => {
    const dir = await tempProject({ 'run/checkpoints/step-000080/trainer.json': '{}', 'run/metrics.jsonl': '' });
    await expect(resolvePolicyCheckpoint(path.join(dir, 'run/checkpoints/step-000090'), { option: '--checkpoint', given: 'x/step-000090' })).rejects.toThrow(
      new CheckpointError(`--checkpoint x/step-000090: no such directory; ${path.join(dir, 'run/checkpoints')} holds: step-000080/`),
    );
    await expect(resolvePolicyCheckpoint(path.join(dir, 'run/metrics.jsonl'))).rejects.toThrow(/policy\.checkpoint .*metrics\.jsonl: is a file/);
    await mkdir(path.join(dir, 'empty/checkpoints/step-000001'), { recursive: true });
    await expect(resolvePolicyCheckpoint(path.join(dir, 'empty'))).rejects.toThrow(/holds no complete checkpoint \(step-000001 lack trainer\.json\)/);
  });
});

describe('boundValues', () => {
  it('lists what plugins bound to a token without resolving it: constants, computed bindings, rebinds', async () => {
    let resolved = 0;
    const reward = (name: string) => ({ name, score: () => [] });
    const plugins: GrpoPlugin[] = [
      { meta: { name: 'a', version: '1.0.0', core: '^0.1.0' }, register: ({ bind }) => void bind(RewardFunction).toConstantValue(reward('a')) },
      {
        meta: { name: 'b', version: '1.0.0', core: '^0.1.0' },
        register: ({ bind }) =>
          void bind(RewardFunction).toDynamicValue(() => {
            resolved++;
            return reward('b');
          }),
      },
    ];
    const container = await assembleContainer(await testConfig({}, plugins));
    expect(boundValues<{ name: string }>(container, RewardFunction)).toMatchObject({ values: [{ name: 'a' }], computed: 1, complete: true });
    expect(resolved).toBe(0);

    const rebinding: GrpoPlugin = {
      meta: { name: 'c', version: '1.0.0', core: '^0.1.0' },
      register: async ({ rebind }) => void (await rebind(RewardFunction)).toConstantValue(reward('c')),
    };
    const again = await assembleContainer(await testConfig({}, [...plugins, rebinding]));
    expect(boundValues<{ name: string }>(again, RewardFunction)).toMatchObject({ values: [{ name: 'c' }], computed: 0, complete: true });

    // A plugin given as a ContainerModule is not seen: the list is not complete.
    const moduled: GrpoPlugin = { meta: { name: 'd', version: '1.0.0', core: '^0.1.0' }, module: new ContainerModule(() => undefined) };
    expect(boundValues(await assembleContainer(await testConfig({}, [moduled])), RewardFunction).complete).toBe(false);
  });
});

describe('loadConfig({ required })', () => {
  it('says that no config was found where it searched', async () => {
    const dir = await tempProject({ 'package.json': '{"name": "x"}' });
    await expect(loadConfig({ cwd: dir, required: true })).rejects.toThrow(ConfigNotFoundError);
    await expect(loadConfig({ cwd: dir, required: true })).rejects.toThrow(`no config found in ${dir} (looked for package.json#grpo, .grporc,`);
    await writeFile(path.join(dir, '.grporc.json'), '{}');
    await expect(loadConfig({ cwd: dir, required: true })).resolves.toMatchObject({ source: path.join(dir, '.grporc.json') });
  });
});
