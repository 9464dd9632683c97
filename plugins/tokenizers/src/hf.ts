import { dirname, join, mkdir, readFile, writeFile } from '#node-io';
import { DataError, type ChatTemplate, type Tokenizer } from '@grpo/core';
import { Tokenizer as HfTokenizerImpl } from '@huggingface/tokenizers';
import { TOKENIZER_FILE } from './char.js';
import {
  CHAT_TEMPLATE_FILE,
  chatTemplateTexts,
  JinjaChatTemplate,
  parseTokenizerConfig,
  specialTokenVariables,
  tokenContent,
  type TokenizerConfig,
} from './chat-template.js';

/**
 * Hugging Face's companion file; we write `bos_token`, `eos_token`, `pad_token`, `grpo_kind: "hf"`
 * and, when the tokenizer has them, `add_bos_token`, `add_eos_token` and `chat_template` into it.
 */
export const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';

export interface HfTokenizerOptions {
  /** Token strings to use as BOS / EOS / PAD, overriding what the tokenizer files say. */
  bos?: string;
  eos?: string;
  pad?: string;
  /**
   * Contents of `tokenizer_config.json`, if any: its special tokens, `add_bos_token`,
   * `add_eos_token` and `chat_template` are used (validated; a bad value is a `DataError`).
   */
  config?: Record<string, unknown>;
  /** The file `config` came from, named in errors (default `tokenizer_config.json`). */
  configFile?: string;
  /** The file `config.chat_template` came from when it is not `configFile` (`chat_template.jinja`). */
  chatTemplateFile?: string;
  /** Which of `chat_template`'s named templates is the chat template (default `default`). */
  chatTemplate?: string;
}

const BOS_CANDIDATES = ['<s>', '<|begin_of_text|>', '<|startoftext|>', '<bos>', '<|im_start|>', '[CLS]', '<|endoftext|>'];
const EOS_CANDIDATES = ['</s>', '<|end_of_text|>', '<|endoftext|>', '<eos>', '<|eot_id|>', '<|im_end|>', '[SEP]'];
const PAD_CANDIDATES = ['<pad>', '<|pad|>', '[PAD]', '<|finetune_right_pad_id|>'];

interface AddedTokenJSON {
  id: number;
  content: string;
  special?: boolean;
}

/**
 * A Hugging Face `tokenizer.json` (BPE, WordPiece, Unigram…) run by `@huggingface/tokenizers`.
 *
 * BOS/EOS/PAD come from the options, else `tokenizer_config.json`'s `bos_token` / `eos_token` /
 * `pad_token`, else the tokenizer's special added tokens with a well-known name (`<s>`, `</s>`,
 * `<|endoftext|>`, `<pad>`…). A missing BOS falls back to EOS (GPT-2 style) and a missing PAD to
 * EOS. Unlike the character tokenizer, special-token strings in the text ARE recognised
 * (`"hi</s>"` encodes to the ids of `hi` and of `</s>`), as in Hugging Face. `encode` never adds
 * the tokenizer's own post-processor tokens; use `addBos` / `addEos`.
 *
 * With a `chat_template` in `tokenizer_config.json` (or `chat_template.jinja` beside it) the
 * tokenizer has a `chatTemplate` (see `JinjaChatTemplate`).
 */
export class HfTokenizer implements Tokenizer {
  readonly kind = 'hf';
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  readonly bosToken: string;
  readonly eosToken: string;
  readonly padToken: string;
  /** `tokenizer_config.json`'s `add_bos_token` / `add_eos_token` (what transformers' `tokenizer(text)` adds), when set. */
  readonly addBosToken: boolean | undefined;
  /** See `addBosToken`; prompts never end with EOS, whatever it says. */
  readonly addEosToken: boolean | undefined;
  /** The chat template (`chat_template`, or its template named by `options.chatTemplate`), when there is one. */
  readonly chatTemplate?: ChatTemplate;
  /** The names of `chat_template`'s templates (`['default']` for a single template; `[]` for none). */
  readonly chatTemplateNames: readonly string[];
  readonly #impl: HfTokenizerImpl;
  readonly #config: TokenizerConfig;
  readonly #json: string;
  readonly #special: ReadonlySet<number>;

