import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Labels, SelectorAst } from './ast.js';
import { labelsArb, selectorArb } from './arbitraries.test-helpers.js';
import { formatSelector, matchSelector } from './match.js';
import { normalizeSelector } from './normalize.js';
import { parseSelector, parseSelectorOrThrow } from './parse.js';

describe('matchSelector', () => {
  const labels: Labels = { app: 'web', tier: 'frontend', 'projectcalico.org/namespace': 'default', empty: '' };
  it.each<[string, boolean]>([
    ['', true],
    ['all()', true],
    ['global()', true],
    ['has(app)', true],
    ['has(missing)', false],
    ['!has(missing)', true],
    ['app == "web"', true],
    ['app == "db"', false],
    ['missing == ""', false],
    ['empty == ""', true],
    ['app != "db"', true],
    ['app != "web"', false],
    ['missing != "web"', true],
    ['app in {"db", "web"}', true],
    ['app in {"db"}', false],
    ['missing in {""}', false],
    ['app not in {"db"}', true],
    ['app not in {"web"}', false],
    ['missing not in {"web"}', true],
    ['tier contains "ont"', true],
    ['tier contains "back"', false],
    ['missing contains ""', false],
    ['tier starts with "front"', true],
    ['tier starts with "end"', false],
    ['tier ends with "end"', true],
    ['tier ends with "front"', false],
    ['missing starts with ""', false],
    ['projectcalico.org/namespace == "default"', true],
    ['app == "web" && tier == "backend"', false],
    ['app == "web" || tier == "backend"', true],
    ['!(app == "web" && tier == "backend")', true],
    ['has(missing) || has(app) && has(tier)', true],
    ['(has(missing) || has(app)) && !has(tier)', false],
  ])('%j → %s', (text, expected) => {
    expect(matchSelector(parseSelectorOrThrow(text), labels)).toBe(expected);
  });

  it('does not treat Object.prototype names as labels', () => {
    expect(matchSelector(parseSelectorOrThrow('has(constructor)'), {})).toBe(false);
    expect(matchSelector(parseSelectorOrThrow('toString != "x"'), {})).toBe(true);
  });

  it('matches an or of no operands against nothing and an and of none against everything', () => {
    expect(matchSelector({ op: 'or', operands: [] }, {})).toBe(false);
    expect(matchSelector({ op: 'and', operands: [] }, {})).toBe(true);
  });
});

describe('formatSelector', () => {
  it.each<[SelectorAst, string]>([
    [{ op: 'all' }, 'all()'],
    [{ op: 'and', operands: [] }, 'all()'],
    [{ op: 'or', operands: [] }, '!all()'],
    [{ op: 'eq', key: 'k', value: 'say "hi"' }, `k == 'say "hi"'`],
    [{ op: 'in', key: 'k', values: ['b', 'a', 'b'] }, 'k in {"a", "b"}'],
    [{ op: 'notin', key: 'k', values: [] }, 'k not in {}'],
    [{ op: 'startswith', key: 'k', value: 'x' }, 'k starts with "x"'],
    [{ op: 'not', operand: { op: 'not', operand: { op: 'has', key: 'a' } } }, 'has(a)'],
    [
      {
        op: 'and',
        operands: [
          { op: 'or', operands: [{ op: 'has', key: 'a' }, { op: 'has', key: 'b' }] },
          { op: 'and', operands: [{ op: 'has', key: 'c' }, { op: 'not', operand: { op: 'and', operands: [{ op: 'has', key: 'd' }, { op: 'global' }] } }] },
        ],
      },
      '(has(a) || has(b)) && has(c) && !(has(d) && global())',
    ],
  ])('%j formats as %s', (ast, text) => {
    expect(formatSelector(ast)).toBe(text);
  });

  it('is stable on text: formatting a parsed selector gives the canonical spelling', () => {
    expect(formatSelector(parseSelectorOrThrow("  k=='v'&&(has(a)||!!has(b)) ||k in{'y','x'}"))).toBe(
      'k == "v" && (has(a) || has(b)) || k in {"x", "y"}',
    );
  });

  it('property: parse(format(ast)) is the normalized ast, and formatting is idempotent', () => {
    fc.assert(
      fc.property(selectorArb, (ast) => {
        const text = formatSelector(ast);
        const parsed = parseSelector(text);
        expect(parsed).toEqual({ ok: true, selector: normalizeSelector(ast) });
        if (parsed.ok) expect(formatSelector(parsed.selector)).toBe(text);
      }),
      { numRuns: 2000 },
    );
  });

  it('property: normalizing never changes what a selector matches', () => {
    fc.assert(
      fc.property(selectorArb, labelsArb, (ast, labels) => {
        expect(matchSelector(normalizeSelector(ast), labels)).toBe(matchSelector(ast, labels));
      }),
      { numRuns: 2000 },
    );
  });
});
