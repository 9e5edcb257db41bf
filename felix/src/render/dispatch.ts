import { HOST_VETH_PREFIX } from '../../../lib/contract.js';
import type { DirectionPlan, EndpointPlan, StageLookup } from '../calc/desired.js';
import { ALL_INTERFACES, hostEndpointChainName, workloadChainName } from '../calc/names.js';
import type { Direction } from '../model/policies.js';
import { MARK_ALLOW, MARK_PASS } from './marks.js';
import {
  accept,
  anonSet,
  chain,
  counter,
  drop,
  inTable,
  jump,
  markClear,
  markHas,
  match,
  meta,
  payload,
  ret,
  rule,
  setRef,
  verdictGoto,
  gotoChain,
  type NftMapObj,
  type NftObject,
  type NftStatement,
} from './nft-json.js';

/** Verdict maps: interface name → the endpoint's chain. One lookup per packet, however many endpoints. */
export const MAP_TO_WORKLOAD = 'to-wl';
export const MAP_FROM_WORKLOAD = 'from-wl';
export const MAP_TO_HOST = 'to-host';
export const MAP_FROM_HOST = 'from-host';

/**
 * Maps hold `goto` verdicts: an endpoint chain ends the walk (drop, accept,
 * goto the next dispatch, or return, which after a goto from a base chain is
 * the base chain's policy), so a packet never comes back to the base chain's
 * later rules ("unknown interface" drop, the all-interfaces host endpoint).
 */
export function renderDispatchMap(name: string, endpoints: readonly EndpointPlan[], chainOf: (ifname: string) => string): { map: NftMapObj } {
  const m: NftMapObj = { ...inTable, name, type: 'ifname', map: 'verdict' };
  const named = endpoints.filter((ep) => ep.interfaceName !== ALL_INTERFACES);
  if (named.length > 0) m.elem = named.map((ep) => [ep.interfaceName, verdictGoto(chainOf(ep.interfaceName))]);
  return { map: m };
}

/**
 * After the host maps: traffic of any other host interface (not loopback, not
 * a pod's) goes to the all-interfaces host endpoint, when there is one.
 */
export function renderAllInterfacesDispatch(chainName: string, key: 'iifname' | 'oifname', hostEndpoints: readonly EndpointPlan[], direction: Direction): NftObject[] {
  if (!hostEndpoints.some((ep) => ep.interfaceName === ALL_INTERFACES)) return [];
  return [
    rule(
      chainName,
      [match(meta(key), '!=', 'lo'), match(meta(key), '!=', WORKLOAD_INTERFACES), gotoChain(hostEndpointChainName(ALL_INTERFACES, direction))],
      'all-interfaces host endpoint',
    ),
  ];
}

/** Regular chain: the to-workload half of forward, reached from forward or from an allowing fw-<if>. */
export const CHAIN_TO_WORKLOAD_DISPATCH = 'to-wl-dispatch';

export function renderToWorkloadDispatch(): NftObject[] {
  return [
    rule(CHAIN_TO_WORKLOAD_DISPATCH, [{ vmap: { key: meta('oifname'), data: `@${MAP_TO_WORKLOAD}` } }], 'to workload dispatch'),
    rule(CHAIN_TO_WORKLOAD_DISPATCH, [match(meta('oifname'), '==', WORKLOAD_INTERFACES), drop], 'to unknown workload interface'),
  ];
}

/** Our workload interfaces, whether or not we know the endpoint yet. */
export const WORKLOAD_INTERFACES = `${HOST_VETH_PREFIX}*`;

export function workloadChains(ep: EndpointPlan): { names: string[]; objects: NftObject[] } {
  const tw = workloadChainName(ep.interfaceName, 'ingress');
  const fw = workloadChainName(ep.interfaceName, 'egress');
  const objects: NftObject[] = [];
  objects.push(...antiSpoofing(fw, ep));
  // Egress allowed: go on to the destination's ingress (or out, if it is not a local pod).
  objects.push(...directionRules(fw, ep.egress, 'egress', ep.id, gotoChain(CHAIN_TO_WORKLOAD_DISPATCH)));
  objects.push(...directionRules(tw, ep.ingress, 'ingress', ep.id, accept));
  return { names: [fw, tw], objects };
}

