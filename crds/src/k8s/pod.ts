import { z } from 'zod';
import { LooseObjectMetaSchema } from '../fields/metadata.js';

/** v1 Pod: what tortie reads (labels, node, service account, named ports, addresses). */
export const K8sContainerPortSchema = z.looseObject({
  name: z.string().optional(),
  containerPort: z.int().min(1).max(65535),
  protocol: z.enum(['TCP', 'UDP', 'SCTP']).default('TCP'),
  hostPort: z.int().optional(),
  hostIP: z.string().optional(),
});

export const K8sPodSchema = z.looseObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('Pod'),
  metadata: LooseObjectMetaSchema,
  spec: z
    .looseObject({
      nodeName: z.string().optional(),
      serviceAccountName: z.string().optional(),
      hostNetwork: z.boolean().optional(),
      containers: z.array(z.looseObject({ name: z.string(), ports: z.array(K8sContainerPortSchema).nullable().optional() })).default([]),
      initContainers: z.array(z.looseObject({ name: z.string(), ports: z.array(K8sContainerPortSchema).nullable().optional() })).nullable().optional(),
    })
    .prefault({}),
  status: z
    .looseObject({
      phase: z.string().optional(),
      podIP: z.string().optional(),
      podIPs: z.array(z.looseObject({ ip: z.string() })).nullable().optional(),
      hostIP: z.string().optional(),
    })
    .optional(),
});
export type K8sPod = z.output<typeof K8sPodSchema>;
export type K8sPodInput = z.input<typeof K8sPodSchema>;
