/**
 * Tools as a built-in environment. The model calls a tool by writing `<<name argument>>`; its turn
 * stops at `>>`, the tool runs on the argument (checked by the tool's `input` schema), and the
 * environment answers `=result` (or `=error: message`), which the model reads and continues after.
 * A turn that does not end in a call ends the episode.
 *
 *     question: ann has 23 pens. she buys 7 boxes of 12. how many now?
 *     model:    <<calc 7*12>>          environment: =84
 *     model:    \n<<calc 23+84>>       environment: =107
 *     model:    \n#### 107<eos>
 */
import type { Environment, EnvironmentStep } from '../contracts/environment.js';
import { errorMessage, GrpoError } from '../errors.js';

/** The documented call syntax: `<<name argument>>`, answered `=result`. */
export const callSyntax = { open: '<<', close: '>>', result: '=' } as const;

/**
 * A typed function the model can call. `input` checks and converts the raw argument text (a zod
 * schema such as `z.string().regex(…)` or `z.coerce.number()` fits); `run` gets what it returns.
 */
export interface Tool<Args = unknown> {
  /** Letters, digits and `_`, starting with a letter: what the model writes after `<<`. */
  readonly name: string;
  /** What the tool does and what its argument is, for the prompt (`describeTools`) and the docs. */
  readonly description: string;
  readonly input: { parse(raw: unknown): Args };
  run(args: Args, context: { signal: AbortSignal }): string | number | Promise<string | number>;
}

/** Identity that infers the tool's argument type from its `input` schema. */
export function defineTool<Args>(tool: Tool<Args>): Tool<Args> {
  return tool;
}

export interface ToolEnvironmentOptions {
  /** The environment's name (its reward, errors and `generation.environment.name`); default `tools`. */
  readonly name?: string;
  readonly tools: readonly Tool<unknown>[];
  /**
   * Text after every answer (`=result` and `=error: …`); default none. Give what follows a result in
   * the model's training text (`'\n'` when each call sits on its own line): without it nothing ends
   * the number, and a sampled digit after `=6` reads as `=68`, the model overwriting the tool.
   */
  readonly resultEnd?: string;
}

const NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

/** One line per tool, `name: description`, to put in a prompt template. */
export function describeTools(tools: readonly Tool<unknown>[]): string {
  return tools.map((t) => `${callSyntax.open}${t.name} …${callSyntax.close}: ${t.description}`).join('\n');
}

/**
 * An `Environment` that runs tools. Each turn: when the model's text ends with a call
 * `<<name argument>>`, the tool runs and its result comes back as the observation `=result`; a bad
 * argument, an unknown tool or a tool that throws comes back as `=error: …` (the model sees its
 * mistake; it is not an environment fault). Logs `tools/calls` and `tools/errors` per trajectory.
 */
export function toolEnvironment(options: ToolEnvironmentOptions): Environment {
  const tools = new Map<string, Tool<unknown>>();
  for (const tool of options.tools) {
    if (!NAME.test(tool.name)) throw new GrpoError(`tool name ${JSON.stringify(tool.name)} is not a name (letters, digits and _, starting with a letter)`);
    if (tools.has(tool.name)) throw new GrpoError(`two tools are both named '${tool.name}'`);
    tools.set(tool.name, tool);
  }
  if (tools.size === 0) throw new GrpoError('toolEnvironment needs at least one tool');
  const { open, close, result } = callSyntax;
  return {
    name: options.name ?? 'tools',
    stop: [close],
    reset: () => undefined,
    async step(completion, context): Promise<EnvironmentStep> {
      if (!completion.endsWith(close)) return { done: true, metrics: { 'tools/calls': 0, 'tools/errors': 0 } };
      const start = completion.lastIndexOf(open, completion.length - close.length);
      const call = start < 0 ? '' : completion.slice(start + open.length, completion.length - close.length);
      const space = call.indexOf(' ');
      const name = space < 0 ? call : call.slice(0, space);
      const raw = space < 0 ? '' : call.slice(space + 1);
      const answer = (text: string, error: boolean): EnvironmentStep => ({
        done: false,
        observation: `${result}${error ? `error: ${text}` : text}${options.resultEnd ?? ''}`,
        metrics: { 'tools/calls': 1, 'tools/errors': error ? 1 : 0 },
      });
      const tool = tools.get(name);
      if (!tool) return answer(`no tool named ${JSON.stringify(name)} (have ${[...tools.keys()].join(', ')})`, true);
      let args: unknown;
      try {
        args = tool.input.parse(raw);
      } catch (error) {
        return answer(`bad argument ${JSON.stringify(raw)} for ${name}: ${issues(error)}`, true);
      }
      try {
        const value = await tool.run(args, { signal: context.signal });
        if (typeof value !== 'string' && !(typeof value === 'number' && Number.isFinite(value)))
          return answer(`${name} returned ${typeof value === 'number' ? value : typeof value}`, true);
        return answer(String(value), false);
      } catch (error) {
        return answer(`${name} failed: ${firstLine(errorMessage(error))}`, true);
      }
    },
  };
}

/** A schema's complaint in one short line: zod's issues' messages (its `message` is JSON), else the error's message. */
function issues(error: unknown): string {
  const list = (error as { issues?: unknown } | null)?.issues;
  const text = Array.isArray(list) ? list.map((i) => String((i as { message?: unknown }).message)).join('; ') : errorMessage(error);
  return firstLine(text);
}

function firstLine(text: string): string {
  return (text.split('\n')[0] ?? '').trim().slice(0, 120);
}
