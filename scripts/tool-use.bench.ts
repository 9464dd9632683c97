/**
 * The calculator's worth (`npm run bench:tool-use`): GRPO on the built-in math task with and
 * without the calculator tool, each arm from its own SFT policy, at the same sample budget.
 *
 * - withoutTool: the main job (`grpo.config.ts`: shipped SFT policy `checkpoints/sft`, single-turn
 *   completions of ≤ 40 tokens).
 * - withTool: `mathTask({ tool: true })` from `checkpoints/sft-calc` (`npm run sft:example -- --tool`,
 *   solutions written `<<calc 23+15>>=38`): multi-turn rollouts where the calculator answers each
 *   call; turns of ≤ 24 tokens, ≤ 8 turns, ≤ 72 tokens per trajectory (calculator answers included).
 *
 * Both arms: the same seed, steps, prompts per step and group size (so the same number of sampled
 * completions), β 0.04, lr 1e-4. Greedy accuracy on the first `--eval-size` held-out problems
 * before and after; the withTool arm is evaluated with its tool (that is what it is for).
 *
 * Prints a line per arm and, last, one JSON object:
 * `{"withTool": {"before": pct, "after": pct}, "withoutTool": {"before": pct, "after": pct}, "steps": …, …}`.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { prepareRun, resolveConfig, type GrpoConfigInput } from '@grpo/core';
import { defaultPlugins } from '@grpo/cli';
import mathTask, { sftCheckpoint } from '@grpo/plugin-math-task';

const { values: args } = parseArgs({
  options: {
    steps: { type: 'string', default: '80' },
    prompts: { type: 'string', default: '16' },
    group: { type: 'string', default: '8' },
    seed: { type: 'string', default: '0' },
    'eval-size': { type: 'string', default: '300' },
    arms: { type: 'string', default: 'withoutTool,withTool' },
    'with-checkpoint': { type: 'string', default: sftCheckpoint({ tool: true }) },
    'without-checkpoint': { type: 'string', default: sftCheckpoint() },
    out: { type: 'string', default: 'runs/tool-use' },
    // `native` (OpenBLAS) is faster on CPU; `wasm` (the default) is the main job's backend.
    backend: { type: 'string', default: 'wasm' },
  },
});
const num = (k: keyof typeof args) => Number(args[k]);

type Arm = 'withTool' | 'withoutTool';
const arms = args.arms!.split(',') as Arm[];

function configOf(arm: Arm): GrpoConfigInput {
  const tool = arm === 'withTool';
  return {
    plugins: [mathTask({ seed: 0, trainSize: 20_000, testSize: num('eval-size'), tool })],
    policy: { checkpoint: path.resolve(tool ? args['with-checkpoint']! : args['without-checkpoint']!) },
    outputDir: path.resolve(args.out!, `${arm}-seed${args.seed}`),
    seed: num('seed'),
    backend: args.backend as GrpoConfigInput['backend'],
    generation: tool ? { maxNewTokens: 24, temperature: 1, environment: { maxTurns: 8, maxTokens: 72 } } : { maxNewTokens: 40, temperature: 1 },
    train: { steps: num('steps'), promptsPerStep: num('prompts'), groupSize: num('group'), learningRate: 1e-4, maxGradNorm: 1, logSamplesEvery: 0 },
    algorithm: { kl: { beta: 0.04 } },
    eval: { k: 0 },
  };
}

const results: Partial<Record<Arm, { before: number; after: number; seconds: number; numTurns?: number; toolCalls?: number; toolErrors?: number }>> = {};
for (const arm of arms) {
  const started = performance.now();
  const config = await resolveConfig(configOf(arm), { source: `bench:tool-use ${arm}`, defaults: defaultPlugins() });
  await mkdir(config.outputDir, { recursive: true });
  const run = await prepareRun(config);
  const { trainer } = run;
  const pct = (x: number) => Math.round(x * 1000) / 10;
  const before = (await trainer.evaluate({ k: 0, requireAccuracy: true })).accuracy!.greedy;
  console.log(`${arm}: before ${pct(before)}% greedy on ${num('eval-size')} held-out problems`);
  const last: Record<string, number> = {};
  await trainer.train({
    checkpointer: run.checkpointer,
    sinks: [
      run.metrics,
      {
        name: 'progress',
        log: (step, metrics) => {
          Object.assign(last, metrics);
          if ((step + 1) % 10 === 0)
            console.error(
              `${arm} step ${step + 1}: reward ${metrics.reward?.toFixed(3)}${metrics['num_turns/mean'] !== undefined ? ` turns ${metrics['num_turns/mean'].toFixed(2)} calls ${metrics['tools/calls']?.toFixed(2)}` : ''}`,
            );
        },
      },
    ],
  });
  const after = (await trainer.evaluate({ k: 0, requireAccuracy: true })).accuracy!.greedy;
  const seconds = (performance.now() - started) / 1000;
  results[arm] = {
    before: pct(before),
    after: pct(after),
    seconds: Math.round(seconds),
    ...(last['num_turns/mean'] !== undefined ? { numTurns: last['num_turns/mean'], toolCalls: last['tools/calls'], toolErrors: last['tools/errors'] } : {}),
  };
  console.log(`${arm}: before ${pct(before)}% → after ${pct(after)}% greedy (${Math.round(seconds)} s)`);
  trainer.dispose();
  run.release();
}
console.log(
  JSON.stringify({
    ...results,
    steps: num('steps'),
    promptsPerStep: num('prompts'),
    groupSize: num('group'),
    seed: num('seed'),
    evalSize: num('eval-size'),
  }),
);
