/**
 * Answer extraction from a model completion (or a reference solution): text after the
 * last </think>, the last <answer> tag, the last \boxed{} (several joined), "#### x",
 * "final answer is x", the last math region or the last number.
 */
import { matchBrace } from './normalize.js';

export type ExtractionStep = 'answerTag' | 'boxed' | 'hashes' | 'finalAnswer' | 'math' | 'number';

/** What to do when a completion has no `</think>`. */
export type MissingThinkPolicy = 'keep' | 'reject' | 'rejectIfOpened';

export interface ExtractOptions {
  /** Steps tried in order; the first that finds something wins. `math` and `number` share one step: the later in the text wins. */
  readonly order?: readonly ExtractionStep[];
  /** Use only the text after the last `</think>` (default true). */
  readonly stripThink?: boolean;
  /** No `</think>`: keep the whole text, reject it, or reject only if `<think>` was opened (default). */
  readonly missingThink?: MissingThinkPolicy;
}

export interface Extraction {
  text: string;
  method: ExtractionStep | 'whole';
}

export const DEFAULT_ORDER: readonly ExtractionStep[] = ['answerTag', 'boxed', 'hashes', 'finalAnswer', 'math', 'number'];

interface Region {
  content: string;
  start: number;
  end: number;
}

/** All brace-matched `\boxed{…}` / `\fbox{…}` in order. */
export function findBoxes(s: string): Region[] {
  const out: Region[] = [];
  const re = /\\(?:boxed|fbox)\s*(\{)?/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) {
    if (m[1]) {
      const open = m.index + m[0].length - 1;
      const close = matchBrace(s, open);
      if (close < 0) continue;
      out.push({ content: s.slice(open + 1, close), start: m.index, end: close + 1 });
      re.lastIndex = close + 1;
    } else {
      const t = /^\s*([^\s$]+)/.exec(s.slice(re.lastIndex));
      if (t) {
        out.push({ content: t[1]!, start: m.index, end: re.lastIndex + t[0].length });
        re.lastIndex += t[0].length;
      }
    }
  }
  return out;
}

/** The text between two boxes is only a connector ("and", ",", "\quad", a short label). */
function isConnector(gap: string): boolean {
  const rest = gap
    .replace(/\\text\{[^}]*\}|\\q?quad|\\[,;! ]|\\[()[\]]|\$+/g, ' ')
    .replace(/\b(?:and|or)\b|[,;&]/gi, ' ')
    .trim();
  if (/[.!?]\s|\n\s*\n/.test(rest)) return false;
  return rest.length <= 20;
}

/** The last box, joined with the boxes just before it when only connectors separate them. */
export function lastBoxedAnswer(s: string): Region | null {
  const boxes = findBoxes(s);
  if (boxes.length === 0) return null;
  let first = boxes.length - 1;
  while (first > 0 && isConnector(s.slice(boxes[first - 1]!.end, boxes[first]!.start))) first--;
  const group = boxes.slice(first);
  return { content: group.map((b) => b.content).join(', '), start: group[0]!.start, end: group[group.length - 1]!.end };
}

/** Math regions `$…$`, `$$…$$`, `\[…\]`, `\(…\)` in order; escaped `\$` is not a delimiter. */
export function findMathRegions(s: string): Region[] {
  const out: Region[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === '\\') {
      const n = s[i + 1];
      if (n === '[' || n === '(') {
        const close = s.indexOf(n === '[' ? '\\]' : '\\)', i + 2);
        if (close >= 0) {
          out.push({ content: s.slice(i + 2, close), start: i, end: close + 2 });
          i = close + 2;
          continue;
        }
      }
      i += 2;
      continue;
    }
    if (c === '$') {
      const dbl = s[i + 1] === '$';
      const from = i + (dbl ? 2 : 1);
      let j = from;
      let close = -1;
      while (j < s.length) {
        if (s[j] === '\\') {
          j += 2;
          continue;
        }
        if (s[j] === '$') {
          close = j;
          break;
        }
        j++;
      }
      if (close < 0) {
        i = from;
        continue;
      }
      out.push({ content: s.slice(from, close), start: i, end: close + (dbl && s[close + 1] === '$' ? 2 : 1) });
      i = out[out.length - 1]!.end;
      continue;
    }
    i++;
  }
  return out.filter((r) => r.content.trim().length > 0);
}

const NUMBER_RE = /(?<![A-Za-z0-9.,_^])-?(?:\\[dtc]?frac\{\d+\}\{\d+\}|\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+,\d{2}(?![\d,])|\d+(?:\.\d+)?(?:\s*\/\s*\d+(?:\.\d+)?)?|\.\d+)/g;

export function lastNumber(s: string): Region | null {
  let last: Region | null = null;
  for (const m of s.matchAll(NUMBER_RE)) last = { content: m[0], start: m.index, end: m.index + m[0].length };
  return last;
}

/** Rough count of prose words: letter runs of length ≥ 3 outside commands and \text{}. */
export function proseWords(s: string): number {
  const t = s.replace(/\\text\w*\{[^}]*\}|\\mbox\{[^}]*\}|\\[a-zA-Z]+/g, ' ');
  const words = t.match(/[A-Za-z]{3,}/g) ?? [];
  return words.filter((w) => !/^(?:and|pct|percent|percentage)$/i.test(w)).length;
}

function isWholeAnswer(s: string): boolean {
  const t = s.trim();
  if (t.length === 0 || t.length > 200) return false;
  if (/^[A-Za-z]+$/.test(t)) return true;
  return proseWords(t) === 0;
}

