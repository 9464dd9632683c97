/**
 * The playground end to end, in real headless Chromium: the static site is built from the sources,
 * served, and driven like a visitor would — three GRPO steps, charts, a reward of the page's own,
 * the downloaded checkpoint loaded in Node. `npm run test:playground` runs only this file.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setupBackend } from '@grpo/plugin-backend-wasm';
import { loadPolicy } from '@grpo/plugin-transformer';
import { unzipSync } from 'fflate';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextTokenLogProbs } from '../src/session.js';
import { buildSite, CHECKPOINT_DIR, CHROMIUM, hasChromium, launchChromium, serve, type PagePlayground } from './harness.js';

if (!hasChromium) console.log(`playground end-to-end test skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);

/** A prompt of the task's form, as the trainer renders it. */
const PROMPT = 'ann has 12 apples. she buys 30, sells 7. how many now?\n';

interface Globals {
  playground: PagePlayground;
  document: {
    getElementById(id: string): {
      getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } };
      width: number;
      height: number;
    };
  };
}

/** In the page: pixels of a chart's canvas within 40 (per channel) of its line colour — drawn data, not axes or title text. */
function linePixels([id, rgb]: [string, [number, number, number]]): number {
  const canvas = (globalThis as unknown as Globals).document.getElementById(`chart-${id}`);
  const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
  let n = 0;
  for (let i = 0; i < data.length; i += 4)
    if (data[i + 3]! > 200 && Math.abs(data[i]! - rgb[0]) < 40 && Math.abs(data[i + 1]! - rgb[1]) < 40 && Math.abs(data[i + 2]! - rgb[2]) < 40) n++;
  return n;
}

const playgroundState = () => (globalThis as unknown as Globals).playground.state;

async function runSteps(page: Page, total: number): Promise<void> {
  const before = (await page.evaluate(playgroundState)).steps.length;
  await page.fill('#steps', String(total - before));
  await page.click('#start');
  await page.waitForFunction((n) => {
    const s = (globalThis as unknown as Globals).playground.state;
    return (s.steps.length >= n && s.phase === 'ready') || s.errors.length > 0;
  }, total);
}

describe.skipIf(!hasChromium)('playground in headless Chromium', () => {
  let work: string;
  let site: Awaited<ReturnType<typeof serve>>;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'grpo-playground-'));
    await buildSite(path.join(work, 'site'));
    site = await serve(path.join(work, 'site'));
    browser = await launchChromium();
    page = await browser.newPage({ acceptDownloads: true });
    page.on('console', (message) => void (message.type() === 'error' && consoleErrors.push(message.text())));
    page.on('pageerror', (error) => void consoleErrors.push(error.message));
    await page.goto(site.url);
    await page.waitForFunction(() => (globalThis as unknown as Globals).playground?.state.phase === 'ready', undefined, { timeout: 60_000 });
    // Small steps: 2 prompts × G = 4 (the settings go to the worker on Reset).
    await page.fill('#promptsPerStep', '2');
    await page.fill('#groupSize', '4');
    await page.click('#reset');
    await page.waitForFunction(() => (globalThis as unknown as Globals).playground.state.phase === 'ready');
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await site?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('loads on the wasm backend and runs three GRPO steps whose charts paint', async () => {
    await runSteps(page, 3);
    const state = await page.evaluate(playgroundState);
    expect(state.errors).toEqual([]);
    expect(state.backend).toBe('wasm');
    expect(state.steps.map((s) => s.step)).toEqual([0, 1, 2]);
    for (const s of state.steps) {
      // The trainer logs the first group's first four completions: with G = 4 the whole group.
      expect(s.samples).toHaveLength(4);
      expect(s.reward).toBeGreaterThanOrEqual(0);
      expect(s.reward).toBeLessThanOrEqual(1);
      // GRPO's advantages are centred per group.
      expect(Math.abs(s.samples.reduce((a, x) => a + x.advantage, 0))).toBeLessThan(1e-6);
    }
    const colors: [string, [number, number, number]][] = [
      ['reward', [0x1f, 0x77, 0xb4]],
      ['kl', [0xd6, 0x27, 0x28]],
      ['accuracy', [0x2c, 0xa0, 0x2c]],
    ];
    for (const c of colors) expect(await page.evaluate(linePixels, c), `chart ${c[0]}`).toBeGreaterThan(20);
    expect(await page.locator('#samplesBody tr').count()).toBe(4);
  }, 120_000);

  it('shows reward code that does not compile or never returns, and keeps training', async () => {
    await page.fill('#rewardCode', 'export default function reward(input: { completions: string[] ) { return []; }');
    await page.click('#applyReward');
    await expect.poll(() => page.textContent('#rewardError')).toMatch(/Unexpected token|\(1:/);
    await page.fill('#rewardCode', 'export default function reward(): number[] { for (;;) {} }');
    await page.click('#applyReward');
    await expect.poll(() => page.textContent('#rewardError'), { timeout: 20_000 }).toMatch(/did not return within 5 s/);
    // The page stayed responsive meanwhile, and the task's reward is still the one in use.
    expect(await page.textContent('#rewardStatus')).toMatch(/task's own/);
  }, 60_000);

  it('a reward that is always 1 takes effect: reward mean 1, every advantage 0', async () => {
    await page.fill(
      '#rewardCode',
      'export default function reward(input: { completions: string[] }): number[] {\n  return input.completions.map(() => 1);\n}\n',
    );
    await page.click('#applyReward');
    await expect.poll(() => page.textContent('#rewardStatus')).toMatch(/yours/);
    expect(await page.isHidden('#rewardError')).toBe(true);
    await runSteps(page, 4);
    const state = await page.evaluate(playgroundState);
    expect(state.errors).toEqual([]);
    const last = state.steps.at(-1)!;
    expect(last.reward).toBe(1);
    expect(last.samples.every((s) => s.reward === 1 && s.advantage === 0)).toBe(true);
    // Accuracy is still the task's: no constant 1.
    expect(last.accuracy).toBeLessThan(1);
  }, 60_000);

  it("downloads a checkpoint that Node loads with the page policy's exact log-probs", async () => {
    const inPage = await page.evaluate((prompt) => (globalThis as unknown as Globals).playground.nextTokenLogProbs(prompt), PROMPT);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    const zip = path.join(work, 'policy.zip');
    await download.saveAs(zip);
    const entries = unzipSync(new Uint8Array(await readFile(zip)));
    expect(Object.keys(entries).sort()).toEqual(['policy/config.json', 'policy/model.safetensors', 'policy/tokenizer.json']);
    for (const [name, bytes] of Object.entries(entries)) {
      await mkdir(path.dirname(path.join(work, name)), { recursive: true });
      await writeFile(path.join(work, name), bytes);
    }
    await setupBackend('wasm');
    const trained = await loadPolicy(path.join(work, 'policy'));
    const start = await loadPolicy(CHECKPOINT_DIR);
    try {
      const inNode = nextTokenLogProbs(trained, PROMPT);
      expect(inNode).toHaveLength(trained.config.vocabSize);
      expect(inNode).toEqual(inPage);
      // Four steps changed the policy: the comparison can tell policies apart.
      expect(nextTokenLogProbs(start, PROMPT)).not.toEqual(inPage);
    } finally {
      trained.dispose();
      start.dispose();
    }
    expect(consoleErrors).toEqual([]);
  }, 60_000);
});
