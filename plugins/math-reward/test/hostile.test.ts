/**
 * Hostile input (issue 21, item 6): extraction and normalisation scan linearly, the time budget
 * covers extraction, long answers are refused before they are normalised, and the reference cache
 * is bounded in bytes. Time bounds are deliberately generous (2 s for calls that take tens of
 * milliseconds; the quadratic scans took 10 s at 64 KB and would take hours at 1 MB).
 */
import { describe, expect, it } from 'vitest';
import { extractAnswer, verifyMath, type VerifyOptions, type VerifyResult } from '../src/index.js';
import { Budget, BudgetError } from '../src/ast.js';
import { findBoxes, findMathRegions, proseWords } from '../src/extract.js';
import { Braces, matchBrace, normalizeAnswer } from '../src/normalize.js';
import { clearReferenceCache, referenceCacheStats } from '../src/verify.js';

const KB = 1024;
const MB = 1024 * KB;
const SIZES = [
  ['64 KB', 64 * KB],
  ['128 KB', 128 * KB],
  ['1 MB', MB],
] as const;
const DEPTH = 100_000;
const BOUND_MS = 2000;

/** `unit` repeated to `chars` characters. */
const rep = (unit: string, chars: number): string => unit.repeat(Math.floor(chars / unit.length));

function graded(completion: string, reference: string, options?: VerifyOptions): VerifyResult & { ms: number } {
  const t0 = performance.now();
  const res = verifyMath(completion, reference, options);
  return { ...res, ms: performance.now() - t0 };
}

function timed<T>(fn: () => T): { value: T; ms: number } {
  const t0 = performance.now();
  const value = fn();
  return { value, ms: performance.now() - t0 };
}

