import { z } from 'zod';
import { durationField } from './fields/duration.js';
import { netField } from './fields/network.js';
import { portNumberField } from './fields/port.js';
import { tortieResource } from './fields/resource.js';

/** A failsafe port: traffic to (inbound) or from (outbound) the host on it is always allowed. */
export const ProtoPortSchema = z
  .strictObject({
    protocol: z.enum(['TCP', 'UDP', 'SCTP']).default('TCP').describe('TCP, UDP or SCTP. [Default: TCP]'),
    port: portNumberField('Port number.', 0),
    net: netField('Only traffic from (inbound) or to (outbound) this network; all addresses when absent.').optional(),
  })
  .describe('A protocol, port and optional network.');
export type ProtoPort = z.output<typeof ProtoPortSchema>;

const tcp = (port: number): ProtoPort => ({ protocol: 'TCP', port });
const udp = (port: number): ProtoPort => ({ protocol: 'UDP', port });

/**
 * FelixConfiguration fields are all optional in the object, as in Calico: a
 * per-node object (`node.<name>`) overrides only what it sets, then the
 * object named `default`, then these values. `resolveFelixConfiguration`
 * does that merge.
 */
export const FELIX_CONFIGURATION_DEFAULTS = {
  logSeverityScreen: 'Info',
  failsafeInboundHostPorts: [tcp(22), udp(68), tcp(179), tcp(2379), tcp(2380), tcp(5473), tcp(6443), tcp(6666), tcp(6667)],
  failsafeOutboundHostPorts: [udp(53), udp(67), tcp(179), tcp(2379), tcp(2380), tcp(5473), tcp(6443), tcp(6666), tcp(6667)],
  defaultEndpointToHostAction: 'Drop',
  ipipEnabled: false,
  ipipMTU: 0,
  vxlanEnabled: false,
  vxlanMTU: 0,
  vxlanMTUV6: 0,
  vxlanPort: 4789,
  vxlanVNI: 4096,
  ipv6Support: true,
  interfacePrefix: 'tor',
  routeRefreshInterval: '90s',
  nftablesRefreshInterval: '180s',
  healthEnabled: true,
  healthHost: 'localhost',
  healthPort: 9099,
  prometheusMetricsEnabled: false,
  prometheusMetricsHost: '',
  prometheusMetricsPort: 9091,
  removeExternalRoutes: true,
  policySyncTimeout: '10s',
} as const satisfies Record<string, unknown>;

const logLevel = z.enum(['Debug', 'Info', 'Warning', 'Error', 'Fatal']);

