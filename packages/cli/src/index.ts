import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import {
  assembleContainer,
  checkMessages,
  CliCommand,
  ConfigError,
  configToJson,
  DataError,
  errorMessage,
  formatChange,
  GrpoError,
  loadConfig,
  Policy,
  prepareContainer,
  prepareRun,
  resolvePolicyCheckpoint,
  type AccuracyReport,
  type ChatMessage,
  type CliIo,
  type Evaluation,
  type ResolvedConfig,
} from '@grpo/core';
import { LiveReportSink, writeReport } from '@grpo/report';
import { evalCommand, sampleCommand } from './commands.js';
import { defaultPlugins } from './defaults.js';
import { describeRun } from './describe.js';
import { cacheDir, evalCacheKey, readCachedEvaluation, writeCachedEvaluation } from './eval-cache.js';
import { registerInit } from './init.js';
import { stopOnFatalError } from './process.js';
import { evalProgress, ProgressSink, StatusLine } from './progress.js';
import { completionServer, listen } from './serve.js';
import { checkRun } from './validate.js';
import { CLI_VERSION } from './version.js';

export { defaultPlugins, defineConfig, type AlgorithmConfig, type ModelOptions } from './defaults.js';
export { ProgressSink, StatusLine } from './progress.js';

const defaultIo: CliIo = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

interface ConfigFlags {
  config?: string;
  cwd?: string;
  /** `--plugin <name>` (global, repeatable): plugins loaded after the config's. */
  plugin?: string[];
}

/**
 * The config the flags point at, with the CLI's default plugins first and `--plugin`s last.
 * `required`: finding no config file is an error that says so (and how to make one).
 */
async function resolveFromFlags(flags: ConfigFlags, overrides?: Record<string, unknown>, required = false): Promise<ResolvedConfig> {
  return loadConfig({ cwd: flags.cwd, configFile: flags.config, overrides, defaults: defaultPlugins(), extraPlugins: flags.plugin, required });
}

const integer = (min: number) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer ≥ ${min}`);
  return n;
};

/** `--ids 1,403,407`: token ids (integers ≥ 0). */
function tokenIds(value: string): number[] {
  const ids = value.split(',').map((v) => Number(v.trim()));
  if (ids.length === 0 || !ids.every((id) => Number.isInteger(id) && id >= 0) || value.trim() === '')
    throw new InvalidArgumentError('expected comma-separated token ids (integers ≥ 0), e.g. 1,403,407');
  return ids;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** `--messages <file>`: one conversation (an array of messages) or a list of them, checked with the file named in errors. */
async function readConversations(file: string): Promise<ChatMessage[][]> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new DataError(`--messages ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
  if (Array.isArray(json) && json.length > 0 && json.every(Array.isArray)) return json.map((c, i) => checkMessages(c, `--messages ${file} [${i}]`));
  return [checkMessages(json, `--messages ${file}`)];
}

interface EvalFlagsCli {
  checkpoint?: string;
  k?: number;
  limit?: number;
  split?: string;
}

interface ServeFlagsCli extends ConfigFlags {
  checkpoint?: string;
  host: string;
  port: number;
  model?: string;
}

interface SampleFlagsCli extends ConfigFlags {
  checkpoint?: string;
  prompt?: string[];
  chat?: string[];
  system?: string;
  messages?: string[];
  ids?: number[][];
  json?: boolean;
  n: number;
  temperature?: number;
  maxNewTokens?: number;
  seed?: number;
}

interface TrainFlags extends ConfigFlags {
  resume?: boolean;
  allowConfigChange?: boolean;
  steps?: number;
  output?: string;
  backend?: string;
  seed?: number;
  /** `--no-eval` sets it false: no evaluation before or after training. */
  eval?: boolean;
  /** `--no-eval-cache` sets it false: compute the "before" figures even when cached. */
  evalCache?: boolean;
}

/** A second SIGINT within this many ms of the first is the same key press (npm forwards the terminal's SIGINT again). */
const SAME_PRESS_MS = 250;

