import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hasErrorCode } from '../errors.js';
import type { SelectorAst } from './ast.js';
import { parseSelector, parseSelectorOrThrow } from './parse.js';

describe('parseSelector grammar', () => {
  it.each<[string, SelectorAst]>([
    ['', { op: 'all' }],
    ['   ', { op: 'all' }],
    ['all()', { op: 'all' }],
    ['all( )', { op: 'all' }],
    ['global()', { op: 'global' }],
    ['has(a)', { op: 'has', key: 'a' }],
    ['has( projectcalico.org/namespace )', { op: 'has', key: 'projectcalico.org/namespace' }],
    ['!has(a)', { op: 'not', operand: { op: 'has', key: 'a' } }],
    ['!!has(a)', { op: 'has', key: 'a' }],
    ['!!!has(a)', { op: 'not', operand: { op: 'has', key: 'a' } }],
    ['k == "v"', { op: 'eq', key: 'k', value: 'v' }],
    ["k=='v'", { op: 'eq', key: 'k', value: 'v' }],
    ['k != "v"', { op: 'ne', key: 'k', value: 'v' }],
    ['k == ""', { op: 'eq', key: 'k', value: '' }],
    [`k == 'say "hi"'`, { op: 'eq', key: 'k', value: 'say "hi"' }],
    [`k == "it's"`, { op: 'eq', key: 'k', value: "it's" }],
    ['k == "a b && c"', { op: 'eq', key: 'k', value: 'a b && c' }],
    ['projectcalico.org/namespace == "default"', { op: 'eq', key: 'projectcalico.org/namespace', value: 'default' }],
    ['app.kubernetes.io/name-1_x == "x"', { op: 'eq', key: 'app.kubernetes.io/name-1_x', value: 'x' }],
    ['k in {"b", "a", "b"}', { op: 'in', key: 'k', values: ['a', 'b'] }],
    ["k in {'a',}", { op: 'in', key: 'k', values: ['a'] }],
    ['k in {}', { op: 'in', key: 'k', values: [] }],
    ['k in{"a"}', { op: 'in', key: 'k', values: ['a'] }],
    ['k not in {"a"}', { op: 'notin', key: 'k', values: ['a'] }],
    ['k notin {"a"}', { op: 'notin', key: 'k', values: ['a'] }],
    ['k  not   in {"a"}', { op: 'notin', key: 'k', values: ['a'] }],
    ['k contains "x"', { op: 'contains', key: 'k', value: 'x' }],
    ['k starts with "x"', { op: 'startswith', key: 'k', value: 'x' }],
    ['k ends  with "x"', { op: 'endswith', key: 'k', value: 'x' }],
    ['has == "x"', { op: 'eq', key: 'has', value: 'x' }],
    ['all in {"x"}', { op: 'in', key: 'all', values: ['x'] }],
    ['in == "x"', { op: 'eq', key: 'in', value: 'x' }],
    ['a == "1" && b == "2"', { op: 'and', operands: [{ op: 'eq', key: 'a', value: '1' }, { op: 'eq', key: 'b', value: '2' }] }],
    ['has(a)||has(b)', { op: 'or', operands: [{ op: 'has', key: 'a' }, { op: 'has', key: 'b' }] }],
    [
      'has(a) || has(b) && has(c)',
      { op: 'or', operands: [{ op: 'has', key: 'a' }, { op: 'and', operands: [{ op: 'has', key: 'b' }, { op: 'has', key: 'c' }] }] },
    ],
    [
      '(has(a) || has(b)) && has(c)',
      { op: 'and', operands: [{ op: 'or', operands: [{ op: 'has', key: 'a' }, { op: 'has', key: 'b' }] }, { op: 'has', key: 'c' }] },
    ],
    [
      '!has(a) && has(b)',
      { op: 'and', operands: [{ op: 'not', operand: { op: 'has', key: 'a' } }, { op: 'has', key: 'b' }] },
    ],
    [
      '!(has(a) && has(b))',
      { op: 'not', operand: { op: 'and', operands: [{ op: 'has', key: 'a' }, { op: 'has', key: 'b' }] } },
    ],
    ['!k == "v"', { op: 'not', operand: { op: 'eq', key: 'k', value: 'v' } }],
    [
      '(has(a) && has(b)) && has(c)',
      { op: 'and', operands: [{ op: 'has', key: 'a' }, { op: 'has', key: 'b' }, { op: 'has', key: 'c' }] },
    ],
    ['((has(a)))', { op: 'has', key: 'a' }],
    ['\thas(a)\n', { op: 'has', key: 'a' }],
  ])('%j parses', (text, expected) => {
    expect(parseSelector(text)).toEqual({ ok: true, selector: expected });
  });
});

