/**
 * Hostile-input benchmark of verifyMath: ≥ 10,000 seeded inputs — random mixes of LaTeX fragments
 * (`\boxed{`, `\frac`, `\text{`, braces, parentheses, `$`, digits, unicode) and pathological
 * families up to 1 MB and 100,000-deep nesting, as completion and as reference — each graded once.
 * Prints the slowest families, then one JSON line: {"calls", "maxMs", "p99Ms", "meanMs", "slowest",
 * "maxCpuMs", "wrong", "loadAvg"}: wall-clock times per call, the process CPU time of the call that
 * took the most (on a shared machine wall time includes waiting for a core), the calls whose
 * verdict differs from what the rules give, and the 1-minute load average when the run began.
 *
 * FUZZ_SEED (default 1) picks the inputs, FUZZ_CALLS (default 10000) the number of random mixes;
 * FUZZ_SIZES (KB, default `64,128,1024`) and FUZZ_DEPTH (default 100000) size the pathological
 * families (smaller ones time a quadratic implementation in reasonable time); FUZZ_MAX_LENGTH sets
 * verifyMath's maxLength (default: its own, 1,048,576; `Infinity` reads every input whole).
 */
import os from 'node:os';
import { verifyMath } from '../src/index.js';

const seed = Number(process.env.FUZZ_SEED ?? 1);
const randomCalls = Number(process.env.FUZZ_CALLS ?? 10_000);
const KB = 1024;
const SIZES = (process.env.FUZZ_SIZES ?? '64,128,1024').split(',').map((k) => Number(k) * KB);
const DEPTH = Number(process.env.FUZZ_DEPTH ?? 100_000);
const options = process.env.FUZZ_MAX_LENGTH ? { maxLength: Number(process.env.FUZZ_MAX_LENGTH) } : {};

