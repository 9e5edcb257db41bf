import type { Labels, SelectorAst } from '../../../lib/selector/ast.js';
import { matchSelector } from '../../../lib/selector/match.js';
import { equalities } from './member-index.js';

/**
 * MemberIndex the other way round: items that carry a selector (policies),
 * found for a label map. Each item is filed under the first `key == value`
 * conjunct of its selector, so the items selecting an endpoint are found among
 * a few candidates (nearly every policy selector names its namespace) instead
 * of by testing all of them. `selecting` answers exactly what testing every
 * item would, in the order the items were given (a property test checks it).
 */
export class SelectorIndex<T extends { readonly selector: SelectorAst }> {
  private readonly byLabel = new Map<string, T[]>();
  private readonly unindexed: T[] = [];
  private readonly rank = new Map<T, number>();

  constructor(items: readonly T[]) {
    items.forEach((item, i) => {
      this.rank.set(item, i);
      const eq = equalities(item.selector)[0];
      if (eq === undefined) this.unindexed.push(item);
      else {
        const key = labelKey(eq.key, eq.value);
        const list = this.byLabel.get(key);
        if (list) list.push(item);
        else this.byLabel.set(key, [item]);
      }
    });
  }

  selecting(labels: Labels): T[] {
    const candidates = [...this.unindexed];
    for (const [k, v] of Object.entries(labels)) {
      const list = this.byLabel.get(labelKey(k, v));
      if (list !== undefined) candidates.push(...list);
    }
    return candidates.filter((item) => matchSelector(item.selector, labels)).sort((a, b) => this.rank.get(a)! - this.rank.get(b)!);
  }
}

const labelKey = (key: string, value: string) => `${key}\u0000${value}`;
