/**
 * fast-check generators shared by the selector tests (not a test file itself).
 */
import fc from 'fast-check';
import type { Labels, SelectorAst } from './ast.js';

export const keyArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('app', 'role', 'tier', 'has', 'all', 'in', 'projectcalico.org/namespace', 'a.b/c-d_e'),
  fc.string({ unit: fc.constantFrom(...'abcxyzAZ09_./-'.split('')), minLength: 1, maxLength: 8 }),
);

/** Values the language can express: anything but a string holding both quote kinds. */
export const valueArb: fc.Arbitrary<string> = fc
  .oneof(fc.constantFrom('', 'web', 'db', 'x y', "it's", 'say "hi"', '&&', '{}', 'é'), fc.string({ maxLength: 6 }))
  .filter((v) => !(v.includes('"') && v.includes("'")));

export const selectorArb: fc.Arbitrary<SelectorAst> = fc.letrec<{ node: SelectorAst }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant<SelectorAst>({ op: 'all' }),
    fc.constant<SelectorAst>({ op: 'global' }),
    keyArb.map((key): SelectorAst => ({ op: 'has', key })),
    fc.record({ key: keyArb, value: valueArb }).chain(({ key, value }) =>
      fc.constantFrom<SelectorAst>(
        { op: 'eq', key, value },
        { op: 'ne', key, value },
        { op: 'contains', key, value },
        { op: 'startswith', key, value },
        { op: 'endswith', key, value },
      ),
    ),
    fc.record({ key: keyArb, values: fc.array(valueArb, { maxLength: 4 }), isIn: fc.boolean() }).map(
      ({ key, values, isIn }): SelectorAst => ({ op: isIn ? 'in' : 'notin', key, values }),
    ),
    tie('node').map((operand): SelectorAst => ({ op: 'not', operand })),
    fc.array(tie('node'), { maxLength: 4 }).map((operands): SelectorAst => ({ op: 'and', operands })),
    fc.array(tie('node'), { maxLength: 4 }).map((operands): SelectorAst => ({ op: 'or', operands })),
  ),
})).node;

/** Label maps over a small key and value space, so selectors often hit. */
export const labelsArb: fc.Arbitrary<Labels> = fc.dictionary(
  fc.constantFrom('app', 'role', 'tier', 'a', 'b', 'projectcalico.org/namespace'),
  fc.constantFrom('', 'web', 'db', 'x', 'y', 'webdb'),
  { maxKeys: 4 },
);
