/**
 * Fault campaign: kill -9 during checkpoint writes (issue 21). Trains the shipped SFT policy on the
 * math task with a checkpoint every step, and FAULT_KILLS times (default 20) kills `grpo train`
 * with SIGKILL — mostly (3 in 4) at a random moment of one of its next three checkpoint writes
 * (while a `.step-*.tmp-*` directory exists), else at a random moment — then resumes with `--resume` and checks that the resume starts from
 * the latest complete checkpoint (which therefore loads), that the stale run-directory lock is
 * taken over, and at the end that a final run completes and metrics.jsonl holds every step once.
 *
 * Prints one line per kill, then one JSON object as its last line:
 * {"campaign":"kill","kills","killsDuringWrite","resumes","resumedFromLatest","failures",
 *  "finalRun","metricsConsistent","seconds","loadAvg"}.
 *
 * FAULT_SEED (default 1) seeds the choices; FAULT_KEEP=1 keeps the run directory.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');
const BIN = path.join(ROOT, 'packages/cli/src/bin.ts');
const KILLS = Number(process.env.FAULT_KILLS ?? 20);
let seed = Number(process.env.FAULT_SEED ?? 1);
const random = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

const started = performance.now();
const base = path.join(ROOT, 'node_modules/.cache/grpo-fault');
await mkdir(base, { recursive: true });
const dir = await mkdtemp(path.join(base, 'kill-'));
const checkpoints = path.join(dir, 'run', 'checkpoints');
await writeFile(
  path.join(dir, '.grporc.json'),
  JSON.stringify({
    plugins: [['math-task', { trainSize: 256, testSize: 0 }]],
    policy: { checkpoint: path.join(ROOT, 'plugins/math-task/checkpoints/sft') },
    outputDir: 'run',
    generation: { maxNewTokens: 8 },
    train: { steps: 100000, promptsPerStep: 2, groupSize: 2, checkpointEvery: 1, logSamplesEvery: 0 },
    algorithm: { kl: { beta: 0.04 } },
  }),
);

/** Complete checkpoints (with trainer.json), by step. */
function completeSteps(): number[] {
  if (!existsSync(checkpoints)) return [];
  return readdirSync(checkpoints)
    .map((name) => /^step-(\d+)$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null && existsSync(path.join(checkpoints, m[0], 'trainer.json')))
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}
const writing = () => existsSync(checkpoints) && readdirSync(checkpoints).some((name) => name.startsWith('.step-'));

interface Round {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
  duringWrite?: boolean;
}

/** One `grpo train` run; `kill` decides when to SIGKILL it (undefined: let it finish). */
function train(args: string[], kill?: 'write' | 'random'): Promise<Round> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', BIN, 'train', '--cwd', dir, ...args], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let duringWrite: boolean | undefined;
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const doKill = () => {
      duringWrite = writing();
      child.kill('SIGKILL');
    };
    let poll: NodeJS.Timeout | undefined;
    if (kill) {
      // Wait until this run has finished a step (its own progress line) and a complete checkpoint
      // exists (so that each kill leaves something to resume from), then strike.
      const firstStep = new Promise<void>((ok) => {
        const check = () => (/step \d+\//.test(err) && completeSteps().length > 0 ? ok() : setTimeout(check, 5));
        check();
      });
      void firstStep.then(() => {
        if (kill === 'random') {
          setTimeout(doKill, random() * 1500);
          return;
        }
        // At a random moment of one of the next three checkpoint writes: poll for its temporary directory.
        const delay = random() * 40;
        let skip = Math.floor(random() * 3);
        let was = false;
        poll = setInterval(() => {
          const now = writing();
          const started = now && !was;
          was = now;
          if (!started) return;
          if (skip-- > 0) return;
          clearInterval(poll);
          if (delay < 1) doKill();
          else setTimeout(doKill, delay);
        }, 1);
      });
    }
    child.on('exit', (code, signal) => {
      clearInterval(poll);
      resolve({ code, signal, out, err, duringWrite });
    });
  });
}

const failures: string[] = [];
let killsDuringWrite = 0;
let resumes = 0;
let resumedFromLatest = 0;
for (let k = 0; k < KILLS; k++) {
  const mode = random() < 0.75 ? 'write' : 'random';
  const expected = completeSteps().at(-1);
  const round = await train(expected === undefined ? [] : ['--resume'], mode);
  if (expected !== undefined) {
    resumes++;
    const from = /resumed from step (\d+)/.exec(round.out)?.[1];
    if (Number(from) === expected) resumedFromLatest++;
    else failures.push(`kill ${k + 1}: expected a resume from step ${expected}, got ${from ?? 'none'}: ${round.err.trim().split('\n').slice(-3).join(' | ')}`);
  }
  if (round.signal !== 'SIGKILL')
    failures.push(`kill ${k + 1}: the run ended by itself (code ${round.code}) before the kill: ${round.err.trim().split('\n').slice(-3).join(' | ')}`);
  if (round.duringWrite) killsDuringWrite++;
  console.log(
    `kill ${k + 1}/${KILLS} (${mode}${round.duringWrite ? ', during a checkpoint write' : ''}); latest complete checkpoint now step ${completeSteps().at(-1) ?? 'none'}`,
  );
}

// A last resume runs two more steps to the end.
const latest = completeSteps().at(-1) ?? 0;
const final = await train(['--resume', '--steps', String(latest + 2)]);
const resumedFinal = Number(/resumed from step (\d+)/.exec(final.out)?.[1]);
if (final.code !== 0) failures.push(`final run: exit ${final.code}: ${final.err.trim().split('\n').slice(-3).join(' | ')}`);
if (resumedFinal !== latest) failures.push(`final run: expected a resume from step ${latest}, got ${resumedFinal}`);
const steps = (await readFile(path.join(dir, 'run', 'metrics.jsonl'), 'utf8'))
  .split('\n')
  .filter((l) => l.trim())
  .map((l) => (JSON.parse(l) as { step: number }).step);
const metricsConsistent = steps.length === latest + 2 && steps.every((s, i) => s === i);
if (!metricsConsistent) failures.push(`metrics.jsonl steps are ${JSON.stringify(steps)}, expected 0..${latest + 1} once each`);
if (!process.env.FAULT_KEEP) await rm(dir, { recursive: true, force: true });

console.log(
  JSON.stringify({
    campaign: 'kill',
    kills: KILLS,
    killsDuringWrite,
    resumes,
    resumedFromLatest,
    failures,
    finalRun: { exit: final.code, resumedFrom: resumedFinal, steps: latest + 2 },
    metricsConsistent,
    seconds: Math.round((performance.now() - started) / 1000),
    loadAvg: Number(os.loadavg()[0]!.toFixed(2)),
  }),
);
process.exitCode = failures.length ? 1 : 0;
