/**
 * A small recursive-descent parser for math answers written in LaTeX or plain text.
 * It produces the tree in ast.ts: numbers, symbols, arithmetic, functions, relations,
 * intervals, tuples, sets, lists, matrices and text.
 */
import type { Budget } from './ast.js';
import { ParseError, type Node, type RelOp } from './ast.js';
import { matchBrace, readTexArg } from './normalize.js';

type Tok =
  | { t: 'num'; v: string }
  | { t: 'id'; v: string }
  | { t: 'word'; v: string }
  | { t: 'text'; v: string }
  | { t: 'fn'; v: string }
  | { t: 'op'; v: string }
  | { t: 'sep'; v: string }
  | { t: 'matrix'; v: string }
  | { t: 'end'; v: '' };

const FUNCTIONS = new Set([
  'sin',
  'cos',
  'tan',
  'sec',
  'csc',
  'cot',
  'arcsin',
  'arccos',
  'arctan',
  'sinh',
  'cosh',
  'tanh',
  'log',
  'ln',
  'exp',
  'lg',
  'sqrt',
  'max',
  'min',
  'gcd',
  'lcm',
  'det',
  'abs',
]);
const REL_CMDS: Record<string, string> = {
  le: '<=',
  leq: '<=',
  leqslant: '<=',
  leqq: '<=',
  ge: '>=',
  geq: '>=',
  geqslant: '>=',
  geqq: '>=',
  lt: '<',
  gt: '>',
  ne: '!=',
  neq: '!=',
  approx: '~',
  simeq: '~',
  sim: '~',
  equiv: '=',
  cong: '=',
  in: 'in',
  to: '=',
  rightarrow: '=',
  Rightarrow: '=',
  implies: '=',
  Longrightarrow: '=',
};
const OP_CMDS: Record<string, string> = {
  cdot: '*',
  times: '*',
  ast: '*',
  div: '/',
  pm: '±',
  mp: '±',
  cup: 'cup',
  cap: 'cap',
  setminus: 'setminus',
  colon: ':',
  mid: '|',
  vert: '|',
};
const TEXT_CMDS = new Set(['text', 'textbf', 'textit', 'textnormal', 'textrm', 'mbox', 'textsf', 'texttt', 'emph']);
const NAME_CMDS = new Set(['mathrm', 'mathbf', 'mathit', 'mathsf', 'operatorname', 'mathbb', 'mathcal', 'boldsymbol', 'bm']);
const WRAP_CMDS = new Set(['boxed', 'fbox', 'overline', 'underline', 'hat', 'vec', 'bar', 'tilde', 'widehat', 'overrightarrow', 'mathring', 'phantom']);
const MATRIX_ENVS = new Set(['pmatrix', 'bmatrix', 'Bmatrix', 'vmatrix', 'Vmatrix', 'matrix', 'smallmatrix', 'array']);

