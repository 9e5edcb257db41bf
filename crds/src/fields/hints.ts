import { z } from 'zod';

/**
 * What a field should hold, in words a user can act on ("a CIDR such as
 * 10.244.0.0/16"). validate.ts looks a failing field's schema up here to say
 * what would be right. A separate registry (not `.meta()`) so that it never
 * leaks into the generated CRD.
 */
export const fieldHints = z.registry<{ expected: string }>();

/** Registers the hint and returns the same schema, for use inline. */
export function hint<T extends z.ZodType>(schema: T, expected: string): T {
  fieldHints.add(schema, { expected });
  return schema;
}
