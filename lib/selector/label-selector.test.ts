import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hasErrorCode } from '../errors.js';
import type { Labels, SelectorAst } from './ast.js';
import {
  formatLabelSelectorString,
  isLabelKey,
  isLabelValue,
  type LabelSelector,
  type LabelSelectorRequirement,
  labelSelectorToAst,
  parseLabelSelectorString,
} from './label-selector.js';
import { matchSelector } from './match.js';
import { labelsArb } from './arbitraries.test-helpers.js';

/** Kubernetes' own semantics, written directly from the API reference, as the oracle. */
function kubernetesMatches(sel: LabelSelector, labels: Labels): boolean {
  const has = (k: string) => Object.hasOwn(labels, k);
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) {
    if (!has(k) || labels[k] !== v) return false;
  }
  for (const req of sel.matchExpressions ?? []) {
    const values = req.values ?? [];
    const ok =
      req.operator === 'In'
        ? has(req.key) && values.includes(labels[req.key]!)
        : req.operator === 'NotIn'
          ? !has(req.key) || !values.includes(labels[req.key]!)
          : req.operator === 'Exists'
            ? has(req.key)
            : !has(req.key);
    if (!ok) return false;
  }
  return true;
}

const k8sKeyArb = fc.constantFrom('app', 'role', 'tier', 'a', 'b', 'projectcalico.org/namespace');
const k8sValueArb = fc.constantFrom('', 'web', 'db', 'x', 'y', 'webdb');
const requirementArb: fc.Arbitrary<LabelSelectorRequirement> = fc.oneof(
  fc.record({ key: k8sKeyArb, operator: fc.constantFrom('In' as const, 'NotIn' as const), values: fc.array(k8sValueArb, { minLength: 1, maxLength: 3 }) }),
  fc.record({ key: k8sKeyArb, operator: fc.constantFrom('Exists' as const, 'DoesNotExist' as const) }),
);
const labelSelectorArb: fc.Arbitrary<LabelSelector> = fc.record(
  {
    matchLabels: fc.dictionary(k8sKeyArb, k8sValueArb, { maxKeys: 3 }),
    matchExpressions: fc.array(requirementArb, { maxLength: 3 }),
  },
  { requiredKeys: [] },
);

