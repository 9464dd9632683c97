import { BackendUnavailableError, TensorBackend, assembleContainer, resolveConfig, selectNamed } from '@grpo/core';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import backendCpu, { CpuBackend, setupBackend } from '../src/index.js';

describe('@grpo/plugin-backend-cpu', () => {
  it('sets up the cpu backend and computes a matmul', async () => {
    await setupBackend();
    expect(tf.getBackend()).toBe('cpu');
    const before = tf.memory().numTensors;
    // [[1,0,-1]] · [[1,2],[3,4],[5,6]] = [[1−5, 2−6]]
    const product = tf.tidy(() =>
      tf
        .matMul(
          tf.tensor2d([[1, 0, -1]]),
          tf.tensor2d([
            [1, 2],
            [3, 4],
            [5, 6],
          ]),
        )
        .arraySync(),
    );
    expect(product).toEqual([[-4, -4]]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses to set up another backend by name', async () => {
    await expect(setupBackend('wasm')).rejects.toThrow(BackendUnavailableError);
  });

  it('binds a TensorBackend named cpu that the trainer can select', async () => {
    const plugin = backendCpu();
    const config = await resolveConfig({ ...{ backend: 'cpu' }, plugins: [plugin] }, { source: 'test' });
    expect(plugin.meta).toEqual({ name: '@grpo/plugin-backend-cpu', version: '0.1.0', core: '^0.1.0' });
    const container = await assembleContainer(config);
    const backend = selectNamed<TensorBackend>(container, TensorBackend, config.backend, 'backend');
    expect(backend).toBeInstanceOf(CpuBackend);
    await backend.setup();
    expect(tf.getBackend()).toBe('cpu');
  });
});
