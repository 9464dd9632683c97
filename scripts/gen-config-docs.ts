/**
 * Generates docs/config.md, the config reference: core's zod schema merged with the sections the
 * CLI's default plugins own (the same merge `loadConfig` does), then the options of every
 * first-party plugin. `npm run docs:config`; test/docs/docs.test.ts checks the committed file is
 * up to date.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { configSchemaFor, type GrpoPlugin, type SectionOwners } from '@grpo/core';
import { defaultPlugins } from '@grpo/cli';
import mathReward from '@grpo/plugin-math-reward';
import mathTask from '@grpo/plugin-math-task';
import ppo from '@grpo/plugin-ppo';
import rewardModel from '@grpo/plugin-reward-model';
import tokenizers from '@grpo/plugin-tokenizers';
import workers from '@grpo/plugin-workers';

/** The subset of JSON Schema that zod emits for this config. */
interface JsonSchema {
  type?: string;
  description?: string;
  default?: unknown;
  enum?: readonly unknown[];
  const?: unknown;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  items?: JsonSchema;
  $ref?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  minItems?: number;
}

export const CONFIG_DOC_PATH = 'docs/config.md';

/** What each section is for, shown above its table. */
const SECTION_INTROS: Record<string, string> = {
  '': 'Top-level keys.',
  policy: 'The policy to train: a checkpoint or a Hugging Face model directory to start from, or an architecture to start from scratch.',
  'policy.model': 'Architecture of a fresh Llama-style transformer, used when neither `policy.checkpoint` nor `policy.huggingface` is set.',
  data: 'Where prompts come from when no plugin binds a `PromptDataset` (the math task does), and how rows become prompts.',
  generation: 'Sampling of the rollouts (π_old).',
  train: 'The training loop: batch sizes, μ, the optimizer, the schedule, checkpoints, evaluation and sample logging.',
  algorithm: 'The algorithm: see [algorithms.md](algorithms.md) for what each choice computes.',
  'algorithm.advantage': 'The advantage estimator and how group statistics are taken.',
  'algorithm.objective': 'The policy objective (clipped surrogate by default).',
  'algorithm.kl': 'The KL penalty to the frozen reference policy π_ref.',
  'algorithm.dynamicSampling': 'DAPO dynamic sampling (arXiv 2503.14476).',
  'algorithm.overlong': 'DAPO overlong reward shaping (arXiv 2503.14476).',
  eval: 'Held-out evaluation (`grpo eval`, before and after `grpo train`, and `train.evalEvery`).',
  rewards: 'How the reward functions of the plugins are combined and guarded.',
};

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const code = (text: string): string => `\`${text}\``;

function isObjectSection(s: JsonSchema): boolean {
  return s.type === 'object' && s.properties !== undefined;
}

