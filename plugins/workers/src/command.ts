/** `grpo worker`: the CLI command this plugin ships (a `CliCommand` contribution). */
import {
  assembleContainer,
  Policy,
  policyEngine,
  prepareContainer,
  RewardFunction,
  RolloutEngine,
  selectNamed,
  TensorBackend,
  type CliCommand,
  type CliContext,
  type CliIo,
} from '@grpo/core';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { redisUrl } from './config.js';
import { startRewardWorker } from './reward-worker.js';
import { startRolloutWorker } from './rollouts.js';

interface WorkerFlags {
  role: 'reward' | 'rollout';
  redis?: string;
  concurrency: number;
  quiet?: boolean;
  config?: string;
  cwd?: string;
  plugin?: string[];
  weightsDir?: string;
}

const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected an integer ≥ 1');
  return n;
};

/** Runs until SIGINT or SIGTERM; then finishes the jobs in hand and exits. */
function untilStopped(): Promise<string> {
  return new Promise((resolve) => {
    const stop = (signal: string) => () => resolve(signal);
    process.once('SIGINT', stop('SIGINT'));
    process.once('SIGTERM', stop('SIGTERM'));
  });
}

function createWorkerCommand(io: CliIo, context: CliContext): Command {
  return new Command('worker')
    .description("run a worker that takes jobs of training runs from Redis (BullMQ): --role reward scores groups with the config's reward functions")
    .addOption(
      new Option(
        '--role <role>',
        "'reward': score groups with the config's rewards; 'rollout': sample with the config's policy, on workers.rolloutEngine (generation.engine: 'workers')",
      )
        .choices(['reward', 'rollout'])
        .makeOptionMandatory(),
    )
    .option('--redis <url>', 'Redis URL (default: workers.redis, else $GRPO_REDIS_URL, else redis://127.0.0.1:6379)')
    .option('--concurrency <n>', 'jobs this process runs at once (async rewards that wait on I/O overlap)', positiveInt, 1)
    .option('-q, --quiet', 'no line per job')
    .option('--weights-dir <dir>', "rollout workers: the trainer's workers.weightsDir as mounted on this machine (versions too large for Redis are read there)")
    .option('-c, --config <file>', 'the config the trainer runs (its plugins give the reward functions)')
    .option('--cwd <dir>', 'directory to search for a config (default: current directory)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ grpo worker --role reward --config grpo.config.ts\n  $ GRPO_REDIS_URL=redis://10.0.0.5:6379 grpo worker --role reward --concurrency 8',
    )
    .action(async (_flags: WorkerFlags, cmd: Command) => {
      const flags = cmd.optsWithGlobals<WorkerFlags>();
      const config = await context.loadConfig(flags);
      const log = (line: string) => io.err(`${line}\n`);
      const quietLog = flags.quiet ? (line: string) => !line.startsWith('job ') && log(line) : log;
      const url = redisUrl(config.workers, flags.redis);
      let worker: { close(): Promise<void> };
      if (flags.role === 'rollout') {
        // The backend set up and the policy built as for training; each job loads its weights version.
        const container = await prepareContainer(config);
        const policy = await container.getAsync<Policy>(Policy);
        // The engine workers.rolloutEngine names, among core's in-process one and those the config's plugins bind (as the trainer chooses generation.engine).
        const engines = [policyEngine(policy), ...(await container.getAllAsync<RolloutEngine>(RolloutEngine, { optional: true }))];
        const engine = selectNamed<RolloutEngine>({ getAll: <U>() => engines as U[] }, RolloutEngine, config.workers.rolloutEngine, 'rollout engine');
        worker = await startRolloutWorker({
          url,
          workers: config.workers,
          policy,
          engine,
          syncTimeoutSeconds: config.generation.syncTimeoutSeconds,
          ...(flags.weightsDir ? { weightsDir: path.resolve(flags.weightsDir) } : {}),
          log: quietLog,
        });
      } else {
        const container = await assembleContainer(config);
        // Rewards may compute with tensors (a reward model): the run's backend first.
        await selectNamed<TensorBackend>(container, TensorBackend, config.backend, 'tensor backend').setup();
        const rewards = await container.getAllAsync<RewardFunction>(RewardFunction, { optional: true });
        worker = await startRewardWorker({ url, workers: config.workers, rewards, concurrency: flags.concurrency, log: quietLog });
      }
      const signal = await untilStopped();
      log(`${signal}: finishing the jobs in hand`);
      await worker.close();
    });
}

/** `grpo worker --role reward|rollout`: score groups with the config's reward functions, or sample with its policy. */
export const workerCommand: CliCommand = { name: 'worker', create: (io, context) => createWorkerCommand(io, context) };
