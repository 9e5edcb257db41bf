import {
  cidrRange,
  familyRange,
  formatIp,
  intersectRanges,
  mergeRanges,
  parseCidr,
  parseIp,
  subtractRanges,
  type AddressRange,
} from '../../../lib/cidr.js';
import { PORT_PROTOCOLS, type Direction } from '../model/policies.js';
import type {
  CompiledEntity,
  CompiledRule,
  DesiredPolicyState,
  DirectionPlan,
  EndpointPlan,
  IpSet,
  PeerPortElement,
  PolicyChain,
  StageLookup,
  StagePlan,
} from './desired.js';
import { stageLookupSetName } from './names.js';

type LookupSet = StageLookup['sets'][number];

/**
 * The Kubernetes stage of an endpoint, compiled into set lookups.
 *
 * Kubernetes NetworkPolicies only allow, and a pod selected by any of them
 * in a direction is isolated there: the stage is the union of every allow of
 * every policy that selects the pod, then drop. A union is one lookup, so
 * instead of a jump into every policy's chain (a new connection's first
 * packet walked 5,000 chains when 5,000 policies selected its pod), the
 * endpoint chain asks at most two sets per family:
 *
 *   peers       `ip saddr @set` (egress: `ip daddr`): peers allowed on every protocol
 *   peer-ports  `ip saddr . meta l4proto . th dport @set`: peer, protocol and port
 *
 * Rules without ports match every protocol (ICMP included) and go to `peers`,
 * so nothing depends on what `th dport` reads in a packet without ports.
 * The kernel refuses overlapping elements in a concatenated interval set, so
 * `peer-ports` is a disjoint decomposition: per protocol, the port axis is
 * cut at every boundary a rule uses; each piece holds the union of the peers
 * of the rules covering it (ipBlock minus except is range subtraction),
 * without the `peers` already allowed on every protocol; neighbouring pieces
 * with the same peers are joined.
 *
 * A set is named after what decides its content (direction, the policies'
 * chains, and on ingress the endpoint's own named ports), not after the
 * content: endpoints selected by the same policies share one set, and when
 * a peer pod comes or goes the set keeps its name and only elements change.
 *
 * The policy chains stay in the desired state: `explain` walks them, and a
 * property test (kubernetes-stage.test.ts) checks that the lookups decide
 * every packet as the walk does. A stage holding anything the sets cannot
 * say (a deny, a pass, a log, ICMP or negated matches, source ports) keeps
 * its chains; Kubernetes NetworkPolicies never produce one.
 *
 * It keeps a memo of the last result (PolicyCalculator keeps one instance),
 * so an update costs what it touches:
 *   - an endpoint plan that comes in as the same object as last time, whose
 *     Kubernetes chains and the sets their rules read (selector members, nets,
 *     named ports) are all the same objects as last time, goes out as the
 *     same object without looking at its rules at all: those are everything
 *     its lookups depend on (its own addresses are in the plan);
 *   - otherwise, a lookup whose inputs (the policies' chains and the sets
 *     their rules read) are the same objects as last time is not recomputed
 *     and comes back as the same IpSets, and a plan that comes out equal to
 *     the last one is the last one.
 * PolicyCalculator hands out the same EndpointPlan, PolicyChain and IpSet
 * objects for what did not change, so a policy added for one pod recomputes
 * that pod's lookups only. The renderer and the planner compare by identity,
 * so an update that touches neither costs them nothing.
 */
export class StageLookups {
  private plans = new WeakMap<EndpointPlan, EndpointPlan>();
  private built = new Map<string, BuiltLookup>();
  /** Per endpoint plan given last time: what its lookups were made from, and what went out. */
  private endpoints = new Map<EndpointPlan, EndpointLookups>();

