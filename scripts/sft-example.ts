/**
 * `npm run sft:example`: trains the small character-level policy that the main job starts GRPO
 * from, on the built-in math task, reproducibly from a seed. Every `--every` steps it measures
 * greedy accuracy and pass@8 on held-out problems and saves a checkpoint; at the end it copies
 * the checkpoint chosen by `--pick` (the first whose greedy accuracy reaches the target range)
 * to `--out`.
 */
import { mkdir, rm, cp } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { evaluate, multiTurnGenerate, policyEngine, type EvaluateOptions } from '@grpo/core';
import { setupBackend as setupNative } from '@grpo/plugin-backend-native';
import { setupBackend } from '@grpo/plugin-backend-wasm';
import {
  calculatorEnvironment,
  finalAnswerExtractor,
  MATH_TASK_CHARS,
  MATH_TASK_TOOL_CHARS,
  mathTaskParts,
  sftExamples,
  taskAccuracy,
} from '@grpo/plugin-math-task';
import { CharTokenizer } from '@grpo/plugin-tokenizers';
import { createPolicy, loadPolicy, sft } from '@grpo/plugin-transformer';

const { values: args } = parseArgs({
  options: {
    steps: { type: 'string', default: '1500' },
    // Stop at the first checkpoint in the target range (the shipped one); --no-stop trains to --steps.
    'no-stop': { type: 'boolean', default: false },
    every: { type: 'string', default: '100' },
    batch: { type: 'string', default: '32' },
    lr: { type: 'string', default: '2e-3' },
    seed: { type: 'string', default: '0' },
    'd-model': { type: 'string', default: '128' },
    layers: { type: 'string', default: '4' },
    heads: { type: 'string', default: '4' },
    'min-acc': { type: 'string', default: '0.25' },
    'max-acc': { type: 'string', default: '0.5' },
    'eval-size': { type: 'string', default: '200' },
    work: { type: 'string', default: 'runs/sft-example' },
    out: { type: 'string' },
    // The calculator arm: solutions call `<<calc a+b>>` (answered `=c`), two more characters in the vocabulary.
    tool: { type: 'boolean', default: false },
    // `native` (OpenBLAS, ~1.4× faster on CPU) computes the same numbers as `wasm` up to float rounding.
    backend: { type: 'string', default: 'wasm' },
    // Continue from a saved policy (same architecture) instead of a fresh initialisation: a second SFT stage.
    init: { type: 'string' },
  },
});
const num = (k: keyof typeof args) => Number(args[k]);

if (args.backend === 'native') await setupNative();
else await setupBackend('wasm');
const seed = num('seed');
const tool = args.tool === true;
const out = args.out ?? (tool ? 'plugins/math-task/checkpoints/sft-calc' : 'plugins/math-task/checkpoints/sft');
const tokenizer = CharTokenizer.fromChars(tool ? MATH_TASK_TOOL_CHARS : MATH_TASK_CHARS);
const policy = args.init
  ? await loadPolicy(args.init)
  : createPolicy({
      // Calculator calls make solutions up to 27 characters longer: the tool arm's model takes 160 tokens.
      model: { dModel: num('d-model'), nLayers: num('layers'), nHeads: num('heads'), maxSeqLen: tool ? 160 : 128 },
      tokenizer,
      seed,
    });
const { train, test } = mathTaskParts({ seed: 0, trainSize: 20_000, testSize: 500 });
const rows = Array.from({ length: train.size }, (_, i) => train.get(i));
const evalRows = Array.from({ length: Math.min(num('eval-size'), test!.size) }, (_, i) => test!.get(i));
const heldOut = sftExamples(evalRows.slice(0, 64), { tool });
await rm(args.work!, { recursive: true, force: true });
await mkdir(args.work!, { recursive: true });

/** The calculator arm is measured with its tool: multi-turn trajectories, the calculator answering each call (as `npm run bench:tool-use` runs it). */
const calculator = calculatorEnvironment();
const withTool: Pick<EvaluateOptions, 'generate'> = tool
  ? {
      generate: (rows, prompts, groupSize, sampling) =>
        multiTurnGenerate(
          prompts.map((text, i) => ({ text, ids: policy.encodePrompt(text), row: rows[i]! })),
          groupSize,
          sampling,
          {
            engine: policyEngine(policy),
            environment: calculator,
            tokenizer,
            options: { maxTurns: 8, maxTokens: 72, timeoutMs: 10_000, onError: 'raise' },
            maxSeqLen: policy.maxSeqLen,
          },
        ),
    }
  : {};

/** Thrown from the progress callback to end training once the target checkpoint exists. */
class PickedCheckpoint extends Error {}
const inRange = (acc: number) => acc >= num('min-acc') && acc <= num('max-acc');

const history: { step: number; greedy: number; passAtK: number; majAtK: number; dir: string }[] = [];
const started = performance.now();
try {
  await sft(policy, {
    train: sftExamples(rows, { tool }),
    eval: heldOut,
    steps: num('steps'),
    batchSize: num('batch'),
    learningRate: num('lr'),
    warmupSteps: 50,
    minLrRatio: 0.1,
    weightDecay: 0.01,
    seed,
    evalEvery: num('every'),
    callbackEvery: num('every'),
    onStep: (r) => {
      if (r.step % 20 === 0) process.stderr.write(`step ${r.step} loss ${r.loss.toFixed(4)} lr ${r.lr.toExponential(2)}\n`);
    },
    onProgress: async (step) => {
      const dir = path.join(args.work!, `step-${step}`);
      const report = (
        await evaluate({
          ...withTool,
          policy,
          rows: evalRows,
          render: (r) => r.prompt,
          accuracy: taskAccuracy(),
          extractor: finalAnswerExtractor,
          k: 8,
          temperature: 1,
          maxNewTokens: tool ? 24 : 48,
          seed: 1234,
        })
      ).accuracy!;
      await policy.save(dir);
      history.push({ step, greedy: report.greedy, passAtK: report.passAtK, majAtK: report.majAtK, dir });
      const secs = ((performance.now() - started) / 1000).toFixed(0);
      console.log(
        `step ${step}: greedy ${(report.greedy * 100).toFixed(1)}% maj@8 ${(report.majAtK * 100).toFixed(1)}% pass@8 ${(report.passAtK * 100).toFixed(1)}% (${secs}s)`,
      );
      if (!args['no-stop'] && inRange(report.greedy)) throw new PickedCheckpoint();
    },
  });
} catch (error) {
  if (!(error instanceof PickedCheckpoint)) throw error;
}
const pick = history.find((h) => inRange(h.greedy)) ?? history.at(-1)!;
await rm(out, { recursive: true, force: true });
await cp(pick.dir, out, { recursive: true });
console.log(`picked step ${pick.step} (greedy ${(pick.greedy * 100).toFixed(1)}%, pass@8 ${(pick.passAtK * 100).toFixed(1)}%) → ${out}`);
console.log(JSON.stringify({ picked: pick.step, history: history.map(({ dir: _d, ...h }) => h) }));
