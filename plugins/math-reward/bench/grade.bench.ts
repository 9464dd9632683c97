/**
 * Grades every case of cases.json repeatedly and prints cases graded per second.
 * Last line: one JSON object {"casesPerSec": …, "agreement": …}.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { verifyMath } from '../src/index.js';

interface AnswerCase {
  completion: string;
  reference: string;
  equal: boolean;
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const file = path.resolve(repoRoot, '../shared/data/math-answers/cases.json');
const cases = JSON.parse(readFileSync(file, 'utf8')) as AnswerCase[];

let agree = 0;
for (const c of cases) if (verifyMath(c.completion, c.reference).equal === c.equal) agree++;
console.log(`agreement with cases.json: ${agree}/${cases.length}`);

const minMs = Number(process.env.BENCH_MS ?? 3000);
let graded = 0;
const start = performance.now();
let rounds = 0;
while (performance.now() - start < minMs) {
  for (const c of cases) verifyMath(c.completion, c.reference);
  graded += cases.length;
  rounds++;
}
const seconds = (performance.now() - start) / 1000;
const casesPerSec = Math.round(graded / seconds);
console.log(`graded ${graded} cases in ${seconds.toFixed(2)} s (${rounds} rounds): ${casesPerSec} cases/s`);
console.log(JSON.stringify({ casesPerSec, agreement: agree / cases.length, agreed: agree, total: cases.length }));
