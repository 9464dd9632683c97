/** One turn of a conversation, as chat templates take it (`role`: `system`, `user`, `assistant`, …). */
export interface ChatMessage {
  /** Who speaks: `system`, `user`, `assistant` (templates may know others, e.g. `tool`). */
  readonly role: string;
  /** What is said, as text. */
  readonly content: string;
}

/** How `ChatTemplate.render` renders a conversation. */
export interface ChatTemplateOptions {
  /**
   * End with the opening of an assistant turn, so that the model writes the reply (transformers'
   * `add_generation_prompt`). Default true: prompts are rendered to be completed.
   */
  addGenerationPrompt?: boolean;
  /** Further template variables, e.g. `{ enable_thinking: false }` for Qwen3's template. */
  variables?: Readonly<Record<string, unknown>>;
}

/**
 * Optional capability of a tokenizer: the model's chat template (a Hugging Face
 * `tokenizer_config.json`'s `chat_template`). Core renders dataset rows that give `messages`
 * with it and stops generation on its end-of-turn tokens; it never sees the template language.
 */
export interface ChatTemplate {
  /** Where the template comes from (a file), named in errors. */
  readonly source: string;
  /**
   * The conversation as the text the model was trained on, special tokens written out as text
   * (`<|im_start|>`); the tokenizer's `encode` turns them back into their ids.
   */
  render(messages: readonly ChatMessage[], options?: ChatTemplateOptions): string;
  /** Tokens that end an assistant turn (`<|im_end|>`, `<|eot_id|>`): generation stops on them as on EOS. */
  readonly endOfTurnIds: readonly number[];
}

/** Text ↔ token ids. Special ids are always defined so padding and stopping need no guessing. */
export const Tokenizer = Symbol.for('grpo.Tokenizer');
export interface Tokenizer {
  /** Distinguishes tokenizer kinds in checkpoints (`char`, `hf-bpe`, …). */
  readonly kind: string;
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  /** The model's chat template, when the tokenizer has one (the character tokenizer has none). */
  readonly chatTemplate?: ChatTemplate;
  encode(text: string, options?: { addBos?: boolean; addEos?: boolean }): number[];
  decode(ids: readonly number[], options?: { skipSpecial?: boolean }): string;
  /** Writes the tokenizer's files into a checkpoint directory. */
  save(dir: string): Promise<void>;
}
