import { z } from 'zod';
import { LooseObjectMetaSchema } from '../fields/metadata.js';

/** v1 Secret: BGP passwords are read from one (data values are base64). */
export const K8sSecretSchema = z.looseObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('Secret'),
  metadata: LooseObjectMetaSchema,
  type: z.string().optional(),
  data: z.record(z.string(), z.string()).nullable().optional(),
  stringData: z.record(z.string(), z.string()).nullable().optional(),
});
export type K8sSecret = z.output<typeof K8sSecretSchema>;
