import { z } from 'zod';
import { asNumberField } from './fields/as-number.js';
import { durationField } from './fields/duration.js';
import { ipWithPortField } from './fields/network.js';
import { tortieResource } from './fields/resource.js';
import { selectorField } from './fields/selector.js';
import { ObjectNameSchema } from './fields/metadata.js';
import { BGPPasswordSchema } from './bgp-password.js';

export const BGPPeerSpecSchema = z
  .strictObject({
    node: ObjectNameSchema.optional().describe('Name of the one node that has this peering. When neither node nor nodeSelector is set, every node has it.'),
    nodeSelector: selectorField('Selects the nodes that have this peering; not together with node.').optional(),
    peerIP: ipWithPortField('Address of the peer, optionally with a port: 192.0.2.1, 192.0.2.1:1179, 2001:db8::1 or [2001:db8::1]:1179.').optional(),
    asNumber: asNumberField('AS number of the peer (asplain, or asdot "1.10"). Required with peerIP.').optional(),
    peerSelector: selectorField('Selects tortie nodes to peer with (route reflector topologies); not together with peerIP and asNumber.').optional(),
    keepOriginalNextHop: z.boolean().default(false).describe('Keep the original next hop instead of setting it to this node when sending routes to the peer. [Default: false]'),
    password: BGPPasswordSchema.optional(),
    sourceAddress: z
      .enum(['UseNodeIP', 'None'])
      .default('UseNodeIP')
      .describe('UseNodeIP: the session\'s source address is the node\'s IP; None: let the kernel choose. [Default: UseNodeIP]'),
    maxRestartTime: durationField('Graceful restart time for this peering. [Default: 120s]').optional(),
    numAllowedLocalASNumbers: z
      .int()
      .min(0)
      .max(10)
      .optional()
      .describe('Accept routes whose AS path contains our own AS up to this many times (disables loop prevention; use with care).'),
    ttlSecurity: z.int().min(0).max(255).optional().describe('GTSM (RFC 5082): number of hops the peer may be away; 0 disables it.'),
  })
  .superRefine((spec, ctx) => {
    if (spec.node !== undefined && spec.nodeSelector !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['nodeSelector'], message: 'node and nodeSelector are both set; a peering is for one node (node) or for selected nodes (nodeSelector), so remove one' });
    }
    if (spec.peerSelector !== undefined && (spec.peerIP !== undefined || spec.asNumber !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['peerSelector'],
        message: 'peerSelector is set together with peerIP/asNumber; peer with selected nodes (peerSelector) or with one address (peerIP and asNumber), not both',
      });
    }
    if (spec.peerSelector === undefined && spec.peerIP === undefined) {
      ctx.addIssue({ code: 'custom', path: ['peerIP'], message: 'is required (or peerSelector); give the peer\'s address, e.g. peerIP: 192.0.2.1' });
    }
    if (spec.peerIP !== undefined && spec.asNumber === undefined) {
      ctx.addIssue({ code: 'custom', path: ['asNumber'], message: 'is required with peerIP; give the peer\'s AS number, e.g. asNumber: 64512' });
    }
  })
  .describe('A BGP peering: which nodes peer, and with whom.');

export const BGPPeerSchema = tortieResource(
  'BGPPeer',
  'A BGP peering of some or all nodes with a router (e.g. a top-of-rack switch) or with other nodes.',
  BGPPeerSpecSchema,
);
export type BGPPeer = z.output<typeof BGPPeerSchema>;
export type BGPPeerInput = z.input<typeof BGPPeerSchema>;
export type BGPPeerSpec = BGPPeer['spec'];