export function hostEndpointChains(ep: EndpointPlan): { names: string[]; objects: NftObject[] } {
  const th = hostEndpointChainName(ep.interfaceName, 'ingress');
  const fh = hostEndpointChainName(ep.interfaceName, 'egress');
  return {
    names: [fh, th],
    objects: [...directionRules(fh, ep.egress, 'egress', ep.id, ret), ...directionRules(th, ep.ingress, 'ingress', ep.id, accept)],
  };
}

/** A pod may only send from its own addresses; a family it has no address in, it may not send at all. */
function antiSpoofing(chainName: string, ep: EndpointPlan): NftObject[] {
  const out: NftObject[] = [];
  for (const [family, addrs, proto] of [['ipv4', ep.ipv4, 'ip'], ['ipv6', ep.ipv6, 'ip6']] as const) {
    const expr: NftStatement[] =
      addrs.length > 0
        ? [match(payload(proto, 'saddr'), '!=', anonSet([...addrs])), drop]
        : [match(meta('nfproto'), '==', family), drop];
    out.push(rule(chainName, expr, `anti-spoofing ${family} ${ep.id}`));
  }
  return out;
}

/**
 * An endpoint's policy walk for one direction: stage by stage, each policy
 * chain is jumped to unless an earlier one passed; a stage nobody decided or
 * passed ends in drop; after the last stage, the fallthrough. `allowed` is
 * what an allowed packet does next: accept for ingress; for egress, the
 * destination's ingress walk must still run (an egress policy's Allow marks
 * MARK_ALLOW and returns here).
 */
function directionRules(chainName: string, plan: DirectionPlan, direction: Direction, id: string, allowed: NftStatement): NftObject[] {
  const out: NftObject[] = [];
  // Only policy chains set the marks; a walk that jumps to none needs no clearing.
  if (plan.stages.some((s) => s.lookup === undefined)) out.push(rule(chainName, [markClear(MARK_ALLOW | MARK_PASS)]));
  for (const { stage, chains, lookup } of plan.stages) {
    if (lookup !== undefined) {
      // The stage decides every packet that reaches it, so nothing after it could run.
      out.push(...lookupRules(chainName, lookup, direction, id, allowed));
      return out;
    }
    chains.forEach((target, i) => {
      out.push(rule(chainName, i === 0 ? [jump(target)] : [match(markHas(MARK_PASS), '==', 0), jump(target)]));
      if (direction === 'egress') out.push(rule(chainName, [match(markHas(MARK_ALLOW), '!=', 0), markClear(MARK_ALLOW), allowed]));
    });
    out.push(rule(chainName, [match(markHas(MARK_PASS), '==', 0), drop], `end of ${stage} stage ${id}`));
    out.push(rule(chainName, [markClear(MARK_PASS)]));
  }
  const last: NftStatement = plan.fallthrough === 'drop' ? drop : allowed;
  out.push(rule(chainName, [last], plan.stages.length > 0 ? `all stages passed ${id}` : `no policy ${id}`));
  return out;
}

/**
 * A stage compiled into lookups (calc/kubernetes-stage.ts): one rule per set,
 * the peer being the source of ingress and the destination of egress, then
 * drop. Each rule counts; `tortie policy stats` reads the counters by the
 * comments `kubernetes <direction> allow|drop <endpoint>`.
 */
function lookupRules(chainName: string, lookup: StageLookup, direction: Direction, id: string, allowed: NftStatement): NftObject[] {
  const out: NftObject[] = [];
  const peerField = direction === 'ingress' ? 'saddr' : 'daddr';
  for (const set of lookup.sets) {
    const peer = payload(set.family === 4 ? 'ip' : 'ip6', peerField);
    const key = set.kind === 'peers' ? peer : { concat: [peer, meta('l4proto'), payload('th', 'dport')] };
    out.push(rule(chainName, [match(key, '==', setRef(set.name)), counter, allowed], stageCounterComment(direction, 'allow', id)));
  }
  out.push(rule(chainName, [counter, drop], stageCounterComment(direction, 'drop', id)));
  return out;
}

/** The comment of a lookup stage's counting rules; dataplane/counters.ts reads it back. */
export function stageCounterComment(direction: Direction, verdict: 'allow' | 'drop', endpointId: string): string {
  return `kubernetes ${direction} ${verdict} ${endpointId}`;
}

export { chain };
