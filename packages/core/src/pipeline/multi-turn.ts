/**
 * Multi-turn rollouts: the model writes a turn, the environment answers, its observation's tokens
 * are appended, and the model continues from the exact ids so far (token in, token out). Each
 * trajectory is one `Completion` whose `mask` marks the model's tokens (1) and the environment's
 * (0) and whose `turns` keep the per-turn rewards; the estimators see one trajectory per sample
 * and the objective leaves the environment's tokens out of the loss.
 *
 * With an engine that opens turn sessions (`RolloutEngine.openTurns`, the in-process policy's)
 * the KV cache carries from one turn to the next: a turn prefills only the last sampled token and
 * the observation on top of the trajectory's cache. Other engines re-prefill the whole prefix
 * (prompt + trajectory so far) each turn through `generate` (token ids in, token ids out), and so
 * does `kvCache: false`; both give the same tokens for the same seed.
 */
import type { Environment, EnvironmentContext, EnvironmentStep } from '../contracts/environment.js';
import type { SamplingOptions, TurnSession } from '../contracts/policy.js';
import type { RewardFunction } from '../contracts/reward.js';
import type { GenerationRequest, RolloutEngine } from '../contracts/rollout.js';
import type { Tokenizer } from '../contracts/tokenizer.js';
import { EnvironmentError, errorMessage, GrpoError } from '../errors.js';
import type { Completion, DatasetRow, FinishReason, Rollout, TrajectoryTurn } from '../records.js';
import { Rng } from '../util/rng.js';
import { mean } from '../util/stats.js';

/** How a run talks with its environment: `generation.environment` plus the reward fault policy. */
export interface EnvironmentRunOptions {
  /** Model turns at most. */
  maxTurns: number;
  /** Tokens of a trajectory at most: the model's and the environment's together, the prompt not counted. */
  maxTokens: number;
  /** Per call of `reset` or `step`. */
  timeoutMs: number;
  /** `rewards.onError`: `raise` stops with an `EnvironmentError`; `penalty` ends the trajectory and scores it `rewards.penalty`. */
  onError: 'raise' | 'penalty';
  /** Stops the calls in flight. */
  signal?: AbortSignal;
}

export interface MultiTurnContext {
  engine: RolloutEngine;
  environment: Environment;
  /** Encodes observations (no BOS or EOS added) and decodes a turn cut to the token budget. */
  tokenizer: Pick<Tokenizer, 'encode' | 'decode'>;
  options: EnvironmentRunOptions;
  /** The policy's context length (`Policy.maxSeqLen`): a trajectory ends ('length') before prompt + trajectory would pass it. */
  maxSeqLen?: number;
  /** Carry the KV cache across turns when the engine can (`RolloutEngine.openTurns`); default true. False re-prefills every turn. */
  kvCache?: boolean;
}

/** A prompt of a multi-turn rollout: its dataset row, rendered text and exact ids. */
export interface MultiTurnRequest extends GenerationRequest {
  readonly row: DatasetRow;
}

const preview = (text: string, n = 60) => JSON.stringify(text.length > n ? `${text.slice(0, n)}…` : text);

class TimedOut extends Error {}

/**
 * One environment call under a timeout. Its `signal` fires at the timeout or when `outer` fires.
 * A synchronous call cannot be interrupted: one that returns late counts as timed out.
 */
async function callEnvironment<T>(call: (signal: AbortSignal) => T | Promise<T>, ms: number, outer?: AbortSignal): Promise<T> {
  if (outer?.aborted) throw new TimedOut('the rollout was stopped');
  const controller = new AbortController();
  const stop = () => controller.abort(outer?.reason);
  outer?.addEventListener('abort', stop, { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const started = performance.now();
  try {
    const value = await Promise.race([
      Promise.resolve().then(() => call(controller.signal)),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const error = new TimedOut(`timed out after ${ms} ms`);
          reject(error);
          controller.abort(error);
        }, ms);
      }),
    ]);
    const took = performance.now() - started;
    if (took > ms) throw new TimedOut(`took ${Math.round(took)} ms, longer than its timeout of ${ms} ms`);
    return value;
  } catch (error) {
    if (controller.signal.aborted && controller.signal.reason instanceof TimedOut) throw controller.signal.reason;
    throw error;
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', stop);
    if (!controller.signal.aborted) controller.abort(new Error('the environment call ended'));
  }
}

