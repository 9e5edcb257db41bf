import type { SelectorAst } from './ast.js';

/**
 * One spelling for one meaning, so formatSelector and the parser agree:
 * - nested `and` in `and` (and `or` in `or`) are flattened;
 * - an `and`/`or` of one operand is that operand; `and` of none is all(),
 *   `or` of none (matches nothing) is !all();
 * - `!!x` is `x` (Calico collapses leading `!`s the same way);
 * - `in` / `not in` values are sorted (UTF-16 order) and deduplicated, as
 *   Calico stores them as a sorted set.
 * Operand order is kept: it is how the author wrote it.
 */
export function normalizeSelector(ast: SelectorAst): SelectorAst {
  switch (ast.op) {
    case 'not': {
      // Unwrapped in a loop, not by recursion: a long `!!!!…` chain must not blow the stack.
      let negated = false;
      let inner: SelectorAst = ast;
      while (inner.op === 'not') {
        negated = !negated;
        inner = inner.operand;
      }
      const operand = normalizeSelector(inner);
      if (!negated) return operand;
      return operand.op === 'not' ? operand.operand : { op: 'not', operand };
    }
    case 'and':
    case 'or': {
      const operands: SelectorAst[] = [];
      for (const child of ast.operands) {
        const n = normalizeSelector(child);
        if (n.op === ast.op) operands.push(...n.operands);
        else operands.push(n);
      }
      if (operands.length === 1) return operands[0]!;
      if (operands.length === 0) return ast.op === 'and' ? { op: 'all' } : { op: 'not', operand: { op: 'all' } };
      return { op: ast.op, operands };
    }
    case 'in':
    case 'notin':
      return { op: ast.op, key: ast.key, values: [...new Set(ast.values)].sort() };
    default:
      return ast;
  }
}