const fmtAccuracy = (r: AccuracyReport) =>
  `greedy accuracy ${(r.greedy * 100).toFixed(1)}%` +
  (r.k > 0 ? `, maj@${r.k} ${(r.majAtK * 100).toFixed(1)}%, pass@${r.k} ${(r.passAtK * 100).toFixed(1)}%` : '') +
  ` on ${r.n} held-out prompts`;

/** `grpo train`: runs GRPO from a config; Ctrl-C saves a checkpoint and exits, a second Ctrl-C exits at once. */
async function trainCommand(flags: TrainFlags, io: CliIo): Promise<void> {
  const overrides: Record<string, unknown> = {};
  if (flags.steps !== undefined) overrides.train = { steps: flags.steps };
  if (flags.output !== undefined) overrides.outputDir = flags.output;
  if (flags.backend !== undefined) overrides.backend = flags.backend;
  if (flags.seed !== undefined) overrides.seed = flags.seed;
  if (flags.eval === false) overrides.eval = { before: false, after: false };
  const config = await resolveFromFlags(flags, overrides, true);
  const run = await prepareRun(config, { resume: flags.resume, allowConfigChange: flags.allowConfigChange, versions: { '@grpo/cli': CLI_VERSION } });
  const { trainer } = run;
  if (run.resumedFrom > 0) io.out(`resumed from step ${run.resumedFrom}\n`);
  const changed = run.configChanges.filter((c) => c.training);
  if (changed.length > 0) io.out(`resuming with a changed config (--allow-config-change): ${changed.map(formatChange).join('; ')}\n`);
  io.out(`${describeRun(trainer.describe(), config.algorithm?.kl.estimator)}\n`);
  const line = new StatusLine(process.stderr, io.err);
  const hasEval = trainer.hasEvalDataset;
  const evaluate = async (label: string) => {
    const progress = evalProgress(line, label);
    try {
      return await trainer.evaluate({ requireAccuracy: true, onProgress: progress.onProgress });
    } finally {
      progress.done();
    }
  };
  let beforeRun: Evaluation | undefined;
  if (hasEval && run.resumedFrom === 0 && config.eval.before) {
    // An unchanged starting checkpoint with an unchanged evaluation gives the same figures: reuse them.
    const dir = cacheDir(config);
    const key = flags.evalCache === false ? undefined : await evalCacheKey(run, config);
    const cached = key ? await readCachedEvaluation(dir, key) : undefined;
    beforeRun = cached?.evaluation ?? (await evaluate('eval before'));
    if (!cached && key) await writeCachedEvaluation(dir, key, beforeRun).catch(() => undefined);
    if (beforeRun.accuracy)
      io.out(`eval before: ${fmtAccuracy(beforeRun.accuracy)}${cached ? ' (cached: same checkpoint and evaluation; --no-eval-cache recomputes)' : ''}\n`);
  }
  const before = beforeRun?.accuracy;
  if (beforeRun && before) await run.metrics.log(0, beforeRun.metrics);

  const controller = new AbortController();
  let firstPress = 0;
  const progress = new ProgressSink(config.train.steps, run.resumedFrom, line);
  const onSigint = () => {
    const now = Date.now();
    if (firstPress === 0) {
      firstPress = now;
      line.message('stopping after this step and saving a checkpoint (press Ctrl-C again to exit now)');
      controller.abort();
    } else if (now - firstPress > SAME_PRESS_MS) {
      line.done();
      process.exit(130);
    }
  };
  process.on('SIGINT', onSigint);
  const stopOnError = stopOnFatalError(() => controller.abort());
  try {
    const result = await trainer.train({
      signal: controller.signal,
      checkpointer: run.checkpointer,
      sinks: [run.metrics, new LiveReportSink(run.outputDir), progress],
    });
    if (result.checkpoint) io.out(`checkpoint: ${result.checkpoint}\n`);
    if (result.stopped) {
      io.out(`stopped at step ${trainer.step}; continue with --resume\n`);
      return;
    }
    const afterRun = hasEval && config.eval.after ? await evaluate('eval after') : undefined;
    const after = afterRun?.accuracy;
    if (afterRun && after) {
      io.out(`eval after: ${fmtAccuracy(after)}\n`);
      await run.metrics.log(trainer.step - 1, afterRun.metrics);
    }
    io.out(`report: ${await writeReport(run.outputDir)}\n`);
    io.out(`run directory: ${run.outputDir}\n`);
    if (before && after) {
      const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
      io.out(`accuracy before ${pct(before.greedy)} after ${pct(after.greedy)}`);
      if (after.k > 0) io.out(` (maj@${after.k} ${pct(before.majAtK)} → ${pct(after.majAtK)}, pass@${after.k} ${pct(before.passAtK)} → ${pct(after.passAtK)})`);
      io.out('\n');
    }
  } finally {
    stopOnError();
    process.off('SIGINT', onSigint);
    trainer.dispose();
    run.release();
  }
}

