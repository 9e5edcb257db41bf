import { formatCidr, mergeCidrs, parseCidr, type Cidr } from '../../../lib/cidr.js';
import type { Labels, SelectorAst } from '../../../lib/selector/ast.js';
import { formatSelector } from '../../../lib/selector/format.js';
import { matchSelector } from '../../../lib/selector/match.js';
import type { NamedPort } from '../model/endpoints.js';
import { effectiveEndpointLabels, endpointKey } from '../model/endpoints.js';
import {
  ALL,
  and,
  comparePolicies,
  STAGES,
  type Direction,
  type EntityMatch,
  type PolicyModel,
  type PolicyRule,
  type PolicyStage,
  type PortMatch,
} from '../model/policies.js';
import type {
  CompiledAction,
  CompiledEntity,
  CompiledRule,
  DesiredPolicyState,
  DirectionPlan,
  EndpointPlan,
  IpSet,
  NamedPortElement,
  PolicyChain,
  PortRange,
} from './desired.js';
import { MemberIndex } from './member-index.js';
import { addressSetName, hostEndpointChainName, namedPortSetName, policyChainName, workloadChainName } from './names.js';
import type { PolicySnapshot } from './snapshot.js';

/** Anything a selector can pick: workloads, host endpoints and network sets. */
interface Member {
  readonly labels: Labels;
  readonly cidrs: readonly Cidr[];
  readonly ports: readonly NamedPort[];
}

interface LocalEndpoint {
  readonly id: string;
  readonly interfaceName: string;
  readonly labels: Labels;
  readonly ipv4: readonly string[];
  readonly ipv6: readonly string[];
  readonly isHost: boolean;
}

const DIRECTIONS: readonly Direction[] = ['ingress', 'egress'];

/**
 * The desired dataplane for our node, from a snapshot alone (pure, no I/O):
 * for each local endpoint and direction, the policies that apply, stage by
 * stage in order; one compiled chain per policy and direction; the sets the
 * rules reference (selector members, nets, named ports resolved per
 * endpoint). Sets are keyed by canonical selector text, so identical
 * selectors share one set whatever policy they come from.
 */
export function calculatePolicy(snapshot: PolicySnapshot): DesiredPolicyState {
  const nsLabels = new Map(snapshot.namespaces.map((n) => [n.name, n.labels]));
  const saLabels = new Map(snapshot.serviceAccounts.map((s) => [endpointKey(s), s.labels]));

  const members: Member[] = [];
  const locals: LocalEndpoint[] = [];
  for (const ep of [...snapshot.endpoints].sort((a, b) => cmp(endpointKey(a), endpointKey(b)))) {
    const labels = effectiveEndpointLabels(
      ep,
      nsLabels.get(ep.namespace),
      ep.serviceAccount === null ? undefined : saLabels.get(`${ep.namespace}/${ep.serviceAccount}`),
    );
    members.push({ labels, cidrs: hostCidrs([...ep.ipv4, ...ep.ipv6]), ports: ep.ports });
    if (ep.node === snapshot.nodeName) {
      locals.push({ id: endpointKey(ep), interfaceName: ep.interfaceName, labels, ipv4: sortAddrs(ep.ipv4), ipv6: sortAddrs(ep.ipv6), isHost: false });
    }
  }
  for (const hep of [...snapshot.hostEndpoints].sort((a, b) => cmp(a.name, b.name))) {
    members.push({ labels: hep.labels, cidrs: hostCidrs(hep.expectedIps), ports: hep.ports });
    // A host endpoint found only by expectedIPs (no interfaceName) is not enforced yet; `*` is all interfaces.
    if (hep.node === snapshot.nodeName && hep.interfaceName !== null) {
      locals.push({ id: hep.name, interfaceName: hep.interfaceName, labels: hep.labels, ipv4: [], ipv6: [], isHost: true });
    }
  }
  for (const ns of [...snapshot.networkSets].sort((a, b) => cmp(a.name, b.name))) {
    members.push({ labels: ns.labels, cidrs: ns.nets.map(parseCidr).filter((c): c is NonNullable<typeof c> => c !== null), ports: [] });
  }

  const policiesByStage = new Map<PolicyStage, PolicyModel[]>(STAGES.map((s) => [s, []]));
  for (const p of snapshot.policies) policiesByStage.get(p.stage)?.push(p);
  for (const list of policiesByStage.values()) list.sort(comparePolicies);

  const sets = new SetBuilder(members);
  const chains = new Map<string, PolicyChain>();
  const plan = (ep: LocalEndpoint, direction: Direction): DirectionPlan => {
    const stages: { stage: PolicyStage; chains: string[] }[] = [];
    for (const stage of STAGES) {
      const names: string[] = [];
      for (const policy of policiesByStage.get(stage) ?? []) {
        if (!policy.types.includes(direction) || !matchSelector(policy.selector, ep.labels)) continue;
        const name = policyChainName(policy.id, direction);
        if (!chains.has(name)) chains.set(name, compilePolicyChain(policy, direction, name, sets));
        names.push(name);
      }
      if (names.length > 0) stages.push({ stage, chains: names });
    }
    // Calico: a workload with no policy is open; a host endpoint with none is closed (failsafes aside).
    return { stages, fallthrough: ep.isHost ? 'drop' : 'allow' };
  };

  const workloads: EndpointPlan[] = [];
  const hostEndpoints: EndpointPlan[] = [];
  const seenInterfaces = new Set<string>();
  // Two endpoints claiming one interface (a stale WorkloadEndpoint): the first by id wins, deterministically.
  for (const ep of [...locals].sort((a, b) => cmp(a.interfaceName, b.interfaceName) || cmp(a.id, b.id))) {
    if (seenInterfaces.has(ep.interfaceName)) continue;
    seenInterfaces.add(ep.interfaceName);
    const p: EndpointPlan = {
      id: ep.id,
      interfaceName: ep.interfaceName,
      ipv4: ep.ipv4,
      ipv6: ep.ipv6,
      ingress: plan(ep, 'ingress'),
      egress: plan(ep, 'egress'),
    };
    (ep.isHost ? hostEndpoints : workloads).push(p);
  }

  return {
    workloads,
    hostEndpoints,
    policyChains: [...chains.values()].sort((a, b) => cmp(a.name, b.name)),
    sets: sets.all(),
    failsafe: { inbound: snapshot.config.failsafeInboundHostPorts, outbound: snapshot.config.failsafeOutboundHostPorts },
  };
}