  compile(desired: DesiredPolicyState): DesiredPolicyState {
    const chains = new Map(desired.policyChains.map((c) => [c.name, c]));
    const sets = new Map(desired.sets.map((s) => [s.name, s]));
    const compiler = new StageCompiler(chains, sets, this.built);
    const nextPlans = new WeakMap<EndpointPlan, EndpointPlan>();
    const nextEndpoints = new Map<EndpointPlan, EndpointLookups>();
    const withLookups = (ep: EndpointPlan): EndpointPlan => {
      const last = this.endpoints.get(ep);
      if (last !== undefined && compiler.reuse(last)) {
        nextEndpoints.set(ep, last);
        if (last.out !== ep) nextPlans.set(ep, last.out);
        return last.out;
      }
      const used = compiler.recording();
      const ingress = compiler.plan(ep, 'ingress', ep.ingress);
      const egress = compiler.plan(ep, 'egress', ep.egress);
      let out = ep;
      if (ingress !== ep.ingress || egress !== ep.egress) {
        const made: EndpointPlan = { ...ep, ingress, egress };
        const prev = this.plans.get(ep);
        out = prev !== undefined && JSON.stringify(prev) === JSON.stringify(made) ? prev : made;
        nextPlans.set(ep, out);
      }
      nextEndpoints.set(ep, { out, inputs: compiler.inputsOf(ep), lookups: [...used] });
      return out;
    };
    const workloads = desired.workloads.map(withLookups);
    const hostEndpoints = desired.hostEndpoints.map(withLookups);
    this.plans = nextPlans;
    this.endpoints = nextEndpoints;
    this.built = compiler.used;
    const added = [...compiler.used.values()].flatMap((b) => b.sets);
    const all = [...desired.sets, ...added].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { ...desired, workloads, hostEndpoints, sets: all };
  }
}

/** One lookup's sets, and the objects (chains, sets read) they were computed from. */
interface BuiltLookup {
  readonly inputs: readonly object[];
  readonly lookup: LookupSet[];
  readonly sets: IpSet[];
}

type Input = readonly [kind: 'chain' | 'set', name: string, value: object];

/** An endpoint's Kubernetes-stage lookups as last computed. */
interface EndpointLookups {
  readonly out: EndpointPlan;
  /** Every chain and set its Kubernetes stages read, by name: if each is the same object now, so is the result. */
  readonly inputs: readonly Input[] | null;
  /** The lookups it used, by key, to carry into this calculation's memo. */
  readonly lookups: readonly (readonly [key: string, built: BuiltLookup])[];
}

/** Allowed on one protocol for a port range: any of these peers. */
interface Grant {
  readonly protocol: number;
  readonly firstPort: number;
  readonly lastPort: number;
  readonly peers: readonly AddressRange[];
}

/** What one family of a stage allows, before decomposition. `null` kinds are absent from every rule. */
interface FamilyGrants {
  anyProtocol: AddressRange[] | null;
  ports: Grant[] | null;
}

const FAMILIES = [4, 6] as const;
const LAST_PORT = 65535;

class StageCompiler {
  /** What this calculation uses, by the key that decides a lookup's content. */
  readonly used = new Map<string, BuiltLookup>();
  private readonly ranges = new Map<string, AddressRange[]>();
  /** The lookups the endpoint being planned uses (see recording). */
  private current = new Map<string, BuiltLookup>();

  constructor(
    private readonly chains: ReadonlyMap<string, PolicyChain>,
    private readonly sets: ReadonlyMap<string, IpSet>,
    private readonly previous: ReadonlyMap<string, BuiltLookup>,
  ) {}

  /** Starts collecting the lookups the next plan() calls use; the map returned fills as they run. */
  recording(): Map<string, BuiltLookup> {
    this.current = new Map();
    return this.current;
  }

  /**
   * Whether an endpoint's last lookups still hold: every chain and set they read
   * is the same object now. If so, their lookups join this calculation's memo
   * (unless one of their keys was built anew here, which then wins).
   */
  reuse(last: EndpointLookups): boolean {
    if (last.inputs === null) return false;
    for (const [kind, name, value] of last.inputs) {
      if ((kind === 'chain' ? this.chains.get(name) : this.sets.get(name)) !== value) return false;
    }
    for (const [key, built] of last.lookups) {
      const known = this.used.get(key);
      if (known !== undefined && known !== built) return false;
    }
    for (const [key, built] of last.lookups) this.used.set(key, built);
    return true;
  }

