/**
 * The rollout stage: render each row's prompt once, encode it, and sample G completions per prompt
 * from the rollout engine. `collect` runs rollout → score → filter, refilling the batch while
 * filters drop groups, then the reward shapers.
 */
import type { RewardFunction, RewardScorer } from '../contracts/reward.js';
import type { Policy, SamplingOptions } from '../contracts/policy.js';
import type { RewardShaper, RolloutEngine, RolloutFilter, ShapingContext } from '../contracts/rollout.js';
import type { ChatTemplateOptions, Tokenizer } from '../contracts/tokenizer.js';
import { DataError, GrpoError } from '../errors.js';
import type { DatasetRow, Rollout, ScoredGroup } from '../records.js';
import { multiTurnGenerate, trajectoryMetrics, type MultiTurnContext } from './multi-turn.js';
import { scoreRollouts, type RewardRunOptions } from './score.js';

/** How the chat template is used (`data.chat`) and the policy's tokenizer that has it. */
export interface ChatRendering {
  /** The policy's tokenizer: its `chatTemplate` renders, its `kind` is named in errors. */
  tokenizer?: Pick<Tokenizer, 'kind' | 'chatTemplate'>;
  /** `data.chat.prompts`: prompt strings, too, are sent as a user message through the chat template. */
  prompts?: boolean;
  /** `data.chat.system`: a system message before that user message. */
  system?: string;
  /** `data.chat.variables`: further template variables (e.g. `{ enable_thinking: false }`). */
  variables?: ChatTemplateOptions['variables'];
}

/**
 * A row's prompt text. A row with `messages` is rendered by the tokenizer's chat template, ending
 * with the opening of the assistant's turn (`add_generation_prompt`); a `DataError` when the
 * tokenizer has none. Otherwise fills `{field}` placeholders of the prompt template from the row
 * (`{prompt}` is the prompt field) and, with `chat.prompts`, renders the result as a user message
 * (after `chat.system`) with the chat template.
 */
export function renderPrompt(template: string, row: DatasetRow, promptField: string, chat: ChatRendering = {}): string {
  const chatTemplate = chat.tokenizer?.chatTemplate;
  const tokenizer = chat.tokenizer ? ` (${chat.tokenizer.kind})` : '';
  if (row.messages !== undefined) {
    if (!chatTemplate)
      throw new DataError(
        `the row gives 'messages', but the policy's tokenizer${tokenizer} has no chat template: ` +
          "use a model whose tokenizer_config.json has a 'chat_template', or give the row a prompt string instead",
      );
    return chatTemplate.render(row.messages, { addGenerationPrompt: true, variables: chat.variables });
  }
  const text = fillTemplate(template, row, promptField);
  if (!chat.prompts) return text;
  if (!chatTemplate)
    throw new GrpoError(`data.chat.prompts is set, but the policy's tokenizer${tokenizer} has no chat template: use a chat model or unset data.chat.prompts`);
  const system = chat.system === undefined ? [] : [{ role: 'system', content: chat.system }];
  return chatTemplate.render([...system, { role: 'user', content: text }], { addGenerationPrompt: true, variables: chat.variables });
}

function fillTemplate(template: string, row: DatasetRow, promptField: string): string {
  const prompt = row[promptField];
  if (typeof prompt !== 'string') throw new GrpoError(`dataset row has no string field '${promptField}' (data.promptField)`);
  return template.replace(/\{(\w+)\}/g, (whole, key: string) => {
    if (key === 'prompt') return prompt;
    const value = row[key];
    return value === undefined ? whole : String(value);
  });
}

export interface RolloutContext {
  engine: RolloutEngine;
  /** Encodes prompts exactly as the policy conditions on them. */
  policy: Pick<Policy, 'encodePrompt'>;
  render: (row: DatasetRow) => string;
  groupSize: number;
  sampling: SamplingOptions;
  /** With an environment: multi-turn trajectories instead of single completions (the same engine). */
  multiTurn?: Omit<MultiTurnContext, 'engine'>;
}

/** `groupSize` completions (or multi-turn trajectories) for each row. */
export async function rollout(rows: readonly DatasetRow[], context: RolloutContext): Promise<Rollout[]> {
  const prompts = rows.map(context.render);
  const ids = prompts.map((p) => context.policy.encodePrompt(p));
  const completions = context.multiTurn
    ? await multiTurnGenerate(
        prompts.map((text, i) => ({ text, ids: ids[i]!, row: rows[i]! })),
        context.groupSize,
        context.sampling,
        { ...context.multiTurn, engine: context.engine },
      )
    : await context.engine.generate(
        prompts.map((text, i) => ({ text, ids: ids[i]! })),
        context.groupSize,
        context.sampling,
      );
  if (completions.length !== rows.length || completions.some((c) => c?.length !== context.groupSize))
    throw new GrpoError(
      `rollout engine '${context.engine.name}' returned ${completions.length} groups for ${rows.length} prompts (${context.groupSize} completions each expected)`,
    );
  return rows.map((row, i) => ({ row, prompt: prompts[i]!, promptIds: ids[i]!, completions: completions[i]! }));
}

