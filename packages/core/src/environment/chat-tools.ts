/**
 * Tools in a chat model's own tool-call format (Qwen3, Hermes, …): the tools are given to the chat
 * template as its `tools` variable (it writes them into the system prompt), the model calls one
 * by writing
 *
 *     <tool_call>
 *     {"name": "calc", "arguments": {"input": "23*7"}}
 *     </tool_call>
 *
 * (its turn stops there), and the result comes back as a `tool` message rendered through the
 * template: the observation is exactly what the template writes between the model's turn and the
 * opening of the next assistant turn (for Qwen3: `<|im_end|>\n<|im_start|>user\n<tool_response>\n161\n</tool_response><|im_end|>\n<|im_start|>assistant\n`).
 *
 * That only holds when the template has the prefix property: rendering the conversation so far
 * starts with the text (and the tokens) already generated. Templates that rewrite history break
 * it (Qwen3 drops the empty `<think></think>` block of earlier turns when `enable_thinking` is
 * false), and then training on the rendered transcript is not training on what the model saw.
 * The environment checks it on its first `reset` (so the trainer's start-up dry run finds a
 * broken template before the first step) and on every turn, and throws an `EnvironmentError`
 * naming the template and the first differing position.
 */
import type { Environment, EnvironmentContext, EnvironmentStep } from '../contracts/environment.js';
import type { ChatMessage, ChatTemplate, Tokenizer } from '../contracts/tokenizer.js';
import { EnvironmentError, errorMessage, GrpoError } from '../errors.js';
import type { DatasetRow } from '../records.js';
import type { Tool } from './tools.js';

/** The chat format's call markers (Qwen3 / Hermes). */
export const chatCallSyntax = { open: '<tool_call>', close: '</tool_call>' } as const;

export interface ChatToolEnvironmentOptions {
  /** The environment's name; default `tools`. */
  readonly name?: string;
  readonly tools: readonly Tool<unknown>[];
  /** The policy's tokenizer: its `chatTemplate` renders, its `encode` checks the prefix property token by token. */
  readonly tokenizer: Pick<Tokenizer, 'encode' | 'chatTemplate'>;
  /** Further template variables, as `data.chat.variables` (e.g. `{ enable_thinking: false }`). */
  readonly variables?: Readonly<Record<string, unknown>>;
  /** System message before the user's, as `data.chat.system`. */
  readonly system?: string;
}

/** The template's `tools` list (the OpenAI / transformers function format): each tool takes `{ input: string }`. */
export function chatToolSpecs(tools: readonly Tool<unknown>[]): Record<string, unknown>[] {
  return tools.map((t) => ({
    type: 'function',
    function: {
      name: t.name,
      description: t.description,
      parameters: { type: 'object', properties: { input: { type: 'string', description: t.description } }, required: ['input'] },
    },
  }));
}

/** The first position where `b` differs from `a` (`a.length` when `a` is a prefix of `b`). */
function firstDifference<T>(a: ArrayLike<T>, b: ArrayLike<T>): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

const snippet = (text: string, at: number) => JSON.stringify(text.slice(Math.max(0, at - 20), at + 30));

/**
 * Checks the prefix property of one tool round trip: `generated` (prompt + model turn + observation
 * as the rollout holds them, as texts) encodes to the same ids as the rendered conversation.
 */
function checkTokens(template: ChatTemplate, encode: (text: string) => number[], pieces: readonly string[], rendered: string, where: string): void {
  const generated = pieces.flatMap((p) => encode(p));
  const whole = encode(rendered);
  const at = firstDifference(generated, whole);
  if (at === generated.length && at === whole.length) return;
  throw new EnvironmentError(
    `the chat template ${template.source} breaks the prefix property ${where}: the tokens of the rollout (prompt, the model's turn, the tool's answer, ` +
      `each encoded as generated) differ from the tokens of the rendered conversation at token ${at} (${generated[at] ?? 'end'} vs ${whole[at] ?? 'end'}); ` +
      'trajectories would not be the tokens the model saw. Use a template (or template variables) that re-renders earlier turns unchanged',
  );
}

interface ChatState {
  messages: ChatMessage[];
  /** The rendered conversation so far, ending with the opening of an assistant turn. */
  text: string;
}

/**
 * An `Environment` that runs `tools` called in the chat template's tool-call format. A turn that
 * does not end in a call ends the episode; a bad call, an unknown tool or a tool that throws is
 * answered `error: …` (the model sees it). Logs `tools/calls` and `tools/errors`.
 */