  /** Every chain the endpoint's Kubernetes stages name and every set their rules read; null if a chain is missing. */
  inputsOf(ep: EndpointPlan): Input[] | null {
    const out: Input[] = [];
    for (const plan of [ep.ingress, ep.egress]) {
      for (const stage of plan.stages) {
        if (stage.stage !== 'kubernetes') continue;
        const chains: PolicyChain[] = [];
        for (const name of stage.chains) {
          const chain = this.chains.get(name);
          if (chain === undefined) return null;
          chains.push(chain);
          out.push(['chain', name, chain]);
        }
        for (const set of this.setsRead(chains.flatMap((c) => c.rules))) out.push(['set', set.name, set]);
      }
    }
    return out;
  }

  plan(ep: EndpointPlan, direction: Direction, plan: DirectionPlan): DirectionPlan {
    if (!plan.stages.some((s) => s.stage === 'kubernetes')) return plan;
    const stages = plan.stages.map((s): StagePlan => {
      if (s.stage !== 'kubernetes') return s;
      const lookup = this.lookupSets(ep, direction, s.chains);
      return lookup === null ? s : { ...s, lookup: { sets: lookup } };
    });
    return { ...plan, stages };
  }

  private lookupSets(ep: EndpointPlan, direction: Direction, chainNames: readonly string[]): LookupSet[] | null {
    const chains: PolicyChain[] = [];
    for (const name of chainNames) {
      const chain = this.chains.get(name);
      if (chain === undefined) return null;
      chains.push(chain);
    }
    const rules = chains.flatMap((c) => c.rules);
    if (!rules.every((r) => this.isFoldable(r, direction))) return null;
    // On ingress, named ports resolve on the endpoint itself: its own ports are part of what the set holds.
    const own = direction === 'ingress' ? this.ownNamedPorts(ep, rules) : [];
    const key = JSON.stringify([direction, chainNames, own]);
    const known = this.used.get(key);
    if (known !== undefined) {
      this.current.set(key, known);
      return known.lookup;
    }
    const inputs: object[] = [...chains, ...this.setsRead(rules)];
    const prev = this.previous.get(key);
    if (prev !== undefined && prev.inputs.length === inputs.length && prev.inputs.every((x, i) => x === inputs[i])) {
      this.used.set(key, prev);
      this.current.set(key, prev);
      return prev.lookup;
    }

    const lookup: LookupSet[] = [];
    const made: IpSet[] = [];
    const source = `kubernetes ${direction}: ${chainNames.length} policies`;
    for (const family of FAMILIES) {
      const grants = this.familyGrants(ep, direction, rules, family);
      if (grants.anyProtocol !== null) {
        const name = stageLookupSetName('peers', family, key);
        made.push({ kind: 'peers', name, family, source, elements: mergeRanges(grants.anyProtocol).map(rangeText) });
        lookup.push({ name, kind: 'peers', family });
      }
      if (grants.ports !== null) {
        const name = stageLookupSetName('peer-ports', family, key);
        made.push({ kind: 'peer-ports', name, family, source, elements: decomposePeerPorts(grants.ports, mergeRanges(grants.anyProtocol ?? [])) });
        lookup.push({ name, kind: 'peer-ports', family });
      }
    }
    // Unchanged content keeps its object, so the renderer and the planner see it as unchanged.
    const sets = made.map((s) => {
      const old = prev?.sets.find((o) => o.name === s.name);
      return old !== undefined && JSON.stringify(old) === JSON.stringify(s) ? old : s;
    });
    const built: BuiltLookup = { inputs, lookup, sets };
    this.used.set(key, built);
    this.current.set(key, built);
    return lookup;
  }

  /** The sets the rules read, in a stable order: what a lookup's content depends on besides the chains. */
  private setsRead(rules: readonly CompiledRule[]): IpSet[] {
    const names = new Set<string>();
    for (const r of rules) {
      for (const e of [r.source, r.destination]) {
        for (const n of e.sets) names.add(n);
        for (const n of e.notSets) names.add(n);
        if (e.namedPortSet !== null) names.add(e.namedPortSet);
      }
    }
    return [...names].sort().flatMap((n) => {
      const set = this.sets.get(n);
      return set === undefined ? [] : [set];
    });
  }

