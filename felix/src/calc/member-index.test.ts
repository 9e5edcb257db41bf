import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Labels } from '../../../lib/selector/ast.js';
import { labelsArb, selectorArb } from '../../../lib/selector/arbitraries.test-helpers.js';
import { matchSelector } from '../../../lib/selector/match.js';
import { MemberIndex } from './member-index.js';

describe('MemberIndex', () => {
  it('selects exactly what a full scan selects, in the same order', () => {
    fc.assert(
      fc.property(fc.array(labelsArb, { maxLength: 30 }), fc.array(selectorArb, { minLength: 1, maxLength: 5 }), (labelMaps, selectors) => {
        const items = labelMaps.map((labels, i) => ({ labels, i }));
        const index = new MemberIndex(items);
        for (const s of selectors) {
          expect(index.select(s)).toEqual(items.filter((it) => matchSelector(s, it.labels)));
        }
      }),
      { numRuns: 500 },
    );
  });

  it('uses the label bucket of an equality', () => {
    const items: { labels: Labels }[] = [{ labels: { ns: 'a', app: 'web' } }, { labels: { ns: 'b', app: 'web' } }, { labels: { ns: 'a' } }];
    const index = new MemberIndex(items);
    expect(index.select({ op: 'and', operands: [{ op: 'eq', key: 'ns', value: 'a' }, { op: 'has', key: 'app' }] })).toEqual([items[0]]);
    expect(index.select({ op: 'eq', key: 'ns', value: 'zzz' })).toEqual([]);
  });
});