/** mulberry32: a small seeded PRNG. */
function prng(a: number): () => number {
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = prng(seed);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

const FRAGMENTS = [
  '\\boxed{',
  '\\fbox{',
  '\\frac',
  '\\frac{',
  '\\dfrac',
  '\\sqrt',
  '\\sqrt[',
  '\\text{',
  '\\mbox{',
  '\\textbf{',
  '\\left(',
  '\\right)',
  '{',
  '}',
  '{',
  '}',
  '(',
  ')',
  '[',
  ']',
  '\\{',
  '\\}',
  '$',
  '$',
  '$$',
  '\\(',
  '\\)',
  '\\[',
  '\\]',
  '\\',
  '\\\\',
  '0',
  '1',
  '2',
  '3',
  '4',
  '5',
  '6',
  '7',
  '8',
  '9',
  '12',
  '3.5',
  '1,000',
  '-',
  '+',
  '^',
  '_',
  '/',
  '=',
  '<',
  '\\le',
  ',',
  ';',
  '.',
  '%',
  '\\%',
  ' ',
  ' ',
  ' ',
  '\n',
  'x',
  'y',
  'n',
  'the answer is ',
  'Final Answer: ',
  'answer: ',
  ' and ',
  '#### ',
  '<answer>',
  '</answer>',
  '</think>',
  '\\pi',
  '\\infty',
  '\\cdot',
  '\\times',
  '\\pm',
  '\\cup',
  '\\in',
  '\\begin{pmatrix}',
  '\\end{pmatrix}',
  '&',
  '\\quad',
  '\\,',
  '^\\circ',
  'π',
  '√',
  '≤',
  '∞',
  '±',
  '×',
  '−',
  '“',
  '”',
  '°',
  '€',
  'é',
  'ß',
  '中文',
  '答案',
  '🙂',
  '\u200b',
  '\u0000',
  '\ud800',
  'cm',
  'units',
  'degrees',
  ' percent',
];
const REFERENCES = [
  '42',
  '-7',
  '0',
  '\\frac{1}{2}',
  '0.5',
  '3\\sqrt{2}',
  'x^2+2x+1',
  '(1,2]',
  '\\{1,2,3\\}',
  'x = 5',
  '\\pi/4',
  '10\\%',
  '\\text{odd}',
  '1,000',
  '2, 3',
  'x > 2',
  '\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}',
  '\\$12.50',
  '45^\\circ',
  'The answer is $\\boxed{17}$.',
];

function randomMix(): string {
  const target = Math.floor(Math.exp(rand() * Math.log(6000)));
  let s = '';
  while (s.length < target) s += pick(FRAGMENTS);
  return s;
}

interface Input {
  family: string;
  /** Builds the pair when it is graded, so that the process does not hold every 1 MB input at once. */
  make: () => { completion: string; reference: string };
  /** The verdict the grading rules give (checked, counted as `wrong` when it differs). */
  equal?: boolean;
}

const rep = (unit: string, chars: number): string => unit.repeat(Math.max(1, Math.floor(chars / unit.length)));

/** Pathological families: each a function of the size in characters. */
const FAMILIES: Record<string, (n: number) => string> = {
  'open \\(': (n) => rep('\\(', n),
  'open \\[': (n) => rep('\\[', n),
  'unclosed \\boxed{': (n) => rep('\\boxed{', n),
  'unclosed \\boxed{ text': (n) => rep('\\boxed{1} \\text{', n),
  'repeated \\text{': (n) => rep('\\text{', n),
  'answer is \\text{': (n) => `the answer is ${rep('\\text{', n)}`,
  'boxes with \\text{ gap': (n) => `\\boxed{1}${rep('\\text{', n)}\\boxed{2}`,
  'repeated \\frac{': (n) => rep('\\frac{', n),
  'repeated \\sqrt[': (n) => rep('\\sqrt[', n),
  'repeated $': (n) => rep('$', n),
  'many $x$ regions': (n) => rep('$x$ ', n),
  'repeated $\\': (n) => rep('$\\', n),
  'repeated \\$': (n) => rep('\\$', n),
  'braces {': (n) => rep('{', n),
  'parens (': (n) => rep('(', n),
  backslashes: (n) => rep('\\', n),
  'spaces and \\': (n) => `1${rep(' \\', n)}x`,
  digits: (n) => rep('7', n),
  'digits and commas': (n) => rep('1,', n),
  words: (n) => rep('the answer is 12. ', n),
  '#### ': (n) => rep('#### ', n),
  '<answer>': (n) => rep('<answer>', n),
  unicode: (n) => rep('π√≤∞中🙂', n),
};

/** 100,000-deep (FUZZ_DEPTH) nesting, balanced and not. */
const NESTED: Record<string, () => string> = {
  'nested {…} balanced': () => `${'{'.repeat(DEPTH)}1${'}'.repeat(DEPTH)}`,
  'nested {{{ open': () => '{'.repeat(DEPTH),
  'nested (…) balanced': () => `${'('.repeat(DEPTH)}1${')'.repeat(DEPTH)}`,
  'nested ((( open': () => '('.repeat(DEPTH),
  'nested \\boxed{…}': () => `${'\\boxed{'.repeat(DEPTH)}1${'}'.repeat(DEPTH)}`,
  'nested \\frac{…}{1}': () => `${'\\frac{'.repeat(DEPTH)}1${'}{1}'.repeat(DEPTH)}`,
  'nested $\\boxed{(…)}$': () => `$\\boxed{${'('.repeat(DEPTH)}1${')'.repeat(DEPTH)}}$`,
};

function inputs(): Input[] {
  const out: Input[] = [];
  for (let i = 0; i < randomCalls; i++) {
    const completion = randomMix();
    const reference = rand() < 0.1 ? randomMix() : pick(REFERENCES);
    out.push({ family: 'random mix', make: () => ({ completion, reference }) });
  }
  for (const [name, make] of Object.entries(FAMILIES)) {
    for (const n of SIZES) {
      const size = n >= 1024 * KB ? `${n / 1024 / KB} MB` : `${n / KB} KB`;
      out.push({ family: `${name} ${size} (completion)`, make: () => ({ completion: make(n), reference: '42' }), equal: false });
      // A final answer after the garbage is still found.
      const then = (): string => `${make(n)}\n\nTherefore, the final answer is \\boxed{42}.`;
      out.push({ family: `${name} ${size} (completion, then \\boxed{42})`, make: () => ({ completion: then(), reference: '42' }), equal: true });
      out.push({ family: `${name} ${size} (reference)`, make: () => ({ completion: '\\boxed{42}', reference: make(n) }), equal: false });
    }
  }
  for (const [name, make] of Object.entries(NESTED)) {
    out.push({ family: `${name} (completion)`, make: () => ({ completion: make(), reference: '2' }), equal: false });
    out.push({ family: `${name} (reference)`, make: () => ({ completion: '\\boxed{2}', reference: make() }), equal: false });
  }
  return out;
}

const all = inputs();
// Shuffle so that the pathological inputs meet a warm, busy process rather than run last.
for (let i = all.length - 1; i > 0; i--) {
  const j = Math.floor(rand() * (i + 1));
  [all[i], all[j]] = [all[j]!, all[i]!];
}
// Warm the JIT (not counted): normal answers, and each family at 4 KB.
for (let i = 0; i < 500; i++) verifyMath(`so the answer is $\\boxed{${i}}$`, pick(REFERENCES));
for (const make of Object.values(FAMILIES)) {
  verifyMath(make(4 * KB), '42');
  verifyMath('\\boxed{42}', make(4 * KB));
}

const loadAvg = os.loadavg()[0]!;
const times: number[] = [];
let maxCpuMs = 0;
const byFamily = new Map<string, { max: number; calls: number }>();
let slowest = { ms: -1, family: '' };
let wrong = 0;
const wrongFamilies = new Set<string>();
for (const inp of all) {
  const { completion, reference } = inp.make();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const res = verifyMath(completion, reference, options);
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  maxCpuMs = Math.max(maxCpuMs, (cpu.user + cpu.system) / 1000);
  times.push(ms);
  if (inp.equal !== undefined && res.equal !== inp.equal) {
    wrong++;
    wrongFamilies.add(`${inp.family}: ${res.reason}`);
  }
  const key = inp.family.replace(/ \d+ [KM]B/, '');
  const f = byFamily.get(key) ?? { max: 0, calls: 0 };
  f.max = Math.max(f.max, ms);
  f.calls++;
  byFamily.set(key, f);
  if (ms > slowest.ms) slowest = { ms, family: inp.family };
}

const sorted = [...times].sort((a, b) => a - b);
const p99 = sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)]!;
const mean = times.reduce((a, b) => a + b, 0) / times.length;
console.log(
  `seed ${seed}: ${times.length} calls (${randomCalls} random mixes, ${times.length - randomCalls} pathological); load average ${loadAvg.toFixed(2)} on ${os.cpus().length} CPUs`,
);
console.log('slowest families (max ms over their calls):');
for (const [name, f] of [...byFamily].sort((a, b) => b[1].max - a[1].max).slice(0, 12)) {
  console.log(`  ${f.max.toFixed(2).padStart(9)} ms  ${name} (${f.calls} calls)`);
}
for (const w of wrongFamilies) console.log(`  unexpected verdict: ${w}`);
const round = (x: number): number => Math.round(x * 100) / 100;
console.log(
  JSON.stringify({
    calls: times.length,
    maxMs: round(slowest.ms),
    p99Ms: round(p99),
    meanMs: round(mean),
    slowest: slowest.family,
    maxCpuMs: round(maxCpuMs),
    wrong,
    loadAvg: round(loadAvg),
  }),
);
