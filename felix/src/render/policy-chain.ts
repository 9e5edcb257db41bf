import type { CompiledEntity, CompiledRule, PolicyChain, PortRange } from '../calc/desired.js';
import type { IcmpMatch } from '../model/policies.js';
import { MARK_ALLOW, MARK_PASS } from './marks.js';
import {
  accept,
  anonSet,
  counter,
  drop,
  markOr,
  match,
  meta,
  payload,
  ret,
  rule,
  setRef,
  type NftExpr,
  type NftObject,
  type NftStatement,
} from './nft-json.js';

const PORT_PROTOCOL_NAMES = ['tcp', 'udp', 'sctp', 'udplite'];
const PROTOCOL_NAMES: Readonly<Record<number, string>> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 132: 'sctp', 136: 'udplite' };

/**
 * A policy's chain for one direction: its compiled rules in order.
 * Allow accepts in an ingress chain (the last check a packet meets) and, in an
 * egress chain, marks MARK_ALLOW and returns so that the destination's ingress
 * still runs. Deny drops. Pass marks MARK_PASS and returns (the endpoint chain
 * skips the rest of the stage). Log logs and goes on to the next rule.
 */
export function renderPolicyChain(chain: PolicyChain): NftObject[] {
  // Every rule counts what it matched; `tortie policy stats` sums them by the comment (dataplane/counters.ts).
  return chain.rules.map((r) => rule(chain.name, [...renderMatches(r), counter, ...renderAction(r, chain)], ruleComment(chain.policyId, r.ruleIndex)));
}


/** The comment that names a rule's origin; counters are attributed by it. */
export function ruleComment(policyId: string, ruleIndex: number): string {
  return `${policyId} rule ${ruleIndex}`;
}

function renderAction(r: CompiledRule, chain: PolicyChain): NftStatement[] {
  switch (r.action) {
    case 'allow':
      return chain.direction === 'ingress' ? [accept] : [markOr(MARK_ALLOW), ret];
    case 'deny':
      return [drop];
    case 'pass':
      return [markOr(MARK_PASS), ret];
    case 'log':
      return [{ log: { prefix: logPrefix(chain.policyId) } }];
  }
}

/** nft log prefixes are at most 127 bytes; keep to printable ASCII. */
function logPrefix(policyId: string): string {
  const clean = policyId.replace(/[^A-Za-z0-9_./-]/g, '_');
  return `tortie ${clean.slice(0, 100)}: `;
}

export function renderMatches(r: CompiledRule): NftStatement[] {
  const out: NftStatement[] = [];
  if (r.family !== null) out.push(match(meta('nfproto'), '==', r.family === 4 ? 'ipv4' : 'ipv6'));
  if (r.protocol !== null) out.push(match(meta('l4proto'), '==', protocolExpr(r.protocol)));
  const hasPorts = (e: CompiledEntity) => e.ports !== null || e.notPorts.length > 0 || e.namedPortSet !== null || e.notNamedPortSet !== null;
  if (r.protocol === null && (hasPorts(r.source) || hasPorts(r.destination))) {
    out.push(match(meta('l4proto'), '==', { set: PORT_PROTOCOL_NAMES }));
  }
  if (r.notProtocol !== null) out.push(match(meta('l4proto'), '!=', protocolExpr(r.notProtocol)));
  const icmpProto = r.protocol === 58 || r.family === 6 ? 'icmpv6' : 'icmp';
  if (r.icmp !== null) out.push(...icmpMatch(icmpProto, r.icmp, '=='));
  if (r.notIcmp !== null) out.push(...notIcmpMatch(icmpProto, r.notIcmp));
  out.push(...entityMatches(r, r.source, 'saddr', 'sport'));
  out.push(...entityMatches(r, r.destination, 'daddr', 'dport'));
  return out;
}

function protocolExpr(protocol: number): NftExpr {
  return PROTOCOL_NAMES[protocol] ?? protocol;
}

function icmpMatch(proto: string, m: IcmpMatch, op: '==' | '!='): NftStatement[] {
  const out = [match(payload(proto, 'type'), op, m.type)];
  if (m.code !== null) out.push(match(payload(proto, 'code'), '==', m.code));
  return out;
}

/** Not (type [and code]): with a code, one expression: `type . code != { t . c }` (nft wants a set on the right of a concatenation). */
function notIcmpMatch(proto: string, m: IcmpMatch): NftStatement[] {
  if (m.code === null) return [match(payload(proto, 'type'), '!=', m.type)];
  return [match({ concat: [payload(proto, 'type'), payload(proto, 'code')] }, '!=', { set: [{ concat: [m.type, m.code] }] })];
}

function entityMatches(r: CompiledRule, e: CompiledEntity, addr: 'saddr' | 'daddr', port: 'sport' | 'dport'): NftStatement[] {
  const out: NftStatement[] = [];
  const ipProto = r.family === 6 ? 'ip6' : 'ip';
  for (const s of e.sets) out.push(match(payload(ipProto, addr), '==', setRef(s)));
  for (const s of e.notSets) out.push(match(payload(ipProto, addr), '!=', setRef(s)));
  if (e.ports !== null) out.push(match(payload('th', port), '==', portsExpr(e.ports)));
  if (e.notPorts.length > 0) out.push(match(payload('th', port), '!=', portsExpr(e.notPorts)));
  const tuple: NftExpr = { concat: [payload(ipProto, addr), meta('l4proto'), payload('th', port)] };
  if (e.namedPortSet !== null) out.push(match(tuple, '==', setRef(e.namedPortSet)));
  if (e.notNamedPortSet !== null) out.push(match(tuple, '!=', setRef(e.notNamedPortSet)));
  return out;
}

function portsExpr(ports: readonly PortRange[]): NftExpr {
  return anonSet(ports.map((p) => (p.first === p.last ? p.first : { range: [p.first, p.last] })));
}
