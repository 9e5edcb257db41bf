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
import { StageLookups } from './kubernetes-stage.js';
import { MemberIndex } from './member-index.js';
import { SelectorIndex } from './selector-index.js';
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
  return new PolicyCalculator().calculate(snapshot);
}

/** More changed members than this and the set contents are recomputed whole (cheaper than testing each set). */
const MAX_CHANGED_MEMBERS_TRACKED = 64;

/**
 * calculatePolicy for a stream of snapshots, doing for each only the work
 * what changed since the previous one needs (Felix's calc graph, by memo):
 *   - a policy's compiled chains are kept per PolicyModel object (the store
 *     hands out the same object until the policy changes);
 *   - a set's members are kept until an endpoint, host endpoint or network set
 *     whose old or new labels its selector matches changes;
 *   - the policies of a local endpoint are found through an index of policy
 *     selectors by their `key == value` conjuncts, not by testing every policy;
 *   - what is unchanged comes back as the very same objects (EndpointPlan,
 *     PolicyChain, IpSet), which the renderer and the planner compare by
 *     identity.
 * The result is always exactly calculatePolicy(snapshot) (tests replay
 * histories forward, reversed, duplicated and squashed through one calculator
 * and compare): the memo only decides what is recomputed.
 */
export class PolicyCalculator {
  /** Per member key: what it was made from, and the member. */
  private members = new Map<string, { source: object; context: readonly (Labels | undefined)[]; member: Member }>();
  /**
   * Compiled chains of the policies the last and this calculation used (plain maps, one generation deep:
   * a WeakMap's thousands of entries would be ephemerons for every garbage collection to trace).
   */
  private lastCompiled = new Map<PolicyModel, Map<Direction, CompiledChain>>();
  private compiled = new Map<PolicyModel, Map<Direction, CompiledChain>>();
  private sets = new Map<string, CachedSet>();
  private plans = new Map<string, { text: string; plan: EndpointPlan }>();
  /** The Kubernetes stage as set lookups: a packet's cost stays flat however many policies select its pod. */
  private readonly lookups = new StageLookups();

