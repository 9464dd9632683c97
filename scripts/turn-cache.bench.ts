/**
 * `npm run bench:turn-cache`: multi-turn rollouts with the KV cache carried across turns (the
 * policy's `openTurns` session) against re-prefilling the whole trajectory every turn, on the
 * math task's prompts with the tool arm's model size (d 128, 4 layers, 160 positions).
 *
 * The environment answers every turn (`=` and a number, 3–5 tokens) and never ends the episode,
 * so every trajectory runs `--turns` turns of `--turn-tokens` tokens, or stops at EOS or at the
 * token budget: the worst case for re-prefilling. With `--checkpoint` the weights are a trained
 * policy's (e.g. `plugins/math-task/checkpoints/sft-calc`); otherwise a seeded initialisation.
 *
 * Both paths run from the same seed and must give the same token ids. Prints the figures and,
 * last, one JSON object `{"cachedSeconds", "prefillSeconds", "speedup", "identical", "maxLogprobDiff", …}`.
 */
import { parseArgs } from 'node:util';
import { multiTurnGenerate, policyEngine, type Environment } from '@grpo/core';
import { setupBackend as setupNative } from '@grpo/plugin-backend-native';
import { setupBackend } from '@grpo/plugin-backend-wasm';
import { MATH_TASK_TOOL_CHARS, mathTaskParts } from '@grpo/plugin-math-task';
import { CharTokenizer } from '@grpo/plugin-tokenizers';
import { createPolicy, loadPolicy } from '@grpo/plugin-transformer';

const { values: args } = parseArgs({
  options: {
    prompts: { type: 'string', default: '16' },
    group: { type: 'string', default: '8' },
    turns: { type: 'string', default: '8' },
    'turn-tokens': { type: 'string', default: '8' },
    'max-tokens': { type: 'string', default: '96' },
    repeats: { type: 'string', default: '2' },
    checkpoint: { type: 'string' },
    backend: { type: 'string', default: 'wasm' },
  },
});
const num = (k: keyof typeof args) => Number(args[k]);

if (args.backend === 'native') await setupNative();
else await setupBackend('wasm');
const policy = args.checkpoint
  ? await loadPolicy(args.checkpoint)
  : createPolicy({ model: { dModel: 128, nLayers: 4, nHeads: 4, maxSeqLen: 160 }, tokenizer: CharTokenizer.fromChars(MATH_TASK_TOOL_CHARS), seed: 0 });
const { train } = mathTaskParts({ seed: 0, trainSize: 1000, testSize: 10 });
const rows = Array.from({ length: num('prompts') }, (_, i) => train.get(i));
const requests = rows.map((row) => ({ row, text: row.prompt, ids: policy.encodePrompt(row.prompt) }));

/** Answers every turn with `=` and a number that grows with the turn; never done. */
const echo: Environment = { name: 'echo', reset: () => undefined, step: (_c, { turn }) => ({ done: false, observation: `=${turn * 37}` }) };
const sampling = { maxNewTokens: num('turn-tokens'), temperature: 1, seed: 11 };
const run = async (kvCache: boolean) => {
  const started = performance.now();
  const out = await multiTurnGenerate(requests, num('group'), sampling, {
    engine: policyEngine(policy),
    environment: echo,
    tokenizer: policy.tokenizer,
    options: { maxTurns: num('turns'), maxTokens: num('max-tokens'), timeoutMs: 10_000, onError: 'raise' },
    maxSeqLen: policy.maxSeqLen,
    kvCache,
  });
  return { seconds: (performance.now() - started) / 1000, trajectories: out.flat() };
};

await run(true); // warm-up (kernels, allocations)
const times = { cached: [] as number[], prefill: [] as number[] };
let identical = true;
let maxLogprobDiff = 0;
let turns = 0;
let tokens = 0;
for (let r = 0; r < num('repeats'); r++) {
  // Alternate the order so that a change of machine load hits both paths alike.
  const first = r % 2 === 0;
  const a = await run(first);
  const b = await run(!first);
  const [cached, prefill] = first ? [a, b] : [b, a];
  times.cached.push(cached.seconds);
  times.prefill.push(prefill.seconds);
  cached.trajectories.forEach((t, i) => {
    const other = prefill.trajectories[i]!;
    if (t.tokenIds.join() !== other.tokenIds.join()) identical = false;
    t.logprobs.forEach((l, n) => (maxLogprobDiff = Math.max(maxLogprobDiff, Math.abs(l - (other.logprobs[n] ?? Number.NaN)))));
  });
  turns = cached.trajectories.reduce((s, t) => s + t.turns!.length, 0) / cached.trajectories.length;
  tokens = cached.trajectories.reduce((s, t) => s + t.tokenIds.length, 0) / cached.trajectories.length;
}
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const cachedSeconds = sum(times.cached);
const prefillSeconds = sum(times.prefill);
console.log(
  `${num('prompts')}×${num('group')} trajectories, ${turns.toFixed(1)} turns and ${tokens.toFixed(1)} tokens each (${args.backend}, ${num('repeats')} repeats)`,
);
console.log(`KV cache across turns: ${cachedSeconds.toFixed(2)} s; re-prefill every turn: ${prefillSeconds.toFixed(2)} s`);
console.log(
  `speed-up ×${(prefillSeconds / cachedSeconds).toFixed(2)}; same token ids: ${identical}; largest log-prob difference ${maxLogprobDiff.toExponential(1)}`,
);
console.log(
  JSON.stringify({
    cachedSeconds: Math.round(cachedSeconds * 100) / 100,
    prefillSeconds: Math.round(prefillSeconds * 100) / 100,
    speedup: Math.round((prefillSeconds / cachedSeconds) * 100) / 100,
    identical,
    maxLogprobDiff,
    turnsPerTrajectory: turns,
    tokensPerTrajectory: tokens,
    trajectories: num('prompts') * num('group'),
    backend: args.backend,
  }),
);
policy.dispose();
