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
  while (i < s.length && s[i] === ' ') i++;
  if (i >= s.length) return null;
  if (s[i] === '{') {
    const end = matchBrace(s, i);
    if (end < 0) return null;
    return [s.slice(i + 1, end), end + 1];
  }
  if (s[i] === '\\') {
    const m = /^\\[a-zA-Z]+/.exec(s.slice(i));
    if (m) return [m[0], i + m[0].length];
    return [s.slice(i, i + 2), i + 2];
  }
  return [s[i]!, i + 1];
}

/** Index of the brace matching the `{` at `open`, or -1. Escaped braces `\{` are skipped. */
export function matchBrace(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '{') depth++;
    else if (c === '}') {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}

/** Rewrites `\frac12`, `\frac3{3}`, `\sqrt3`, `\sqrt[3]x` with explicit braces. */
function braceArguments(s: string): string {
  let out = '';
  let i = 0;
  while (i < s.length) {
    const m = /^\\(frac|binom|sqrt)(?![a-zA-Z])/.exec(s.slice(i, i + 7));
    if (!m) {
      out += s[i];
      i++;
      continue;
    }
    const name = m[1]!;
    let j = i + m[0].length;
    out += `\\${name}`;
    if (name === 'sqrt') {
      while (s[j] === ' ') j++;
      if (s[j] === '[') {
        const close = s.indexOf(']', j);
        if (close > 0) {
          out += s.slice(j, close + 1);
          j = close + 1;
        }
      }
      const a = readTexArg(s, j);
      if (!a) {
        i = j;
        continue;
      }
      out += `{${braceArguments(a[0])}}`;
      i = a[1];
      continue;
    }
    const a = readTexArg(s, j);
    const b = a ? readTexArg(s, a[1]) : null;
    if (!a || !b) {
      i = j;
      continue;
    }
    out += `{${braceArguments(a[0])}}{${braceArguments(b[0])}}`;
    i = b[1];
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
  s = s.replace(/\\\\|\\[!,;: ]|~|\\q?quad|\\(?:hspace|vspace)\*?\{[^}]*\}/g, (m) => (m === '\\\\' ? m : ' '));
  s = s.replace(/\\(?:pmod|bmod|mod)\s*\{[^}]*\}/g, '');
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
  s = s.trim().replace(/(?:\s|\\)*(?:[.,;:]|\\)\s*$/g, '').trim();
  s = s.replace(/^[.,;:]\s+/, '');
  // Percent.
  const pct = /\s*(?:\\%|%|\\text\{\s*\\?%\s*\}|(?<![a-zA-Z])(?:percentage|percent|pct)(?![a-zA-Z]))/g;
  if (!pct.test(s)) return [s];
  const stripped = s.replace(pct, '');
  const fraction = s.replace(pct, '/100');
  if (percent === 'strip') return [stripped];
  if (percent === 'fraction') return [fraction];
  return [stripped, fraction];
}
