/**
 * Without its addon (here: disabled by GRPO_NATIVE_DISABLE, as if it had not been built) the
 * backend falls back to wasm with one clear warning, or fails with `fallback: false`.
 */
import { BackendUnavailableError } from '@grpo/core';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it, vi } from 'vitest';

// Set before the addon is first looked for (this file runs in its own process).
process.env.GRPO_NATIVE_DISABLE = '1';
const { nativeUnavailableReason, setupBackend } = await import('../src/index.js');

describe('@grpo/plugin-backend-native without its addon', () => {
  it('says why it is unavailable', () => {
    expect(nativeUnavailableReason()).toMatch(/GRPO_NATIVE_DISABLE/);
  });

  it('falls back to wasm with one warning that says how to build it', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    await tf.setBackend('cpu');
    await setupBackend('native');
    expect(tf.getBackend()).toBe('wasm');
    await setupBackend('native');
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[0])).toMatch(/not available.*libopenblas-dev.*npm rebuild @grpo\/plugin-backend-native.*Running on 'wasm' instead/s);
    warn.mockRestore();
  });

  it('fails with a BackendUnavailableError when fallback is off', async () => {
    const error = await setupBackend('native', { fallback: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect((error as Error).message).toMatch(/libopenblas-dev.*backend: 'wasm'/s);
  });

  it('refuses other names and bad thread counts', async () => {
    await expect(setupBackend('wasm')).rejects.toThrow(/sets up the 'native' backend/);
    await expect(setupBackend('native', { threads: 0 })).rejects.toThrow(/threads must be an integer ≥ 1/);
  });
});
