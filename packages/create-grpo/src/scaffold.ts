/**
 * The scaffolder behind `grpo init` and `npm create grpo`: copies a template folder into a new
 * project, atomically.
 *
 * - Templates are folders under `templates/` (this repository's, or the copy packed into
 *   `create-grpo`). Dotfiles are stored as `_gitignore` / `_npmrc` and renamed on copy
 *   (create-vite); `package.json` is rewritten, not copied: its name comes from the target
 *   directory and its `@grpo/*` dependency specs from `grpoSource`.
 * - `grpoSource` set (a GRPO.ts checkout): every dependency that names one of its workspace
 *   packages becomes `file:<absolute path>`, the workspace packages those need are added too
 *   (they are not on the npm registry), and `.npmrc` gets `install-links=true` so npm copies
 *   them like published packages instead of symlinking into the checkout. Their `dist/` must be
 *   built. `grpoSource` null: the template's registry ranges (`^0.1.0`) stay.
 * - Nothing is written into the target until the whole project exists in a temporary sibling
 *   directory; then it is moved in, and any error removes everything this call created.
 */
import { existsSync, lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, rmdir, copyFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** A problem the user can fix (bad name, non-empty target, unknown template); printed without a stack. */
export class ScaffoldError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ScaffoldError';
  }
}

/** Files stored under another name in a template, because npm drops dotfiles such as `.gitignore` when packing. */
export const RENAMED_FILES: Readonly<Record<string, string>> = { _gitignore: '.gitignore', _npmrc: '.npmrc' };
/** Never copied from a template folder (build and install leftovers). */
const SKIPPED = new Set(['node_modules', 'dist', 'runs', 'package-lock.json', '.gitignore', '.npmrc']);
/** Kept when `force` replaces the contents of an existing directory. */
const KEPT_ON_FORCE = new Set(['.git']);
const TEMPLATE_NAME = /^[a-z0-9][a-z0-9-]*$/;
/** Registry range written for `@grpo/*` packages when the project does not link a checkout. */
export const PUBLISHED_RANGE = '^0.1.0';

export interface TemplateInfo {
  readonly name: string;
  readonly description: string;
  readonly dir: string;
}

export interface ScaffoldOptions {
  /** Where the project goes, relative to `cwd` (it may not climb out of it) or absolute. */
  readonly target: string;
  readonly template: string;
  /** Default: `process.cwd()`. */
  readonly cwd?: string;
  /** Replace the contents of a non-empty target (`.git` is kept). */
  readonly force?: boolean;
  /** npm package name; default: the target directory's name. */
  readonly name?: string;
  /** A GRPO.ts checkout to link with `file:` dependencies; `null` for registry ranges. Default: `defaultGrpoSource()`. */
  readonly grpoSource?: string | null;
  /** Folder of templates; default: `defaultTemplatesDir()`. */
  readonly templatesDir?: string;
}

export interface ScaffoldResult {
  /** Absolute path of the new project. */
  readonly dir: string;
  readonly name: string;
  readonly template: string;
  /** Paths relative to `dir`, sorted. */
  readonly files: readonly string[];
  /** `file`: `@grpo/*` linked from `grpoSource`; `registry`: `^0.1.0` from npm. */
  readonly dependencies: 'file' | 'registry';
  /** Things to fix before `npm install` works (e.g. unbuilt packages in the checkout). */
  readonly warnings: readonly string[];
}

const here = path.dirname(fileURLToPath(import.meta.url));

/** The GRPO.ts checkout this file lives in (its root `package.json` is named `grpo-ts`), or null when installed from npm. */
export function defaultGrpoSource(from: string = here): string | null {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file)) {
      try {
        if ((JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown }).name === 'grpo-ts') return dir;
      } catch {
        // not a package.json we can read; keep walking up
      }
    }
    if (path.dirname(dir) === dir) return null;
  }
}

/** The checkout's `templates/` when this file lives in one, else the copy `npm pack` put into this package. */
export function defaultTemplatesDir(): string {
  const repo = defaultGrpoSource();
  if (repo && existsSync(path.join(repo, 'templates'))) return path.join(repo, 'templates');
  const packed = path.resolve(here, '..', 'templates');
  if (existsSync(packed)) return packed;
  throw new ScaffoldError(`no templates folder found for ${here}`);
}

