import { readFile } from 'node:fs/promises';
import { DataError } from '@grpo/core';

/**
 * One line of `metrics.jsonl`: the step and its metrics. A value is `null` where the trainer
 * logged a non-finite number (JSON writes NaN as null).
 */
export interface MetricsRow {
  step: number;
  [metric: string]: number | null;
}

/** One line of `samples.jsonl` (a `SampleLog` of @grpo/core plus its step). */
export interface SampleRecord {
  step: number;
  prompt: string;
  completion: string;
  reward: number | null;
  rewards: Record<string, number | null>;
  advantage: number | null;
  /** The reference answer of the sample's dataset row, when the run logged one (`reference`, or an `answer` string). */
  reference?: string;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStep = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const numberOrNull = (v: unknown): v is number | null => v === null || (typeof v === 'number' && Number.isFinite(v));
const describe = (v: unknown): string => (v === undefined ? 'missing' : Array.isArray(v) ? 'an array' : v === null ? 'null' : `a ${typeof v}`);

/** Splits JSONL text into parsed lines with their 1-based line numbers; blank lines are skipped. */
function parseLines(text: string, file: string): { line: number; value: Record<string, unknown> }[] {
  const out: { line: number; value: Record<string, unknown> }[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    if (!raw.trim()) return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (error) {
      throw new DataError(`${file}:${line}: not valid JSON (${(error as Error).message})`, { cause: error });
    }
    if (!isRecord(value)) throw new DataError(`${file}:${line}: expected a JSON object, got ${describe(value)}`);
    out.push({ line, value });
  });
  return out;
}

/**
 * Parses the text of a `metrics.jsonl`. Rows are returned sorted by step; rows of the same step
 * (an evaluation logged apart from its training step) are merged, later values winning.
 * `file` names the file in error messages.
 */
export function parseMetrics(text: string, file = 'metrics.jsonl'): MetricsRow[] {
  const byStep = new Map<number, MetricsRow>();
  for (const { line, value } of parseLines(text, file)) {
    if (!isStep(value.step)) throw new DataError(`${file}:${line}: "step" must be an integer ≥ 0, got ${describe(value.step)}`);
    const row: MetricsRow = byStep.get(value.step) ?? { step: value.step };
    for (const [name, v] of Object.entries(value)) {
      if (name === 'step') continue;
      if (!numberOrNull(v)) throw new DataError(`${file}:${line}: metric "${name}" must be a number or null, got ${describe(v)}`);
      row[name] = v;
    }
    byStep.set(value.step, row);
  }
  if (byStep.size === 0) throw new DataError(`${file} has no metrics (the file is empty; did the run log a step?)`);
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

/** Parses the text of a `samples.jsonl`; `file` names the file in error messages. */
export function parseSamples(text: string, file = 'samples.jsonl'): SampleRecord[] {
  return parseLines(text, file).map(({ line, value }) => {
    const where = `${file}:${line}`;
    if (!isStep(value.step)) throw new DataError(`${where}: "step" must be an integer ≥ 0, got ${describe(value.step)}`);
    for (const key of ['prompt', 'completion'] as const)
      if (typeof value[key] !== 'string') throw new DataError(`${where}: "${key}" must be a string, got ${describe(value[key])}`);
    for (const key of ['reward', 'advantage'] as const)
      if (value[key] !== undefined && !numberOrNull(value[key]))
        throw new DataError(`${where}: "${key}" must be a number or null, got ${describe(value[key])}`);
    const rewards: Record<string, number | null> = {};
    if (value.rewards !== undefined) {
      if (!isRecord(value.rewards)) throw new DataError(`${where}: "rewards" must be an object, got ${describe(value.rewards)}`);
      for (const [name, v] of Object.entries(value.rewards)) {
        if (!numberOrNull(v)) throw new DataError(`${where}: "rewards.${name}" must be a number or null, got ${describe(v)}`);
        rewards[name] = v;
      }
    }
    const reference = [value.reference, value.answer].find((v) => v !== undefined && v !== null);
    if (reference !== undefined && typeof reference !== 'string')
      throw new DataError(`${where}: "${value.reference !== undefined ? 'reference' : 'answer'}" must be a string, got ${describe(reference)}`);
    return {
      step: value.step,
      prompt: value.prompt as string,
      completion: value.completion as string,
      reward: (value.reward as number | null | undefined) ?? null,
      rewards,
      advantage: (value.advantage as number | null | undefined) ?? null,
      ...(reference !== undefined ? { reference } : {}),
    };
  });
}

const isMissing = (error: unknown): boolean => (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';

/** Reads and parses a `metrics.jsonl`; a missing, empty or malformed file is a `DataError` naming it. */
export async function readMetricsFile(file: string): Promise<MetricsRow[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (isMissing(error)) throw new DataError(`no metrics file at ${file} (is this a run directory? a run writes metrics.jsonl there)`, { cause: error });
    throw new DataError(`cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
  return parseMetrics(text, file);
}

/** Reads and parses a `samples.jsonl`; a missing file gives no samples. */
export async function readSamplesFile(file: string): Promise<SampleRecord[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (isMissing(error)) return [];
    throw new DataError(`cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
  return parseSamples(text, file);
}

/**
 * What a run recorded about itself in `config.json`: its resolved config (as `configToJson` of
 * @grpo/core writes it) and facts such as versions, seed and backend. Shown as a table of dotted
 * paths; a run directory without the file has none.
 */
export interface RunConfig {
  /** Every leaf of the file as `[dotted path, value]`, in file order; a top-level `config` object's keys lose that prefix. */
  entries: [path: string, value: string][];
}

/** Flattens a JSON value into `[dotted path, text]` leaves; arrays of plain values stay one JSON leaf. */
export function flattenConfig(value: unknown, prefix = ''): [string, string][] {
  const join = (key: string) => (prefix ? `${prefix}.${key}` : key);
  if (Array.isArray(value)) {
    if (value.every((v) => v === null || typeof v !== 'object')) return [[prefix, JSON.stringify(value)]];
    return value.flatMap((v, i) => flattenConfig(v, `${prefix}[${i}]`));
  }
  if (isRecord(value)) {
    const keys = Object.keys(value);
    if (keys.length === 0) return [[prefix, '{}']];
    return keys.flatMap((k) => flattenConfig(value[k], join(k)));
  }
  return [[prefix, typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value))]];
}

/** Parses the text of a run's `config.json`; anything but a JSON object is a `DataError` naming the file. */
export function parseRunConfig(text: string, file = 'config.json'): RunConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new DataError(`${file}: not valid JSON (${(error as Error).message})`, { cause: error });
  }
  if (!isRecord(value)) throw new DataError(`${file}: expected a JSON object, got ${describe(value)}`);
  // `{ config: {...}, versions, seed, backend }` and a flat `{ ...config, versions }` read alike.
  const { config, ...rest } = value;
  const entries = isRecord(config) ? [...flattenConfig(config), ...flattenConfig(rest)] : flattenConfig(value);
  return { entries: entries.filter(([key]) => key !== '') };
}

/**
 * Reads a run's `config.json`: `undefined` when the run has none (runs of older versions did not
 * write one); a malformed file is a `DataError` naming it.
 */
export async function readRunConfig(file: string): Promise<RunConfig | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw new DataError(`cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
  return parseRunConfig(text, file);
}
