import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { resolveConfig, type PluginEntry, type ResolvedConfig } from '../src/index.js';

/** A fully defaulted config, as `loadConfig` would produce from `raw`, with `plugins` loaded first. */
export function testConfig(raw: Record<string, unknown> = {}, plugins: readonly PluginEntry[] = []): Promise<ResolvedConfig> {
  return resolveConfig(raw, { source: 'test', defaults: plugins });
}

/** Writes `files` (path → content) into a fresh temporary directory and returns it. */
export async function tempProject(files: Record<string, string>, options: { insideRepo?: boolean } = {}): Promise<string> {
  // Inside the repo, node resolution from the project finds the workspace's @grpo/* packages.
  const base = options.insideRepo ? path.resolve(import.meta.dirname, '../../../node_modules/.cache/grpo-tests') : tmpdir();
  await mkdir(base, { recursive: true });
  const dir = await mkdtemp(path.join(base, 'grpo-test-'));
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(dir, rel);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content);
  }
  return dir;
}
