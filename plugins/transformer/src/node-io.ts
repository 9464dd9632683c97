// The file functions the policy's checkpoint code uses, in one module: the `browser` condition of
// the package's `#node-io` import swaps it for node-io.browser.ts, so a browser bundle of the
// policy holds no `node:` module (nor core's directory checkpoint code).
export { mkdtemp, open, readdir, readFile, rm, type FileHandle } from 'node:fs/promises';
export { tmpdir } from 'node:os';
export { join } from 'node:path';
export { readJsonFile, readSafetensorsFile, writeDirAtomic } from '@grpo/core/checkpoint';