  private constructor(jsonText: string, json: Record<string, unknown>, options: HfTokenizerOptions, source: string) {
    const fail = (problem: string): never => {
      throw new DataError(`${source}: ${problem}`);
    };
    const model = json.model as { type?: unknown } | undefined;
    if (typeof model !== 'object' || model === null || typeof model.type !== 'string') {
      fail('not a Hugging Face tokenizer.json (no "model.type").');
    }
    const configFile = options.configFile ?? TOKENIZER_CONFIG_FILE;
    const config = parseTokenizerConfig(options.config ?? {}, configFile);
    this.#config = config;
    try {
      this.#impl = new HfTokenizerImpl(json, options.config ?? {});
    } catch (error) {
      throw new DataError(`${source}: @huggingface/tokenizers cannot load it: ${(error as Error).message}`, { cause: error });
    }
    this.#json = jsonText;
    const added = Array.isArray(json.added_tokens) ? (json.added_tokens as AddedTokenJSON[]) : [];
    const specialAdded = added.filter((t) => t.special).map((t) => t.content);
    const vocab = this.#impl.get_vocab(true);
    let maxId = -1;
    for (const id of vocab.values()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;

    const pick = (what: 'bos' | 'eos' | 'pad', explicit: string | undefined, candidates: readonly string[]): string | undefined => {
      const chosen = explicit ?? tokenContent(config[`${what}_token`]);
      if (chosen !== undefined) {
        if (this.#impl.token_to_id(chosen) === undefined) {
          fail(`the ${what.toUpperCase()} token ${JSON.stringify(chosen)} is not in the vocabulary.`);
        }
        return chosen;
      }
      return candidates.find((c) => specialAdded.includes(c)) ?? candidates.find((c) => vocab.has(c));
    };
    const eos = pick('eos', options.eos, EOS_CANDIDATES);
    if (eos === undefined) {
      fail(
        `cannot tell which token is EOS (special tokens: ${specialAdded.map((t) => JSON.stringify(t)).join(', ') || 'none'}). ` +
          `Pass it explicitly, e.g. tokenizers({ file, eos: '</s>' }).`,
      );
    }
    this.eosToken = eos as string;
    this.bosToken = pick('bos', options.bos, BOS_CANDIDATES) ?? this.eosToken;
    this.padToken = pick('pad', options.pad, PAD_CANDIDATES) ?? this.eosToken;
    this.eosId = this.#impl.token_to_id(this.eosToken) as number;
    this.bosId = this.#impl.token_to_id(this.bosToken) as number;
    this.padId = this.#impl.token_to_id(this.padToken) as number;
    const special = new Set<number>([this.bosId, this.eosId, this.padId]);
    for (const t of added) if (t.special) special.add(t.id);
    this.#special = special;
    this.addBosToken = config.add_bos_token ?? undefined;
    this.addEosToken = config.add_eos_token ?? undefined;

    const templates = chatTemplateTexts(config);
    this.chatTemplateNames = [...templates.keys()];
    const name = options.chatTemplate ?? 'default';
    const text = templates.get(name);
    if (text === undefined && options.chatTemplate !== undefined)
      fail(`${configFile} has no chat template named ${JSON.stringify(name)} (it has: ${this.chatTemplateNames.join(', ') || 'none'}).`);
    if (text !== undefined) {
      // Explicit BOS/EOS/PAD options are what the template sees too.
      const specials = { ...specialTokenVariables(config) };
      for (const what of ['bos', 'eos', 'pad'] as const) if (options[what] !== undefined) specials[`${what}_token`] = options[what];
      const source = options.chatTemplateFile ?? configFile;
      const addedIds = new Set(added.map((t) => t.id));
      this.chatTemplate = new JinjaChatTemplate(source, text, specials, (t) => this.encode(t), addedIds);
    }
  }

  /** From the parsed (or textual) contents of a `tokenizer.json`. */
  static fromJSON(json: Record<string, unknown> | string, options: HfTokenizerOptions = {}, source = TOKENIZER_FILE): HfTokenizer {
    let text: string;
    let parsed: unknown;
    if (typeof json === 'string') {
      text = json;
      try {
        parsed = JSON.parse(json);
      } catch (error) {
        throw new DataError(`${source}: malformed JSON: ${(error as Error).message}`, { cause: error });
      }
    } else {
      text = JSON.stringify(json);
      parsed = json;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new DataError(`${source}: not a Hugging Face tokenizer.json (expected a JSON object).`);
    }
    return new HfTokenizer(text, parsed as Record<string, unknown>, options, source);
  }

  /**
   * From a `tokenizer.json` file; a `tokenizer_config.json` (and `chat_template.jinja`) next to
   * it is read too unless `options.config` is given.
   */
  static async fromFile(file: string, options: HfTokenizerOptions = {}): Promise<HfTokenizer> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new DataError(`${file}: cannot read the tokenizer file: ${(error as Error).message}`, { cause: error });
    }
    const companions = options.config === undefined ? await readTokenizerCompanions(dirname(file)) : {};
    return HfTokenizer.fromJSON(text, { ...companions, ...options }, file);
  }

  encode(text: string, options: { addBos?: boolean; addEos?: boolean } = {}): number[] {
    const ids = this.#impl.encode(text, { add_special_tokens: false }).ids;
    return [...(options.addBos ? [this.bosId] : []), ...ids, ...(options.addEos ? [this.eosId] : [])];
  }

  decode(ids: readonly number[], options: { skipSpecial?: boolean } = {}): string {
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new DataError(`HfTokenizer: token id ${id} is outside the vocabulary [0, ${this.vocabSize}).`);
      }
    }
    const kept = options.skipSpecial ? ids.filter((id) => !this.#special.has(id)) : [...ids];
    // @huggingface/tokenizers refuses an empty list (e.g. a completion that is only EOS).
    if (kept.length === 0) return '';
    return this.#impl.decode(kept, { skip_special_tokens: options.skipSpecial ?? false, clean_up_tokenization_spaces: false });
  }

  /** The string of one token id, if it has one. */
  idToToken(id: number): string | undefined {
    return this.#impl.id_to_token(id);
  }

  /**
   * The files `save` writes: `tokenizer.json` verbatim and a small `tokenizer_config.json` with the
   * chosen BOS/EOS/PAD, the config's other special tokens, `add_bos_token`/`add_eos_token` and the
   * chat template (so a checkpoint keeps it).
   */
  toFiles(): Record<string, string> {
    const c = this.#config;
    const kept = Object.fromEntries(
      (['unk_token', 'sep_token', 'cls_token', 'mask_token', 'additional_special_tokens', 'add_bos_token', 'add_eos_token'] as const)
        .filter((key) => c[key] !== undefined && c[key] !== null)
        .map((key) => [key, c[key]]),
    );
    const template = this.chatTemplate instanceof JinjaChatTemplate ? this.chatTemplate.text : c.chat_template;
    const config = {
      grpo_kind: 'hf',
      bos_token: this.bosToken,
      eos_token: this.eosToken,
      pad_token: this.padToken,
      ...kept,
      ...(template ? { chat_template: template } : {}),
    };
    return { [TOKENIZER_FILE]: this.#json, [TOKENIZER_CONFIG_FILE]: `${JSON.stringify(config, null, 2)}\n` };
  }

  async save(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    for (const [name, text] of Object.entries(this.toFiles())) await writeFile(join(dir, name), text);
  }
}

/**
 * The companion files of the `tokenizer.json` in `dir`, as `HfTokenizerOptions`:
 * `tokenizer_config.json` when present and `chat_template.jinja`, whose template wins over the
 * config's (as in transformers). Malformed JSON is a `DataError` naming the file.
 */
export async function readTokenizerCompanions(dir: string): Promise<Pick<HfTokenizerOptions, 'config' | 'configFile' | 'chatTemplateFile'>> {
  const configFile = join(dir, TOKENIZER_CONFIG_FILE);
  const configText = await readIfPresent(configFile);
  let config: Record<string, unknown> | undefined;
  if (configText !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(configText);
    } catch (error) {
      throw new DataError(`${configFile}: malformed JSON: ${(error as Error).message}`, { cause: error });
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new DataError(`${configFile}: expected a JSON object`);
    config = parsed as Record<string, unknown>;
  }
  const templateFile = join(dir, CHAT_TEMPLATE_FILE);
  const template = await readIfPresent(templateFile);
  if (template === undefined) return config ? { config, configFile } : {};
  return { config: { ...config, chat_template: template }, configFile, chatTemplateFile: templateFile };
}

async function readIfPresent(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new DataError(`${file}: cannot read: ${(error as Error).message}`, { cause: error });
  }
}