export const FelixConfigurationSpecSchema = z
  .strictObject({
    logSeverityScreen: logLevel.optional().describe('Log level of the policy agent. [Default: Info]'),
    failsafeInboundHostPorts: z
      .array(ProtoPortSchema)
      .optional()
      .describe('Ports on which incoming traffic to the host is always allowed, whatever the policy; [] disables them. [Default: TCP 22, UDP 68, TCP 179, 2379, 2380, 5473, 6443, 6666, 6667]'),
    failsafeOutboundHostPorts: z
      .array(ProtoPortSchema)
      .optional()
      .describe('Ports to which outgoing traffic from the host is always allowed, whatever the policy; [] disables them. [Default: UDP 53, 67, TCP 179, 2379, 2380, 5473, 6443, 6666, 6667]'),
    defaultEndpointToHostAction: z
      .enum(['Drop', 'Accept', 'Return'])
      .optional()
      .describe('What happens to traffic from a pod to its own host after the pod\'s egress policy: Drop, Accept, or Return (host endpoint policy decides). [Default: Drop]'),
    ipipEnabled: z.boolean().optional().describe('Set up the IPIP device. Normally derived from the pools. [Default: false]'),
    ipipMTU: z.int().min(0).optional().describe('MTU of the IPIP device; 0 means detect. [Default: 0]'),
    vxlanEnabled: z.boolean().optional().describe('Set up the VXLAN device. Normally derived from the pools. [Default: false]'),
    vxlanMTU: z.int().min(0).optional().describe('MTU of the IPv4 VXLAN device; 0 means detect. [Default: 0]'),
    vxlanMTUV6: z.int().min(0).optional().describe('MTU of the IPv6 VXLAN device; 0 means detect. [Default: 0]'),
    vxlanPort: portNumberField('UDP port of VXLAN. [Default: 4789]').optional(),
    vxlanVNI: z.int().min(1).max(16777215).optional().describe('VXLAN network identifier. [Default: 4096]'),
    ipv6Support: z.boolean().optional().describe('Program IPv6 policy and routes. [Default: true]'),
    interfacePrefix: z.string().min(1).optional().describe('Prefix of the host-side interfaces of pods. [Default: tor]'),
    routeRefreshInterval: durationField('How often routes are re-checked against the kernel; 0 disables it. [Default: 90s]').optional(),
    nftablesRefreshInterval: durationField('How often the nftables table is re-checked; 0 disables it. [Default: 180s]').optional(),
    healthEnabled: z.boolean().optional().describe('Serve /liveness and /readiness. [Default: true]'),
    healthHost: z.string().optional().describe('Address the health server listens on. [Default: localhost]'),
    healthPort: portNumberField('Port of the health server. [Default: 9099]').optional(),
    prometheusMetricsEnabled: z.boolean().optional().describe('Serve Prometheus /metrics. [Default: false]'),
    prometheusMetricsHost: z.string().optional().describe('Address the metrics server listens on; empty means all. [Default: ""]'),
    prometheusMetricsPort: portNumberField('Port of the metrics server. [Default: 9091]').optional(),
    removeExternalRoutes: z.boolean().optional().describe('Remove routes to pod interfaces that tortie did not program. [Default: true]'),
    natOutgoingAddress: z.string().optional().describe('Source address for natOutgoing pools instead of masquerading to the interface address.'),
    policySyncTimeout: durationField('How long the CNI plugin waits for a new pod\'s policy to be programmed before it starts the pod anyway. [Default: 10s]').optional(),
  })
  .describe('Policy agent settings: object "default" for the cluster, "node.<nodename>" to override per node.');

export const FelixConfigurationSchema = tortieResource(
  'FelixConfiguration',
  'Settings of the policy agent (felix): failsafe ports, tunnel devices, health and metrics.',
  FelixConfigurationSpecSchema.prefault({}),
);
export type FelixConfiguration = z.output<typeof FelixConfigurationSchema>;
export type FelixConfigurationInput = z.input<typeof FelixConfigurationSchema>;
export type FelixConfigurationSpec = FelixConfiguration['spec'];

type Widen<T> = T extends string ? string : T extends readonly (infer E)[] ? Widen<E>[] : T extends object ? { -readonly [K in keyof T]: Widen<T[K]> } : T;
export type ResolvedFelixConfiguration = Widen<typeof FELIX_CONFIGURATION_DEFAULTS> &
  Omit<FelixConfigurationSpec, keyof typeof FELIX_CONFIGURATION_DEFAULTS> &
  Required<Pick<FelixConfigurationSpec, keyof typeof FELIX_CONFIGURATION_DEFAULTS>>;

/**
 * The effective settings of one node: the node's own object over the
 * cluster's `default` over the built-in defaults, field by field.
 */
export function resolveFelixConfiguration(
  clusterSpec: FelixConfigurationSpec | undefined,
  nodeSpec?: FelixConfigurationSpec,
): ResolvedFelixConfiguration {
  const merged: Record<string, unknown> = { ...structuredClone(FELIX_CONFIGURATION_DEFAULTS) };
  for (const spec of [clusterSpec, nodeSpec]) {
    for (const [key, value] of Object.entries(spec ?? {})) {
      if (value !== undefined) merged[key] = value;
    }
  }
  return merged as ResolvedFelixConfiguration;
}