  calculate(snapshot: PolicySnapshot): DesiredPolicyState {
    this.lastCompiled = this.compiled;
    this.compiled = new Map();
    const nsLabels = new Map(snapshot.namespaces.map((n) => [n.name, n.labels]));
    const saLabels = new Map(snapshot.serviceAccounts.map((s) => [endpointKey(s), s.labels]));

    const previousMembers = this.members;
    const nextMembers = new Map<string, { source: object; context: readonly (Labels | undefined)[]; member: Member }>();
    const changedLabels: Labels[] = [];
    const member = (key: string, source: object, context: readonly (Labels | undefined)[], make: () => Member): Member => {
      const prev = previousMembers.get(key);
      if (prev !== undefined && prev.source === source && prev.context.length === context.length && prev.context.every((c, i) => c === context[i])) {
        nextMembers.set(key, prev);
        return prev.member;
      }
      const m = make();
      if (prev !== undefined) changedLabels.push(prev.member.labels);
      changedLabels.push(m.labels);
      nextMembers.set(key, { source, context, member: m });
      return m;
    };

    const members: Member[] = [];
    const locals: LocalEndpoint[] = [];
    for (const ep of [...snapshot.endpoints].sort((a, b) => cmp(endpointKey(a), endpointKey(b)))) {
      const ns = nsLabels.get(ep.namespace);
      const sa = ep.serviceAccount === null ? undefined : saLabels.get(`${ep.namespace}/${ep.serviceAccount}`);
      const m = member(`ep ${endpointKey(ep)}`, ep, [ns, sa], () => ({ labels: effectiveEndpointLabels(ep, ns, sa), cidrs: hostCidrs([...ep.ipv4, ...ep.ipv6]), ports: ep.ports }));
      members.push(m);
      if (ep.node === snapshot.nodeName) {
        locals.push({ id: endpointKey(ep), interfaceName: ep.interfaceName, labels: m.labels, ipv4: sortAddrs(ep.ipv4), ipv6: sortAddrs(ep.ipv6), isHost: false });
      }
    }
    for (const hep of [...snapshot.hostEndpoints].sort((a, b) => cmp(a.name, b.name))) {
      members.push(member(`hep ${hep.name}`, hep, [], () => ({ labels: hep.labels, cidrs: hostCidrs(hep.expectedIps), ports: hep.ports })));
      // A host endpoint found only by expectedIPs (no interfaceName) is not enforced yet; `*` is all interfaces.
      if (hep.node === snapshot.nodeName && hep.interfaceName !== null) {
        locals.push({ id: hep.name, interfaceName: hep.interfaceName, labels: hep.labels, ipv4: [], ipv6: [], isHost: true });
      }
    }
    for (const ns of [...snapshot.networkSets].sort((a, b) => cmp(a.name, b.name))) {
      members.push(member(`net ${ns.name}`, ns, [], () => ({ labels: ns.labels, cidrs: ns.nets.map(parseCidr).filter((c): c is NonNullable<typeof c> => c !== null), ports: [] })));
    }
    for (const [key, prev] of previousMembers) if (!nextMembers.has(key)) changedLabels.push(prev.member.labels);
    this.members = nextMembers;

    // Set contents survive unless a changed member (old or new labels) is one their selector picks.
    if (changedLabels.length > MAX_CHANGED_MEMBERS_TRACKED) this.sets = new Map();
    else if (changedLabels.length > 0) {
      for (const [name, cached] of this.sets) {
        if (cached.selector !== null && changedLabels.some((l) => matchSelector(cached.selector!, l))) this.sets.delete(name);
      }
    }
    const sets = new SetBuilder(members, this.sets);

    const ordered = STAGES.flatMap((stage) => snapshot.policies.filter((p) => p.stage === stage).sort(comparePolicies));
    const index = new SelectorIndex(ordered);
    const chains = new Map<string, PolicyChain>();
    const chainOf = (policy: PolicyModel, direction: Direction): string => {
      const name = policyChainName(policy.id, direction);
      if (!chains.has(name)) chains.set(name, this.compile(policy, direction, name, sets));
      return name;
    };
    const plan = (ep: LocalEndpoint, direction: Direction, applicable: readonly PolicyModel[]): DirectionPlan => {
      const stages: { stage: PolicyStage; chains: string[] }[] = [];
      for (const policy of applicable) {
        if (!policy.types.includes(direction)) continue;
        const last = stages[stages.length - 1];
        if (last !== undefined && last.stage === policy.stage) last.chains.push(chainOf(policy, direction));
        else stages.push({ stage: policy.stage, chains: [chainOf(policy, direction)] });
      }
      // Calico: a workload with no policy is open; a host endpoint with none is closed (failsafes aside).
      return { stages, fallthrough: ep.isHost ? 'drop' : 'allow' };
    };

    const workloads: EndpointPlan[] = [];
    const hostEndpoints: EndpointPlan[] = [];
    const seenInterfaces = new Set<string>();
    const nextPlans = new Map<string, { text: string; plan: EndpointPlan }>();
    // Two endpoints claiming one interface (a stale WorkloadEndpoint): the first by id wins, deterministically.
    for (const ep of [...locals].sort((a, b) => cmp(a.interfaceName, b.interfaceName) || cmp(a.id, b.id))) {
      if (seenInterfaces.has(ep.interfaceName)) continue;
      seenInterfaces.add(ep.interfaceName);
      const applicable = index.selecting(ep.labels);
      let p: EndpointPlan = {
        id: ep.id,
        interfaceName: ep.interfaceName,
        ipv4: ep.ipv4,
        ipv6: ep.ipv6,
        ingress: plan(ep, 'ingress', applicable),
        egress: plan(ep, 'egress', applicable),
      };
      const key = `${ep.isHost ? 'host' : 'workload'} ${ep.interfaceName}`;
      const text = JSON.stringify(p);
      const prev = this.plans.get(key);
      if (prev !== undefined && prev.text === text) p = prev.plan;
      nextPlans.set(key, { text, plan: p });
      (ep.isHost ? hostEndpoints : workloads).push(p);
    }
    this.plans = nextPlans;

    const used = sets.all();
    // Forget the contents of sets nothing references any more.
    const usedNames = new Set(used.map((x) => x.name));
    for (const name of this.sets.keys()) if (!usedNames.has(name)) this.sets.delete(name);

    return this.lookups.compile({
      workloads,
      hostEndpoints,
      policyChains: [...chains.values()].sort((a, b) => cmp(a.name, b.name)),
      sets: used,
      failsafe: { inbound: snapshot.config.failsafeInboundHostPorts, outbound: snapshot.config.failsafeOutboundHostPorts },
    });
  }

  /** A policy's chain for one direction, compiled once per PolicyModel object; its sets are requested again on every use. */
  private compile(policy: PolicyModel, direction: Direction, name: string, sets: SetBuilder): PolicyChain {
    let byDirection = this.compiled.get(policy);
    if (byDirection === undefined) {
      byDirection = this.lastCompiled.get(policy) ?? new Map<Direction, CompiledChain>();
      this.compiled.set(policy, byDirection);
    }
    const done = byDirection.get(direction);
    if (done !== undefined) {
      for (const r of done.requests) sets.replay(r);
      return done.chain;
    }
    const { result: chain, requests } = sets.recording(() => compilePolicyChain(policy, direction, name, sets));
    byDirection.set(direction, { chain, requests });
    return chain;
  }
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

/** What a rule asks of SetBuilder: enough to name the set and to fill it. */
type SetRequest =
  | { readonly kind: 'selector'; readonly family: 4 | 6; readonly selector: SelectorAst }
  | { readonly kind: 'nets'; readonly family: 4 | 6; readonly nets: readonly string[] }
  | { readonly kind: 'named-ports'; readonly family: 4 | 6; readonly protocol: number | null; readonly names: readonly string[]; readonly scope: SelectorAst };

interface CompiledChain {
  readonly chain: PolicyChain;
  readonly requests: readonly NamedRequest[];
}

interface NamedRequest {
  readonly name: string;
  readonly request: SetRequest;
}

/** A set's contents as last computed, and the selector whose members they are (null: they depend on no member). */
interface CachedSet {
  readonly set: IpSet;
  readonly selector: SelectorAst | null;
}

/** Builds each set once, by name; the name is a hash of what the set means. */
export class SetBuilder {
  private readonly sets = new Map<string, IpSet>();
  /** Members per canonical selector: both families and named-port sets reuse one scan. */
  private readonly matches = new Map<string, readonly Member[]>();
  private readonly index: MemberIndex<Member>;
  private record: NamedRequest[] | null = null;
  private readonly names = new Map<string, string>();

