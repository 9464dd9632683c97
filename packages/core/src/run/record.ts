/**
 * What a run records about itself in `<run-dir>/config.json`: the resolved config (as
 * `configToJson` writes it), the versions of what ran it, its seed and its backend. A resume
 * compares it with the config at hand (`configChanges`), so a run cannot silently continue with a
 * different learning rate or estimator.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { configToJson } from '../config/load.js';
import { configSchemaFor } from '../config/sections.js';
import { DataError } from '../errors.js';
import type { ResolvedConfig } from '../plugin/types.js';
import { CORE_VERSION } from '../version.js';

/** The file a run directory records its config in. */
export const RUN_CONFIG_FILE = 'config.json';

/** The content of `<run-dir>/config.json`. */
export interface RunRecord {
  /** The resolved config, as `configToJson` gives it. */
  config: Record<string, unknown>;
  /** Node, @grpo/core, tfjs-core and every plugin by package name (plus what the caller adds, e.g. @grpo/cli). */
  versions: Record<string, string>;
  seed: number;
  backend: string;
}

/** The record of a run of `config`; `versions` adds to (or overrides) the ones core knows. */
export function runRecord(config: ResolvedConfig, versions: Readonly<Record<string, string>> = {}): RunRecord {
  const all: Record<string, string> = { node: process.versions.node, '@grpo/core': CORE_VERSION, '@tensorflow/tfjs-core': tf.version_core };
  for (const plugin of config.plugins) all[plugin.meta.name] ??= plugin.meta.version;
  return { config: configToJson(config), versions: { ...all, ...versions }, seed: config.seed, backend: config.backend };
}

/** Reads a run directory's record; undefined when it has none (runs of older versions wrote none). */
export async function readRunRecord(runDir: string): Promise<RunRecord | undefined> {
  const file = path.join(runDir, RUN_CONFIG_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new DataError(`${file}: not valid JSON (${(error as Error).message})`, { cause: error });
  }
  const record = value as Partial<RunRecord> | null;
  if (!record || typeof record !== 'object' || !record.config || typeof record.config !== 'object')
    throw new DataError(`${file}: expected a run's record { config, versions, seed, backend }`);
  return { versions: {}, seed: 0, backend: '', ...record } as RunRecord;
}

/**
 * What `configToJson` would give for a config that sets nothing: core's and the plugins' section
 * defaults, and each plugin's option defaults. A resume compares against it so that a key a newer
 * version added (absent from an older run's record) counts as no change while it keeps its default
 * (a new key's default reproduces what the version before it computed).
 */
export function configDefaults(config: ResolvedConfig): Record<string, unknown> {
  const parsed = configSchemaFor(config.plugins).schema.safeParse({});
  const sections = parsed.success ? (parsed.data as Record<string, unknown>) : {};
  const plugins = config.plugins.map((p) => {
    const schema = p.options?.schema;
    // A factory called without options; schemas without a prefault take `{}` for that.
    const options = schema && [schema.safeParse(undefined), schema.safeParse({})].find((r) => r.success);
    const spec = `${p.meta.name}@${p.meta.version}`;
    return options?.success && options.data !== undefined ? { [spec]: options.data } : spec;
  });
  return { ...sections, plugins };
}

/** One key whose value differs between two configs. */
export interface ConfigChange {
  /** Dotted path: `train.learningRate`, `algorithm.advantage.estimator`, `plugins[@grpo/plugin-math-task].seed`. */
  readonly key: string;
  /** JSON of the value before and after; `undefined` when absent on that side. */
  readonly before: string | undefined;
  readonly after: string | undefined;
  /** Whether the change alters what training computes (`false`: output, logging, evaluation, the backend). */
  readonly training: boolean;
}

/** Keys (and everything below them) that do not change what a training step computes. */
const NOT_TRAINING = [
  'source',
  'outputDir',
  'backend',
  'eval',
  'data.eval',
  'data.evalSize',
  'train.checkpointEvery',
  'train.logSamplesEvery',
  'train.evalEvery',
  'rewards.timeoutMs',
];

const under = (key: string, prefix: string) => key === prefix || key.startsWith(`${prefix}.`) || key.startsWith(`${prefix}[`);

/** A plugin entry of `configToJson`'s list: `name@version` or `{ 'name@version': options }`, keyed by name. */
function pluginEntries(list: unknown): [string, unknown][] {
  if (!Array.isArray(list)) return [];
  const seen = new Map<string, number>();
  return list.map((entry): [string, unknown] => {
    const [spec, options] = typeof entry === 'string' ? [entry, undefined] : (Object.entries(entry as Record<string, unknown>)[0] ?? ['?', undefined]);
    const at = spec.lastIndexOf('@');
    const name = at > 0 ? spec.slice(0, at) : spec;
    const n = (seen.get(name) ?? 0) + 1;
    seen.set(name, n);
    return [`plugins[${name}${n > 1 ? `#${n}` : ''}]`, options === undefined ? '(loaded)' : options];
  });
}

/** `[dotted path, JSON]` of every leaf; arrays of plain values stay one leaf. */
function leaves(value: unknown, prefix: string, out: Map<string, string>): void {
  if (prefix === 'plugins') {
    for (const [key, options] of pluginEntries(value)) leaves(options, key, out);
    return;
  }
  if (value && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length > 0) {
    for (const [k, v] of Object.entries(value)) leaves(v, prefix ? `${prefix}.${k}` : k, out);
    return;
  }
  out.set(prefix, JSON.stringify(value) ?? 'undefined');
}

/**
 * Every key whose value differs between a run's recorded config and `current` (both as
 * `configToJson` gives them), each marked whether it alters training. Plugins are compared by name
 * and options (their versions are in the record's `versions`). `train.steps` alters training only
 * with a decaying learning-rate schedule, which spans the steps. With `defaults`
 * (`configDefaults`), a key the record lacks is no change while `current` holds its default: runs
 * recorded by a version that did not have the key yet resume without `--allow-config-change`.
 */
export function configChanges(recorded: Record<string, unknown>, current: Record<string, unknown>, defaults?: Record<string, unknown>): ConfigChange[] {
  const a = new Map<string, string>();
  const b = new Map<string, string>();
  const d = new Map<string, string>();
  leaves(recorded, '', a);
  leaves(current, '', b);
  if (defaults) leaves(defaults, '', d);
  const schedule = (b.get('train.lrSchedule') ?? a.get('train.lrSchedule') ?? '"constant"') !== '"constant"';
  const changes: ConfigChange[] = [];
  for (const key of new Set([...a.keys(), ...b.keys()])) {
    const before = a.get(key);
    const after = b.get(key);
    if (before === after) continue;
    if (before === undefined && after !== undefined && d.get(key) === after) continue;
    const training = key === 'train.steps' ? schedule : !NOT_TRAINING.some((p) => under(key, p));
    changes.push({ key, before, after, training });
  }
  return changes;
}

/** `key: before → after` for messages. */
export function formatChange(change: ConfigChange): string {
  return `${change.key}: ${change.before ?? '(absent)'} → ${change.after ?? '(absent)'}`;
}
