import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { CheckpointError } from '../errors.js';
import { decodeSafetensors, type StTensor } from './safetensors.js';

/** Options of `writeDirAtomic`; `beforeCommit` is mainly a seam for tests and progress reporting. */
export interface WriteDirAtomicOptions {
  /** Called after the files are written and synced, before anything at `dir` changes. */
  beforeCommit?: () => void | Promise<void>;
}

/** fsyncs a file or directory (a directory: its entries, i.e. creations and renames in it). */
export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } catch {
    // Some file systems (and Windows, for directories) cannot fsync a directory: nothing to do.
  } finally {
    await handle.close();
  }
}

/**
 * fsyncs every file and directory under `dir` (and `dir` itself), contents before the directory
 * that lists them: what a checkpoint must have on disk before it is renamed into place, so that
 * a power loss after the rename cannot leave the new name pointing at missing data.
 */
export async function syncTree(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await syncTree(path);
    else if (entry.isFile()) await fsyncPath(path);
  }
  await fsyncPath(dir);
}

/** Writes `content` to `file` and fsyncs it; any failure (ENOSPC, EACCES, …) is a `CheckpointError` naming the file. */
export async function writeFileSynced(file: string, content: Uint8Array | string): Promise<void> {
  try {
    const handle = await open(file, 'w');
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error instanceof CheckpointError) throw error;
    throw new CheckpointError(`${file}: cannot write: ${(error as Error).message}`, { cause: error });
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

function checkRelative(dir: string, name: string): string {
  const normalized = normalize(name);
  if (!name || isAbsolute(name) || normalized === '..' || normalized.startsWith(`..${sep}`) || normalized === '.') {
    throw new CheckpointError(`Cannot write checkpoint ${dir}: file name '${name}' must be a relative path inside the directory.`);
  }
  return normalized;
}

/**
 * Writes `files` (relative paths → contents) as the directory `dir`, atomically: everything is
 * written and fsynced into a temporary sibling `.<name>.tmp-<random>`, then renamed into place. An
 * existing `dir` is renamed aside to `.<name>.old-<random>` first and removed only after the new
 * one is in place. A failure (or crash) therefore never leaves a half-written directory at `dir`:
 * it holds either the complete old contents or the complete new ones. (A crash exactly between
 * the two renames leaves `dir` absent and the old contents at `.<name>.old-*`.)
 */
export async function writeDirAtomic(dir: string, files: Record<string, Uint8Array | string>, options: WriteDirAtomicOptions = {}): Promise<void> {
  const parent = dirname(dir);
  const name = basename(dir);
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const tmp = join(parent, `.${name}.tmp-${tag}`);
  const old = join(parent, `.${name}.old-${tag}`);
  const entries = Object.entries(files).map(([file, content]) => [checkRelative(dir, file), content] as const);
  try {
    await mkdir(parent, { recursive: true });
    await mkdir(tmp);
    const dirs = new Set<string>([tmp]);
    for (const [file, content] of entries) {
      const path = join(tmp, file);
      const fileDir = dirname(path);
      if (!dirs.has(fileDir)) {
        await mkdir(fileDir, { recursive: true });
        dirs.add(fileDir);
      }
      const handle = await open(path, 'w');
      try {
        await handle.writeFile(content);
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
    for (const d of dirs) await fsyncPath(d);
    await options.beforeCommit?.();
  } catch (error) {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw new CheckpointError(`Cannot write checkpoint ${dir}: ${(error as Error).message}`, { cause: error });
  }

  const hadOld = await exists(dir);
  try {
    if (hadOld) await rename(dir, old);
    try {
      await rename(tmp, dir);
    } catch (error) {
      if (hadOld) await rename(old, dir).catch(() => undefined);
      throw error;
    }
    await fsyncPath(parent);
  } catch (error) {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw new CheckpointError(`Cannot write checkpoint ${dir}: ${(error as Error).message}`, { cause: error });
  }
  if (hadOld) await rm(old, { recursive: true, force: true });
}

/** Reads and parses a JSON file; a missing or malformed file is a `CheckpointError` naming it. */
export async function readJsonFile<T>(file: string): Promise<T> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CheckpointError(code === 'ENOENT' ? `${file}: file is missing.` : `${file}: cannot read: ${(error as Error).message}`, {
      cause: error,
    });
  }
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new CheckpointError(`${file}: malformed JSON: ${(error as Error).message}`, { cause: error });
  }
}

/** Reads and validates a safetensors file; every problem is a `CheckpointError` naming it. */
export async function readSafetensorsFile(file: string): Promise<{ tensors: Record<string, StTensor>; metadata: Record<string, string> }> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CheckpointError(code === 'ENOENT' ? `${file}: file is missing.` : `${file}: cannot read: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return decodeSafetensors(bytes, file);
}
