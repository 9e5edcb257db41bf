import { z } from 'zod';
import { ipField } from './fields/network.js';
import { ObjectNameSchema } from './fields/metadata.js';
import { tortieResource } from './fields/resource.js';
import { EndpointPortSchema } from './endpoint-port.js';

export const HostEndpointSpecSchema = z
  .strictObject({
    node: ObjectNameSchema.describe('Name of the node the interface belongs to.'),
    interfaceName: z
      .string()
      .max(15)
      .optional()
      .describe('The host interface to apply policy to, e.g. eth0, or "*" for all of the host\'s traffic. When empty, the interface holding one of expectedIPs.'),
    expectedIPs: z.array(ipField('An IP address.')).optional().describe('The addresses of the interface; policy selectors that match the endpoint match these addresses.'),
    profiles: z.array(z.string()).optional().describe('Profiles applied after policy.'),
    ports: z.array(EndpointPortSchema).optional().describe('Named ports that policy rules may refer to.'),
  })
  .superRefine((spec, ctx) => {
    if ((spec.interfaceName ?? '') === '' && (spec.expectedIPs?.length ?? 0) === 0) {
      ctx.addIssue({ code: 'custom', path: ['interfaceName'], message: 'is required when expectedIPs is empty; give interfaceName (e.g. eth0) or expectedIPs' });
    }
  })
  .describe('A host interface (or the whole host) that policy applies to.');

export const HostEndpointSchema = tortieResource(
  'HostEndpoint',
  'A network interface of a node that GlobalNetworkPolicies can protect like a pod.',
  HostEndpointSpecSchema,
);
export type HostEndpoint = z.output<typeof HostEndpointSchema>;
export type HostEndpointInput = z.input<typeof HostEndpointSchema>;
export type HostEndpointSpec = HostEndpoint['spec'];
