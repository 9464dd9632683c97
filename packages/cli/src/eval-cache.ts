/**
 * The "before" evaluation of `grpo train`, cached: runs that start from the same checkpoint with
 * the same evaluation get the same figures, so they are computed once. The key is a hash of what
 * determines them: the starting checkpoint's files, the evaluation-relevant config (seed, backend,
 * policy, data, generation, rewards, eval, and every plugin with its options), the versions of
 * node, tfjs and every package, the evaluation rows themselves and the code of the reward functions.
 * Nothing of `train`, `algorithm` or `outputDir` is in it.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  configDir,
  configPath,
  configToJson,
  EvalDataset,
  resolvePolicyCheckpoint,
  RewardFunction,
  type DatasetRow,
  type Evaluation,
  type PreparedRun,
  type ResolvedConfig,
} from '@grpo/core';

const VERSION = 1;

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** Content hash of a directory: every file's relative path and bytes, in sorted order. */
export async function hashDirectory(dir: string): Promise<string> {
  const hash = createHash('sha256');
  const walk = async (rel: string): Promise<void> => {
    const entries = (await readdir(path.join(dir, rel), { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      const p = path.join(rel, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) {
        hash.update(`${p}\0`);
        hash.update(await readFile(path.join(dir, p)));
        hash.update('\0');
      }
    }
  };
  await walk('');
  return hash.digest('hex');
}

/**
 * Where cached figures go: `$GRPO_CACHE_DIR`, else `node_modules/.cache/grpo` of the nearest
 * `node_modules` above the config (as Babel and ESLint cache), else `~/.cache/grpo`.
 */
export function cacheDir(config: ResolvedConfig): string {
  if (process.env.GRPO_CACHE_DIR) return path.resolve(process.env.GRPO_CACHE_DIR);
  for (let dir = configDir(config); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'node_modules'))) return path.join(dir, 'node_modules', '.cache', 'grpo');
    if (path.dirname(dir) === dir) break;
  }
  return path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'grpo');
}

/** The key of a run's "before" figures (see the module comment). */
export async function evalCacheKey(run: Pick<PreparedRun, 'container' | 'record'>, config: ResolvedConfig): Promise<string> {
  const { container, record } = run;
  const json = configToJson(config) as Record<string, unknown> & { policy?: Record<string, unknown>; eval?: Record<string, unknown> };
  const { checkpoint: _path, ...policy } = json.policy ?? {};
  const { before: _b, after: _a, ...evaluation } = json.eval ?? {};
  const checkpoint = config.policy.checkpoint
    ? await hashDirectory(await resolvePolicyCheckpoint(configPath(config, config.policy.checkpoint), { given: config.policy.checkpoint }))
    : null;
  const dataset = container.isBound(EvalDataset) ? await container.getAsync<{ size: number; get(i: number): DatasetRow }>(EvalDataset) : undefined;
  const n = dataset ? Math.min(dataset.size, config.data.evalSize ?? dataset.size) : 0;
  const rows = sha256(JSON.stringify(Array.from({ length: n }, (_, i) => dataset!.get(i))));
  const rewards = (await container.getAllAsync<RewardFunction>(RewardFunction, { optional: true })).map((r) => ({
    name: r.name,
    code: sha256(String(r.score)),
  }));
  const material = {
    v: VERSION,
    checkpoint,
    config: {
      seed: json.seed,
      backend: json.backend,
      policy,
      data: json.data,
      generation: json.generation,
      rewards: json.rewards,
      eval: evaluation,
      plugins: json.plugins,
    },
    versions: record.versions,
    rows,
    rewards,
  };
  return sha256(JSON.stringify(material));
}

interface CacheFile {
  v: number;
  key: string;
  created: string;
  evaluation: Evaluation;
}

/** A cached evaluation under `dir` for `key`, or undefined. */
export async function readCachedEvaluation(dir: string, key: string): Promise<{ evaluation: Evaluation; created: string } | undefined> {
  try {
    const file = JSON.parse(await readFile(path.join(dir, `eval-${key}.json`), 'utf8')) as CacheFile;
    if (file.v !== VERSION || file.key !== key || !file.evaluation?.metrics) return undefined;
    return { evaluation: file.evaluation, created: file.created };
  } catch {
    return undefined;
  }
}

/** Stores an evaluation under `dir` for `key` (written to a temporary file and renamed, so readers never see half of one). */
export async function writeCachedEvaluation(dir: string, key: string, evaluation: Evaluation): Promise<void> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `eval-${key}.json`);
  const tmp = `${file}.${process.pid}.tmp`;
  const content: CacheFile = { v: VERSION, key, created: new Date().toISOString(), evaluation };
  await writeFile(tmp, `${JSON.stringify(content)}\n`);
  await rename(tmp, file);
}
