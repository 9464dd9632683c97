import { z } from 'zod';
import type { ConfigIssue } from '../errors.js';
import { PluginError } from '../errors.js';
import type { GrpoPlugin } from '../plugin/types.js';
import { coreConfigSchema } from './schema.js';

/** Who owns each config section of a merged schema: `@grpo/core` or a plugin's name, by dotted path. */
export type SectionOwners = ReadonlyMap<string, string>;

type AnyObject = z.ZodObject<z.ZodRawShape>;

interface Wrapped {
  object: AnyObject;
  rewrap: (object: AnyObject) => z.ZodType;
}

/** The object schema inside `default`/`prefault`/`optional` wrappers, and how to wrap a changed copy the same way. */
function unwrapObject(schema: z.ZodType): Wrapped | undefined {
  const description = schema.description;
  const def = schema._zod.def as { type: string; innerType?: z.ZodType; defaultValue?: unknown };
  const keep = (s: z.ZodType) => (description ? s.describe(description) : s);
  if (schema instanceof z.ZodObject) return { object: schema as AnyObject, rewrap: (o) => keep(o) };
  if (!def.innerType) return undefined;
  const inner = unwrapObject(def.innerType);
  if (!inner) return undefined;
  if (def.type === 'prefault') return { object: inner.object, rewrap: (o) => keep((inner.rewrap(o) as AnyObject).prefault(def.defaultValue as never)) };
  if (def.type === 'default') return { object: inner.object, rewrap: (o) => keep((inner.rewrap(o) as AnyObject).default(def.defaultValue as never)) };
  if (def.type === 'optional') return { object: inner.object, rewrap: (o) => keep(inner.rewrap(o).optional()) };
  return undefined;
}

/** `root` with `schema` set at `path` (its parent must be an object section). */
function insert(root: AnyObject, path: readonly string[], schema: z.ZodType, where: string): AnyObject {
  const [head, ...rest] = path;
  if (rest.length === 0) return root.extend({ [head!]: schema });
  const child = root.shape[head!];
  const wrapped = child ? unwrapObject(child as z.ZodType) : undefined;
  if (!wrapped) throw new PluginError(`${where}: '${head}' is not a config section a plugin can add keys to`);
  return root.extend({ [head!]: wrapped.rewrap(insert(wrapped.object, rest, schema, where)) });
}

/** Every key of core's own schema, as dotted paths (sections and their fields). */
function coreKeys(schema: AnyObject, prefix = ''): string[] {
  return Object.entries(schema.shape).flatMap(([key, value]) => {
    const path = `${prefix}${key}`;
    const inner = unwrapObject(value as z.ZodType);
    return [path, ...(inner ? coreKeys(inner.object, `${path}.`) : [])];
  });
}

const CORE_KEYS = new Set(coreKeys(coreConfigSchema as unknown as AnyObject));

/**
 * Core's schema with every plugin's sections merged in. Two owners of one path (or a plugin
 * claiming a core key) is a `PluginError` naming both.
 */
export function configSchemaFor(plugins: readonly GrpoPlugin[]): { schema: AnyObject; owners: SectionOwners } {
  let schema = coreConfigSchema as unknown as AnyObject;
  const owners = new Map<string, string>();
  for (const plugin of plugins) {
    for (const [path, section] of Object.entries(plugin.config ?? {})) {
      const where = `Plugin '${plugin.meta.name}' config section '${path}'`;
      if (CORE_KEYS.has(path)) throw new PluginError(`${where}: '${path}' belongs to @grpo/core`);
      const owner = owners.get(path);
      if (owner === plugin.meta.name) continue; // the same plugin loaded twice owns it once
      if (owner) throw new PluginError(`${where}: '${owner}' already owns '${path}'; load only one of them`);
      schema = insert(schema, path.split('.'), section, where);
      owners.set(path, plugin.meta.name);
    }
  }
  return { schema, owners };
}

/**
 * Validates each plugin's options with its schema. Returns the plugins with validated options
 * (`options.value`) and every problem found, under `plugins[<plugin name>]`.
 */
export function validatePluginOptions(plugins: readonly GrpoPlugin[]): { plugins: GrpoPlugin[]; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const out = plugins.map((plugin) => {
    const options = plugin.options;
    if (!options?.schema || 'value' in options) return plugin;
    const parsed = options.schema.safeParse(options.input);
    if (!parsed.success) {
      issues.push(...formatIssues(parsed.error, `plugins[${plugin.meta.name}]`));
      return plugin;
    }
    return { ...plugin, options: { ...options, value: parsed.data } };
  });
  return { plugins: out, issues };
}

/** Turns zod's issues into `path: message` lines, under `prefix`. */
export function formatIssues(error: z.ZodError, prefix = ''): ConfigIssue[] {
  return error.issues.map((issue) => {
    const p = issue.path
      .map((k) => (typeof k === 'number' ? `[${k}]` : String(k)))
      .join('.')
      .replace(/\.\[/g, '[');
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') message = `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}`;
    return { path: prefix && p ? `${prefix}.${p}` : prefix || p, message };
  });
}
