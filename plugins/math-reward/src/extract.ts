/**
 * Answer extraction from a model completion (or a reference solution): text after the
 * last </think>, the last <answer> tag, the last \boxed{} (several joined), "#### x",
 * "final answer is x", the last math region or the last number.
 */
import { Budget } from './ast.js';
import { Braces, replaceBraced } from './normalize.js';

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
  /**
   * Only the last `maxLength` characters (after `</think>`) are searched (default 1,048,576): the
   * answer is at the end, and a runaway completion costs no more than this much text.
   */
  readonly maxLength?: number;
}

/** Default `maxLength` of completions and references: 1 Mi characters. */
export const MAX_INPUT_LENGTH = 1_048_576;

/** The last `max` characters of `s`. */
const tail = (s: string, max: number): string => (s.length > max ? s.slice(s.length - max) : s);

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

/** No deadline: extraction called on its own. */
const UNLIMITED = new Budget(Number.POSITIVE_INFINITY);

const BACKSLASH = 0x5c;
const DOLLAR = 0x24;
const SPACE = 0x20;

/**
 * `s.charCodeAt(i)`, or -1 past the end. Loops over long texts read char codes; one read past the
 * end makes V8 recompile the loop with out-of-bounds handling, several times slower.
 */
const codeAt = (s: string, i: number): number => (i < s.length ? s.charCodeAt(i) : -1);

