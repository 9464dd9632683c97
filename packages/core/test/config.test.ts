import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { pluginPackageCandidates } from '../src/config/load.js';
import { ConfigError, configSchemaFor, configToJson, definePlugin, field, loadConfig, PluginError, resolveConfig, type GrpoPlugin } from '../src/index.js';
import { tempProject } from './helpers.js';

/** A plugin that owns a section (`demo`), a key under `policy` (`policy.size`) and options. */
const demo = definePlugin({
  meta: { name: 'grpo-plugin-demo', version: '1.0.0', core: '^0.1.0' },
  options: z.strictObject({ weight: field.positive().default(1) }).prefault({}),
  config: {
    demo: z.strictObject({ mode: z.enum(['fast', 'slow']).default('fast'), rounds: field.int(0).default(3) }).prefault({}),
    'policy.size': field.int(1).optional(),
  },
  register: () => {},
});

const helloPlugin = {
  'node_modules/grpo-plugin-hello/package.json': JSON.stringify({ name: 'grpo-plugin-hello', version: '2.0.0', type: 'module', main: 'index.js' }),
  'node_modules/grpo-plugin-hello/index.js':
    "export default (options = {}) => ({ meta: { name: 'grpo-plugin-hello', version: '2.0.0', core: '^0.1.0' }, options: { input: options }, register() {} });\n",
  'node_modules/@acme/grpo-plugin-greet/package.json': JSON.stringify({ name: '@acme/grpo-plugin-greet', version: '1.0.0', type: 'module', main: 'index.js' }),
  'node_modules/@acme/grpo-plugin-greet/index.js':
    "export default (options = {}) => ({ meta: { name: '@acme/grpo-plugin-greet', version: '1.0.0', core: '^0.1.0' }, options: { input: options }, register() {} });\n",
};

describe('loadConfig', () => {
  it('fills in every default when no config file exists', async () => {
    const cwd = await tempProject({ 'README.md': 'empty project' });
    const config = await loadConfig({ cwd, defaults: [demo()] });
    expect(config.source).toBe('(defaults)');
    expect(config.train.groupSize).toBe(8);
    expect(config.backend).toBe('native');
    // The sections a default plugin owns get their defaults too.
    expect((config as unknown as { demo: unknown }).demo).toEqual({ mode: 'fast', rounds: 3 });
    expect(config.plugins.map((p) => p.meta.name)).toEqual(['grpo-plugin-demo']);
  });

  it('reads package.json#grpo', async () => {
    const cwd = await tempProject({ 'package.json': JSON.stringify({ name: 'x', grpo: { seed: 7, train: { groupSize: 4 } } }) });
    const config = await loadConfig({ cwd });
    expect(config.seed).toBe(7);
    expect(config.train.groupSize).toBe(4);
    expect(config.train.steps).toBe(100);
  });

  it('reads .grporc.yaml and resolves plugins named by package, with options', async () => {
    const cwd = await tempProject({
      ...helloPlugin,
      '.grporc.yaml': 'plugins:\n  - hello\n  - ["@acme/greet", { loud: true }]\ntrain:\n  steps: 3\n',
    });
    const config = await loadConfig({ cwd });
    expect(config.plugins.map((p) => p.meta.name)).toEqual(['grpo-plugin-hello', '@acme/grpo-plugin-greet']);
    expect(config.plugins[1]!.options?.input).toEqual({ loud: true });
    expect(config.train.steps).toBe(3);
  });

  it('loads a TypeScript config written with defineConfig and plugin objects', async () => {
    const cwd = await tempProject(
      {
        'grpo.config.ts': [
          "import { defineConfig } from '@grpo/core';",
          "const local = { meta: { name: 'local', version: '0.0.1', core: '*' }, register() {} };",
          'const groupSize: number = 16;',
          'export default defineConfig({ plugins: [local, false], train: { groupSize } });',
        ].join('\n'),
      },
      { insideRepo: true },
    );
    const config = await loadConfig({ cwd });
    expect(config.train.groupSize).toBe(16);
    expect(config.plugins.map((p) => p.meta.name)).toEqual(['local']);
  });

  it('--config loads exactly that file', async () => {
    const cwd = await tempProject({ '.grporc.json': '{"seed": 1}', 'other.yml': 'seed: 2\n' });
    expect((await loadConfig({ cwd })).seed).toBe(1);
    expect((await loadConfig({ cwd, configFile: 'other.yml' })).seed).toBe(2);
  });

  it('overrides merge deeply into the file', async () => {
    const cwd = await tempProject({ '.grporc.json': '{"train": {"steps": 5, "groupSize": 4}}' });
    const config = await loadConfig({ cwd, overrides: { train: { steps: 9 } } });
    expect(config.train).toMatchObject({ steps: 9, groupSize: 4 });
  });

  it('maps short plugin names to package names like commitlint', () => {
    expect(pluginPackageCandidates('math-reward')).toEqual(['@grpo/plugin-math-reward', 'grpo-plugin-math-reward']);
    expect(pluginPackageCandidates('grpo-plugin-x')).toEqual(['grpo-plugin-x']);
    expect(pluginPackageCandidates('@grpo/plugin-ppo')).toEqual(['@grpo/plugin-ppo']);
    expect(pluginPackageCandidates('@grpo/ppo')).toEqual(['@grpo/plugin-ppo']);
    expect(pluginPackageCandidates('@acme/grpo-plugin-x')).toEqual(['@acme/grpo-plugin-x']);
    expect(pluginPackageCandidates('@acme')).toEqual(['@acme/grpo-plugin']);
  });
});

