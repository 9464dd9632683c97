import type { ChatMessage } from '../contracts/tokenizer.js';
import { DataError } from '../errors.js';

/**
 * `value` checked as a conversation: a non-empty array of `{ role, content }` with string values
 * (other fields of a message are kept for templates that read them, e.g. `reasoning_content`).
 * Throws a `DataError` starting with `where` (a file and line, a flag) that says what is wrong.
 */
export function checkMessages(value: unknown, where: string): ChatMessage[] {
  const problem = (what: string): never => {
    throw new DataError(`${where}: 'messages' ${what}; expected a non-empty array of { "role": string, "content": string }`);
  };
  if (!Array.isArray(value)) return problem(`is ${value === null ? 'null' : typeof value}`);
  if (value.length === 0) return problem('is empty');
  value.forEach((m: unknown, i) => {
    if (typeof m !== 'object' || m === null || Array.isArray(m)) problem(`[${i}] is not an object`);
    const { role, content } = m as Record<string, unknown>;
    if (typeof role !== 'string' || !role) problem(`[${i}].role is ${JSON.stringify(role) ?? 'missing'}`);
    if (typeof content !== 'string')
      problem(`[${i}].content is ${Array.isArray(content) ? 'an array (only text content is supported)' : (JSON.stringify(content) ?? 'missing')}`);
  });
  return value as ChatMessage[];
}

/** The content of the last `user` message (empty when there is none): a conversation's prompt for rewards and logs. */
export function lastUserContent(messages: readonly ChatMessage[]): string {
  return messages.findLast((m) => m.role === 'user')?.content ?? '';
}