  /** An allow the sets can say: peers by address sets, ports of the endpoint (ingress) or of the peer (egress). */
  private isFoldable(r: CompiledRule, direction: Direction): boolean {
    if (r.action !== 'allow' || r.notProtocol !== null || r.icmp !== null || r.notIcmp !== null) return false;
    if (r.protocol !== null && !PORT_PROTOCOLS.has(r.protocol)) return false;
    const peer = direction === 'ingress' ? r.source : r.destination;
    const self = direction === 'ingress' ? r.destination : r.source;
    const noNegatedPorts = (e: CompiledEntity) => e.notPorts.length === 0 && e.notNamedPortSet === null;
    const noPorts = (e: CompiledEntity) => e.ports === null && e.namedPortSet === null;
    if (!noNegatedPorts(peer) || !noNegatedPorts(self)) return false;
    if (self.sets.length > 0 || self.notSets.length > 0) return false;
    // Source ports are not in the lookup.
    if (!noPorts(direction === 'ingress' ? peer : self)) return false;
    return [...peer.sets, ...peer.notSets].every((s) => this.sets.get(s)?.kind === 'addresses');
  }

  private ownNamedPorts(ep: EndpointPlan, rules: readonly CompiledRule[]): string[] {
    const own = new Set<string>();
    for (const r of rules) {
      const set = r.destination.namedPortSet === null ? undefined : this.sets.get(r.destination.namedPortSet);
      if (set?.kind !== 'named-ports') continue;
      for (const e of set.elements) if (isOwnAddress(ep, e.address)) own.add(`${set.name} ${e.protocol} ${e.port}`);
    }
    return [...own].sort();
  }

  private familyGrants(ep: EndpointPlan, direction: Direction, rules: readonly CompiledRule[], family: 4 | 6): FamilyGrants {
    const out: FamilyGrants = { anyProtocol: null, ports: null };
    for (const r of rules) {
      if (r.family !== null && r.family !== family) continue;
      const peer = direction === 'ingress' ? r.source : r.destination;
      const portSide = r.destination;
      const hasPorts = portSide.ports !== null || portSide.namedPortSet !== null;
      if (r.protocol === null && !hasPorts) {
        out.anyProtocol ??= [];
        out.anyProtocol.push(...this.peerRanges(peer, family));
        continue;
      }
      out.ports ??= [];
      const peers = this.peerRanges(peer, family);
      if (peers.length === 0) continue;
      const protocols = r.protocol !== null ? [r.protocol] : [...PORT_PROTOCOLS];
      if (portSide.ports !== null) {
        for (const protocol of protocols) for (const p of portSide.ports) out.ports.push({ protocol, firstPort: p.first, lastPort: p.last, peers });
      } else if (portSide.namedPortSet !== null) {
        const set = this.sets.get(portSide.namedPortSet);
        if (set?.kind !== 'named-ports') continue;
        for (const e of set.elements) {
          if (!protocols.includes(e.protocol)) continue;
          if (direction === 'ingress') {
            if (isOwnAddress(ep, e.address)) out.ports.push({ protocol: e.protocol, firstPort: e.port, lastPort: e.port, peers });
          } else {
            // Egress: the port is the destination pod's own, so the element is that pod's address.
            const ip = parseIp(e.address);
            if (ip === null || ip.family !== family) continue;
            const single = intersectRanges(peers, [{ family, first: ip.value, last: ip.value }]);
            if (single.length > 0) out.ports.push({ protocol: e.protocol, firstPort: e.port, lastPort: e.port, peers: single });
          }
        }
      } else {
        for (const protocol of protocols) out.ports.push({ protocol, firstPort: 0, lastPort: LAST_PORT, peers });
      }
    }
    return out;
  }

  /** The addresses of one family an entity matches: in every one of its sets, in none of its not-sets. */
  private peerRanges(e: CompiledEntity, family: 4 | 6): AddressRange[] {
    let peers = [familyRange(family)];
    for (const s of e.sets) peers = intersectRanges(peers, this.setRanges(s, family));
    for (const s of e.notSets) peers = subtractRanges(peers, this.setRanges(s, family));
    return peers;
  }

  private setRanges(name: string, family: 4 | 6): AddressRange[] {
    const key = `${name} ${family}`;
    let found = this.ranges.get(key);
    if (found === undefined) {
      const set = this.sets.get(name);
      const cidrs = set?.kind === 'addresses' ? set.elements.map(parseCidr).filter((c): c is NonNullable<typeof c> => c !== null && c.family === family) : [];
      found = mergeRanges(cidrs.map(cidrRange));
      this.ranges.set(key, found);
    }
    return found;
  }
}

