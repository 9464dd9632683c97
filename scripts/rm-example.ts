/**
 * `npm run rm:example`: the math task's learned reward models, reproducibly from a seed.
 *
 * 1. Backbone: the reward model starts from a policy that knows the task's arithmetic well — the
 *    shipped SFT policy trained further on the same SFT data (`--backbone-steps`; DeepSeekMath
 *    likewise starts its reward model from a strong base model, not from the RL policy).
 * 2. Data: completions sampled from the shipped SFT policy (the policy RL starts from), labelled by
 *    the rule checkers (`task_accuracy` → outcome labels, `step_correctness` → step labels), written
 *    as the JSONL files `grpo rm train` reads.
 * 3. An outcome reward model (ORM) and/or a process reward model (PRM) (`--kinds`), with their
 *    held-out metrics on samples for unseen (test-split) problems.
 *
 *   npm run rm:example                            # ORM → runs/rm-example/orm
 *   npm run rm:example -- --kinds outcome,process # and a PRM → runs/rm-example/prm
 */
import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { setupBackend } from '@grpo/plugin-backend-wasm';
import { evaluate } from '@grpo/core';
import { finalAnswerExtractor, mathTaskParts, sftExamples, stepCorrectness, taskAccuracy, type MathRow } from '@grpo/plugin-math-task';
import { exampleToJson, sampleAndLabel, trainRewardModel, type TrainOptions } from '@grpo/plugin-reward-model';
import { loadPolicy, sft } from '@grpo/plugin-transformer';
import { RM_BACKBONE, RM_LIKELIHOOD, RM_POOLING, RM_TRAIN } from './rm-recipe.js';

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

const { values: args } = parseArgs({
  options: {
    // Whose samples are labelled: the policy RL starts from.
    'sample-policy': { type: 'string', default: 'plugins/math-task/checkpoints/sft' },
    // The reward model's backbone starts from this policy checkpoint (default: <work>/backbone, made in step 1).
    init: { type: 'string' },
    'backbone-steps': { type: 'string', default: String(RM_BACKBONE.steps) },
    // Stop after step 1.
    'backbone-only': { type: 'boolean', default: false },
    prompts: { type: 'string', default: '1000' },
    'test-prompts': { type: 'string', default: '200' },
    samples: { type: 'string', default: '8' },
    epochs: { type: 'string', default: String(RM_TRAIN.epochs) },
    lr: { type: 'string', default: String(RM_TRAIN.learningRate) },
    batch: { type: 'string', default: String(RM_TRAIN.batchSize) },
    pooling: { type: 'string', default: RM_POOLING },
    // Which reward models: outcome (ORM), process (PRM), or both (outcome,process).
    kinds: { type: 'string', default: 'outcome' },
    seed: { type: 'string', default: '0' },
    work: { type: 'string', default: 'runs/rm-example' },
    out: { type: 'string' },
    'prm-out': { type: 'string' },
  },
});
const num = (k: keyof typeof args) => Number(args[k]);
const work = args.work!;
const ormOut = args.out ?? path.join(work, 'orm');
const prmOut = args['prm-out'] ?? path.join(work, 'prm');

await setupBackend('wasm');
const seed = num('seed');
const started = performance.now();
const secs = () => `${((performance.now() - started) / 1000).toFixed(0)}s`;

const backboneDir = args.init ?? path.join(work, 'backbone');
if (!args.init && !(await exists(path.join(backboneDir, 'config.json')))) {
  const policy = await loadPolicy(args['sample-policy']!);
  const { train: sftTrain, test: sftTest } = mathTaskParts({ seed: 0, trainSize: 20_000, testSize: 200 });
  const rows = Array.from({ length: sftTrain.size }, (_, i) => sftTrain.get(i));
  const steps = num('backbone-steps');
  await sft(policy, {
    train: sftExamples(rows),
    steps,
    batchSize: 32,
    learningRate: RM_BACKBONE.learningRate,
    warmupSteps: 10,
    minLrRatio: 0.2,
    weightDecay: 0.01,
    seed: seed + 5,
    onStep: (r) => {
      if (r.step % 100 === 0) console.log(`backbone: SFT step ${r.step}/${steps} loss ${r.loss.toFixed(4)} (${secs()})`);
    },
  });
  const report = (
    await evaluate({
      policy,
      rows: Array.from({ length: 200 }, (_, i) => sftTest!.get(i)),
      render: (r) => r.prompt,
      accuracy: taskAccuracy(),
      extractor: finalAnswerExtractor,
      k: 1,
      temperature: 1,
      maxNewTokens: 48,
      seed: 0,
    })
  ).accuracy!;
  await policy.save(backboneDir);
  policy.dispose();
  console.log(`backbone: greedy accuracy ${(100 * report.greedy).toFixed(1)}% on 200 test problems → ${backboneDir} (${secs()})`);
}
if (args['backbone-only']) process.exit(0);
// RM training prompts come from the train split (indices RL rarely reaches first); held-out ones
// from the test split after the 300 problems the policy is evaluated on.
const { train, test } = mathTaskParts({ seed: 0, trainSize: 20_000, testSize: 500 });
const trainRows: MathRow[] = Array.from({ length: num('prompts') }, (_, i) => train.get(10_000 + i));
const testRows: MathRow[] = Array.from({ length: Math.min(num('test-prompts'), 200) }, (_, i) => test!.get(300 + i));