/** What `reset` may return: a string or nothing. Returns an error description or the observation. */
function checkReset(value: unknown): string | undefined | { bad: string } {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  return { bad: `reset returned ${describeValue(value)} (expected a string or nothing)` };
}

/** Checks a step's answer; returns it or what is wrong with it. */
function checkStep(value: unknown): EnvironmentStep | { bad: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { bad: `step returned ${describeValue(value)} (expected { done: boolean, observation?: string, reward?: number })` };
  const { done, observation, reward, metrics } = value as Record<string, unknown>;
  if (typeof done !== 'boolean') return { bad: `step returned done = ${describeValue(done)} (expected true or false)` };
  if (observation !== undefined && typeof observation !== 'string')
    return { bad: `step returned observation ${describeValue(observation)} (expected a string)` };
  if (reward !== undefined && (typeof reward !== 'number' || !Number.isFinite(reward)))
    return { bad: `step returned reward ${describeValue(reward)} (expected a finite number)` };
  if (metrics !== undefined) {
    if (typeof metrics !== 'object' || metrics === null) return { bad: `step returned metrics ${describeValue(metrics)} (expected { name: number })` };
    for (const [k, v] of Object.entries(metrics))
      if (typeof v !== 'number' || !Number.isFinite(v)) return { bad: `step returned metric '${k}' = ${describeValue(v)}` };
  }
  return value as EnvironmentStep;
}

function describeValue(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean' || value === undefined || value === null) return String(value);
  try {
    const json = JSON.stringify(value);
    return json === undefined ? typeof value : json.length > 80 ? `${json.slice(0, 80)}…` : json;
  } catch {
    return typeof value;
  }
}

interface Episode {
  request: number;
  sample: number;
  context: Omit<EnvironmentContext, 'signal' | 'turn'>;
  ids: number[];
  mask: number[];
  logprobs: number[];
  text: string;
  turns: TrajectoryTurn[];
  done: boolean;
  finish: FinishReason;
}

/**
 * `groupSize` trajectories per request, `[request][g]`. Every sample of a request starts from the
 * same prompt ids; each turn the engine is called once for all live trajectories with the
 * turn's sampling seed (drawn from `sampling.seed`), so a rollout is reproducible from its seed.
 */
