/**
 * One Ctrl-C under the README's own command saves a checkpoint, as the docs promise: `npm start`
 * runs in a pseudo-terminal (util-linux `script`) on a fresh copy of this checkout, like a user's
 * terminal (npm, its shell and the CLI in one foreground process group, so the terminal's SIGINT
 * reaches all of them), and the test types Ctrl-C once the first step is logged. Then `--resume`
 * continues from the checkpoint, this time with npm running scripts through bash, which hands
 * the CLI the SIGINT twice (the terminal's and npm's forwarded one) for one key press.
 *
 * About 2 minutes (two or three steps of the main job each time); skipped where `script` is not
 * util-linux's.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshCheckout, renderTerminal, userEnv } from '../support/checkout.js';

const hasScript = /util-linux/.test(spawnSync('script', ['--version'], { encoding: 'utf8' }).stdout ?? '');

/**
 * Runs `command` (a shell line) in an 80×24 pseudo-terminal; `watch` sees the output so far and
 * may type into the terminal. Resolves with the exit code and the raw output.
 */
function inTerminal(command: string, cwd: string, env: NodeJS.ProcessEnv, watch: (raw: string, type: (keys: string) => void) => void) {
  return new Promise<{ code: number | null; raw: string }>((resolve, reject) => {
    const child = spawn('script', ['-qefc', `stty cols 80 rows 24; exec ${command}`, '/dev/null'], { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let raw = '';
    const type = (keys: string) => void child.stdin.write(keys);
    child.stdout.on('data', (d: Buffer) => {
      raw += d.toString();
      watch(raw, type);
    });
    child.stderr.on('data', (d: Buffer) => (raw += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      child.stdin.end();
      resolve({ code, raw });
    });
  });
}

/** The progress lines a terminal shows (`step n/N …`), all within 80 columns. */
const progressLines = (lines: string[]) => lines.filter((l) => /^step \d+\/\d+ /.test(l));

describe.skipIf(!hasScript)("Ctrl-C under the README's command (npm start, in a terminal)", () => {
  let clone: string;

  beforeAll(() => {
    clone = freshCheckout('grpo-ctrl-c-');
  }, 120_000);

  afterAll(() => {
    if (clone) rmSync(clone, { recursive: true, force: true });
  });

  it('one Ctrl-C finishes the step, saves a checkpoint and says so; --resume continues from it', async () => {
    const run = path.join(clone, 'runs/ctrl-c');
    let typed = false;
    const first = await inTerminal(
      'npm start -- -o runs/ctrl-c --no-eval --steps 5',
      clone,
      userEnv({ GRPO_CACHE_DIR: path.join(clone, '.cache') }),
      (raw, type) => {
        // The first step is logged: press Ctrl-C once, while the second one is computed.
        if (!typed && /step 1\/5/.test(raw)) {
          typed = true;
          type('\x03');
        }
      },
    );
    const screen = renderTerminal(first.raw);
    const shown = screen.join('\n');
    expect(typed, shown).toBe(true);
    // 0, or 130 when npm runs the script through dash: dash leaves the command running, takes the
    // terminal's SIGINT itself once the CLI has exited (cleanly, as the messages below show), and npm passes that on.
    expect([0, 130], shown).toContain(first.code);
    // Printed once at start, before any progress line (checked in the raw output: npm's own spinner
    // may redraw the terminal's first rows on a busy machine).
    expect(first.raw).toContain(
      'algorithm: estimator grpo, objective clipped-surrogate, loss aggregation seq-mean-token-mean, KL k3 (β 0.04, in the loss); rewards: task_accuracy',
    );
    // The messages stay on screen: the progress line is redrawn below them, never over them.
    expect(screen).toContain('stopping after this step and saving a checkpoint (press Ctrl-C again to exit now)');
    const stopped = Number(/^stopped at step (\d+); continue with --resume$/m.exec(shown)?.[1]);
    expect(stopped, shown).toBeGreaterThanOrEqual(1);
    const checkpoint = path.join(run, 'checkpoints', `step-${String(stopped).padStart(6, '0')}`);
    expect(screen).toContain(`checkpoint: ${checkpoint}`);
    expect(existsSync(path.join(checkpoint, 'trainer.json'))).toBe(true);
    // The progress line fits an 80-column terminal with reward, KL and tokens/s in it.
    const progress = progressLines(screen);
    expect(progress.length).toBeGreaterThan(0);
    for (const line of progress) expect(line.length, line).toBeLessThanOrEqual(80);
    expect(progress.at(-1)).toMatch(/^step \d+\/5 .*% ETA \S+ \| reward \d\.\d{3} kl \d\.\d{4} \| \d+ tok\/s$/);
    // The run recorded its config.
    expect(JSON.parse(readFileSync(path.join(run, 'config.json'), 'utf8'))).toMatchObject({
      config: { seed: 0, train: { steps: 5 } },
      seed: 0,
      backend: 'native',
    });

    // --resume finds the checkpoint. With bash as npm's script shell, one key press reaches the CLI twice: still one Ctrl-C.
    let resumed = false;
    const second = await inTerminal(
      'npm run grpo -- train -o runs/ctrl-c --no-eval --steps 8 --resume',
      clone,
      userEnv({ GRPO_CACHE_DIR: path.join(clone, '.cache'), npm_config_script_shell: '/bin/bash' }),
      (raw, type) => {
        if (!resumed && new RegExp(`step ${stopped + 1}/8`).test(raw)) {
          resumed = true;
          type('\x03');
        }
      },
    );
    const again = renderTerminal(second.raw).join('\n');
    expect(second.code, again).toBe(0);
    expect(again).toContain(`resumed from step ${stopped}`);
    const stoppedAgain = Number(/^stopped at step (\d+); continue with --resume$/m.exec(again)?.[1]);
    expect(stoppedAgain, again).toBeGreaterThan(stopped);
    expect(readdirSync(path.join(run, 'checkpoints'))).toContain(`step-${String(stoppedAgain).padStart(6, '0')}`);
  }, 600_000);
});
