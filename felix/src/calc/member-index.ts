import type { Labels, SelectorAst } from '../../../lib/selector/ast.js';
import { matchSelector } from '../../../lib/selector/match.js';

/**
 * Finds the items a selector matches without scanning them all when it can:
 * a selector that is (or is an `and` with) `key == "value"` only needs the
 * items carrying that label, and nearly every policy selector has one
 * (`projectcalico.org/namespace == "x"`). Buckets are built lazily per key.
 * The answer is exactly the full scan's, in the same order (a property test
 * checks it).
 */
export class MemberIndex<T extends { readonly labels: Labels }> {
  private readonly buckets = new Map<string, Map<string, T[]>>();

  constructor(private readonly items: readonly T[]) {}

  select(selector: SelectorAst): T[] {
    let candidates: readonly T[] = this.items;
    for (const eq of equalities(selector)) {
      const bucket = this.bucket(eq.key).get(eq.value) ?? [];
      if (bucket.length < candidates.length) candidates = bucket;
    }
    return candidates.filter((item) => matchSelector(selector, item.labels));
  }

  private bucket(key: string): Map<string, T[]> {
    let byValue = this.buckets.get(key);
    if (byValue === undefined) {
      byValue = new Map();
      for (const item of this.items) {
        if (!Object.hasOwn(item.labels, key)) continue;
        const value = item.labels[key]!;
        const list = byValue.get(value);
        if (list) list.push(item);
        else byValue.set(value, [item]);
      }
      this.buckets.set(key, byValue);
    }
    return byValue;
  }
}

/** The `key == value` conjuncts every match must satisfy. */
export function equalities(selector: SelectorAst): { key: string; value: string }[] {
  if (selector.op === 'eq') return [{ key: selector.key, value: selector.value }];
  if (selector.op === 'and') return selector.operands.flatMap(equalities);
  return [];
}
