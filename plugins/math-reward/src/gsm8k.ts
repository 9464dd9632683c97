/** GSM8K adapter: `{ question, answer }` JSONL lines whose answer ends with `#### <number>`. */
import { readFile } from 'node:fs/promises';
import { DataError, type DatasetRow } from '@grpo/core';

export interface Gsm8kRow extends DatasetRow {
  prompt: string;
  question: string;
  /** The final numeric answer, e.g. `"18"` or `"-3"` (thousands separators removed). */
  answer: string;
  /** The worked solution without the `#### x` line. */
  solution: string;
}

export interface Gsm8kOptions {
  /** Builds the prompt from the question (default: the question itself). */
  readonly prompt?: (question: string) => string;
  /** Read at most this many rows. */
  readonly limit?: number;
}

/** The final numeric answer of a GSM8K solution (`… #### 1,234` → `"1234"`). Throws DataError when absent or not a number. */
export function parseGsm8kAnswer(text: string): string {
  const idx = text.lastIndexOf('####');
  if (idx < 0) throw new DataError(`GSM8K answer has no '#### <number>' line: ${JSON.stringify(text.slice(-80))}`);
  const raw = text.slice(idx + 4).trim();
  const cleaned = raw
    .replace(/^\$/, '')
    .replace(/(\d),(?=\d{3}(?:\D|$))/g, '$1')
    .trim();
  if (!/^[+-]?(?:\d+(?:\.\d+)?|\.\d+)$/.test(cleaned)) {
    throw new DataError(`GSM8K final answer is not a number: '#### ${raw}'`);
  }
  return cleaned.replace(/^\+/, '');
}

/** Parses GSM8K JSONL text; `source` names the file in errors. */
export function parseGsm8k(text: string, source = '<input>', options: Gsm8kOptions = {}): Gsm8kRow[] {
  const rows: Gsm8kRow[] = [];
  const lines = text.split(/\r?\n/);
  const makePrompt = options.prompt ?? ((q: string) => q);
  for (let i = 0; i < lines.length; i++) {
    if (options.limit !== undefined && rows.length >= options.limit) break;
    const line = lines[i]!.trim();
    if (!line) continue;
    const where = `${source}:${i + 1}`;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (e) {
      throw new DataError(`${where}: invalid JSON (${(e as Error).message})`);
    }
    const rec = obj as { question?: unknown; answer?: unknown };
    if (typeof rec !== 'object' || rec === null || typeof rec.question !== 'string' || typeof rec.answer !== 'string') {
      throw new DataError(`${where}: expected an object with string fields 'question' and 'answer'`);
    }
    let answer: string;
    try {
      answer = parseGsm8kAnswer(rec.answer);
    } catch (e) {
      throw new DataError(`${where}: ${(e as Error).message}`);
    }
    const solution = rec.answer.slice(0, rec.answer.lastIndexOf('####')).trim();
    rows.push({ prompt: makePrompt(rec.question), question: rec.question, answer, solution });
  }
  return rows;
}

/** Reads a GSM8K JSONL file. Errors name the file and line. */
export async function loadGsm8k(file: string, options: Gsm8kOptions = {}): Promise<Gsm8kRow[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new DataError(`Cannot read GSM8K file '${file}': ${(e as Error).message}`, { cause: e });
  }
  return parseGsm8k(text, file, options);
}
