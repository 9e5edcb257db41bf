import { z } from 'zod';
import { LooseObjectMetaSchema } from '../fields/metadata.js';

/** v1 Node: its pod CIDRs and addresses, used to register the tortie Node. */
export const K8sNodeSchema = z.looseObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('Node'),
  metadata: LooseObjectMetaSchema,
  spec: z.looseObject({ podCIDR: z.string().optional(), podCIDRs: z.array(z.string()).nullable().optional() }).optional(),
  status: z.looseObject({ addresses: z.array(z.looseObject({ type: z.string(), address: z.string() })).nullable().optional() }).optional(),
});
export type K8sNode = z.output<typeof K8sNodeSchema>;
