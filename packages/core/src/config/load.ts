import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { cosmiconfig, type Loader } from 'cosmiconfig';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../errors.js';
import type { GrpoPlugin } from '../plugin/types.js';
import { configSchema, type GrpoConfigInput, type ResolvedConfig } from './schema.js';

export const MODULE_NAME = 'grpo';

/** Where a config is searched for, in order (cosmiconfig's conventions for module `grpo`). */
export const SEARCH_PLACES = [
  'package.json',
  '.grporc',
  '.grporc.json',
  '.grporc.yaml',
  '.grporc.yml',
  '.config/grporc',
  '.config/grporc.json',
  '.config/grporc.yaml',
  '.config/grporc.yml',
  'grpo.config.ts',
  'grpo.config.mts',
  'grpo.config.js',
  'grpo.config.mjs',
  'grpo.config.cjs',
];

/** Identity function that types a config file (`export default defineConfig({...})`). */
export function defineConfig(config: GrpoConfigInput): GrpoConfigInput {
  return config;
}

const loadYaml: Loader = (filepath, content) => {
  try {
    return parseYaml(content) as unknown;
  } catch (error) {
    if (error instanceof YAMLParseError) {
      const where = error.linePos?.[0] ? ` at line ${error.linePos[0].line}, column ${error.linePos[0].col}` : '';
      throw new ConfigError(filepath, [{ path: '', message: `malformed YAML${where}: ${error.message.split('\n')[0]}` }]);
    }
    throw error;
  }
};

const loadJson: Loader = (filepath, content) => {
  try {
    return JSON.parse(content) as unknown;
  } catch (error) {
    throw new ConfigError(filepath, [{ path: '', message: `malformed JSON: ${(error as Error).message}` }]);
  }
};

/** `.grporc` without extension may be JSON or YAML (YAML is a superset). */
const loadRc: Loader = (filepath, content) => loadYaml(filepath, content);

const loadModule: Loader = async (filepath) => {
  try {
    let mod: { default?: unknown };
    if (/\.m?ts$/.test(filepath)) {
      // tsx compiles TypeScript configs on the fly, so they need no build step.
      const { tsImport } = await import('tsx/esm/api');
      mod = (await tsImport(pathToFileURL(filepath).href, import.meta.url)) as { default?: unknown };
    } else {
      mod = (await import(`${pathToFileURL(filepath).href}?t=${Date.now()}`)) as { default?: unknown };
    }
    let value: unknown = mod.default ?? mod;
    // tsx can wrap CommonJS-style output in a second `default`.
    if (value && typeof value === 'object' && 'default' in value && Object.keys(value).length === 1) {
      value = (value as { default: unknown }).default;
    }
    return typeof value === 'function' ? await (value as () => unknown)() : value;
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(filepath, [
      { path: '', message: `the config file threw while loading: ${(error as Error).message ?? String(error)}` },
    ]);
  }
};

const explorer = () =>
  cosmiconfig(MODULE_NAME, {
    searchPlaces: SEARCH_PLACES,
    // Stop at the project root (the nearest package.json), like ESLint and Prettier.
    searchStrategy: 'project',
    loaders: {
      '.json': loadJson,
      '.yaml': loadYaml,
      '.yml': loadYaml,
      noExt: loadRc,
      '.ts': loadModule,
      '.mts': loadModule,
      '.js': loadModule,
      '.mjs': loadModule,
      '.cjs': loadModule,
    },
  });

