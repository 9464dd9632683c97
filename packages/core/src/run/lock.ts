/**
 * A lock on a run directory, so that two runs never write one directory at once (they would
 * interleave metrics.jsonl and prune each other's checkpoints). The lock is a file,
 * `<dir>/.grpo.lock`, holding the owner's pid, host and start time; it is created atomically
 * (written aside, then hard-linked into place, which fails if it exists), removed when the run
 * is released or the process exits, and recovered when its owner is gone: a lock of this host
 * whose pid no longer runs is stale and is taken over.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { link, mkdir, open, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { GrpoError } from '../errors.js';

/** The lock file's name inside a run directory. */
export const LOCK_FILE = '.grpo.lock';

/** What a lock file says about its owner. */
export interface RunLockOwner {
  /** The owner's process id. */
  pid: number;
  /** The owner's host name (`os.hostname()`). */
  host: string;
  /** ISO time the lock was taken. */
  started: string;
  /** What holds it, e.g. `grpo train`. */
  command: string;
}

/** Another run holds the directory (or its lock file cannot be read). */
export class RunLockedError extends GrpoError {}

const describeOwner = (o: RunLockOwner) => `pid ${o.pid} on ${o.host}, ${o.command}, since ${o.started}`;

function parseOwner(text: string): RunLockOwner | undefined {
  try {
    const o = JSON.parse(text) as Partial<RunLockOwner> | null;
    if (o && Number.isInteger(o.pid) && typeof o.host === 'string' && typeof o.started === 'string')
      return { pid: o.pid!, host: o.host, started: o.started, command: typeof o.command === 'string' ? o.command : 'a run' };
  } catch {
    // unreadable: reported by the caller
  }
  return undefined;
}

/** Whether process `pid` runs on this host (a process of another user counts). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Creates `file` with `content` only if it does not exist, atomically (complete content or no file). */
async function createExclusive(file: string, content: string): Promise<boolean> {
  const tmp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, content);
  try {
    await link(tmp, file);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS') throw error;
    // A file system without hard links: exclusive create (a crash mid-write can leave it partial).
    try {
      const handle = await open(file, 'wx');
      try {
        await handle.writeFile(content);
      } finally {
        await handle.close();
      }
      return true;
    } catch (inner) {
      if ((inner as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw inner;
    }
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

/** A held lock; `release()` removes it (also done when the process exits). */
export class RunLock {
  private released = false;
  private readonly onExit = () => this.release();

  constructor(
    /** The lock file. */
    readonly file: string,
    /** What the lock file says: this process. */
    readonly owner: RunLockOwner,
  ) {
    process.once('exit', this.onExit);
  }

  /** Removes the lock file if it is still this lock's. Synchronous, so it also runs on process exit. */
  release(): void {
    if (this.released) return;
    this.released = true;
    process.off('exit', this.onExit);
    try {
      const current = parseOwner(readFileSync(this.file, 'utf8'));
      if (current && current.pid === this.owner.pid && current.host === this.owner.host && current.started === this.owner.started) unlinkSync(this.file);
    } catch {
      // already gone
    }
  }
}

/**
 * Locks `dir` (created if missing) for this process. Refuses, naming the other run, when a live
 * run holds it; takes over a stale lock (its pid is gone on this host). `dir` that exists and is
 * not a directory is a `GrpoError` too.
 */
export async function lockRunDirectory(dir: string, options: { command?: string } = {}): Promise<RunLock> {
  const info = await stat(dir).catch(() => undefined);
  if (info && !info.isDirectory()) throw new GrpoError(`outputDir ${dir} is a file, not a directory; choose another outputDir (-o) or move the file`);
  try {
    await mkdir(dir, { recursive: true });
  } catch (error) {
    throw new GrpoError(`cannot create outputDir ${dir}: ${(error as Error).message}`, { cause: error });
  }
  const file = path.join(dir, LOCK_FILE);
  const owner: RunLockOwner = { pid: process.pid, host: hostname(), started: new Date().toISOString(), command: options.command ?? 'a run' };
  for (let attempt = 0; attempt < 5; attempt++) {
    if (await createExclusive(file, `${JSON.stringify(owner)}\n`)) return new RunLock(file, owner);
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined) continue; // released meanwhile: try again
    const other = parseOwner(text);
    if (!other)
      throw new RunLockedError(`${file}: the lock file of this run directory is unreadable; if no run is using ${dir}, delete the file and start again`);
    if (other.host !== owner.host)
      throw new RunLockedError(`${dir} is in use by another run (${describeOwner(other)}). Use another outputDir, or if that run is gone, delete ${file}`);
    if (other.pid === process.pid) throw new RunLockedError(`${dir} is already in use by this process (${describeOwner(other)}); release that run first`);
    if (alive(other.pid))
      throw new RunLockedError(`${dir} is in use by another run (${describeOwner(other)}). Wait for it, stop it, or use another outputDir (-o)`);
    // Stale: its process is gone. Move it aside and check that what was moved is the stale lock
    // (another process may have taken it over meanwhile); if not, put that one back.
    const aside = `${file}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      await rename(file, aside);
    } catch {
      continue;
    }
    const moved = parseOwner(await readFile(aside, 'utf8').catch(() => ''));
    if (moved && (moved.pid !== other.pid || moved.started !== other.started)) await link(aside, file).catch(() => undefined);
    await unlink(aside).catch(() => undefined);
  }
  throw new RunLockedError(`${file}: could not take the lock of ${dir} (it changed hands repeatedly); try again`);
}
