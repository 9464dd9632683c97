/**
 * JSONL training data for reward models. One JSON object per line (blank lines are skipped):
 *
 * - outcome (ORM):     `{"prompt": "...", "completion": "...", "label": 1}`   label 0/1 or false/true
 * - preference (BT):   `{"prompt": "...", "chosen": "...", "rejected": "..."}`
 * - process (PRM):     `{"prompt": "...", "completion": "...", "steps": [...]}` where `steps` is either
 *     - a list of per-step labels `[1, 1, 0]` (0/1 or booleans), one per step the step splitter
 *       finds in the completion (default: each non-blank line), in order; or
 *     - a list of objects `{"endChar": 12, "label": 1}` (offset just past the step's last
 *       character) or `{"text": "3+4=7", "label": 1}` (the step's text, found in the completion
 *       after the previous step).
 *
 * The kind of each line follows from its fields (`chosen`/`rejected` → preference, `steps` →
 * process, else outcome). Every problem is a `DataError` naming the file and line.
 */
import { readFile } from 'node:fs/promises';
import { DataError, type RewardExample, type StepReward } from '@grpo/core';
import { splitSteps, type StepSplitOptions } from './steps.js';

export type RewardExampleKind = RewardExample['kind'];

export interface ReadExamplesOptions {
  /** Accept only this kind of example (any other kind is an error naming the line). */
  readonly kind?: RewardExampleKind;
  /** How per-step label lists map onto the completion; default: non-blank lines. */
  readonly steps?: StepSplitOptions;
}

const describe = (v: unknown): string => (v === undefined ? 'nothing' : (JSON.stringify(v) ?? String(v)));

function label(value: unknown, where: string, field: string): number {
  if (value === true || value === 1) return 1;
  if (value === false || value === 0) return 0;
  throw new DataError(`${where}: ${field} must be 0, 1, true or false, got ${describe(value)}`);
}

function text(row: Record<string, unknown>, field: string, where: string, kind: string, fields: string): string {
  const value = row[field];
  if (value === undefined || value === null) throw new DataError(`${where}: missing field '${field}' (${kind} examples need ${fields})`);
  if (typeof value !== 'string') throw new DataError(`${where}: field '${field}' must be a string, got ${describe(value)}`);
  if (value.trim() === '') throw new DataError(`${where}: field '${field}' is empty`);
  return value;
}

function parseSteps(value: unknown, completion: string, where: string, split: StepSplitOptions): StepReward[] {
  if (!Array.isArray(value) || value.length === 0)
    throw new DataError(`${where}: 'steps' must be a non-empty list of labels (0/1) or of {endChar|text, label} objects, got ${describe(value)}`);
  if (value.every((v) => typeof v !== 'object' || v === null)) {
    const ends = splitSteps(completion, split);
    if (ends.length !== value.length)
      throw new DataError(
        `${where}: 'steps' has ${value.length} labels but the completion has ${ends.length} steps (non-blank lines${split.stopAt ? ` before '${split.stopAt}'` : ''})`,
      );
    return value.map((v, j) => ({ endChar: ends[j]!, reward: label(v, where, `steps[${j}]`) }));
  }
  let from = 0;
  return value.map((v, j) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      throw new DataError(`${where}: steps[${j}] must be an object {endChar|text, label}, got ${describe(v)}`);
    const step = v as Record<string, unknown>;
    let endChar: number;
    if (step.endChar !== undefined) {
      if (typeof step.endChar !== 'number' || !Number.isInteger(step.endChar) || step.endChar < 1 || step.endChar > completion.length)
        throw new DataError(
          `${where}: steps[${j}].endChar must be an integer in 1..${completion.length} (the completion's length), got ${describe(step.endChar)}`,
        );
      endChar = step.endChar;
    } else if (typeof step.text === 'string' && step.text !== '') {
      const at = completion.indexOf(step.text, from);
      if (at < 0) throw new DataError(`${where}: steps[${j}].text ${describe(step.text)} does not occur in the completion after the previous step`);
      endChar = at + step.text.length;
    } else throw new DataError(`${where}: steps[${j}] needs 'endChar' (an integer) or 'text' (a non-empty string)`);
    if (endChar <= from && j > 0) throw new DataError(`${where}: steps[${j}] ends at ${endChar}, not after the previous step (${from})`);
    from = endChar;
    return { endChar, reward: label(step.label, where, `steps[${j}].label`) };
  });
}

/** Parses one JSON object (already decoded) into a reward example; `where` prefixes errors (`file:line`). */
export function parseExample(value: unknown, where: string, options: ReadExamplesOptions = {}): RewardExample {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new DataError(`${where}: expected a JSON object, got ${describe(value)}`);
  const row = value as Record<string, unknown>;
  const kind: RewardExampleKind = 'chosen' in row || 'rejected' in row ? 'preference' : 'steps' in row ? 'process' : 'outcome';
  if (options.kind && options.kind !== kind)
    throw new DataError(`${where}: expected an example of kind '${options.kind}' (${FIELDS[options.kind]}), got kind '${kind}' (${FIELDS[kind]})`);
  const prompt = text(row, 'prompt', where, kind, FIELDS[kind]);
  if (kind === 'preference') {
    const chosen = text(row, 'chosen', where, kind, FIELDS[kind]);
    const rejected = text(row, 'rejected', where, kind, FIELDS[kind]);
    return { kind, prompt, chosen, rejected };
  }
  const completion = text(row, 'completion', where, kind, FIELDS[kind]);
  if (kind === 'process') return { kind, prompt, completion, steps: parseSteps(row.steps, completion, where, options.steps ?? {}) };
  if (!('label' in row)) throw new DataError(`${where}: missing field 'label' (outcome examples need ${FIELDS.outcome})`);
  return { kind, prompt, completion, label: label(row.label, where, 'label') };
}

const FIELDS: Record<RewardExampleKind, string> = {
  outcome: 'prompt, completion, label',
  process: 'prompt, completion, steps',
  preference: 'prompt, chosen, rejected',
};

/** Parses JSONL text; `file` names the source in errors. */
export function parseExamples(content: string, file: string, options: ReadExamplesOptions = {}): RewardExample[] {
  const out: RewardExample[] = [];
  content.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    const where = `${file}:${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new DataError(`${where}: malformed JSON (${(error as Error).message})`);
    }
    out.push(parseExample(value, where, options));
  });
  if (out.length === 0) throw new DataError(`${file}: no examples`);
  return out;
}

/** Reads a JSONL file of reward-model examples (format above). */
export async function readExamples(file: string, options: ReadExamplesOptions = {}): Promise<RewardExample[]> {
  let content: string;
  try {
    content = await readFile(file, 'utf8');
  } catch (error) {
    throw new DataError(`${file}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  return parseExamples(content, file, options);
}

/** One JSONL line for an example (the inverse of `parseExample`, steps as `{endChar, label}`). */
export function exampleToJson(example: RewardExample): string {
  if (example.kind === 'preference') return JSON.stringify({ prompt: example.prompt, chosen: example.chosen, rejected: example.rejected });
  if (example.kind === 'outcome') return JSON.stringify({ prompt: example.prompt, completion: example.completion, label: example.label });
  return JSON.stringify({ prompt: example.prompt, completion: example.completion, steps: example.steps.map((s) => ({ endChar: s.endChar, label: s.reward })) });
}
