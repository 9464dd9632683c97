import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Checkpointable, Checkpointer, OptimizerState } from '../contracts/checkpoint.js';
import type { Stateful } from '../contracts/state.js';
import { fsyncPath, readJsonFile, readSafetensorsFile, syncTree, writeFileSynced } from '../checkpoint/directory.js';
import { encodeSafetensors, type StTensor } from '../checkpoint/safetensors.js';
import { CheckpointError, errorMessage } from '../errors.js';
import type { TrainerState } from '../records.js';
import { Rng } from '../util/rng.js';

const FORMAT = 'grpo-trainer-checkpoint';
const NAME = /^step-(\d{6,})$/;

interface TrainerFile {
  format: typeof FORMAT;
  /** 2: parts with state under `components/<name>/`. 1 (read only): hooks under `hooks/<name>/`, a critic under `critic/`. */
  version: 1 | 2;
  state: TrainerState;
  hasReference: boolean;
  /** Names of the parts (hooks, update participants) whose state is saved. */
  components?: string[];
  /** Version 1: names of the hooks whose state is under `hooks/`. */
  hooks?: string[];
  /** Version 1: a PPO critic under `critic/`. */
  hasCritic?: boolean;
}

/** Writes optimizer moments (and step counts) as safetensors, fsynced; a failed write is a `CheckpointError` naming the file. */
export async function writeOptimizerState(file: string, optimizer: OptimizerState): Promise<void> {
  const tensors: Record<string, StTensor> = {};
  for (const [key, t] of Object.entries(optimizer.tensors)) tensors[key] = { dtype: 'F32', shape: t.shape, data: t.data };
  await writeFileSynced(file, encodeSafetensors(tensors, { step: String(optimizer.step) }));
}

/** Reads what `writeOptimizerState` wrote (validated: step counts, F32 tensors). */
export async function readOptimizerState(file: string): Promise<OptimizerState> {
  const { tensors, metadata } = await readSafetensorsFile(file);
  const step = Number(metadata.step);
  if (!Number.isInteger(step) || step < 0) throw new CheckpointError(`${file}: missing or invalid 'step' in the metadata`);
  const optimizer: OptimizerState = { step, tensors: {} };
  for (const [key, t] of Object.entries(tensors)) {
    if (t.dtype !== 'F32') throw new CheckpointError(`${file}: tensor '${key}' has dtype ${t.dtype}, expected F32`);
    const data = t.data as Float32Array;
    const bad = data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new CheckpointError(`${file}: tensor '${key}' holds a non-finite value (${data[bad]} at index ${bad}); the checkpoint is corrupt`);
    optimizer.tensors[key] = { shape: t.shape, data };
  }
  return optimizer;
}

/** The parts of a run that keep state, checked: distinct names, both of saveState/loadState. */
function statefulComponents(run: Checkpointable): Stateful[] {
  const half = run.components.find((c) => Boolean(c.saveState) !== Boolean(c.loadState));
  if (half)
    throw new CheckpointError(
      `'${half.name}' defines ${half.saveState ? 'saveState but not loadState' : 'loadState but not saveState'}; a part with state needs both`,
    );
  const parts = run.components.filter((c) => c.saveState && c.loadState);
  const names = parts.map((c) => c.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) throw new CheckpointError(`two parts with state are both named '${twice}'; give them distinct names`);
  return parts;
}

/** A part's state directory (its name, made safe for a path): `components/` (version 2) or `hooks/` (version 1). */
const stateDir = (root: string, name: string, version: 1 | 2 = 2) => path.join(root, version === 2 ? 'components' : 'hooks', encodeURIComponent(name));

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

/**
 * Checkpoints under `<root>/step-NNNNNN/` (policy/, reference/, optimizer.safetensors,
 * components/<name>/, trainer.json).
 * Everything is written into a hidden temporary directory that is renamed into place last, so a
 * crash or Ctrl-C never leaves a half-written checkpoint that `latest()` would pick. Before the
 * rename every file and directory of it is fsynced (whoever wrote them: the policy, a plugin's
 * `saveState`), and the root after it, so that after a power loss too the checkpoint `latest()`
 * finds is complete (see docs/reliability.md).
 */
export class DirectoryCheckpointer implements Checkpointer {
  constructor(
    readonly root: string,
    /** How many checkpoints to keep (oldest removed first); 0 keeps all. */
    private readonly keep = 3,
  ) {}

  async save(run: Checkpointable): Promise<string> {
    const state = run.getState();
    const name = `step-${String(state.step).padStart(6, '0')}`;
    const final = path.join(this.root, name);
    const tmp = path.join(this.root, `.${name}.tmp-${randomBytes(4).toString('hex')}`);
    const failed = (what: string, error: unknown) =>
      error instanceof CheckpointError ? error : new CheckpointError(`Cannot write checkpoint ${final}: ${what}: ${errorMessage(error)}`, { cause: error });
    const newRoot = !(await exists(this.root));
    try {
      await mkdir(tmp, { recursive: true });
      if (newRoot) await fsyncPath(path.dirname(this.root));
    } catch (error) {
      throw failed(`cannot create ${tmp}`, error);
    }
    try {
      await run.policy.save(path.join(tmp, 'policy')).catch((error: unknown) => {
        throw failed('the policy', error);
      });
      if (run.reference)
        await run.reference.save(path.join(tmp, 'reference')).catch((error: unknown) => {
          throw failed('the reference policy', error);
        });
      await writeOptimizerState(path.join(tmp, 'optimizer.safetensors'), run.getOptimizerState());
      const parts = statefulComponents(run);
      for (const part of parts) {
        const dir = stateDir(tmp, part.name);
        try {
          await mkdir(dir, { recursive: true });
          await part.saveState!(dir);
        } catch (error) {
          throw failed(`the state of '${part.name}'`, error);
        }
      }
      const file: TrainerFile = { format: FORMAT, version: 2, state, hasReference: run.reference !== undefined, components: parts.map((c) => c.name) };
      // trainer.json last: a directory without it is never treated as complete.
      await writeFileSynced(path.join(tmp, 'trainer.json'), `${JSON.stringify(file, null, 2)}\n`);
      // Durable before it gets its name: every file and directory of it, whoever wrote them.
      await syncTree(tmp);
      if (await exists(final)) {
        const aside = `${tmp}.old`;
        await rename(final, aside);
        await rename(tmp, final);
        await fsyncPath(this.root);
        await rm(aside, { recursive: true, force: true });
      } else {
        await rename(tmp, final);
        await fsyncPath(this.root);
      }
    } catch (error) {
      await rm(tmp, { recursive: true, force: true });
      throw failed('write failed', error);
    }
    await this.prune();
    return final;
  }

