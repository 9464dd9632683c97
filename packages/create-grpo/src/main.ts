import { parseArgs } from 'node:util';
import path from 'node:path';
import { listTemplates, scaffold, ScaffoldError, type ScaffoldResult } from './scaffold.js';

/** What to run after scaffolding, as printed by `create-grpo` and `grpo init`. */
export function nextSteps(result: ScaffoldResult, cwd: string = process.cwd()): string {
  const relative = path.relative(cwd, result.dir) || '.';
  const rel = relative.startsWith('..') ? result.dir : relative;
  const lines = [`Created ${result.name} from template ${result.template} in ${result.dir}`];
  lines.push(
    result.dependencies === 'file'
      ? '@grpo/* packages are linked from this GRPO.ts checkout (file: dependencies).'
      : '@grpo/* packages come from the npm registry (^0.1.0).',
  );
  for (const w of result.warnings) lines.push(`warning: ${w}`);
  lines.push('', 'Next:');
  // The project installs the checkout's built packages: build them first when they are not (or are old).
  const source = /^(?:not built yet|built before their sources last changed) in (.*): /.exec(result.warnings.find((w) => / in .*: /.test(w)) ?? '')?.[1];
  if (source) lines.push(`  (cd ${source.includes(' ') ? JSON.stringify(source) : source} && npm run build)`);
  if (rel !== '.') lines.push(`  cd ${rel.includes(' ') ? JSON.stringify(rel) : rel}`);
  lines.push('  npm install', '  npm run build && npm test', '  npm run train', '');
  return lines.join('\n');
}

const usage = (templates: string) => `Usage: create-grpo <dir> [--template <name>] [--force] [--name <pkg>] [--grpo-source <repo> | --registry]

Templates: ${templates}
`;

/** `create-grpo` / `npm create grpo`: returns the exit code (0 ok, 1 refused, 2 usage). */
export async function createMain(argv: readonly string[], io: { out: (t: string) => void; err: (t: string) => void }): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        template: { type: 'string', short: 't', default: 'math-reasoning' },
        force: { type: 'boolean', short: 'f', default: false },
        name: { type: 'string' },
        'grpo-source': { type: 'string' },
        registry: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    io.err(`create-grpo: ${(error as Error).message}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  const templates = listTemplates()
    .map((t) => t.name)
    .join(', ');
  if (values.help) {
    io.out(usage(templates));
    return 0;
  }
  if (positionals.length !== 1) {
    io.err(usage(templates));
    return 2;
  }
  try {
    const result = await scaffold({
      target: positionals[0]!,
      template: values.template,
      force: values.force,
      name: values.name,
      grpoSource: values.registry ? null : values['grpo-source'],
    });
    io.out(nextSteps(result));
    return 0;
  } catch (error) {
    if (error instanceof ScaffoldError) {
      io.err(`create-grpo: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}