/** Turns zod's issues into `path: message` lines. */
export function formatIssues(error: z.ZodError): ConfigIssue[] {
  return error.issues.map((issue) => {
    const p = issue.path.map((k) => (typeof k === 'number' ? `[${k}]` : String(k))).join('.').replace(/\.\[/g, '[');
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') message = `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}`;
    return { path: p, message };
  });
}

/** Candidate package names for a plugin named in JSON/YAML (commitlint-style normalisation). */
export function pluginPackageCandidates(name: string): string[] {
  if (name.startsWith('.') || path.isAbsolute(name)) return [name];
  if (name.startsWith('@')) {
    const [scope, pkg] = name.split('/');
    if (!pkg) return [`${scope}/grpo-plugin`];
    if (scope === '@grpo') return pkg.startsWith('plugin-') ? [name] : [`@grpo/plugin-${pkg}`];
    return pkg.startsWith('grpo-plugin') ? [name] : [`${scope}/grpo-plugin-${pkg}`, name];
  }
  if (name.startsWith('grpo-plugin-')) return [name];
  return [`@grpo/plugin-${name}`, `grpo-plugin-${name}`];
}

async function importPlugin(spec: string, options: Record<string, unknown> | undefined, fromDir: string, at: string): Promise<GrpoPlugin> {
  const candidates = pluginPackageCandidates(spec);
  const require = createRequire(path.join(fromDir, 'noop.js'));
  let resolved: string | undefined;
  for (const candidate of candidates) {
    try {
      resolved = require.resolve(candidate.startsWith('.') ? path.resolve(fromDir, candidate) : candidate);
      break;
    } catch {
      /* try the next candidate */
    }
  }
  if (!resolved) {
    throw new ConfigError('plugins', [
      { path: at, message: `cannot find plugin package '${spec}' (tried ${candidates.join(', ')}) from ${fromDir}; is it installed?` },
    ]);
  }
  const mod = (await import(pathToFileURL(resolved).href)) as { default?: unknown };
  const factory = mod.default;
  if (typeof factory !== 'function') {
    throw new ConfigError('plugins', [{ path: at, message: `package '${spec}' has no default-exported plugin factory` }]);
  }
  const plugin = (factory as (o?: unknown) => unknown)(options);
  if (!plugin || typeof plugin !== 'object' || !('meta' in plugin)) {
    throw new ConfigError('plugins', [{ path: at, message: `package '${spec}''s factory did not return a plugin ({ meta, module })` }]);
  }
  return plugin as GrpoPlugin;
}

/** Validates a raw config object and resolves plugin package names relative to `baseDir`. */
export async function resolveConfig(raw: unknown, source: string, baseDir: string): Promise<ResolvedConfig> {
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(source, [{ path: '', message: `expected an object, got ${Array.isArray(raw) ? 'an array' : typeof raw}` }]);
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(source, formatIssues(parsed.error));
  const plugins: GrpoPlugin[] = [];
  const issues: ConfigIssue[] = [];
  const visit = async (entry: unknown, at: string): Promise<void> => {
    if (!entry) return;
    try {
      if (typeof entry === 'string') plugins.push(await importPlugin(entry, undefined, baseDir, at));
      else if (Array.isArray(entry) && typeof entry[0] === 'string' && entry.length === 2 && !Array.isArray(entry[1]))
        plugins.push(await importPlugin(entry[0], entry[1] as Record<string, unknown>, baseDir, at));
      else if (Array.isArray(entry)) for (const [i, e] of entry.entries()) await visit(e, `${at}[${i}]`);
      else plugins.push(entry as GrpoPlugin);
    } catch (error) {
      if (error instanceof ConfigError) issues.push(...error.issues);
      else issues.push({ path: at, message: `plugin failed to load: ${(error as Error).message}` });
    }
  };
  for (const [i, entry] of parsed.data.plugins.entries()) await visit(entry, `plugins[${i}]`);
  if (issues.length) throw new ConfigError(source, issues);
  return { ...parsed.data, plugins, source };
}

export interface LoadConfigOptions {
  /** Directory to search from; defaults to `process.cwd()`. */
  cwd?: string;
  /** Load exactly this file (`--config`). */
  configFile?: string;
  /** Values that override the file (e.g. from CLI flags), merged deeply. */
  overrides?: Record<string, unknown>;
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b)
        ? deepMerge(b as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

/** Finds (or loads the given) config file, validates it and resolves its plugins. */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<ResolvedConfig> {
  const cwd = path.resolve(options.cwd ?? process.cwd());
  let raw: unknown = {};
  let source = '(defaults)';
  let baseDir = cwd;
  if (options.configFile) {
    const file = path.resolve(cwd, options.configFile);
    try {
      await readFile(file);
    } catch {
      throw new ConfigError(file, [{ path: '', message: 'config file not found' }]);
    }
    const result = await explorer().load(file);
    raw = result?.config;
    source = file;
    baseDir = path.dirname(file);
  } else {
    const result = await explorer().search(cwd);
    if (result) {
      raw = result.config;
      source = result.filepath;
      baseDir = path.dirname(result.filepath);
    }
  }
  if (options.overrides && raw && typeof raw === 'object' && !Array.isArray(raw)) {
    raw = deepMerge(raw as Record<string, unknown>, options.overrides);
  } else if (options.overrides && (raw === undefined || raw === null)) {
    raw = options.overrides;
  }
  return resolveConfig(raw, source, baseDir);
}

/** The resolved config as JSON, plugins by name and version. */
export function configToJson(config: ResolvedConfig): Record<string, unknown> {
  const { plugins, source, ...rest } = config;
  return { source, ...rest, plugins: plugins.map((p) => `${p.meta.name}@${p.meta.version}`) };
}