describe('hostile completions and references are graded in linear time', () => {
  it.each(SIZES)('%s of unclosed \\( and \\[', (_name, n) => {
    for (const open of ['\\(', '\\[']) {
      const s = rep(open, n);
      const c = graded(s, '42');
      expect(c).toMatchObject({ equal: false, extracted: null, reason: 'no answer' });
      expect(c.ms).toBeLessThan(BOUND_MS);
      const r = graded('\\boxed{42}', s);
      expect(r).toMatchObject({ equal: false, reason: 'no reference answer' });
      expect(r.ms).toBeLessThan(BOUND_MS);
      // The answer after the garbage is still found.
      const then = graded(`${s}\n\nTherefore, the final answer is \\boxed{42}.`, '42');
      expect(then).toMatchObject({ equal: true, extracted: '42' });
      expect(then.ms).toBeLessThan(BOUND_MS);
    }
  });

  it.each(SIZES)('%s of unclosed \\boxed{', (_name, n) => {
    const s = rep('\\boxed{', n);
    const c = graded(s, '42');
    expect(c).toMatchObject({ equal: false, extracted: null, reason: 'no answer' });
    expect(c.ms).toBeLessThan(BOUND_MS);
    const r = graded('\\boxed{42}', s);
    expect(r).toMatchObject({ equal: false, reason: 'no reference answer' });
    expect(r.ms).toBeLessThan(BOUND_MS);
    const then = graded(`${s} so \\boxed{42}`, '42');
    expect(then).toMatchObject({ equal: true, extracted: '42' });
    expect(then.ms).toBeLessThan(BOUND_MS);
  });

  it.each(SIZES)('%s of repeated \\text{', (_name, n) => {
    const texts = rep('\\text{', n - 64);
    const plain = graded(texts, '42');
    expect(plain).toMatchObject({ equal: false, extracted: null, reason: 'no answer' });
    expect(plain.ms).toBeLessThan(BOUND_MS);
    // After "the answer is": the span is all \text{ (no prose), far too long to be an answer.
    const span = graded(`the answer is ${texts}`, '42');
    expect(span).toMatchObject({ equal: false, reason: 'answer too long' });
    expect(span.ms).toBeLessThan(BOUND_MS);
    // Between two boxes: not a connector, so the last box alone is the answer.
    const gap = graded(`\\boxed{1}${texts}\\boxed{2}`, '2');
    expect(gap).toMatchObject({ equal: true, extracted: '2' });
    expect(gap.ms).toBeLessThan(BOUND_MS);
  });

  it('100,000-deep nesting of braces and parentheses', () => {
    for (const [open, close] of [
      ['{', '}'],
      ['(', ')'],
    ] as const) {
      const balanced = `${open.repeat(DEPTH)}1${close.repeat(DEPTH)}`;
      // No box or math region: the last number is the answer.
      const one = graded(balanced, '1');
      expect(one).toMatchObject({ equal: true, extracted: '1' });
      expect(one.ms).toBeLessThan(BOUND_MS);
      expect(graded(balanced, '2')).toMatchObject({ equal: false, extracted: '1', reason: 'not equal' });
      expect(graded('\\boxed{2}', balanced)).toMatchObject({ equal: false, reason: 'not equal' });
      const unclosed = graded(open.repeat(DEPTH), '1');
      expect(unclosed).toMatchObject({ equal: false, extracted: null, reason: 'no answer' });
      expect(unclosed.ms).toBeLessThan(BOUND_MS);
    }
    // Deep answers are extracted whole and refused as too long, never parsed.
    for (const deep of [
      `$${'('.repeat(DEPTH)}1${')'.repeat(DEPTH)}$`,
      `${'\\boxed{'.repeat(DEPTH)}1${'}'.repeat(DEPTH)}`,
      `\\boxed{${'\\frac{1}{'.repeat(DEPTH)}2${'}'.repeat(DEPTH)}}`,
    ]) {
      const c = graded(deep, '1');
      expect(c).toMatchObject({ equal: false, reason: 'answer too long' });
      expect(c.ms).toBeLessThan(BOUND_MS);
      const r = graded('\\boxed{1}', deep);
      expect(r).toMatchObject({ equal: false, reason: 'parse error: answer too long to parse' });
      expect(r.ms).toBeLessThan(BOUND_MS);
    }
  });

  it('a 1 MB reference: its answer is refused before it is normalised; a long solution is read', () => {
    // Normalising this answer used to be quadratic (regexes retried from every space of the run).
    const hugeAnswer = `\\boxed{1${rep(' \\', MB - 64)}x}`;
    expect(hugeAnswer.length).toBeLessThanOrEqual(MB);
    const r = graded('\\boxed{1}', hugeAnswer);
    expect(r).toMatchObject({ equal: false, reason: 'parse error: answer too long to parse' });
    expect(r.ms).toBeLessThan(BOUND_MS);
    const solution = `${rep('so we add up the terms. ', MB - 64)}\\boxed{\\frac{1}{2}}`;
    const s = graded('$0.5$', solution);
    expect(s).toMatchObject({ equal: true, reason: 'exact' });
    expect(s.ms).toBeLessThan(BOUND_MS);
  });

  it('normalisation scans linearly', () => {
    const n = 256 * KB;
    for (const s of [
      rep('\\frac{', n),
      rep('\\sqrt[', n),
      rep('\\hspace{', n),
      rep('\\pmod{', n),
      `1${rep(' \\', n)}x`,
      `1${' '.repeat(n)}x`,
      `${rep('\\frac{1}{', 20_000)}2${'}'.repeat(20_000)}`,
    ]) {
      const { ms } = timed(() => normalizeAnswer(s, 'either'));
      expect(ms).toBeLessThan(BOUND_MS);
    }
    // Same results as before on small inputs.
    expect(normalizeAnswer('\\frac12 + \\sqrt[3]8 \\hspace{1cm} 5 \\pmod{7} .')).toEqual(['\\frac{1}{2} + \\sqrt[3]{8}   5']);
    expect(normalizeAnswer('50  \\%', 'either')).toEqual(['50', '50/100']);
  });

  it('reads only the last maxLength characters of a longer input', () => {
    const filler = rep('so far so good. ', 4 * MB);
    const c = graded(`${filler}\\boxed{42}`, '42');
    expect(c).toMatchObject({ equal: true, extracted: '42' });
    expect(c.ms).toBeLessThan(BOUND_MS);
    // A box that begins before the last maxLength characters is cut off: what is left is read.
    expect(extractAnswer('\\boxed{12345}', { maxLength: 4 })?.text).toBe('345}');
    expect(verifyMath('\\boxed{12345}', '12345', { maxLength: 4 }).equal).toBe(false);
    expect(verifyMath('\\boxed{45}', 'The answer is \\boxed{12345}', { maxLength: 3 })).toMatchObject({ equal: true, reason: 'identical' });
  });
});

