/**
 * What the playground's end-to-end test and benchmark share: the static site built from the
 * sources (vite build, as `npm run build` does), a small static server for it, and Debian's
 * Chromium driven by playwright-core (no browser download).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { build } from 'vite';

export const PLAYGROUND_DIR = fileURLToPath(new URL('..', import.meta.url));
export const CHECKPOINT_DIR = fileURLToPath(new URL('../../../plugins/math-task/checkpoints/sft', import.meta.url));
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);

/** Builds the site into `outDir` with the package's vite.config.ts. */
export async function buildSite(outDir: string): Promise<void> {
  await build({ configFile: path.join(PLAYGROUND_DIR, 'vite.config.ts'), logLevel: 'error', build: { outDir, emptyOutDir: true } });
}

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.safetensors': 'application/octet-stream',
};

/** Serves `root` on a free local port; `url` is its address. */
export async function serve(root: string): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((request, response) => {
    const name = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
    const file = path.join(root, name.endsWith('/') ? `${name}index.html` : name);
    if (!file.startsWith(root)) return void response.writeHead(403).end();
    readFile(file).then(
      (body) => response.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' }).end(body),
      () => response.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** Headless Chromium (`--no-sandbox`: CI runs as root). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** The page's `window.playground` (see src/main.ts). */
export interface PagePlayground {
  state: {
    phase: 'loading' | 'ready' | 'running' | 'error';
    backend: string;
    steps: { step: number; reward: number; kl: number; accuracy: number; seconds: number; samples: { reward: number; advantage: number }[] }[];
    errors: string[];
  };
  nextTokenLogProbs(prompt: string): Promise<number[]>;
}
