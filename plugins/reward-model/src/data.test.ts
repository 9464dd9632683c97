import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataError } from '@grpo/core';
import { describe, expect, it } from 'vitest';
import { exampleToJson, parseExamples, readExamples } from './data.js';

const bad = (line: string) => () => parseExamples(`{"prompt":"p","completion":"c","label":1}\n${line}\n`, 'data.jsonl');

describe('reward-model JSONL data', () => {
  it('reads the three kinds and both step-label formats', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rm-data-'));
    const file = join(dir, 'train.jsonl');
    const lines = [
      { prompt: 'q1', completion: 'x', label: true },
      { prompt: 'q2', chosen: 'good', rejected: 'bad' },
      { prompt: 'q3', completion: '1+1=2\n2+2=5\n#### 5', steps: [1, 0] },
      {
        prompt: 'q4',
        completion: '1+1=2\n2+2=5',
        steps: [
          { text: '1+1=2', label: 1 },
          { endChar: 11, label: false },
        ],
      },
    ];
    await writeFile(file, `${lines.map((l) => JSON.stringify(l)).join('\n')}\n\n`);
    const examples = await readExamples(file, { steps: { stopAt: '####' } });
    expect(examples).toEqual([
      { kind: 'outcome', prompt: 'q1', completion: 'x', label: 1 },
      { kind: 'preference', prompt: 'q2', chosen: 'good', rejected: 'bad' },
      {
        kind: 'process',
        prompt: 'q3',
        completion: '1+1=2\n2+2=5\n#### 5',
        steps: [
          { endChar: 5, reward: 1 },
          { endChar: 11, reward: 0 },
        ],
      },
      {
        kind: 'process',
        prompt: 'q4',
        completion: '1+1=2\n2+2=5',
        steps: [
          { endChar: 5, reward: 1 },
          { endChar: 11, reward: 0 },
        ],
      },
    ]);
    // Round trip through exampleToJson.
    expect(parseExamples(examples.map(exampleToJson).join('\n'), 'x.jsonl')).toEqual(examples);
  });

  it('names the file and line of malformed data', async () => {
    expect(bad('{"prompt":"p","completion":"c"}')).toThrow(
      new DataError("data.jsonl:2: missing field 'label' (outcome examples need prompt, completion, label)"),
    );
    expect(bad('{"completion":"c","label":1}')).toThrow(/^data\.jsonl:2: missing field 'prompt'/);
    expect(bad('{"prompt":"p","completion":"","label":1}')).toThrow("data.jsonl:2: field 'completion' is empty");
    expect(bad('{"prompt":"p","completion":"c","label":"yes"}')).toThrow('data.jsonl:2: label must be 0, 1, true or false, got "yes"');
    expect(bad('{"prompt":"p","completion":"c","label":0.5}')).toThrow('data.jsonl:2: label must be 0, 1, true or false, got 0.5');
    expect(bad('{"prompt":"p","completion":7,"label":1}')).toThrow("data.jsonl:2: field 'completion' must be a string, got 7");
    expect(bad('{"prompt":"p","chosen":"a"}')).toThrow("data.jsonl:2: missing field 'rejected' (preference examples need prompt, chosen, rejected)");
    expect(bad('{"prompt":"p","completion":"a\\nb","steps":[1]}')).toThrow("data.jsonl:2: 'steps' has 1 labels but the completion has 2 steps");
    expect(bad('{"prompt":"p","completion":"a\\nb","steps":[1,"no"]}')).toThrow('data.jsonl:2: steps[1] must be 0, 1, true or false, got "no"');
    expect(bad('{"prompt":"p","completion":"ab","steps":[{"endChar":9,"label":1}]}')).toThrow('data.jsonl:2: steps[0].endChar must be an integer in 1..2');
    expect(bad('{"prompt":"p","completion":"ab","steps":[{"text":"zz","label":1}]}')).toThrow('data.jsonl:2: steps[0].text "zz" does not occur');
    expect(bad('{"prompt":"p","completion":"ab","steps":[]}')).toThrow(/^data\.jsonl:2: 'steps' must be a non-empty list/);
    expect(bad('not json')).toThrow(/^data\.jsonl:2: malformed JSON/);
    expect(bad('[1]')).toThrow('data.jsonl:2: expected a JSON object, got [1]');
    expect(() => parseExamples('{"prompt":"p","chosen":"a","rejected":"b"}', 'f.jsonl', { kind: 'outcome' })).toThrow(
      "f.jsonl:1: expected an example of kind 'outcome'",
    );
    expect(() => parseExamples('\n\n', 'empty.jsonl')).toThrow('empty.jsonl: no examples');
    await expect(readExamples('/nonexistent/rm.jsonl')).rejects.toThrow('/nonexistent/rm.jsonl: cannot read (ENOENT)');
  });
});
