/**
 * verifyMath: extract the final answer of a completion and decide whether it equals the
 * reference. Exact (rational, structural) comparisons come first; numeric evaluation at
 * sample points through mathjs is the fallback. A time and size budget turns pathological
 * inputs into "not equal".
 */
import { Budget, BudgetError, ParseError, canon, symbols, type Node, type RelOp } from './ast.js';
import { closeRel, exactValue, hasDecimal, literalDecimals, ratEquals, ratToNumber, sampleValues, toMathjs, type Complex, type Rat } from './evaluate.js';
import { MAX_INPUT_LENGTH, extractAnswer, extractReference, type ExtractOptions } from './extract.js';
import { normalizeAnswer, type PercentPolicy } from './normalize.js';
import { parseMath } from './parser.js';

export interface VerifyOptions {
  /** How the completion's answer is found (order of steps, `</think>` policy). */
  readonly extraction?: ExtractOptions;
  /** `strip` (default): `28\%` equals 28; `fraction`: equals 0.28; `either`: both. */
  readonly percent?: PercentPolicy;
  /** Wall-clock budget for one verification in milliseconds (default 2000). */
  readonly timeoutMs?: number;
  /** Relative tolerance of numeric (floating-point) comparisons of exact expressions (default 1e-9). */
  readonly relativeTolerance?: number;
  /**
   * A decimal answer (`0.0833333`) equals an exact value when it is that value correctly rounded
   * at its stated precision and within this relative error (default 1e-6).
   */
  readonly decimalTolerance?: number;
  /** The reference is already a bare answer (`true`) or may be a full solution (default: detect). */
  readonly referenceIsAnswer?: boolean;
  /**
   * Completions (after `</think>`) and references longer than this are read from their last
   * `maxLength` characters (default 1,048,576; `extraction.maxLength` overrides it for completions).
   */
  readonly maxLength?: number;
}

export interface VerifyResult {
  equal: boolean;
  /** The answer extracted from the completion, or null when none was found. */
  extracted: string | null;
  /** Why: `identical`, `exact`, `numeric`, `structure`, `not equal`, `no answer`, `timeout`, `parse error`. */
  reason: string;
}

interface Ctx {
  budget: Budget;
  relTol: number;
  decTol: number;
  /** The reason of the last successful comparison. */
  how: string;
}

interface ParsedAnswer {
  text: string;
  candidates: Node[];
  error: string | null;
}

interface ParsedReference extends ParsedAnswer {
  /** identityKey(text); null for an answer too long to parse, which is never identical either. */
  identity: string | null;
}

/** Extracted answers longer than this are not compared, normalised or parsed (the parser's own limit is 4,000). */
const MAX_ANSWER_CHARS = 5000;

/** Answer text for the "identical" test: no whitespace, no outer `$`. */
const identityKey = (s: string): string => s.replace(/\s+/g, '').replace(/^\$+|(?<!\$)\$+$/g, '');

function parseCandidates(text: string, percent: PercentPolicy, budget: Budget): ParsedAnswer {
  const out: Node[] = [];
  let error: string | null = null;
  if (text.length > MAX_ANSWER_CHARS) return { text, candidates: out, error: 'answer too long to parse' };
  for (const s of normalizeAnswer(text, percent)) {
    try {
      out.push(parseMath(s, budget));
    } catch (e) {
      if (e instanceof BudgetError) throw e;
      error = (e as Error).message;
    }
  }
  return { text, candidates: out, error: out.length ? null : error };
}

// ---------------------------------------------------------------- reference cache

interface CacheEntry {
  parsed: ParsedReference | null;
  /** Estimated bytes held by this entry (see entryBytes). */
  bytes: number;
}

/** Parsed references by `percent|referenceIsAnswer|reference`, oldest first (evicted first). */
const referenceCache = new Map<string, CacheEntry>();
const REFERENCE_CACHE_MAX_ENTRIES = 10_000;
const REFERENCE_CACHE_MAX_BYTES = 32 * 1024 * 1024;
let referenceCacheBytes = 0;

/** Nodes of a parsed tree (objects, counted through arrays). */
function countNodes(v: unknown): number {
  if (Array.isArray(v)) return v.reduce((sum: number, x) => sum + countNodes(x), 0);
  if (v !== null && typeof v === 'object') return 1 + countNodes(Object.values(v));
  return 0;
}

