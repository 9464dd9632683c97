// `#node-io` in a browser: there are no directories. Paths still join (they only appear in
// messages); reading or writing a checkpoint directory says so, naming the in-memory API instead.
// (Typed without importing node-io.ts, whose core imports resolve to core's browser entry here.)
import { CheckpointError } from '@grpo/core';
import type { StTensor } from '@grpo/core/checkpoint';
import type * as fs from 'node:fs/promises';
import type * as os from 'node:os';
import type * as path from 'node:path';

export type { FileHandle } from 'node:fs/promises';

const noFiles = (what: string) => (): Promise<never> =>
  Promise.reject(
    new CheckpointError(`${what} needs Node (file access); in a browser use policyFromFiles(files) and policy.files() (checkpoint files in memory)`),
  );

export const mkdtemp = noFiles('creating a directory') as unknown as typeof fs.mkdtemp;
export const open = noFiles('opening a file') as unknown as typeof fs.open;
export const readdir = noFiles('listing a directory') as unknown as typeof fs.readdir;
export const readFile = noFiles('reading a file') as unknown as typeof fs.readFile;
export const rm = noFiles('removing a file') as unknown as typeof fs.rm;
export const readJsonFile = noFiles('reading a checkpoint file') as <T = unknown>(file: string) => Promise<T>;
export const readSafetensorsFile = noFiles('reading a checkpoint file') as (
  file: string,
) => Promise<{ tensors: Record<string, StTensor>; metadata: Record<string, string> }>;
export const writeDirAtomic = noFiles('writing a checkpoint directory') as (
  dir: string,
  files: Record<string, Uint8Array | string>,
  options?: object,
) => Promise<void>;
export const tmpdir: typeof os.tmpdir = () => '/tmp';
export const join: typeof path.join = (...parts) => parts.filter(Boolean).join('/').replace(/\/+/g, '/');
