import { describe, expect, it } from 'vitest';
import { extractAnswer, verifyMath } from '../src/index.js';

const eq = (completion: string, reference: string): boolean => verifyMath(completion, reference).equal;

describe('extraction', () => {
  it('follows the documented priority order', () => {
    expect(extractAnswer('<think>\\boxed{1}</think> so \\boxed{2}')?.text).toBe('2');
    expect(extractAnswer('<answer>\\boxed{7}</answer> \\boxed{9}')?.text).toBe('7');
    expect(extractAnswer('<answer> 12 </answer>')?.text).toBe('12');
    expect(extractAnswer('x is 3, $y=4$ and \\boxed{5}. Final: 6')?.text).toBe('5');
    expect(extractAnswer('5 + 6 = 11\n#### 11')).toEqual({ text: '11', method: 'hashes' });
    expect(extractAnswer('we get 4, so the final answer is 12.')).toEqual({ text: '12', method: 'finalAnswer' });
    expect(extractAnswer('first $x=2$ then $y = 3$ done')?.text).toBe('y = 3');
    expect(extractAnswer('first $x=2$ and later 17 apples')?.text).toBe('17');
    expect(extractAnswer('no answer here')).toBeNull();
  });
  it('joins boxes that form one answer, not boxes from different sentences', () => {
    expect(extractAnswer('\\boxed{1} and \\boxed{2}')?.text).toBe('1, 2');
    expect(extractAnswer('We first get \\boxed{1}. Then, after more work, the answer is \\boxed{2}')?.text).toBe('2');
  });
  it('matches nested braces of \\boxed{}', () => {
    expect(extractAnswer('\\boxed{\\frac{1}{\\sqrt{2}}}')?.text).toBe('\\frac{1}{\\sqrt{2}}');
    expect(extractAnswer('\\fbox{42}')?.text).toBe('42');
  });
  it('applies the missing </think> policy', () => {
    expect(extractAnswer('<think>\\boxed{3}')).toBeNull();
    expect(extractAnswer('<think>\\boxed{3}', { missingThink: 'keep' })?.text).toBe('3');
    expect(extractAnswer('\\boxed{3}', { missingThink: 'reject' })).toBeNull();
    expect(extractAnswer('<think>\\boxed{3}</think>', { stripThink: false })?.text).toBe('3');
  });
  it('takes a custom step order', () => {
    expect(extractAnswer('\\boxed{1} #### 2', { order: ['hashes', 'boxed'] })?.text).toBe('2');
    expect(extractAnswer('\\boxed{1}', { order: ['number'] })?.text).toBe('1');
  });
});

describe('equivalence', () => {
  it('reads number formats', () => {
    expect(eq('1,234,567', '1234567')).toBe(true);
    expect(eq('$\\$1{,}000$', '1000')).toBe(true);
    expect(eq('2.50', '5/2')).toBe(true);
    expect(eq('$3\\frac{1}{2}$', '3.5')).toBe(true);
    expect(eq('$1.5\\times10^{3}$', '1500')).toBe(true);
    expect(eq('$-\\frac{3}{4}$', '-0.75')).toBe(true);
    expect(eq('$\\frac{3}{-4}$', '-0.75')).toBe(true);
    expect(eq('$45^\\circ$', '45')).toBe(true);
    expect(eq('$12 \\text{ cm}^2$', '12')).toBe(true);
  });
  it('compares exactly before using floating point', () => {
    expect(eq('$10^{30}+1$', '$10^{30}$')).toBe(false);
    expect(eq('$1\\times10^{-20}$', '$2\\times10^{-20}$')).toBe(false);
    expect(eq('$\\frac{1}{2006!}$', '$\\frac{1}{2004!}$')).toBe(false);
    expect(eq('$\\frac{1}{2^{3000}}$', '$2^{-3000}$')).toBe(true);
    expect(eq('$0.3333333$', '$\\frac13$')).toBe(true);
    expect(eq('$0.33$', '$\\frac13$')).toBe(false);
    expect(eq('5', '5.001')).toBe(false);
  });
  it('handles radicals, pi, powers and algebra', () => {
    expect(eq('$2\\sqrt{2}$', '$\\sqrt{8}$')).toBe(true);
    expect(eq('$\\frac{\\pi}{2}$', '$\\frac{2\\pi}{4}$')).toBe(true);
    expect(eq('$\\sin^2 x + \\cos^2 x$', '1')).toBe(true);
    expect(eq('$(x+1)^2$', '$x^2+2x+1$')).toBe(true);
    expect(eq('$(x+1)^2$', '$x^2+1$')).toBe(false);
    expect(eq('$\\frac{1}{\\sqrt{2}}$', '$\\frac{\\sqrt{2}}{2}$')).toBe(true);
  });
  it('distinguishes intervals, sets and tuples', () => {
    expect(eq('$(1,2]$', '$(1,2]$')).toBe(true);
    expect(eq('$(1,2]$', '$[1,2]$')).toBe(false);
    expect(eq('$\\{3,1,2\\}$', '$\\{1,2,3\\}$')).toBe(true);
    expect(eq('$(3,1)$', '$(1,3)$')).toBe(false);
    expect(eq('$x \\pm 2$', '$\\{x+2, x-2\\}$')).toBe(true);
    expect(eq('$x = 5$', '5')).toBe(true);
    expect(eq('$x > 2$', '$(2, \\infty)$')).toBe(true);
  });
});

describe('budget', () => {
  it('answers "not equal" for pathological inputs instead of hanging', () => {
    const huge = verifyMath('$2^{2^{2^{2^{100}}}}$', '$2^{2^{2^{2^{100}}}}+1$');
    expect(huge.equal).toBe(false);
    expect(huge.reason).toMatch(/timeout|not equal/);
    const deep = verifyMath(`$${'('.repeat(5000)}1${')'.repeat(5000)}$`, '2');
    expect(deep.equal).toBe(false);
    const fact = verifyMath('$100000!$', '$100001!$');
    expect(fact.equal).toBe(false);
    expect(fact.reason).toMatch(/timeout/);
    const long = verifyMath(`$${'1+'.repeat(20000)}1$`, '20001');
    expect(long.equal).toBe(false);
  });
  it('respects a tiny time budget', () => {
    const r = verifyMath('$\\frac{1}{3000!}$', '$\\frac{1}{2999!}$', { timeoutMs: 0 });
    expect(r.equal).toBe(false);
  });
});
