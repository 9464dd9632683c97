import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (this file is plugins/math-reward/test/data.ts). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const sharedData = (...parts: string[]): string => path.resolve(repoRoot, '../shared/data', ...parts);

export interface AnswerCase {
  completion: string;
  reference: string;
  equal: boolean;
  source: string;
  note?: string;
}
export interface FormatCase {
  reward: string;
  completion: string;
  expected: number;
  origin: string;
}

export const readJson = <T>(...parts: string[]): T => JSON.parse(readFileSync(sharedData(...parts), 'utf8')) as T;