/** Each bad config and the message it must produce. */
const badConfigs: { name: string; files: Record<string, string>; messages: (string | RegExp)[] }[] = [
  { name: 'unknown key', files: { '.grporc.json': '{"trian": {"steps": 3}}' }, messages: ["unknown key 'trian'"] },
  { name: 'unknown nested key', files: { '.grporc.json': '{"train": {"stepz": 3}}' }, messages: ["train: unknown key 'stepz'"] },
  { name: 'wrong type', files: { '.grporc.json': '{"train": {"steps": "ten"}}' }, messages: ['train.steps: expected an integer ≥ 1, got "ten"'] },
  { name: 'out-of-range number', files: { '.grporc.yaml': 'train:\n  groupSize: 1\n' }, messages: ['train.groupSize: expected an integer ≥ 2, got 1'] },
  {
    name: 'out-of-range fraction',
    files: { '.grporc.yaml': 'generation:\n  topP: 1.5\n' },
    messages: ['generation.topP: expected a number in [0, 1], got 1.5'],
  },
  { name: 'bad enum in a plugin section', files: { '.grporc.yaml': 'demo:\n  mode: quick\n' }, messages: [/demo\.mode: .*"fast"\|"slow"/] },
  {
    name: 'a bad key under a plugin-owned policy key',
    files: { '.grporc.yaml': 'policy:\n  size: 0\n' },
    messages: ['policy.size: expected an integer ≥ 1, got 0'],
  },
  {
    name: 'unknown plugin package',
    files: { '.grporc.json': '{"plugins": ["nope"]}' },
    messages: ["plugins[0]: cannot find plugin package 'nope' (tried @grpo/plugin-nope, grpo-plugin-nope)"],
  },
  { name: 'malformed YAML', files: { '.grporc.yml': 'train:\n  steps: [1, 2\n' }, messages: [/malformed YAML at line \d+/] },
  { name: 'malformed JSON', files: { '.grporc.json': '{"train": }' }, messages: [/malformed JSON/] },
  {
    name: 'a config file that throws',
    files: { 'grpo.config.mjs': "throw new Error('DATASET_PATH is not set');\n" },
    messages: ['the config file threw while loading: DATASET_PATH is not set'],
  },
  {
    name: 'several problems at once',
    files: { '.grporc.json': '{"seed": -1, "train": {"groupSize": 2.5, "learningRate": 0}, "colour": "red"}' },
    messages: [
      "unknown key 'colour'",
      'seed: expected an integer ≥ 0, got -1',
      'train.groupSize: expected an integer ≥ 2, got 2.5',
      'train.learningRate: expected a number > 0, got 0',
    ],
  },
  { name: 'not an object', files: { '.grporc.json': '[1, 2]' }, messages: ['expected an object, got an array'] },
];

