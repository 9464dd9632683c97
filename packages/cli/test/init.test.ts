import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMain, listTemplates, nextSteps, scaffold, ScaffoldError, validatePackageName } from 'create-grpo';
import { describe, expect, it } from 'vitest';
import { main } from '../src/index.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

const tempDir = () => mkdtemp(path.join(tmpdir(), 'grpo-init-'));

interface Pkg {
  name: string;
  dependencies: Record<string, string>;
  devDependencies?: Record<string, string>;
}
const readPkg = async (dir: string) => JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as Pkg;

/** A folder of templates for failure cases: `ok` is fine; the others break part-way through the copy. */
async function fakeTemplates(): Promise<string> {
  const dir = await tempDir();
  const write = async (file: string, text: string) => {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), text);
  };
  for (const t of ['ok', 'with-link', 'bad-json', 'with-git']) {
    await write(`${t}/package.json`, t === 'bad-json' ? '{ "name": ' : '{ "name": "x", "description": "a test template" }');
    await write(`${t}/a.txt`, 'first');
    await write(`${t}/src/index.ts`, 'export {};\n');
    await write(`${t}/_gitignore`, 'node_modules\n');
  }
  // A template that carries its own `.git`: moving it over a kept `.git` fails after other entries moved.
  await write('with-git/.git/config', '[core]\n');
  await mkdir(path.join(dir, 'with-link/z'));
  await symlink('/etc/passwd', path.join(dir, 'with-link/z/link'));
  return dir;
}

