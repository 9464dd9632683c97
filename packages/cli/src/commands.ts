import {
  AnswerExtractor,
  accuracyReward,
  DataError,
  EvalDataset,
  evaluate,
  GrpoError,
  Policy,
  prepareContainer,
  PromptDataset,
  renderPrompt,
  RewardFunction,
  type ChatMessage,
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
    render: (row) => renderPrompt(config.data.promptTemplate, row, config.data.promptField, { tokenizer: policy.tokenizer, ...config.data.chat }),
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
  /** Conversations (`--chat`, `--messages`), rendered with the policy's chat template up to the assistant's turn. */
  chat?: ChatMessage[][];
  /** Prompts as token ids, used as they are (`--ids 1,403,407`); needs a policy with `generateFromIds`. */
  ids?: number[][];
  n: number;
  temperature?: number;
  maxNewTokens?: number;
  seed?: number;
  /** Print `{"completions":[{tokenIds, text, finishReason}, …]}` (prompt-major) instead of text. */
  json?: boolean;
}

/** `grpo sample`: completions of the configured policy (e.g. a checkpoint) for given prompts (text, token ids or chat messages). */
export async function sampleCommand(config: ResolvedConfig, flags: SampleFlags, out: (text: string) => void): Promise<void> {
  const ids = flags.ids ?? [];
  const chats = flags.chat ?? [];
  const kinds = [flags.prompt.length > 0, ids.length > 0, chats.length > 0].filter(Boolean).length;
  if (kinds === 0) throw new GrpoError('give at least one --prompt, --ids, --chat or --messages');
  if (kinds > 1) throw new GrpoError('give prompts as text (--prompt), as token ids (--ids) or as chat messages (--chat, --messages), not several kinds');
  const container = await prepareContainer(config);
  const policy = await container.getAsync<Policy>(Policy);
  try {
    const template = policy.tokenizer.chatTemplate;
    if (chats.length && !template)
      throw new DataError(
        `--chat/--messages: the policy's tokenizer (${policy.tokenizer.kind}) has no chat template; ` +
          "use a model whose tokenizer_config.json has a 'chat_template' (or a chat_template.jinja), or give the prompt text with --prompt",
      );
    const prompts = chats.length ? chats.map((messages) => template!.render(messages, { addGenerationPrompt: true })) : flags.prompt;
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
    } else completions = await policy.generate(prompts, flags.n, options);
    if (flags.json) {
      const list = completions.flat().map(({ tokenIds, text, finishReason }) => ({ tokenIds, text, finishReason }));
      out(`${JSON.stringify({ completions: list })}\n`);
      return;
    }
    completions.forEach((group, i) => {
      out(`### prompt ${i + 1}: ${ids.length ? `ids ${ids[i]!.join(',')}` : JSON.stringify(prompts[i])}\n`);
      group.forEach((c, j) =>
        out(`--- sample ${j + 1} (${c.finishReason}, ${c.tokenIds.length} tokens)\n${c.text ?? `(no tokenizer) ids ${c.tokenIds.join(',')}`}\n`),
      );
    });
  } finally {
    policy.dispose();
  }
}
