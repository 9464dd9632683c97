import { DataError, type PromptDataset } from '@grpo/core';
import { resolveDifficulty, type DifficultyOption } from './difficulty.js';
import { makeSplit, problemAt, toolSolution, type MathRow } from './generate.js';

export interface MathTaskDatasetOptions {
  readonly split: 'train' | 'test';
  readonly size: number;
  readonly seed?: number;
  readonly difficulty?: DifficultyOption;
  readonly testFraction?: number;
  /** Skip repeated questions (default: on for `test`). Generates all rows up front. */
  readonly unique?: boolean;
}

/**
 * A generated split as a `PromptDataset`. Without `unique` rows are generated lazily on first
 * access (`get(i)` depends on `i` only, so any access order gives the same rows); with `unique`
 * the whole split is generated up front by `makeSplit`.
 */
export class MathTaskDataset implements PromptDataset<MathRow> {
  readonly name: string;
  readonly size: number;
  private readonly rows: (MathRow | undefined)[];

  constructor(private readonly options: MathTaskDatasetOptions) {
    if (!Number.isInteger(options.size) || options.size < 1)
      throw new DataError(`math-task: ${options.split} size must be an integer ≥ 1, got ${options.size}`);
    resolveDifficulty(options.difficulty); // fail at construction, not at the first get()
    this.name = `math-task/${options.split}`;
    this.size = options.size;
    const unique = options.unique ?? options.split === 'test';
    this.rows = unique ? makeSplit({ ...options, unique }) : new Array<MathRow | undefined>(options.size);
    // Lazy splits check their first row now, so a bad testFraction fails early too.
    if (!unique) this.get(0);
  }

  get(index: number): MathRow {
    if (!Number.isInteger(index) || index < 0 || index >= this.size) {
      throw new RangeError(`row ${index} is outside dataset '${this.name}' (${this.size} rows)`);
    }
    let row = this.rows[index];
    if (!row) {
      row = problemAt(this.options, index);
      this.rows[index] = row;
    }
    return row;
  }
}

/** One supervised example: `completion` is the full solution text, WITHOUT an EOS token (the SFT trainer adds it). */
export interface SftExample {
  prompt: string;
  completion: string;
}

/**
 * SFT pairs from rows: the prompt the policy sees and the solution it should write; with
 * `{ tool: true }` the solution calls the calculator at every step (`toolSolution`).
 */
export function sftExamples(
  rows: Iterable<Pick<MathRow, 'prompt' | 'solution'> & Partial<Pick<MathRow, 'steps' | 'answer'>>>,
  options: { tool?: boolean } = {},
): SftExample[] {
  return Array.from(rows, (row) => {
    if (!options.tool) return { prompt: row.prompt, completion: row.solution };
    if (!row.steps || row.answer === undefined)
      throw new DataError(`math-task: sftExamples({ tool: true }) needs each row's steps and answer; ${JSON.stringify(row.prompt)} has none`);
    return { prompt: row.prompt, completion: toolSolution({ steps: row.steps, answer: row.answer }) };
  });
}
