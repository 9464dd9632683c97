// What this package asks Node for, in one module: the `browser` condition of the package's
// `#node-io` import swaps it for node-io.browser.ts, so a browser bundle holds no `node:` module.
export { availableParallelism } from 'node:os';
