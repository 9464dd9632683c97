import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../src/index.js';

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

async function project(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'grpo-cli-'));
  for (const [name, content] of Object.entries(files)) await writeFile(path.join(dir, name), content);
  return dir;
}

describe('grpo CLI', () => {
  it('prints help with examples and exits 0', async () => {
    const { code, out } = await run(['--help']);
    expect(code).toBe(0);
    expect(out).toContain('Usage: grpo');
    expect(out).toContain('Examples:');
  });

  it('config print shows the resolved config as JSON with plugins by name', async () => {
    const cwd = await project({ '.grporc.json': '{"seed": 3, "train": {"groupSize": 4}}' });
    const { code, out } = await run(['config', 'print', '--cwd', cwd]);
    expect(code).toBe(0);
    const printed = JSON.parse(out) as { seed: number; train: { groupSize: number; steps: number }; plugins: unknown[]; source: string };
    expect(printed).toMatchObject({ seed: 3, train: { groupSize: 4, steps: 100 } });
    // The default plugins, with their validated options, and the sections they own (algorithm: the grpo plugin's).
    expect(printed.plugins).toContain('@grpo/plugin-grpo@0.1.0');
    expect(printed.plugins).toContainEqual({ '@grpo/plugin-backend-wasm@0.1.0': {} });
    expect(printed).toHaveProperty(['algorithm', 'kl', 'beta'], 0.04);
    expect(printed.source).toBe(path.join(cwd, '.grporc.json'));
  });

  it('config validate exits 2 on a bad config, listing every problem without a stack trace', async () => {
    const cwd = await project({ 'bad.yaml': 'train:\n  groupSize: 1\n  steps: 0\nseeed: 3\n' });
    const { code, err, out } = await run(['config', 'validate', '--cwd', cwd, '--config', 'bad.yaml']);
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toContain('train.groupSize: expected an integer ≥ 2, got 1');
    expect(err).toContain('train.steps: expected an integer ≥ 1, got 0');
    expect(err).toContain("unknown key 'seeed'");
    expect(err).not.toMatch(/\n\s+at /);
  });

  it('config validate accepts a good config', async () => {
    const cwd = await project({ '.grporc.yaml': 'train:\n  groupSize: 4\n' });
    const { code, out } = await run(['config', 'validate', '--cwd', cwd]);
    expect(code).toBe(0);
    expect(out).toMatch(/^config OK: .*\.grporc\.yaml \(6 plugins: @grpo\/plugin-grpo, /);
  });

  it('exits 2 on an unknown command or option', async () => {
    expect((await run(['trian'])).code).toBe(2);
    expect((await run(['config', 'print', '--bogus'])).code).toBe(2);
  });
});
