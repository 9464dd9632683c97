/** `grpo rm`: the CLI command this plugin ships (a `CliCommand` contribution). */
import type { CliCommand, CliIo } from '@grpo/core';
import { Command, InvalidArgumentError } from 'commander';
import { evaluateRewardModel, trainRewardModel } from './cli.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];
const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected an integer ≥ 1');
  return n;
};
const positiveNumber = (value: string) => {
  const n = Number(value);
  if (!(n > 0)) throw new InvalidArgumentError('expected a number > 0');
  return n;
};
const fraction = (value: string) => {
  const n = Number(value);
  if (!(n >= 0 && n < 1)) throw new InvalidArgumentError('expected a number in [0, 1)');
  return n;
};
const mode = (value: string) => {
  if (value !== 'outcome' && value !== 'process' && value !== 'preference') throw new InvalidArgumentError("expected 'outcome', 'process' or 'preference'");
  return value;
};

interface RmTrainFlags {
  data: string[];
  evalData?: string[];
  evalFraction?: number;
  out: string;
  resume?: string;
  initPolicy?: string;
  tokenizer?: string;
  mode?: 'outcome' | 'process' | 'preference';
  stepStopAt?: string;
  stepSeparator?: string;
  name?: string;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  seed?: number;
  pooling?: 'last' | 'noisy-and';
  likelihood?: boolean;
  backboneLrScale?: number;
}

/** `grpo rm`: train and evaluate learned reward models (ORM, PRM, Bradley–Terry) from JSONL data. */
export const rmCommand: CliCommand = { name: 'rm', create: (io) => createRmCommand(io) };

function createRmCommand(io: CliIo): Command {
  const rm = new Command('rm').description('train and evaluate learned reward models (outcome, process, preference) from JSONL data');
  rm.command('train')
    .description('train a reward model on JSONL data and write its checkpoint')
    .requiredOption(
      '--data <file>',
      'training JSONL: {prompt, completion, label} | {prompt, chosen, rejected} | {prompt, completion, steps} (repeatable)',
      collect,
    )
    .requiredOption('--out <dir>', 'where the checkpoint is written (atomically)')
    .option('--eval-data <file>', 'held-out JSONL (repeatable); otherwise --eval-fraction of the data is held out', collect)
    .option('--eval-fraction <f>', 'share of --data held out when no --eval-data is given (default 0.1)', fraction)
    .option('--resume <dir>', 'continue training this reward-model checkpoint')
    .option('--init-policy <dir>', 'initialise the backbone from this policy checkpoint (e.g. the SFT model)')
    .option('--tokenizer <dir>', 'for a fresh model: a directory holding tokenizer.json')
    .option('--mode <mode>', "'outcome', 'process' or 'preference' (inferred from the data)", mode)
    .option('--likelihood', "a new model's token scores also read the backbone's token log-probabilities")
    .option(
      '--pooling <p>',
      "'last' (σ of the last token's score — or the step's last token's — default) or 'noisy-and' (Π of σ over every token so far)",
      (v: string) => {
        if (v !== 'last' && v !== 'noisy-and') throw new InvalidArgumentError("expected 'last' or 'noisy-and'");
        return v;
      },
    )
    .option('--step-stop-at <marker>', "process mode: stop splitting steps at this marker (e.g. '####')")
    .option('--step-separator <s>', 'process mode: step separator (default newline)')
    .option('--name <name>', 'reward name when served as a RewardFunction (default rm)')
    .option('--epochs <n>', 'passes over the data', positiveInt)
    .option('--batch-size <n>', 'examples per optimizer step', positiveInt)
    .option('--lr <x>', 'learning rate', positiveNumber)
    .option('--backbone-lr-scale <x>', "the backbone's learning rate is --lr × this (the head's is --lr); 0 trains the head alone", (v: string) => {
      const n = Number(v);
      if (!(n >= 0)) throw new InvalidArgumentError('expected a number ≥ 0');
      return n;
    })
    .option('--seed <n>', 'seed', (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected an integer ≥ 0');
      return n;
    })
    .addHelpText(
      'after',
      '\nExamples:\n  $ grpo rm train --data labelled.jsonl --init-policy plugins/math-task/checkpoints/sft --out runs/rm\n  $ grpo rm train --data prefs.jsonl --eval-data prefs-test.jsonl --resume runs/rm --out runs/rm2',
    )
    .action(async (flags: RmTrainFlags) => {
      const { dir, metrics } = await trainRewardModel({
        data: flags.data,
        evalData: flags.evalData,
        evalFraction: flags.evalFraction,
        out: flags.out,
        resume: flags.resume,
        initPolicy: flags.initPolicy,
        tokenizer: flags.tokenizer,
        mode: flags.mode,
        pooling: flags.pooling,
        likelihood: flags.likelihood,
        steps: flags.stepStopAt || flags.stepSeparator ? { stopAt: flags.stepStopAt, separator: flags.stepSeparator } : undefined,
        name: flags.name,
        epochs: flags.epochs,
        batchSize: flags.batchSize,
        learningRate: flags.lr,
        backboneLrScale: flags.backboneLrScale,
        seed: flags.seed,
        log: (line) => io.err(`${line}\n`),
      });
      io.out(`reward model: ${dir}\n${JSON.stringify(metrics)}\n`);
    });
  rm.command('eval')
    .description('held-out metrics of a reward model: accuracy, AUC, first-wrong-step accuracy, pairwise accuracy')
    .requiredOption('--checkpoint <dir>', 'the reward-model checkpoint')
    .requiredOption('--data <file>', 'labelled JSONL (repeatable)', collect)
    .option('--step-stop-at <marker>', 'process mode: stop splitting steps at this marker')
    .option('--batch-size <n>', 'examples per scoring batch', positiveInt)
    .addHelpText('after', '\nExamples:\n  $ grpo rm eval --checkpoint runs/rm --data test.jsonl')
    .action(async (flags: { checkpoint: string; data: string[]; stepStopAt?: string; batchSize?: number }) => {
      const metrics = await evaluateRewardModel({
        checkpoint: flags.checkpoint,
        data: flags.data,
        steps: flags.stepStopAt ? { stopAt: flags.stepStopAt } : undefined,
        batchSize: flags.batchSize,
      });
      io.out(`${JSON.stringify(metrics)}\n`);
    });
  return rm;
}
