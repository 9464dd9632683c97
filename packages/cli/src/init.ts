/** `grpo init <dir> --template <name>`: the create-grpo scaffolder behind a grpo command. */
import type { Command } from 'commander';
import { GrpoError } from '@grpo/core';
import { listTemplates, nextSteps, scaffold, ScaffoldError, type ScaffoldOptions } from 'create-grpo';

export interface InitFlags {
  template: string;
  force?: boolean;
  name?: string;
  grpoSource?: string;
  registry?: boolean;
  cwd?: string;
  /** Tests point this at a folder of their own templates. */
  templatesDir?: string;
}

/** Scaffolds a project; a `ScaffoldError` becomes a `GrpoError` (printed without a stack, exit code 1). */
export async function initCommand(dir: string, flags: InitFlags, out: (text: string) => void): Promise<void> {
  const options: ScaffoldOptions = {
    target: dir,
    template: flags.template,
    force: flags.force,
    name: flags.name,
    cwd: flags.cwd,
    templatesDir: flags.templatesDir,
    ...(flags.registry ? { grpoSource: null } : flags.grpoSource !== undefined ? { grpoSource: flags.grpoSource } : {}),
  };
  try {
    out(nextSteps(await scaffold(options), flags.cwd ?? process.cwd()));
  } catch (error) {
    if (error instanceof ScaffoldError) throw new GrpoError(error.message, { cause: error });
    throw error;
  }
}

/** Adds `init` to the `grpo` program. */
export function registerInit(program: Command, out: (text: string) => void): void {
  let names = '';
  try {
    names = listTemplates()
      .map((t) => t.name)
      .join(', ');
  } catch {
    names = '(none found)';
  }
  program
    .command('init')
    .argument('<dir>', 'directory to create the project in (must be empty unless --force)')
    .description('create a project from a template: config, plugin code, tests, build and train scripts')
    .option('-t, --template <name>', `template: ${names}`, 'math-reasoning')
    .option('-f, --force', 'replace the contents of a non-empty directory (.git is kept)')
    .option('--name <pkg>', 'npm package name (default: the directory name)')
    .option('--grpo-source <repo>', 'GRPO.ts checkout to link @grpo/* from as file: dependencies (default: the one this CLI runs from)')
    .option('--registry', 'depend on published @grpo/* (^0.1.0) even when run from a checkout')
    .option('--cwd <dir>', 'resolve <dir> against this directory instead of the current one')
    .addHelpText(
      'after',
      '\nExamples:\n  $ grpo init my-run\n  $ grpo init my-reward --template custom-reward\n  $ grpo init . --template custom-estimator --force',
    )
    .action((dir: string, flags: InitFlags) => initCommand(dir, flags, out));
}
