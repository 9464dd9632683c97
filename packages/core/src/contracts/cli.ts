import type { Command } from 'commander';

/** Where a command writes: standard output and error (tests capture them). */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

export const CliCommand = Symbol.for('grpo.CliCommand');
/**
 * A `grpo` subcommand a plugin ships (the reward-model plugin's `grpo rm`). The CLI adds the
 * commands of the config's plugins (and of `--plugin <name>`) to its own.
 */
export interface CliCommand {
  readonly name: string;
  /** The command (with its subcommands), built with commander; actions write through `io`. */
  create(io: CliIo): Command;
}