/**
 * An upper estimate of the memory an entry keeps alive: the key and the reference it was read from
 * (an extracted answer may be a slice that keeps the whole reference), 2 bytes a character, the
 * answer text, about 100 bytes per tree node, and the entry itself.
 */
function entryBytes(key: string, reference: string, parsed: ParsedReference | null): number {
  if (!parsed) return 2 * (key.length + reference.length) + 200;
  return 2 * (key.length + reference.length + parsed.text.length + (parsed.identity?.length ?? 0)) + 100 * countNodes(parsed.candidates) + 200;
}

function cacheReference(key: string, entry: CacheEntry): void {
  // One entry may take at most an eighth of the cache, so a few huge references cannot flush it.
  if (entry.bytes > REFERENCE_CACHE_MAX_BYTES / 8) return;
  while (referenceCache.size > 0 && (referenceCache.size >= REFERENCE_CACHE_MAX_ENTRIES || referenceCacheBytes + entry.bytes > REFERENCE_CACHE_MAX_BYTES)) {
    const [oldest, old] = referenceCache.entries().next().value!;
    referenceCache.delete(oldest);
    referenceCacheBytes -= old.bytes;
  }
  referenceCache.set(key, entry);
  referenceCacheBytes += entry.bytes;
}

/** Entries and estimated bytes of the reference cache, with their bounds (for tests and monitoring). */
export function referenceCacheStats(): { entries: number; bytes: number; maxEntries: number; maxBytes: number } {
  return { entries: referenceCache.size, bytes: referenceCacheBytes, maxEntries: REFERENCE_CACHE_MAX_ENTRIES, maxBytes: REFERENCE_CACHE_MAX_BYTES };
}

export function clearReferenceCache(): void {
  referenceCache.clear();
  referenceCacheBytes = 0;
}

function referenceAnswer(fullReference: string, options: VerifyOptions, budget: Budget): ParsedReference | null {
  const maxLength = options.maxLength ?? MAX_INPUT_LENGTH;
  const reference = fullReference.length > maxLength ? fullReference.slice(fullReference.length - maxLength) : fullReference;
  const percent = options.percent ?? 'strip';
  const key = `${percent}|${options.referenceIsAnswer ? 1 : 0}|${reference}`;
  const hit = referenceCache.get(key);
  if (hit !== undefined) return hit.parsed;
  const ext = options.referenceIsAnswer ? { text: reference.trim() } : extractReference(reference, budget, maxLength);
  // parseCandidates refuses an answer over MAX_ANSWER_CHARS before normalising it.
  const parsed =
    ext && ext.text ? { ...parseCandidates(ext.text, percent, budget), identity: ext.text.length > MAX_ANSWER_CHARS ? null : identityKey(ext.text) } : null;
  cacheReference(key, { parsed, bytes: entryBytes(key, reference, parsed) });
  return parsed;
}

/** Decides whether the answer of `completion` equals `reference`. Never throws on model output. */
export function verifyMath(completion: string, reference: string, options: VerifyOptions = {}): VerifyResult {
  const budget = new Budget(options.timeoutMs ?? 2000);
  let extracted: string | null = null;
  try {
    const ref = referenceAnswer(reference, options, budget);
    const extraction = options.maxLength === undefined ? options.extraction : { maxLength: options.maxLength, ...options.extraction };
    const ext = extractAnswer(completion, extraction, budget);
    if (!ext) return { equal: false, extracted: null, reason: 'no answer' };
    extracted = ext.text;
    if (!ref) return { equal: false, extracted, reason: 'no reference answer' };
    if (ext.text.length > MAX_ANSWER_CHARS) return { equal: false, extracted, reason: 'answer too long' };
    if (identityKey(ext.text) === ref.identity) return { equal: true, extracted, reason: 'identical' };
    const pred = parseCandidates(ext.text, options.percent ?? 'strip', budget);
    if (pred.candidates.length === 0 || ref.candidates.length === 0) {
      return { equal: false, extracted, reason: `parse error: ${pred.error ?? ref.error ?? 'unknown'}` };
    }
    const ctx: Ctx = {
      budget,
      relTol: options.relativeTolerance ?? 1e-9,
      decTol: options.decimalTolerance ?? 1e-6,
      how: 'structure',
    };
    for (const g of ref.candidates) {
      for (const p of pred.candidates) {
        if (eqNode(g, p, ctx)) return { equal: true, extracted, reason: ctx.how };
      }
    }
    return { equal: false, extracted, reason: 'not equal' };
  } catch (e) {
    if (e instanceof BudgetError) return { equal: false, extracted, reason: `timeout: ${e.message}` };
    if (e instanceof ParseError) return { equal: false, extracted, reason: `parse error: ${e.message}` };
    return { equal: false, extracted, reason: `error: ${(e as Error).message}` };
  }
}

