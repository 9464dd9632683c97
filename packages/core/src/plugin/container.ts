import 'reflect-metadata';
import { Container, ContainerModule, type ContainerModuleLoadOptions } from 'inversify';
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

/** A binding a plugin's `register` made, as the binding API shows it (what a value computes is not run). */
interface BindingRecord {
  readonly token: unknown;
  readonly plugin: string;
  /** `toConstantValue`'s value; absent for bindings that compute theirs (dynamic values, classes, factories). */
  readonly constant?: { readonly value: unknown };
}

/** inversify's `bind(token).to…` methods. */
const BIND_TO = new Set(['to', 'toSelf', 'toConstantValue', 'toDynamicValue', 'toFactory', 'toProvider', 'toResolvedValue', 'toService']);

const recorded = new WeakMap<Container, { records: BindingRecord[]; complete: boolean }>();

/** `register`'s binding API, recording what is bound to which token (rebinding and unbinding included). */
function recording(load: ContainerModuleLoadOptions, plugin: string, records: BindingRecord[]): ContainerModuleLoadOptions {
  const forget = (token: unknown) => {
    for (let i = records.length - 1; i >= 0; i--) if (records[i]!.token === token) records.splice(i, 1);
  };
  const watch = <S extends object>(syntax: S, token: unknown): S =>
    new Proxy(syntax, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== 'function') return value;
        if (typeof prop === 'string' && BIND_TO.has(prop))
          return (...args: unknown[]) => {
            records.push(prop === 'toConstantValue' ? { token, plugin, constant: { value: args[0] } } : { token, plugin });
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        return (value as (...a: unknown[]) => unknown).bind(target);
      },
    });
  const { bind, rebind, rebindSync, unbind, unbindSync } = load;
  return {
    ...load,
    bind: ((token: never) => watch(bind(token), token)) as typeof bind,
    rebind: (async (token: never) => {
      forget(token);
      return watch(await rebind(token), token);
    }) as typeof rebind,
    rebindSync: ((token: never) => {
      forget(token);
      return watch(rebindSync(token), token);
    }) as typeof rebindSync,
    unbind: ((identifier: never) => {
      forget(identifier);
      return unbind(identifier);
    }) as typeof unbind,
    unbindSync: ((identifier: never) => {
      forget(identifier);
      unbindSync(identifier);
    }) as typeof unbindSync,
  };
}

/**
 * What the plugins bound to `token` in a container of `assembleContainer`, without resolving
 * anything: the constant values, how many bindings compute their value when resolved (which may
 * load weights), and whether the list is complete (plugins given as a `module` are not seen).
 * For checks that must stay cheap, such as `grpo config validate`.
 */
export function boundValues<T>(container: Container, token: symbol): { values: T[]; computed: number; complete: boolean } {
  const state = recorded.get(container);
  if (!state) return { values: [], computed: 0, complete: false };
  const mine = state.records.filter((r) => r.token === token);
  return {
    values: mine.filter((r) => r.constant).map((r) => r.constant!.value as T),
    computed: mine.filter((r) => !r.constant).length,
    complete: state.complete,
  };
}

/**
 * Builds the DI container of a resolved config: the config first, then its plugins in order
 * (defaults first), so later plugins can rebind what earlier ones bound. Requirements are
 * checked once everything is loaded. Registering binds and computes nothing, so assembling is
 * cheap (the CLI does it to find plugin commands).
 */
export async function assembleContainer(config: ResolvedConfig): Promise<Container> {
  const container = new Container();
  const records: BindingRecord[] = [];
  recorded.set(container, { records, complete: true });
  container.bind(GrpoConfig).toConstantValue(config);
  const given = flattenPlugins(config.plugins);
  given.forEach(checkShape);
  given.forEach(checkCoreRange);
  const { plugins, issues } = validatePluginOptions(given);
  if (issues.length) throw new ConfigError(config.source, issues);
  for (const plugin of plugins) {
    try {
      if (plugin.module) {
        await container.load(plugin.module);
        recorded.get(container)!.complete = false;
      }
      if (plugin.register) {
        const register = plugin.register.bind(plugin);
        await container.load(
          new ContainerModule(async (load) => void (await register({ ...recording(load, plugin.meta.name, records), config, options: plugin.options?.value }))),
        );
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
