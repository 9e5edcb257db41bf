import { z } from 'zod';
import { asNumberField } from './fields/as-number.js';
import { interfaceAddressField, ipField, netField } from './fields/network.js';
import { ObjectMetaSchema } from './fields/metadata.js';
import { apiVersionField, kindField } from './fields/resource.js';

const MAC_PATTERN = /^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/;
const macField = (description: string) => z.string().regex(MAC_PATTERN).describe(description);

export const NodeBGPSpecSchema = z
  .strictObject({
    asNumber: asNumberField('AS number of this node; the BGPConfiguration default when absent.').optional(),
    ipv4Address: interfaceAddressField('IPv4 address of the node with its subnet, e.g. 192.0.2.10/24; used for BGP and to decide CrossSubnet.', 4).optional(),
    ipv6Address: interfaceAddressField('IPv6 address of the node with its subnet, e.g. 2001:db8::10/64.', 6).optional(),
    ipv4IPIPTunnelAddr: ipField('Address of the node\'s IPIP tunnel device.', 4).optional(),
    routeReflectorClusterID: ipField('When set, this node is a route reflector with this cluster ID (an IPv4 address form).', 4).optional(),
  })
  .describe('BGP settings of the node.');

export const NodeSpecSchema = z
  .strictObject({
    bgp: NodeBGPSpecSchema.optional(),
    ipv4VXLANTunnelAddr: ipField('Address of the node\'s IPv4 VXLAN device.', 4).optional(),
    vxlanTunnelMACAddr: macField('MAC address of the node\'s IPv4 VXLAN device.').optional(),
    ipv6VXLANTunnelAddr: ipField('Address of the node\'s IPv6 VXLAN device.', 6).optional(),
    vxlanTunnelMACAddrV6: macField('MAC address of the node\'s IPv6 VXLAN device.').optional(),
    orchRefs: z
      .array(
        z
          .strictObject({
            nodeName: z.string().optional().describe('Name of the node in the orchestrator.'),
            orchestrator: z.string().describe('The orchestrator, e.g. k8s.'),
          })
          .describe('Reference to the node in an orchestrator.'),
      )
      .optional()
      .describe('The node as the orchestrators know it.'),
    addresses: z
      .array(
        z
          .strictObject({
            address: netField('The address, with or without prefix length.'),
            type: z.enum(['CalicoNodeIP', 'InternalIP', 'ExternalIP']).optional().describe('Where the address came from.'),
          })
          .describe('An address of the node.'),
      )
      .optional()
      .describe('Addresses at which the node can be reached.'),
  })
  .describe('The node as tortie sees it: its addresses, AS number and tunnel devices.');

export const NodeStatusSchema = z
  .strictObject({
    podCIDRs: z.array(netField('A CIDR.')).optional().describe('The Kubernetes node\'s spec.podCIDRs.'),
  })
  .describe('Observed state of the node.');

export const NodeSchema = z
  .strictObject({
    apiVersion: apiVersionField(),
    kind: kindField('Node'),
    metadata: ObjectMetaSchema,
    spec: NodeSpecSchema.prefault({}),
    status: NodeStatusSchema.optional(),
  })
  .describe('A tortie node: registered by the node agent with its addresses and BGP settings.');
export type Node = z.output<typeof NodeSchema>;
export type NodeInput = z.input<typeof NodeSchema>;
export type NodeSpec = Node['spec'];
