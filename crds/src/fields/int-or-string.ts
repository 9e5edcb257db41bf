import { z } from 'zod';

/**
 * Schemas that take an integer or a string. The CRD generator renders them as
 * `x-kubernetes-int-or-string: true`, the only structural form of such a union.
 */
export const intOrStringFields = z.registry<{ intOrString: true }, z.core.$ZodType>();

export function markIntOrString<T extends z.ZodType>(schema: T): T {
  intOrStringFields.add(schema, { intOrString: true });
  return schema;
}
