/**
 * The "before" evaluation of `grpo train`, cached: runs that start from the same checkpoint with
 * the same evaluation get the same figures, so they are computed once. The key is a hash of what
 * determines them: the starting checkpoint's files and those the policy factory names as its
 * sources (a `policy.huggingface` directory), by content (`fingerprintFile`), the evaluation-relevant config (seed, backend,
 * policy, data, generation, rewards, eval, and every plugin with its options), the versions of
 * node, tfjs and every package, the evaluation rows themselves and the code of the reward functions.
 * Nothing of `train`, `algorithm` or `outputDir` is in it.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  configDir,
  configPath,
  configToJson,
  EvalDataset,
  PolicyFactory,
  resolvePolicyCheckpoint,
  RewardFunction,
  type DatasetRow,
  type Evaluation,
  type PreparedRun,
  type ResolvedConfig,
} from '@grpo/core';

// 2: checkpoints fingerprinted by fingerprintPath, and the policy factory's sources.
const VERSION = 2;

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** Files up to this size are hashed whole; larger ones (weights) by `fingerprintFile`'s sample. */
export const FULL_HASH_MAX_BYTES = 16 * 2 ** 20;
/** The sample of a large file: its first and last MiB and `SAMPLE_CHUNKS` chunks of 64 KiB spread evenly between. */
const EDGE_BYTES = 2 ** 20;
const SAMPLE_CHUNKS = 64;
const CHUNK_BYTES = 64 * 2 ** 10;

/**
 * A file's fingerprint. Small files (configs, tokenizer files, chat templates: everything up to
 * `fullHashMax` bytes) are hashed whole, so any edit is seen. Large files (model weights) would
 * take seconds per GB to hash at every `grpo train`, so they are keyed on their size, their mtime
 * and a hash of a sample: the first and last MiB (a safetensors header, with every tensor's name,
 * dtype, shape and offsets, is at the start) and 64 chunks of 64 KiB spread over the file. Size and
 * mtime alone are not enough (a copy that keeps mtimes, `cp -p` or `rsync -t`, of other weights of
 * the same shapes); the sample catches such a replacement. What it cannot see is an edit in place
 * of bytes outside the sample that also restores the file's mtime; `--no-eval-cache` recomputes.
 */
export async function fingerprintFile(file: string, fullHashMax = FULL_HASH_MAX_BYTES): Promise<string> {
  const info = await stat(file);
  if (info.size <= fullHashMax) return `full:${sha256(await readFile(file))}`;
  const hash = createHash('sha256');
  const handle = await open(file, 'r');
  try {
    const read = async (position: number, length: number) => {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, position);
      hash.update(buffer.subarray(0, bytesRead));
    };
    await read(0, Math.min(EDGE_BYTES, info.size));
    for (let i = 1; i <= SAMPLE_CHUNKS; i++) await read(Math.floor((info.size * i) / (SAMPLE_CHUNKS + 1)), CHUNK_BYTES);
    await read(Math.max(0, info.size - EDGE_BYTES), Math.min(EDGE_BYTES, info.size));
  } finally {
    await handle.close();
  }
  return `sampled:${info.size}:${info.mtimeMs}:${hash.digest('hex')}`;
}

/** Fingerprint of a file or a directory: every file's relative path and `fingerprintFile`, in sorted order. */
export async function fingerprintPath(target: string, fullHashMax = FULL_HASH_MAX_BYTES): Promise<string> {
  if (!(await stat(target)).isDirectory()) return sha256(await fingerprintFile(target, fullHashMax));
  const hash = createHash('sha256');
  const walk = async (rel: string): Promise<void> => {
    const entries = (await readdir(path.join(target, rel), { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      const p = path.join(rel, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) hash.update(`${p}\0${await fingerprintFile(path.join(target, p), fullHashMax)}\0`);
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
  const checkpointDir = config.policy.checkpoint
    ? await resolvePolicyCheckpoint(configPath(config, config.policy.checkpoint), { given: config.policy.checkpoint })
    : undefined;
  const checkpoint = checkpointDir ? await fingerprintPath(checkpointDir) : null;
  // What the policy factory reads besides the checkpoint (e.g. policy.huggingface's directory), by content (where it lies is not part of the key, as for the checkpoint).
  const factory = (await container.getAllAsync<PolicyFactory>(PolicyFactory, { optional: true })).at(-1);
  const sources = await Promise.all((factory?.sources?.({ config, checkpoint: checkpointDir }) ?? []).map((source) => fingerprintPath(source)));
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
    sources,
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
