import { z } from 'zod';
import { LooseObjectMetaSchema } from '../fields/metadata.js';

/** v1 Namespace: tortie reads its labels (namespaceSelector) and name. */
export const K8sNamespaceSchema = z.looseObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('Namespace'),
  metadata: LooseObjectMetaSchema,
  spec: z.looseObject({}).optional(),
  status: z.looseObject({ phase: z.string().optional() }).optional(),
});
export type K8sNamespace = z.output<typeof K8sNamespaceSchema>;