describe('labelSelectorToAst', () => {
  it.each<[LabelSelector | null | undefined, SelectorAst]>([
    [{}, { op: 'all' }],
    [null, { op: 'all' }],
    [undefined, { op: 'all' }],
    [{ matchLabels: {}, matchExpressions: [] }, { op: 'all' }],
    [{ matchLabels: { app: 'web' } }, { op: 'eq', key: 'app', value: 'web' }],
    [
      { matchLabels: { tier: 'x', app: 'web' } },
      { op: 'and', operands: [{ op: 'eq', key: 'app', value: 'web' }, { op: 'eq', key: 'tier', value: 'x' }] },
    ],
    [{ matchExpressions: [{ key: 'a', operator: 'In', values: ['y', 'x'] }] }, { op: 'in', key: 'a', values: ['x', 'y'] }],
    [{ matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['x'] }] }, { op: 'notin', key: 'a', values: ['x'] }],
    [{ matchExpressions: [{ key: 'a', operator: 'Exists' }] }, { op: 'has', key: 'a' }],
    [{ matchExpressions: [{ key: 'a', operator: 'DoesNotExist' }] }, { op: 'not', operand: { op: 'has', key: 'a' } }],
    [
      { matchLabels: { b: '1' }, matchExpressions: [{ key: 'a', operator: 'Exists' }] },
      { op: 'and', operands: [{ op: 'eq', key: 'b', value: '1' }, { op: 'has', key: 'a' }] },
    ],
  ])('%j → %j', (sel, ast) => {
    expect(labelSelectorToAst(sel)).toEqual(ast);
  });

  it('throws ERR_VALIDATION naming the field for an unknown operator', () => {
    const bad = { matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] } as unknown as LabelSelector;
    let caught: unknown;
    try {
      labelSelectorToAst(bad);
    } catch (err) {
      caught = err;
    }
    expect(hasErrorCode(caught, 'ERR_VALIDATION')).toBe(true);
    expect((caught as Error).message).toMatch(/^matchExpressions\[0\]\.operator: "Gt"/);
  });

  it('property: the AST matches exactly the label maps Kubernetes would', () => {
    fc.assert(
      fc.property(labelSelectorArb, labelsArb, (sel, labels) => {
        expect(matchSelector(labelSelectorToAst(sel), labels)).toBe(kubernetesMatches(sel, labels));
      }),
      { numRuns: 3000 },
    );
  });

  it('property: the string form round-trips and matches the same label maps', () => {
    fc.assert(
      fc.property(labelSelectorArb, labelsArb, (sel, labels) => {
        const ast = labelSelectorToAst(sel);
        const text = formatLabelSelectorString(ast);
        expect(text).not.toBeNull();
        const parsed = parseLabelSelectorString(text!);
        expect(parsed).toEqual({ ok: true, selector: ast });
        if (parsed.ok) expect(matchSelector(parsed.selector, labels)).toBe(kubernetesMatches(sel, labels));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('parseLabelSelectorString', () => {
  it.each<[string, SelectorAst]>([
    ['', { op: 'all' }],
    ['  ', { op: 'all' }],
    ['a=b', { op: 'eq', key: 'a', value: 'b' }],
    ['a == b', { op: 'eq', key: 'a', value: 'b' }],
    ['a=', { op: 'eq', key: 'a', value: '' }],
    ['a!=b', { op: 'ne', key: 'a', value: 'b' }],
    ['a in (x, y)', { op: 'in', key: 'a', values: ['x', 'y'] }],
    ['a in(y,x,y)', { op: 'in', key: 'a', values: ['x', 'y'] }],
    ['a notin (x)', { op: 'notin', key: 'a', values: ['x'] }],
    ['a in ()', { op: 'in', key: 'a', values: [''] }],
    ['a in (x,)', { op: 'in', key: 'a', values: ['', 'x'] }],
    ['a', { op: 'has', key: 'a' }],
    ['!a', { op: 'not', operand: { op: 'has', key: 'a' } }],
    ['app.kubernetes.io/name=web', { op: 'eq', key: 'app.kubernetes.io/name', value: 'web' }],
    [
      'a=b, c!=d,e in (x),f,!g',
      {
        op: 'and',
        operands: [
          { op: 'eq', key: 'a', value: 'b' },
          { op: 'ne', key: 'c', value: 'd' },
          { op: 'in', key: 'e', values: ['x'] },
          { op: 'has', key: 'f' },
          { op: 'not', operand: { op: 'has', key: 'g' } },
        ],
      },
    ],
    ['in=notin', { op: 'eq', key: 'in', value: 'notin' }],
  ])('%j parses', (text, ast) => {
    expect(parseLabelSelectorString(text)).toEqual({ ok: true, selector: ast });
  });

  it.each<[string, number, RegExp]>([
    ['a=b c', 5, /expected ',' or the end/],
    ['a in (x', 8, /expected ',' or '\)'/],
    ['a in x', 6, /expected '\('/],
    ['a > 1', 3, /not supported/],
    ['a b', 3, /expected =, ==, !=, in, notin/],
    ['a=b,', 5, /expected a label key/],
    [',a', 1, /expected a label key/],
    ['-a=b', 1, /invalid label key "-a"/],
    ['a=b/c', 3, /invalid label value "b\/c"/],
    ['Foo.com/a=b', 1, /invalid label key/],
    ['!', 2, /expected a label key/],
  ])('%j fails at column %i', (text, column, message) => {
    const result = parseLabelSelectorString(text);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.column).toBe(column);
    expect(result.error.message).toMatch(message);
  });

  it('random strings never throw', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: fc.constantFrom(...'ab=!(), in notx/.-'.split('')) })), (text) => {
        const result = parseLabelSelectorString(text);
        if (!result.ok) expect(result.error.column).toBeLessThanOrEqual(text.length + 1);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('formatLabelSelectorString', () => {
  it.each<[SelectorAst, string | null]>([
    [{ op: 'all' }, ''],
    [{ op: 'eq', key: 'a', value: 'b' }, 'a=b'],
    [{ op: 'ne', key: 'a', value: '' }, 'a!='],
    [{ op: 'in', key: 'a', values: ['y', 'x'] }, 'a in (x,y)'],
    [{ op: 'notin', key: 'a', values: ['x'] }, 'a notin (x)'],
    [{ op: 'and', operands: [{ op: 'has', key: 'a' }, { op: 'all' }, { op: 'not', operand: { op: 'has', key: 'b' } }] }, 'a,!b'],
    [{ op: 'in', key: 'a', values: [] }, null],
    [{ op: 'eq', key: 'a', value: 'has space' }, null],
    [{ op: 'eq', key: '-a', value: 'x' }, null],
    [{ op: 'contains', key: 'a', value: 'x' }, null],
    [{ op: 'global' }, null],
    [{ op: 'or', operands: [{ op: 'has', key: 'a' }, { op: 'has', key: 'b' }] }, null],
    [{ op: 'not', operand: { op: 'eq', key: 'a', value: 'b' } }, null],
  ])('%j → %j', (ast, text) => {
    expect(formatLabelSelectorString(ast)).toBe(text);
  });
});

describe('label key and value syntax', () => {
  it.each<[string, boolean]>([
    ['app', true],
    ['app.kubernetes.io/name', true],
    ['a_b-c.d', true],
    ['', false],
    ['-a', false],
    ['a-', false],
    ['/a', false],
    ['Example.com/a', false],
    ['a/b/c', false],
    ['x'.repeat(63), true],
    ['x'.repeat(64), false],
  ])('isLabelKey(%j) is %s', (key, ok) => {
    expect(isLabelKey(key)).toBe(ok);
  });

  it.each<[string, boolean]>([
    ['', true],
    ['web', true],
    ['a.b_c-d', true],
    ['_a', false],
    ['a b', false],
    ['x'.repeat(64), false],
  ])('isLabelValue(%j) is %s', (value, ok) => {
    expect(isLabelValue(value)).toBe(ok);
  });
});
