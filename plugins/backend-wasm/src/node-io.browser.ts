// `#node-io` in a browser: the logical cores the page may use.
import type * as os from 'node:os';

export const availableParallelism: typeof os.availableParallelism = () =>
  (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
