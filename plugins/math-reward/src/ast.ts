/** Expression tree produced by the LaTeX / plain-text answer parser. */
export type Node =
  | { k: 'num'; text: string; decimals: number }
  | { k: 'sym'; name: string }
  | { k: 'const'; name: 'pi' | 'inf' }
  | { k: 'word'; text: string }
  | { k: 'text'; text: string }
  | { k: 'add'; terms: Node[] }
  | { k: 'neg'; a: Node }
  | { k: 'mul'; factors: Node[] }
  | { k: 'div'; a: Node; b: Node }
  | { k: 'pow'; a: Node; b: Node }
  | { k: 'fn'; name: string; args: Node[] }
  | { k: 'pm'; a: Node | null; b: Node }
  | { k: 'tuple'; items: Node[]; open: string; close: string }
  | { k: 'set'; items: Node[] }
  | { k: 'list'; items: Node[] }
  | { k: 'matrix'; rows: Node[][] }
  | { k: 'union'; items: Node[] }
  | { k: 'ratio'; items: Node[] }
  | { k: 'rel'; ops: RelOp[]; items: Node[] };

export type RelOp = '=' | '<' | '<=' | '>' | '>=' | '!=' | '~' | 'in';

export class ParseError extends Error {}

/** Thrown when a verification exceeds its time or size budget. */
export class BudgetError extends Error {}

/** A wall-clock deadline shared by parsing and evaluation of one verification. */
export class Budget {
  private readonly deadline: number;
  private ticks = 0;
  constructor(ms: number) {
    this.deadline = Date.now() + ms;
  }
  check(): void {
    if ((++this.ticks & 63) === 0 && Date.now() > this.deadline) throw new BudgetError('time budget exceeded');
  }
  checkNow(): void {
    if (Date.now() > this.deadline) throw new BudgetError('time budget exceeded');
  }
}

/** A canonical string for structural comparison: commutative operands are sorted. */
export function canon(n: Node): string {
  switch (n.k) {
    case 'num':
      return n.text;
    case 'sym':
      return n.name;
    case 'const':
      return `#${n.name}`;
    case 'word':
    case 'text':
      return `"${n.text}"`;
    case 'add':
      return `(+ ${n.terms.map(canon).sort().join(' ')})`;
    case 'neg':
      return `(- ${canon(n.a)})`;
    case 'mul':
      return `(* ${n.factors.map(canon).sort().join(' ')})`;
    case 'div':
      return `(/ ${canon(n.a)} ${canon(n.b)})`;
    case 'pow':
      return `(^ ${canon(n.a)} ${canon(n.b)})`;
    case 'fn':
      return `(${n.name} ${n.args.map(canon).join(' ')})`;
    case 'pm':
      return `(± ${n.a ? canon(n.a) : '_'} ${canon(n.b)})`;
    case 'tuple':
      return `(${n.open}${n.items.map(canon).join(',')}${n.close})`;
    case 'set':
      return `{${n.items.map(canon).sort().join(',')}}`;
    case 'list':
      return `[${n.items.map(canon).sort().join(',')}]`;
    case 'matrix':
      return `(mat ${n.rows.map((r) => r.map(canon).join(',')).join(';')})`;
    case 'union':
      return `(U ${n.items.map(canon).sort().join(' ')})`;
    case 'ratio':
      return `(: ${n.items.map(canon).join(' ')})`;
    case 'rel':
      return `(rel ${n.items.map((it, i) => (i ? `${n.ops[i - 1]} ` : '') + canon(it)).join(' ')})`;
  }
}

/** Free symbols of an expression. */
export function symbols(n: Node, out: Set<string> = new Set()): Set<string> {
  switch (n.k) {
    case 'sym':
      out.add(n.name);
      break;
    case 'add':
      n.terms.forEach((t) => symbols(t, out));
      break;
    case 'mul':
      n.factors.forEach((t) => symbols(t, out));
      break;
    case 'neg':
      symbols(n.a, out);
      break;
    case 'div':
    case 'pow':
      symbols(n.a, out);
      symbols(n.b, out);
      break;
    case 'fn':
      n.args.forEach((t) => symbols(t, out));
      break;
    case 'pm':
      if (n.a) symbols(n.a, out);
      symbols(n.b, out);
      break;
    case 'tuple':
    case 'set':
    case 'list':
    case 'union':
    case 'ratio':
    case 'rel':
      n.items.forEach((t) => symbols(t, out));
      break;
    case 'matrix':
      n.rows.forEach((r) => r.forEach((t) => symbols(t, out)));
      break;
    default:
      break;
  }
  return out;
}
