import type { ConfigChange } from './run/record.js';

/** Marks the errors of every copy of @grpo/core (see `GrpoError[Symbol.hasInstance]`). */
const GRPO_ERROR = Symbol.for('grpo.GrpoError');

/** Base class for errors users can act on: the CLI prints `message` without a stack trace. */
export class GrpoError extends Error {
  /** Process exit code the CLI uses for this error. */
  readonly exitCode: number = 1;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }

  /**
   * `error instanceof RewardError` holds for a RewardError of another copy of @grpo/core too: tsx
   * compiles a TypeScript config into a module graph of its own, so the plugins it imports throw
   * their copy's classes. Such an error carries the mark and matches by class name.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    if (typeof value !== 'object' || value === null || (value as { [GRPO_ERROR]?: unknown })[GRPO_ERROR] !== true) return false;
    for (let proto: unknown = Object.getPrototypeOf(value); proto; proto = Object.getPrototypeOf(proto))
      if ((proto as { constructor?: { name?: string } }).constructor?.name === this.name) return true;
    return false;
  }
}
Object.defineProperty(GrpoError.prototype, GRPO_ERROR, { value: true });

export interface ConfigIssue {
  /** Dotted path into the config, e.g. `train.groupSize`; empty for the whole file. */
  path: string;
  message: string;
}

/** Every problem of a config at once, each with its path. Exit code 2. */
export class ConfigError extends GrpoError {
  override readonly exitCode = 2;
  constructor(
    readonly source: string,
    readonly issues: readonly ConfigIssue[],
  ) {
    super(`Invalid config (${source}):\n` + issues.map((i) => `  - ${i.path ? `${i.path}: ` : ''}${i.message}`).join('\n'));
  }
}

/** A plugin that cannot load: wrong core version, unmet requirement, bad shape. */
export class PluginError extends GrpoError {
  override readonly exitCode = 2;
}

/** A tensor backend that is not installed or cannot start. */
export class BackendUnavailableError extends GrpoError {}

/** A checkpoint that is missing, corrupt, truncated or does not match the model. */
export class CheckpointError extends GrpoError {}

/** A reward function that threw, timed out, or returned an invalid score. */
export class RewardError extends GrpoError {}

/** A rollout engine that failed, timed out (weight sync, generation) or reported itself unhealthy; the message names the engine. */
export class EngineError extends GrpoError {}

/** A multi-turn environment that threw, timed out, or answered something malformed; names the environment and the sample. */
export class EnvironmentError extends GrpoError {}

/** Bad input data (a dataset line, a training example). */
export class DataError extends GrpoError {}

/**
 * A readable one-line description of anything thrown: an `Error`'s message (its name when the
 * message is empty), and for values that are not errors (`throw null`, `throw 'text'`, `throw {…}`)
 * the value itself, said to be one. Never throws.
 */
export function errorMessage(value: unknown): string {
  try {
    if (value instanceof Error) return value.message || value.name || 'Error';
    const shown =
      typeof value === 'string'
        ? JSON.stringify(value.length > 500 ? `${value.slice(0, 500)}…` : value)
        : typeof value === 'object' && value !== null
          ? (() => {
              const json = JSON.stringify(value);
              return json === undefined ? Object.prototype.toString.call(value) : json.length > 500 ? `${json.slice(0, 500)}…` : json;
            })()
          : String(value);
    return `${shown} (a thrown value that is not an Error)`;
  } catch {
    return 'a thrown value that cannot be shown';
  }
}

/** No config file where one was searched for. Exit code 2. */
export class ConfigNotFoundError extends GrpoError {
  override readonly exitCode = 2;
  constructor(
    /** The directory the search started in. */
    readonly dir: string,
    searched: readonly string[],
  ) {
    super(
      `no config found in ${dir} (looked for ${searched.join(', ')}; the search stops at the nearest package.json). ` +
        'Create a project with `grpo init <dir>` (in a GRPO.ts checkout: `npm run grpo -- init <dir>`), or name a config file with --config <file>.',
    );
  }
}

/** A resume whose config differs from the run's recorded one in keys that change training. Exit code 2. */
export class ConfigChangeError extends GrpoError {
  override readonly exitCode = 2;
  constructor(
    /** The run's `config.json`. */
    readonly file: string,
    readonly changes: readonly ConfigChange[],
  ) {
    super(
      `the config differs from the one this run was trained with (${file}) in ${changes.length === 1 ? 'a key' : `${changes.length} keys`} that change training:\n` +
        changes.map((c) => `  - ${c.key}: ${c.before ?? '(absent)'} → ${c.after ?? '(absent)'}`).join('\n') +
        '\nResume with the same config, or continue with the new one on purpose: grpo train --resume --allow-config-change (prepareRun: allowConfigChange).',
    );
  }
}
