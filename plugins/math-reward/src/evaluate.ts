/**
 * Evaluation of answer trees: exact rational arithmetic on BigInt first, then numeric
 * evaluation at sample points through mathjs (complex numbers, matrices, special functions).
 */
import { compile, type EvalFunction } from 'mathjs';
import { BudgetError, type Budget, type Node } from './ast.js';

export interface Rat {
  n: bigint;
  d: bigint;
}

const MAX_BITS = 60_000;

function gcd(a: bigint, b: bigint): bigint {
  let x = a < 0n ? -a : a;
  let y = b < 0n ? -b : b;
  while (y) [x, y] = [y, x % y];
  return x;
}
function rat(n: bigint, d: bigint = 1n): Rat {
  if (d === 0n) throw new RangeError('division by zero');
  if (d < 0n) [n, d] = [-n, -d];
  const g = gcd(n, d) || 1n;
  return { n: n / g, d: d / g };
}
function bits(x: bigint): number {
  return (x < 0n ? -x : x).toString(16).length * 4;
}
function isqrt(x: bigint): bigint | null {
  if (x < 0n) return null;
  if (x < 2n) return x;
  let r = BigInt(Math.floor(Math.sqrt(Number(x))));
  // Newton refinement for big values.
  for (let i = 0; i < 200; i++) {
    const next = (r + x / r) >> 1n;
    if (next === r || next === r + 1n || next === r - 1n) {
      for (const c of [next - 1n, next, next + 1n]) if (c >= 0n && c * c === x) return c;
      return null;
    }
    r = next;
  }
  return null;
}

export function ratEquals(a: Rat, b: Rat): boolean {
  return a.n === b.n && a.d === b.d;
}
export function ratToNumber(a: Rat): number {
  const bn = bits(a.n);
  const bd = bits(a.d);
  if (bn < 1000 && bd < 1000) return Number(a.n) / Number(a.d);
  // Scale both down to keep the ratio.
  const shift = BigInt(Math.max(0, Math.max(bn, bd) - 1000));
  return Number(a.n >> shift) / Number(a.d >> shift);
}

function parseDecimal(text: string): Rat {
  const [int = '0', frac = ''] = text.split('.');
  return rat(BigInt((int || '0') + frac), 10n ** BigInt(frac.length));
}

/** The exact rational value, or null when the tree is not a rational constant. */
export function exactValue(node: Node, budget: Budget): Rat | null {
  budget.check();
  switch (node.k) {
    case 'num':
      return parseDecimal(node.text);
    case 'neg': {
      const a = exactValue(node.a, budget);
      return a ? { n: -a.n, d: a.d } : null;
    }
    case 'add': {
      let acc = rat(0n);
      for (const t of node.terms) {
        const v = exactValue(t, budget);
        if (!v) return null;
        acc = rat(acc.n * v.d + v.n * acc.d, acc.d * v.d);
      }
      return acc;
    }
    case 'mul': {
      let acc = rat(1n);
      for (const t of node.factors) {
        const v = exactValue(t, budget);
        if (!v) return null;
        acc = rat(acc.n * v.n, acc.d * v.d);
        if (bits(acc.n) + bits(acc.d) > MAX_BITS) throw new BudgetError('number too large');
      }
      return acc;
    }
    case 'div': {
      const a = exactValue(node.a, budget);
      const b = exactValue(node.b, budget);
      if (!a || !b || b.n === 0n) return null;
      return rat(a.n * b.d, a.d * b.n);
    }
    case 'pow': {
      const a = exactValue(node.a, budget);
      const b = exactValue(node.b, budget);
      if (!a || !b) return null;
      if (b.d === 2n && a.n >= 0n) {
        // Rational square roots: exact only for perfect squares.
        const rn = isqrt(a.n);
        const rd = isqrt(a.d);
        if (rn === null || rd === null) return null;
        return powInt(rat(rn, rd), b.n);
      }
      if (b.d !== 1n) return null;
      return powInt(a, b.n);
    }
    case 'fn': {
      if (node.name === 'sqrt' && node.args.length === 1) {
        const a = exactValue(node.args[0]!, budget);
        if (!a || a.n < 0n) return null;
        const rn = isqrt(a.n);
        const rd = isqrt(a.d);
        return rn === null || rd === null ? null : rat(rn, rd);
      }
      if (node.name === 'abs' && node.args.length === 1) {
        const a = exactValue(node.args[0]!, budget);
        return a ? { n: a.n < 0n ? -a.n : a.n, d: a.d } : null;
      }
      if (node.name === 'factorial' && node.args.length === 1) {
        const a = exactValue(node.args[0]!, budget);
        if (!a || a.d !== 1n || a.n < 0n) return null;
        if (a.n > 5000n) throw new BudgetError('factorial too large');
        let f = 1n;
        for (let i = 2n; i <= a.n; i++) f *= i;
        return rat(f);
      }
      return null;
    }
    default:
      return null;
  }
}