describe('bad configs', () => {
  for (const bad of badConfigs) {
    it(`reports ${bad.name}`, async () => {
      const cwd = await tempProject(bad.files);
      const error = await loadConfig({ cwd, defaults: [demo()] }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ConfigError);
      const configError = error as ConfigError;
      expect(configError.exitCode).toBe(2);
      expect(configError.message).toContain(Object.keys(bad.files)[0]);
      for (const m of bad.messages) expect(configError.message).toMatch(typeof m === 'string' ? new RegExp(m.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : m);
      expect(configError.issues.length).toBe(bad.messages.length);
    });
  }

  it('reports a missing --config file', async () => {
    const cwd = await tempProject({});
    await expect(loadConfig({ cwd, configFile: 'missing.yaml' })).rejects.toThrow(/missing\.yaml.*config file not found/s);
  });
});

describe('plugin-owned config', () => {
  it('merges the sections plugins own into one schema, with their owners', () => {
    const { schema, owners } = configSchemaFor([demo()]);
    expect(owners).toEqual(
      new Map([
        ['demo', 'grpo-plugin-demo'],
        ['policy.size', 'grpo-plugin-demo'],
      ]),
    );
    expect(schema.parse({ policy: { size: 4 } })).toMatchObject({ demo: { mode: 'fast', rounds: 3 }, policy: { size: 4 } });
    // Without the plugin, its section is an unknown key.
    expect(() => configSchemaFor([]).schema.parse({ demo: {} })).toThrow(/demo/);
  });

  it('refuses two owners of one section, and a plugin claiming a core key', () => {
    const other = definePlugin({ meta: { name: 'other', version: '1.0.0', core: '*' }, config: { demo: z.object({}) }, register: () => {} });
    expect(() => configSchemaFor([demo(), other()])).toThrow(PluginError);
    expect(() => configSchemaFor([demo(), other()])).toThrow("Plugin 'other' config section 'demo': 'grpo-plugin-demo' already owns 'demo'");
    const greedy = definePlugin({ meta: { name: 'greedy', version: '1.0.0', core: '*' }, config: { 'train.steps': z.number() }, register: () => {} });
    expect(() => configSchemaFor([greedy()])).toThrow("'train.steps' belongs to @grpo/core");
    const deep = definePlugin({ meta: { name: 'deep', version: '1.0.0', core: '*' }, config: { 'seed.x': z.number() }, register: () => {} });
    expect(() => configSchemaFor([deep()])).toThrow("'seed' is not a config section a plugin can add keys to");
  });

  it('validates plugin options with the config and reports every problem in one list', async () => {
    const error = await resolveConfig({ seed: -1, demo: { rounds: -2 } }, { source: 'grpo.config.ts', defaults: [demo({ weight: 0 })] }).then(
      () => undefined,
      (e: unknown) => e as ConfigError,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.issues).toEqual([
      { path: 'plugins[grpo-plugin-demo].weight', message: 'expected a number > 0, got 0' },
      { path: 'seed', message: 'expected an integer ≥ 0, got -1' },
      { path: 'demo.rounds', message: 'expected an integer ≥ 0, got -2' },
    ]);
  });

  it('gives register the validated options, and config print shows them', async () => {
    let seen: unknown;
    const spy = definePlugin({
      meta: { name: 'spy', version: '1.0.0', core: '*' },
      options: z.strictObject({ k: z.number().default(5) }).prefault({}),
      register: ({ options }) => void (seen = options),
    });
    const config = await resolveConfig({}, { defaults: [spy()] });
    const { assembleContainer } = await import('../src/index.js');
    await assembleContainer(config);
    expect(seen).toEqual({ k: 5 });
    expect(configToJson(config).plugins).toEqual([{ 'spy@1.0.0': { k: 5 } }]);
  });

  it('names a malformed plugin object among the config problems', async () => {
    await expect(resolveConfig({ plugins: [{ meta: { name: 'x' } } as unknown as GrpoPlugin] })).rejects.toThrow(/plugin #1 is not a GRPO plugin/);
  });
});