export function chatToolEnvironment(options: ChatToolEnvironmentOptions): Environment & { readonly chatVariables: Record<string, unknown> } {
  const template = options.tokenizer.chatTemplate;
  if (!template) throw new GrpoError("chatToolEnvironment needs a tokenizer with a chat template (tokenizer_config.json's chat_template)");
  const tools = new Map(options.tools.map((t) => [t.name, t]));
  if (tools.size === 0) throw new GrpoError('chatToolEnvironment needs at least one tool');
  const chatVariables = { ...options.variables, tools: chatToolSpecs(options.tools) };
  const name = options.name ?? 'tools';
  const render = (messages: readonly ChatMessage[]) => template.render(messages, { addGenerationPrompt: true, variables: chatVariables });
  const { open, close } = chatCallSyntax;
  let checked = false;

  const firstMessages = (row: DatasetRow): ChatMessage[] => {
    if (Array.isArray(row.messages)) return row.messages.map((m) => ({ role: m.role, content: m.content }));
    if (typeof row.prompt !== 'string') throw new GrpoError(`chatToolEnvironment: the row has neither messages nor a prompt string`);
    return [...(options.system === undefined ? [] : [{ role: 'system', content: options.system }]), { role: 'user', content: row.prompt }];
  };

  /** The observation after `completion` (the model's turn), or the prefix property's failure. */
  const answer = (state: ChatState, completion: string, result: string, where: string): string => {
    const messages = [...state.messages, { role: 'assistant', content: completion }, { role: 'tool', content: result }];
    const rendered = render(messages);
    const before = state.text + completion;
    if (!rendered.startsWith(before)) {
      const at = firstDifference(before, rendered);
      throw new EnvironmentError(
        `the chat template ${template.source} breaks the prefix property ${where}: rendering the conversation with the tool's answer ` +
          `does not start with the text generated so far; they differ at character ${at}: generated ${snippet(before, at)}, rendered ${snippet(rendered, at)}. ` +
          'Use a template (or template variables) that re-renders earlier turns unchanged',
      );
    }
    state.messages = messages;
    state.text = rendered;
    return rendered.slice(before.length);
  };

  const run = async (completion: string, signal: AbortSignal): Promise<{ result: string; error: boolean }> => {
    const body = completion.slice(completion.lastIndexOf(open) + open.length, completion.length - close.length).trim();
    let call: { name?: unknown; arguments?: unknown };
    try {
      call = JSON.parse(body) as typeof call;
    } catch {
      return { result: `error: the tool call is not JSON: ${body.slice(0, 80)}`, error: true };
    }
    const tool = typeof call?.name === 'string' ? tools.get(call.name) : undefined;
    if (!tool) return { result: `error: no tool named ${JSON.stringify(call?.name)} (have ${[...tools.keys()].join(', ')})`, error: true };
    const raw = typeof call.arguments === 'object' && call.arguments !== null ? (call.arguments as { input?: unknown }).input : call.arguments;
    try {
      const value = await tool.run(tool.input.parse(raw), { signal });
      return { result: String(value), error: false };
    } catch (error) {
      return { result: `error: ${(errorMessage(error).split('\n')[0] ?? '').slice(0, 120)}`, error: true };
    }
  };

  return {
    name,
    stop: [close],
    chatVariables,
    reset(row, context: EnvironmentContext) {
      const state: ChatState = { messages: firstMessages(row), text: '' };
      state.text = render(state.messages);
      Object.assign(context.state, { chat: state });
      if (!checked) {
        // Once, on the first episode (the trainer's start-up dry run): a probe call and its answer, checked in text and in tokens.
        const first = options.tools[0]!;
        const probe = `${open}\n{"name": ${JSON.stringify(first.name)}, "arguments": {"input": "1"}}\n${close}`;
        const trial: ChatState = { messages: state.messages, text: state.text };
        const where = `(checked at start-up with the call ${JSON.stringify(probe)} on the row ${JSON.stringify(String(row.prompt ?? '').slice(0, 40))})`;
        const observation = answer(trial, probe, 'probe result', where);
        checkTokens(template, options.tokenizer.encode.bind(options.tokenizer), [state.text, probe, observation], trial.text, where);
        checked = true;
      }
      return undefined;
    },
    async step(completion, context): Promise<EnvironmentStep> {
      const state = (context.state as { chat?: ChatState }).chat;
      if (!state) throw new GrpoError('step before reset');
      if (!completion.trimEnd().endsWith(close) || !completion.includes(open)) return { done: true, metrics: { 'tools/calls': 0, 'tools/errors': 0 } };
      const { result, error } = await run(completion.trimEnd(), context.signal);
      const observation = answer(state, completion, result, `(sample ${context.sample}, turn ${context.turn})`);
      return { done: false, observation, metrics: { 'tools/calls': 1, 'tools/errors': error ? 1 : 0 } };
    },
  };
}