/** Whether a UTF-16 code unit is whitespace as regex `\s` and `String.prototype.trim` define it. */
function isSpace(c: number): boolean {
  return (
    c === 0x20 ||
    (c >= 0x09 && c <= 0x0d) ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

/**
 * All brace-matched `\boxed{…}` / `\fbox{…}` in order: each command, then its brace group or its
 * next word. Linear in `s`: braces are paired in one pass (a scan from every unclosed `\boxed{` to
 * the end of the text was quadratic).
 */
export function findBoxes(s: string, budget: Budget = UNLIMITED): Region[] {
  const out: Region[] = [];
  const braces = new Braces(s);
  // `test` moves lastIndex past the command without building a match array.
  const command = /\\(?:boxed|fbox)/g;
  for (;;) {
    budget.check();
    if (!command.test(s)) break;
    let j = command.lastIndex;
    // `\boxed` ends in `d`, `\fbox` in `x`.
    const start = j - (s.charCodeAt(j - 1) === 0x64 ? 6 : 5);
    while (j < s.length && isSpace(s.charCodeAt(j))) j++;
    if (codeAt(s, j) === 0x7b /* { */) {
      const close = braces.match(j);
      if (close < 0) {
        command.lastIndex = j + 1;
        continue;
      }
      out.push({ content: s.slice(j + 1, close), start, end: close + 1 });
      command.lastIndex = close + 1;
    } else {
      // `\boxed 5`: the next run of characters other than whitespace and `$`.
      let k = j;
      while (k < s.length && !isSpace(s.charCodeAt(k)) && s[k] !== '$') k++;
      if (k > j) out.push({ content: s.slice(j, k), start, end: k });
      command.lastIndex = k;
    }
  }
  return out;
}

/** The text between two boxes is only a connector ("and", ",", "\quad", a short label). */
function isConnector(gap: string): boolean {
  // Short, without sentence marks and with at most one newline: the replacements below only shorten
  // the text, turn characters into spaces and make no `.!?` or newline, so the answer is yes.
  if (gap.length <= 20 && !/[.!?]|\n[^]*\n/.test(gap)) return true;
  const rest = replaceBraced(gap, /\\text\{[^}]*\}|\\q?quad|\\[,;! ]|\\[()[\]]|\$+/g, /\\q?quad|\\[,;! ]|\\[()[\]]|\$+/g, ' ')
    .replace(/\b(?:and|or)\b|[,;&]/gi, ' ')
    .trim();
  if (/[.!?]\s|\n\s*\n/.test(rest)) return false;
  return rest.length <= 20;
}

/** The last box, joined with the boxes just before it when only connectors separate them. */
export function lastBoxedAnswer(s: string, budget: Budget = UNLIMITED): Region | null {
  const boxes = findBoxes(s, budget);
  if (boxes.length === 0) return null;
  let first = boxes.length - 1;
  while (first > 0 && isConnector(s.slice(boxes[first - 1]!.end, boxes[first]!.start))) first--;
  const group = boxes.slice(first);
  return { content: group.map((b) => b.content).join(', '), start: group[0]!.start, end: group[group.length - 1]!.end };
}

/**
 * Math regions `$…$`, `$$…$$`, `\[…\]`, `\(…\)` in order; escaped `\$` is not a delimiter.
 * Linear: the text is walked once from delimiter to delimiter (`\x` pairs skipped), a found region
 * is skipped, a `\(` or `\[` that no closer follows is remembered (no later one can close either),
 * and a `$` that finds no closer leaves no unescaped `$` on the rest of the walk.
 */
export function findMathRegions(s: string, budget: Budget = UNLIMITED): Region[] {
  return scanMathRegions(s, budget, false);
}

/** The last region findMathRegions finds, or null, without keeping the others. */
function lastMathRegion(s: string, budget: Budget): Region | null {
  return scanMathRegions(s, budget, true)[0] ?? null;
}

/**
 * The stops of the walk of scanMathRegions: a `$`, or a `\[` / `\(` whose kind may still close,
 * after an even run of backslashes (indexed by the kinds known not to close: 1 `\[`, 2 `\(`).
 * Started where no backslash precedes, `(?<!\\)(?:\\\\)*` steps over each run from its start,
 * as the walk does. One regex scan is fast on one-byte and two-byte strings alike; a char-code
 * loop that has seen both is several times slower, so the walk goes by hand only for a few steps.
 */
const WALK_STOPS = [/(?<!\\)(?:\\\\)*(?:\$|\\[[(])/g, /(?<!\\)(?:\\\\)*(?:\$|\\\()/g, /(?<!\\)(?:\\\\)*(?:\$|\\\[)/g, /(?<!\\)(?:\\\\)*\$/g];
const DOLLAR_STOP = WALK_STOPS[3]!;
const HAND_STEPS = 32;

const BACKSLASH_RUN = /\\*/y;

/** From `i`, where the walk is, past the whole `\\` pairs of the run of backslashes there. */
function skipPairs(s: string, i: number): number {
  BACKSLASH_RUN.lastIndex = i;
  BACKSLASH_RUN.test(s);
  const run = BACKSLASH_RUN.lastIndex - i;
  return i + run - (run % 2);
}

/** The next stop of `re` from `i` (where the walk is and no backslash precedes), or the end. */
function jumpToStop(s: string, i: number, re: RegExp): number {
  re.lastIndex = i;
  if (!re.test(s)) return s.length;
  // The match ends with `$`, or with the bracket of `\[` / `\(`.
  return s.charCodeAt(re.lastIndex - 1) === DOLLAR ? re.lastIndex - 1 : re.lastIndex - 2;
}

function scanMathRegions(s: string, budget: Budget, lastOnly: boolean): Region[] {
  const out: Region[] = [];
  let unclosedBracket = false;
  let unclosedParen = false;
  const n = s.length;
  let i = 0;
  // Regions whose content is blank are dropped; with lastOnly only the last is made.
  let last: [number, number, number, number] | null = null;
  const keep = (start: number, from: number, close: number, end: number): void => {
    let k = from;
    while (k < close && isSpace(s.charCodeAt(k))) k++;
    if (k === close) return;
    if (lastOnly) {
      if (last) {
        last[0] = start;
        last[1] = from;
        last[2] = close;
        last[3] = end;
      } else last = [start, from, close, end];
    } else out.push({ content: s.slice(from, close), start, end });
  };
  for (;;) {
    budget.check();
    // To the next `$`, or `\[` / `\(` that may still close; other `\x` pairs are stepped over.
    let steps = 0;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c === DOLLAR) break;
      if (c === BACKSLASH) {
        const next = codeAt(s, i + 1);
        if ((next === 0x5b /* [ */ && !unclosedBracket) || (next === 0x28 /* ( */ && !unclosedParen)) break;
        i += 2;
      } else i++;
      if (++steps >= HAND_STEPS && i < n) {
        // Inside a run of backslashes the regex cannot start: step over the run's pairs first.
        if (s.charCodeAt(i - 1) === BACKSLASH) i = skipPairs(s, i);
        else {
          i = jumpToStop(s, i, WALK_STOPS[(unclosedBracket ? 1 : 0) | (unclosedParen ? 2 : 0)]!);
          break;
        }
      }
    }
    if (i >= n) break;
    if (s.charCodeAt(i) === BACKSLASH) {
      const bracket = s.charCodeAt(i + 1) === 0x5b; /* [ */
      const close = s.indexOf(bracket ? '\\]' : '\\)', i + 2);
      if (close < 0) {
        if (bracket) unclosedBracket = true;
        else unclosedParen = true;
        i += 2;
        continue;
      }
      keep(i, i + 2, close, close + 2);
      i = close + 2;
      continue;
    }
    const dbl = codeAt(s, i + 1) === DOLLAR;
    const from = i + (dbl ? 2 : 1);
    // The closing `$`: the walk goes on from `from`, stepping over `\x` pairs.
    let close = -1;
    for (let j = from, steps = 0; j < n; steps++) {
      const c = s.charCodeAt(j);
      if (c === DOLLAR) {
        close = j;
        break;
      }
      j += c === BACKSLASH ? 2 : 1;
      if (steps >= HAND_STEPS && j < n) {
        if (s.charCodeAt(j - 1) === BACKSLASH) j = skipPairs(s, j);
        else {
          const stop = jumpToStop(s, j, DOLLAR_STOP);
          close = stop < n ? stop : -1;
          break;
        }
      }
    }
    if (close < 0) {
      // The walk from `from` lands on no `$`: only a `\[` or `\(` that may close can stop it now.
      if ((unclosedBracket || s.indexOf('\\[', from) < 0) && (unclosedParen || s.indexOf('\\(', from) < 0)) break;
      i = from;
      continue;
    }
    const end = close + (dbl && codeAt(s, close + 1) === DOLLAR ? 2 : 1);
    keep(i, from, close, end);
    i = end;
  }
  // (TypeScript does not see the assignments in `keep`.)
  const found = last as [number, number, number, number] | null;
  if (found) out.push({ content: s.slice(found[1], found[2]), start: found[0], end: found[3] });
  return out;
}

/**
 * The last match of a global regex that never matches the empty string, as `exec` would give it.
 * The matches are walked with `test` (no match arrays: `#### ` or a number repeated 100,000 times
 * is as many matches), and only the last is executed again from where it was searched.
 */
function lastMatch(re: RegExp, s: string, budget: Budget): RegExpExecArray | null {
  re.lastIndex = 0;
  let from = -1;
  let next = 0;
  while (re.test(s)) {
    budget.check();
    from = next;
    next = re.lastIndex;
  }
  if (from < 0) return null;
  re.lastIndex = from;
  return re.exec(s);
}

const NUMBER_RE =
  /(?<![A-Za-z0-9.,_^])-?(?:\\[dtc]?frac\{\d+\}\{\d+\}|\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+,\d{2}(?![\d,])|\d+(?:\.\d+)?(?:\s*\/\s*\d+(?:\.\d+)?)?|\.\d+)/g;

export function lastNumber(s: string, budget: Budget = UNLIMITED): Region | null {
  // Every number has a digit; the regex tries each position, so skip texts without one.
  if (!/\d/.test(s)) return null;
  const m = lastMatch(NUMBER_RE, s, budget);
  return m && { content: m[0], start: m.index, end: m.index + m[0].length };
}

const NOT_PROSE = /^(?:and|pct|percent|percentage)$/i;

/** `s` without commands and \text{} (where prose words are counted). */
const withoutCommands = (s: string): string => replaceBraced(s, /\\text\w*\{[^}]*\}|\\mbox\{[^}]*\}|\\[a-zA-Z]+/g, /\\[a-zA-Z]+/g, ' ');

/** Rough count of prose words: letter runs of length ≥ 3 outside commands and \text{}. */
export function proseWords(s: string): number {
  const words = withoutCommands(s).match(/[A-Za-z]{3,}/g) ?? [];
  return words.filter((w) => !NOT_PROSE.test(w)).length;
}

/** proseWords(s) > 0, stopping at the first word. */
function hasProse(s: string): boolean {
  for (const m of withoutCommands(s).matchAll(/[A-Za-z]{3,}/g)) if (!NOT_PROSE.test(m[0])) return true;
  return false;
}

function isWholeAnswer(s: string): boolean {
  const t = s.trim();
  if (t.length === 0 || t.length > 200) return false;
  if (/^[A-Za-z]+$/.test(t)) return true;
  return proseWords(t) === 0;
}

/**
 * Math delimiters `\[ \] \( \)` and unescaped `$` become spaces, then trim: what
 * `s.replace(/\\\[|\\\]|\\\(|\\\)/g, ' ').replace(/(?<!\\)\$/g, ' ').trim()` gives, in one pass over
 * the characters (a regex replacement costs far more per match, and `$$$…` is a match per character).
 */
function stripDelimiters(s: string): string {
  if (s.length < 4096)
    return s
      .replace(/\\\[|\\\]|\\\(|\\\)/g, ' ')
      .replace(/(?<!\\)\$/g, ' ')
      .trim();
  const out = new Uint16Array(s.length);
  let k = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === BACKSLASH) {
      const n = codeAt(s, i + 1);
      if (n === 0x5b || n === 0x5d || n === 0x28 || n === 0x29) {
        out[k++] = SPACE;
        i++;
        continue;
      }
    } else if (c === DOLLAR && (i === 0 || s.charCodeAt(i - 1) !== BACKSLASH)) {
      out[k++] = SPACE;
      continue;
    }
    out[k++] = c;
  }
  return fromCharCodes(out, k).trim();
}