// ---------------------------------------------------------------- comparison

/** Left-hand sides that name the answer (`x`, `f(x)`, `(p,q)`, `|AB|`, `V_1:V_2`) rather than constrain it. */
function labelLike(n: Node): boolean {
  switch (n.k) {
    case 'sym':
      return true;
    case 'mul':
      return n.factors.every(labelLike);
    case 'div':
      return labelLike(n.a) && labelLike(n.b);
    case 'ratio':
    case 'tuple':
      return n.items.every(labelLike);
    case 'fn':
      return n.name === 'abs' && n.args.every(labelLike);
    default:
      return false;
  }
}

const EQUATION_OPS = new Set<RelOp>(['=', '~', 'in']);

/** Drops a trailing approximation (`x = 1/3 \approx 0.33` → `x = 1/3`); `x \approx 11` reads as `x = 11`. */
function truncateApprox(r: Extract<Node, { k: 'rel' }>): Node {
  const idx = r.ops.indexOf('~');
  if (idx < 0) return r;
  if (idx === 0 && labelLike(r.items[0]!)) return { ...r, ops: r.ops.map((o) => (o === '~' ? '=' : o)) };
  const items = r.items.slice(0, idx + 1);
  const ops = r.ops.slice(0, idx);
  return ops.length === 0 ? items[0]! : { k: 'rel', ops, items };
}

/** The value an equation chain states: its last right-hand side. */
function equationValue(r: Extract<Node, { k: 'rel' }>): Node | null {
  return r.ops.every((o) => EQUATION_OPS.has(o)) ? r.items[r.items.length - 1]! : null;
}

function expandPm(items: readonly Node[]): Node[] {
  const out: Node[] = [];
  for (const it of items) {
    if (it.k === 'pm') {
      const plus: Node = it.a ? { k: 'add', terms: [it.a, it.b] } : it.b;
      const minus: Node = it.a ? { k: 'add', terms: [it.a, { k: 'neg', a: it.b }] } : { k: 'neg', a: it.b };
      out.push(plus, minus);
    } else out.push(it);
  }
  return out;
}

function dedupe(items: Node[]): Node[] {
  const seen = new Set<string>();
  return items.filter((it) => {
    const c = canon(it);
    if (seen.has(c)) return false;
    seen.add(c);
    return true;
  });
}

function matchUnordered(gs: Node[], ps: Node[], ctx: Ctx): boolean {
  if (gs.length !== ps.length) return false;
  const used = new Array<boolean>(ps.length).fill(false);
  const rec = (i: number): boolean => {
    if (i === gs.length) return true;
    for (let j = 0; j < ps.length; j++) {
      if (used[j]) continue;
      if (eqNode(gs[i]!, ps[j]!, ctx)) {
        used[j] = true;
        if (rec(i + 1)) return true;
        used[j] = false;
      }
    }
    return false;
  };
  return rec(0);
}

function matchOrdered(gs: readonly Node[], ps: readonly Node[], ctx: Ctx): boolean {
  return gs.length === ps.length && gs.every((g, i) => eqNode(g, ps[i]!, ctx));
}

const isCollection = (n: Node): boolean => n.k === 'list' || n.k === 'set' || n.k === 'pm';

function collectionItems(n: Node): Node[] {
  if (n.k === 'list' || n.k === 'set') return dedupe(expandPm(n.items));
  if (n.k === 'pm') return dedupe(expandPm([n]));
  return [n];
}

function textKey(n: Node): string | null {
  if (n.k === 'text' || n.k === 'word') return n.text.replace(/\s+/g, ' ').trim().toLowerCase();
  if (n.k === 'sym') return n.name.toLowerCase();
  if (n.k === 'mul' && n.factors.every((f) => f.k === 'sym' || f.k === 'word' || f.k === 'text')) {
    return n.factors.map((f) => textKey(f)).join('');
  }
  return null;
}

