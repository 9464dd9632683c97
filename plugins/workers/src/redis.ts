/** Connections to Redis, and the error a user gets when there is none. */
import { GrpoError } from '@grpo/core';
import { Redis, type RedisOptions } from 'ioredis';
import { REDIS_URL_ENV } from './config.js';

/** Redis is not there (or refuses us): names the URL, where it came from, and the fix. */
export class RedisUnavailableError extends GrpoError {}

/** The URL with any password hidden, for messages and logs. */
export function showUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}

const fix = (url: string) =>
  `start a Redis server there (Debian: \`sudo apt-get install redis-server\`, or \`redis-server --port ${portOf(url)}\`), ` +
  `or point the workers at one with workers.redis in the config, $${REDIS_URL_ENV}, or --redis <url>`;

function portOf(url: string): string {
  try {
    return new URL(url).port || '6379';
  } catch {
    return '6379';
  }
}

/**
 * A connected client, or a `RedisUnavailableError` within `timeoutMs` when the server cannot be
 * reached. `options` are ioredis's (BullMQ's workers need `maxRetriesPerRequest: null`).
 */
export async function connectRedis(url: string, options: RedisOptions = {}, timeoutMs = 5000): Promise<Redis> {
  let client: Redis;
  try {
    client = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, ...options });
  } catch (error) {
    throw new RedisUnavailableError(`cannot use the Redis URL ${showUrl(url)}: ${(error as Error).message}`);
  }
  // Until the first connection, ioredis would retry forever: one try, then a clear error.
  const retry = client.options.retryStrategy;
  client.options.retryStrategy = () => null;
  const silence = () => {};
  client.on('error', silence);
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    client.disconnect();
    throw new RedisUnavailableError(`cannot reach Redis at ${showUrl(url)}: ${(error as Error).message || String(error)}; ${fix(url)}`);
  }
  client.options.retryStrategy = retry;
  return client;
}
