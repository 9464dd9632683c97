/** Base class for errors users can act on: the CLI prints `message` without a stack trace. */
export class GrpoError extends Error {
  /** Process exit code the CLI uses for this error. */
  readonly exitCode: number = 1;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

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
