import { cidrContainsIp, parseCidr, parseIp, type Cidr } from '../../../lib/cidr.js';
import type { Direction, IcmpMatch, PolicyStage } from '../model/policies.js';
import { PORT_PROTOCOLS } from '../model/policies.js';
import type { CompiledEntity, CompiledRule, DesiredPolicyState, DirectionPlan, EndpointPlan, IpSet, PortRange } from './desired.js';

/** A new connection's first packet, as the forward hook sees it (after DNAT). */
export interface Probe {
  readonly source: string;
  readonly destination: string;
  /** IP protocol number (6 TCP, 17 UDP, 132 SCTP, 1 ICMP, 58 ICMPv6). */
  readonly protocol: number;
  readonly destinationPort?: number;
  readonly sourcePort?: number;
  readonly icmp?: { readonly type: number; readonly code: number };
}

/** One step of the walk, in the order it happened. */
export type Decision =
  | { readonly direction: Direction; readonly endpoint: string; readonly kind: 'rule'; readonly stage: PolicyStage; readonly policyId: string; readonly ruleIndex: number; readonly action: 'allow' | 'deny' | 'pass' | 'log' }
  | { readonly direction: Direction; readonly endpoint: string; readonly kind: 'end-of-stage'; readonly stage: PolicyStage; readonly policies: readonly string[] }
  | { readonly direction: Direction; readonly endpoint: string; readonly kind: 'fallthrough'; readonly action: 'allow' | 'drop'; readonly hadPolicies: boolean }
  | { readonly direction: Direction; readonly endpoint: string; readonly kind: 'anti-spoofing' };

export interface Evaluation {
  readonly verdict: 'allow' | 'deny';
  /** Every step that mattered; the last one decided. Empty when neither end is a local endpoint. */
  readonly decidedBy: readonly Decision[];
  /** The local endpoints at each end (null: not ours, so not filtered here) and the policies that select them for this direction. */
  readonly source: { readonly endpoint: string; readonly egressPolicies: readonly string[] } | null;
  readonly destination: { readonly endpoint: string; readonly ingressPolicies: readonly string[] } | null;
}

/**
 * What the ruleset does with a new connection from `probe.source` to
 * `probe.destination`, walked over the same DesiredPolicyState the renderer
 * turns into nft: egress of the source endpoint (when local), then ingress of
 * the destination endpoint (when local). Pure; this is `tortie policy explain`.
 */
export function evaluateConnection(desired: DesiredPolicyState, probe: Probe): Evaluation {
  const sets = new SetIndex(desired.sets);
  const chains = new Map(desired.policyChains.map((c) => [c.name, c]));
  const decidedBy: Decision[] = [];
  const src = findWorkload(desired.workloads, probe.source);
  const dst = findWorkload(desired.workloads, probe.destination);
  const policiesOf = (plan: DirectionPlan) => plan.stages.flatMap((s) => s.chains.map((n) => chains.get(n)?.policyId ?? n));
  const ends = {
    source: src ? { endpoint: src.id, egressPolicies: policiesOf(src.egress) } : null,
    destination: dst ? { endpoint: dst.id, ingressPolicies: policiesOf(dst.ingress) } : null,
  };
  if (src) {
    const v = walk(src, 'egress', src.egress, probe, chains, sets, decidedBy);
    if (v === 'deny') return { verdict: 'deny', decidedBy, ...ends };
  }
  if (dst) {
    const v = walk(dst, 'ingress', dst.ingress, probe, chains, sets, decidedBy);
    if (v === 'deny') return { verdict: 'deny', decidedBy, ...ends };
  }
  return { verdict: 'allow', decidedBy, ...ends };
}

/** The evaluation as lines of text, for `tortie policy explain`. */
export function formatEvaluation(e: Evaluation): string[] {
  const lines: string[] = [];
  lines.push(e.source ? `source ${e.source.endpoint}: egress policies ${e.source.egressPolicies.join(', ') || '(none)'}` : 'source: not a local endpoint (egress not filtered here)');
  lines.push(
    e.destination
      ? `destination ${e.destination.endpoint}: ingress policies ${e.destination.ingressPolicies.join(', ') || '(none)'}`
      : 'destination: not a local endpoint (ingress not filtered here)',
  );
  for (const d of e.decidedBy) {
    const where = `${d.direction} of ${d.endpoint}`;
    switch (d.kind) {
      case 'rule':
        lines.push(`${where}: ${d.policyId} rule ${d.ruleIndex} matches: ${d.action}`);
        break;
      case 'end-of-stage':
        lines.push(`${where}: no rule of ${d.policies.join(', ')} decided: end of ${d.stage} stage, drop`);
        break;
      case 'fallthrough':
        lines.push(`${where}: ${d.hadPolicies ? 'every stage passed' : 'no policy selects it'}: ${d.action}`);
        break;
      case 'anti-spoofing':
        lines.push(`${where}: source address is not the endpoint's: drop`);
        break;
    }
  }
  lines.push(`verdict: ${e.verdict}`);
  return lines;
}

