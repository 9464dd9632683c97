import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Checkpointable, Checkpointer, OptimizerState } from '../contracts/checkpoint.js';
import type { TrainerHook } from '../contracts/events.js';
import { readJsonFile, readSafetensorsFile } from '../checkpoint/directory.js';
import { encodeSafetensors, type StTensor } from '../checkpoint/safetensors.js';
import { CheckpointError } from '../errors.js';
import type { TrainerState } from '../records.js';

const FORMAT = 'grpo-trainer-checkpoint';
const NAME = /^step-(\d{6,})$/;

interface TrainerFile {
  format: typeof FORMAT;
  version: 1;
  state: TrainerState;
  hasReference: boolean;
  hasCritic?: boolean;
  /** Names of the hooks whose state is under `hooks/`. */
  hooks?: string[];
}

/** Writes optimizer moments (and step counts) as safetensors. */
export async function writeOptimizerState(file: string, optimizer: OptimizerState): Promise<void> {
  const tensors: Record<string, StTensor> = {};
  for (const [key, t] of Object.entries(optimizer.tensors)) tensors[key] = { dtype: 'F32', shape: t.shape, data: t.data };
  const meta: Record<string, string> = { step: String(optimizer.step) };
  if (optimizer.criticStep !== undefined) meta.criticStep = String(optimizer.criticStep);
  await writeFile(file, encodeSafetensors(tensors, meta));
}

/** Reads what `writeOptimizerState` wrote (validated: step counts, F32 tensors). */
export async function readOptimizerState(file: string): Promise<OptimizerState> {
  const { tensors, metadata } = await readSafetensorsFile(file);
  const step = Number(metadata.step);
  if (!Number.isInteger(step) || step < 0) throw new CheckpointError(`${file}: missing or invalid 'step' in the metadata`);
  const optimizer: OptimizerState = { step, tensors: {} };
  if (metadata.criticStep !== undefined) {
    const criticStep = Number(metadata.criticStep);
    if (!Number.isInteger(criticStep) || criticStep < 0) throw new CheckpointError(`${file}: invalid 'criticStep' in the metadata`);
    optimizer.criticStep = criticStep;
  }
  for (const [key, t] of Object.entries(tensors)) {
    if (t.dtype !== 'F32') throw new CheckpointError(`${file}: tensor '${key}' has dtype ${t.dtype}, expected F32`);
    optimizer.tensors[key] = { shape: t.shape, data: t.data as Float32Array };
  }
  return optimizer;
}

/** The hooks of a run that keep state, checked for distinct names. */
function statefulHooks(run: Checkpointable): TrainerHook[] {
  const hooks = (run.hooks ?? []).filter((h) => h.saveState && h.loadState);
  const names = hooks.map((h) => h.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) throw new CheckpointError(`two hooks with state are both named '${twice}'; give them distinct names`);
  return hooks;
}

/** A hook's directory under `hooks/` (its name, made safe for a path). */
const hookDir = (root: string, name: string) => path.join(root, 'hooks', encodeURIComponent(name));

const exists = (p: string) => stat(p).then(() => true, () => false);

/**
 * Checkpoints under `<root>/step-NNNNNN/` (policy/, reference/, optimizer.safetensors, trainer.json).
 * Everything is written into a hidden temporary directory that is renamed into place last, so a
 * crash or Ctrl-C never leaves a half-written checkpoint that `latest()` would pick.
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
    await mkdir(tmp, { recursive: true });
    try {
      await run.policy.save(path.join(tmp, 'policy'));
      if (run.reference) await run.reference.save(path.join(tmp, 'reference'));
      if (run.valueModel) await run.valueModel.save(path.join(tmp, 'critic'));
      await writeOptimizerState(path.join(tmp, 'optimizer.safetensors'), run.getOptimizerState());
      const hooks = statefulHooks(run);
      for (const hook of hooks) {
        const dir = hookDir(tmp, hook.name);
        await mkdir(dir, { recursive: true });
        await hook.saveState!(dir);
      }
      const file: TrainerFile = { format: FORMAT, version: 1, state, hasReference: run.reference !== undefined, hasCritic: run.valueModel !== undefined };
      if (hooks.length) file.hooks = hooks.map((h) => h.name);
      // trainer.json last: a directory without it is never treated as complete.
      await writeFile(path.join(tmp, 'trainer.json'), `${JSON.stringify(file, null, 2)}\n`);
      if (await exists(final)) {
        const aside = `${tmp}.old`;
        await rename(final, aside);
        await rename(tmp, final);
        await rm(aside, { recursive: true, force: true });
      } else {
        await rename(tmp, final);
      }
    } catch (error) {
      await rm(tmp, { recursive: true, force: true });
      throw error;
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
    if (file.format !== FORMAT || file.version !== 1 || !s || !Number.isInteger(s.step) || typeof s.rng !== 'string' || !Number.isInteger(s.dataCursor))
      throw new CheckpointError(`${trainerFile}: not a GRPO.ts trainer checkpoint (expected format '${FORMAT}' version 1 with state.step, state.rng and state.dataCursor)`);
    if (file.hasReference && !run.reference)
      throw new CheckpointError(`${dir} holds a reference policy, but this run has none (algorithm.kl.beta is 0); resume with the same config`);
    if (!file.hasReference && run.reference)
      throw new CheckpointError(`${dir} holds no reference policy, but this run needs one (algorithm.kl.beta > 0); resume with the same config`);
    if (Boolean(file.hasCritic) !== Boolean(run.valueModel))
      throw new CheckpointError(`${dir} ${file.hasCritic ? 'holds' : 'holds no'} value model (critic), but this run ${run.valueModel ? 'has one' : 'has none'}; resume with the same config`);
    const hooks = statefulHooks(run);
    const saved = Array.isArray(file.hooks) ? file.hooks.map(String) : [];
    for (const hook of hooks)
      if (!saved.includes(hook.name)) throw new CheckpointError(`${dir} holds no state for the hook '${hook.name}' that this run has; resume with the same config (plugins)`);
    for (const name of saved)
      if (!hooks.some((h) => h.name === name)) throw new CheckpointError(`${dir} holds state for a hook '${name}' that this run does not have; resume with the same config (plugins)`);
    const optimizerFile = path.join(dir, 'optimizer.safetensors');
    const optimizer = await readOptimizerState(optimizerFile);
    await run.policy.load(path.join(dir, 'policy'));
    if (run.reference) await run.reference.load(path.join(dir, 'reference'));
    if (run.valueModel) await run.valueModel.load(path.join(dir, 'critic'));
    try {
      run.setOptimizerState(optimizer);
    } catch (error) {
      throw new CheckpointError(`${optimizerFile}: ${(error as Error).message}`);
    }
    for (const hook of hooks) await hook.loadState!(hookDir(dir, hook.name));
    run.setState(s);
    return s;
  }
}