function tokenize(src: string, budget: Budget): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  const s = src;
  while (i < s.length) {
    budget.check();
    const c = s[i]!;
    if (c === ' ') {
      i++;
      continue;
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(s[i + 1] ?? ''))) {
      const m = /^\d*(?:\.\d+)?/.exec(s.slice(i))!;
      let v = m[0];
      if (v.endsWith('.')) v = v.slice(0, -1);
      i += m[0].length;
      // Base subscript: 204_5.
      const base = /^_\{?(\d+)\}?/.exec(s.slice(i));
      if (base && !v.includes('.')) {
        const b = Number(base[1]);
        i += base[0].length;
        const digits = v.split('').map(Number);
        if (b >= 2 && b <= 36 && digits.every((d) => d < b)) {
          v = digits.reduce((acc, d) => acc * BigInt(b) + BigInt(d), 0n).toString();
        } else {
          toks.push({ t: 'id', v: `${v}_${b}` });
          continue;
        }
      }
      toks.push({ t: 'num', v });
      continue;
    }
    if (/[a-zA-Z]/.test(c)) {
      const m = /^[a-zA-Z]+/.exec(s.slice(i))!;
      const w = m[0];
      i += w.length;
      const lw = w.toLowerCase();
      if (lw === 'and' || lw === 'or') toks.push({ t: 'sep', v: lw });
      else if (FUNCTIONS.has(w)) toks.push({ t: 'fn', v: w });
      else if (w === 'pi') toks.push({ t: 'id', v: '\\pi' });
      else if (w === 'inf' || w === 'infty' || w === 'infinity') toks.push({ t: 'id', v: '\\infty' });
      else if (w.length >= 3) toks.push({ t: 'word', v: w });
      else for (const ch of w) toks.push({ t: 'id', v: ch });
      continue;
    }
    if (c === '\\') {
      const m = /^\\([a-zA-Z]+)/.exec(s.slice(i));
      if (!m) {
        const n = s[i + 1] ?? '';
        i += 2;
        if (n === '{' || n === '}') toks.push({ t: 'op', v: `\\${n}` });
        else if (n === '|') toks.push({ t: 'op', v: '|' });
        else if (n === '\\') toks.push({ t: 'op', v: '\\\\' });
        continue;
      }
      const name = m[1]!;
      i += m[0].length;
      if (name === 'begin') {
        const env = readTexArg(s, i);
        if (!env) throw new ParseError('\\begin without environment');
        const envName = env[0].replace(/\*$/, '');
        let j = env[1];
        // Find the matching \end{env}, allowing nesting.
        const open = `\\begin{${env[0]}}`;
        const close = `\\end{${env[0]}}`;
        let depth = 1;
        let k = j;
        while (depth > 0) {
          const nextClose = s.indexOf(close, k);
          if (nextClose < 0) throw new ParseError(`\\begin{${env[0]}} without \\end`);
          const nextOpen = s.indexOf(open, k);
          if (nextOpen >= 0 && nextOpen < nextClose) {
            depth++;
            k = nextOpen + open.length;
          } else {
            depth--;
            k = nextClose + close.length;
            if (depth === 0) {
              let body = s.slice(j, nextClose);
              if (envName === 'array') {
                const spec = readTexArg(body, 0);
                if (spec) body = body.slice(spec[1]);
              }
              if (MATRIX_ENVS.has(envName)) toks.push({ t: 'matrix', v: body });
              else toks.push(...tokenize(body.replace(/\\\\|&/g, ' '), budget));
              j = k;
            }
          }
        }
        i = k;
        continue;
      }
      if (name === 'end') {
        const env = readTexArg(s, i);
        i = env ? env[1] : i;
        continue;
      }
      if (TEXT_CMDS.has(name) || NAME_CMDS.has(name)) {
        const arg = readTexArg(s, i);
        if (!arg) continue;
        i = arg[1];
        const content = arg[0].trim();
        if (/^(?:and|or|,)$/i.test(content)) {
          toks.push({ t: 'sep', v: content.toLowerCase() });
          continue;
        }
        if (content === '') continue;
        if (FUNCTIONS.has(content)) toks.push({ t: 'fn', v: content });
        else if (/^[a-zA-Z]$/.test(content)) toks.push({ t: 'id', v: content });
        else if (NAME_CMDS.has(name) && /^[a-zA-Z0-9]+$/.test(content)) toks.push({ t: 'id', v: content });
        else if (/^[\d.\s+\-*/^()]+$/.test(content)) toks.push(...tokenize(content, budget));
        else {
          const parts = content.split(/\s+(?:and|or)\s+/i);
          parts.forEach((p, idx) => {
            if (idx) toks.push({ t: 'sep', v: 'and' });
            toks.push({ t: 'text', v: p.trim() });
          });
        }
        continue;
      }
      if (WRAP_CMDS.has(name)) {
        const arg = readTexArg(s, i);
        if (!arg) continue;
        i = arg[1];
        toks.push({ t: 'op', v: '(' }, ...tokenize(arg[0], budget), { t: 'op', v: ')' });
        continue;
      }
      if (name in REL_CMDS) toks.push({ t: 'op', v: REL_CMDS[name]! });
      else if (name in OP_CMDS) toks.push({ t: 'op', v: OP_CMDS[name]! });
      else if (name === 'frac' || name === 'sqrt' || name === 'binom') toks.push({ t: 'fn', v: `\\${name}` });
      else if (FUNCTIONS.has(name) || name === 'arcsec' || name === 'arccsc' || name === 'arccot') toks.push({ t: 'fn', v: name });
      else if (name === 'lbrace') toks.push({ t: 'op', v: '\\{' });
      else if (name === 'rbrace') toks.push({ t: 'op', v: '\\}' });
      else if (name === 'langle') toks.push({ t: 'op', v: '(' });
      else if (name === 'rangle') toks.push({ t: 'op', v: ')' });
      else if (name === 'dots' || name === 'ldots' || name === 'cdots' || name === 'dotsm' || name === 'dotsb') toks.push({ t: 'id', v: '\\dots' });
      else if (name === 'emptyset' || name === 'varnothing') toks.push({ t: 'op', v: '\\{' }, { t: 'op', v: '\\}' });
      else if (name === 'infty') toks.push({ t: 'id', v: '\\infty' });
      else if (name === 'prime') toks.push({ t: 'op', v: "'" });
      else if (name === 'cline' || name === 'hline' || name === 'multicolumn' || name === 'label' || name === 'tag' || name === 'nonumber') {
        // Layout commands: drop with their arguments.
        const arg = readTexArg(s, i);
        if (arg && name !== 'hline' && name !== 'nonumber') i = arg[1];
      } else toks.push({ t: 'id', v: `\\${name}` });
      continue;
    }
    const two = s.slice(i, i + 2);
    if (two === '<=' || two === '>=' || two === '!=' || two === '==' || two === '**' || two === '=<' || two === '=>') {
      const map: Record<string, string> = { '==': '=', '**': '^', '=<': '<=', '=>': '>=' };
      toks.push({ t: 'op', v: map[two] ?? two });
      i += 2;
      continue;
    }
    const uni: Record<string, string> = {
      '≤': '<=',
      '≥': '>=',
      '≠': '!=',
      '±': '±',
      '×': '*',
      '÷': '/',
      '·': '*',
      '∞': '\\infty',
      π: '\\pi',
      '≈': '~',
      '∈': 'in',
      '∪': 'cup',
      '√': '\\sqrt',
    };
    if (c in uni) {
      const v = uni[c]!;
      if (v === '\\infty' || v === '\\pi') toks.push({ t: 'id', v });
      else if (v === '\\sqrt') toks.push({ t: 'fn', v });
      else toks.push({ t: 'op', v });
      i++;
      continue;
    }
    if ("+-*/^_=<>!',;:|()[]{}&".includes(c)) {
      toks.push({ t: 'op', v: c });
      i++;
      continue;
    }
    // Anything else (quotes, unicode letters, stray symbols): a word character.
    toks.push({ t: 'word', v: c });
    i++;
  }
  toks.push({ t: 'end', v: '' });
  return toks;
}

