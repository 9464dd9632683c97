/**
 * String-level clean-up of an extracted answer before parsing: spacing commands, display
 * wrappers, units, currency, degrees, thousands separators and the percent policy.
 */

export type PercentPolicy = 'strip' | 'fraction' | 'either';

/** Commands whose doubled backslash (`\\frac`) is collapsed: double-escaped LaTeX from JSON sources. */
const KNOWN_COMMANDS =
  'frac|dfrac|tfrac|cfrac|sqrt|boxed|fbox|text|textbf|textnormal|mathrm|mathbf|left|right|cdot|times|pi|le|leq|ge|geq|neq|ne|in|infty|cup|pm|mp|div|sin|cos|tan|log|ln|alpha|beta|gamma|theta|begin|end|quad|qquad|dots|ldots|cdots|approx|circ|mbox|operatorname|displaystyle';
const DOUBLE_ESCAPED = new RegExp(`\\\\\\\\(?=(?:${KNOWN_COMMANDS})(?![a-zA-Z]))`, 'g');

/** Reads one TeX argument at `i` (a brace group, a command or one character); returns [content, end]. */
export function readTexArg(s: string, i: number): [string, number] | null {
  const arg = texArg(s, i, s.length, null);
  return arg && [s.slice(arg[0], arg[1]), arg[2]];
}

/**
 * `readTexArg` on `s.slice(0, to)` without copying: returns [contentStart, contentEnd, end].
 * With `braces`, brace groups are matched through its one-pass table instead of a scan.
 */
function texArg(s: string, i: number, to: number, braces: Braces | null): [number, number, number] | null {
  while (i < to && s[i] === ' ') i++;
  if (i >= to) return null;
  if (s[i] === '{') {
    const end = braces ? braces.match(i) : matchBrace(s, i);
    if (end < 0 || end >= to) return null;
    return [i + 1, end, end + 1];
  }
  if (s[i] === '\\') {
    let j = i + 1;
    while (j < to && /[a-zA-Z]/.test(s[j]!)) j++;
    if (j > i + 1) return [i, j, j];
    // As readTexArg always did: the end may lie one past `to` for a trailing backslash.
    return [i, Math.min(i + 2, to), i + 2];
  }
  return [i, i + 1, i + 1];
}

/** Index of the brace matching the `{` at `open`, or -1. Escaped braces `\{` are skipped. */
export function matchBrace(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x5c /* \ */) i++;
    else if (c === 0x7b /* { */) depth++;
    else if (c === 0x7d /* } */) {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}

/**
 * `matchBrace` for many opening braces of one string in linear time. The first queries scan with
 * matchBrace; once they have scanned the length of the string (unclosed braces each scan to the
 * end: quadratic), one left-to-right pass (skipping `\x` as matchBrace does) pairs every `{`
 * with its `}` on a stack. A `{` that the pass never reads as a brace (one after an odd run of
 * backslashes) falls back to matchBrace.
 */
export class Braces {
  /** Per position: 0 not an opening brace of the pass, -1 unpaired, else the closing index + 1. */
  private close: Int32Array | null = null;
  /** Index of the last `}` (found on the first query): an open brace after it has no match. */
  private lastClose = -2;
  /** Characters scanned by matchBrace so far. */
  private scanned = 0;
  constructor(private readonly s: string) {}

  match(open: number): number {
    if (this.lastClose === -2) this.lastClose = this.s.lastIndexOf('}');
    if (open > this.lastClose) return -1;
    if (this.close === null && this.scanned < this.s.length) {
      const close = matchBrace(this.s, open);
      this.scanned += (close < 0 ? this.s.length : close) - open;
      return close;
    }
    this.close ??= pairBraces(this.s);
    const c = this.close[open] ?? 0;
    if (c === 0) return matchBrace(this.s, open);
    return c < 0 ? -1 : c - 1;
  }
}

/** The stack of pairBraces, kept between calls (it grows to the longest text seen). */
let braceStack = new Int32Array(1024);

function pairBraces(s: string): Int32Array {
  const close = new Int32Array(s.length);
  if (braceStack.length < s.length) braceStack = new Int32Array(s.length);
  const stack = braceStack;
  let top = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x5c /* \ */) i++;
    else if (c === 0x7b /* { */) stack[top++] = i;
    else if (c === 0x7d /* } */ && top > 0) close[stack[--top]!] = i + 1;
  }
  while (top > 0) close[stack[--top]!] = -1;
  return close;
}

