/**
 * Step splitting for process reward models: where each reasoning step of a completion ends.
 *
 * The default matches the math task's solutions (and `step_correctness`): a step is a
 * non-blank line, ending at the offset just past its last character (the position of its
 * `\n`, or the text's length). With `stopAt`, the first line containing that marker and
 * everything after it are not steps (the math task's `#### answer` line).
 */
export interface StepSplitOptions {
  /** Separator between steps; default `\n`. */
  readonly separator?: string;
  /** Lines from the first one containing this marker on are not steps (e.g. `####`); default none. */
  readonly stopAt?: string;
}

/** The `endChar` of each step of `completion` (increasing offsets into it). */
export function splitSteps(completion: string, options: StepSplitOptions = {}): number[] {
  const sep = options.separator ?? '\n';
  if (sep === '') throw new RangeError('splitSteps: separator must not be empty');
  const ends: number[] = [];
  let start = 0;
  while (start <= completion.length) {
    const at = completion.indexOf(sep, start);
    const end = at < 0 ? completion.length : at;
    const line = completion.slice(start, end);
    if (options.stopAt && line.includes(options.stopAt)) break;
    if (line.trim() !== '') ends.push(end);
    if (at < 0) break;
    start = at + sep.length;
  }
  return ends;
}
