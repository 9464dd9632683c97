import 'reflect-metadata';
import { Container, ContainerModule } from 'inversify';
import semver from 'semver';
import { validatePluginOptions } from '../config/sections.js';
import { ConfigError, GrpoError, PluginError } from '../errors.js';
import { CORE_VERSION } from '../version.js';
import { GrpoConfig, type GrpoPlugin, type PluginEntry, type ResolvedConfig } from './types.js';

/** Flattens presets and drops falsy entries, keeping order. */
export function flattenPlugins(entries: readonly PluginEntry[]): GrpoPlugin[] {
  const out: GrpoPlugin[] = [];
  const visit = (entry: PluginEntry): void => {
    if (!entry) return;
    if (Array.isArray(entry)) {
      for (const e of entry as readonly PluginEntry[]) visit(e);
      return;
    }
    out.push(entry as GrpoPlugin);
  };
  for (const e of entries) visit(e);
  return out;
}

export function tokenName(token: symbol): string {
  return token.description ?? token.toString();
}

/** What is wrong with an object given as a plugin, or undefined when it is well-formed. */
export function pluginShapeProblem(plugin: GrpoPlugin): string | undefined {
  const meta = (plugin as Partial<GrpoPlugin>).meta;
  if (!meta || typeof meta.name !== 'string' || typeof meta.version !== 'string' || typeof meta.core !== 'string')
    return 'is not a GRPO plugin: expected { meta: { name, version, core }, module | register }';
  if (!plugin.module && typeof plugin.register !== 'function') return `'${meta.name}' contributes nothing: it has neither a 'module' nor a 'register' function`;
  return undefined;
}

function checkShape(plugin: GrpoPlugin, index: number): void {
  const problem = pluginShapeProblem(plugin);
  if (problem) throw new PluginError(`Plugin #${index + 1} ${problem}.`);
}

function checkCoreRange(plugin: GrpoPlugin): void {
  const { name, core } = plugin.meta;
  if (!semver.validRange(core)) {
    throw new PluginError(`Plugin '${name}' declares an invalid core version range '${core}'.`);
  }
  if (!semver.satisfies(CORE_VERSION, core, { includePrerelease: true })) {
    throw new PluginError(
      `Plugin '${name}' needs @grpo/core ${core}, but this is @grpo/core ${CORE_VERSION}. ` +
        `Install a version of '${name}' built for @grpo/core ${CORE_VERSION}.`,
    );
  }
}

/**
 * Builds the DI container of a resolved config: the config first, then its plugins in order
 * (defaults first), so later plugins can rebind what earlier ones bound. Requirements are
 * checked once everything is loaded. Registering binds and computes nothing, so assembling is
 * cheap (the CLI does it to find plugin commands).
 */
export async function assembleContainer(config: ResolvedConfig): Promise<Container> {
  const container = new Container();
  container.bind(GrpoConfig).toConstantValue(config);
  const given = flattenPlugins(config.plugins);
  given.forEach(checkShape);
  given.forEach(checkCoreRange);
  const { plugins, issues } = validatePluginOptions(given);
  if (issues.length) throw new ConfigError(config.source, issues);
  for (const plugin of plugins) {
    try {
      if (plugin.module) await container.load(plugin.module);
      if (plugin.register) {
        const register = plugin.register.bind(plugin);
        await container.load(new ContainerModule(async (load) => void (await register({ ...load, config, options: plugin.options?.value }))));
      }
    } catch (error) {
      if (error instanceof GrpoError) throw error;
      throw new PluginError(`Plugin '${plugin.meta.name}' failed to load: ${(error as Error).message}`, { cause: error });
    }
  }
  for (const plugin of plugins) {
    const missing = (plugin.meta.requires ?? []).filter((token) => !container.isBound(token));
    if (missing.length > 0) {
      throw new PluginError(
        `Plugin '${plugin.meta.name}' requires ${missing.map(tokenName).join(', ')}, but no loaded plugin provides ` +
          `${missing.length === 1 ? 'it' : 'them'}. Add a plugin that binds ${missing.length === 1 ? 'it' : 'them'} to the config's plugins.`,
      );
    }
  }
  return container;
}

/**
 * Picks the binding of a many-of-a-kind token whose `name` matches the config, with an error
 * that lists what is available.
 */
export function selectNamed<T extends { readonly name: string }>(resolver: { getAll<U>(token: symbol): U[] }, token: symbol, name: string, what: string): T {
  const all = resolver.getAll<T>(token);
  // Later bindings win, so a user plugin can replace a default of the same name.
  const found = [...all].reverse().find((x) => x.name === name);
  if (!found) {
    const names = [...new Set(all.map((x) => x.name))];
    throw new PluginError(
      `No ${what} named '${name}' is registered. ` + (names.length ? `Available: ${names.join(', ')}.` : `No plugin provides any ${what}.`),
    );
  }
  return found;
}