const FRAC_LIKE = /^\\(frac|binom|sqrt)(?![a-zA-Z])/;

/**
 * `s.replace(full, by)` in linear time, for a global `full` whose alternatives `…\{[^}]*\}` make a
 * backtracking engine scan to the end of `s` from every `{` that no `}` follows (quadratic on
 * `\text{\text{\text{…`). After the last `}` those alternatives cannot match, so that tail is
 * replaced with `tail` (`full` without them). No match of `full` crosses the cut: the head ends with
 * `}`, which only a braced alternative's match contains, and only as its last character.
 */
export function replaceBraced(s: string, full: RegExp, tail: RegExp, by: string | ((m: string) => string)): string {
  const cut = s.lastIndexOf('}') + 1;
  // No `{` after the last `}`: every braced attempt finds its `}`, and `full` is linear as it is.
  const whole = s.indexOf('{', cut) < 0;
  if (typeof by === 'string') return whole ? s.replace(full, by) : s.slice(0, cut).replace(full, by) + s.slice(cut).replace(tail, by);
  return whole ? s.replace(full, by) : s.slice(0, cut).replace(full, by) + s.slice(cut).replace(tail, by);
}

/** Rewrites `\frac12`, `\frac3{3}`, `\sqrt3`, `\sqrt[3]x` with explicit braces (linear time; see braceRange). */
function braceArguments(s: string): string {
  return braceRange(s, 0, s.length, new Braces(s), { from: -1, at: -1 });
}

/**
 * braceArguments of `s.slice(from, to)`. Arguments are read in place (no substring copies), brace
 * groups are matched through `braces`, and the search for the `]` of `\sqrt[` remembers its last
 * answer (`bracket`): positions only grow, so every scan is linear in the whole string. Recursion
 * follows the nesting of arguments; verifyMath normalises answers of at most 5,000 characters.
 */
function braceRange(s: string, from: number, to: number, braces: Braces, bracket: { from: number; at: number }): string {
  let out = '';
  let i = from;
  while (i < to) {
    const k = s.indexOf('\\', i);
    if (k < 0 || k >= to) {
      out += s.slice(i, to);
      break;
    }
    out += s.slice(i, k);
    i = k;
    const m = FRAC_LIKE.exec(s.slice(i, Math.min(i + 7, to)));
    if (!m) {
      out += s[i];
      i++;
      continue;
    }
    const name = m[1]!;
    let j = i + m[0].length;
    out += `\\${name}`;
    if (name === 'sqrt') {
      while (j < to && s[j] === ' ') j++;
      if (j < to && s[j] === '[') {
        if (bracket.from < 0 || j < bracket.from || (bracket.at >= 0 && bracket.at < j)) {
          bracket.from = j;
          bracket.at = s.indexOf(']', j);
        }
        const close = bracket.at >= 0 && bracket.at < to ? bracket.at : -1;
        if (close > 0) {
          out += s.slice(j, close + 1);
          j = close + 1;
        }
      }
      const a = texArg(s, j, to, braces);
      if (!a) {
        i = j;
        continue;
      }
      out += `{${braceRange(s, a[0], a[1], braces, bracket)}}`;
      i = a[2];
      continue;
    }
    const a = texArg(s, j, to, braces);
    const b = a ? texArg(s, a[2], to, braces) : null;
    if (!a || !b) {
      i = j;
      continue;
    }
    out += `{${braceRange(s, a[0], a[1], braces, bracket)}}{${braceRange(s, b[0], b[1], braces, bracket)}}`;
    i = b[2];
  }
  return out;
}

/** Removes `\text{…}`-like unit annotations that follow a number or expression. */
const UNIT_WORDS =
  'square\\s+units|square\\s+feet|square\\s+meters|sq\\.?\\s*units|units?|cm|mm|km|m|kg|g|mg|ml|l|lbs?|pounds?|ft|feet|foot|inches|inch|in|miles?|mph|meters?|metres?|kilometers?|centimeters?|hours?|hrs?|minutes?|mins?|seconds?|secs?|days?|weeks?|months?|years?|dollars?|cents?|yuan|euros?|degrees?|students?|people|apples?|marbles?|cookies?|pieces?|cups?|liters?|litres?|gallons?|points?|ways?|times';