export async function multiTurnGenerate(
  requests: readonly MultiTurnRequest[],
  groupSize: number,
  sampling: SamplingOptions,
  context: MultiTurnContext,
): Promise<Completion[][]> {
  const { engine, environment: env, tokenizer, options } = context;
  /** Tokens a trajectory may still grow by: the budget, and the model's context after the prompt. */
  const room = (e: Episode) =>
    Math.min(options.maxTokens - e.ids.length, (context.maxSeqLen ?? Number.POSITIVE_INFINITY) - requests[e.request]!.ids.length - e.ids.length);
  const episodes: Episode[] = requests.flatMap((r, p) =>
    Array.from({ length: groupSize }, (_, g) => ({
      request: p,
      sample: p * groupSize + g,
      context: { row: r.row, sample: p * groupSize + g, state: {} },
      ids: [],
      mask: [],
      logprobs: [],
      text: '',
      turns: [],
      done: false,
      finish: 'length' as FinishReason,
    })),
  );
  const describe = (e: Episode, turn: number, completion?: string) =>
    `sample ${e.sample} (prompt ${preview(requests[e.request]!.text)}${turn > 0 ? `, turn ${turn}` : ''}${completion !== undefined ? `, completion ${preview(completion)}` : ''})`;
  /** One checked environment call; under `penalty` a failure ends the episode and is kept on its last turn. */
  const guarded = async <T>(
    e: Episode,
    turn: number,
    what: string,
    call: (c: EnvironmentContext) => unknown,
    check: (v: unknown) => T | { bad: string },
    completion?: string,
  ) => {
    let message: string;
    try {
      const value = check(await callEnvironment((signal) => call({ ...e.context, turn, signal }), options.timeoutMs, options.signal));
      if (typeof value !== 'object' || value === null || !('bad' in value)) return { value: value as T };
      message = value.bad;
    } catch (error) {
      message = error instanceof TimedOut ? `${what} ${error.message}` : `${what} threw: ${errorMessage(error)}`;
    }
    if (options.onError === 'raise')
      throw new EnvironmentError(
        `Environment '${env.name}': ${message} on ${describe(e, turn, completion)}; fix the environment, raise generation.environment.timeoutMs, ` +
          `or set rewards.onError: 'penalty' to end such trajectories with rewards.penalty`,
      );
    const at = e.ids.length;
    const last = e.turns.at(-1);
    if (last && turn > 0) last.error = message;
    else e.turns.push({ start: at, end: at, observationEnd: at, error: message });
    e.done = true;
    return undefined;
  };
  const append = (e: Episode, ids: readonly number[], mask: 0 | 1, logprobs?: readonly number[]) => {
    for (let t = 0; t < ids.length; t++) {
      e.ids.push(ids[t]!);
      e.mask.push(mask);
      e.logprobs.push(logprobs?.[t] ?? 0);
    }
  };

  await Promise.all(
    episodes.map(async (e) => {
      const first = await guarded(e, 0, 'reset', (c) => env.reset(c.row, c), checkReset);
      if (!first?.value) return;
      const ids = tokenizer.encode(first.value);
      if (ids.length >= room(e)) {
        e.done = true;
        return;
      }
      append(e, ids, 0);
      e.text += first.value;
    }),
  );

  const stop = [...new Set([...(sampling.stop ?? []), ...(env.stop ?? [])])];
  const seeds = new Rng(sampling.seed ?? 0);
  const session = context.kvCache === false ? undefined : engine.openTurns?.();
  try {
    await turns(session);
  } finally {
    session?.dispose();
  }

  const out: Completion[][] = requests.map(() => []);
  for (const e of episodes) out[e.request]!.push({ tokenIds: e.ids, text: e.text, logprobs: e.logprobs, finishReason: e.finish, mask: e.mask, turns: e.turns });
  return out;

  async function turns(session: TurnSession | undefined): Promise<void> {
    for (let turn = 0; turn < options.maxTurns; turn++) {
      for (const e of episodes)
        if (!e.done && room(e) < 1) {
          e.done = true;
          e.finish = 'length';
        }
      const active = episodes.filter((e) => !e.done);
      if (active.length === 0) break;
      const budgets = active.map((e) => Math.min(sampling.maxNewTokens, room(e)));
      const turnSampling = { ...sampling, maxNewTokens: Math.max(...budgets), stop, seed: seeds.seed() };
      const out = session
        ? (
            await session.generate(
              active.map((e) => ({ key: e.sample, ids: [...requests[e.request]!.ids, ...e.ids] })),
              turnSampling,
            )
          ).map((c) => [{ ...c, text: c.text ?? '' }])
        : await engine.generate(
            active.map((e) => {
              const r = requests[e.request]!;
              return { text: r.text + e.text, ids: [...r.ids, ...e.ids], continued: true };
            }),
            1,
            turnSampling,
          );
      if (out.length !== active.length || out.some((c) => c?.length !== 1))
        throw new GrpoError(`rollout engine '${engine.name}' returned ${out.length} groups for ${active.length} trajectories (1 completion each expected)`);
      const turnCompletions = active.map((e, k) => {
        let c = out[k]![0]!;
        // A trajectory with less budget left than the others: its own tokens are the prefix it would have sampled with that limit.
        if (c.tokenIds.length > budgets[k]!) {
          const tokenIds = c.tokenIds.slice(0, budgets[k]);
          c = { tokenIds, logprobs: c.logprobs.slice(0, budgets[k]), text: tokenizer.decode(tokenIds, { skipSpecial: true }), finishReason: 'length' };
        }
        e.turns.push({ start: e.ids.length, end: e.ids.length + c.tokenIds.length, observationEnd: e.ids.length + c.tokenIds.length });
        append(e, c.tokenIds, 1, c.logprobs);
        e.text += c.text;
        e.finish = c.finishReason;
        return c;
      });
      await Promise.all(
        active.map(async (e, k) => {
          const c = turnCompletions[k]!;
          const answered = await guarded(e, turn + 1, `step`, (ctx) => env.step(c.text, ctx), checkStep, c.text);
          if (!answered) return;
          const result = answered.value;
          const record = e.turns.at(-1)!;
          if (result.reward !== undefined) record.reward = result.reward;
          if (result.metrics) record.metrics = { ...result.metrics };
          // The model ended the conversation (EOS), or the environment did: nothing more is appended.
          if (result.done || c.finishReason === 'eos') {
            e.done = true;
            return;
          }
          const observation = result.observation ?? '';
          const ids = observation ? tokenizer.encode(observation) : [];
          // Out of turns or out of tokens (no room left for the observation and one more model token): the trajectory is cut.
          if (turn + 1 >= options.maxTurns || ids.length >= room(e)) {
            e.done = true;
            e.finish = 'length';
            return;
          }
          append(e, ids, 0);
          e.text += observation;
          if (observation) record.observation = observation;
          record.observationEnd = e.ids.length;
        }),
      );
    }
  }
}

