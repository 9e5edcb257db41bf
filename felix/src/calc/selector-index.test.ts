import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { labelsArb, selectorArb } from '../../../lib/selector/arbitraries.test-helpers.js';
import { matchSelector } from '../../../lib/selector/match.js';
import { SelectorIndex } from './selector-index.js';

describe('SelectorIndex', () => {
  it('finds exactly the items whose selector matches, in the order given', () => {
    fc.assert(
      fc.property(fc.array(selectorArb, { maxLength: 30 }), fc.array(labelsArb, { minLength: 1, maxLength: 5 }), (selectors, labelMaps) => {
        const items = selectors.map((selector, i) => ({ selector, i }));
        const index = new SelectorIndex(items);
        for (const labels of labelMaps) expect(index.selecting(labels)).toEqual(items.filter((it) => matchSelector(it.selector, labels)));
      }),
      { numRuns: 500 },
    );
  });

  it('files a selector under its first equality', () => {
    const web = { selector: { op: 'and', operands: [{ op: 'eq', key: 'ns', value: 'a' }, { op: 'eq', key: 'app', value: 'web' }] } } as const;
    const any = { selector: { op: 'all' } } as const;
    const index = new SelectorIndex([any, web]);
    expect(index.selecting({ ns: 'a', app: 'web' })).toEqual([any, web]);
    expect(index.selecting({ ns: 'b', app: 'web' })).toEqual([any]);
  });
});
