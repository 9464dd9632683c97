/**
 * Fault campaign: mutated checkpoints (issue 21). Saves a real trainer checkpoint (the shipped SFT
 * policy after one step: policy/, reference/, optimizer.safetensors, trainer.json), then makes
 * FAULT_MUTANTS copies (default 1000), each with one file mutated — bits flipped (in a
 * safetensors file, half of them in the header), truncated, overwritten with garbage, emptied or
 * deleted, or one JSON field (of config.json, trainer.json, tokenizer.json or a safetensors
 * header) set to null, a wrong type, a huge or negative number, or removed — and loads each:
 * `DirectoryCheckpointer.restore` into a run of the same config, and for mutants under policy/
 * also `loadPolicy` (what `grpo sample --checkpoint` does). Loads run in a child process with a
 * 2 GB heap; a load that takes over 30 s is a hang, one that ends the child a crash.
 *
 * Outcomes per load: `loaded` (the mutation left a valid checkpoint, e.g. a flipped bit in a
 * weight's mantissa — nothing without checksums can tell), `precise` (a GrpoError naming the
 * mutated checkpoint's file), `imprecise` (any other error), `crash`, `hang`.
 *
 * Prints one JSON object as its last line:
 * {"campaign":"mutate","mutants","restore":{…},"loadPolicy":{…},"byKind":{…},"imprecise":[…],"loadedExamples":[…],"seconds","loadAvg"}.
 * FAULT_SEED (default 1) seeds the mutations.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');
const SFT = path.join(ROOT, 'plugins/math-task/checkpoints/sft');
const TIMEOUT_MS = 30_000;

interface Outcome {
  kind: 'loaded' | 'precise' | 'imprecise' | 'crash' | 'hang';
  message?: string;
}

/** The config of the run the checkpoint comes from (and that restores it). */
const config = (outputDir: string) => ({
  plugins: [['math-task', { trainSize: 64, testSize: 0 }]],
  policy: { checkpoint: SFT },
  outputDir,
  generation: { maxNewTokens: 8 },
  train: { steps: 1, promptsPerStep: 2, groupSize: 2, logSamplesEvery: 0 },
  algorithm: { kl: { beta: 0.04 } },
});

async function loaderChild(): Promise<void> {
  const { GrpoError, loadConfig, prepareContainer, Trainer, DirectoryCheckpointer } = await import('@grpo/core');
  const { defaultPlugins } = await import('@grpo/cli');
  const { loadPolicy } = await import('@grpo/plugin-transformer');
  const cwd = process.env.FAULT_DIR!;
  const resolved = await loadConfig({ cwd, defaults: defaultPlugins() });
  const trainer = await Trainer.fromContainer(await prepareContainer(resolved));
  const checkpointer = new DirectoryCheckpointer(path.join(cwd, 'unused'));
  const judge = (error: unknown, dir: string): Outcome => {
    const message = error instanceof Error ? error.message : String(error);
    return {
      kind: error instanceof GrpoError && message.includes(dir) ? 'precise' : 'imprecise',
      message: `${(error as Error)?.name}: ${message.slice(0, 300)}`,
    };
  };
  process.on('message', (m: { id: number; dir: string; loadPolicy: boolean }) => {
    void (async () => {
      const out: { restore: Outcome; loadPolicy?: Outcome } = { restore: { kind: 'loaded' } };
      try {
        await checkpointer.restore(m.dir, trainer);
      } catch (error) {
        out.restore = judge(error, m.dir);
      }
      if (m.loadPolicy) {
        try {
          (await loadPolicy(path.join(m.dir, 'policy'))).dispose();
          out.loadPolicy = { kind: 'loaded' };
        } catch (error) {
          out.loadPolicy = judge(error, m.dir);
        }
      }
      process.send!({ id: m.id, ...out });
    })();
  });
  process.send!({ ready: true });
}

if (process.argv.includes('--child')) {
  await loaderChild();
} else {
  await parent();
}

