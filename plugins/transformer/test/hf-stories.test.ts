/**
 * A real pretrained model against an independent implementation: Karpathy's llama2.c
 * stories260K in the Hugging Face layout (../shared/models/stories260k, read from the shared
 * folder, never copied), whose goldens.json holds the logits and greedy continuations llama2.c's
 * own C inference code computed (see that folder's README).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isHfModelDir, loadHfPolicy, NoTextTokenizer, type TransformerPolicy } from '../src/index.js';
import { logitsAt, useWasm } from './helpers.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const STORIES_DIR = path.resolve(repoRoot, '../shared/models/stories260k');

interface Goldens {
  prompts: { ids: number[]; logits: number[][]; greedy: number[] }[];
}
const goldens = JSON.parse(readFileSync(path.join(STORIES_DIR, 'goldens.json'), 'utf8')) as Goldens;

let policy: TransformerPolicy;
beforeAll(async () => {
  await useWasm();
  policy = await loadHfPolicy(STORIES_DIR);
});
afterAll(() => policy?.dispose());

describe('stories260K (Hugging Face layout) against llama2.c', () => {
  it('is recognised as a Hugging Face directory and read as its config.json says', async () => {
    expect(await isHfModelDir(STORIES_DIR)).toBe(true);
    expect(policy.config).toEqual({
      vocabSize: 512,
      dModel: 64,
      nLayers: 5,
      nHeads: 8,
      nKvHeads: 4,
      ffnDim: 172,
      maxSeqLen: 512,
      ropeBase: 10000,
      normEps: 1e-5,
      tiedEmbeddings: true,
    });
    expect(policy.tokenizer).toBeInstanceOf(NoTextTokenizer);
    expect(policy.conventions).toEqual({ promptPrefix: [1], eosIds: [2] });
    expect(() => policy.encodePrompt('Once upon a time')).toThrow(/has no tokenizer\.json: this model takes token ids only/);
  });

  it("reproduces run.c's logits at every position of the four prompts (max |Δ| ≤ 1e-4)", () => {
    let worst = 0;
    let count = 0;
    for (const prompt of goldens.prompts) {
      const ours = logitsAt(policy, prompt.ids);
      expect(ours.length).toBe(prompt.logits.length);
      prompt.logits.forEach((row, p) => {
        row.forEach((v, j) => {
          worst = Math.max(worst, Math.abs(v - (ours[p]![j] as number)));
          count++;
        });
      });
    }
    expect(count).toBe(48 * 512);
    expect(worst).toBeLessThanOrEqual(1e-4);
  });

  it("reproduces run.c's 64 greedy tokens exactly for each prompt (KV-cache decoding, all prompts in one batch)", async () => {
    const out = await policy.generateFromIds(
      goldens.prompts.map((p) => p.ids),
      1,
      { temperature: 0, maxNewTokens: 64 },
    );
    out.forEach(([c], i) => {
      expect(c!.tokenIds).toEqual(goldens.prompts[i]!.greedy);
      expect(c!.finishReason).toBe('length');
      expect(c!.text).toBeNull();
    });
  });
});
