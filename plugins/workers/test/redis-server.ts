/**
 * A real Redis for tests: Debian's `redis-server` on loopback, on a free port, with its files in
 * a temporary directory; stopped (or killed and restarted) by the test.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  /** Kills the server (SIGKILL: no chance to save) and starts it again on the same port, without its data. */
  restart(options?: { downMs?: number; onDown?: () => void }): Promise<void>;
  kill(): void;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitForPing(url: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.ping();
      client.disconnect();
      return;
    } catch (error) {
      client.disconnect();
      if (Date.now() > deadline) throw new Error(`redis-server did not answer at ${url}: ${(error as Error).message}`);
      await sleep(50);
    }
  }
}

export async function startRedis(): Promise<RedisServer> {
  if (spawnSync('redis-server', ['--version']).error)
    throw new Error("redis-server is not installed: `sudo apt-get install redis-server` (the workers' tests run a real Redis)");
  const dir = mkdtempSync(path.join(tmpdir(), 'grpo-redis-'));
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const launch = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no'], {
      stdio: 'ignore',
    });
    await waitForPing(url);
  };
  const kill = () => {
    child?.kill('SIGKILL');
    child = undefined;
  };
  await launch();
  return {
    url,
    port,
    kill,
    restart: async ({ downMs = 0, onDown } = {}) => {
      const old = child;
      const exited = old ? new Promise((resolve) => old.once('exit', resolve)) : Promise.resolve();
      kill();
      await exited;
      onDown?.();
      await sleep(downMs);
      await launch();
    },
    stop: async () => {
      const old = child;
      const exited = old && old.exitCode === null ? new Promise((resolve) => old.once('exit', resolve)) : Promise.resolve();
      kill();
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
