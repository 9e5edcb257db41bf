import { z } from 'zod';
import { LooseObjectMetaSchema } from '../fields/metadata.js';

/** v1 ServiceAccount: tortie reads its name and labels (serviceAccountSelector). */
export const K8sServiceAccountSchema = z.looseObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('ServiceAccount'),
  metadata: LooseObjectMetaSchema,
});
export type K8sServiceAccount = z.output<typeof K8sServiceAccountSchema>;