const REL_OPS = new Set(['=', '<', '<=', '>', '>=', '!=', '~', 'in']);
const MAX_DEPTH = 120;

class Parser {
  private p = 0;
  private depth = 0;
  private absDepth = 0;
  constructor(
    private readonly toks: Tok[],
    private readonly budget: Budget,
  ) {}

  private peek(o = 0): Tok {
    return this.toks[Math.min(this.p + o, this.toks.length - 1)]!;
  }
  private next(): Tok {
    return this.toks[this.p++]!;
  }
  private isOp(v: string, o = 0): boolean {
    const t = this.peek(o);
    return t.t === 'op' && t.v === v;
  }
  private expectOp(v: string): void {
    if (!this.isOp(v)) throw new ParseError(`expected '${v}'`);
    this.p++;
  }
  private enter(): void {
    this.budget.check();
    if (++this.depth > MAX_DEPTH) throw new ParseError('expression nested too deeply');
  }

  parseAll(): Node {
    const n = this.parseGroups(['end']);
    if (this.peek().t !== 'end') throw new ParseError(`unexpected '${this.peek().v}'`);
    return n;
  }

  /** `a; b; c` at the top level, each group a comma list. */
  private parseGroups(stop: string[]): Node {
    const groups: Node[] = [];
    for (;;) {
      const g = this.parseList(stop.concat([';']));
      if (g) groups.push(g);
      if (this.isOp(';')) {
        this.p++;
        continue;
      }
      break;
    }
    if (groups.length === 0) throw new ParseError('empty expression');
    return groups.length === 1 ? groups[0]! : { k: 'list', items: groups };
  }

  private atStop(stop: string[]): boolean {
    const t = this.peek();
    if (t.t === 'end') return true;
    return t.t === 'op' && stop.includes(t.v);
  }

