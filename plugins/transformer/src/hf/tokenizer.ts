/**
 * The tokenizer of a Hugging Face model directory and how its prompts start: `tokenizer.json`
 * (with `tokenizer_config.json`) through `@grpo/plugin-tokenizers`' `loadTokenizer`; the ids a
 * prompt starts with from `add_bos_token`, else the tokenizer's post-processor (Llama 3's
 * `<|begin_of_text|>`; none for Qwen and SmolLM2). A directory without a tokenizer gets a
 * `NoTextTokenizer`: token ids only.
 */
import { join, readFile } from '#node-io';
import { CheckpointError, DataError, type Tokenizer } from '@grpo/core';
import { HfTokenizer, loadTokenizer, TOKENIZER_FILE } from '@grpo/plugin-tokenizers';

/**
 * The tokenizer of a model whose tokenizer files are not available: it knows the special ids
 * (from config.json) but cannot encode or decode text, so only prompts given as token ids work
 * (`TransformerPolicy.generateFromIds`, `grpo sample --ids`). It saves no files.
 */
export class NoTextTokenizer implements Tokenizer {
  readonly kind = 'none';

  constructor(
    /** The model directory, named in errors. */
    readonly source: string,
    readonly vocabSize: number,
    readonly bosId: number,
    readonly eosId: number,
    readonly padId: number,
  ) {}

  private fail(): never {
    throw new DataError(`${this.source} has no ${TOKENIZER_FILE}: this model takes token ids only (e.g. grpo sample --ids 1,2,3)`);
  }

  encode(): number[] {
    return this.fail();
  }

  decode(): string {
    return this.fail();
  }

  async save(): Promise<void> {}
}

async function readJsonIfPresent(file: string): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CheckpointError(`${file}: cannot read: ${(error as Error).message}`, { cause: error });
  }
  try {
    const json = JSON.parse(text) as unknown;
    if (typeof json === 'object' && json !== null && !Array.isArray(json)) return json as Record<string, unknown>;
  } catch (error) {
    throw new CheckpointError(`${file}: malformed JSON: ${(error as Error).message}`, { cause: error });
  }
  throw new CheckpointError(`${file}: expected a JSON object`);
}

type Processor = Record<string, unknown> & { type?: unknown };

/**
 * The ids the tokenizer's post-processor puts before the text (`TemplateProcessing`'s special
 * tokens before `$A`, `BertProcessing`/`RobertaProcessing`'s CLS), also inside a `Sequence`.
 */
function postProcessorPrefix(processor: unknown, file: string): number[] {
  if (typeof processor !== 'object' || processor === null) return [];
  const p = processor as Processor;
  if (p.type === 'Sequence' && Array.isArray(p.processors)) return (p.processors as unknown[]).flatMap((q) => postProcessorPrefix(q, file));
  if (p.type === 'BertProcessing' || p.type === 'RobertaProcessing') {
    const cls = p.cls as [string, number] | undefined;
    return Array.isArray(cls) && Number.isInteger(cls[1]) ? [cls[1]] : [];
  }
  if (p.type !== 'TemplateProcessing' || !Array.isArray(p.single)) return [];
  const special = (p.special_tokens ?? {}) as Record<string, { ids?: unknown }>;
  const prefix: number[] = [];
  for (const piece of p.single as Record<string, { id?: string }>[]) {
    if ('Sequence' in piece) break;
    const id = piece.SpecialToken?.id;
    const ids = id === undefined ? undefined : special[id]?.ids;
    if (!Array.isArray(ids) || !ids.every((i) => Number.isInteger(i) && (i as number) >= 0))
      throw new CheckpointError(`${file}: post_processor names the special token ${JSON.stringify(id)} without its ids`);
    prefix.push(...(ids as number[]));
  }
  return prefix;
}

export interface HfTokenizerFiles {
  tokenizer: Tokenizer;
  /** Ids every prompt starts with (`[]`: none). */
  promptPrefix: number[];
}

/**
 * The directory's tokenizer, or undefined when it has no `tokenizer.json`. `add_bos_token` in
 * `tokenizer_config.json` decides whether prompts start with BOS; without it, the post-processor
 * of `tokenizer.json` (what `transformers`' `tokenizer(text)` adds) does.
 */
export async function readHfTokenizer(dir: string): Promise<HfTokenizerFiles | undefined> {
  const file = join(dir, TOKENIZER_FILE);
  const json = await readJsonIfPresent(file);
  if (!json) return undefined;
  const tokenizer = await loadTokenizer(dir);
  const addBos = tokenizer instanceof HfTokenizer ? tokenizer.addBosToken : undefined;
  const promptPrefix = addBos !== undefined ? (addBos ? [tokenizer.bosId] : []) : postProcessorPrefix(json.post_processor, file);
  return { tokenizer, promptPrefix };
}