function typeOf(s: JsonSchema): string {
  if (s.$ref) return 'plugin entry';
  if (s.enum) return s.enum.map((v) => JSON.stringify(v).replace(/"/g, "'")).join(' | ');
  if (s.type === 'array') return s.items ? `${typeOf(s.items)}[]` : 'array';
  if (s.type === 'object' && s.additionalProperties && typeof s.additionalProperties === 'object') return `Record<string, ${typeOf(s.additionalProperties)}>`;
  return s.type ?? 'any';
}

function constraintsOf(s: JsonSchema): string {
  const out: string[] = [];
  if (s.minimum !== undefined) out.push(`≥ ${s.minimum}`);
  if (s.exclusiveMinimum !== undefined) out.push(`> ${s.exclusiveMinimum}`);
  if (s.maximum !== undefined && s.maximum !== MAX_SAFE) out.push(`≤ ${s.maximum}`);
  if (s.exclusiveMaximum !== undefined) out.push(`< ${s.exclusiveMaximum}`);
  if (s.minLength !== undefined && s.minLength > 0) out.push('non-empty');
  if (s.type === 'array' && s.items?.minLength) out.push('non-empty strings');
  return out.join(', ');
}

function defaultOf(s: JsonSchema): string {
  if (s.default === undefined) return '';
  return code(JSON.stringify(s.default));
}

/** One `## section` per object in the schema, each with a table of its leaf keys and, for a plugin's section, its owner. */
function renderSection(sectionPath: string, schema: JsonSchema, out: string[], owners: SectionOwners = new Map(), heading = '##'): void {
  const props = Object.entries(schema.properties ?? {});
  const leaves = props.filter(([, s]) => !isObjectSection(s));
  const nested = props.filter(([, s]) => isObjectSection(s));
  out.push(`${heading} ${sectionPath === '' ? 'Top level' : code(sectionPath)}`, '');
  const intro = SECTION_INTROS[sectionPath] ?? schema.description;
  const owner = owners.get(sectionPath);
  if (intro || owner) out.push([intro, owner && `Owned by \`${owner}\`.`].filter(Boolean).join(' '), '');
  if (leaves.length > 0) {
    out.push('| path | type | default | constraints | description |', '|---|---|---|---|---|');
    for (const [key, s] of leaves) {
      const full = sectionPath ? `${sectionPath}.${key}` : key;
      out.push(`| ${code(full)} | ${cell(code(typeOf(s)))} | ${cell(defaultOf(s))} | ${cell(constraintsOf(s))} | ${cell(s.description ?? '')} |`);
    }
    out.push('');
  }
  if (nested.length > 0) {
    out.push(`Sections: ${nested.map(([key]) => code(sectionPath ? `${sectionPath}.${key}` : key)).join(', ')}.`, '');
  }
  for (const [key, s] of nested) renderSection(sectionPath ? `${sectionPath}.${key}` : key, s, out, owners, heading);
}

/** First-party plugins whose factory takes options, with how they are imported. */
function optionPlugins(): { factory: string; plugin: GrpoPlugin }[] {
  const fromDefaults = defaultPlugins()
    .flat()
    .filter((p): p is GrpoPlugin => Boolean(p && typeof p === 'object' && 'meta' in p));
  const others: GrpoPlugin[] = [ppo(), rewardModel(), mathTask(), mathReward(), tokenizers()];
  return [...fromDefaults, ...others].filter((p) => p.options?.schema).map((plugin) => ({ factory: plugin.meta.name, plugin }));
}

const jsonSchemaOf = (schema: z.ZodType): JsonSchema => z.toJSONSchema(schema, { unrepresentable: 'any', io: 'input' }) as JsonSchema;

/** The whole reference page as Markdown. */
export function renderConfigDocs(): string {
  const { schema: merged, owners } = configSchemaFor(defaultPlugins() as GrpoPlugin[]);
  const schema = jsonSchemaOf(merged);
  const out: string[] = [
    '<!-- Generated by `npm run docs:config` from the schemas of @grpo/core and the plugins; do not edit by hand. -->',
    '',
    '# Config reference',
    '',
    "Every key of a GRPO.ts config, generated from the zod schema that validates it: core's own",
    'sections (`packages/core/src/config/schema.ts`) merged with the sections the default plugins own',
    '(`algorithm` by `@grpo/plugin-grpo`, `policy.model` by `@grpo/plugin-transformer`), exactly as',
    '`grpo` merges them. Every key is optional; a section left out gets its defaults. Unknown keys are',
    'errors, and `grpo config validate` reports every problem at once with its path, plugin options',
    'included. `grpo config print` shows the resolved config with the defaults filled in.',
    'Where a config file may live and how plugins are named in it: [getting-started.md](getting-started.md)',
    'and [plugins.md](plugins.md).',
    '',
    'Rules that involve several keys are checked when training starts: `train.miniBatchSize` must',
    'divide `train.promptsPerStep × train.groupSize`, `train.microBatchSize` must divide',
    '`train.miniBatchSize`, and `policy.model.nHeads` must divide `policy.model.dModel`',
    '(see [faq.md](faq.md)).',
    '',
  ];
  renderSection('', schema, out, owners);
  out.push(
    '## Plugin options',
    '',
    'What each first-party plugin factory takes (`ppo({ … })` in a TS config, `["ppo", { … }]` in JSON/YAML).',
    "Mistakes are reported with the config's, under `plugins[<package>]`.",
    '',
  );
  for (const { factory, plugin } of optionPlugins()) renderSection(factory, jsonSchemaOf(plugin.options!.schema!), out, new Map(), '###');
  out.push('## Sections of other plugins', '', 'Config sections that first-party plugins outside the defaults own: valid when the plugin is in `plugins`.', '');
  for (const plugin of [workers()] as GrpoPlugin[])
    for (const [key, section] of Object.entries(plugin.config ?? {})) renderSection(key, jsonSchemaOf(section), out, new Map([[key, plugin.meta.name]]), '###');
  return `${out.join('\n').trimEnd()}\n`;
}

const isMain = process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const file = path.join(root, CONFIG_DOC_PATH);
  await writeFile(file, renderConfigDocs());
  console.log(`wrote ${path.relative(process.cwd(), file) || file}`);
}