function eqNode(g: Node, p: Node, ctx: Ctx): boolean {
  ctx.budget.check();
  if (canon(g) === canon(p)) {
    ctx.how = 'structure';
    return true;
  }
  // Collections: lists and sets compare without order; a list against a tuple keeps order.
  if (isCollection(g) || isCollection(p)) {
    if (g.k === 'list' && p.k === 'tuple') return matchOrdered(g.items, p.items, ctx);
    if (p.k === 'list' && g.k === 'tuple') return matchOrdered(g.items, p.items, ctx);
    const gs = collectionItems(g);
    const ps = collectionItems(p);
    if (gs.length === 1 && ps.length === 1) return eqNode(gs[0]!, ps[0]!, ctx);
    return matchUnordered(gs, ps, ctx);
  }
  if (g.k === 'rel' || p.k === 'rel') return relCompare(g, p, ctx);
  if (g.k === 'tuple' || p.k === 'tuple') {
    if (g.k !== 'tuple' || p.k !== 'tuple') return false;
    if (g.open !== p.open || g.close !== p.close) return false;
    return matchOrdered(g.items, p.items, ctx);
  }
  if (g.k === 'ratio' || p.k === 'ratio') {
    return g.k === 'ratio' && p.k === 'ratio' && matchOrdered(g.items, p.items, ctx);
  }
  if (g.k === 'union' || p.k === 'union') {
    return g.k === 'union' && p.k === 'union' && matchUnordered(g.items, p.items, ctx);
  }
  if (g.k === 'text' || g.k === 'word' || p.k === 'text' || p.k === 'word') {
    const a = textKey(g);
    const b = textKey(p);
    ctx.how = 'text';
    return a !== null && a === b;
  }
  if (g.k === 'matrix' && p.k === 'matrix') {
    if (g.rows.length === p.rows.length && g.rows.every((r, i) => r.length === p.rows[i]!.length)) {
      if (g.rows.every((r, i) => r.every((c, j) => eqNode(c, p.rows[i]![j]!, ctx)))) return true;
    }
  }
  return exprEqual(g, p, ctx);
}

function exprEqual(g: Node, p: Node, ctx: Ctx): boolean {
  // Exact rational comparison first.
  const eg = exactValue(g, ctx.budget);
  const ep = exactValue(p, ctx.budget);
  if (eg && ep) {
    if (ratEquals(eg, ep)) {
      ctx.how = 'exact';
      return true;
    }
    return decimalMatches(g, ep, ctx) || decimalMatches(p, eg, ctx);
  }
  // A decimal literal against an exact irrational value (4.1231056 vs \sqrt{17}).
  const names = new Map<string, string>();
  const sg = toMathjs(g, names);
  const sp = toMathjs(p, names);
  if (sg === null || sp === null) return false;
  const vg = sampleValues(sg, names, ctx.budget);
  const vp = sampleValues(sp, names, ctx.budget);
  if (!vg || !vp || vg.length !== vp.length) return false;
  const dg = literalDecimals(g);
  const dp = literalDecimals(p);
  if (names.size === 0 && (dg > 0 || dp > 0)) {
    const [dec, places, other] = dg > 0 ? [vg, dg, vp] : [vp, dp, vg];
    if (dec[0]!.length !== 1 || other[0]!.length !== 1) return false;
    const ok = roundedMatch(dec[0]![0]!, places, other[0]![0]!, ctx.decTol);
    if (ok) ctx.how = 'numeric';
    return ok;
  }
  const tol = hasDecimal(g) || hasDecimal(p) ? Math.max(ctx.relTol, 1e-12) : ctx.relTol;
  const ok = vg.every((row, i) => row.length === vp[i]!.length && row.every((v, j) => closeRel(v, vp[i]![j]!, tol)));
  if (ok) ctx.how = 'numeric';
  return ok;
}

function roundedMatch(dec: Complex, places: number, exact: Complex, tol: number): boolean {
  if (dec.im !== 0 || Math.abs(exact.im) > 1e-12) return false;
  if (!Number.isFinite(dec.re) || !Number.isFinite(exact.re)) return false;
  const diff = Math.abs(dec.re - exact.re);
  const half = 0.5 * 10 ** -places * (1 + 1e-9) + Number.EPSILON * Math.abs(exact.re) * 4;
  return diff <= half && diff <= tol * Math.abs(exact.re) + Number.EPSILON * 4;
}

