/**
 * Every code block in docs/*.md and README.md is checked:
 * - ```ts blocks are type-checked together with the root tsconfig's options (imports of @grpo/*
 *   resolve to the workspace sources through the `source` condition);
 * - ```sh lines that call the CLI run through `main()` (cheap commands for real, expensive ones
 *   with `--help`, checking that every flag the doc uses exists); `npm run`/`npm start`/`npm test`
 *   name scripts of package.json; other lines must start with a known command;
 * - the same CLI lines run again as a user runs them, `npm run grpo -- …`, on a copy of this
 *   checkout without any build output (as a fresh clone is after `npm ci`): `--help`, `config
 *   print`, `config validate` and `init` for real, the others as `<command> --help` (that
 *   loads everything the command imports); `npm start` itself is run by test/cli/ctrl-c.test.ts;
 * - ```json / ```yaml blocks are configs (or a package.json with a `grpo` key) and are validated
 *   with `resolveConfig`;
 * - ```jsonl blocks (JSON Lines: data files, one-line outputs) must have every non-blank line parse
 *   as JSON;
 * - ```text and ```mermaid are not code; bare ``` fences are not allowed.
 * docs/config.md must equal what `npm run docs:config` generates.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '@grpo/core';
import { defaultPlugins, main } from '../../packages/cli/src/index.js';
import { CONFIG_DOC_PATH, renderConfigDocs } from '../../scripts/gen-config-docs.js';
import { buildOutputs, freshCheckout, userEnv } from '../support/checkout.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface Block {
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  code: string;
}

const NOT_CODE = new Set(['text', 'mermaid']);
const CODE = new Set(['ts', 'sh', 'json', 'jsonl', 'yaml']);

const docFiles = [
  'README.md',
  ...readdirSync(path.join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
  // Each package's and plugin's own README (templates' READMEs are checked by the templates test).
  ...['packages', 'plugins'].flatMap((dir) =>
    readdirSync(path.join(root, dir))
      .sort()
      .filter((name) => existsSync(path.join(root, dir, name, 'README.md')))
      .map((name) => `${dir}/${name}/README.md`),
  ),
];

/** Fenced blocks of a Markdown file; an opening fence without a language is reported as lang ''. */
export function extractBlocks(file: string, markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const fence = open[2]!;
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && lines[j]!.trim() !== fence) body.push(lines[j++]!);
    blocks.push({ file, line: i + 1, lang: open[3]!, code: body.join('\n') });
    i = j;
  }
  return blocks;
}

const blocks = docFiles.flatMap((f) => extractBlocks(f, readFileSync(path.join(root, f), 'utf8')));
const where = (b: Block) => `${b.file}:${b.line}`;
const of = (lang: string) => blocks.filter((b) => b.lang === lang);

/** Splits a shell line into words, honouring single and double quotes. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let current = '';
  let quote: string | null = null;
  let has = false;
  for (const ch of line) {
    if (quote) {
      if (ch === quote) quote = null;
      else current += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      has = true;
    } else if (/\s/.test(ch)) {
      if (has || current) words.push(current);
      current = '';
      has = false;
    } else current += ch;
  }
  if (quote) throw new Error(`unterminated quote in: ${line}`);
  if (has || current) words.push(current);
  return words;
}

/** The arguments after `grpo` when a command invokes the CLI, else undefined. */
export function cliArgs(words: readonly string[]): string[] | undefined {
  if (words[0] === 'grpo') return words.slice(1);
  if (words[0] === 'npx' && words[1] === 'grpo') return words.slice(2);
  if (words[0] === 'npm' && words[1] === 'run' && words[2] === 'grpo') return words[3] === '--' ? words.slice(4) : words.slice(3);
  return undefined;
}

/** Flags a command line uses (`--steps`, `-o`; `--x=1` counts as `--x`). */
export function flagsOf(args: readonly string[]): string[] {
  return args.filter((a) => /^--?[a-zA-Z]/.test(a)).map((a) => a.split('=')[0]!);
}

/** Whether `flag` is listed in a commander help text. */
export function helpHasFlag(help: string, flag: string): boolean {
  const escaped = flag.replace(/[-/\\^$*+?.()|[\]{}]/g, '\\$&');
  return new RegExp(`(^|[\\s,])${escaped}(?=[\\s,=]|$)`, 'm').test(help);
}