/** The string of the first `length` UTF-16 code units of `codes` (lone surrogates kept). */
function fromCharCodes(codes: Uint16Array, length: number): string {
  let out = '';
  for (let i = 0; i < length; i += 8192) {
    // apply, not spread: spreading a typed array goes through its iterator (several times slower).
    out += String.fromCharCode.apply(null, codes.subarray(i, Math.min(length, i + 8192)) as unknown as number[]);
  }
  return out;
}

/** Unescaped `$` in `s` (not after a backslash). */
function countDollars(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) === DOLLAR && (i === 0 || s.charCodeAt(i - 1) !== BACKSLASH)) n++;
  return n;
}

/**
 * [start, end) of `s` without its leading and trailing `$` and whitespace: `t.replace(/\$/g, ' ').trim()`
 * is `s.slice(start, end).replace(/\$/g, ' ')`, found without rewriting a long text.
 */
function coreSpan(s: string): [number, number] {
  const start = /^[\s$]*/.exec(s)![0].length;
  if (start === s.length) return [start, start];
  // The trailing run; the lookbehind tries each run from its start only (linear).
  return [start, s.search(/(?<![\s$])[\s$]*$/)];
}

/** "final answer is x", "answer: x", "the answer is x": the span after the last such phrase. */
function finalAnswerSpan(s: string, finalOnly: boolean, budget: Budget): Region | null {
  const re = finalOnly ? /final\s+answer\s*(?:is|:)\s*(?:is\s*)?/gi : /\banswer\s*(?:is|:|=)\s*(?:is\s*)?/gi;
  const last = lastMatch(re, s, budget);
  if (!last) return null;
  const from = last.index + last[0].length;
  const rest = s.slice(from);
  // The span ends at a sentence end outside math, a newline, or a chat marker.
  let end = rest.length;
  let inMath = false;
  for (let i = 0; i < rest.length; i++) {
    budget.check();
    const c = rest.charCodeAt(i);
    const next = codeAt(rest, i + 1);
    if (c === BACKSLASH) {
      if (next === 0x28 /* ( */ || next === 0x5b /* [ */) inMath = true;
      if (next === 0x29 /* ) */ || next === 0x5d /* ] */) inMath = false;
      i++;
      continue;
    }
    if (c === DOLLAR) inMath = !inMath;
    if (inMath) continue;
    if (
      c === 0x0a /* \n */ ||
      (c === 0x2e /* . */ && (next < 0 || isSpace(next))) ||
      (c === 0x3c /* < */ && rest.startsWith('<|', i)) ||
      (c === 0x49 /* I */ && rest.startsWith('I hope', i))
    ) {
      end = i;
      break;
    }
  }
  let span = rest.slice(0, end).trim();
  const isIdx = span.lastIndexOf(' is ');
  if (isIdx >= 0) {
    const before = span.slice(0, isIdx);
    if (countDollars(before) % 2 === 0) span = span.slice(isIdx + 4).trim();
  }
  span = span.replace(/^"+|(?<!")"+$/g, '');
  if (!span) return null;
  let text = stripDelimiters(span);
  if (hasProse(text)) {
    const num = lastNumber(text, budget);
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

function runSteps(text: string, order: readonly ExtractionStep[], reference: boolean, budget: Budget): Extraction | null {
  for (const step of order) {
    budget.check();
    switch (step) {
      case 'answerTag': {
        const open = text.lastIndexOf('<answer>');
        if (open < 0) break;
        const close = text.indexOf('</answer>', open);
        const inner = text.slice(open + '<answer>'.length, close < 0 ? undefined : close);
        const rest = order.filter((s) => s !== 'answerTag');
        const found = runSteps(inner, rest, reference, budget);
        if (found) return found;
        if (inner.trim()) return { text: inner.trim(), method: 'answerTag' };
        break;
      }
      case 'boxed': {
        const box = lastBoxedAnswer(text, budget);
        if (box && box.content.trim()) {
          // A "final answer is x" stated after the last box is the later, final word.
          const span = order.includes('finalAnswer') ? finalAnswerSpan(text, reference, budget) : null;
          if (span && span.start >= box.end) return { text: span.content, method: 'finalAnswer' };
          return { text: box.content.trim(), method: 'boxed' };
        }
        break;
      }
      case 'hashes': {
        const last = lastMatch(/####\s*([^\n]*)/g, text, budget);
        if (last && last[1]!.trim()) return { text: last[1]!.trim(), method: 'hashes' };
        break;
      }
      case 'finalAnswer': {
        const span = finalAnswerSpan(text, reference, budget);
        if (span) return { text: span.content, method: 'finalAnswer' };
        break;
      }
      case 'math':
      case 'number': {
        const math = order.includes('math');
        if (math && reference) {
          // isWholeAnswer(text.replace(/\$/g, ' ')) and stripDelimiters(text) on the text's core: the
          // `$` and whitespace around it turn into spaces and are trimmed (the `$` just after the
          // core is kept, as it may be escaped); a core over 200 characters is not a whole answer.
          const [a, b] = coreSpan(text);
          if (b - a <= 200 && isWholeAnswer(text.slice(a, b).replace(/\$/g, ' '))) return { text: stripDelimiters(text.slice(a, b + 1)), method: 'whole' };
        }
        const lastRegion = math ? lastMathRegion(text, budget) : null;
        if (math && !lastRegion && isWholeAnswer(text)) return { text: text.trim(), method: 'whole' };
        const num = order.includes('number') ? lastNumber(text, budget) : null;
        if (lastRegion && (!num || num.start < lastRegion.end)) return { text: lastRegion.content.trim(), method: 'math' };
        if (num) return { text: num.content, method: 'number' };
        break;
      }
    }
  }
  return null;
}

/**
 * Extracts the final answer from a completion; null when nothing can be found. Linear in the
 * length of the completion; with a `budget` (verifyMath's), throws BudgetError when it runs out.
 */
export function extractAnswer(completion: string, options: ExtractOptions = {}, budget: Budget = UNLIMITED): Extraction | null {
  const text = afterThink(completion, options);
  if (text === null) return null;
  return runSteps(tail(text, options.maxLength ?? MAX_INPUT_LENGTH), options.order ?? DEFAULT_ORDER, false, budget);
}

/**
 * Extracts the answer from a reference: its boxed answer, its "final answer is", or the whole
 * string when it is a bare answer (`$125$ miles`, `$1$ and $2$`); a long solution is read like a completion.
 */
export function extractReference(reference: string, budget: Budget = UNLIMITED, maxLength = MAX_INPUT_LENGTH): Extraction | null {
  return runSteps(tail(reference, maxLength), ['boxed', 'finalAnswer', 'math', 'number'], true, budget);
}