  /** `cache`: contents still valid from an earlier calculation (PolicyCalculator keeps it), filled in here. */
  constructor(
    members: readonly Member[],
    private readonly cache: Map<string, CachedSet> = new Map(),
  ) {
    this.index = new MemberIndex(members);
  }

  /** Runs `compile`, returning with its result every request it made (to replay for a compiled chain kept for later). */
  recording<T>(compile: () => T): { result: T; requests: NamedRequest[] } {
    const requests: NamedRequest[] = [];
    this.record = requests;
    try {
      return { result: compile(), requests };
    } finally {
      this.record = null;
    }
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
    return this.request({ kind: 'selector', family, selector });
  }

  netSet(family: 4 | 6, nets: readonly string[]): string {
    return this.request({ kind: 'nets', family, nets });
  }

  namedPortSet(family: 4 | 6, protocol: number | null, names: readonly string[], scope: SelectorAst): string {
    return this.request({ kind: 'named-ports', family, protocol, names, scope });
  }

  /** The set's name; its contents are computed unless this calculation or the cache has them. */
  request(r: SetRequest): string {
    const d = this.describe(r);
    this.record?.push({ name: d.name, request: r });
    this.use(d.name, () => d);
    return d.name;
  }

  /** A request made before, by a chain compiled then: naming it again (a hash) is skipped. */
  replay(r: NamedRequest): void {
    this.use(r.name, () => this.describe(r.request));
  }

  private use(name: string, describe: () => { selector: SelectorAst | null; build: () => IpSet }): void {
    if (this.sets.has(name)) return;
    let cached = this.cache.get(name);
    if (cached === undefined) {
      const d = describe();
      cached = { set: d.build(), selector: d.selector };
      this.cache.set(name, cached);
    }
    this.sets.set(name, cached.set);
  }

  /** Set names are hashes; many rules ask for the same set, so each is hashed once per calculation. */
  private nameOf(key: string, hash: () => string): string {
    let name = this.names.get(key);
    if (name === undefined) {
      name = hash();
      this.names.set(key, name);
    }
    return name;
  }

  private describe(r: SetRequest): { name: string; selector: SelectorAst | null; build: () => IpSet } {
    switch (r.kind) {
      case 'selector': {
        const canonical = formatSelector(r.selector);
        const source = `selector ${canonical}`;
        const name = this.nameOf(`sel${r.family} ${source}`, () => addressSetName('sel', r.family, source));
        return {
          name,
          selector: r.selector,
          build: () => {
            const cidrs = this.membersOf(r.selector, canonical).flatMap((m) => m.cidrs.filter((c) => c.family === r.family));
            return { kind: 'addresses', name, family: r.family, source, elements: mergeCidrs(cidrs).map(formatCidr) };
          },
        };
      }
      case 'nets': {
        const cidrs = mergeCidrs(r.nets.map(parseCidr).filter((c): c is NonNullable<typeof c> => c !== null));
        const elements = cidrs.map(formatCidr);
        const source = `nets ${elements.join(',')}`;
        const name = this.nameOf(`net${r.family} ${source}`, () => addressSetName('net', r.family, source));
        return { name, selector: null, build: () => ({ kind: 'addresses', name, family: r.family, source, elements }) };
      }
      case 'named-ports': {
        const wanted = [...new Set(r.names)].sort();
        const canonical = formatSelector(r.scope);
        const source = `ports ${wanted.join(',')}/${r.protocol ?? 'any'} of ${canonical}`;
        const name = this.nameOf(`np${r.family} ${source}`, () => namedPortSetName(r.family, source));
        return { name, selector: r.scope, build: () => this.buildNamedPorts(name, source, r.family, r.protocol, wanted, r.scope, canonical) };
      }
    }
  }

  private buildNamedPorts(name: string, source: string, family: 4 | 6, protocol: number | null, wanted: readonly string[], scope: SelectorAst, canonical: string): IpSet {
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
    return { kind: 'named-ports', name, family, source, elements: sorted };
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