async function parent(): Promise<void> {
  const started = performance.now();
  const mutants = Number(process.env.FAULT_MUTANTS ?? 1000);
  let seed = Number(process.env.FAULT_SEED ?? 1);
  const random = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const int = (n: number) => Math.floor(random() * n);

  const base = path.join(ROOT, 'node_modules/.cache/grpo-fault');
  await mkdir(base, { recursive: true });
  const dir = await mkdtemp(path.join(base, 'mutate-'));
  await writeFile(path.join(dir, '.grporc.json'), JSON.stringify(config('run')));

  // The checkpoint: one real step, saved by the trainer.
  {
    const { loadConfig, prepareRun } = await import('@grpo/core');
    const { defaultPlugins } = await import('@grpo/cli');
    const run = await prepareRun(await loadConfig({ cwd: dir, defaults: defaultPlugins() }));
    await run.trainer.train({ checkpointer: run.checkpointer, sinks: [run.metrics] });
    run.trainer.dispose();
    run.release();
  }
  const original = path.join(dir, 'run', 'checkpoints', 'step-000001');
  const files: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(path.join(d, e.name));
      else files.push(path.relative(original, path.join(d, e.name)));
    }
  };
  await walk(original);

  /** A JSON value mutated at one random leaf (or key). */
  const mutateJson = (value: unknown): { value: unknown; what: string } => {
    const paths: (string | number)[][] = [];
    const visit = (v: unknown, at: (string | number)[]) => {
      if (at.length) paths.push(at);
      if (Array.isArray(v)) v.slice(0, 50).forEach((x, i) => visit(x, [...at, i]));
      else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) visit(x, [...at, k]);
    };
    visit(value, []);
    const where = pick(paths);
    const replacements: [string, unknown][] = [
      ['null', null],
      ['-1', -1],
      ['0', 0],
      ['1e9', 1e9],
      ['1e308', 1e308],
      ['"4"', '4'],
      ['true', true],
      ['[]', []],
      ['{}', {}],
      ['2.5', 2.5],
      ['a long string', 'x'.repeat(100_000)],
      ['removed', undefined],
    ];
    const [what, replacement] = pick(replacements);
    const copy = structuredClone(value) as Record<string | number, unknown>;
    let parent = copy;
    for (const key of where.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
    const last = where.at(-1)!;
    if (replacement === undefined) {
      if (Array.isArray(parent)) parent.splice(last as number, 1);
      else delete parent[last];
    } else parent[last] = replacement;
    return { value: copy, what: `${where.join('.')} = ${what}` };
  };

  const mutate = async (file: string): Promise<string> => {
    const bytes = new Uint8Array(await readFile(file));
    const isJson = file.endsWith('.json');
    const isSafetensors = file.endsWith('.safetensors');
    const kinds = ['flip', 'truncate', 'garbage', 'empty', 'delete', ...(isJson || isSafetensors ? ['json', 'json', 'json'] : [])];
    const kind = pick(kinds);
    if (kind === 'flip') {
      const headerEnd = isSafetensors ? 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true)) : bytes.length;
      const flips = 1 + int(8);
      for (let i = 0; i < flips; i++) {
        const at = isSafetensors && random() < 0.5 ? int(Math.min(headerEnd, bytes.length)) : int(bytes.length);
        bytes[at]! ^= 1 << int(8);
      }
      await writeFile(file, bytes);
      return `flip ${flips} bit(s)`;
    }
    if (kind === 'truncate') {
      const at = int(bytes.length);
      await writeFile(file, bytes.subarray(0, at));
      return `truncate at ${at}`;
    }
    if (kind === 'garbage') {
      const from = int(bytes.length);
      const to = Math.min(bytes.length, from + 1 + int(4096));
      for (let i = from; i < to; i++) bytes[i] = int(256);
      await writeFile(file, bytes);
      return `garbage ${from}..${to}`;
    }
    if (kind === 'empty') {
      await writeFile(file, '');
      return 'empty';
    }
    if (kind === 'delete') {
      await unlink(file);
      return 'delete';
    }
    if (isJson) {
      const { value, what } = mutateJson(JSON.parse(new TextDecoder().decode(bytes)));
      await writeFile(file, JSON.stringify(value));
      return `json ${what}`;
    }
    // A safetensors header field, the header re-encoded (its length updated, the data kept).
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as unknown;
    const { value, what } = mutateJson(header);
    const text = new TextEncoder().encode(JSON.stringify(value));
    const out = new Uint8Array(8 + text.length + bytes.length - 8 - n);
    new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
    out.set(text, 8);
    out.set(bytes.subarray(8 + n), 8 + text.length);
    await writeFile(file, out);
    return `header ${what}`;
  };

  // The loader child, restarted after a crash or hang.
  let child: ChildProcess | undefined;
  const startChild = () =>
    new Promise<ChildProcess>((resolve, reject) => {
      const c = fork(import.meta.filename, ['--child'], {
        execArgv: ['--conditions=source', '--import', 'tsx', '--max-old-space-size=2048'],
        env: { ...process.env, FAULT_DIR: dir },
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      });
      c.stderr?.resume();
      c.once('message', () => resolve(c));
      c.once('exit', (code) => reject(new Error(`the loader child exited (${code}) before it was ready`)));
    });
  const load = async (id: number, mutant: string, alsoPolicy: boolean): Promise<{ restore: Outcome; loadPolicy?: Outcome }> => {
    child ??= await startChild();
    const c = child;
    return new Promise((resolve) => {
      const done = (result: { restore: Outcome; loadPolicy?: Outcome }) => {
        clearTimeout(timer);
        c.off('message', onMessage);
        c.off('exit', onExit);
        resolve(result);
      };
      const onMessage = (m: { id?: number; restore?: Outcome; loadPolicy?: Outcome }) => {
        if (m.id === id) done({ restore: m.restore!, loadPolicy: m.loadPolicy });
      };
      const onExit = (code: number | null, signal: string | null) => {
        child = undefined;
        const o: Outcome = { kind: 'crash', message: `the loader exited (code ${code}, signal ${signal})` };
        done({ restore: o, ...(alsoPolicy ? { loadPolicy: o } : {}) });
      };
      const timer = setTimeout(() => {
        c.off('exit', onExit);
        c.kill('SIGKILL');
        child = undefined;
        const o: Outcome = { kind: 'hang', message: `no answer within ${TIMEOUT_MS / 1000} s` };
        done({ restore: o, ...(alsoPolicy ? { loadPolicy: o } : {}) });
      }, TIMEOUT_MS);
      c.on('message', onMessage);
      c.once('exit', onExit);
      c.send({ id, dir: mutant, loadPolicy: alsoPolicy });
    });
  };

  const empty = () => ({ loaded: 0, precise: 0, imprecise: 0, crash: 0, hang: 0 });
  const totals = { restore: empty(), loadPolicy: empty() };
  const byKind: Record<string, ReturnType<typeof empty>> = {};
  const imprecise: string[] = [];
  const loaded: string[] = [];
  for (let i = 0; i < mutants; i++) {
    const mutant = path.join(dir, `mutant-${i}`);
    await cp(original, mutant, { recursive: true });
    const target = pick(files);
    const what = await mutate(path.join(mutant, target));
    const alsoPolicy = target.startsWith(`policy${path.sep}`);
    const result = await load(i, mutant, alsoPolicy);
    const kind = what.split(' ')[0]!;
    byKind[kind] ??= empty();
    for (const [which, outcome] of [
      ['restore', result.restore],
      ['loadPolicy', result.loadPolicy],
    ] as const) {
      if (!outcome) continue;
      totals[which][outcome.kind]++;
      byKind[kind]![outcome.kind]++;
      if (outcome.kind !== 'loaded' && outcome.kind !== 'precise' && imprecise.length < 20)
        imprecise.push(`${target} (${what}), ${which}: ${outcome.kind}: ${outcome.message}`);
      if (outcome.kind === 'loaded' && which === 'restore' && loaded.length < 40) loaded.push(`${target} (${what.slice(0, 80)})`);
    }
    await rm(mutant, { recursive: true, force: true });
    if ((i + 1) % 100 === 0)
      console.log(`${i + 1}/${mutants} mutants: restore ${JSON.stringify(totals.restore)}, loadPolicy ${JSON.stringify(totals.loadPolicy)}`);
  }
  child?.kill();
  const size = (await stat(path.join(original, 'policy', 'model.safetensors'))).size;
  await rm(dir, { recursive: true, force: true });
  console.log(
    JSON.stringify({
      campaign: 'mutate',
      mutants,
      checkpointFiles: files.length,
      policyWeightsBytes: size,
      restore: totals.restore,
      loadPolicy: totals.loadPolicy,
      byKind,
      imprecise,
      loadedExamples: loaded,
      seconds: Math.round((performance.now() - started) / 1000),
      loadAvg: Number(os.loadavg()[0]!.toFixed(2)),
    }),
  );
  process.exitCode =
    totals.restore.imprecise + totals.restore.crash + totals.restore.hang + totals.loadPolicy.imprecise + totals.loadPolicy.crash + totals.loadPolicy.hang > 0
      ? 1
      : 0;
}