const policy = await loadPolicy(args['sample-policy']!);
const sampling = { maxNewTokens: 48, temperature: 1 };
const kinds = args.kinds!.split(',').map((k) => k.trim());
for (const k of kinds) if (k !== 'outcome' && k !== 'process') throw new Error(`--kinds: expected outcome and/or process, got '${k}'`);
const files: Record<string, { train: string; test: string }> = {};
await mkdir(path.join(work, 'data'), { recursive: true });
for (const kind of kinds as ('outcome' | 'process')[]) {
  const labeller = kind === 'outcome' ? taskAccuracy() : stepCorrectness();
  const make = (rows: MathRow[], s: number) =>
    sampleAndLabel({ policy, rows, samplesPerPrompt: num('samples'), sampling: { ...sampling, seed: s }, labeller, kind });
  // The same seeds for both kinds: the ORM and PRM see the same completions.
  const trainSet = await make(trainRows, seed * 1_000_003 + 1);
  const testSet = await make(testRows, seed * 1_000_003 + 500_000);
  const name = kind === 'outcome' ? 'orm' : 'prm';
  files[kind] = { train: path.join(work, 'data', `${name}-train.jsonl`), test: path.join(work, 'data', `${name}-test.jsonl`) };
  await writeFile(files[kind].train, trainSet.map((e) => `${exampleToJson(e)}\n`).join(''));
  await writeFile(files[kind].test, testSet.map((e) => `${exampleToJson(e)}\n`).join(''));
  const positive = (set: typeof trainSet) => (kind === 'outcome' ? set.filter((e) => e.kind === 'outcome' && e.label === 1).length / set.length : NaN);
  console.log(
    `${name} data: ${trainSet.length} train / ${testSet.length} held-out samples${kind === 'outcome' ? `, ${(100 * positive(trainSet)).toFixed(1)}% / ${(100 * positive(testSet)).toFixed(1)}% correct` : ''} (${secs()})`,
  );
}
policy.dispose();

const train0: Omit<TrainOptions, 'eval' | 'onStep'> = {
  epochs: num('epochs'),
  batchSize: num('batch'),
  learningRate: num('lr'),
  backboneLrScale: RM_TRAIN.backboneLrScale,
  seed,
};
const results: Record<string, Record<string, number>> = {};
for (const kind of kinds as ('outcome' | 'process')[]) {
  const out = kind === 'outcome' ? ormOut : prmOut;
  const { metrics } = await trainRewardModel({
    ...train0,
    data: files[kind]!.train,
    evalData: files[kind]!.test,
    initPolicy: backboneDir,
    mode: kind,
    // A served PRM splits steps as `step_correctness` does: each line before the `####` answer.
    steps: kind === 'process' ? { stopAt: '####' } : undefined,
    pooling: args.pooling as 'last' | 'noisy-and',
    likelihood: RM_LIKELIHOOD,
    out,
    log: (line) => console.log(`${kind === 'outcome' ? 'ORM' : 'PRM'} ${line} (${secs()})`),
  });
  results[kind] = metrics;
  console.log(`${kind === 'outcome' ? 'ORM' : 'PRM'} → ${out}`);
}
const o = results.outcome;
if (o)
  console.log(
    `ORM held-out: accuracy ${(100 * o['eval/outcome/accuracy']!).toFixed(1)}%, AUC ${o['eval/outcome/auc']?.toFixed(3)} on ${o['eval/outcome/count']} samples`,
  );
if (results.process) {
  const p = results.process;
  console.log(
    `PRM held-out: step accuracy ${(100 * p['eval/process/step_accuracy']!).toFixed(1)}%, step AUC ${p['eval/process/step_auc']?.toFixed(3)}, first wrong step found in ${(100 * (p['eval/process/first_error_accuracy_wrong'] ?? NaN)).toFixed(1)}% of the ${p['eval/process/count']} held-out completions' wrong ones (${(100 * p['eval/process/first_error_accuracy']!).toFixed(1)}% over all)`,
  );
}
console.log(JSON.stringify({ orm: results.outcome, prm: results.process, seconds: Math.round((performance.now() - started) / 1000) }));
