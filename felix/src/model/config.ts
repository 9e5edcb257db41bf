import { formatCidr, parseCidr } from '../../../lib/cidr.js';
import type { ConvertResult, PortProtocol } from './endpoints.js';

/** A failsafe port: traffic to/from the host on it is accepted before any policy. */
export interface FailsafePort {
  readonly protocol: PortProtocol;
  readonly port: number;
  /** Only this peer network, if set (canonical CIDR). */
  readonly net: string | null;
}

export interface FelixPolicyConfig {
  readonly failsafeInboundHostPorts: readonly FailsafePort[];
  readonly failsafeOutboundHostPorts: readonly FailsafePort[];
}

const fp = (protocol: PortProtocol, port: number): FailsafePort => ({ protocol, port, net: null });

/**
 * Calico's defaults: SSH, DHCP, BGP, etcd, Typha, the API server and the
 * Typha/kube-proxy health ports inbound; DNS, DHCP and the same control ports
 * outbound. No policy can cut the node off from its control plane.
 */
export const DEFAULT_FAILSAFE_INBOUND: readonly FailsafePort[] = [
  fp('TCP', 22),
  fp('UDP', 68),
  fp('TCP', 179),
  fp('TCP', 2379),
  fp('TCP', 2380),
  fp('TCP', 5473),
  fp('TCP', 6443),
  fp('TCP', 6666),
  fp('TCP', 6667),
];
export const DEFAULT_FAILSAFE_OUTBOUND: readonly FailsafePort[] = [
  fp('UDP', 53),
  fp('UDP', 67),
  fp('TCP', 179),
  fp('TCP', 2379),
  fp('TCP', 2380),
  fp('TCP', 5473),
  fp('TCP', 6443),
  fp('TCP', 6666),
  fp('TCP', 6667),
];

export const DEFAULT_FELIX_POLICY_CONFIG: FelixPolicyConfig = {
  failsafeInboundHostPorts: DEFAULT_FAILSAFE_INBOUND,
  failsafeOutboundHostPorts: DEFAULT_FAILSAFE_OUTBOUND,
};

interface FailsafeField {
  protocol?: string | null;
  port?: number | null;
  net?: string | null;
}

/**
 * FelixConfiguration spec (Calico field names) → the settings policy uses.
 * An absent list keeps the default; an empty list means no failsafe ports.
 */
export function fromFelixConfiguration(spec: {
  failsafeInboundHostPorts?: readonly FailsafeField[] | null;
  failsafeOutboundHostPorts?: readonly FailsafeField[] | null;
}): ConvertResult<FelixPolicyConfig> {
  const inbound = failsafeList(spec.failsafeInboundHostPorts, DEFAULT_FAILSAFE_INBOUND, 'spec.failsafeInboundHostPorts');
  if (!inbound.ok) return inbound;
  const outbound = failsafeList(spec.failsafeOutboundHostPorts, DEFAULT_FAILSAFE_OUTBOUND, 'spec.failsafeOutboundHostPorts');
  if (!outbound.ok) return outbound;
  return { ok: true, value: { failsafeInboundHostPorts: inbound.value, failsafeOutboundHostPorts: outbound.value } };
}

function failsafeList(
  list: readonly FailsafeField[] | null | undefined,
  fallback: readonly FailsafePort[],
  path: string,
): ConvertResult<readonly FailsafePort[]> {
  if (list === undefined || list === null) return { ok: true, value: fallback };
  const out: FailsafePort[] = [];
  for (const [i, f] of list.entries()) {
    const protocol = (f.protocol ?? 'tcp').toUpperCase();
    if (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP') {
      return { ok: false, error: `${path}[${i}].protocol: ${JSON.stringify(f.protocol)} is not tcp, udp or sctp` };
    }
    if (f.port === undefined || f.port === null || !Number.isInteger(f.port) || f.port < 0 || f.port > 65535) {
      return { ok: false, error: `${path}[${i}].port: needs a port 0-65535` };
    }
    let net: string | null = null;
    if (f.net) {
      const c = parseCidr(f.net);
      if (!c) return { ok: false, error: `${path}[${i}].net: ${JSON.stringify(f.net)} is not a CIDR` };
      net = formatCidr(c);
    }
    out.push({ protocol, port: f.port, net });
  }
  return { ok: true, value: out };
}