function compilePolicyChain(policy: PolicyModel, direction: Direction, name: string, sets: SetBuilder): PolicyChain {
  const rules = direction === 'ingress' ? policy.ingress : policy.egress;
  const compiled: CompiledRule[] = [];
  rules.forEach((rule, index) => compiled.push(...compileRule(rule, index, direction, policy.selector, sets)));
  return { name, policyId: policy.id, direction, rules: compiled };
}

const ACTIONS: Record<PolicyRule['action'], CompiledAction> = { Allow: 'allow', Deny: 'deny', Pass: 'pass', Log: 'log' };

/**
 * One policy rule → nft-sized rules: one per address family when the rule
 * looks at addresses (sets are per family), and one per port kind when it
 * mixes numbered and named ports (which are ORed).
 */
export function compileRule(rule: PolicyRule, ruleIndex: number, direction: Direction, policySelector: SelectorAst, sets: SetBuilder): CompiledRule[] {
  const needsFamily = rule.ipVersion !== null || looksAtAddresses(rule.source) || looksAtAddresses(rule.destination);
  const families: (4 | 6 | null)[] = !needsFamily ? [null] : rule.ipVersion !== null ? [rule.ipVersion] : [4, 6];
  const out: CompiledRule[] = [];
  for (const family of families) {
    if (family === 6 && rule.protocol === 1) continue;
    if (family === 4 && rule.protocol === 58) continue;
    // The endpoint the chain runs for is the destination of ingress and the source of egress.
    const src = compileEntity(rule.source, family, direction === 'egress' ? policySelector : null, rule.protocol, sets);
    const dst = compileEntity(rule.destination, family, direction === 'ingress' ? policySelector : null, rule.protocol, sets);
    if (src === null || dst === null) continue;
    for (const source of src) {
      for (const destination of dst) {
        out.push({
          action: ACTIONS[rule.action],
          family,
          protocol: rule.protocol,
          notProtocol: rule.notProtocol,
          icmp: rule.icmp,
          notIcmp: rule.notIcmp,
          source,
          destination,
          ruleIndex,
        });
      }
    }
  }
  return out;
}

function looksAtAddresses(e: EntityMatch): boolean {
  const hasNamed = (ports: readonly PortMatch[] | null) => (ports ?? []).some((p) => p.kind === 'named');
  return e.selector !== null || e.notSelector !== null || e.nets !== null || e.notNets.length > 0 || hasNamed(e.ports) || hasNamed(e.notPorts);
}

/** Variants of one entity (ORed), or null when it cannot match this family. */
function compileEntity(e: EntityMatch, family: 4 | 6 | null, selfSelector: SelectorAst | null, protocol: number | null, sets: SetBuilder): CompiledEntity[] | null {
  const inSets: string[] = [];
  const notSets: string[] = [];
  if (family !== null) {
    if (e.selector !== null) inSets.push(sets.selectorSet(family, e.selector));
    if (e.nets !== null) {
      const nets = e.nets.filter((n) => parseCidr(n)?.family === family);
      if (nets.length === 0) return null;
      inSets.push(sets.netSet(family, nets));
    }
    if (e.notSelector !== null) notSets.push(sets.selectorSet(family, e.notSelector));
    const notNets = e.notNets.filter((n) => parseCidr(n)?.family === family);
    if (notNets.length > 0) notSets.push(sets.netSet(family, notNets));
  }
  // Named ports resolve on the endpoints this side can be: those the entity
  // selects, and, on the endpoint's own side, only those the policy selects.
  const scope = and(selfSelector ?? ALL, e.selector ?? ALL);
  const named = (ports: readonly PortMatch[]) => ports.flatMap((p) => (p.kind === 'named' ? [p.name] : []));
  const ranges = (ports: readonly PortMatch[]) => ports.flatMap((p) => (p.kind === 'range' ? [{ first: p.first, last: p.last }] : []));
  const notNamed = named(e.notPorts);
  const base = {
    sets: inSets,
    notSets,
    notPorts: normalizePorts(ranges(e.notPorts)),
    notNamedPortSet: notNamed.length > 0 && family !== null ? sets.namedPortSet(family, protocol, notNamed, scope) : null,
  };
  if (e.ports === null) return [{ ...base, ports: null, namedPortSet: null }];
  const variants: CompiledEntity[] = [];
  const r = ranges(e.ports);
  if (r.length > 0) variants.push({ ...base, ports: normalizePorts(r), namedPortSet: null });
  const n = named(e.ports);
  if (n.length > 0 && family !== null) variants.push({ ...base, ports: null, namedPortSet: sets.namedPortSet(family, protocol, n, scope) });
  return variants;
}

