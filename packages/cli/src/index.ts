import { Command, CommanderError } from 'commander';
import { configToJson, GrpoError, loadConfig, type ResolvedConfig } from '@grpo/core';

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

const defaultIo: CliIo = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

interface ConfigFlags {
  config?: string;
  cwd?: string;
}

async function resolveFromFlags(flags: ConfigFlags): Promise<ResolvedConfig> {
  return loadConfig({ cwd: flags.cwd, configFile: flags.config });
}

/** Builds the `grpo` command tree. Actions write through `io` so tests can capture output. */
export function buildProgram(io: CliIo = defaultIo): Command {
  const program = new Command('grpo')
    .description('GRPO.ts: train language models with Group Relative Policy Optimization')
    .version('0.1.0', '-v, --version')
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
  ).action(async (flags: ConfigFlags) => {
    const resolved = await resolveFromFlags(flags);
    io.out(`${JSON.stringify(configToJson(resolved), null, 2)}\n`);
  });
  withConfigFlags(
    config
      .command('validate')
      .description('check the config and its plugins; exit code 2 when invalid')
      .addHelpText('after', '\nExamples:\n  $ grpo config validate\n  $ grpo config validate -c .grporc.yaml'),
  ).action(async (flags: ConfigFlags) => {
    const resolved = await resolveFromFlags(flags);
    io.out(`config OK: ${resolved.source} (${resolved.plugins.length} plugin${resolved.plugins.length === 1 ? '' : 's'})\n`);
  });

  program.addHelpText(
    'after',
    '\nExamples:\n  $ grpo config print           show the resolved config\n  $ grpo config validate        check a config file\n',
  );
  return program;
}

/** Runs the CLI and returns the process exit code: 0 ok, 1 failure, 2 bad config or usage. */
export async function main(argv: readonly string[], io: CliIo = defaultIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version "fail" with exit code 0.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof GrpoError) {
      io.err(`grpo: ${error.message}\n`);
      return error.exitCode;
    }
    io.err(`grpo: unexpected error: ${(error as Error).stack ?? String(error)}\n`);
    return 1;
  }
}
