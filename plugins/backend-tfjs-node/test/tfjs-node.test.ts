import { createRequire } from 'node:module';
import { BackendUnavailableError, TensorBackend, assembleContainer, resolveConfig, selectNamed } from '@grpo/core';
import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import backendTfjsNode, { TfjsNodeBackend, setupBackend } from '../src/index.js';

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

/** Registers a stand-in 'tensorflow' backend (tfjs's CPU backend under that name). */
async function registerFakeTensorflow(): Promise<void> {
  await tf.setBackend('cpu');
  const Cpu = tf.backend().constructor as new () => tf.KernelBackend;
  tf.registerBackend('tensorflow', () => new Cpu());
}

afterEach(async () => {
  if (tf.findBackendFactory('tensorflow')) tf.removeBackend('tensorflow');
  await tf.setBackend('cpu');
});

describe('@grpo/plugin-backend-tfjs-node', () => {
  const realPackage = installed('@tensorflow/tfjs-node');

  it(`with the real package (${realPackage ? 'installed' : 'not installed'} here) starts or says how to fix it`, async () => {
    const error = await setupError();
    if (!realPackage) {
      expect(error).toBeInstanceOf(BackendUnavailableError);
      expect(error?.message).toContain('needs the optional package @tensorflow/tfjs-node, which is not installed');
      expect(error?.message).toContain('`npm install @tensorflow/tfjs-node`');
      expect(error?.message).toContain("`backend: 'wasm'`");
    } else if (error) {
      expect(error).toBeInstanceOf(BackendUnavailableError);
      expect(error.message).toContain('@tensorflow/tfjs-node');
    } else {
      expect(tf.getBackend()).toBe('tensorflow');
    }
  });

  it('explains a package that is installed but cannot load its native library', async () => {
    const error = await setupError('tfjs-node', {
      load: () => Promise.reject(new Error('libtensorflow.so.2: cannot open shared object file: No such file or directory')),
    });
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect(error?.message).toContain('could not load @tensorflow/tfjs-node: libtensorflow.so.2: cannot open shared object file');
    expect(error?.message).toContain('`npm install @tensorflow/tfjs-node`');
    expect(error?.message).toContain("`backend: 'wasm'`");
  });

  it('reports a package that loads but registers no backend', async () => {
    const error = await setupError('tfjs-node', { load: () => Promise.resolve({}) });
    expect(error?.message).toMatch(/did not register the 'tensorflow' backend/);
  });

  it('activates the tensorflow backend once the package has registered it', async () => {
    await setupBackend('tfjs-node', { load: registerFakeTensorflow });
    expect(tf.getBackend()).toBe('tensorflow');
  });

  it('binds a TensorBackend named tfjs-node, loading nothing until setup', async () => {
    let loads = 0;
    const plugin = backendTfjsNode({ load: () => ((loads += 1), registerFakeTensorflow()) });
    const config = await resolveConfig({ ...{ backend: 'tfjs-node' }, plugins: [plugin] }, { source: 'test' });
    expect(plugin.meta).toEqual({ name: '@grpo/plugin-backend-tfjs-node', version: '0.1.0', core: '^0.1.0' });
    const container = await assembleContainer(config);
    const backend = selectNamed<TensorBackend>(container, TensorBackend, config.backend, 'backend');
    expect(backend).toBeInstanceOf(TfjsNodeBackend);
    expect(loads).toBe(0);
    await backend.setup();
    expect(loads).toBe(1);
    expect(tf.getBackend()).toBe('tensorflow');
    await expect(setupBackend('wasm')).rejects.toThrow(/sets up the 'tfjs-node' backend, not 'wasm'/);
  });
});

describe('missing-package detection', () => {
  it.each([
    ["Cannot find package '@tensorflow/tfjs-node' imported from /app/x.js", 'not installed'],
    ["Cannot find module '@tensorflow/tfjs-node'", 'not installed'],
    ['Could not resolve "@tensorflow/tfjs-node" imported by "x"', 'not installed'],
    ["Cannot find module '/app/node_modules/@tensorflow/tfjs-node/lib/napi-v8/tfjs_binding.node'", 'could not load'],
    ["Cannot find package '@tensorflow/tfjs-core' imported from /app/node_modules/@tensorflow/tfjs-node/dist/index.js", 'could not load'],
  ])('%s → %s', async (message, expected) => {
    const error = await setupError('tfjs-node', { load: () => Promise.reject(new Error(message)) });
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect(error?.message).toContain(expected === 'not installed' ? 'which is not installed' : 'could not load @tensorflow/tfjs-node');
  });
});