describe('parseSelector errors', () => {
  it.each<[string, number, RegExp]>([
    ['a == ', 6, /expected a quoted value/],
    ['a = "x"', 3, /expected '=='/],
    ['a == x', 6, /expected a quoted value/],
    ['a == "x', 6, /unterminated string/],
    ["a == 'x\"", 6, /unterminated string/],
    ['a', 2, /end of selector after label "a"/],
    ['a is "x"', 3, /expected an operator/],
    ['a starts "x"', 10, /expected 'with'/],
    ['a not "x"', 3, /expected 'in' after 'not'/],
    ['a in "x"', 6, /expected '\{'/],
    ['a in {"x" "y"}', 11, /expected ',' or '\}'/],
    ['a in {"x"', 10, /expected ',' or '\}'/],
    ['a in {x}', 7, /expected a quoted value/],
    ['has()', 5, /expected a label key in has\(\)/],
    ['has(a', 6, /expected '\)'/],
    ['has(a b)', 7, /expected '\)'/],
    ['all(x)', 5, /expected '\)'/],
    ['(has(a)', 8, /expected '\)'/],
    ['has(a))', 7, /unexpected "\)"/],
    ['has(a) has(b)', 8, /expected &&, \|\| or the end/],
    ['has(a) & has(b)', 8, /expected '&&'/],
    ['has(a) | has(b)', 8, /expected '\|\|'/],
    ['has(a) &&', 10, /expected a label key/],
    ['&& has(a)', 1, /unexpected "&"/],
    ['!', 2, /unexpected end of selector/],
    ['!= "x"', 1, /unexpected "!"/],
    ['()', 2, /unexpected "\)"/],
    ['a == "x" ||', 12, /unexpected end of selector/],
    ['a == "x" $', 10, /unexpected "\$"/],
  ])('%j fails at column %i', (text, column, message) => {
    const result = parseSelector(text);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.column).toBe(column);
    expect(result.error.message).toMatch(message);
  });

  it('refuses absurd nesting with an error instead of overflowing the stack', () => {
    const text = '('.repeat(10_000) + 'has(a)' + ')'.repeat(10_000);
    const result = parseSelector(text);
    expect(result.ok).toBe(false);
  });

  it('accepts many leading ! without recursion trouble', () => {
    expect(parseSelector('!'.repeat(10_001) + 'has(a)')).toEqual({
      ok: true,
      selector: { op: 'not', operand: { op: 'has', key: 'a' } },
    });
  });

  it('random strings never throw, they parse or return a column inside the input', () => {
    const alphabet = fc.constantFrom(...'ab.-/_ ()!=&|{},\'"inotcashwldrgb0'.split(''));
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: alphabet, maxLength: 40 })), (text) => {
        const result = parseSelector(text);
        if (!result.ok) {
          expect(result.error.column).toBeGreaterThanOrEqual(1);
          expect(result.error.column).toBeLessThanOrEqual(text.length + 1);
        }
      }),
      { numRuns: 5000 },
    );
  });
});

describe('parseSelectorOrThrow', () => {
  it('returns the AST of a valid selector', () => {
    expect(parseSelectorOrThrow('has(a)')).toEqual({ op: 'has', key: 'a' });
  });

  it('throws ERR_SELECTOR_SYNTAX naming the selector and column', () => {
    let caught: unknown;
    try {
      parseSelectorOrThrow('a == ');
    } catch (err) {
      caught = err;
    }
    expect(hasErrorCode(caught, 'ERR_SELECTOR_SYNTAX')).toBe(true);
    if (!hasErrorCode(caught, 'ERR_SELECTOR_SYNTAX')) return;
    expect(caught.message).toBe('selector "a == " column 6: expected a quoted value');
    expect(caught.details).toEqual({ column: 6, selector: 'a == ' });
  });
});