/**
 * The start-up check: `reset` and one `step('')` on `row`, each under the timeout, their answers
 * validated. Throws an `EnvironmentError` naming the environment, the call and the row, whatever
 * the fault policy, so a broken environment fails before the first training step.
 */
export async function checkEnvironment(env: Environment, row: DatasetRow, timeoutMs: number): Promise<void> {
  const where = `in its start-up check (reset, then step('') on the first training row, ${preview(String(row.prompt))})`;
  const context = { row, sample: 0, state: {} };
  const run = async (what: string, call: (c: EnvironmentContext) => unknown, check: (v: unknown) => unknown, turn: number) => {
    let value: unknown;
    try {
      value = check(await callEnvironment((signal) => call({ ...context, turn, signal }), timeoutMs));
    } catch (error) {
      throw new EnvironmentError(
        `Environment '${env.name}' ${error instanceof TimedOut ? `${what} ${error.message}` : `${what} threw: ${errorMessage(error)}`} ${where}; fix the environment` +
          (error instanceof TimedOut ? ' or raise generation.environment.timeoutMs' : ''),
      );
    }
    if (typeof value === 'object' && value !== null && 'bad' in value)
      throw new EnvironmentError(`Environment '${env.name}': ${String(value.bad)} ${where}; fix the environment`);
  };
  if (typeof env.name !== 'string' || !env.name) throw new EnvironmentError('An environment has no name; every Environment needs a non-empty `name`');
  if (typeof env.reset !== 'function' || typeof env.step !== 'function')
    throw new EnvironmentError(`Environment '${env.name}' must have reset(row, context) and step(completion, context) methods`);
  await run('reset', (c) => env.reset(row, c), checkReset, 0);
  await run('step', (c) => env.step('', c), checkStep, 1);
}

/**
 * The environment's rewards as a reward function named after it: the sum of a trajectory's turn
 * rewards (null when it gave none), `penalty` for a trajectory the environment failed on.
 */
export function environmentReward(name: string, penalty: number): RewardFunction {
  return {
    name,
    score: ({ turns, completions }) =>
      completions.map((_, i) => {
        const trajectory = turns?.[i];
        if (!trajectory) return null;
        if (trajectory.some((t) => t.error !== undefined)) return penalty;
        const given = trajectory.filter((t) => t.reward !== undefined);
        return given.length ? given.reduce((a, t) => a + t.reward!, 0) : null;
      }),
  };
}

/** `num_turns/mean`, `environment/errors` and the environment's own counts, each a mean per trajectory. */
export function trajectoryMetrics(rollouts: readonly Rollout[]): Record<string, number> {
  const trajectories = rollouts.flatMap((r) => r.completions.map((c) => c.turns)).filter((t): t is TrajectoryTurn[] => t !== undefined);
  if (trajectories.length === 0) return {};
  const metrics: Record<string, number> = {
    'num_turns/mean': mean(trajectories.map((t) => t.filter((turn) => turn.end > turn.start || turn.error === undefined).length)),
    'environment/errors': mean(trajectories.map((t) => (t.some((turn) => turn.error !== undefined) ? 1 : 0))),
  };
  const keys = new Set(trajectories.flatMap((t) => t.flatMap((turn) => Object.keys(turn.metrics ?? {}))));
  for (const key of keys) metrics[key] = mean(trajectories.map((t) => t.reduce((a, turn) => a + (turn.metrics?.[key] ?? 0), 0)));
  return metrics;
}
