/**
 * Assembling a run from a resolved config, the same for the CLI, scripts and tests: the container
 * (plugins), the tensor backend, the policy (from the last bound `PolicyFactory`), the JSONL
 * datasets of `data.*`, and for training the trainer and its checkpointer.
 */
import { mkdir, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Container } from 'inversify';
import { TensorBackend } from '../contracts/backend.js';
import { EvalDataset, PromptDataset } from '../contracts/data.js';
import { Policy, PolicyFactory } from '../contracts/policy.js';
import { Tokenizer } from '../contracts/tokenizer.js';
import type { ResolvedConfig } from '../plugin/types.js';
import { JsonlPromptDataset } from '../data/jsonl.js';
import { CheckpointError, ConfigChangeError, GrpoError } from '../errors.js';
import { renderPrompt } from '../pipeline/rollout.js';
import type { DatasetRow } from '../records.js';
import { assembleContainer, selectNamed } from '../plugin/container.js';
import { DirectoryCheckpointer } from '../trainer/checkpointer.js';
import { JsonlMetricsSink } from '../trainer/sinks.js';
import { lockRunDirectory, type RunLock } from './lock.js';
import { Trainer } from '../trainer/trainer.js';
import { describeDirectory, resolvePolicyCheckpoint } from './checkpoint-path.js';
import { configChanges, configDefaults, readRunRecord, RUN_CONFIG_FILE, runRecord, type ConfigChange, type RunRecord } from './record.js';

/** The directory relative paths in a config are resolved against: the config file's (else the working directory). */
export function configDir(config: ResolvedConfig): string {
  return path.isAbsolute(config.source) ? path.dirname(config.source) : process.cwd();
}

/** A path of the config, resolved against the config file's directory. */
export function configPath(config: ResolvedConfig, file: string): string {
  return path.resolve(configDir(config), file);
}

/**
 * The container with the backend set up, the policy bound and the datasets bound: everything a
 * command needs before training, evaluating or sampling. A policy a plugin bound is kept.
 */
export async function prepareContainer(config: ResolvedConfig): Promise<Container> {
  const container = await assembleContainer(config);
  await selectNamed<TensorBackend>(container, TensorBackend, config.backend, 'tensor backend').setup();
  if (!container.isBound(Policy)) {
    const factories = await container.getAllAsync<PolicyFactory>(PolicyFactory, { optional: true });
    const factory = factories.at(-1);
    if (!factory) throw new GrpoError('No policy: add a plugin that contributes a PolicyFactory (e.g. @grpo/plugin-transformer) or binds a Policy.');
    const given = config.policy.checkpoint;
    // A training checkpoint or a run directory means its policy/ (the latest one of a run).
    const checkpoint = given ? await resolvePolicyCheckpoint(configPath(config, given), { given }) : undefined;
    let policy: Policy;
    try {
      policy = await factory.create({
        config,
        checkpoint,
        tokenizer: container.isBound(Tokenizer) ? await container.getAsync<Tokenizer>(Tokenizer) : undefined,
      });
    } catch (error) {
      // A directory that is no checkpoint at all: say what it holds and what was expected.
      if (checkpoint && !(await stat(path.join(checkpoint, 'config.json')).catch(() => undefined)))
        throw new CheckpointError(
          `policy.checkpoint ${given}: ${checkpoint} is not a checkpoint (it holds: ${await describeDirectory(checkpoint)}); ` +
            'give a policy directory (config.json, model.safetensors, …), a training checkpoint (checkpoints/step-NNNNNN) or a run directory',
          { cause: error },
        );
      throw error;
    }
    container.bind(Policy).toConstantValue(policy);
  }
  const { data } = config;
  const loaded: JsonlPromptDataset[] = [];
  if (!container.isBound(PromptDataset) && data.train) {
    loaded.push(new JsonlPromptDataset(configPath(config, data.train), { promptField: data.promptField }));
    container.bind(PromptDataset).toConstantValue(loaded.at(-1)!);
  }
  if (!container.isBound(EvalDataset) && data.eval) {
    loaded.push(new JsonlPromptDataset(configPath(config, data.eval), { promptField: data.promptField }));
    container.bind(EvalDataset).toConstantValue(loaded.at(-1)!);
  }
  if (loaded.length) {
    // Prompts that cannot be rendered (`messages` without a chat template) or are too long for the
    // model are reported now, with their line, not when drawn mid-run.
    const policy = await container.getAsync<Policy>(Policy);
    const render = (row: DatasetRow) => renderPrompt(data.promptTemplate, row, data.promptField, { tokenizer: policy.tokenizer, ...data.chat });
    const encode = (prompt: string) => policy.encodePrompt(prompt);
    const max = policy.maxSeqLen;
    for (const dataset of loaded)
      dataset.checkPrompts(
        render,
        max === undefined ? undefined : { encode, maxTokens: max - 1, what: `the policy's maxSeqLen (${max}) less one token to generate` },
      );
  }
  return container;
}