/** Sorted, overlapping and adjacent ranges merged: one spelling for one port set. */
export function normalizePorts(ranges: readonly PortRange[]): PortRange[] {
  const sorted = [...ranges].sort((a, b) => a.first - b.first || a.last - b.last);
  const out: { first: number; last: number }[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r.first <= last.last + 1) last.last = Math.max(last.last, r.last);
    else out.push({ first: r.first, last: r.last });
  }
  return out;
}

/** Builds each set once, by name; the name is a hash of what the set means. */
export class SetBuilder {
  private readonly sets = new Map<string, IpSet>();
  /** Members per canonical selector: both families and named-port sets reuse one scan. */
  private readonly matches = new Map<string, readonly Member[]>();
  private readonly index: MemberIndex<Member>;
  constructor(members: readonly Member[]) {
    this.index = new MemberIndex(members);
  }

  private membersOf(selector: SelectorAst, canonical: string): readonly Member[] {
    let found = this.matches.get(canonical);
    if (found === undefined) {
      found = this.index.select(selector);
      this.matches.set(canonical, found);
    }
    return found;
  }

  selectorSet(family: 4 | 6, selector: SelectorAst): string {
    const canonical = formatSelector(selector);
    const source = `selector ${canonical}`;
    const name = addressSetName('sel', family, source);
    if (!this.sets.has(name)) {
      const cidrs = this.membersOf(selector, canonical).flatMap((m) => m.cidrs.filter((c) => c.family === family));
      this.sets.set(name, { kind: 'addresses', name, family, source, elements: mergeCidrs(cidrs).map(formatCidr) });
    }
    return name;
  }

  netSet(family: 4 | 6, nets: readonly string[]): string {
    const cidrs = mergeCidrs(nets.map(parseCidr).filter((c): c is NonNullable<typeof c> => c !== null));
    const elements = cidrs.map(formatCidr);
    const source = `nets ${elements.join(',')}`;
    const name = addressSetName('net', family, source);
    if (!this.sets.has(name)) this.sets.set(name, { kind: 'addresses', name, family, source, elements });
    return name;
  }

  namedPortSet(family: 4 | 6, protocol: number | null, names: readonly string[], scope: SelectorAst): string {
    const wanted = [...new Set(names)].sort();
    const canonical = formatSelector(scope);
    const source = `ports ${wanted.join(',')}/${protocol ?? 'any'} of ${canonical}`;
    const name = namedPortSetName(family, source);
    if (!this.sets.has(name)) {
      const elements = new Map<string, NamedPortElement>();
      for (const m of this.membersOf(scope, canonical)) {
        if (m.ports.length === 0) continue;
        for (const port of m.ports) {
          const proto = port.protocol === 'TCP' ? 6 : port.protocol === 'UDP' ? 17 : 132;
          if (!wanted.includes(port.name) || (protocol !== null && proto !== protocol)) continue;
          for (const c of m.cidrs) {
            if (c.family !== family) continue;
            const address = formatCidr(c).split('/')[0]!;
            elements.set(`${address} ${proto} ${port.port}`, { address, protocol: proto, port: port.port });
          }
        }
      }
      const sorted = [...elements.entries()].sort((a, b) => cmp(a[0], b[0])).map(([, e]) => e);
      this.sets.set(name, { kind: 'named-ports', name, family, source, elements: sorted });
    }
    return name;
  }

  all(): IpSet[] {
    return [...this.sets.values()].sort((a, b) => cmp(a.name, b.name));
  }
}

function hostCidrs(addresses: readonly string[]): Cidr[] {
  const out: Cidr[] = [];
  for (const a of addresses) {
    const c = parseCidr(a.includes('/') ? a : `${a}/${a.includes(':') ? 128 : 32}`);
    if (c) out.push({ family: c.family, network: c.network, prefixLength: c.prefixLength });
  }
  return out;
}

function sortAddrs(addrs: readonly string[]): string[] {
  return [...new Set(addrs)].sort();
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export type { DirectionPlan };
export { DIRECTIONS };
