import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Checkpointable, Checkpointer, OptimizerState } from '../contracts/checkpoint.js';
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
}

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
      const optimizer = run.getOptimizerState();
      const tensors: Record<string, StTensor> = {};
      for (const [key, t] of Object.entries(optimizer.tensors)) tensors[key] = { dtype: 'F32', shape: t.shape, data: t.data };
      const meta: Record<string, string> = { step: String(optimizer.step) };
      if (optimizer.criticStep !== undefined) meta.criticStep = String(optimizer.criticStep);
      await writeFile(path.join(tmp, 'optimizer.safetensors'), encodeSafetensors(tensors, meta));
      const file: TrainerFile = { format: FORMAT, version: 1, state, hasReference: run.reference !== undefined, hasCritic: run.valueModel !== undefined };
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
    const optimizerFile = path.join(dir, 'optimizer.safetensors');
    const { tensors, metadata } = await readSafetensorsFile(optimizerFile);
    const step = Number(metadata.step);
    if (!Number.isInteger(step) || step < 0) throw new CheckpointError(`${optimizerFile}: missing or invalid 'step' in the metadata`);
    const optimizer: OptimizerState = { step, tensors: {} };
    if (metadata.criticStep !== undefined) optimizer.criticStep = Number(metadata.criticStep);
    for (const [key, t] of Object.entries(tensors)) {
      if (t.dtype !== 'F32') throw new CheckpointError(`${optimizerFile}: tensor '${key}' has dtype ${t.dtype}, expected F32`);
      optimizer.tensors[key] = { shape: t.shape, data: t.data as Float32Array };
    }
    await run.policy.load(path.join(dir, 'policy'));
    if (run.reference) await run.reference.load(path.join(dir, 'reference'));
    if (run.valueModel) await run.valueModel.load(path.join(dir, 'critic'));
    try {
      run.setOptimizerState(optimizer);
    } catch (error) {
      throw new CheckpointError(`${optimizerFile}: ${(error as Error).message}`);
    }
    run.setState(s);
    return s;
  }
}
