/**
 * How the policy's weights reach rollout workers, by version, once per step: the trainer saves
 * each version into `<weightsDir>/v<N>/` (`Policy.save`); a version whose files together are at
 * most `workers.redisWeightsMaxBytes` also goes into Redis (one hash per version, file name →
 * bytes), so workers on other machines need no shared storage for small models. A job names where
 * its version is (`WeightsRef`); a worker that cannot see that version (a lagging replica of the
 * directory, a key Redis lost) samples with the newest older version it can see, and says so in
 * its result: the trainer's staleness bound decides whether those rollouts are used.
 *
 * A policy that trains LoRA adapters (`Policy.saveAdapter`) changes only them: the first version
 * a trainer publishes is the whole model (the base), every later one the adapters alone, marked
 * with the base's publication (`.base`), which is kept as long as the run publishes. A worker
 * loads the base once and then only adapters.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GrpoError, type Policy } from '@grpo/core';
import type { Redis } from 'ioredis';

/** Where one version's files are: a directory (`<weightsDir>/v<N>`), or Redis hashes `<prefix><N>`. */
export type WeightsRef = { readonly kind: 'dir'; readonly dir: string } | { readonly kind: 'redis'; readonly prefix: string; readonly bytes: number };

/** How many older versions a worker may fall back to when it cannot see the one asked for. */
const FALLBACK_VERSIONS = 64;
/** A file (and a hash field) naming each publication, so a worker never mistakes a republished version (a resumed run) for the one it holds. */
const PUBLICATION = '.publication';
/** In a version holding only adapters: the publication of the whole-model version they go on. */
const BASE = '.base';
/** Published versions in Redis expire after a day, whatever happens to the trainer. */
const REDIS_TTL_S = 24 * 3600;

/** The files under `dir`, by path relative to it (`/`-separated). */
export async function readFiles(dir: string): Promise<Record<string, Buffer>> {
  const files: Record<string, Buffer> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    files[path.relative(dir, full).split(path.sep).join('/')] = await readFile(full);
  }
  return files;
}

async function writeFiles(dir: string, files: Record<string, Buffer>): Promise<void> {
  const partial = `${dir}.partial-${process.pid}`;
  await rm(partial, { recursive: true, force: true });
  for (const [name, data] of Object.entries(files)) {
    const file = path.join(partial, ...name.split('/'));
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, data);
  }
  await rm(dir, { recursive: true, force: true });
  await rename(partial, dir);
}

export interface PublisherOptions {
  weightsDir: string;
  /** `workers.redisWeightsMaxBytes`: larger versions stay in the directory only. */
  maxRedisBytes: number;
  /** Redis keys of this run's versions start with this (`<prefix><N>`). */
  prefix: string;
  /** Versions kept (the newest); older ones are removed from the directory and Redis. */
  keep: number;
}

/** A published version: where it is and, when it holds only adapters, where the whole-model version they go on is. */
export interface Published {
  /** Where the version's files are. */
  readonly ref: WeightsRef;
  /** For a version that holds only adapters: the whole-model version they go on, and where it is. */
  readonly base?: { readonly version: number; readonly ref: WeightsRef };
}

/** The trainer's side: publishes each version and removes those no job can still ask for. */
export class WeightsPublisher {
  /** The whole-model version later adapter-only versions go on (a LoRA policy's first publication). */
  private base?: { version: number; publication: string; ref: WeightsRef };

  constructor(private readonly options: PublisherOptions) {}

  dir(version: number): string {
    return path.join(this.options.weightsDir, `v${version}`);
  }

  async publish(policy: Policy, version: number, client: Redis): Promise<Published> {
    const { weightsDir, maxRedisBytes, prefix, keep } = this.options;
    await mkdir(weightsDir, { recursive: true });
    const dir = this.dir(version);
    const base = policy.saveAdapter ? this.base : undefined;
    if (base) await policy.saveAdapter!(dir);
    else await policy.save(dir);
    const publication = `${version}-${randomUUID()}`;
    await writeFile(path.join(dir, PUBLICATION), publication);
    if (base) await writeFile(path.join(dir, BASE), base.publication);
    let ref: WeightsRef = { kind: 'dir', dir };
    if (maxRedisBytes > 0) {
      const files = await readFiles(dir);
      const bytes = Object.values(files).reduce((a, f) => a + f.length, 0);
      if (bytes <= maxRedisBytes) {
        await client.multi().del(`${prefix}${version}`).hset(`${prefix}${version}`, files).expire(`${prefix}${version}`, REDIS_TTL_S).exec();
        ref = { kind: 'redis', prefix, bytes };
      }
    }
    if (policy.saveAdapter && !base) this.base = { version, publication, ref };
    const old = version - keep;
    if (old >= 0 && old !== this.base?.version) {
      await rm(this.dir(old), { recursive: true, force: true });
      await client.del(`${prefix}${old}`);
    }
    return { ref, ...(base ? { base: { version: base.version, ref: base.ref } } : {}) };
  }
}

/** A version a worker can load: the directory holding it, and the version it is. */
export interface LocatedWeights {
  readonly version: number;
  readonly dir: string;
  /** This publication of the version: a worker that holds it loads nothing. */
  readonly publication: string;
}

const publicationOf = async (dir: string) => readFile(path.join(dir, PUBLICATION), 'utf8').catch(() => dir);

/** The publication of the whole-model version a version's adapters go on; undefined for a whole-model version. */
export const adapterBaseOf = async (dir: string): Promise<string | undefined> => readFile(path.join(dir, BASE), 'utf8').catch(() => undefined);

/**
 * The worker's side: the directory of `version` (from Redis into `cacheDir` when the ref says
 * Redis), else of the newest older version it can see; an error naming where it looked when
 * there is none. `weightsDir` replaces the trainer's directory (the same storage mounted elsewhere).
 */
export async function locateWeights(
  ref: WeightsRef,
  version: number,
  options: { client: Redis; cacheDir: string; weightsDir?: string },
): Promise<LocatedWeights> {
  const oldest = Math.max(0, version - FALLBACK_VERSIONS);
  if (ref.kind === 'dir') {
    const base = options.weightsDir ?? path.dirname(ref.dir);
    for (let v = version; v >= oldest; v--) {
      const dir = path.join(base, `v${v}`);
      if (existsSync(dir)) return { version: v, dir, publication: await publicationOf(dir) };
    }
    throw new GrpoError(
      `policy version ${version} is not in ${base}, nor any older one: give the rollout workers the trainer's workers.weightsDir (shared storage, or --weights-dir where it is mounted elsewhere)`,
    );
  }
  for (let v = version; v >= oldest; v--) {
    const publication = (await options.client.hget(`${ref.prefix}${v}`, PUBLICATION)) ?? undefined;
    if (publication === undefined) continue;
    const dir = path.join(options.cacheDir, publication);
    if (!existsSync(dir)) await writeFiles(dir, await options.client.hgetallBuffer(`${ref.prefix}${v}`));
    return { version: v, dir, publication };
  }
  throw new GrpoError(
    `policy version ${version} is not in Redis (keys ${ref.prefix}<N>), nor any older one: was Redis restarted without its data? Continue the run with grpo train --resume`,
  );
}
