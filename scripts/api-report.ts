/**
 * The public API of every package entry point, as API Extractor reports (`api/<entry>.api.md`),
 * from the built `.d.ts` files. `npm run api:check` (part of `npm test`, after the build) fails
 * when an entry point's public surface differs from its committed report, so every change of the
 * public API shows in review; `npm run api:update` rewrites the reports.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Extractor, ExtractorConfig, ExtractorLogLevel, type IConfigFile } from '@microsoft/api-extractor';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const REPORTS = path.join(ROOT, 'api');

interface Entry {
  /** `@grpo/core/testing`. */
  specifier: string;
  /** `core-testing`: the report's file name without `.api.md`. */
  report: string;
  packageDir: string;
  /** The built declaration file of the entry point. */
  dts: string;
}

/** Every `exports` entry with types of every workspace package. */
async function entries(): Promise<Entry[]> {
  const out: Entry[] = [];
  for (const group of ['packages', 'plugins']) {
    for (const name of (await readdir(path.join(ROOT, group))).sort()) {
      const packageDir = path.join(ROOT, group, name);
      const pkg = JSON.parse(await readFile(path.join(packageDir, 'package.json'), 'utf8')) as {
        name: string;
        exports?: Record<string, unknown>;
      };
      for (const [subpath, target] of Object.entries(pkg.exports ?? {})) {
        const types = typeof target === 'object' && target !== null ? (target as { types?: string }).types : undefined;
        if (!types) continue;
        const specifier = subpath === '.' ? pkg.name : `${pkg.name}/${subpath.slice(2)}`;
        out.push({
          specifier,
          report: specifier.replace(/^@grpo\//, '').replace(/\//g, '-'),
          packageDir,
          dts: path.join(packageDir, types),
        });
      }
    }
  }
  return out;
}

function configFor(entry: Entry, temp: string): IConfigFile {
  return {
    projectFolder: entry.packageDir,
    mainEntryPointFilePath: entry.dts,
    compiler: {
      overrideTsconfig: {
        compilerOptions: {
          target: 'ES2022',
          lib: ['ES2023'],
          module: 'ESNext',
          moduleResolution: 'Bundler',
          types: ['node'],
          strict: true,
          skipLibCheck: true,
        },
        include: [entry.dts],
      },
    },
    apiReport: { enabled: true, reportFolder: REPORTS, reportTempFolder: temp, reportFileName: `${entry.report}.api.md` },
    docModel: { enabled: false },
    dtsRollup: { enabled: false },
    tsdocMetadata: { enabled: false },
    messages: {
      // The report is the point; release tags and TSDoc style are not used in this project.
      compilerMessageReporting: { default: { logLevel: ExtractorLogLevel.Warning } },
      extractorMessageReporting: {
        default: { logLevel: ExtractorLogLevel.Warning },
        'ae-missing-release-tag': { logLevel: ExtractorLogLevel.None },
        'ae-forgotten-export': { logLevel: ExtractorLogLevel.None },
        'ae-unresolved-link': { logLevel: ExtractorLogLevel.None },
        'ae-undocumented': { logLevel: ExtractorLogLevel.None },
      },
      tsdocMessageReporting: { default: { logLevel: ExtractorLogLevel.None } },
    },
  };
}

const update = process.argv.includes('--update');
const temp = await mkdtemp(path.join(tmpdir(), 'grpo-api-'));
const changed: string[] = [];
try {
  for (const entry of await entries()) {
    const config = ExtractorConfig.prepare({
      configObject: configFor(entry, temp),
      configObjectFullPath: undefined,
      packageJsonFullPath: path.join(entry.packageDir, 'package.json'),
    });
    // In check mode the report's diff is printed, so CI logs show what changed.
    const result = Extractor.invoke(config, { localBuild: update, printApiReportDiff: !update });
    if (result.apiReportChanged) changed.push(entry.specifier);
    if (result.errorCount > 0) throw new Error(`API Extractor failed on ${entry.specifier} (${entry.dts}); is the package built (npm run build)?`);
  }
} finally {
  await rm(temp, { recursive: true, force: true });
}
if (changed.length && !update) {
  console.error(
    `The public API changed for ${changed.join(', ')}: review the difference (git diff api/ after \`npm run api:update\`) and commit the updated reports.`,
  );
  process.exitCode = 1;
} else console.log(update ? `API reports written to api/ (${changed.length} changed)` : 'API reports match the public API.');