const TEXT_UNIT = new RegExp(`(\\d|\\}|\\))\\s*\\\\(?:text|textbf|mbox|mathrm|textnormal|textrm)\\{\\s*(?:${UNIT_WORDS})\\s*\\}(\\^\\{?\\d\\}?)?`, 'gi');
const PLAIN_UNIT_WORDS = UNIT_WORDS.replace(/\|(?:m|g|l|in)(?=\|)/g, '');
const PLAIN_UNIT = new RegExp(`(\\d|\\})\\s*(?:${PLAIN_UNIT_WORDS})(\\^\\{?\\d\\}?|²|³)?(?![a-zA-Z])`, 'gi');

export function normalizeAnswer(input: string, percent: PercentPolicy = 'strip'): string[] {
  // Collapse `\\frac` to `\frac` unless `\\` may be a matrix row break.
  let s = /\\begin\{|&/.test(input) ? input : input.replace(DOUBLE_ESCAPED, '\\');
  s = s.replace(/\\n(?![a-zA-Z])/g, ' ').replace(/[\n\r\t]/g, ' ');
  s = s.replace(/−/g, '-').replace(/[“”]/g, '"');
  // Display wrappers and spacing.
  s = s.replace(/\\(?:displaystyle|textstyle|scriptstyle|limits|nolimits)/g, '');
  s = s.replace(/\\(?:dfrac|tfrac|cfrac)(?![a-zA-Z])/g, '\\frac');
  s = s.replace(/\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big|biggl|biggr)(?![a-zA-Z])\s*(\\?[()[\]{}|.]|\\[lr]vert)?/g, (_m, d: string | undefined) =>
    d === undefined || d === '.' ? '' : d,
  );
  s = s.replace(/\\[lr]vert/g, '|');
  // Thousands separators written in LaTeX: 12,\!000 and 14{,}916.
  s = s.replace(/(\d)\{,\}(?=\d{3})/g, '$1');
  s = s.replace(/(\d),\\!\s*(?=\d{3})/g, '$1');
  s = replaceBraced(s, /\\\\|\\[!,;: ]|~|\\q?quad|\\(?:hspace|vspace)\*?\{[^}]*\}/g, /\\\\|\\[!,;: ]|~|\\q?quad/g, (m) => (m === '\\\\' ? m : ' '));
  s = replaceBraced(s, /\\(?:pmod|bmod|mod)\s*\{[^}]*\}/g, /(?!)/g, '');
  // Degrees, currency.
  s = s.replace(/\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|°|\\degree(?![a-zA-Z])/g, '');
  s = s.replace(/\\\$|[€£¥₹]|\bUSD\b|\bRs\.?/g, '');
  s = s.replace(/\$/g, '');
  // Units.
  s = s.replace(TEXT_UNIT, '$1');
  s = s.replace(/(\d|\}|\))\s*\\(?:text|mbox)\{\s*[a-zA-Z][a-zA-Z .]*\}\s*(\^\{?\d\}?)?\s*$/g, '$1');
  s = s.replace(PLAIN_UNIT, '$1');
  s = s.replace(/(\d)(m|cm|km)[²³]/g, '$1');
  s = braceArguments(s);
  // Trailing punctuation and stray backslashes.
  // The lookbehinds (here and in `pct`) start a match only where a run begins — the same matches,
  // as a match inside a run extends to one at its start — so a run is not rescanned from each character.
  s = s
    .trim()
    .replace(/(?<![\s\\])(?:\s|\\)*(?:[.,;:]|\\)\s*$/g, '')
    .trim();
  s = s.replace(/^[.,;:]\s+/, '');
  // Percent.
  const pct = /(?<!\s)\s*(?:\\%|%|\\text\{\s*\\?%\s*\}|(?<![a-zA-Z])(?:percentage|percent|pct)(?![a-zA-Z]))/g;
  if (!pct.test(s)) return [s];
  const stripped = s.replace(pct, '');
  const fraction = s.replace(pct, '/100');
  if (percent === 'strip') return [stripped];
  if (percent === 'fraction') return [fraction];
  return [stripped, fraction];
}
