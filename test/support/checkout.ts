/**
 * Helpers for tests that run commands as a user would: a copy of this checkout as a fresh clone
 * has it right after `npm ci` (no build output anywhere), and the environment of a user's shell.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The environment of a user's shell: none of this test runner's variables (a nested vitest or node would read them). */
export function userEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(VITEST|TEST$|NODE_ENV$|NODE_OPTIONS$)/.test(k)) env[k] = v;
  return { ...env, NO_COLOR: '1', FORCE_COLOR: '0', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false', ...extra };
}

/** Recreates `node_modules/<name>` of the checkout in `to`: workspace links (relative, into the checkout) as they are, so they point into the copy; anything else as a link to the checkout's. */
function linkModules(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const name of readdirSync(from)) {
    const source = path.join(from, name);
    const target = path.join(to, name);
    const stat = lstatSync(source);
    if (name === '.cache') mkdirSync(target);
    else if (stat.isSymbolicLink() && !path.isAbsolute(readlinkSync(source))) symlinkSync(readlinkSync(source), target);
    else if (name.startsWith('@') && stat.isDirectory()) linkModules(source, target);
    else symlinkSync(source, target);
  }
}

/**
 * A copy of this checkout as a fresh clone has it after `npm ci`: the files git knows (tracked,
 * and untracked ones it does not ignore — so uncommitted work is tested too) and no build output
 * but the native backend's addon, which `npm ci` builds (when this checkout has it built);
 * its `node_modules` links third-party packages to this checkout's and the workspace packages
 * (`@grpo/*`, `create-grpo`) into the copy, as npm links workspaces. A command that needs a
 * `dist/` fails there. Remove it with `rmSync(dir, { recursive: true, force: true })` (links are
 * removed, not followed).
 */
export function freshCheckout(prefix = 'grpo-fresh-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: repo,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  })
    .split('\0')
    .filter(Boolean);
  for (const file of files) {
    const source = path.join(repo, file);
    if (!existsSync(source) || !lstatSync(source).isFile()) continue; // deleted in the working tree, or a link
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    copyFileSync(source, path.join(dir, file));
  }
  // `npm ci` builds the native backend's addon (an ignored build output) where a compiler and OpenBLAS are present.
  const addon = 'plugins/backend-native/build/Release/grpo_native.node';
  if (existsSync(path.join(repo, addon))) {
    mkdirSync(path.dirname(path.join(dir, addon)), { recursive: true });
    copyFileSync(path.join(repo, addon), path.join(dir, addon));
  }
  linkModules(path.join(repo, 'node_modules'), path.join(dir, 'node_modules'));
  // Packages npm could not hoist sit in a workspace's own node_modules.
  for (const group of ['packages', 'plugins'])
    for (const name of readdirSync(path.join(repo, group))) {
      const nested = path.join(repo, group, name, 'node_modules');
      if (existsSync(nested)) symlinkSync(nested, path.join(dir, group, name, 'node_modules'));
    }
  return dir;
}

/** Build output (`dist/`) anywhere under the workspaces of `dir`. */
export function buildOutputs(dir: string): string[] {
  return ['packages', 'plugins'].flatMap((group) =>
    readdirSync(path.join(dir, group))
      .map((name) => path.join(group, name, 'dist'))
      .filter((p) => existsSync(path.join(dir, p))),
  );
}

/**
 * What a terminal shows after `raw` output: carriage returns, line clears (`ESC[K`, `ESC[2K`) and
 * overwrites applied; other escape sequences dropped. For checking that a message survives a
 * progress line's redraws, and line widths.
 */
export function renderTerminal(raw: string): string[] {
  const lines: string[] = [''];
  let row = 0;
  let col = 0;
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!;
    if (ch === '\x1b') {
      // eslint-disable-next-line no-control-regex -- terminal escape sequences start with ESC
      const m = /^\x1b(\[[0-9;?]*[A-Za-z]|[78()][A-Za-z0-9]?)/.exec(raw.slice(i));
      if (m) {
        const seq = m[1]!;
        if (seq === '[K' || seq === '[0K') lines[row] = lines[row]!.slice(0, col);
        else if (seq === '[2K') lines[row] = '';
        i += m[0].length - 1;
      }
      continue;
    }
    if (ch === '\r') col = 0;
    else if (ch === '\n') {
      row++;
      col = 0;
      lines[row] ??= '';
    } else if (ch >= ' ' || ch === '\t') {
      const line = lines[row]!.padEnd(col);
      lines[row] = line.slice(0, col) + ch + line.slice(col + 1);
      col++;
    }
  }
  return lines;
}