/**
 * Builds the `grpo` command tree: the built-in commands and `commands` contributed by plugins.
 * Actions write through `io` so tests can capture output.
 */
export function buildProgram(io: CliIo = defaultIo, commands: readonly CliCommand[] = []): Command {
  const program = new Command('grpo')
    .description('GRPO.ts: train language models with Group Relative Policy Optimization')
    .version(CLI_VERSION, '-v, --version')
    .option(
      '--plugin <name>',
      "load a plugin after the config's (a package name as in JSON configs, e.g. reward-model), with its commands; repeatable",
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showHelpAfterError()
    .exitOverride();

  const withConfigFlags = (cmd: Command) =>
    cmd
      .option('-c, --config <file>', 'load this config file instead of searching for one')
      .option('--cwd <dir>', 'directory to search for a config (default: current directory)');

  const config = program.command('config').description('inspect the resolved configuration');
  withConfigFlags(
    config
      .command('print')
      .description('print the resolved config (defaults filled in, plugins by name) as JSON')
      .addHelpText('after', '\nExamples:\n  $ grpo config print\n  $ grpo config print --config grpo.config.ts'),
  ).action(async (_flags: ConfigFlags, cmd: Command) => {
    const resolved = await resolveFromFlags(cmd.optsWithGlobals<ConfigFlags>());
    io.out(`${JSON.stringify(configToJson(resolved), null, 2)}\n`);
  });
  withConfigFlags(
    config
      .command('validate')
      .description('check the config and its plugins; exit code 2 when invalid')
      .addHelpText('after', '\nExamples:\n  $ grpo config validate\n  $ grpo config validate -c .grporc.yaml'),
  ).action(async (_flags: ConfigFlags, cmd: Command) => {
    const resolved = await resolveFromFlags(cmd.optsWithGlobals<ConfigFlags>(), undefined, true);
    // Resolve plugins and names as train does (the container assembles; nothing loads weights).
    const check = await checkRun(resolved);
    if (check.issues.length > 0) throw new ConfigError(resolved.source, check.issues);
    const names = resolved.plugins.map((p) => p.meta.name);
    io.out(`config OK: ${resolved.source} (${names.length} plugin${names.length === 1 ? '' : 's'}: ${names.join(', ')})\n`);
    if (check.summary) io.out(`${describeRun(check.summary, resolved.algorithm?.kl.estimator)}\n`);
    for (const note of check.unchecked) io.out(`not checked without loading: ${note}\n`);
  });

  withConfigFlags(
    program
      .command('train')
      .description('train a policy with GRPO from a config (checkpoints, metrics.jsonl, Ctrl-C saves and stops)')
      .option('--resume', 'continue from the latest checkpoint in the output directory')
      .option('--allow-config-change', 'with --resume: continue although the config changes training (the run records the new one)')
      .option('--no-eval', 'skip the evaluation before and after training (eval.before / eval.after)')
      .option('--no-eval-cache', 'evaluate the starting policy even when its figures are cached')
      .option('--steps <n>', 'override train.steps', integer(1))
      .option('-o, --output <dir>', 'override outputDir')
      .option('--backend <name>', "override backend ('wasm', 'cpu', 'native', 'tfjs-node', 'tfjs-node-gpu')")
      .option('--seed <n>', 'override seed', integer(0))
      .addHelpText(
        'after',
        '\nExamples:\n  $ grpo train\n  $ grpo train --config grpo.config.ts --steps 200 -o runs/try1\n  $ grpo train -o runs/try1 --resume\n  $ grpo train --steps 20 --no-eval',
      ),
  ).action((_flags: TrainFlags, cmd: Command) => trainCommand(cmd.optsWithGlobals<TrainFlags>(), io));

  // A policy directory, a training checkpoint (its policy/) or a run directory (its latest checkpoint).
  const checkpointOverride = async (flags: ConfigFlags & { checkpoint?: string }) => {
    if (!flags.checkpoint) return undefined;
    const dir = path.resolve(flags.cwd ?? process.cwd(), flags.checkpoint);
    return { policy: { checkpoint: await resolvePolicyCheckpoint(dir, { option: '--checkpoint', given: flags.checkpoint }) } };
  };
  withConfigFlags(
    program
      .command('eval')
      .description('greedy accuracy, maj@k and pass@k of a policy on the evaluation set (judged by the accuracy reward)')
      .option(
        '--checkpoint <dir>',
        'evaluate this policy instead of policy.checkpoint: a checkpoint, a run directory (its latest) or a Hugging Face model directory',
      )
      .option('-k <n>', 'samples per prompt for maj@k and pass@k (0 = greedy only)', integer(0))
      .option('--limit <n>', 'evaluate at most n prompts', integer(1))
      .option('--split <name>', "'eval' (default) or 'train'")
      .addHelpText(
        'after',
        '\nExamples:\n  $ grpo eval\n  $ grpo eval --checkpoint runs/try1 -k 8 --limit 200\n  $ grpo eval --checkpoint runs/try1/checkpoints/step-000020 -k 0',
      ),
  ).action(async (_flags: ConfigFlags & EvalFlagsCli, cmd: Command) => {
    const flags = cmd.optsWithGlobals<ConfigFlags & EvalFlagsCli>();
    if (flags.split !== undefined && flags.split !== 'eval' && flags.split !== 'train') throw new InvalidArgumentError("--split must be 'eval' or 'train'");
    const config = await resolveFromFlags(flags, await checkpointOverride(flags), true);
    const progress = evalProgress(new StatusLine(process.stderr, io.err), 'eval');
    try {
      await evalCommand(
        config,
        { k: flags.k, limit: flags.limit, split: flags.split as 'eval' | 'train' | undefined, onProgress: progress.onProgress },
        io.out,
      );
    } finally {
      progress.done();
    }
  });
  withConfigFlags(
    program
      .command('sample')
      .description('generate completions from a policy (e.g. a checkpoint) for the given prompts')
      .option(
        '--checkpoint <dir>',
        'sample from this policy instead of policy.checkpoint: a checkpoint, a run directory (its latest) or a Hugging Face model directory',
      )
      .option('-p, --prompt <text>', 'a prompt (repeat for several)', (v: string, prev: string[] = []) => [...prev, v])
      .option(
        '--ids <list>',
        'a prompt as comma-separated token ids, used as they are (no BOS added; repeat for several)',
        (v: string, prev: number[][] = []) => [...prev, tokenIds(v)],
      )
      .option('--chat <text>', "a user message, rendered with the model's chat template up to the assistant's turn (repeat for several)", collect)
      .option('--system <text>', 'a system message put before every --chat message')
      .option('--messages <file>', 'a JSON file with a conversation ([{"role","content"}, …]) or a list of them, rendered like --chat (repeatable)', collect)
      .option('--json', 'print {"completions":[{"tokenIds","text","finishReason"}, …]} (one per prompt and sample, prompt-major)')
      .option('-n <n>', 'completions per prompt', integer(1), 1)
      .option('-t, --temperature <t>', 'sampling temperature (0 = greedy)', (v: string) => {
        const t = Number(v);
        if (!(t >= 0)) throw new InvalidArgumentError('expected a number ≥ 0');
        return t;
      })
      .option('--max-new-tokens <n>', 'override generation.maxNewTokens', integer(1))
      .option('--seed <n>', 'sampling seed', integer(0))
      .addHelpText(
        'after',
        '\nExamples:\n  $ grpo sample --checkpoint plugins/math-task/checkpoints/sft -p "a bus has 26 kids. 21 get off, 32 get on. how many now?\\n" -t 0\n' +
          '  $ grpo sample --checkpoint runs/main -p "sam has 18 coins. he wins 42, loses 53. how many now?\\n" -n 4\n' +
          '  $ grpo sample --checkpoint ../shared/models/stories260k --ids 1,403,407 --temperature 0 --max-new-tokens 48 --json\n' +
          '  $ grpo sample --checkpoint models/Qwen3-0.6B --system "Answer briefly." --chat "What is 2+3?" -t 0\n' +
          '  $ grpo sample --checkpoint models/Qwen3-0.6B --messages conversation.json -n 2\n' +
          '(the shipped policy answers the built-in math task: a question, then "\\n"; it writes one step per line and "#### <answer>")',
      ),
  ).action(async (_flags: SampleFlagsCli, cmd: Command) => {
    const flags = cmd.optsWithGlobals<SampleFlagsCli>();
    const config = await resolveFromFlags(flags, await checkpointOverride(flags), !flags.checkpoint);
    const unescape = (p: string) => p.replace(/\\n/g, '\n');
    const prompts = (flags.prompt ?? []).map(unescape);
    const system = flags.system === undefined ? [] : [{ role: 'system', content: unescape(flags.system) }];
    const chat = [
      ...(flags.chat ?? []).map((text) => [...system, { role: 'user', content: unescape(text) }]),
      ...(await Promise.all((flags.messages ?? []).map(readConversations))).flat(),
    ];
    await sampleCommand(
      config,
      {
        prompt: prompts,
        chat,
        ids: flags.ids,
        n: flags.n,
        temperature: flags.temperature,
        maxNewTokens: flags.maxNewTokens,
        seed: flags.seed,
        json: flags.json,
      },
      io.out,
    );
  });

  withConfigFlags(
    program
      .command('serve')
      .description('serve a policy (e.g. a checkpoint) over an OpenAI-compatible HTTP API: /v1/completions with token ids and logprobs')
      .option(
        '--checkpoint <dir>',
        'serve this policy instead of policy.checkpoint: a checkpoint, a run directory (its latest) or a Hugging Face model directory',
      )
      .option('--host <host>', 'address to listen on (loopback by default)', '127.0.0.1')
      .option('--port <n>', 'port to listen on (0 picks a free one)', integer(0), 8000)
      .option('--model <name>', 'the model name clients send (default: the checkpoint directory name, else "grpo")')
      .addHelpText(
        'after',
        '\nExamples:\n  $ grpo serve --checkpoint plugins/math-task/checkpoints/sft --port 8000\n' +
          '  $ curl -s localhost:8000/v1/completions -d \'{"prompt":[1,403,407],"max_tokens":8,"logprobs":0,"return_token_ids":true}\'\n' +
          '(docs/engines.md lists the request fields it covers; POST /update_weights_from_disk {"model_path": dir} reloads weights)',
      ),
  ).action(async (_flags: ServeFlagsCli, cmd: Command) => {
    const flags = cmd.optsWithGlobals<ServeFlagsCli>();
    const config = await resolveFromFlags(flags, await checkpointOverride(flags), !flags.checkpoint);
    const policy = await (await prepareContainer(config)).getAsync<Policy>(Policy);
    const model = flags.model ?? (flags.checkpoint ? path.basename(path.resolve(flags.checkpoint)) : 'grpo');
    const server = completionServer(policy, { model, maxTokens: config.generation.maxNewTokens, seed: config.seed, log: (line) => io.err(`${line}\n`) });
    const url = await listen(server, flags.host, flags.port);
    io.out(`grpo serve: ${model} on ${url} (Ctrl-C stops)\n`);
    await new Promise<void>((resolve) => {
      const stop = () => server.close(() => resolve());
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    policy.dispose();
  });

  for (const contributed of commands) {
    if (program.commands.some((c) => c.name() === contributed.name))
      throw new GrpoError(`a plugin contributes the command '${contributed.name}', which grpo already has`);
    const command = contributed.create(io, { loadConfig: (flags) => resolveFromFlags(flags, undefined, true) });
    // Help and usage errors of a plugin's command go through `io` too, like the built-in commands'.
    for (const c of [command, ...command.commands]) c.configureOutput({ writeOut: io.out, writeErr: io.err });
    program.addCommand(command.exitOverride());
  }

  program
    .command('report')
    .argument('<run-dirs...>', 'training run directories (each holds metrics.jsonl); several are overlaid in one report')
    .description('rebuild report.html (charts of every metric, config, sample completions) from a run directory, or compare runs')
    .option('-o, --out <file>', 'write the report here instead of <run-dir>/report.html (several runs: report-<a>-vs-<b>.html)')
    .addHelpText('after', '\nExamples:\n  $ grpo report runs/latest\n  $ grpo report runs/try1 -o /tmp/try1.html\n  $ grpo report runs/lr-1e-4 runs/lr-3e-4')
    .action(async (runDirs: string[], flags: { out?: string }) => {
      io.out(`report: ${await writeReport(runDirs, { out: flags.out })}\n`);
    });

  registerInit(program, io.out);

  program.addHelpText(
    'after',
    '\nExamples:\n  $ grpo train                  train from the config in this directory\n  $ grpo config print           show the resolved config\n  $ grpo config validate        check a config file\n',
  );
  return program;
}

/** Commands whose parsing needs no plugin: everything else may be a plugin's. */
const BUILT_IN = new Set(['train', 'eval', 'sample', 'serve', 'report', 'init', 'config']);

/** `--config`, `--cwd` and `--plugin` wherever they are in `argv`, and the command named first. */
function scan(argv: readonly string[]): ConfigFlags & { command?: string } {
  const flags: ConfigFlags & { command?: string } = {};
  for (let i = 0; i < argv.length; i++) {
    const [name, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i];
    if (name === '-c' || name === '--config') flags.config = value();
    else if (name === '--cwd') flags.cwd = value();
    else if (name === '--plugin') flags.plugin = [...(flags.plugin ?? []), value() ?? ''];
    else if (!name.startsWith('-') && flags.command === undefined) flags.command = name;
  }
  return flags;
}

/** The CLI commands of the config's plugins (and `--plugin`s). Assembling the container binds but computes nothing. */
async function pluginCommands(flags: ConfigFlags): Promise<CliCommand[]> {
  const container = await assembleContainer(await resolveFromFlags(flags));
  return container.getAllAsync<CliCommand>(CliCommand, { optional: true });
}

/** Runs the CLI and returns the process exit code: 0 ok, 1 failure, 2 bad config or usage. */
export async function main(argv: readonly string[], io: CliIo = defaultIo): Promise<number> {
  const flags = scan(argv);
  let commands: CliCommand[] = [];
  let discovery: unknown;
  if (!BUILT_IN.has(flags.command ?? '')) {
    try {
      commands = await pluginCommands(flags);
    } catch (error) {
      discovery = error;
    }
  }
  try {
    // A command the program does not know may belong to a plugin that failed to load: say why.
    if (discovery && flags.command && flags.command !== 'help') throw discovery;
    const program = buildProgram(io, commands);
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.unknownCommand')
        io.err(
          "Commands of plugins are there when the plugin is in the config's plugins or given with --plugin <name> (e.g. `grpo --plugin reward-model rm`).\n",
        );
      // --help and --version "fail" with exit code 0.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof GrpoError) {
      io.err(`grpo: ${error.message}\n`);
      return error.exitCode;
    }
    io.err(`grpo: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : errorMessage(error)}\n`);
    return 1;
  }
}
