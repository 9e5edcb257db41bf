import type { SelectorAst } from './ast.js';
import { normalizeSelector } from './normalize.js';

/**
 * The canonical text of a selector: the same AST (after normalizeSelector)
 * always gives the same string, and parseSelector gives that AST back.
 * Used as a cache key and as the seed of nft set names.
 *
 * Two things the language cannot say: a value holding both `'` and `"` (there
 * are no escapes in Calico's syntax) and a key outside [A-Za-z0-9_./-]. Such
 * ASTs still format deterministically, but the text does not parse back.
 */
export function formatSelector(ast: SelectorAst): string {
  return render(normalizeSelector(ast));
}

function quote(value: string): string {
  return value.includes('"') ? `'${value}'` : `"${value}"`;
}

function render(ast: SelectorAst): string {
  switch (ast.op) {
    case 'all':
      return 'all()';
    case 'global':
      return 'global()';
    case 'has':
      return `has(${ast.key})`;
    case 'eq':
      return `${ast.key} == ${quote(ast.value)}`;
    case 'ne':
      return `${ast.key} != ${quote(ast.value)}`;
    case 'contains':
      return `${ast.key} contains ${quote(ast.value)}`;
    case 'startswith':
      return `${ast.key} starts with ${quote(ast.value)}`;
    case 'endswith':
      return `${ast.key} ends with ${quote(ast.value)}`;
    case 'in':
      return `${ast.key} in {${ast.values.map(quote).join(', ')}}`;
    case 'notin':
      return `${ast.key} not in {${ast.values.map(quote).join(', ')}}`;
    case 'not': {
      const inner = render(ast.operand);
      return ast.operand.op === 'and' || ast.operand.op === 'or' ? `!(${inner})` : `!${inner}`;
    }
    case 'and':
      return ast.operands.map((o) => (o.op === 'or' || o.op === 'and' ? `(${render(o)})` : render(o))).join(' && ');
    case 'or':
      return ast.operands.map((o) => (o.op === 'or' ? `(${render(o)})` : render(o))).join(' || ');
  }
}