  private async complete(): Promise<{ step: number; dir: string }[]> {
    if (!(await exists(this.root))) return [];
    const out: { step: number; dir: string }[] = [];
    for (const entry of await readdir(this.root, { withFileTypes: true })) {
      const m = NAME.exec(entry.name);
      if (!entry.isDirectory() || !m) continue;
      const dir = path.join(this.root, entry.name);
      if (await exists(path.join(dir, 'trainer.json'))) out.push({ step: Number(m[1]), dir });
    }
    return out.sort((a, b) => a.step - b.step);
  }

  private async prune(): Promise<void> {
    // Leftovers of interrupted saves.
    for (const entry of await readdir(this.root)) if (entry.startsWith('.step-')) await rm(path.join(this.root, entry), { recursive: true, force: true });
    if (this.keep <= 0) return;
    const all = await this.complete();
    for (const old of all.slice(0, Math.max(0, all.length - this.keep))) await rm(old.dir, { recursive: true, force: true });
  }

  async latest(): Promise<string | undefined> {
    return (await this.complete()).at(-1)?.dir;
  }

  async restore(dir: string, run: Checkpointable): Promise<TrainerState> {
    const trainerFile = path.join(dir, 'trainer.json');
    const file = await readJsonFile<Partial<TrainerFile>>(trainerFile);
    const s = file.state;
    if (
      file.format !== FORMAT ||
      (file.version !== 1 && file.version !== 2) ||
      !s ||
      !Number.isInteger(s.step) ||
      typeof s.rng !== 'string' ||
      !Number.isInteger(s.dataCursor)
    )
      throw new CheckpointError(
        `${trainerFile}: not a GRPO.ts trainer checkpoint (expected format '${FORMAT}' version 1 or 2 with state.step, state.rng and state.dataCursor)`,
      );
    if (typeof file.hasReference !== 'boolean')
      throw new CheckpointError(`${trainerFile}: 'hasReference' must be true or false, got ${JSON.stringify(file.hasReference)?.slice(0, 40)}`);
    if (s.step < 0 || s.dataCursor < 0)
      throw new CheckpointError(`${trainerFile}: state.step (${s.step}) and state.dataCursor (${s.dataCursor}) must be integers ≥ 0`);
    try {
      Rng.fromState(s.rng);
    } catch (error) {
      throw new CheckpointError(`${trainerFile}: state.rng: ${errorMessage(error)} (expected 32 hex digits)`, { cause: error });
    }
    const version = file.version;
    if (version === 1 && file.hasCritic)
      throw new CheckpointError(
        `${dir} is a PPO checkpoint of an older GRPO.ts (format version 1, critic under critic/); this version keeps the critic in @grpo/plugin-ppo's own state and cannot resume it`,
      );
    if (file.hasReference && !run.reference)
      throw new CheckpointError(`${dir} holds a reference policy, but this run has none (algorithm.kl.beta is 0); resume with the same config`);
    if (!file.hasReference && run.reference)
      throw new CheckpointError(`${dir} holds no reference policy, but this run needs one (algorithm.kl.beta > 0); resume with the same config`);
    const parts = statefulComponents(run);
    const listed: unknown = version === 2 ? file.components : file.hooks;
    if (listed !== undefined && !(Array.isArray(listed) && listed.every((name) => typeof name === 'string')))
      throw new CheckpointError(`${trainerFile}: '${version === 2 ? 'components' : 'hooks'}' must be a list of names, got ${JSON.stringify(listed)}`);
    const saved = (listed ?? []) as string[];
    for (const part of parts)
      if (!saved.includes(part.name))
        throw new CheckpointError(`${dir} holds no state for '${part.name}' that this run has; resume with the same config (plugins)`);
    for (const name of saved)
      if (!parts.some((c) => c.name === name))
        throw new CheckpointError(`${dir} holds state for '${name}' that this run does not have; resume with the same config (plugins)`);
    const optimizerFile = path.join(dir, 'optimizer.safetensors');
    const optimizer = await readOptimizerState(optimizerFile);
    await run.policy.load(path.join(dir, 'policy'));
    if (run.reference) await run.reference.load(path.join(dir, 'reference'));
    try {
      run.setOptimizerState(optimizer);
    } catch (error) {
      throw new CheckpointError(`${optimizerFile}: ${(error as Error).message}`);
    }
    for (const part of parts) await part.loadState!(stateDir(dir, part.name, version));
    run.setState(s);
    return s;
  }
}