/** `node` is a decimal literal that correctly rounds the exact value `other`. */
function decimalMatches(node: Node, other: Rat, ctx: Ctx): boolean {
  const places = literalDecimals(node);
  if (places <= 0) return false;
  const v = exactValue(node, ctx.budget);
  if (!v) return false;
  const ok = roundedMatch({ re: ratToNumber(v), im: 0 }, places, { re: ratToNumber(other), im: 0 }, ctx.decTol);
  if (ok) ctx.how = 'numeric';
  return ok;
}

// ---------------------------------------------------------------- relations

type Rel = Extract<Node, { k: 'rel' }>;
type Interval = Extract<Node, { k: 'tuple' }>;

const POS_INF: Node = { k: 'const', name: 'inf' };
const NEG_INF: Node = { k: 'neg', a: POS_INF };

function isConstant(n: Node): boolean {
  return symbols(n).size === 0;
}

/** `x > 3`, `3 <= x`, `a < x < b`, `x \in [a, b)` as an interval or union; null otherwise. */
function toInterval(r: Rel): Node | null {
  if (r.ops.length === 1 && r.ops[0] === 'in') return r.items[1]!;
  if (r.ops.length === 1) {
    const [a, b] = r.items as [Node, Node];
    let op = r.ops[0]!;
    let bound: Node;
    if (labelLike(a) && isConstant(b)) bound = b;
    else if (labelLike(b) && isConstant(a)) {
      bound = a;
      op = ({ '<': '>', '<=': '>=', '>': '<', '>=': '<=' } as Record<string, RelOp>)[op] ?? op;
    } else return null;
    switch (op) {
      case '<':
        return { k: 'tuple', open: '(', close: ')', items: [NEG_INF, bound] };
      case '<=':
        return { k: 'tuple', open: '(', close: ']', items: [NEG_INF, bound] };
      case '>':
        return { k: 'tuple', open: '(', close: ')', items: [bound, POS_INF] };
      case '>=':
        return { k: 'tuple', open: '[', close: ')', items: [bound, POS_INF] };
      default:
        return null;
    }
  }
  if (r.ops.length === 2 && labelLike(r.items[1]!) && isConstant(r.items[0]!) && isConstant(r.items[2]!)) {
    const [o1, o2] = r.ops as [RelOp, RelOp];
    const lessish = (o: RelOp): boolean => o === '<' || o === '<=';
    const moreish = (o: RelOp): boolean => o === '>' || o === '>=';
    if (lessish(o1) && lessish(o2)) {
      return { k: 'tuple', open: o1 === '<' ? '(' : '[', close: o2 === '<' ? ')' : ']', items: [r.items[0]!, r.items[2]!] };
    }
    if (moreish(o1) && moreish(o2)) {
      return { k: 'tuple', open: o2 === '>' ? '(' : '[', close: o1 === '>' ? ')' : ']', items: [r.items[2]!, r.items[0]!] };
    }
  }
  return null;
}

function isIntervalLike(n: Node): n is Interval {
  return n.k === 'tuple' && n.items.length === 2;
}

function relCompare(g0: Node, p0: Node, ctx: Ctx): boolean {
  const g = g0.k === 'rel' ? truncateApprox(g0) : g0;
  const p = p0.k === 'rel' ? truncateApprox(p0) : p0;
  if (g.k !== 'rel' || p.k !== 'rel') {
    if (g.k !== 'rel' && p.k !== 'rel') return eqNode(g, p, ctx);
    if (g.k === 'rel') {
      // Reference `x = 5` (a label on the left) against a bare value.
      const val = labelLike(g.items[0]!) ? equationValue(g) : null;
      if (val && eqNode(val, p, ctx)) return true;
      const iv = toInterval(g);
      return iv !== null && (isIntervalLike(p) || p.k === 'union') && eqNode(iv, p, ctx);
    }
    const rel = p as Rel;
    const val = equationValue(rel);
    if (val && eqNode(g, val, ctx)) return true;
    const iv = toInterval(rel);
    return iv !== null && (isIntervalLike(g) || g.k === 'union') && eqNode(g, iv, ctx);
  }
  if (relEqual(g, p, ctx)) return true;
  const ig = toInterval(g);
  const ip = toInterval(p);
  if (ig && ip) return eqNode(ig, ip, ctx);
  return false;
}

