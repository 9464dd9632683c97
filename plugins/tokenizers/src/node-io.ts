// Node's file functions this package uses, in one module: the `browser` condition of the package's
// `#node-io` import swaps it for node-io.browser.ts, so a browser bundle holds no `node:` module.
export { mkdir, readFile, writeFile } from 'node:fs/promises';
export { dirname, join } from 'node:path';
