#!/usr/bin/env node
// Builds the N-API addon with node-gyp against the system's OpenBLAS. Run by npm as this
// package's install script (so `npm ci` at the repository root builds it) and by
// `npm run build:addon -w @grpo/plugin-backend-native`.
//
// Nothing is downloaded: node-gyp is npm's own copy, and the Node headers are the local ones
// installed next to the node binary (`<prefix>/include/node`) unless `npm_config_nodedir` says
// otherwise. A failed build does not fail the install (the backend then falls back to wasm and
// says why); the output goes to build/build-error.log. `--strict` makes a failure an error.
// GRPO_NATIVE_SKIP_BUILD=1 skips the build.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const strict = process.argv.includes('--strict');
const log = join(root, 'build', 'build-error.log');
const tag = '@grpo/plugin-backend-native:';

function fail(message, output = '') {
  mkdirSync(join(root, 'build'), { recursive: true });
  writeFileSync(log, `${message}\n\n${output}`);
  const line = `${tag} the native addon was not built (${message}); the 'native' backend will fall back to 'wasm'. Details: ${log}`;
  if (strict) {
    console.error(line);
    if (output) console.error(output);
    process.exit(1);
  }
  console.warn(line);
  process.exit(0);
}

if (process.env.GRPO_NATIVE_SKIP_BUILD) {
  console.log(`${tag} GRPO_NATIVE_SKIP_BUILD is set; not building the addon`);
  process.exit(0);
}

/** npm's own node-gyp: the one npm names for install scripts, else the one next to this node's npm. */
function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  try {
    candidates.push(createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed as a package
  }
  return candidates.find((c) => c && existsSync(c));
}

const nodeGyp = findNodeGyp();
if (!nodeGyp) fail('node-gyp not found (it comes with npm)');

const args = [nodeGyp, 'rebuild'];
// The headers of the running node, so that node-gyp never downloads them.
if (!process.env.npm_config_nodedir) {
  const prefix = resolve(dirname(process.execPath), '..');
  if (existsSync(join(prefix, 'include', 'node', 'node_api.h')) && existsSync(join(prefix, 'include', 'node', 'common.gypi'))) args.push(`--nodedir=${prefix}`);
  else fail(`no Node headers at ${join(prefix, 'include', 'node')} (install them, e.g. Debian's nodejs package includes them, or set npm_config_nodedir)`);
}

rmSync(log, { force: true });
const result = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', env: process.env });
const output = `${result.stdout ?? ''}\n${result.stderr ?? ''}`;
if (result.error) fail(`node-gyp could not run: ${result.error.message}`, output);
if (result.status !== 0) {
  const missingBlas = /cblas\.h|lopenblas/.test(output);
  fail(missingBlas ? 'OpenBLAS not found: apt-get install -y libopenblas-dev' : `node-gyp exited with ${result.status}`, output);
}
if (!existsSync(join(root, 'build', 'Release', 'grpo_native.node'))) fail('node-gyp succeeded but build/Release/grpo_native.node is missing', output);
console.log(`${tag} built build/Release/grpo_native.node`);