async function runCli(args: readonly string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

/** Commands that would train, sample or write files: checked through their help text only. */
const EXPENSIVE = new Set(['train', 'eval', 'sample', 'rm', 'init', 'report', 'worker']);
/** Commands plugins ship, and the plugin (`--plugin <name>`) that brings each into a help run without a config of its own. */
const PLUGIN_COMMANDS: Readonly<Record<string, string>> = { rm: 'reward-model', worker: 'workers' };
/** `<command> --help`, with the plugin that ships the command. */
const helpArgv = (path_: readonly string[]) => [...(PLUGIN_COMMANDS[path_[0] ?? ''] ? ['--plugin', PLUGIN_COMMANDS[path_[0]!]!] : []), ...path_, '--help'];
/** Shell commands other than the CLI that docs may show (checked for existence of npm scripts only). */
const OTHER_COMMANDS = new Set(['npm', 'npx', 'export', 'nvidia-smi', 'ls', 'cat', 'tail', 'head', 'node', 'cd', 'sudo', 'ldconfig', 'open', 'xdg-open']);
// Redis, for the workers plugin (docs/scale-out.md).
for (const tool of ['redis-server', 'redis-cli']) OTHER_COMMANDS.add(tool);
// The logging tools the sink plugins' READMEs show (TensorBoard, and W&B's CLI installed with pip).
for (const tool of ['tensorboard', 'pip', 'wandb']) OTHER_COMMANDS.add(tool);
// Unpacking the playground's checkpoint download (docs/playground.md).
OTHER_COMMANDS.add('unzip');
const rootPackage = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };

/** Every ```sh line that calls the CLI: where it is and its arguments after `grpo`. */
function cliLines(): { at: string; part: string; args: string[] }[] {
  const found: { at: string; part: string; args: string[] }[] = [];
  for (const b of of('sh'))
    for (const [k, raw] of b.code.split('\n').entries()) {
      const line = raw.trim();
      if (!line || line.startsWith('#')) continue;
      for (const part of line.split(/\s*&&\s*/)) {
        const args = cliArgs(shellWords(part.replace(/\s+#.*$/, '')));
        if (args) found.push({ at: `${b.file}:${b.line + 1 + k}`, part, args });
      }
    }
  return found;
}

/** The command a CLI line names (`train`; `config validate`; `rm train`), before any flag value. */
function commandPath(args: readonly string[]): string[] {
  const positional = args.filter((a, i) => !a.startsWith('-') && (i === 0 || !args[i - 1]!.startsWith('-')));
  return positional[0] === 'rm' || positional[0] === 'config' ? positional.slice(0, 2) : positional.slice(0, 1);
}

describe('docs code blocks', () => {
  it('are found, and every fence names a language this test knows', () => {
    expect(blocks.length).toBeGreaterThan(10);
    const bad = blocks.filter((b) => !CODE.has(b.lang) && !NOT_CODE.has(b.lang)).map((b) => `${where(b)}: \`\`\`${b.lang || '(none)'}`);
    expect(bad).toEqual([]);
  });

  it('every ```ts block type-checks', () => {
    const cacheDir = path.join(root, 'node_modules/.cache/grpo-docs');
    rmSync(cacheDir, { recursive: true, force: true });
    mkdirSync(cacheDir, { recursive: true });
    const files = new Map<string, Block>();
    for (const [i, b] of of('ts').entries()) {
      const name = path.join(cacheDir, `${b.file.replace(/[/.]/g, '_')}_L${b.line}_${i}.ts`);
      // Each snippet is its own module, so top-level names never clash between snippets.
      writeFileSync(name, `${b.code}\nexport {};\n`);
      files.set(name, b);
    }
    expect(files.size).toBeGreaterThan(5);
    const configFile = ts.readConfigFile(path.join(root, 'tsconfig.json'), (f) => ts.sys.readFile(f));
    const parsed = ts.parseJsonConfigFileContent(configFile.config, ts.sys, root);
    const program = ts.createProgram([...files.keys()], { ...parsed.options, noEmit: true });
    const problems = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.category === ts.DiagnosticCategory.Error)
      .map((d) => {
        const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
        const block = d.file ? files.get(path.resolve(d.file.fileName)) : undefined;
        if (!d.file || !block || d.start === undefined) return `${d.file?.fileName ?? '(global)'}: ${message}`;
        const { line } = d.file.getLineAndCharacterOfPosition(d.start);
        return `${block.file}:${block.line + 1 + line}: ${message}`;
      });
    expect(problems).toEqual([]);
  }, 120_000);

  it('every ```sh line names an existing command, npm script or CLI flag; cheap CLI commands succeed', async () => {
    const problems: string[] = [];
    let cliLines = 0;
    for (const b of of('sh')) {
      for (const [k, raw] of b.code.split('\n').entries()) {
        const line = raw.trim();
        if (!line || line.startsWith('#')) continue;
        const at = `${b.file}:${b.line + 1 + k}`;
        for (const part of line.split(/\s*&&\s*/)) {
          const words = shellWords(part);
          const args = cliArgs(words);
          if (args) {
            cliLines++;
            const command = args.find((a) => !a.startsWith('-'));
            const cheap =
              args.includes('--help') ||
              args.includes('-h') ||
              command === undefined ||
              (command === 'config' && args.some((a) => a === 'print' || a === 'validate'));
            if (cheap && !EXPENSIVE.has(command ?? '')) {
              // Config commands without a config of their own read this repository's grpo.config.ts, as in a checkout.
              const usesConfig = args.some((a) => ['-c', '--config', '--cwd'].includes(a.split('=')[0]!));
              const run = await runCli(command === 'config' && !usesConfig ? [...args, '--cwd', root] : args);
              if (run.code !== 0) problems.push(`${at}: \`${part}\` exited ${run.code}: ${run.err.trim()}`);
            } else {
              // Expensive: let commander find the (sub)command, then check each flag in its help.
              const positional = args.filter((a, i) => !a.startsWith('-') && (i === 0 || !args[i - 1]!.startsWith('-')));
              const path_ = command === 'rm' ? positional.slice(0, 2) : positional.slice(0, 1);
              const help = await runCli(helpArgv(path_));
              if (help.code !== 0) problems.push(`${at}: \`grpo ${path_.join(' ')} --help\` exited ${help.code}: ${help.err.trim()}`);
              // --plugin is the program's own option (every command takes it), not the command's.
              for (const flag of flagsOf(args).filter((f) => f !== '--plugin'))
                if (!helpHasFlag(help.out, flag)) problems.push(`${at}: \`grpo ${path_.join(' ')}\` has no option ${flag}`);
            }
            continue;
          }
          const [cmd, sub, name] = words;
          if (cmd === 'npm' && (sub === 'start' || sub === 'test')) {
            if (!rootPackage.scripts[sub]) problems.push(`${at}: package.json has no script '${sub}'`);
          } else if (cmd === 'npm' && sub === 'run') {
            if (!name || !rootPackage.scripts[name]) problems.push(`${at}: package.json has no script '${name ?? ''}'`);
          } else if (cmd === 'npm' && !['ci', 'install', 'i', 'create', 'pack'].includes(sub ?? '')) {
            problems.push(`${at}: unexpected npm command '${sub ?? ''}'`);
          } else if (!cmd || !OTHER_COMMANDS.has(cmd)) {
            problems.push(`${at}: unknown command '${cmd ?? ''}' (add it to OTHER_COMMANDS if it is meant)`);
          }
        }
      }
    }
    expect(problems).toEqual([]);
    expect(cliLines).toBeGreaterThan(5);
  }, 120_000);

  it('every ```json / ```yaml block is a valid config', async () => {
    const problems: string[] = [];
    const configBlocks = [...of('json'), ...of('yaml')];
    expect(configBlocks.length).toBeGreaterThan(0);
    for (const b of configBlocks) {
      try {
        let raw = (b.lang === 'json' ? JSON.parse(b.code) : parseYaml(b.code)) as Record<string, unknown>;
        // A package.json whose `grpo` key holds the config.
        if (raw && typeof raw === 'object' && 'grpo' in raw && 'name' in raw) raw = raw.grpo as Record<string, unknown>;
        await resolveConfig(raw, { source: where(b), baseDir: root, defaults: defaultPlugins() });
      } catch (error) {
        problems.push(`${where(b)}: ${(error as Error).message}`);
      }
    }
    expect(problems).toEqual([]);
  }, 120_000);

  it('every non-blank line of a ```jsonl block parses as JSON', () => {
    const problems: string[] = [];
    const jsonlBlocks = of('jsonl');
    expect(jsonlBlocks.length).toBeGreaterThan(0);
    for (const b of jsonlBlocks) {
      const lines = b.code.split('\n');
      if (lines.every((l) => !l.trim())) problems.push(`${where(b)}: empty block`);
      for (const [k, raw] of lines.entries()) {
        if (!raw.trim()) continue;
        try {
          JSON.parse(raw);
        } catch (error) {
          problems.push(`${b.file}:${b.line + 1 + k}: ${(error as Error).message}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });
});

const execFileAsync = promisify(execFile);

describe('documented commands on a fresh clone (no build output)', () => {
  let clone: string;

  beforeAll(() => {
    clone = freshCheckout('grpo-docs-');
  }, 120_000);

  afterAll(() => {
    if (clone) rmSync(clone, { recursive: true, force: true });
  });

  it('every CLI line runs through `npm run grpo --` right after `npm ci`: cheap ones for real, the others up to their --help', async () => {
    expect(buildOutputs(clone)).toEqual([]);
    const runs = new Map<string, { argv: string[]; where: string[] }>();
    for (const { at, args } of cliLines()) {
      const path_ = commandPath(args);
      const real =
        args.includes('--help') || path_.length === 0 || path_[0] === 'init' || (path_[0] === 'config' && ['print', 'validate'].includes(path_[1] ?? ''));
      // `init` runs for real: a target under /tmp is redirected into the clone, so runs never collide or leave files behind.
      const inClone = (arg: string) => (path_[0] === 'init' && arg.startsWith('/tmp/') ? path.join(clone, 'tmp', arg.slice('/tmp/'.length)) : arg);
      const argv = real ? args.map(inClone) : helpArgv(path_);
      const key = JSON.stringify(argv);
      runs.set(key, { argv, where: [...(runs.get(key)?.where ?? []), at] });
    }
    expect(runs.size).toBeGreaterThan(5);
    const problems: string[] = [];
    for (const { argv, where } of runs.values()) {
      try {
        await execFileAsync('npm', ['run', '--silent', 'grpo', '--', ...argv], {
          cwd: clone,
          env: userEnv({ GRPO_CACHE_DIR: path.join(clone, '.cache') }),
          maxBuffer: 16 * 1024 * 1024,
        });
      } catch (error) {
        const e = error as Error & { code?: number; stderr?: string };
        problems.push(
          `${where.join(', ')}: \`npm run grpo -- ${argv.join(' ')}\` exited ${e.code}: ${(e.stderr ?? e.message).trim().split('\n').slice(-5).join(' | ')}`,
        );
      }
    }
    expect(problems).toEqual([]);
  }, 600_000);
});

describe('docs pages', () => {
  it(`${CONFIG_DOC_PATH} is up to date (run \`npm run docs:config\`)`, () => {
    expect(readFileSync(path.join(root, CONFIG_DOC_PATH), 'utf8')).toBe(renderConfigDocs());
  });

  it("README's Layout row for docs/ links every page", () => {
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    const row = readme.split('\n').find((l) => l.startsWith('| `docs/` |'));
    expect(row).toBeDefined();
    for (const f of docFiles.filter((f) => f.startsWith('docs/'))) expect(row).toContain(`](${f})`);
  });

  it('relative links between pages point at files that exist', () => {
    const broken: string[] = [];
    for (const f of docFiles) {
      const text = readFileSync(path.join(root, f), 'utf8');
      for (const m of text.matchAll(/\]\(([^)\s#]+)(#[^)]*)?\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/.test(target)) continue;
        try {
          readFileSync(path.resolve(root, path.dirname(f), target));
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'EISDIR') continue;
          broken.push(`${f}: ${target}`);
        }
      }
    }
    expect(broken).toEqual([]);
  });
});