function findWorkload(workloads: readonly EndpointPlan[], address: string): EndpointPlan | undefined {
  const ip = parseIp(address);
  if (!ip) return undefined;
  return workloads.find((w) => [...w.ipv4, ...w.ipv6].some((a) => parseIp(a)?.value === ip.value && parseIp(a)?.family === ip.family));
}

function walk(
  ep: EndpointPlan,
  direction: Direction,
  plan: DirectionPlan,
  probe: Probe,
  chains: ReadonlyMap<string, DesiredPolicyState['policyChains'][number]>,
  sets: SetIndex,
  out: Decision[],
): 'allow' | 'deny' {
  // The from-workload chain only ever sees packets from the pod's interface, so they must carry its address.
  if (direction === 'egress' && ![...ep.ipv4, ...ep.ipv6].includes(probe.source)) {
    out.push({ direction, endpoint: ep.id, kind: 'anti-spoofing' });
    return 'deny';
  }
  stages: for (const { stage, chains: names } of plan.stages) {
    for (const name of names) {
      const chain = chains.get(name);
      if (!chain) continue;
      for (const rule of chain.rules) {
        if (!ruleMatches(rule, probe, sets)) continue;
        out.push({ direction, endpoint: ep.id, kind: 'rule', stage, policyId: chain.policyId, ruleIndex: rule.ruleIndex, action: rule.action });
        if (rule.action === 'allow') return 'allow';
        if (rule.action === 'deny') return 'deny';
        if (rule.action === 'pass') continue stages;
      }
    }
    out.push({ direction, endpoint: ep.id, kind: 'end-of-stage', stage, policies: names.map((n) => chains.get(n)?.policyId ?? n) });
    return 'deny';
  }
  out.push({ direction, endpoint: ep.id, kind: 'fallthrough', action: plan.fallthrough, hadPolicies: plan.stages.length > 0 });
  return plan.fallthrough === 'allow' ? 'allow' : 'deny';
}

export function ruleMatches(rule: CompiledRule, probe: Probe, sets: SetIndex): boolean {
  const family = probe.source.includes(':') ? 6 : 4;
  if (rule.family !== null && rule.family !== family) return false;
  if (rule.protocol !== null && rule.protocol !== probe.protocol) return false;
  if (rule.notProtocol !== null && rule.notProtocol === probe.protocol) return false;
  if (rule.icmp !== null && !icmpMatches(rule.icmp, probe)) return false;
  if (rule.notIcmp !== null && icmpMatches(rule.notIcmp, probe)) return false;
  return (
    entityMatches(rule.source, probe.source, probe.sourcePort, probe.protocol, sets) &&
    entityMatches(rule.destination, probe.destination, probe.destinationPort, probe.protocol, sets)
  );
}

function icmpMatches(m: IcmpMatch, probe: Probe): boolean {
  if (probe.protocol !== 1 && probe.protocol !== 58) return false;
  if (!probe.icmp || probe.icmp.type !== m.type) return false;
  return m.code === null || probe.icmp.code === m.code;
}

function entityMatches(e: CompiledEntity, address: string, port: number | undefined, protocol: number, sets: SetIndex): boolean {
  if (!e.sets.every((s) => sets.hasAddress(s, address))) return false;
  if (e.notSets.some((s) => sets.hasAddress(s, address))) return false;
  const hasPorts = PORT_PROTOCOLS.has(protocol) && port !== undefined;
  if (e.ports !== null && !(hasPorts && inRanges(e.ports, port))) return false;
  if (e.notPorts.length > 0 && (!hasPorts || inRanges(e.notPorts, port))) return false;
  if (e.namedPortSet !== null && !(hasPorts && sets.hasNamedPort(e.namedPortSet, address, protocol, port))) return false;
  if (e.notNamedPortSet !== null && (!hasPorts || sets.hasNamedPort(e.notNamedPortSet, address, protocol, port))) return false;
  return true;
}

function inRanges(ranges: readonly PortRange[], port: number): boolean {
  return ranges.some((r) => port >= r.first && port <= r.last);
}

/** Set membership as the kernel answers it. */
export class SetIndex {
  private readonly addresses = new Map<string, Cidr[]>();
  private readonly namedPorts = new Map<string, Set<string>>();

  constructor(sets: readonly IpSet[]) {
    for (const s of sets) {
      if (s.kind === 'addresses') this.addresses.set(s.name, s.elements.map(parseCidr).filter((c): c is NonNullable<typeof c> => c !== null));
      else if (s.kind === 'named-ports') this.namedPorts.set(s.name, new Set(s.elements.map((e) => `${canonical(e.address)} ${e.protocol} ${e.port}`)));
      // peers / peer-ports sets are a stage's lookups; the walk goes through that stage's chains instead.
    }
  }

  hasAddress(set: string, address: string): boolean {
    const ip = parseIp(address);
    if (!ip) return false;
    return (this.addresses.get(set) ?? []).some((c) => cidrContainsIp(c, ip.family, ip.value));
  }

  hasNamedPort(set: string, address: string, protocol: number, port: number): boolean {
    return this.namedPorts.get(set)?.has(`${canonical(address)} ${protocol} ${port}`) ?? false;
  }
}

function canonical(address: string): string {
  const ip = parseIp(address);
  return ip ? `${ip.family}:${ip.value}` : address;
}
