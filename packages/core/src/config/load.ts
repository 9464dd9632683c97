import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { cosmiconfig, type Loader } from 'cosmiconfig';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { ConfigError, ConfigNotFoundError, type ConfigIssue } from '../errors.js';
import { flattenPlugins } from '../plugin/container.js';
import type { GrpoPlugin, PluginEntry, ResolvedConfig } from '../plugin/types.js';
import { pluginEntrySchema, type GrpoConfigInput } from './schema.js';
import { resolvePluginConfig } from './resolve.js';
import { formatIssues } from './sections.js';

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
    throw new ConfigError(filepath, [{ path: '', message: `the config file threw while loading: ${(error as Error).message ?? String(error)}` }]);
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

export interface ResolveConfigOptions {
  /** Where the config came from (a file path or a label), named in every error. */
  source?: string;
  /** Directory plugin package names and relative paths resolve from. */
  baseDir?: string;
  /** Plugins loaded before the config's (the CLI's defaults: the GRPO algorithm, the backends, the transformer policy). */
  defaults?: readonly PluginEntry[];
}

/**
 * Validates a raw config object: resolves the plugins it names (after `defaults`), validates every
 * plugin's options and the config against core's schema merged with the plugins' sections, and
 * reports every problem at once in one `ConfigError`.
 */
export async function resolveConfig(raw: unknown, options: ResolveConfigOptions = {}): Promise<ResolvedConfig> {
  const source = options.source ?? '(config)';
  const baseDir = options.baseDir ?? process.cwd();
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(source, [{ path: '', message: `expected an object, got ${Array.isArray(raw) ? 'an array' : typeof raw}` }]);
  }
  const entries = z
    .array(pluginEntrySchema)
    .optional()
    .safeParse((raw as { plugins?: unknown }).plugins);
  if (!entries.success) throw new ConfigError(source, formatIssues(entries.error, 'plugins'));
  const named: GrpoPlugin[] = [];
  const issues: ConfigIssue[] = [];
  const visit = async (entry: unknown, at: string): Promise<void> => {
    if (!entry) return;
    try {
      if (typeof entry === 'string') named.push(await importPlugin(entry, undefined, baseDir, at));
      else if (Array.isArray(entry) && typeof entry[0] === 'string' && entry.length === 2 && !Array.isArray(entry[1]))
        named.push(await importPlugin(entry[0], entry[1] as Record<string, unknown>, baseDir, at));
      else if (Array.isArray(entry)) for (const [i, e] of entry.entries()) await visit(e, `${at}[${i}]`);
      else named.push(entry as GrpoPlugin);
    } catch (error) {
      if (error instanceof ConfigError) issues.push(...error.issues);
      else issues.push({ path: at, message: `plugin failed to load: ${(error as Error).message}` });
    }
  };
  for (const [i, entry] of (entries.data ?? []).entries()) await visit(entry, `plugins[${i}]`);
  return resolvePluginConfig(raw, [...flattenPlugins(options.defaults ?? []), ...named], source, issues);
}

export interface LoadConfigOptions extends Pick<ResolveConfigOptions, 'defaults'> {
  /** Plugins loaded after the config's, named like in JSON configs (the CLI's `--plugin`). */
  extraPlugins?: readonly string[];
  /** Directory to search from; defaults to `process.cwd()`. */
  cwd?: string;
  /** Load exactly this file (`--config`). */
  configFile?: string;
  /** Values that override the file (e.g. from CLI flags), merged deeply. */
  overrides?: Record<string, unknown>;
  /** Without `configFile`, finding no config is a `ConfigNotFoundError` instead of running on the defaults. */
  required?: boolean;
}

/** The search places as a user reads them: `package.json#grpo`, `.grporc`, … */
const SEARCHED = ['package.json#grpo', '.grporc', '.grporc.{json,yaml,yml}', '.config/grporc*', 'grpo.config.{ts,mts,js,mjs,cjs}'];

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
    } else if (options.required) {
      throw new ConfigNotFoundError(cwd, SEARCHED);
    }
  }
  if (options.overrides && raw && typeof raw === 'object' && !Array.isArray(raw)) {
    raw = deepMerge(raw as Record<string, unknown>, options.overrides);
  } else if (options.overrides && (raw === undefined || raw === null)) {
    raw = options.overrides;
  }
  if (options.extraPlugins?.length && raw && typeof raw === 'object' && !Array.isArray(raw)) {
    const own = (raw as { plugins?: unknown }).plugins;
    raw = { ...raw, plugins: [...(Array.isArray(own) ? own : own === undefined ? [] : [own]), ...options.extraPlugins] };
  }
  return resolveConfig(raw, { source, baseDir, defaults: options.defaults });
}

/** The resolved config as JSON: plugins by name and version, with their validated options. */
export function configToJson(config: ResolvedConfig): Record<string, unknown> {
  const { plugins, source, ...rest } = config;
  return {
    source,
    ...rest,
    plugins: plugins.map((p) =>
      p.options?.value === undefined ? `${p.meta.name}@${p.meta.version}` : { [`${p.meta.name}@${p.meta.version}`]: jsonSafe(p.options.value) },
    ),
  };
}

/** Options as JSON: objects that are not plain data (a reward function, a model) by their name. */
function jsonSafe(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return typeof value === 'function' ? `[function ${value.name || 'anonymous'}]` : value;
  if (Array.isArray(value)) return value.map(jsonSafe);
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) {
    const name = (value as { name?: unknown }).name;
    return `[${(value as object).constructor?.name ?? 'object'}${typeof name === 'string' ? ` ${name}` : ''}]`;
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonSafe(v)]));
}
