import { z } from 'zod';
import { TORTIE_API_VERSION } from '../../../lib/contract.js';
import { ObjectMetaSchema } from './metadata.js';

export function apiVersionField() {
  return z
    .literal(TORTIE_API_VERSION)
    .describe(`API version of the object: ${TORTIE_API_VERSION} (projectcalico.org/v3 is accepted on input and rewritten).`);
}

export function kindField<const K extends string>(kind: K) {
  return z.literal(kind).describe(`Kind of the object: ${kind}.`);
}

/** The whole object of a tortie kind: apiVersion, kind, metadata and spec, nothing else. */
export function tortieResource<const K extends string, S extends z.ZodType>(kind: K, description: string, spec: S) {
  return z
    .strictObject({
      apiVersion: apiVersionField(),
      kind: kindField(kind),
      metadata: ObjectMetaSchema,
      spec,
    })
    .describe(description);
}
