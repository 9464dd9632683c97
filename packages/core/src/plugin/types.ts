/**
 * Plugins and the config they resolve into. The two refer to each other (a plugin's `register`
 * gets the resolved config; the resolved config lists the plugins), so they are declared together.
 */
import type { ContainerModule, ContainerModuleLoadOptions } from 'inversify';
import type { z } from 'zod';
import type { ConfigSections, CoreConfig, PolicySections, SectionsOutput } from '../config/schema.js';

/** The validated config with defaults, plugin sections included; plugins resolved to objects (defaults first). */
export type ResolvedConfig = Omit<CoreConfig, 'plugins' | 'policy'> &
  SectionsOutput<ConfigSections> & {
    policy: CoreConfig['policy'] & SectionsOutput<PolicySections>;
    /** Every plugin of the run, in load order: the defaults, then the config's; options validated. */
    plugins: GrpoPlugin[];
    /** The config file, or `(defaults)` / a label when there is none. */
    source: string;
  };

export const GrpoConfig = Symbol.for('grpo.Config');
/** The run's resolved config, bound in every container. */
export type GrpoConfig = ResolvedConfig;

export interface PluginMeta {
  /** Package-style name, e.g. `@grpo/plugin-math-reward`. */
  readonly name: string;
  readonly version: string;
  /** Semver range of `@grpo/core` this plugin works with. */
  readonly core: string;
  /** Tokens some plugin must bind for this one to work, checked after all plugins load. */
  readonly requires?: readonly symbol[];
}

/** What `register` receives: inversify's binding API, the resolved config and the plugin's validated options. */
export interface PluginContext<Options = unknown> extends ContainerModuleLoadOptions {
  readonly config: ResolvedConfig;
  readonly options: Options;
}

/**
 * A plugin's options: what the factory was given, and the schema core validates them with while
 * the config resolves (so option mistakes join the config's one list of problems). `value` is
 * set once validated.
 */
export interface PluginOptions<Options = unknown> {
  readonly schema?: z.ZodType<Options>;
  readonly input: unknown;
  readonly value?: Options;
}

/**
 * A plugin is a plain object: metadata, optionally its options and the config sections it owns,
 * and either an inversify `ContainerModule` or a `register(ctx)` function that binds.
 * `register` binds and never computes: heavy work (loading weights, creating tensors) belongs in
 * `toDynamicValue` bindings, resolved after the tensor backend is set up.
 */
export interface GrpoPlugin<Options = unknown> {
  readonly meta: PluginMeta;
  readonly options?: PluginOptions<Options>;
  /**
   * Config sections this plugin owns, by dotted path (`algorithm`, `policy.model`): each a zod
   * schema merged into the config's. Augment `ConfigSections` (or `PolicySections`) with the
   * section's type so that `defineConfig` checks it.
   */
  readonly config?: Readonly<Record<string, z.ZodType>>;
  readonly module?: ContainerModule;
  register?(context: PluginContext<Options>): void | Promise<unknown>;
}

/** Plugin lists accept falsy entries (`useGpu && gpu()`) and nested arrays (presets). */
export type PluginEntry = GrpoPlugin | false | null | undefined | readonly PluginEntry[];

type OptionsIn<S> = S extends z.ZodType ? z.input<S> : void;
type OptionsOut<S> = S extends z.ZodType ? z.output<S> : undefined;

/** What `definePlugin` takes: metadata, an options schema, owned config sections and `register`. */
export interface PluginDefinition<S extends z.ZodType | undefined> {
  readonly meta: PluginMeta;
  /** Zod schema of the factory's options; problems are reported with the config's, under `plugins[i]`. */
  readonly options?: S;
  readonly config?: Readonly<Record<string, z.ZodType>>;
  register(context: PluginContext<OptionsOut<S>>): void | Promise<unknown>;
}

/** A plugin factory; the default export of every plugin package. */
export type PluginFactory<Options = void, Parsed = unknown> = (options?: Options) => GrpoPlugin<Parsed>;

/**
 * Defines a plugin factory from its metadata, options schema, owned config sections and
 * `register`. The factory's parameter is typed by the schema's input.
 *
 * ```ts
 * export default definePlugin({
 *   meta: { name: 'grpo-plugin-length', version: '1.0.0', core: '^0.1.0' },
 *   options: z.strictObject({ weight: z.number().default(1) }).prefault({}),
 *   register: ({ bind, options }) => bind(RewardFunction).toConstantValue(lengthReward(options.weight)),
 * });
 * ```
 */
export function definePlugin<S extends z.ZodType | undefined = undefined>(definition: PluginDefinition<S>): PluginFactory<OptionsIn<S>, OptionsOut<S>> {
  return (input) => ({
    meta: definition.meta,
    ...(definition.options ? { options: { schema: definition.options as z.ZodType<OptionsOut<S>>, input } } : {}),
    ...(definition.config ? { config: definition.config } : {}),
    register: (context) => definition.register(context),
  });
}
