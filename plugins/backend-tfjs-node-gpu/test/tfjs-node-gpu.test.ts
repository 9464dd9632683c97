import { createRequire } from 'node:module';
import { BackendUnavailableError, TensorBackend, assembleContainer, resolveConfig, selectNamed } from '@grpo/core';
import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import backendTfjsNodeGpu, { TfjsNodeGpuBackend, setupBackend } from '../src/index.js';

function installed(pkg: string): boolean {
  try {
    createRequire(import.meta.url).resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

async function setupError(...args: Parameters<typeof setupBackend>): Promise<Error | undefined> {
  return setupBackend(...args).then(
    () => undefined,
    (e: unknown) => e as Error,
  );
}

const linux = { os: 'linux', arch: 'x64' };

/** Registers a stand-in 'tensorflow' backend (tfjs's CPU backend) that reports whether it uses a GPU. */
function fakeTensorflow(isUsingGpuDevice: boolean): () => Promise<void> {
  return async () => {
    await tf.setBackend('cpu');
    const Cpu = tf.backend().constructor as new () => tf.KernelBackend;
    tf.registerBackend('tensorflow', () => Object.assign(new Cpu(), { isUsingGpuDevice }));
  };
}

afterEach(async () => {
  if (tf.findBackendFactory('tensorflow')) tf.removeBackend('tensorflow');
  await tf.setBackend('cpu');
});

describe('@grpo/plugin-backend-tfjs-node-gpu', () => {
  const realPackage = installed('@tensorflow/tfjs-node-gpu');
  const supported = process.platform === 'linux' && process.arch === 'x64';

  it(`with the real package (${realPackage ? 'installed' : 'not installed'} here) starts or says how to fix it`, async () => {
    const error = await setupError();
    if (!supported) {
      expect(error?.message).toContain('only runs on Linux x64');
    } else if (!realPackage) {
      expect(error).toBeInstanceOf(BackendUnavailableError);
      expect(error?.message).toContain('needs the optional package @tensorflow/tfjs-node-gpu, which is not installed');
      expect(error?.message).toContain('`npm install @tensorflow/tfjs-node-gpu`');
      expect(error?.message).toContain('CUDA 11.2 and cuDNN 8.1');
      expect(error?.message).toContain("`backend: 'wasm'`");
    } else if (error) {
      expect(error).toBeInstanceOf(BackendUnavailableError);
      expect(error.message).toContain('@tensorflow/tfjs-node-gpu');
    } else {
      expect(tf.getBackend()).toBe('tensorflow');
    }
  });

  it('refuses platforms other than Linux x64 before loading anything', async () => {
    let loaded = false;
    const error = await setupError('tfjs-node-gpu', { platform: { os: 'darwin', arch: 'arm64' }, load: async () => void (loaded = true) });
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect(error?.message).toContain('only runs on Linux x64 with an NVIDIA GPU, CUDA 11.2 and cuDNN 8.1; this is darwin arm64');
    expect(loaded).toBe(false);
  });

  it('explains missing CUDA libraries', async () => {
    const error = await setupError('tfjs-node-gpu', {
      platform: linux,
      load: () => Promise.reject(new Error('libcudart.so.11.0: cannot open shared object file')),
    });
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect(error?.message).toContain('could not load @tensorflow/tfjs-node-gpu: libcudart.so.11.0: cannot open shared object file');
    expect(error?.message).toContain('install CUDA 11.2 and cuDNN 8.1');
    expect(error?.message).toContain('`npm install @tensorflow/tfjs-node-gpu`');
  });

  it('fails when TensorFlow sees no GPU, unless the CPU is accepted', async () => {
    const error = await setupError('tfjs-node-gpu', { platform: linux, load: fakeTensorflow(false) });
    expect(error?.message).toContain('found no usable GPU');
    tf.removeBackend('tensorflow');
    await setupBackend('tfjs-node-gpu', { platform: linux, load: fakeTensorflow(false), requireGpu: false });
    expect(tf.getBackend()).toBe('tensorflow');
  });

  it('binds a TensorBackend named tfjs-node-gpu that activates the GPU backend', async () => {
    const plugin = backendTfjsNodeGpu({ platform: linux, load: fakeTensorflow(true) });
    const config = await resolveConfig({ ...{ backend: 'tfjs-node-gpu' }, plugins: [plugin] }, { source: 'test' });
    expect(plugin.meta).toEqual({ name: '@grpo/plugin-backend-tfjs-node-gpu', version: '0.1.0', core: '^0.1.0' });
    const container = await assembleContainer(config);
    const backend = selectNamed<TensorBackend>(container, TensorBackend, config.backend, 'backend');
    expect(backend).toBeInstanceOf(TfjsNodeGpuBackend);
    await backend.setup();
    expect(tf.getBackend()).toBe('tensorflow');
  });
});
