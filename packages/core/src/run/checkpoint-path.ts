/**
 * What a checkpoint path given by a user (`policy.checkpoint`, `--checkpoint`) may name: a policy
 * directory, a training checkpoint (`<run>/checkpoints/step-NNNNNN`, whose `policy/` it means), a
 * run's `checkpoints/` folder or a run directory (their latest complete checkpoint). A path that
 * is wrong is an error naming the option it came from and what exists there.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { CheckpointError } from '../errors.js';
import { DirectoryCheckpointer } from '../trainer/checkpointer.js';

const isDir = (p: string) =>
  stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );
const isFile = (p: string) =>
  stat(p).then(
    (s) => s.isFile(),
    () => false,
  );

/** What a directory holds, for messages: folders with a trailing `/`, at most `max` names. */
export async function describeDirectory(dir: string, max = 12): Promise<string> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return 'nothing readable';
  }
  const names = entries
    .filter((e) => !e.name.startsWith('.'))
    .map((e) => (e.isDirectory() ? `${e.name}/` : e.name))
    .sort();
  if (names.length === 0) return 'nothing';
  return names.length > max ? `${names.slice(0, max).join(', ')}, … (${names.length} entries)` : names.join(', ');
}

export interface CheckpointPathOptions {
  /** Where the path came from, named in errors: `policy.checkpoint` (default), `--checkpoint`. */
  option?: string;
  /** The path as the user wrote it (default: `dir`). */
  given?: string;
}

/**
 * The policy directory `dir` names (absolute when `dir` is): `dir` itself, unless it is a training
 * checkpoint (→ its `policy/`), a `checkpoints/` folder or a run directory (→ the latest complete
 * checkpoint's `policy/`). Throws a `CheckpointError` naming the option when `dir` does not exist
 * or holds no complete checkpoint.
 */
export async function resolvePolicyCheckpoint(dir: string, options: CheckpointPathOptions = {}): Promise<string> {
  const option = options.option ?? 'policy.checkpoint';
  const given = options.given ?? dir;
  const at = `${option} ${given}`;
  if (!(await isDir(dir))) {
    if (await isFile(dir)) throw new CheckpointError(`${at}: is a file; give the checkpoint's directory (${path.dirname(given) || '.'})`);
    let parent = path.dirname(path.resolve(dir));
    while (!(await isDir(parent)) && path.dirname(parent) !== parent) parent = path.dirname(parent);
    throw new CheckpointError(`${at}: no such directory; ${parent} holds: ${await describeDirectory(parent)}`);
  }
  // A training checkpoint: step-NNNNNN/{trainer.json, policy/, …}.
  if ((await isFile(path.join(dir, 'trainer.json'))) && (await isDir(path.join(dir, 'policy')))) return path.join(dir, 'policy');
  // A run directory (its checkpoints/) or the checkpoints/ folder itself.
  for (const root of [path.join(dir, 'checkpoints'), dir]) {
    if (!(await isDir(root))) continue;
    const steps = (await readdir(root)).filter((n) => /^step-\d{6,}$/.test(n));
    if (steps.length === 0) continue;
    const latest = await new DirectoryCheckpointer(root).latest();
    if (!latest) throw new CheckpointError(`${at}: ${root} holds no complete checkpoint (${steps.sort().join(', ')} lack trainer.json)`);
    return path.join(latest, 'policy');
  }
  return dir;
}