  /** Comma / "and" / "or" separated items; null when empty. */
  private parseList(stop: string[]): Node | null {
    const items: Node[] = [];
    let sawSep = false;
    for (;;) {
      while (this.peek().t === 'sep' || this.isOp(',')) {
        this.p++;
        sawSep = true;
      }
      if (this.atStop(stop)) break;
      items.push(this.parseRel(stop));
      if (this.peek().t === 'sep' || this.isOp(',')) continue;
      if (this.atStop(stop)) break;
      // Juxtaposed items without a separator, e.g. "\boxed{1}\boxed{2}".
      sawSep = true;
    }
    if (items.length === 0) return null;
    if (items.length === 1 && !sawSep) return items[0]!;
    return items.length === 1 ? items[0]! : { k: 'list', items };
  }

  private parseRel(stop: string[]): Node {
    this.enter();
    const items = [this.parseRatio(stop)];
    const ops: RelOp[] = [];
    while (this.peek().t === 'op' && REL_OPS.has(this.peek().v)) {
      ops.push(this.next().v as RelOp);
      items.push(this.parseRatio(stop));
    }
    this.depth--;
    return ops.length ? { k: 'rel', ops, items } : items[0]!;
  }

  private parseRatio(stop: string[]): Node {
    const items = [this.parseUnion(stop)];
    while (this.isOp(':') && !stop.includes(':')) {
      this.p++;
      items.push(this.parseUnion(stop));
    }
    return items.length > 1 ? { k: 'ratio', items } : items[0]!;
  }

  private parseUnion(stop: string[]): Node {
    const items = [this.parseAdd(stop)];
    while (this.isOp('cup')) {
      this.p++;
      items.push(this.parseAdd(stop));
    }
    return items.length > 1 ? { k: 'union', items } : items[0]!;
  }

  private parseAdd(stop: string[]): Node {
    this.enter();
    let left = this.parseMul(stop);
    const terms: Node[] = [left];
    let pm: Node | null = null;
    for (;;) {
      if (this.isOp('+')) {
        this.p++;
        terms.push(this.parseMul(stop));
      } else if (this.isOp('-')) {
        this.p++;
        terms.push({ k: 'neg', a: this.parseMul(stop) });
      } else if (this.isOp('±')) {
        this.p++;
        const b = this.parseMul(stop);
        left = terms.length === 1 ? terms[0]! : { k: 'add', terms: [...terms] };
        pm = { k: 'pm', a: left, b };
        terms.length = 0;
        terms.push(pm);
      } else break;
    }
    this.depth--;
    return terms.length === 1 ? terms[0]! : { k: 'add', terms };
  }

  private startsAtom(): boolean {
    const t = this.peek();
    if (t.t === 'num' || t.t === 'id' || t.t === 'fn' || t.t === 'word' || t.t === 'text' || t.t === 'matrix') return true;
    if (t.t !== 'op') return false;
    if (t.v === '(' || t.v === '{' || t.v === '\\{') return true;
    if (t.v === '|') return this.absDepth === 0;
    return false;
  }

  private parseMul(stop: string[]): Node {
    this.enter();
    const factors: Node[] = [this.parseUnary(stop)];
    for (;;) {
      if (this.isOp('*')) {
        this.p++;
        factors.push(this.parseUnary(stop));
      } else if (this.isOp('/')) {
        this.p++;
        const b = this.parseUnary(stop);
        const a = factors.length === 1 ? factors[0]! : ({ k: 'mul', factors: [...factors] } as Node);
        factors.length = 0;
        factors.push({ k: 'div', a, b });
      } else if (this.startsAtom() && !this.atStop(stop)) {
        const prev = factors[factors.length - 1]!;
        const nextAtom = this.parsePow(stop);
        // Mixed number: 918\frac{1}{2}.
        if (prev.k === 'num' && !prev.text.includes('.') && nextAtom.k === 'div' && nextAtom.a.k === 'num' && nextAtom.b.k === 'num' && factors.length === 1) {
          factors[0] = { k: 'add', terms: [prev, nextAtom] };
        } else factors.push(nextAtom);
      } else break;
    }
    this.depth--;
    return factors.length === 1 ? factors[0]! : { k: 'mul', factors };
  }

  private parseUnary(stop: string[]): Node {
    this.enter();
    let r: Node;
    if (this.isOp('-')) {
      this.p++;
      r = { k: 'neg', a: this.parseUnary(stop) };
    } else if (this.isOp('+')) {
      this.p++;
      r = this.parseUnary(stop);
    } else if (this.isOp('±')) {
      this.p++;
      r = { k: 'pm', a: null, b: this.parseUnary(stop) };
    } else r = this.parsePow(stop);
    this.depth--;
    return r;
  }

