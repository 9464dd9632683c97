import {
  AnswerExtractor,
  accuracyReward,
  EvalDataset,
  evaluate,
  GrpoError,
  Policy,
  prepareContainer,
  PromptDataset,
  renderPrompt,
  RewardFunction,
  type IdCompletion,
  type PromptDataset as PromptDatasetT,
  type ResolvedConfig,
  type SamplingOptions,
} from '@grpo/core';

export interface EvalFlags {
  k?: number;
  limit?: number;
  split?: 'eval' | 'train';
  /** Called after each batch of prompts (a progress line). */
  onProgress?: (done: number, total: number) => void;
}

/** `grpo eval`: greedy accuracy, maj@k and pass@k of the configured policy on a dataset. */
export async function evalCommand(config: ResolvedConfig, flags: EvalFlags, out: (text: string) => void): Promise<void> {
  const container = await prepareContainer(config);
  const token = flags.split === 'train' ? PromptDataset : EvalDataset;
  if (!container.isBound(token))
    throw new GrpoError(
      `no ${flags.split === 'train' ? 'training' : 'evaluation'} dataset is configured (data.${flags.split === 'train' ? 'train' : 'eval'} or a dataset plugin)`,
    );
  const dataset = await container.getAsync<PromptDatasetT>(token);
  const n = Math.min(dataset.size, flags.limit ?? config.data.evalSize ?? dataset.size);
  const policy = await container.getAsync<Policy>(Policy);
  const rewards = await container.getAllAsync<RewardFunction>(RewardFunction, { optional: true });
  const k = flags.k ?? config.eval.k;
  const { accuracy: report } = await evaluate({
    policy,
    rows: Array.from({ length: n }, (_, i) => dataset.get(i)),
    render: (row) => renderPrompt(config.data.promptTemplate, row, config.data.promptField, { tokenizer: policy.tokenizer }),
    rewards,
    rewardOptions: config.rewards,
    accuracy: accuracyReward(rewards, config.eval.accuracyReward),
    extractor: container.isBound(AnswerExtractor) ? await container.getAsync<AnswerExtractor>(AnswerExtractor) : undefined,
    k,
    temperature: config.eval.temperature,
    maxNewTokens: config.generation.maxNewTokens,
    stop: config.generation.stop,
    seed: config.seed + 7919,
    onProgress: flags.onProgress,
  });
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  out(`${dataset.name}: ${report!.n} prompts\n`);
  out(`greedy accuracy  ${pct(report!.greedy)}\n`);
  if (k > 0) out(`maj@${k}            ${pct(report!.majAtK)}\npass@${k}           ${pct(report!.passAtK)}\n`);
  out(`${JSON.stringify(report)}\n`);
  policy.dispose();
}

export interface SampleFlags {
  prompt: string[];
  /** Prompts as token ids, used as they are (`--ids 1,403,407`); needs a policy with `generateFromIds`. */
  ids?: number[][];
  n: number;
  temperature?: number;
  maxNewTokens?: number;
  seed?: number;
  /** Print `{"completions":[{tokenIds, text, finishReason}, …]}` (prompt-major) instead of text. */
  json?: boolean;
}

/** `grpo sample`: completions of the configured policy (e.g. a checkpoint) for given prompts (text or token ids). */
export async function sampleCommand(config: ResolvedConfig, flags: SampleFlags, out: (text: string) => void): Promise<void> {
  const ids = flags.ids ?? [];
  if (flags.prompt.length === 0 && ids.length === 0) throw new GrpoError('give at least one --prompt or --ids');
  if (flags.prompt.length > 0 && ids.length > 0) throw new GrpoError('give prompts as text (--prompt) or as token ids (--ids), not both');
  const container = await prepareContainer(config);
  const policy = await container.getAsync<Policy>(Policy);
  try {
    const g = config.generation;
    const options: SamplingOptions = {
      maxNewTokens: flags.maxNewTokens ?? g.maxNewTokens,
      temperature: flags.temperature ?? g.temperature,
      topK: g.topK || undefined,
      topP: g.topP < 1 ? g.topP : undefined,
      stop: g.stop,
      seed: flags.seed ?? config.seed,
    };
    let completions: IdCompletion[][];
    if (ids.length) {
      if (!policy.generateFromIds) throw new GrpoError('this policy cannot take prompts as token ids (its plugin has no generateFromIds); use --prompt');
      completions = await policy.generateFromIds(ids, flags.n, options);
    } else completions = await policy.generate(flags.prompt, flags.n, options);
    if (flags.json) {
      const list = completions.flat().map(({ tokenIds, text, finishReason }) => ({ tokenIds, text, finishReason }));
      out(`${JSON.stringify({ completions: list })}\n`);
      return;
    }
    completions.forEach((group, i) => {
      out(`### prompt ${i + 1}: ${ids.length ? `ids ${ids[i]!.join(',')}` : JSON.stringify(flags.prompt[i])}\n`);
      group.forEach((c, j) =>
        out(`--- sample ${j + 1} (${c.finishReason}, ${c.tokenIds.length} tokens)\n${c.text ?? `(no tokenizer) ids ${c.tokenIds.join(',')}`}\n`),
      );
    });
  } finally {
    policy.dispose();
  }
}
