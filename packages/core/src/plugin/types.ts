import type { ContainerModule, ContainerModuleLoadOptions } from 'inversify';
import type { ResolvedConfig } from '../config/schema.js';

export interface PluginMeta {
  /** Package-style name, e.g. `@grpo/plugin-math-reward`. */
  readonly name: string;
  readonly version: string;
  /** Semver range of `@grpo/core` this plugin works with. */
  readonly core: string;
  /** Tokens some plugin must bind for this one to work, checked after all plugins load. */
  readonly requires?: readonly symbol[];
}

/** What `register` receives: inversify's binding API plus the resolved config. */
export interface PluginContext extends ContainerModuleLoadOptions {
  readonly config: ResolvedConfig;
}

/**
 * A plugin is a plain object: metadata plus either an inversify `ContainerModule` or a
 * `register(ctx)` function that binds. Factories (`mathReward({ weight: 1 })`) return one.
 */
export interface GrpoPlugin {
  readonly meta: PluginMeta;
  readonly module?: ContainerModule;
  register?(context: PluginContext): void | Promise<unknown>;
}

/** Plugin lists accept falsy entries (`useGpu && gpu()`) and nested arrays (presets). */
export type PluginEntry = GrpoPlugin | false | null | undefined | readonly PluginEntry[];

/** A plugin factory; the default export of every plugin package. */
export type PluginFactory<Options = void> = (options?: Options) => GrpoPlugin;

/** Identity helper that types a plugin factory. */
export function definePlugin<Options = void>(factory: (options?: Options) => GrpoPlugin): PluginFactory<Options> {
  return factory;
}
