import type { Labels, SelectorAst } from './ast.js';

export { formatSelector } from './format.js';

/**
 * Calico's matching semantics: `==`, `in`, `contains`, `starts with`,
 * `ends with` need the label to be present; `!=` and `not in` are true when
 * it is absent. all() and global() match every label map (global() only
 * matters to the caller, which decides where global resources apply).
 * Only own properties count as labels (`constructor` is not a label).
 */
export function matchSelector(ast: SelectorAst, labels: Labels): boolean {
  switch (ast.op) {
    case 'all':
    case 'global':
      return true;
    case 'has':
      return Object.hasOwn(labels, ast.key);
    case 'eq':
      return labelOf(labels, ast.key) === ast.value;
    case 'ne':
      return labelOf(labels, ast.key) !== ast.value;
    case 'in': {
      const v = labelOf(labels, ast.key);
      return v !== undefined && ast.values.includes(v);
    }
    case 'notin': {
      const v = labelOf(labels, ast.key);
      return v === undefined || !ast.values.includes(v);
    }
    case 'contains': {
      const v = labelOf(labels, ast.key);
      return v !== undefined && v.includes(ast.value);
    }
    case 'startswith': {
      const v = labelOf(labels, ast.key);
      return v !== undefined && v.startsWith(ast.value);
    }
    case 'endswith': {
      const v = labelOf(labels, ast.key);
      return v !== undefined && v.endsWith(ast.value);
    }
    case 'not':
      return !matchSelector(ast.operand, labels);
    case 'and':
      return ast.operands.every((o) => matchSelector(o, labels));
    case 'or':
      return ast.operands.some((o) => matchSelector(o, labels));
  }
}

function labelOf(labels: Labels, key: string): string | undefined {
  return Object.hasOwn(labels, key) ? labels[key] : undefined;
}
