import type { Command } from 'commander';
import type { ResolvedConfig } from '../plugin/types.js';

/** Where a command writes: standard output and error (tests capture them). */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

/** What the CLI lends its commands. */
export interface CliContext {
  /**
   * The config the command line points at (`--config`, `--cwd`, `--plugin`), resolved as
   * `grpo train` resolves it: the CLI's default plugins first. Pass the command's
   * `optsWithGlobals()`; a missing config file is an error that says how to make one.
   */
  loadConfig(flags: { config?: string; cwd?: string; plugin?: string[] }): Promise<ResolvedConfig>;
}

export const CliCommand = Symbol.for('grpo.CliCommand');
/**
 * A `grpo` subcommand a plugin ships (the reward-model plugin's `grpo rm`). The CLI adds the
 * commands of the config's plugins (and of `--plugin <name>`) to its own.
 */
export interface CliCommand {
  readonly name: string;
  /** The command (with its subcommands), built with commander; actions write through `io`. */
  create(io: CliIo, context: CliContext): Command;
}