/**
 * Grants → disjoint `peer . protocol . port` elements. Per protocol, the port
 * axis is cut at every grant's first port and after its last; each piece
 * gets the union of the peers of the grants covering it, minus `anyProtocol`
 * (those already match the `peers` lookup); neighbouring pieces with the
 * same peers are joined.
 */
export function decomposePeerPorts(grants: readonly Grant[], anyProtocol: readonly AddressRange[]): PeerPortElement[] {
  const out: { protocol: number; firstPort: number; lastPort: number; peer: AddressRange }[] = [];
  const protocols = [...new Set(grants.map((g) => g.protocol))].sort((a, b) => a - b);
  for (const protocol of protocols) {
    const mine = grants.filter((g) => g.protocol === protocol).sort((a, b) => a.firstPort - b.firstPort);
    const cuts = [...new Set(mine.flatMap((g) => [g.firstPort, g.lastPort + 1]))].sort((a, b) => a - b);
    const pieces: { firstPort: number; lastPort: number; peers: AddressRange[]; key: string }[] = [];
    let active: Grant[] = [];
    let next = 0;
    for (let i = 0; i + 1 < cuts.length; i++) {
      const firstPort = cuts[i]!;
      const lastPort = cuts[i + 1]! - 1;
      active = active.filter((g) => g.lastPort >= firstPort);
      while (next < mine.length && mine[next]!.firstPort <= firstPort) active.push(mine[next++]!);
      const peers = subtractRanges(mergeRanges(active.flatMap((g) => g.peers)), anyProtocol);
      if (peers.length === 0) continue;
      const key = peers.map((p) => `${p.first}-${p.last}`).join(',');
      const prev = pieces[pieces.length - 1];
      if (prev !== undefined && prev.lastPort + 1 === firstPort && prev.key === key) prev.lastPort = lastPort;
      else pieces.push({ firstPort, lastPort, peers, key });
    }
    for (const piece of pieces) for (const peer of piece.peers) out.push({ protocol, firstPort: piece.firstPort, lastPort: piece.lastPort, peer });
  }
  return out.map((e) => ({ ...rangeText(e.peer), protocol: e.protocol, firstPort: e.firstPort, lastPort: e.lastPort }));
}

function rangeText(r: AddressRange): { first: string; last: string } {
  return { first: formatIp(r.family, r.first), last: formatIp(r.family, r.last) };
}

function isOwnAddress(ep: EndpointPlan, address: string): boolean {
  const ip = parseIp(address);
  if (ip === null) return false;
  return [...ep.ipv4, ...ep.ipv6].some((a) => {
    const own = parseIp(a);
    return own !== null && own.family === ip.family && own.value === ip.value;
  });
}

/**
 * Whether a stage's lookups allow a packet, as the kernel answers them
 * (the peer is the source on ingress, the destination on egress). Used by
 * the tests that hold the lookups to the chains' verdicts.
 */
export function lookupAllows(
  sets: ReadonlyMap<string, IpSet>,
  lookup: StageLookup,
  direction: Direction,
  packet: { source: string; destination: string; protocol: number; destinationPort?: number },
): boolean {
  const peer = parseIp(direction === 'ingress' ? packet.source : packet.destination);
  if (peer === null) return false;
  const within = (e: { first: string; last: string }) => {
    const first = parseIp(e.first);
    const last = parseIp(e.last);
    return first !== null && last !== null && first.family === peer.family && first.value <= peer.value && peer.value <= last.value;
  };
  for (const { name } of lookup.sets) {
    const set = sets.get(name);
    if (set === undefined || set.family !== peer.family) continue;
    if (set.kind === 'peers' && set.elements.some(within)) return true;
    if (set.kind === 'peer-ports' && PORT_PROTOCOLS.has(packet.protocol) && packet.destinationPort !== undefined) {
      const port = packet.destinationPort;
      if (set.elements.some((e) => e.protocol === packet.protocol && e.firstPort <= port && port <= e.lastPort && within(e))) return true;
    }
  }
  return false;
}
