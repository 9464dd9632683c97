import type { PluginEntry } from '@grpo/core';
import backendCpu from '@grpo/plugin-backend-cpu';
import backendNative from '@grpo/plugin-backend-native';
import backendTfjsNode from '@grpo/plugin-backend-tfjs-node';
import backendTfjsNodeGpu from '@grpo/plugin-backend-tfjs-node-gpu';
import backendWasm from '@grpo/plugin-backend-wasm';
import grpo from '@grpo/plugin-grpo';
import transformer from '@grpo/plugin-transformer';

/**
 * Core's defaults, loaded before the config's plugins: the GRPO algorithm, every backend (chosen
 * by `backend:`; the native ones load their tfjs package only when chosen) and the transformer policy.
 */
export function defaultPlugins(): PluginEntry[] {
  return [grpo(), backendWasm(), backendCpu(), backendNative(), backendTfjsNode(), backendTfjsNodeGpu(), transformer()];
}

/**
 * `defineConfig` for the configs `grpo` runs: @grpo/core's, typed with the config sections of the
 * default plugins too (`algorithm` of @grpo/plugin-grpo, `policy.model` of
 * @grpo/plugin-transformer), which these type exports bring into scope.
 */
export { defineConfig } from '@grpo/core';
export type { AlgorithmConfig } from '@grpo/plugin-grpo';
export type { ModelOptions } from '@grpo/plugin-transformer';