function powInt(a: Rat, e: bigint): Rat | null {
  if (e === 0n) return rat(1n);
  if (a.n === 0n) return e > 0n ? rat(0n) : null;
  const mag = e < 0n ? -e : e;
  const size = Math.max(bits(a.n), bits(a.d)) * Number(mag);
  if (mag > 100_000n || size > MAX_BITS) throw new BudgetError('power too large');
  const n = a.n ** mag;
  const d = a.d ** mag;
  return e > 0n ? rat(n, d) : rat(d, n);
}

/** Whether the tree holds a decimal literal (an approximation as written). */
export function hasDecimal(node: Node): boolean {
  switch (node.k) {
    case 'num':
      return node.decimals > 0;
    case 'neg':
      return hasDecimal(node.a);
    case 'add':
      return node.terms.some(hasDecimal);
    case 'mul':
      return node.factors.some(hasDecimal);
    case 'div':
    case 'pow':
      return hasDecimal(node.a) || hasDecimal(node.b);
    case 'fn':
      return node.args.some(hasDecimal);
    default:
      return false;
  }
}

/** Decimal places of a bare (possibly negated) decimal literal, or -1. */
export function literalDecimals(node: Node): number {
  if (node.k === 'num') return node.decimals;
  if (node.k === 'neg') return literalDecimals(node.a);
  return -1;
}

// ---- numeric evaluation through mathjs ----

const FN_MAP: Record<string, string> = {
  sin: 'sin',
  cos: 'cos',
  tan: 'tan',
  sec: 'sec',
  csc: 'csc',
  cot: 'cot',
  arcsin: 'asin',
  arccos: 'acos',
  arctan: 'atan',
  arcsec: 'asec',
  arccsc: 'acsc',
  arccot: 'acot',
  sinh: 'sinh',
  cosh: 'cosh',
  tanh: 'tanh',
  log: 'log',
  ln: 'log',
  log10: 'log10',
  exp: 'exp',
  sqrt: 'sqrt',
  abs: 'abs',
  factorial: 'factorial',
  binom: 'combinations',
  max: 'max',
  min: 'min',
  det: 'det',
  gcd: 'gcd',
  lcm: 'lcm',
};