  private parsePow(stop: string[]): Node {
    this.enter();
    let base = this.parsePostfix(stop);
    if (this.isOp('^')) {
      this.p++;
      let exp: Node;
      if (this.isOp('{')) exp = this.parseBraced();
      else if (this.isOp('-')) {
        this.p++;
        exp = { k: 'neg', a: this.parsePostfix(stop) };
      } else exp = this.parsePostfix(stop);
      base = { k: 'pow', a: base, b: exp };
      base = this.postfixOps(base);
    }
    this.depth--;
    return base;
  }

  private postfixOps(n: Node): Node {
    let r = n;
    for (;;) {
      if (this.isOp('!') && !this.isOp('=', 1)) {
        this.p++;
        r = { k: 'fn', name: 'factorial', args: [r] };
      } else if (this.isOp("'")) {
        this.p++;
        r = r.k === 'sym' ? { k: 'sym', name: `${r.name}'` } : { k: 'fn', name: 'prime', args: [r] };
      } else return r;
    }
  }

  private parsePostfix(stop: string[]): Node {
    return this.postfixOps(this.parseAtom(stop));
  }

  private parseBraced(): Node {
    this.expectOp('{');
    const inner = this.parseGroups(['}']);
    this.expectOp('}');
    return inner;
  }

  private parseSubscript(): string {
    if (!this.isOp('_')) return '';
    this.p++;
    if (this.isOp('{')) {
      this.p++;
      let depth = 1;
      let out = '';
      while (depth > 0) {
        const t = this.next();
        if (t.t === 'end') throw new ParseError('unclosed subscript');
        if (t.t === 'op' && t.v === '{') depth++;
        if (t.t === 'op' && t.v === '}') depth--;
        if (depth > 0) out += t.v;
      }
      return out;
    }
    const t = this.next();
    if (t.t === 'end') throw new ParseError('empty subscript');
    return t.v;
  }

  private parseAtom(stop: string[]): Node {
    this.enter();
    const r = this.parseAtomInner(stop);
    this.depth--;
    return r;
  }

  private parseAtomInner(stop: string[]): Node {
    const t = this.next();
    switch (t.t) {
      case 'num': {
        const dot = t.v.indexOf('.');
        return { k: 'num', text: t.v, decimals: dot < 0 ? 0 : t.v.length - dot - 1 };
      }
      case 'id': {
        if (t.v === '\\pi') return { k: 'const', name: 'pi' };
        if (t.v === '\\infty') return { k: 'const', name: 'inf' };
        const sub = this.parseSubscript();
        return { k: 'sym', name: sub ? `${t.v}_${sub}` : t.v };
      }
      case 'word':
        return { k: 'word', text: t.v };
      case 'text':
        return { k: 'text', text: t.v.replace(/^\((.*)\)$/, '$1').trim() };
      case 'matrix':
        return this.parseMatrix(t.v);
      case 'fn':
        return this.parseFunction(t.v, stop);
      case 'op':
        return this.parseOpAtom(t.v);
      case 'sep':
      case 'end':
        throw new ParseError('unexpected end of expression');
    }
  }

  private parseMatrix(body: string): Node {
    const rows = body
      .split(/\\\\/)
      .map((r) => r.trim())
      .filter((r) => r.length > 0)
      .map((r) => r.split('&').map((cell) => parseTokens(tokenize(cell, this.budget), this.budget)));
    if (rows.length === 0) throw new ParseError('empty matrix');
    return { k: 'matrix', rows };
  }

