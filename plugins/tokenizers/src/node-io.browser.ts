// `#node-io` in a browser: there are no files. Paths still join (they only appear in messages);
// reading or writing says so, naming the in-memory API to use instead.
import { GrpoError } from '@grpo/core';
import type * as fs from 'node:fs/promises';
import type * as path from 'node:path';

const noFiles = (what: string) => (): Promise<never> =>
  Promise.reject(
    new GrpoError(`${what} needs Node (file access); in a browser build tokenizers in memory (CharTokenizer.fromJSON, HfTokenizer.fromJSON, toFiles)`),
  );

export const mkdir = noFiles('creating a directory') as unknown as typeof fs.mkdir;
export const readFile = noFiles('reading a file') as unknown as typeof fs.readFile;
export const writeFile = noFiles('writing a file') as unknown as typeof fs.writeFile;
export const join: typeof path.join = (...parts) => parts.filter(Boolean).join('/').replace(/\/+/g, '/');
export const dirname: typeof path.dirname = (p) => p.replace(/\/?[^/]*\/*$/, '') || (p.startsWith('/') ? '/' : '.');