/** Serialises a tree to a mathjs expression; symbols become `v0`, `v1`… per `names`. Null when not numeric. */
export function toMathjs(node: Node, names: Map<string, string>): string | null {
  const r = (n: Node): string | null => toMathjs(n, names);
  switch (node.k) {
    case 'num':
      return node.text.startsWith('.') ? `0${node.text}` : node.text;
    case 'sym': {
      let v = names.get(node.name);
      if (!v) {
        v = `v${names.size}`;
        names.set(node.name, v);
      }
      return v;
    }
    case 'const':
      return node.name === 'pi' ? 'pi' : 'Infinity';
    case 'neg': {
      const a = r(node.a);
      return a === null ? null : `(-(${a}))`;
    }
    case 'add': {
      const parts = node.terms.map(r);
      return parts.includes(null) ? null : `(${parts.join(' + ')})`;
    }
    case 'mul': {
      const parts = node.factors.map(r);
      return parts.includes(null) ? null : `(${parts.join(' * ')})`;
    }
    case 'div': {
      const a = r(node.a);
      const b = r(node.b);
      return a === null || b === null ? null : `((${a}) / (${b}))`;
    }
    case 'pow': {
      const a = r(node.a);
      const b = r(node.b);
      return a === null || b === null ? null : `((${a}) ^ (${b}))`;
    }
    case 'fn': {
      const args = node.args.map(r);
      if (args.includes(null)) return null;
      if (node.name === 'root') return `nthRoot(${args[0]}, ${args[1]})`;
      const f = FN_MAP[node.name];
      return f ? `${f}(${args.join(', ')})` : null;
    }
    case 'matrix': {
      const rows = node.rows.map((row) => row.map(r));
      if (rows.some((row) => row.includes(null))) return null;
      return `[${rows.map((row) => `[${row.join(', ')}]`).join(', ')}]`;
    }
    default:
      return null;
  }
}

const compiled = new Map<string, EvalFunction | null>();
function getCompiled(expr: string): EvalFunction | null {
  let f = compiled.get(expr);
  if (f === undefined) {
    try {
      f = compile(expr);
    } catch {
      f = null;
    }
    if (compiled.size > 20_000) compiled.clear();
    compiled.set(expr, f);
  }
  return f;
}

/** Sample points for symbols: irrational-ish values away from common singularities. */
const SAMPLES = [
  [0.7390851332, 1.3247179572, 2.2360679775, 0.5772156649, 1.6180339887, 2.7182818284, 1.2020569031, 0.9159655942],
  [1.4142135623, 0.6931471805, 1.7320508075, 2.502907875, 0.8346268416, 1.1874523511, 2.0794415416, 0.3678794411],
  [2.6651441426, 1.9021605831, 0.4142135623, 1.0986122886, 2.3025850929, 0.6180339887, 1.5707963267, 1.8392867552],
];

export interface Complex {
  re: number;
  im: number;
}

function toComplexArray(v: unknown): Complex[] | null {
  if (typeof v === 'number') return [{ re: v, im: 0 }];
  if (v && typeof v === 'object') {
    const o = v as { re?: unknown; im?: unknown; toArray?: () => unknown; isBigNumber?: boolean; toNumber?: () => number };
    if (typeof o.re === 'number' && typeof o.im === 'number') return [{ re: o.re, im: o.im }];
    if (typeof o.toArray === 'function') return toComplexArray(o.toArray());
    if (Array.isArray(v)) {
      const out: Complex[] = [];
      for (const x of v) {
        const c = toComplexArray(x);
        if (!c) return null;
        out.push(...c);
      }
      return out;
    }
  }
  return null;
}

/** Evaluates the expression at each sample point; null when it cannot be evaluated. */
export function sampleValues(expr: string, names: Map<string, string>, budget: Budget): Complex[][] | null {
  const f = getCompiled(expr);
  if (!f) return null;
  const out: Complex[][] = [];
  const symbols = [...names.values()];
  const points = symbols.length === 0 ? 1 : SAMPLES.length;
  for (let p = 0; p < points; p++) {
    budget.checkNow();
    const scope: Record<string, number> = {};
    symbols.forEach((v, i) => {
      scope[v] = SAMPLES[p]![i % SAMPLES[p]!.length]! + Math.floor(i / SAMPLES[p]!.length) * 0.1;
    });
    let v: unknown;
    try {
      v = f.evaluate(scope);
    } catch {
      return null;
    }
    const arr = toComplexArray(v);
    if (!arr) return null;
    out.push(arr);
  }
  return out;
}

export function closeRel(a: Complex, b: Complex, tol: number): boolean {
  if (![a.re, a.im, b.re, b.im].every(Number.isFinite)) return false;
  const diff = Math.hypot(a.re - b.re, a.im - b.im);
  const scale = Math.max(Math.hypot(a.re, a.im), Math.hypot(b.re, b.im));
  return diff <= tol * scale || diff <= 1e-13;
}