  private parseFunction(name: string, stop: string[]): Node {
    if (name === '\\frac' || name === '\\binom') {
      const a = this.parseBraced();
      const b = this.parseBraced();
      return name === '\\frac' ? { k: 'div', a, b } : { k: 'fn', name: 'binom', args: [a, b] };
    }
    if (name === '\\sqrt') {
      let index: Node | null = null;
      if (this.isOp('[')) {
        this.p++;
        index = this.parseAdd([']']);
        this.expectOp(']');
      }
      const arg = this.isOp('{') ? this.parseBraced() : this.parsePostfix(stop);
      return index ? { k: 'fn', name: 'root', args: [arg, index] } : { k: 'fn', name: 'sqrt', args: [arg] };
    }
    // \sin^2 x, \log_2 x, \sin(x), \sin x.
    let power: Node | null = null;
    let base: Node | null = null;
    if (this.isOp('_')) {
      this.p++;
      base = this.isOp('{') ? this.parseBraced() : this.parseAtom(stop);
    }
    if (this.isOp('^')) {
      this.p++;
      power = this.isOp('{') ? this.parseBraced() : this.parseUnary(stop);
    }
    let arg: Node;
    if (this.isOp('(')) arg = this.parseAtom(stop);
    else {
      // Unparenthesised argument: the following product of atoms, up to the next function.
      const factors: Node[] = [this.parsePow(stop)];
      while (this.startsAtom() && this.peek().t !== 'fn' && !this.atStop(stop)) factors.push(this.parsePow(stop));
      arg = factors.length === 1 ? factors[0]! : { k: 'mul', factors };
    }
    const args = arg.k === 'tuple' && arg.open === '(' ? arg.items : [arg];
    let f: Node = { k: 'fn', name: name === 'lg' ? 'log10' : name, args };
    if (base && name === 'log') f = { k: 'div', a: { k: 'fn', name: 'ln', args }, b: { k: 'fn', name: 'ln', args: [base] } };
    return power ? { k: 'pow', a: f, b: power } : f;
  }

  private parseOpAtom(v: string): Node {
    if (v === '(' || v === '[') {
      const items: Node[] = [];
      for (;;) {
        if (this.isOp(')') || this.isOp(']')) break;
        items.push(this.parseRel([',', ')', ']', ';']));
        if (this.isOp(',') || this.isOp(';')) {
          this.p++;
          continue;
        }
        break;
      }
      const close = this.next();
      if (close.t !== 'op' || (close.v !== ')' && close.v !== ']')) throw new ParseError(`unclosed '${v}'`);
      if (items.length === 1 && ((v === '(' && close.v === ')') || (v === '[' && close.v === ']'))) return items[0]!;
      if (items.length === 0) throw new ParseError('empty parentheses');
      return { k: 'tuple', items, open: v, close: close.v };
    }
    if (v === '{') {
      const inner = this.parseGroups(['}']);
      this.expectOp('}');
      // Bare braces around a comma list read as a set-like list.
      return inner;
    }
    if (v === '\\{') {
      if (this.isOp('\\}')) {
        this.p++;
        return { k: 'set', items: [] };
      }
      const inner = this.parseGroups(['\\}']);
      this.expectOp('\\}');
      return { k: 'set', items: inner.k === 'list' ? inner.items : [inner] };
    }
    if (v === '|') {
      this.absDepth++;
      const inner = this.parseAdd(['|']);
      this.absDepth--;
      this.expectOp('|');
      return { k: 'fn', name: 'abs', args: [inner] };
    }
    throw new ParseError(`unexpected '${v}'`);
  }
}

function parseTokens(toks: Tok[], budget: Budget): Node {
  return new Parser(toks, budget).parseAll();
}

/** Whole-string number formats: thousands separators, decimal commas, spaced thousands. */
function numberFormats(s: string): string {
  const t = s.trim();
  if (/^[+-]?\d{1,3}( \d{3})+(\.\d+)?$/.test(t)) return t.replace(/ /g, '');
  const dc = /^([+-]?\d+),(\d+)$/.exec(t);
  if (dc) {
    const [, int, frac] = dc as unknown as [string, string, string];
    const thousands = /^[+-]?[1-9]\d{0,2}$/.test(int) && frac.length === 3;
    if (!thousands && (frac.length >= 2 || /^[+-]?0$/.test(int))) return `${int}.${frac}`;
  }
  // 7,425,000 and 1,000.99 anywhere (groups of exactly three digits).
  return t.replace(/(?<![\d.,])([1-9]\d{0,2})((?:,\d{3})+)(?![\d,])/g, (_m, a: string, b: string) => a + b.replace(/,/g, ''));
}

/** Parses an already-normalised answer string. Throws ParseError or BudgetError. */
export function parseMath(s: string, budget: Budget): Node {
  if (s.length > 4000) throw new ParseError('answer too long to parse');
  return parseTokens(tokenize(numberFormats(s), budget), budget);
}

export { matchBrace };
