/**
 * Issue 21, items 8 and 9: every file and directory of a checkpoint is fsynced before it is renamed
 * into place (whoever wrote it), and a failed write is a `CheckpointError` naming what failed.
 */
import { existsSync } from 'node:fs';
import type * as FsPromises from 'node:fs/promises';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Checkpointable } from '../contracts/checkpoint.js';
import type { Policy } from '../contracts/policy.js';
import { CheckpointError } from '../errors.js';
import { DirectoryCheckpointer, writeOptimizerState } from './checkpointer.js';

const events = vi.hoisted(() => [] as string[][]);
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof FsPromises>();
  return {
    ...actual,
    open: async (...args: Parameters<typeof actual.open>) => {
      const handle = await actual.open(...args);
      const sync = handle.sync.bind(handle);
      handle.sync = async () => {
        events.push(['sync', String(args[0])]);
        return sync();
      };
      return handle;
    },
    rename: async (from: string, to: string) => {
      events.push(['rename', from, to]);
      return actual.rename(from, to);
    },
  };
});

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'grpo-durable-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A run whose policy and one part write their files with plain writeFile (no fsync of their own). */
function run(options: { failPart?: boolean } = {}): Checkpointable {
  const policy = {
    save: async (d: string) => {
      await mkdir(path.join(d, 'nested'), { recursive: true });
      await writeFile(path.join(d, 'weights.bin'), 'w');
      await writeFile(path.join(d, 'nested', 'tokenizer.json'), '{}');
    },
  } as unknown as Policy;
  return {
    policy,
    reference: undefined,
    components: [
      {
        name: 'critic',
        saveState: async (d: string) => {
          if (options.failPart) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
          await writeFile(path.join(d, 'state.json'), '{}');
        },
        loadState: async () => {},
      },
    ],
    getState: () => ({ step: 7, rng: 'r', dataCursor: 0 }),
    setState: () => {},
    getOptimizerState: () => ({ step: 1, tensors: {} }),
    setOptimizerState: () => {},
  };
}

async function tree(root: string): Promise<string[]> {
  const out: string[] = [root];
  for (const entry of await readdir(root, { withFileTypes: true })) {
    const p = path.join(root, entry.name);
    if (entry.isDirectory()) out.push(...(await tree(p)));
    else out.push(p);
  }
  return out;
}

describe('DirectoryCheckpointer durability (item 9)', () => {
  it('fsyncs every file and directory of the checkpoint before the rename, and the root after it', async () => {
    events.length = 0;
    const checkpointer = new DirectoryCheckpointer(path.join(dir, 'checkpoints'));
    const final = await checkpointer.save(run());
    const commit = events.findIndex((e) => e[0] === 'rename' && e[2] === final);
    expect(commit).toBeGreaterThan(0);
    const tmp = events[commit]![1]!;
    const syncedBefore = new Set(
      events
        .slice(0, commit)
        .filter((e) => e[0] === 'sync')
        .map((e) => e[1]),
    );
    const entries = (await tree(final)).map((p) => tmp + p.slice(final.length));
    expect(entries.filter((p) => !syncedBefore.has(p))).toEqual([]);
    expect(entries).toContain(path.join(tmp, 'components', 'critic', 'state.json'));
    expect(entries).toContain(path.join(tmp, 'policy', 'nested', 'tokenizer.json'));
    expect(events.slice(commit + 1).some((e) => e[0] === 'sync' && e[1] === checkpointer.root)).toBe(true);
  });
});

describe('failed writes (item 8)', () => {
  it('a full disk while writing the optimizer state is a CheckpointError naming the file', async () => {
    if (!existsSync('/dev/full')) return; // Linux only: writes to /dev/full fail with ENOSPC
    const error = await writeOptimizerState('/dev/full', { step: 1, tensors: { 'm/0': { shape: [1], data: Float32Array.of(1) } } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CheckpointError);
    expect((error as Error).message).toMatch(/^\/dev\/full: cannot write: ENOSPC/);
  });

  it("a part's failing saveState is a CheckpointError naming the checkpoint and the part, and leaves nothing behind", async () => {
    const checkpointer = new DirectoryCheckpointer(path.join(dir, 'failing'));
    const error = await checkpointer.save(run({ failPart: true })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CheckpointError);
    expect((error as Error).message).toBe(
      `Cannot write checkpoint ${path.join(dir, 'failing', 'step-000007')}: the state of 'critic': ENOSPC: no space left on device, write`,
    );
    expect(await readdir(path.join(dir, 'failing'))).toEqual([]);
  });
});
