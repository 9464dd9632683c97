import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DataError } from '@grpo/core';
import { describe, expect, it } from 'vitest';
import { loadGsm8k, parseGsm8kAnswer, verifyMath } from '../src/index.js';
import { sharedData } from './data.js';

describe('GSM8K adapter', () => {
  it('parses every one of the 1,319 test references to a number', async () => {
    const rows = await loadGsm8k(sharedData('gsm8k', 'test.jsonl'));
    expect(rows).toHaveLength(1319);
    for (const row of rows) {
      expect(row.answer).toMatch(/^-?\d+(\.\d+)?$/);
      expect(Number.isFinite(Number(row.answer))).toBe(true);
    }
    expect(rows[0]).toMatchObject({ answer: '18', prompt: rows[0]!.question });
    expect(rows[0]!.solution).not.toContain('####');
    // The reference solution itself grades as correct against its own answer.
    expect(rows.slice(0, 50).every((r) => verifyMath(`${r.solution}\n#### ${r.answer}`, r.answer).equal)).toBe(true);
  });
  it('parses answers with separators and signs', () => {
    expect(parseGsm8kAnswer('so 1,234 in all\n#### 1,234')).toBe('1234');
    expect(parseGsm8kAnswer('#### -3')).toBe('-3');
    expect(parseGsm8kAnswer('#### $5')).toBe('5');
    expect(() => parseGsm8kAnswer('no marker')).toThrow(DataError);
    expect(() => parseGsm8kAnswer('#### twelve')).toThrow(/not a number/);
  });
  it('names file and line of a malformed line, and applies prompt and limit options', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gsm8k-'));
    const file = path.join(dir, 'bad.jsonl');
    writeFileSync(file, '{"question":"q1","answer":"#### 1"}\n{"question":"q2"}\n');
    await expect(loadGsm8k(file)).rejects.toThrow(`${file}:2`);
    const good = path.join(dir, 'good.jsonl');
    writeFileSync(good, '{"question":"q1","answer":"a\\n#### 1"}\n\n{"question":"q2","answer":"#### 2"}\n');
    const rows = await loadGsm8k(good, { prompt: (q) => `Q: ${q}`, limit: 1 });
    expect(rows).toEqual([{ prompt: 'Q: q1', question: 'q1', answer: '1', solution: 'a' }]);
    await expect(loadGsm8k(path.join(dir, 'missing.jsonl'))).rejects.toThrow(/Cannot read GSM8K file/);
  });
});
