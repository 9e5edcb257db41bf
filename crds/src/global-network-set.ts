import { z } from 'zod';
import { netField } from './fields/network.js';
import { tortieResource } from './fields/resource.js';

export const GlobalNetworkSetSpecSchema = z
  .strictObject({
    nets: z.array(netField('A CIDR or address.')).optional().describe('The networks in this set. Policy selectors match the set by its labels.'),
  })
  .describe('A labelled set of networks.');

export const GlobalNetworkSetSchema = tortieResource(
  'GlobalNetworkSet',
  'A labelled set of IP networks that policy rules can select like endpoints (e.g. the addresses of an external service).',
  GlobalNetworkSetSpecSchema.prefault({}),
);
export type GlobalNetworkSet = z.output<typeof GlobalNetworkSetSchema>;
export type GlobalNetworkSetInput = z.input<typeof GlobalNetworkSetSchema>;
export type GlobalNetworkSetSpec = GlobalNetworkSet['spec'];