describe('the time budget covers extraction', () => {
  it('a spent budget stops each scan of extraction', () => {
    for (const text of [
      rep('\\boxed{1} ', 64 * KB),
      rep('$x$ ', 64 * KB),
      rep('#### 1\n', 64 * KB),
      rep('7 ', 64 * KB),
      `the answer is ${'1'.repeat(64 * KB)}`,
    ]) {
      expect(() => extractAnswer(text, {}, new Budget(-1))).toThrow(BudgetError);
      expect(extractAnswer(text, {}, new Budget(60_000))).not.toBeNull();
    }
  });
  it('verifyMath reports a timeout when extraction alone outlasts timeoutMs', () => {
    // 250,000 math regions: milliseconds of extraction, over a zero budget.
    const res = verifyMath(rep('$x$ ', MB), '42', { timeoutMs: 0 });
    expect(res).toMatchObject({ equal: false, extracted: null });
    expect(res.reason).toMatch(/^timeout/);
    // The reference is extracted under the budget too.
    expect(verifyMath('\\boxed{42}', rep('$x$ ', MB), { timeoutMs: 0 }).reason).toMatch(/^timeout/);
  });
});

describe('the reference cache', () => {
  it('stays under its byte bound after many large distinct references', () => {
    clearReferenceCache();
    const { maxBytes } = referenceCacheStats();
    const filler = rep('a long solution line. ', 512 * KB);
    for (let i = 0; i < 64; i++) {
      expect(verifyMath(`\\boxed{${i}}`, `${i}: ${filler}\\boxed{${i}}`).equal).toBe(true);
      expect(referenceCacheStats().bytes).toBeLessThanOrEqual(maxBytes);
    }
    const after = referenceCacheStats();
    expect(after.entries).toBeGreaterThan(0);
    expect(after.entries).toBeLessThan(64);
    // Small references are cached as before, and the cache still answers.
    for (let i = 0; i < 100; i++) expect(verifyMath(`\\boxed{${i}}`, String(i)).equal).toBe(true);
    expect(referenceCacheStats().bytes).toBeLessThanOrEqual(maxBytes);
    clearReferenceCache();
    expect(referenceCacheStats()).toMatchObject({ entries: 0, bytes: 0 });
  });
});

// ------------------------------------------------------------ agreement with the straightforward scans

/** The scans as they were before they were made linear (quadratic on hostile input, fine on short strings). */
const naive = {
  findBoxes(s: string): { content: string; start: number; end: number }[] {
    const out: { content: string; start: number; end: number }[] = [];
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
  },
  findMathRegions(s: string): { content: string; start: number; end: number }[] {
    const out: { content: string; start: number; end: number }[] = [];
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
  },
  proseWords(s: string): number {
    const t = s.replace(/\\text\w*\{[^}]*\}|\\mbox\{[^}]*\}|\\[a-zA-Z]+/g, ' ');
    return (t.match(/[A-Za-z]{3,}/g) ?? []).filter((w) => !/^(?:and|pct|percent|percentage)$/i.test(w)).length;
  },
};

/** mulberry32 */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = [
  '\\boxed{',
  '\\boxed ',
  '\\fbox{',
  '\\text{',
  '\\mbox{',
  '\\frac',
  '{',
  '}',
  '\\{',
  '\\}',
  '$',
  '$$',
  '\\$',
  '\\(',
  '\\)',
  '\\[',
  '\\]',
  '\\',
  '\\\\',
  '1',
  '23',
  'ab',
  'word',
  ' and ',
  ' ',
  '\n',
  '.',
  ',',
];

/** Delimiters and backslash runs, for walks long enough to leave their first steps by hand. */
const DENSE = ['\\', '\\', '\\\\', '$', '$$', '\\$', '\\(', '\\)', '\\[', '\\]', '(', '{', '}', 'a', ' ', '1'];

function randomStrings(count: number, seed: number, pieces = PIECES, maxPieces = 40): string[] {
  const rand = prng(seed);
  return Array.from({ length: count }, () => {
    let s = '';
    const n = Math.floor(rand() * maxPieces);
    for (let i = 0; i < n; i++) s += pieces[Math.floor(rand() * pieces.length)];
    return s;
  });
}

describe('the linear scans agree with the straightforward ones', () => {
  const strings = [...randomStrings(5000, 21), ...randomStrings(500, 22, DENSE, 600)];
  it('Braces.match equals matchBrace at every position', () => {
    for (const s of strings) {
      const braces = new Braces(s);
      for (let i = 0; i < s.length; i++) if (s[i] === '{') expect(braces.match(i)).toBe(matchBrace(s, i));
    }
  });
  it('findBoxes, findMathRegions and proseWords', () => {
    for (const s of strings) {
      expect(findBoxes(s)).toEqual(naive.findBoxes(s));
      expect(findMathRegions(s)).toEqual(naive.findMathRegions(s));
      expect(proseWords(s)).toBe(naive.proseWords(s));
    }
  });
});
