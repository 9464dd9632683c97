/**
 * Seconds per GRPO step in the browser (the playground's worker, headless Chromium, wasm) vs in
 * Node (the same session code, same settings, same wasm backend), on this machine in one run.
 * `npm run bench:playground`; the last line is one JSON object.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Session, DEFAULT_SETTINGS, type StepView } from '../src/session.js';
import { buildSite, CHECKPOINT_DIR, CHROMIUM, hasChromium, launchChromium, serve, type PagePlayground } from './harness.js';

const WARMUP = 1;
const STEPS = Number(process.env.STEPS ?? 3);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

if (!hasChromium) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM_PATH`);
const work = await mkdtemp(path.join(tmpdir(), 'grpo-playground-bench-'));
try {
  await buildSite(path.join(work, 'site'));
  const site = await serve(path.join(work, 'site'));
  const browser = await launchChromium();
  let browserSteps: StepView[];
  try {
    const page = await browser.newPage();
    await page.goto(site.url);
    const state = () => (globalThis as unknown as { playground: PagePlayground }).playground.state;
    await page.waitForFunction(() => (globalThis as unknown as { playground?: PagePlayground }).playground?.state.phase === 'ready', undefined, {
      timeout: 120_000,
    });
    await page.fill('#steps', String(WARMUP + STEPS));
    await page.click('#start');
    await page.waitForFunction(
      (n) => {
        const s = (globalThis as unknown as { playground: PagePlayground }).playground.state;
        return (s.steps.length >= n && s.phase === 'ready') || s.errors.length > 0;
      },
      WARMUP + STEPS,
      { timeout: 0 },
    );
    const final = await page.evaluate(state);
    if (final.errors.length) throw new Error(`the page failed: ${final.errors.join('; ')}`);
    browserSteps = final.steps as StepView[];
  } finally {
    await browser.close();
    await site.close();
  }

  const files: Record<string, Uint8Array> = {};
  for (const name of ['config.json', 'model.safetensors', 'tokenizer.json']) files[name] = await readFile(path.join(CHECKPOINT_DIR, name));
  const session = await Session.create({ files, settings: DEFAULT_SETTINGS });
  const nodeSteps: StepView[] = [];
  for (let i = 0; i < WARMUP + STEPS; i++) nodeSteps.push(await session.step());
  session.dispose();

  const timed = (steps: StepView[]) => steps.slice(WARMUP).map((s) => s.seconds);
  const { promptsPerStep, groupSize, maxNewTokens } = DEFAULT_SETTINGS;
  console.log(
    `settings: ${promptsPerStep} prompts × G ${groupSize}, ≤ ${maxNewTokens} new tokens, wasm backend (single-threaded SIMD in both), ${STEPS} steps after ${WARMUP} warm-up`,
  );
  console.log(
    `browser s/step: ${timed(browserSteps)
      .map((s) => s.toFixed(2))
      .join(' ')}`,
  );
  console.log(
    `node    s/step: ${timed(nodeSteps)
      .map((s) => s.toFixed(2))
      .join(' ')}`,
  );
  console.log(`same rewards in both: ${JSON.stringify(browserSteps.map((s) => s.reward)) === JSON.stringify(nodeSteps.map((s) => s.reward))}`);
  const browserSecondsPerStep = mean(timed(browserSteps));
  const nodeSecondsPerStep = mean(timed(nodeSteps));
  console.log(
    JSON.stringify({
      browserSecondsPerStep: Number(browserSecondsPerStep.toFixed(3)),
      nodeSecondsPerStep: Number(nodeSecondsPerStep.toFixed(3)),
      ratio: Number((browserSecondsPerStep / nodeSecondsPerStep).toFixed(3)),
      steps: STEPS,
    }),
  );
} finally {
  await rm(work, { recursive: true, force: true });
}
