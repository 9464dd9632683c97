/**
 * The platform from a plugin author's side, with public names only: a plugin that owns a config
 * section, contributes a rollout filter and ships a CLI command (the plugin is lines 15–40).
 */
import { assembleContainer, CliCommand, ConfigError, definePlugin, field, RolloutFilter, type Section } from '@grpo/core';
import { createTestTrainer, FakePolicy, testConfig } from '@grpo/core/testing';
import { buildProgram } from '@grpo/cli';
import grpo from '@grpo/plugin-grpo';
import { Command } from 'commander';
import { z } from 'zod';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';

// ── The plugin ──────────────────────────────────────────────────────────────────────────────────
const bestOfSchema = z.strictObject({ threshold: field.num().default(1).describe('Keep groups whose best reward reaches this.') }).prefault({});
declare module '@grpo/core' {
  interface ConfigSections {
    bestOf: Section<typeof bestOfSchema>;
  }
}
const bestOf = definePlugin({
  meta: { name: 'grpo-plugin-best-of', version: '1.0.0', core: '^0.1.0' },
  options: z.strictObject({ refillRounds: field.int(0).default(2) }).prefault({}),
  config: { bestOf: bestOfSchema },
  register({ bind, config, options }) {
    const { threshold } = config.bestOf;
    bind<RolloutFilter>(RolloutFilter).toConstantValue({
      name: 'best_of',
      refillRounds: options.refillRounds,
      keep: (g) => Math.max(...g.rewards) >= threshold,
    });
    bind<CliCommand>(CliCommand).toConstantValue({
      name: 'best-of',
      create: (io) =>
        new Command('best-of').description('print the threshold the best-of filter keeps groups at').action(() => io.out(`threshold ${threshold}\n`)),
    });
  },
});
// ────────────────────────────────────────────────────────────────────────────────────────────────

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const half = { name: 'half', score: ({ completions }: { completions: readonly string[] }) => completions.map((c) => (c === 'aa' ? 1 : 0.5)) };

describe('a plugin with a config section, a rollout filter and a CLI command', () => {
  it('validates its section and options with the config, and trains with its filter', async () => {
    await expect(testConfig({ bestOf: { threshold: 'high' as never } }, [grpo(), bestOf({ refillRounds: -1 })])).rejects.toThrow(ConfigError);
    const policy = new FakePolicy({ chars: 'pqa', complete: (prompt) => (prompt === 'p' ? 'aa' : 'a') });
    const trainer = await createTestTrainer({
      config: { bestOf: { threshold: 1 }, train: { promptsPerStep: 2, groupSize: 2 }, algorithm: { kl: { beta: 0 } } },
      plugins: [grpo(), bestOf()],
      policy,
      rewards: [half],
      rows: [{ prompt: 'p' }, { prompt: 'q' }],
    });
    const { metrics } = await trainer.trainStep();
    expect(metrics['best_of/kept_groups']).toBeGreaterThanOrEqual(1);
    expect(metrics['best_of/rounds']).toBe(2); // it refilled twice looking for two groups of 'p'
    trainer.dispose();
  });

  it('adds its command to grpo', async () => {
    const container = await assembleContainer(await testConfig({ bestOf: { threshold: 0.75 } }, [grpo(), bestOf()]));
    let out = '';
    const program = buildProgram({ out: (t) => void (out += t), err: () => {} }, container.getAll<CliCommand>(CliCommand));
    await program.parseAsync(['best-of'], { from: 'user' });
    expect(out).toBe('threshold 0.75\n');
  });
});