export interface PreparedRun {
  container: Container;
  trainer: Trainer;
  checkpointer: DirectoryCheckpointer;
  /** metrics.jsonl / samples.jsonl writer, truncated to the resumed step. */
  metrics: JsonlMetricsSink;
  outputDir: string;
  /** Step the run resumed from (0 for a fresh run). */
  resumedFrom: number;
  /** The lock on `outputDir` this run holds until `release()` or the process exits. */
  lock: RunLock;
  /** Releases the lock on `outputDir` (idempotent). */
  release(): void;
  /** What `<outputDir>/config.json` now records: the config, versions, seed and backend. */
  record: RunRecord;
  /** On resume: keys whose value differs from the run's recorded config (training changes only when allowed). */
  configChanges: readonly ConfigChange[];
}

export interface PrepareRunOptions {
  /** Continue from the latest checkpoint of `outputDir`, with the config the run recorded. */
  resume?: boolean;
  /** On resume, accept a config that differs from the recorded one in keys that change training. */
  allowConfigChange?: boolean;
  /** Versions to record besides core's, tfjs-core's and the plugins' (e.g. `{ '@grpo/cli': '0.1.0' }`). */
  versions?: Readonly<Record<string, string>>;
}

/**
 * A training run from a resolved config; with `resume`, restored from the latest checkpoint of
 * `outputDir` after comparing the config with the one the run recorded in `config.json` (a change
 * that alters training is refused unless `allowConfigChange`). Writes `config.json`. The run holds
 * a lock on `outputDir` (`RunLockedError` when another live run holds it); it is released by
 * `release()` or when the process exits.
 */
export async function prepareRun(config: ResolvedConfig, options: PrepareRunOptions = {}): Promise<PreparedRun> {
  const outputDir = configPath(config, config.outputDir);
  // First, before any work: another run on this directory is refused at once.
  const lock = await lockRunDirectory(outputDir, { command: `grpo train${options.resume ? ' --resume' : ''} (${config.source})` });
  try {
    const record = runRecord(config, options.versions);
    let changes: ConfigChange[] = [];
    if (options.resume) {
      const recorded = await readRunRecord(outputDir);
      if (recorded) {
        changes = configChanges(recorded.config, record.config, configDefaults(config));
        const training = changes.filter((c) => c.training);
        if (training.length > 0 && !options.allowConfigChange) throw new ConfigChangeError(path.join(outputDir, RUN_CONFIG_FILE), training);
      }
    }
    const container = await prepareContainer(config);
    const checkpointer = new DirectoryCheckpointer(path.join(outputDir, 'checkpoints'));
    const trainer = await Trainer.fromContainer(container);
    let resumedFrom = 0;
    if (options.resume) {
      const latest = await checkpointer.latest();
      if (!latest) throw new GrpoError(`--resume: no complete checkpoint under ${checkpointer.root}`);
      resumedFrom = (await checkpointer.restore(latest, trainer)).step;
    }
    const metrics = new JsonlMetricsSink(outputDir, { resumeStep: resumedFrom });
    await metrics.open();
    await mkdir(outputDir, { recursive: true });
    // Written aside and renamed: a crash mid-write never leaves a torn record for the next --resume to compare with.
    const recordFile = path.join(outputDir, RUN_CONFIG_FILE);
    await writeFile(`${recordFile}.tmp`, `${JSON.stringify(record, null, 2)}\n`);
    await rename(`${recordFile}.tmp`, recordFile);
    return { container, trainer, checkpointer, metrics, outputDir, resumedFrom, record, configChanges: changes, lock, release: () => lock.release() };
  } catch (error) {
    lock.release();
    throw error;
  }
}