function relEqual(g: Rel, p: Rel, ctx: Ctx): boolean {
  // Chains of equalities: first left-hand side and last right-hand side.
  const reduce = (r: Rel): Rel =>
    r.ops.length > 1 && r.ops.every((o) => o === '=') ? { k: 'rel', ops: ['='], items: [r.items[0]!, r.items[r.items.length - 1]!] } : r;
  const a = reduce(g);
  const b = reduce(p);
  if (a.ops.length !== 1 || b.ops.length !== 1) {
    return a.ops.join() === b.ops.join() && matchOrdered(a.items, b.items, ctx);
  }
  const [ga, gb] = a.items as [Node, Node];
  const [pa, pb] = b.items as [Node, Node];
  const gop = a.ops[0]!;
  const pop = b.ops[0]!;
  if ((gop === '=' || gop === 'in') && gop === pop && labelLike(ga) && labelLike(pa)) {
    return canon(ga) === canon(pa) && eqNode(gb, pb, ctx);
  }
  // Normalise `lhs op rhs` to `d op' 0` with op' in {>, >=, =, !=}.
  const norm = (op: RelOp, l: Node, r: Node): [string, Node] | null => {
    const diff = (x: Node, y: Node): Node => ({ k: 'add', terms: [x, { k: 'neg', a: y }] });
    switch (op) {
      case '=':
      case '!=':
        return [op, diff(l, r)];
      case '>':
      case '>=':
        return [op, diff(l, r)];
      case '<':
        return ['>', diff(r, l)];
      case '<=':
        return ['>=', diff(r, l)];
      default:
        return null;
    }
  };
  const ng = norm(gop, ga, gb);
  const np = norm(pop, pa, pb);
  if (!ng || !np || ng[0] !== np[0]) return false;
  return proportional(ng[1], np[1], ng[0] === '>' || ng[0] === '>=', ctx);
}

/** d1 = c·d2 for a constant c ≠ 0 (c > 0 when the direction matters). */
function proportional(d1: Node, d2: Node, positive: boolean, ctx: Ctx): boolean {
  if (!isScalarExpr(d1) || !isScalarExpr(d2)) return false;
  const names = new Map<string, string>();
  const s1 = toMathjs(d1, names);
  const s2 = toMathjs(d2, names);
  if (s1 === null || s2 === null) return false;
  const v1 = sampleValues(s1, names, ctx.budget);
  const v2 = sampleValues(s2, names, ctx.budget);
  if (!v1 || !v2) return false;
  let ratio: Complex | null = null;
  for (let i = 0; i < v1.length; i++) {
    const a = v1[i]![0]!;
    const b = v2[i]![0]!;
    if (v1[i]!.length !== 1 || v2[i]!.length !== 1) return false;
    const bz = Math.hypot(b.re, b.im) < 1e-12;
    const az = Math.hypot(a.re, a.im) < 1e-12;
    if (az || bz) {
      if (az !== bz) return false;
      continue;
    }
    const den = b.re * b.re + b.im * b.im;
    const r = { re: (a.re * b.re + a.im * b.im) / den, im: (a.im * b.re - a.re * b.im) / den };
    if (ratio === null) ratio = r;
    else if (!closeRel(ratio, r, 1e-8)) return false;
  }
  if (ratio === null) return true;
  if (Math.abs(ratio.im) > 1e-9 * Math.abs(ratio.re)) return false;
  if (positive && ratio.re <= 0) return false;
  ctx.how = 'numeric';
  return true;
}

function isScalarExpr(n: Node): boolean {
  switch (n.k) {
    case 'num':
    case 'sym':
    case 'const':
      return true;
    case 'neg':
      return isScalarExpr(n.a);
    case 'add':
      return n.terms.every(isScalarExpr);
    case 'mul':
      return n.factors.every(isScalarExpr);
    case 'div':
    case 'pow':
      return isScalarExpr(n.a) && isScalarExpr(n.b);
    case 'fn':
      return n.args.every(isScalarExpr);
    default:
      return false;
  }
}