/** The templates in `dir`: folders with a `package.json`, sorted by name. */
export function listTemplates(dir: string = defaultTemplatesDir()): TemplateInfo[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && TEMPLATE_NAME.test(e.name) && existsSync(path.join(dir, e.name, 'package.json')))
    .map((e) => ({ name: e.name, description: describe(path.join(dir, e.name, 'package.json')), dir: path.join(dir, e.name) }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** A template's `description` (empty when its package.json cannot be read: `scaffold` reports that). */
function describe(file: string): string {
  try {
    const { description } = JSON.parse(readFileSync(file, 'utf8')) as { description?: unknown };
    return typeof description === 'string' ? description : '';
  } catch {
    return '';
  }
}

/** Problems with `name` as an npm package name (npm's validate-npm-package-name rules for new packages); empty when valid. */
export function validatePackageName(name: string): string[] {
  const problems: string[] = [];
  if (name.length === 0) return ['name must not be empty'];
  if (name.length > 214) problems.push('name must be at most 214 characters');
  if (name !== name.trim()) problems.push('name must not start or end with spaces');
  if (name.toLowerCase() !== name) problems.push('name must be lowercase');
  if (/^[._]/.test(name)) problems.push('name must not start with . or _');
  const scoped = /^@([^/]+)\/([^/]+)$/.exec(name);
  if (name.includes('/') && !scoped) problems.push('name may contain a slash only as @scope/name');
  const parts = scoped ? [scoped[1]!, scoped[2]!] : [name];
  if (parts.some((p) => p === '.' || p === '..' || encodeURIComponent(p) !== p || /[~'!()*]/.test(p)))
    problems.push('name must contain only URL-safe characters (a-z, 0-9, -, ., _)');
  if (['node_modules', 'favicon.ico'].includes(name)) problems.push(`${name} is not a valid package name`);
  return problems;
}

/** The package name a directory suggests: its base name, lowercased, spaces and odd characters turned into dashes. */
export function nameFromDir(dir: string): string {
  return path
    .basename(dir)
    .trim()
    .toLowerCase()
    .replace(/\s+/g, '-')
    .replace(/^[._]+/, '')
    .replace(/[^a-z0-9\-._~]+/g, '-');
}

/** Newest modification time of the files under `dir` (0 when there are none). */
function newest(dir: string): number {
  let latest = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    latest = Math.max(latest, e.isDirectory() ? newest(p) : e.isFile() ? statSync(p).mtimeMs : 0);
  }
  return latest;
}

/** Whether a package's `dist/` is older than its `src/` or `package.json` (a project would install an old build). */
function builtBeforeSources(dir: string): boolean {
  return newest(path.join(dir, 'dist')) < Math.max(newest(path.join(dir, 'src')), statSync(path.join(dir, 'package.json')).mtimeMs);
}

/** Workspace packages of a checkout: name → folder (`packages/*`, `plugins/*`). */
export function workspacePackages(source: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const group of ['packages', 'plugins']) {
    const root = path.join(source, group);
    if (!existsSync(root)) continue;
    for (const entry of readdirSync(root, { withFileTypes: true })) {
      const file = path.join(root, entry.name, 'package.json');
      if (!entry.isDirectory() || !existsSync(file)) continue;
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; private?: unknown };
      if (typeof pkg.name === 'string' && pkg.private !== true) found.set(pkg.name, path.join(root, entry.name));
    }
  }
  return found;
}

interface PackageJson {
  name?: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  [key: string]: unknown;
}

const isGrpo = (dep: string) => dep.startsWith('@grpo/') || dep === 'create-grpo';

/**
 * The template's `package.json` for a project: `name` set; with a checkout, its packages as
 * `file:` dependencies plus the ones they need. Returns the new JSON and any warnings.
 */
export function rewritePackageJson(template: PackageJson, name: string, source: string | null): { pkg: PackageJson; warnings: string[] } {
  const pkg: PackageJson = { name, ...template };
  pkg.name = name;
  const warnings: string[] = [];
  const sections = ['dependencies', 'devDependencies'] as const;
  if (source === null) {
    for (const s of sections) for (const dep of Object.keys(pkg[s] ?? {})) if (isGrpo(dep)) pkg[s]![dep] = PUBLISHED_RANGE;
    return { pkg, warnings };
  }
  const workspaces = workspacePackages(source);
  const linked = new Set<string>();
  const link = (dep: string): string => {
    const dir = workspaces.get(dep);
    if (!dir) throw new ScaffoldError(`${dep} is not a package of the GRPO.ts checkout at ${source}`);
    linked.add(dep);
    return `file:${dir}`;
  };
  for (const s of sections) {
    const deps = pkg[s];
    if (!deps) continue;
    for (const dep of Object.keys(deps)) if (isGrpo(dep)) deps[dep] = link(dep);
  }
  // Packages of the checkout that linked ones need: npm would look for them on the registry.
  const queue = [...linked];
  const dependencies = (pkg.dependencies ??= {});
  while (queue.length > 0) {
    const dep = queue.shift()!;
    const own = JSON.parse(readFileSync(path.join(workspaces.get(dep)!, 'package.json'), 'utf8')) as PackageJson;
    const needs = [
      ...Object.keys(own.dependencies ?? {}),
      ...Object.keys(own.peerDependencies ?? {}).filter((p) => own.peerDependenciesMeta?.[p]?.optional !== true),
    ];
    for (const need of needs) {
      if (linked.has(need) || !workspaces.has(need)) continue;
      dependencies[need] = link(need);
      queue.push(need);
    }
  }
  pkg.dependencies = Object.fromEntries(Object.entries(dependencies).sort(([a], [b]) => a.localeCompare(b)));
  const unbuilt = [...linked].filter((dep) => !existsSync(path.join(workspaces.get(dep)!, 'dist'))).sort();
  if (unbuilt.length > 0) warnings.push(`not built yet in ${source}: ${unbuilt.join(', ')} (run \`npm run build\` there before \`npm install\`)`);
  const stale = [...linked].filter((dep) => !unbuilt.includes(dep) && builtBeforeSources(workspaces.get(dep)!)).sort();
  if (stale.length > 0)
    warnings.push(`built before their sources last changed in ${source}: ${stale.join(', ')} (run \`npm run build\` there before \`npm install\`)`);
  return { pkg, warnings };
}

/** Resolves `target` against `cwd`, refusing relative paths that climb out of `cwd` and symlinks on the way. */
export function resolveTarget(target: string, cwd: string): string {
  if (target.trim() === '') throw new ScaffoldError('target directory must not be empty');
  if (target.includes('\0')) throw new ScaffoldError('target directory contains a NUL character');
  const absolute = path.resolve(cwd, target);
  if (!path.isAbsolute(target)) {
    const rel = path.relative(cwd, absolute);
    if (rel === '..' || rel.startsWith(`..${path.sep}`))
      throw new ScaffoldError(`target ${JSON.stringify(target)} escapes the current directory; give an absolute path to create it elsewhere`);
  }
  // A symlink anywhere below cwd (or the target itself) would send the files somewhere else.
  const start = path.isAbsolute(target) ? path.dirname(absolute) : cwd;
  const rel = path.relative(start, absolute);
  let at = start;
  for (const part of rel === '' ? [] : rel.split(path.sep)) {
    at = path.join(at, part);
    const stat = lstatSync(at, { throwIfNoEntry: false });
    if (!stat) break; // the rest does not exist yet
    if (stat.isSymbolicLink()) throw new ScaffoldError(`${at} is a symbolic link; refusing to write through it`);
    if (!stat.isDirectory()) throw new ScaffoldError(`${at} exists and is not a directory`);
  }
  return absolute;
}

/** Copies `from` into `to` (which exists), renaming stored dotfiles; refuses symlinks and names that would leave `to`. */
async function copyTemplate(from: string, to: string, root: string, files: string[]): Promise<void> {
  const entries = (await readdir(from, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of entries) {
    if (SKIPPED.has(entry.name)) continue;
    const name = RENAMED_FILES[entry.name] ?? entry.name;
    const src = path.join(from, entry.name);
    const dest = path.join(to, name);
    const rel = path.relative(root, dest);
    if (rel.startsWith('..') || path.isAbsolute(rel)) throw new ScaffoldError(`template file ${src} would be written outside the project`);
    if (entry.isSymbolicLink()) throw new ScaffoldError(`template contains a symbolic link: ${src}`);
    if (entry.isDirectory()) {
      await mkdir(dest);
      await copyTemplate(src, dest, root, files);
    } else if (entry.isFile()) {
      if (entry.name === 'package.json' && to === root) continue; // rewritten, not copied
      await copyFile(src, dest);
      files.push(rel);
    } else {
      throw new ScaffoldError(`template contains something that is not a file or folder: ${src}`);
    }
  }
}

/** Moves the finished project from `staging` into `dir`; on failure puts everything back as it was. */
async function commit(staging: string, dir: string, existing: readonly string[]): Promise<void> {
  if (!existsSync(dir)) {
    await rename(staging, dir);
    return;
  }
  // The target exists (empty, or `force`): move entries one by one, so `dir` itself (maybe a shell's cwd) stays.
  const backup = await mkdtemp(path.join(path.dirname(dir), `.${path.basename(dir)}.grpo-backup-`));
  const movedAside: string[] = [];
  const movedIn: string[] = [];
  try {
    for (const entry of existing) {
      if (KEPT_ON_FORCE.has(entry)) continue;
      await rename(path.join(dir, entry), path.join(backup, entry));
      movedAside.push(entry);
    }
    for (const entry of await readdir(staging)) {
      await rename(path.join(staging, entry), path.join(dir, entry));
      movedIn.push(entry);
    }
  } catch (error) {
    for (const entry of movedIn.reverse()) await rename(path.join(dir, entry), path.join(staging, entry)).catch(() => undefined);
    for (const entry of movedAside.reverse()) await rename(path.join(backup, entry), path.join(dir, entry)).catch(() => undefined);
    await rm(backup, { recursive: true, force: true });
    throw error;
  }
  await rm(backup, { recursive: true, force: true });
  await rmdir(staging);
}

/** Creates a project from a template. Throws `ScaffoldError` for anything the user can fix; leaves nothing behind on any error. */
export async function scaffold(options: ScaffoldOptions): Promise<ScaffoldResult> {
  const cwd = path.resolve(options.cwd ?? process.cwd());
  const templatesDir = options.templatesDir ?? defaultTemplatesDir();
  if (!TEMPLATE_NAME.test(options.template))
    throw new ScaffoldError(
      `invalid template name ${JSON.stringify(options.template)}: use one of ${listTemplates(templatesDir)
        .map((t) => t.name)
        .join(', ')}`,
    );
  const template = listTemplates(templatesDir).find((t) => t.name === options.template);
  if (!template)
    throw new ScaffoldError(
      `unknown template ${JSON.stringify(options.template)}; available: ${listTemplates(templatesDir)
        .map((t) => t.name)
        .join(', ')}`,
    );
  if ((await lstat(template.dir)).isSymbolicLink()) throw new ScaffoldError(`template ${template.name} is a symbolic link`);

  const dir = resolveTarget(options.target, cwd);
  const name = options.name ?? nameFromDir(dir);
  const problems = validatePackageName(name);
  if (problems.length > 0)
    throw new ScaffoldError(`invalid package name ${JSON.stringify(name)}: ${problems.join('; ')}${options.name ? '' : ' (choose one with --name)'}`);

  const existing = existsSync(dir) ? await readdir(dir) : [];
  if (existing.length > 0 && !options.force)
    throw new ScaffoldError(`${dir} is not empty (${existing.length} entr${existing.length === 1 ? 'y' : 'ies'}); use --force to replace its contents`);

  const source = options.grpoSource === undefined ? defaultGrpoSource() : options.grpoSource === null ? null : path.resolve(cwd, options.grpoSource);
  if (source !== null && workspacePackages(source).size === 0) throw new ScaffoldError(`${source} is not a GRPO.ts checkout (no packages/*/package.json)`);

  // Build the whole project in a sibling folder first (same file system, so the final move is a rename).
  const parent = path.dirname(dir);
  const createdParents: string[] = [];
  for (let p = parent; !existsSync(p); p = path.dirname(p)) createdParents.unshift(p);
  let staging: string | undefined;
  try {
    if (createdParents.length > 0) await mkdir(parent, { recursive: true });
    staging = await mkdtemp(path.join(parent, `.${path.basename(dir)}.grpo-init-`));
    const files: string[] = [];
    await copyTemplate(template.dir, staging, staging, files);
    let raw: PackageJson;
    try {
      raw = JSON.parse(await readFile(path.join(template.dir, 'package.json'), 'utf8')) as PackageJson;
    } catch (error) {
      throw new ScaffoldError(`template ${template.name} has an unreadable package.json: ${(error as Error).message}`, { cause: error });
    }
    const { pkg, warnings } = rewritePackageJson(raw, name, source);
    await writeFile(path.join(staging, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
    files.push('package.json');
    if (source !== null) {
      await writeFile(
        path.join(staging, '.npmrc'),
        '# @grpo/* come from a GRPO.ts checkout (file: dependencies); copy them like published packages\n# instead of symlinking into the checkout.\ninstall-links=true\n',
      );
      files.push('.npmrc');
    }
    await commit(staging, dir, existing);
    staging = undefined;
    return { dir, name, template: template.name, files: files.sort(), dependencies: source === null ? 'registry' : 'file', warnings };
  } catch (error) {
    if (staging) await rm(staging, { recursive: true, force: true });
    for (const p of createdParents.reverse()) await rmdir(p).catch(() => undefined);
    throw error;
  }
}
