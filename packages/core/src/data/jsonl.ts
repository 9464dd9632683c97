import { readFileSync } from 'node:fs';
import type { PromptDataset } from '../contracts/data.js';
import { DataError } from '../errors.js';
import type { DatasetRow } from '../records.js';
import { checkMessages, lastUserContent } from './messages.js';

/**
 * A JSONL prompt dataset: one JSON object per line with the prompt field, or with `messages` (a
 * conversation, rendered with the policy's chat template; its prompt field may then be absent, and
 * `prompt` becomes its last user message). Every line is checked up front; the error names the
 * file and line.
 */
export class JsonlPromptDataset implements PromptDataset {
  readonly name: string;
  /** The JSONL file. */
  readonly file: string;
  private readonly rows: DatasetRow[];
  /** 1-based line of each row in the file. */
  private readonly lines: number[] = [];

  constructor(file: string, options: { promptField?: string; name?: string } = {}) {
    const promptField = options.promptField ?? 'prompt';
    this.name = options.name ?? file;
    this.file = file;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new DataError(`${file}: cannot read the dataset (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    this.rows = [];
    // A UTF-8 byte order mark (editors on Windows write one) is not part of the first line.
    text
      .replace(/^\uFEFF/, '')
      .split('\n')
      .forEach((line, i) => {
        if (!line.trim()) return;
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch (error) {
          throw new DataError(`${file}:${i + 1}: malformed JSON (${(error as Error).message})`);
        }
        if (!value || typeof value !== 'object' || Array.isArray(value)) throw new DataError(`${file}:${i + 1}: expected a JSON object per line`);
        const row = value as Record<string, unknown>;
        const where = `${file}:${i + 1}`;
        const messages = row.messages === undefined ? undefined : checkMessages(row.messages, where);
        let prompt = row[promptField];
        if (messages && prompt === undefined) prompt = lastUserContent(messages);
        else if (typeof prompt !== 'string' || !prompt) throw new DataError(`${where}: missing or empty string field '${promptField}' (or give 'messages')`);
        this.rows.push({ ...row, prompt } as DatasetRow);
        this.lines.push(i + 1);
      });
    if (this.rows.length === 0) throw new DataError(`${file}: the dataset has no rows`);
  }

  get size(): number {
    return this.rows.length;
  }

  get(index: number): DatasetRow {
    const row = this.rows[index];
    if (!row) throw new RangeError(`row ${index} is outside the dataset (${this.rows.length} rows)`);
    return row;
  }

  /** Where row `index` is: `file:line`. */
  where(index: number): string {
    return `${this.file}:${this.lines[index] ?? '?'}`;
  }

  /**
   * Checks every row's prompt as the trainer will use it (`render`, then `encode`) against
   * `maxTokens`: a `DataError` naming the file and line of the first prompt that is longer, when
   * the dataset loads instead of when that row is drawn mid-run.
   */
  checkPromptLengths(render: (row: DatasetRow) => string, encode: (prompt: string) => readonly number[], maxTokens: number, what: string): void {
    this.checkPrompts(render, { encode, maxTokens, what });
  }

  /**
   * Renders every row's prompt as the trainer will (a row with `messages` and a policy without a
   * chat template fails here), and with `limit` checks its length as `checkPromptLengths` does: a
   * `DataError` naming the file and line of the first row that fails.
   */
  checkPrompts(render: (row: DatasetRow) => string, limit?: { encode: (prompt: string) => readonly number[]; maxTokens: number; what: string }): void {
    this.rows.forEach((row, i) => {
      let prompt: string;
      try {
        prompt = render(row);
      } catch (error) {
        if (error instanceof DataError) throw new DataError(`${this.where(i)}: ${error.message}`, { cause: error });
        throw error;
      }
      if (!limit) return;
      const tokens = limit.encode(prompt).length;
      if (tokens > limit.maxTokens) throw new DataError(`${this.where(i)}: the prompt is ${tokens} tokens, more than ${limit.what}`);
    });
  }
}

/** An in-memory dataset (for programmatic use and tests). */
export class ArrayPromptDataset<Row extends DatasetRow = DatasetRow> implements PromptDataset<Row> {
  constructor(
    readonly name: string,
    private readonly rows: readonly Row[],
  ) {
    if (rows.length === 0) throw new DataError(`dataset '${name}' has no rows`);
  }
  get size(): number {
    return this.rows.length;
  }
  get(index: number): Row {
    const row = this.rows[index];
    if (!row) throw new RangeError(`row ${index} is outside dataset '${this.name}' (${this.rows.length} rows)`);
    return row;
  }
}
