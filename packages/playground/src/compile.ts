/** The page's reward in TypeScript → JavaScript, with sucrase (types stripped, no type check). */
import { transform } from 'sucrase';

export const DEFAULT_REWARD = `// One score per completion: 1 when its final answer ("#### 42") is the right one, else 0 —
// what the task's own reward (task_accuracy) does. Edit it and press Apply: the next steps use it.
// Try \`return input.completions.map(() => 1)\`: every advantage becomes 0 and the policy stops moving.
interface RewardInput {
  prompts: string[];
  completions: string[];
  rows: { question: string; answer: string }[];
}

export default function reward(input: RewardInput): (number | null)[] {
  return input.completions.map((text, i) => {
    const match = /####\\s*(-?[\\d,]+)/.exec(text);
    return match !== null && match[1].replace(/,/g, '') === String(input.rows[i].answer) ? 1 : 0;
  });
}
`;

/** JavaScript of `source`, or the compiler's message (with line and column) when it does not parse. */
export function compileReward(source: string): { code: string } | { error: string } {
  try {
    return { code: transform(source, { transforms: ['typescript'], disableESTransforms: true }).code };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}