/** Sorts contributions by `order`, keeping binding order among equals. */
export function byOrder<T extends { readonly order?: number }>(items: readonly T[]): T[] {
  return items
    .map((item, i) => ({ item, i }))
    .sort((a, b) => (a.item.order ?? 0) - (b.item.order ?? 0) || a.i - b.i)
    .map((x) => x.item);
}

export interface CollectContext {
  /** The next `count` rows of the shuffled training stream. */
  nextRows: (count: number) => DatasetRow[];
  /** One rollout with a fresh sampling seed per call. */
  rollout: (rows: readonly DatasetRow[]) => Promise<Rollout[]>;
  rewards: readonly RewardFunction[];
  rewardOptions: RewardRunOptions;
  /** Runs the rewards elsewhere (a bound `RewardScorer`); absent: in this process. */
  scorer?: RewardScorer;
  /** The training step, which names the scorer's work with the round and the group. */
  step?: number;
  /** Maps step rewards' character offsets to tokens. */
  tokenizer?: Tokenizer;
  filters: readonly RolloutFilter[];
  shapers: readonly RewardShaper[];
  shaping: ShapingContext;
  promptsPerStep: number;
}

export interface Collected {
  groups: ScoredGroup[];
  metrics: Record<string, number>;
  /** Completion tokens generated, dropped groups included. */
  generatedTokens: number;
  /** Seconds spent generating and scoring the first batch. */
  generateSeconds: number;
  /** Seconds spent generating, refills included (`generatedTokens` over this is the engine's tokens/s). */
  allGenerateSeconds: number;
  scoreSeconds: number;
}

const tokensOf = (groups: readonly Rollout[]) => groups.reduce((a, g) => a + g.completions.reduce((b, c) => b + c.tokenIds.length, 0), 0);

/**
 * A step's training groups: sample and score `promptsPerStep` prompts; while the filters keep
 * fewer, sample and score more (at most the filters' largest `refillRounds` extra rounds); keep
 * the first `promptsPerStep`; then apply the reward shapers in order.
 */
export async function collect(context: CollectContext): Promise<Collected> {
  const filters = byOrder(context.filters);
  const keep = (g: ScoredGroup) => filters.every((f) => f.keep(g));
  const seconds = (from: number) => (performance.now() - from) / 1000;
  let round = 0;
  const score = (rollouts: Rollout[]) =>
    scoreRollouts(
      rollouts,
      context.rewards,
      context.rewardOptions,
      context.tokenizer,
      context.scorer ? { scorer: context.scorer, step: context.step ?? 0, round: round++ } : undefined,
    );

  let allGenerateSeconds = 0;
  const timedRollout = async (rows: DatasetRow[]) => {
    const from = performance.now();
    const rollouts = await context.rollout(rows);
    allGenerateSeconds += seconds(from);
    return rollouts;
  };
  let started = performance.now();
  const first = await timedRollout(context.nextRows(context.promptsPerStep));
  const generateSeconds = seconds(started);
  started = performance.now();
  let scored = await score(first);
  const scoreSeconds = seconds(started);
  const metrics: Record<string, number> = { ...scored.metrics, ...trajectoryMetrics(first) };
  let generatedTokens = tokensOf(scored.groups);
  let groups = scored.groups;
  if (filters.length) {
    const maxRounds = Math.max(0, ...filters.map((f) => f.refillRounds ?? 0));
    let kept = groups.filter(keep);
    let rounds = 0;
    while (kept.length < context.promptsPerStep && rounds < maxRounds) {
      rounds++;
      scored = await score(await timedRollout(context.nextRows(context.promptsPerStep - kept.length)));
      generatedTokens += tokensOf(scored.groups);
      kept = kept.concat(scored.groups.filter(keep));
    }
    for (const f of filters) {
      metrics[`${f.name}/rounds`] = rounds;
      metrics[`${f.name}/kept_groups`] = kept.length;
    }
    groups = kept.slice(0, context.promptsPerStep);
  }
  for (const shaper of byOrder(context.shapers)) {
    const shaped = shaper.shape(groups, context.shaping);
    groups = shaped.groups;
    Object.assign(metrics, shaped.metrics);
  }
  return { groups, metrics, generatedTokens, generateSeconds, allGenerateSeconds, scoreSeconds };
}