describe('grpo init', () => {
  it('is listed in grpo --help', async () => {
    const { code, out } = await run(['--help']);
    expect(code).toBe(0);
    expect(out).toMatch(/init \[options\] <dir>/);
  });

  it('the repository ships the three templates', () => {
    expect(listTemplates(path.join(repo, 'templates')).map((t) => t.name)).toEqual(['custom-estimator', 'custom-reward', 'math-reasoning', 'tool-use']);
  });

  it('scaffolds a template: .gitignore renamed, package.json rewritten with the project name and file: links into this checkout', async () => {
    const cwd = await tempDir();
    const { code, out, err } = await run(['init', 'my-run', '--template', 'custom-reward', '--cwd', cwd]);
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toContain('Created my-run from template custom-reward');
    const dir = path.join(cwd, 'my-run');
    const files = await readdir(dir);
    expect(files).toContain('.gitignore');
    expect(files).not.toContain('_gitignore');
    expect(files.sort()).toEqual(['.gitignore', '.npmrc', 'README.md', 'grpo.config.ts', 'package.json', 'src', 'test', 'tsconfig.json', 'vitest.config.ts']);
    expect(await readFile(path.join(dir, '.gitignore'), 'utf8')).toContain('node_modules');
    expect(await readFile(path.join(dir, '.npmrc'), 'utf8')).toMatch(/^install-links=true$/m);
    const pkg = await readPkg(dir);
    expect(pkg.name).toBe('my-run');
    expect(pkg.dependencies['@grpo/core']).toBe(`file:${path.join(repo, 'packages/core')}`);
    expect(pkg.dependencies['@grpo/plugin-math-task']).toBe(`file:${path.join(repo, 'plugins/math-task')}`);
    // What the linked packages need from the checkout is linked too (none of it is on the registry).
    expect(pkg.dependencies['@grpo/plugin-transformer']).toBe(`file:${path.join(repo, 'plugins/transformer')}`);
    expect(pkg.dependencies['create-grpo']).toBe(`file:${path.join(repo, 'packages/create-grpo')}`);
    expect(Object.values(pkg.dependencies).filter((v) => v.startsWith('^0.1'))).toEqual([]);
    expect(pkg.dependencies['@tensorflow/tfjs']).toBe('^4.22.0');
    // Nothing left over next to the project.
    expect(await readdir(cwd)).toEqual(['my-run']);
  });

  it('warns about linked packages not built or built before their sources changed, and starts the next steps with the build', async () => {
    const source = await tempDir();
    const write = async (file: string, text: string) => {
      await mkdir(path.dirname(path.join(source, file)), { recursive: true });
      await writeFile(path.join(source, file), text);
    };
    await write('package.json', '{ "name": "grpo-ts", "private": true }');
    await write('packages/core/package.json', '{ "name": "@grpo/core", "version": "0.1.0" }');
    await write('packages/core/dist/index.js', 'export {};\n');
    await write('packages/core/src/index.ts', 'export {};\n');
    await write('plugins/x/package.json', '{ "name": "@grpo/plugin-x", "version": "0.1.0" }');
    await write('plugins/x/src/index.ts', 'export {};\n');
    await write('templates/ok/package.json', '{ "name": "t", "dependencies": { "@grpo/core": "^0.1.0", "@grpo/plugin-x": "^0.1.0" } }');
    // core's build is older than its sources.
    const past = new Date(Date.now() - 3_600_000);
    await utimes(path.join(source, 'packages/core/dist/index.js'), past, past);
    const cwd = await tempDir();
    const result = await scaffold({ target: 'proj', template: 'ok', cwd, grpoSource: source, templatesDir: path.join(source, 'templates') });
    expect(result.warnings).toEqual([
      `not built yet in ${source}: @grpo/plugin-x (run \`npm run build\` there before \`npm install\`)`,
      `built before their sources last changed in ${source}: @grpo/core (run \`npm run build\` there before \`npm install\`)`,
    ]);
    expect(nextSteps(result, cwd)).toContain(`Next:\n  (cd ${source} && npm run build)\n  cd proj\n  npm install\n`);
  });

  it('--registry keeps published ranges and writes no .npmrc; --name sets the package name', async () => {
    const cwd = await tempDir();
    const { code } = await run(['init', 'proj', '--registry', '--name', '@me/proj', '--cwd', cwd, '-t', 'math-reasoning']);
    expect(code).toBe(0);
    const pkg = await readPkg(path.join(cwd, 'proj'));
    expect(pkg.name).toBe('@me/proj');
    expect(pkg.dependencies['@grpo/cli']).toBe('^0.1.0');
    expect(pkg.dependencies['@grpo/plugin-transformer']).toBeUndefined();
    expect(existsSync(path.join(cwd, 'proj/.npmrc'))).toBe(false);
  });

  it('refuses a non-empty directory without --force and replaces its contents (keeping .git) with it', async () => {
    const cwd = await tempDir();
    const dir = path.join(cwd, 'taken');
    await mkdir(path.join(dir, '.git'), { recursive: true });
    await writeFile(path.join(dir, 'notes.txt'), 'mine');
    await writeFile(path.join(dir, '.git/HEAD'), 'ref: refs/heads/main\n');

    const refused = await run(['init', 'taken', '--cwd', cwd]);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/taken is not empty .*use --force/);
    expect((await readdir(dir)).sort()).toEqual(['.git', 'notes.txt']);
    expect(await readdir(cwd)).toEqual(['taken']);

    const forced = await run(['init', 'taken', '--cwd', cwd, '--force', '--template', 'custom-estimator']);
    expect(forced.err).toBe('');
    expect(forced.code).toBe(0);
    const files = await readdir(dir);
    expect(files).not.toContain('notes.txt');
    expect(files).toContain('grpo.config.ts');
    expect(await readFile(path.join(dir, '.git/HEAD'), 'utf8')).toBe('ref: refs/heads/main\n');
    expect((await readPkg(dir)).name).toBe('taken');
    expect(await readdir(cwd)).toEqual(['taken']);
  });

  it('an empty existing directory needs no --force', async () => {
    const cwd = await tempDir();
    await mkdir(path.join(cwd, 'empty'));
    expect((await run(['init', 'empty', '--cwd', cwd])).code).toBe(0);
    expect((await readPkg(path.join(cwd, 'empty'))).name).toBe('empty');
  });

  it('rejects targets and template names that escape, symlinked targets and bad package names', async () => {
    const cwd = await tempDir();
    const outside = await tempDir();
    await symlink(outside, path.join(cwd, 'link'));
    const cases: [string[], RegExp][] = [
      [['../escaped'], /escapes the current directory/],
      [['a/../../escaped'], /escapes the current directory/],
      [['link'], /symbolic link/],
      [['link/inner'], /symbolic link/],
      [['ok', '--template', '../templates/math-reasoning'], /invalid template name/],
      [['ok', '--template', '/etc'], /invalid template name/],
      [['ok', '--name', '../evil'], /invalid package name/],
      [['ok', '--name', 'a/b'], /invalid package name/],
      [['ok', '--name', 'Upper'], /must be lowercase/],
    ];
    for (const [args, message] of cases) {
      const [dir, ...rest] = args;
      const { code, err } = await run(['init', dir!, '--cwd', cwd, ...rest]);
      expect({ args, code }).toEqual({ args, code: 1 });
      expect(err).toMatch(message);
    }
    expect(await readdir(cwd)).toEqual(['link']);
    expect(await readdir(outside)).toEqual([]);
    expect(existsSync(path.join(path.dirname(cwd), 'escaped'))).toBe(false);
  });

  it('turns a directory name into a valid package name', async () => {
    const cwd = await tempDir();
    expect((await run(['init', 'My Project', '--cwd', cwd])).code).toBe(0);
    expect((await readPkg(path.join(cwd, 'My Project'))).name).toBe('my-project');
  });

  it('an unknown template lists the available ones', async () => {
    const cwd = await tempDir();
    const { code, err } = await run(['init', 'x', '--template', 'nope', '--cwd', cwd]);
    expect(code).toBe(1);
    expect(err).toContain('unknown template "nope"; available: custom-estimator, custom-reward, math-reasoning, tool-use');
    expect(await readdir(cwd)).toEqual([]);
  });

  it('a failure part-way through the copy leaves nothing behind (new directory, parents, or a forced one)', async () => {
    const templatesDir = await fakeTemplates();
    const cwd = await tempDir();
    await expect(scaffold({ target: 'deep/er/proj', template: 'with-link', cwd, templatesDir, grpoSource: null })).rejects.toThrow(/symbolic link/);
    await expect(scaffold({ target: 'proj', template: 'bad-json', cwd, templatesDir, grpoSource: null })).rejects.toThrow(ScaffoldError);
    expect(await readdir(cwd)).toEqual([]);

    await mkdir(path.join(cwd, 'kept'));
    await writeFile(path.join(cwd, 'kept/mine.txt'), 'mine');
    await expect(scaffold({ target: 'kept', template: 'with-link', cwd, templatesDir, grpoSource: null, force: true })).rejects.toThrow(/symbolic link/);
    expect(await readdir(cwd)).toEqual(['kept']);
    expect(await readdir(path.join(cwd, 'kept'))).toEqual(['mine.txt']);

    // A failure while moving the finished project in puts the old contents back.
    await mkdir(path.join(cwd, 'kept/.git'));
    await writeFile(path.join(cwd, 'kept/.git/HEAD'), 'ref: refs/heads/main\n');
    await expect(scaffold({ target: 'kept', template: 'with-git', cwd, templatesDir, grpoSource: null, force: true })).rejects.toThrow();
    expect(await readdir(cwd)).toEqual(['kept']);
    expect((await readdir(path.join(cwd, 'kept'))).sort()).toEqual(['.git', 'mine.txt']);
    expect(await readdir(path.join(cwd, 'kept/.git'))).toEqual(['HEAD']);

    // The same folder of templates works when nothing breaks.
    const ok = await scaffold({ target: 'proj', template: 'ok', cwd, templatesDir, grpoSource: null });
    expect(ok.files).toEqual(['.gitignore', 'a.txt', 'package.json', 'src/index.ts']);
    expect((await readPkg(ok.dir)).name).toBe('proj');
  });

  it('validates npm package names', () => {
    expect(validatePackageName('grpo-run')).toEqual([]);
    expect(validatePackageName('@scope/grpo-run')).toEqual([]);
    expect(validatePackageName('')).not.toEqual([]);
    expect(validatePackageName('.hidden')).not.toEqual([]);
    expect(validatePackageName('@scope/../x')).not.toEqual([]);
    expect(validatePackageName('has space')).not.toEqual([]);
    expect(validatePackageName('x'.repeat(215))).not.toEqual([]);
  });

  it('create-grpo (npm create grpo) runs the same scaffolder', async () => {
    const cwd = await tempDir();
    const previous = process.cwd();
    let out = '';
    let err = '';
    const io = { out: (t: string) => void (out += t), err: (t: string) => void (err += t) };
    process.chdir(cwd);
    try {
      expect(await createMain(['made', '--template', 'custom-estimator'], io)).toBe(0);
      expect(await createMain(['made'], io)).toBe(1);
      expect(await createMain([], io)).toBe(2);
    } finally {
      process.chdir(previous);
    }
    expect(out).toContain('Created made from template custom-estimator');
    expect(err).toContain('is not empty');
    expect((await readPkg(path.join(cwd, 'made'))).dependencies['@grpo/plugin-grpo']).toBe(`file:${path.join(repo, 'plugins/grpo')}`);
  });
});