function stripDelimiters(s: string): string {
  return s
    .replace(/\\\[|\\\]|\\\(|\\\)/g, ' ')
    .replace(/(?<!\\)\$/g, ' ')
    .trim();
}

/** "final answer is x", "answer: x", "the answer is x": the span after the last such phrase. */
function finalAnswerSpan(s: string, finalOnly: boolean): Region | null {
  const re = finalOnly ? /final\s+answer\s*(?:is|:)\s*(?:is\s*)?/gi : /\banswer\s*(?:is|:|=)\s*(?:is\s*)?/gi;
  let last: RegExpExecArray | null = null;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) last = m;
  if (!last) return null;
  const from = last.index + last[0].length;
  const rest = s.slice(from);
  // The span ends at a sentence end outside math, a newline, or a chat marker.
  let end = rest.length;
  let inMath = false;
  for (let i = 0; i < rest.length; i++) {
    const c = rest[i];
    if (c === '\\' && (rest[i + 1] === '(' || rest[i + 1] === '[')) inMath = true;
    if (c === '\\' && (rest[i + 1] === ')' || rest[i + 1] === ']')) inMath = false;
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '$') inMath = !inMath;
    if (inMath) continue;
    if (c === '\n' || (c === '.' && /\s/.test(rest[i + 1] ?? ' ')) || rest.startsWith('<|', i) || rest.startsWith('I hope', i)) {
      end = i;
      break;
    }
  }
  let span = rest.slice(0, end).trim();
  const isIdx = span.lastIndexOf(' is ');
  if (isIdx >= 0) {
    const before = span.slice(0, isIdx);
    if ((before.match(/(?<!\\)\$/g) ?? []).length % 2 === 0) span = span.slice(isIdx + 4).trim();
  }
  span = span.replace(/^"+|"+$/g, '');
  if (!span) return null;
  let text = stripDelimiters(span);
  if (proseWords(text) > 0) {
    const num = lastNumber(text);
    if (!num) return null;
    text = num.content;
  }
  return { content: text, start: last.index, end: from + end };
}

function afterThink(text: string, options: ExtractOptions): string | null {
  if (options.stripThink === false) return text;
  const idx = text.lastIndexOf('</think>');
  if (idx >= 0) return text.slice(idx + '</think>'.length);
  const policy = options.missingThink ?? 'rejectIfOpened';
  if (policy === 'reject') return null;
  if (policy === 'rejectIfOpened' && text.includes('<think>')) return null;
  return text;
}

function runSteps(text: string, order: readonly ExtractionStep[], reference: boolean): Extraction | null {
  for (const step of order) {
    switch (step) {
      case 'answerTag': {
        const open = text.lastIndexOf('<answer>');
        if (open < 0) break;
        const close = text.indexOf('</answer>', open);
        const inner = text.slice(open + '<answer>'.length, close < 0 ? undefined : close);
        const rest = order.filter((s) => s !== 'answerTag');
        const found = runSteps(inner, rest, reference);
        if (found) return found;
        if (inner.trim()) return { text: inner.trim(), method: 'answerTag' };
        break;
      }
      case 'boxed': {
        const box = lastBoxedAnswer(text);
        if (box && box.content.trim()) {
          // A "final answer is x" stated after the last box is the later, final word.
          const span = order.includes('finalAnswer') ? finalAnswerSpan(text, reference) : null;
          if (span && span.start >= box.end) return { text: span.content, method: 'finalAnswer' };
          return { text: box.content.trim(), method: 'boxed' };
        }
        break;
      }
      case 'hashes': {
        const m = /####\s*([^\n]*)/g;
        let last: RegExpExecArray | null = null;
        let r: RegExpExecArray | null;
        while ((r = m.exec(text))) last = r;
        if (last && last[1]!.trim()) return { text: last[1]!.trim(), method: 'hashes' };
        break;
      }
      case 'finalAnswer': {
        const span = finalAnswerSpan(text, reference);
        if (span) return { text: span.content, method: 'finalAnswer' };
        break;
      }
      case 'math':
      case 'number': {
        const math = order.includes('math');
        if (math && reference && isWholeAnswer(text.replace(/\$/g, ' '))) return { text: stripDelimiters(text), method: 'whole' };
        const regions = math ? findMathRegions(text) : [];
        const lastRegion = regions[regions.length - 1] ?? null;
        if (math && !lastRegion && isWholeAnswer(text)) return { text: text.trim(), method: 'whole' };
        const num = order.includes('number') ? lastNumber(text) : null;
        if (lastRegion && (!num || num.start < lastRegion.end)) return { text: lastRegion.content.trim(), method: 'math' };
        if (num) return { text: num.content, method: 'number' };
        break;
      }
    }
  }
  return null;
}

/** Extracts the final answer from a completion; null when nothing can be found. */
export function extractAnswer(completion: string, options: ExtractOptions = {}): Extraction | null {
  const text = afterThink(completion, options);
  if (text === null) return null;
  return runSteps(text, options.order ?? DEFAULT_ORDER, false);
}

/**
 * Extracts the answer from a reference: its boxed answer, its "final answer is", or the whole
 * string when it is a bare answer (`$125$ miles`, `$1$ and $2$`); a long solution is read like a completion.
 */
export function extractReference(reference: string): Extraction | null {
  return runSteps(reference, ['boxed', 'finalAnswer', 'math', 'number'], true);
}
