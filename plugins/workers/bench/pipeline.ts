/**
 * The asynchronous pipeline's step time against the synchronous one, on the main job
 * (`main-job.config.ts`): `grpo train` for a few steps with its rollouts on rollout-worker
 * processes, synchronous (`workers.maxStaleness: 0`) and asynchronous (1), each on its own queue.
 * Step 0 (loading, publishing version 0, nothing sampled ahead yet) is left out of the means.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const bin = path.join(root, 'packages/cli/src/bin.ts');
const config = path.join(here, 'main-job.config.ts');

export interface PipelineSetting {
  /** The key in the report. */
  readonly name: string;
  readonly maxStaleness: number;
  readonly rolloutWorkers: number;
}

export const PIPELINE_SETTINGS: readonly PipelineSetting[] = [
  { name: 'sync', maxStaleness: 0, rolloutWorkers: 1 },
  { name: 'async', maxStaleness: 1, rolloutWorkers: 1 },
  { name: 'async_2_workers', maxStaleness: 1, rolloutWorkers: 2 },
];

function grpo(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', bin, ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr.on('data', (d: Buffer) => (text += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { child, output: () => text, exited };
}

/** Mean seconds per step after the first, per setting, and each step's seconds. */
export async function pipelineStepTimes(
  url: string,
  steps: number,
  log: (line: string) => void,
): Promise<{ stepTime: Record<string, number>; stepTimes: Record<string, number[]>; rolloutWait: Record<string, number> }> {
  const tmp = mkdtempSync(path.join(tmpdir(), 'grpo-bench-pipeline-'));
  const stepTime: Record<string, number> = {};
  const stepTimes: Record<string, number[]> = {};
  // Seconds a step waits for its rollouts (`timing/generate`): what sampling ahead hides.
  const rolloutWait: Record<string, number> = {};
  const meanAfterFirst = (xs: number[]) => Number((xs.slice(1).reduce((a, b) => a + b, 0) / Math.max(1, xs.length - 1)).toFixed(2));
  try {
    for (const s of PIPELINE_SETTINGS) {
      const env = { GRPO_REDIS_URL: url, QUEUE: `bench-pipeline-${s.name}`, MAX_STALENESS: String(s.maxStaleness) };
      const workers = Array.from({ length: s.rolloutWorkers }, () => grpo(['worker', '--role', 'rollout', '--config', config, '--quiet'], env));
      try {
        const out = path.join(tmp, s.name);
        const run = grpo(['train', '--config', config, '--steps', String(steps), '-o', out, '--no-eval'], env);
        const code = await run.exited;
        if (code !== 0) throw new Error(`grpo train (${s.name}) exited with ${code}:\n${run.output()}`);
        const metrics = readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line) as Record<string, number>);
        const times = metrics.map((m) => m.step_time!);
        stepTimes[s.name] = times.map((t) => Number(t.toFixed(2)));
        stepTime[s.name] = meanAfterFirst(times);
        rolloutWait[s.name] = meanAfterFirst(metrics.map((m) => m['timing/generate'] ?? 0));
        const staleness = metrics.map((m) => m['async/staleness/mean'] ?? 0).join(', ');
        log(
          `${s.name.padEnd(16)} maxStaleness ${s.maxStaleness}, ${s.rolloutWorkers} rollout worker(s): ${stepTime[s.name]} s/step after step 0, ${rolloutWait[s.name]} s of it waiting for rollouts (steps: ${stepTimes[s.name]!.join(', ')} s; staleness ${staleness})`,
        );
      } finally {
        for (const w of workers) w.child.kill('SIGKILL');
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return { stepTime, stepTimes, rolloutWait };
}
