/**
 * Validating a config whose plugins are given as objects: the part of `resolveConfig` that needs
 * no module loading and no files, so it also runs in a browser (the playground resolves its
 * config with it; `resolveConfig` ends with it after importing the plugins a config names).
 */
import { ConfigError, type ConfigIssue } from '../errors.js';
import { flattenPlugins, pluginShapeProblem } from '../plugin/container.js';
import type { GrpoPlugin, PluginEntry, ResolvedConfig } from '../plugin/types.js';
import { configSchemaFor, formatIssues, validatePluginOptions } from './sections.js';

/**
 * Validates `raw` (a config object; its `plugins` key, if any, is ignored) against core's schema
 * merged with the sections of `plugins`, after checking every plugin's shape and options; reports
 * every problem at once in one `ConfigError` naming `source`. `issues` are problems found before
 * (e.g. plugins that failed to load), reported with these.
 */
export function resolvePluginConfig(raw: unknown, plugins: readonly PluginEntry[], source = '(config)', issues: ConfigIssue[] = []): ResolvedConfig {
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(source, [{ path: '', message: `expected an object, got ${Array.isArray(raw) ? 'an array' : typeof raw}` }]);
  }
  const all: GrpoPlugin[] = flattenPlugins(plugins);
  for (const [i, plugin] of all.entries()) {
    const problem = pluginShapeProblem(plugin);
    if (problem) issues.push({ path: `plugins`, message: `plugin #${i + 1} ${problem}` });
  }
  if (issues.length) throw new ConfigError(source, issues);
  const validated = validatePluginOptions(all);
  issues.push(...validated.issues);
  const { schema } = configSchemaFor(validated.plugins);
  const parsed = schema.safeParse(raw);
  if (!parsed.success) issues.push(...formatIssues(parsed.error));
  if (issues.length || !parsed.success) throw new ConfigError(source, issues);
  return { ...(parsed.data as Omit<ResolvedConfig, 'plugins' | 'source'>), plugins: validated.plugins, source } as ResolvedConfig;
}
