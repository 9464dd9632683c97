/**
 * `tokenizer_config.json` (validated) and its `chat_template`, rendered with `@huggingface/jinja`
 * the way transformers' `apply_chat_template` renders it: the template sees `messages`,
 * `add_generation_prompt`, the special tokens the config names (`bos_token`, `eos_token`, …,
 * `additional_special_tokens`) and any further variables; `raise_exception` and `strftime_now`
 * are built in.
 */
import { DataError, type ChatMessage, type ChatTemplate, type ChatTemplateOptions } from '@grpo/core';
import { Template } from '@huggingface/jinja';
import { z } from 'zod';

/** transformers' newer layout keeps the template in its own file beside `tokenizer_config.json`; it wins over the config's. */
export const CHAT_TEMPLATE_FILE = 'chat_template.jinja';

const tokenOrNull = z.union([z.string(), z.looseObject({ content: z.string() }), z.null()], {
  error: 'expected a token string, { "content": string } or null',
});
const token = z.union([z.string(), z.looseObject({ content: z.string() })], { error: 'expected a token string or { "content": string }' });
const flag = z.boolean({ error: 'expected true or false' }).nullable();

/** The keys of `tokenizer_config.json` this package reads; others are kept but ignored. */
const tokenizerConfigSchema = z.looseObject({
  bos_token: tokenOrNull.optional(),
  eos_token: tokenOrNull.optional(),
  pad_token: tokenOrNull.optional(),
  unk_token: tokenOrNull.optional(),
  sep_token: tokenOrNull.optional(),
  cls_token: tokenOrNull.optional(),
  mask_token: tokenOrNull.optional(),
  additional_special_tokens: z.array(token, { error: 'expected a list of token strings' }).optional(),
  add_bos_token: flag.optional(),
  add_eos_token: flag.optional(),
  chat_template: z
    .union(
      [
        z.string(),
        z
          .array(z.looseObject({ name: z.string().min(1), template: z.string() }))
          .min(1)
          .refine((list) => new Set(list.map((t) => t.name)).size === list.length, 'two templates have the same name'),
      ],
      { error: 'expected a template string or a list of { "name": string, "template": string }' },
    )
    .nullable()
    .optional(),
});

export type TokenizerConfig = z.output<typeof tokenizerConfigSchema>;

/** `value` checked as the contents of `tokenizer_config.json`: a `DataError` naming `file` and every bad key. */
export function parseTokenizerConfig(value: unknown, file: string): TokenizerConfig {
  const parsed = tokenizerConfigSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new DataError(`${file}: expected a JSON object`);
  const problems = parsed.error.issues.map((issue) => `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`);
  throw new DataError(`${file}: ${problems.join('; ')}`);
}

/** A token given as a string or as an AddedToken object (`{ "content": … }`). */
export function tokenContent(value: TokenizerConfig['bos_token']): string | undefined {
  return typeof value === 'string' ? value : (value?.content ?? undefined);
}

/** The special-token variables transformers passes to a template (its `special_tokens_map`): only the tokens that are set. */
export function specialTokenVariables(config: TokenizerConfig): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name of ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'] as const) {
    const content = tokenContent(config[name]);
    if (content !== undefined) out[name] = content;
  }
  if (config.additional_special_tokens) out.additional_special_tokens = config.additional_special_tokens.map((t) => tokenContent(t) as string);
  return out;
}

/** The template texts by name: a single string is `default`. */
export function chatTemplateTexts(config: TokenizerConfig): Map<string, string> {
  const value = config.chat_template;
  if (typeof value === 'string') return new Map([['default', value]]);
  return new Map((value ?? []).map((t) => [t.name, t.template]));
}

/** A conversation whose assistant turn holds `probe`; what the template writes after it ends the turn. */
const PROBE = 'GRPO_END_OF_TURN_PROBE';

/** A `chat_template` compiled once; see the module doc for what it is rendered with. */
export class JinjaChatTemplate implements ChatTemplate {
  readonly #template: Template;
  /** The first added token written after an assistant's content (see the constructor); `[]` when none is found. */
  readonly endOfTurnIds: readonly number[];

  /**
   * `specials`: the special-token variables; `encode` and `addedIds` (the tokenizer's added tokens)
   * find the end-of-turn token: the first added token the template writes after an assistant
   * message's content (`<|im_end|>`, `<|eot_id|>`, `</s>`). A template that cannot render a
   * user–assistant exchange has none (generation then stops on EOS only).
   */
  constructor(
    /** The file the template comes from, named in errors. */
    readonly source: string,
    /** The template's Jinja source. */
    readonly text: string,
    private readonly specials: Readonly<Record<string, string | string[]>>,
    encode: (text: string) => number[],
    addedIds: ReadonlySet<number>,
  ) {
    try {
      this.#template = new Template(text);
    } catch (error) {
      throw new DataError(`${source}: the chat template does not parse: ${(error as Error).message}`, { cause: error });
    }
    let probe: string | undefined;
    try {
      probe = this.render(
        [
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: PROBE },
        ],
        { addGenerationPrompt: false },
      );
    } catch {
      probe = undefined;
    }
    const at = probe?.lastIndexOf(PROBE) ?? -1;
    const first = at < 0 ? undefined : encode((probe as string).slice(at + PROBE.length)).find((id) => addedIds.has(id));
    this.endOfTurnIds = first === undefined ? [] : [first];
  }

  /** The conversation as text (see `ChatTemplate.render`); a template error is a `DataError` naming `source`. */
  render(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
    try {
      return this.#template.render({
        ...this.specials,
        ...options.variables,
        messages: messages.map((m) => ({ ...m })),
        add_generation_prompt: options.addGenerationPrompt ?? true,
      });
    } catch (error) {
      throw new DataError(`${this.source}: the chat template fails on this conversation: ${(error as Error).message}`, { cause: error });
    }
  }
}
