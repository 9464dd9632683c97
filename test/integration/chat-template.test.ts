/**
 * Chat datasets end to end through the CLI: a tiny Hugging Face model directory (random weights, a
 * character BPE tokenizer with `<|im_start|>`/`<|im_end|>` and a ChatML `chat_template`) trains
 * one GRPO step on a JSONL dataset whose rows give `messages`; the rollout prompts are the
 * template's rendering. `grpo sample --chat/--messages` renders the same way. A model without a
 * template refuses such a dataset with the file and line, and `--chat` with a clear error.
 */
import { mkdir, mkdtemp, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setupBackend } from '@grpo/plugin-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../packages/cli/src/index.js';
import { charTokenizerJson, randomHfWeights, writeHfModel } from '../../plugins/transformer/test/hf-fixtures.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let dir: string;

async function run(argv: string[]) {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

const CHATML =
  "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** charTokenizerJson's tokenizer (no post-processor) over `chars`, plus the two ChatML special tokens. */
function chatTokenizerJson(chars: readonly string[]): Record<string, unknown> {
  const json = charTokenizerJson(null, chars) as { added_tokens: Record<string, unknown>[]; model: { vocab: Record<string, number> } };
  for (const content of ['<|im_start|>', '<|im_end|>']) {
    const id = Object.keys(json.model.vocab).length;
    json.model.vocab[content] = id;
    json.added_tokens.push({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  }
  return json;
}

async function writeModel(name: string, tokenizerConfig: Record<string, unknown>): Promise<void> {
  const chars = [...'abcdefghijklmnopqrstuvwxyz0123456789 +=?.\n'];
  const tokenizer = chatTokenizerJson(chars);
  const vocab = Object.keys((tokenizer.model as { vocab: object }).vocab).length;
  const config = {
    architectures: ['LlamaForCausalLM'],
    hidden_size: 16,
    intermediate_size: 24,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    vocab_size: vocab,
    max_position_embeddings: 128,
    tie_word_embeddings: true,
    eos_token_id: 2,
  };
  await writeHfModel(path.join(dir, name), config, randomHfWeights(config, 3, 'F32', 0.1), {
    files: {
      'tokenizer.json': JSON.stringify(tokenizer),
      'tokenizer_config.json': JSON.stringify({ eos_token: '</s>', pad_token: '<pad>', ...tokenizerConfig }),
    },
  });
}

const rows = [
  {
    messages: [
      { role: 'system', content: 'add.' },
      { role: 'user', content: '2+3=?' },
    ],
    answer: '5',
  },
  { messages: [{ role: 'user', content: '4+4=?' }], answer: '8' },
  {
    messages: [
      { role: 'system', content: 'add.' },
      { role: 'user', content: '1+6=?' },
    ],
    answer: '7',
  },
  { messages: [{ role: 'user', content: '9+0=?' }], answer: '9' },
];

async function writeConfig(name: string, model: string, data: Record<string, unknown> = { train: '../train.jsonl' }): Promise<string> {
  const project = path.join(dir, name);
  await mkdir(project, { recursive: true });
  await writeFile(
    path.join(project, '.grporc.json'),
    JSON.stringify({
      plugins: ['math-reward'],
      policy: { huggingface: `../${model}` },
      data,
      outputDir: 'run',
      generation: { maxNewTokens: 4 },
      train: { steps: 1, promptsPerStep: 2, groupSize: 2, checkpointEvery: 1, logSamplesEvery: 1 },
    }),
  );
  return project;
}

beforeAll(async () => {
  await setupBackend('wasm');
  // Inside the repo so that the JSON config's plugin names resolve to the workspace packages.
  const base = path.resolve(repoRoot, 'node_modules/.cache/grpo-tests');
  await mkdir(base, { recursive: true });
  dir = await mkdtemp(path.join(base, 'chat-'));
  await writeModel('chat-model', { chat_template: CHATML });
  await writeModel('plain-model', {});
  await writeFile(path.join(dir, 'train.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
});

describe('a dataset of messages with a chat-template model', () => {
  it('trains a step; the rollout prompts are the chat template’s rendering', async () => {
    const project = await writeConfig('chat', 'chat-model');
    const train = await run(['train', '--cwd', project, '--no-eval']);
    expect(train.err).toBe('');
    expect(train.code).toBe(0);
    const metrics = (await readFile(path.join(project, 'run/metrics.jsonl'), 'utf8')).trim().split('\n');
    expect(metrics.length).toBeGreaterThan(0);
    const samples = (await readFile(path.join(project, 'run/samples.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { prompt?: string });
    const rendered = new Set([
      '<|im_start|>system\nadd.<|im_end|>\n<|im_start|>user\n2+3=?<|im_end|>\n<|im_start|>assistant\n',
      '<|im_start|>user\n4+4=?<|im_end|>\n<|im_start|>assistant\n',
      '<|im_start|>system\nadd.<|im_end|>\n<|im_start|>user\n1+6=?<|im_end|>\n<|im_start|>assistant\n',
      '<|im_start|>user\n9+0=?<|im_end|>\n<|im_start|>assistant\n',
    ]);
    expect(samples.length).toBeGreaterThan(0);
    for (const s of samples) expect(rendered.has(s.prompt ?? '')).toBe(true);
  });

  it('data.chat.prompts asks a dataset of prompt strings in the chat format', async () => {
    await writeFile(path.join(dir, 'plain.jsonl'), rows.map((r) => JSON.stringify({ question: r.messages.at(-1)!.content, answer: r.answer })).join('\n'));
    const project = await writeConfig('chat-prompts', 'chat-model', {
      train: '../plain.jsonl',
      promptField: 'question',
      chat: { prompts: true, system: 'add.' },
    });
    const train = await run(['train', '--cwd', project, '--no-eval']);
    expect(train.err).toBe('');
    expect(train.code).toBe(0);
    const samples = (await readFile(path.join(project, 'run/samples.jsonl'), 'utf8')).trim().split('\n');
    expect(samples.length).toBeGreaterThan(0);
    for (const line of samples)
      expect((JSON.parse(line) as { prompt: string }).prompt).toMatch(
        /^<\|im_start\|>system\nadd\.<\|im_end\|>\n<\|im_start\|>user\n\d\+\d=\?<\|im_end\|>\n<\|im_start\|>assistant\n$/,
      );
  });

  it('grpo sample --chat and --messages render with the template', async () => {
    const project = await writeConfig('chat', 'chat-model');
    const file = path.join(dir, 'conversation.json');
    await writeFile(
      file,
      JSON.stringify([
        { role: 'system', content: 'add.' },
        { role: 'user', content: '2+3=?' },
      ]),
    );
    const chat = await run(['sample', '--cwd', project, '--system', 'add.', '--chat', '2+3=?', '-t', '0']);
    expect(chat.err).toBe('');
    expect(chat.out).toMatch(
      /^### prompt 1: "<\|im_start\|>system\\nadd\.<\|im_end\|>\\n<\|im_start\|>user\\n2\+3=\?<\|im_end\|>\\n<\|im_start\|>assistant\\n"\n/,
    );
    const fromFile = await run(['sample', '--cwd', project, '--messages', file, '-t', '0']);
    expect(fromFile.out).toBe(chat.out);
    const bad = path.join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify([{ role: 'user' }]));
    const refused = await run(['sample', '--cwd', project, '--messages', bad]);
    expect(refused.code).toBe(1);
    expect(refused.err).toBe(
      `grpo: --messages ${bad}: 'messages' [0].content is missing; expected a non-empty array of { "role": string, "content": string }\n`,
    );
  });
});

describe('the cached "before" evaluation of a policy.huggingface model', () => {
  const cacheBefore = process.env.GRPO_CACHE_DIR;
  afterAll(() => {
    if (cacheBefore === undefined) delete process.env.GRPO_CACHE_DIR;
    else process.env.GRPO_CACHE_DIR = cacheBefore;
  });

  it('is reused for the same directory and recomputed when its chat_template changes (same size, same mtime)', async () => {
    process.env.GRPO_CACHE_DIR = path.join(dir, 'eval-cache');
    await writeModel('cached-model', { chat_template: CHATML });
    const project = await writeConfig('cached', 'cached-model', { train: '../train.jsonl', eval: '../train.jsonl', evalSize: 2 });
    const rc = path.join(project, '.grporc.json');
    await writeFile(rc, JSON.stringify({ ...(JSON.parse(await readFile(rc, 'utf8')) as object), eval: { after: false } }));
    const train = (out: string) => run(['train', '--cwd', project, '-o', out]);
    const first = await train('run-a');
    expect(first.code, first.err).toBe(0);
    expect(first.out).toMatch(/^eval before: (?!.*cached).*$/m);
    const second = await train('run-b');
    expect(second.out).toMatch(/^eval before: .* \(cached: same checkpoint and evaluation; --no-eval-cache recomputes\)$/m);
    // The template's loop variable renamed (same length), written with the file's old mtime: only its content differs.
    const file = path.join(dir, 'cached-model', 'tokenizer_config.json');
    const { mtime, size } = await stat(file);
    const edited = (await readFile(file, 'utf8')).replaceAll('m.', 'x.').replace('for m in', 'for x in');
    expect(edited).not.toContain('m.role');
    expect(Buffer.byteLength(edited)).toBe(size);
    await writeFile(file, edited);
    await utimes(file, mtime, mtime);
    const third = await train('run-c');
    expect(third.code, third.err).toBe(0);
    expect(third.out).toMatch(/^eval before: (?!.*cached).*$/m);
    expect(third.err).toMatch(/^eval before: 2\/2 prompts/m);
  });
});

describe('a dataset of messages with a model that has no chat template', () => {
  it('grpo train refuses it with the file and line, before training', async () => {
    const project = await writeConfig('plain', 'plain-model');
    const { code, err } = await run(['train', '--cwd', project, '--no-eval']);
    expect(code).toBe(1);
    expect(err).toBe(
      `grpo: ${path.join(dir, 'train.jsonl')}:1: the row gives 'messages', but the policy's tokenizer (hf) has no chat template: ` +
        "use a model whose tokenizer_config.json has a 'chat_template', or give the row a prompt string instead\n",
    );
  });

  it('grpo sample --chat says the tokenizer has no chat template', async () => {
    // No config here: the model is given with --checkpoint (the project above has the dataset, which fails first).
    const bare = path.join(dir, 'bare');
    await mkdir(bare, { recursive: true });
    await writeFile(path.join(bare, 'package.json'), '{"name":"bare","private":true}');
    const { code, err } = await run(['sample', '--cwd', bare, '--checkpoint', path.join(dir, 'plain-model'), '--chat', 'hi']);
    expect(code).toBe(1);
    expect(err).toMatch(/^grpo: --chat\/--messages: the policy's tokenizer \(hf\) has no chat template/);
  });
});
