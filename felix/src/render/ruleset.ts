import { parseIp, rangeAsCidr } from '../../../lib/cidr.js';
import type { DesiredPolicyState, EndpointPlan, IpSet, PolicyChain } from '../calc/desired.js';
import { hostEndpointChainName, workloadChainName } from '../calc/names.js';
import { renderFailsafe } from './failsafe.js';
import {
  MAP_FROM_HOST,
  MAP_FROM_WORKLOAD,
  MAP_TO_HOST,
  MAP_TO_WORKLOAD,
  CHAIN_TO_WORKLOAD_DISPATCH,
  WORKLOAD_INTERFACES,
  hostEndpointChains,
  renderAllInterfacesDispatch,
  renderToWorkloadDispatch,
  renderDispatchMap,
  workloadChains,
} from './dispatch.js';
import {
  accept,
  chain,
  drop,
  gotoChain,
  inTable,
  match,
  meta,
  rule,
  TABLE,
  type NftExpr,
  type NftJson,
  type NftChainObj,
  type NftMapObj,
  type NftObject,
  type NftRuleObj,
  type NftSetObj,
} from './nft-json.js';
import { renderPolicyChain } from './policy-chain.js';

export const CHAIN_FORWARD = 'forward';
export const CHAIN_INPUT = 'input';
export const CHAIN_OUTPUT = 'output';

/**
 * The whole `inet tortie` table for a desired state, as nft JSON objects in
 * an order nft can add them in one transaction: table, every chain, sets,
 * maps, then rules. Pure: the same desired state gives byte-identical output.
 *
 *   forward: ct established,related accept · ct invalid drop ·
 *            iifname vmap @from-wl (goto fw-<if>: anti-spoofing, egress; if
 *            allowed, goto to-wl-dispatch) · iifname "tor*" drop (unknown pod) ·
 *            goto to-wl-dispatch
 *   to-wl-dispatch: oifname vmap @to-wl (goto tw-<if>: ingress) · oifname "tor*" drop
 *   input / output: ct · failsafe ports · host endpoint dispatch
 */
export function renderRuleset(desired: DesiredPolicyState, memo?: RenderMemo): NftObject[] {
  const t = renderTable(desired, memo);
  return [
    { table: TABLE },
    ...t.chains.map((c) => ({ chain: c.chain })),
    ...t.sets.map((set) => ({ set })),
    ...t.maps.map((map) => ({ map })),
    ...t.chains.flatMap((c) => c.rules.map((r) => ({ rule: r }))),
  ];
}

/** The table by parts, keyed by name: what renderRuleset flattens and planNft diffs. */
export interface RenderedTable {
  /** Base chains first, then endpoint chains, then policy chains; each with its rules in order. */
  readonly chains: readonly { readonly chain: NftChainObj; readonly rules: readonly NftRuleObj[] }[];
  readonly sets: readonly NftSetObj[];
  readonly maps: readonly NftMapObj[];
}

export function renderTable(desired: DesiredPolicyState, memo: RenderMemo = new RenderMemo()): RenderedTable {
  memo.begin();
  const chains: { chain: NftChainObj; rules: NftRuleObj[] }[] = [];
  const byName = new Map<string, NftRuleObj[]>();
  const addChain = (c: { chain: NftChainObj }) => {
    const rules: NftRuleObj[] = [];
    chains.push({ chain: c.chain, rules });
    byName.set(c.chain.name, rules);
  };
  const addRules = (objs: NftObject[]) => {
    for (const o of objs) {
      if (!('rule' in o)) continue;
      const list = byName.get(o.rule.chain);
      if (!list) throw new Error(`bug: rule for undeclared chain ${o.rule.chain}`);
      list.push(o.rule);
    }
  };

  addChain(chain(CHAIN_FORWARD, { hook: 'forward' }));
  addChain(chain(CHAIN_TO_WORKLOAD_DISPATCH));
  addChain(chain(CHAIN_INPUT, { hook: 'input' }));
  addChain(chain(CHAIN_OUTPUT, { hook: 'output' }));
  addRules([
    ...conntrack(CHAIN_FORWARD),
    rule(CHAIN_FORWARD, [{ vmap: { key: meta('iifname'), data: `@${MAP_FROM_WORKLOAD}` } }], 'from workload dispatch'),
    rule(CHAIN_FORWARD, [match(meta('iifname'), '==', WORKLOAD_INTERFACES), drop], 'from unknown workload interface'),
    rule(CHAIN_FORWARD, [gotoChain(CHAIN_TO_WORKLOAD_DISPATCH)]),
    ...renderToWorkloadDispatch(),
    ...conntrack(CHAIN_INPUT),
    ...renderFailsafe(CHAIN_INPUT, desired.failsafe.inbound, 'inbound'),
    rule(CHAIN_INPUT, [{ vmap: { key: meta('iifname'), data: `@${MAP_TO_HOST}` } }], 'to host endpoint dispatch'),
    ...renderAllInterfacesDispatch(CHAIN_INPUT, 'iifname', desired.hostEndpoints, 'ingress'),
    ...conntrack(CHAIN_OUTPUT),
    ...renderFailsafe(CHAIN_OUTPUT, desired.failsafe.outbound, 'outbound'),
    rule(CHAIN_OUTPUT, [{ vmap: { key: meta('oifname'), data: `@${MAP_FROM_HOST}` } }], 'from host endpoint dispatch'),
    ...renderAllInterfacesDispatch(CHAIN_OUTPUT, 'oifname', desired.hostEndpoints, 'egress'),
  ]);

  for (const e of [...desired.workloads.map((ep) => memo.workloads.once(ep, workloadChains)), ...desired.hostEndpoints.map((ep) => memo.hostEndpoints.once(ep, hostEndpointChains))]) {
    for (const name of e.names) addChain(chain(name));
    addRules(e.objects);
  }
  const used = usedByRenderedRules(desired);
  for (const pc of desired.policyChains) {
    if (!used.chains.has(pc.name)) continue;
    addChain(chain(pc.name));
    addRules(memo.policyChains.once(pc, renderPolicyChain));
  }

  const maps = [
    renderDispatchMap(MAP_FROM_WORKLOAD, desired.workloads, (i) => workloadChainName(i, 'egress')),
    renderDispatchMap(MAP_TO_WORKLOAD, desired.workloads, (i) => workloadChainName(i, 'ingress')),
    renderDispatchMap(MAP_TO_HOST, desired.hostEndpoints, (i) => hostEndpointChainName(i, 'ingress')),
    renderDispatchMap(MAP_FROM_HOST, desired.hostEndpoints, (i) => hostEndpointChainName(i, 'egress')),
  ].map((m) => m.map);
  return { chains, sets: desired.sets.filter((s) => used.sets.has(s.name)).map((s) => memo.sets.once(s, renderSet).set), maps };
}

/**
 * The policy chains some endpoint jumps to and the sets some written rule
 * reads. A stage compiled into lookups jumps to none of its chains, so
 * those chains and the selector sets only they read stay out of the kernel
 * (the evaluator still walks them for `explain`).
 */
function usedByRenderedRules(desired: DesiredPolicyState): { chains: Set<string>; sets: Set<string> } {
  const chains = new Set<string>();
  const sets = new Set<string>();
  for (const ep of [...desired.workloads, ...desired.hostEndpoints]) {
    for (const plan of [ep.ingress, ep.egress]) {
      for (const stage of plan.stages) {
        if (stage.lookup !== undefined) for (const set of stage.lookup.sets) sets.add(set.name);
        else for (const name of stage.chains) chains.add(name);
      }
    }
  }
  for (const pc of desired.policyChains) {
    if (!chains.has(pc.name)) continue;
    for (const r of pc.rules) {
      for (const e of [r.source, r.destination]) {
        for (const name of e.sets) sets.add(name);
        for (const name of e.notSets) sets.add(name);
        if (e.namedPortSet !== null) sets.add(e.namedPortSet);
        if (e.notNamedPortSet !== null) sets.add(e.notNamedPortSet);
      }
    }
  }
  return { chains, sets };
}

/**
 * What the last ruleset rendered, by the calculation's objects. A
 * PolicyCalculator hands back the very same EndpointPlan, PolicyChain and
 * IpSet objects for what an update left alone, so the loop, keeping one memo,
 * renders only what changed, and the planner, seeing the same rule and set
 * objects, compares them by identity (dataplane/kernel-plan.ts). Plain maps,
 * one generation deep (what a ruleset does not use again is dropped), rather
 * than WeakMaps, whose tens of thousands of entries every garbage collection
 * would have to trace as ephemerons. The output depends on `desired` alone.
 */
export class RenderMemo {
  readonly workloads = new Generation<EndpointPlan, { names: string[]; objects: NftObject[] }>();
  readonly hostEndpoints = new Generation<EndpointPlan, { names: string[]; objects: NftObject[] }>();
  readonly policyChains = new Generation<PolicyChain, NftObject[]>();
  readonly sets = new Generation<IpSet, { set: NftSetObj }>();

  /** Starts a ruleset. */
  begin(): void {
    for (const g of [this.workloads, this.hostEndpoints, this.policyChains, this.sets] as Generation<object, unknown>[]) g.begin();
  }
}

class Generation<K, V> {
  private last = new Map<K, V>();
  private current = new Map<K, V>();
  begin(): void {
    this.last = this.current;
    this.current = new Map();
  }
  once(key: K, render: (key: K) => V): V {
    let value = this.current.get(key) ?? this.last.get(key);
    if (value === undefined) value = render(key);
    this.current.set(key, value);
    return value;
  }
}

/**
 * One transaction that replaces the table whole: add (so that a missing table
 * is not an error), delete, then add everything. The kernel swaps it in
 * atomically, so traffic never meets an empty ruleset.
 */
export function renderFullReplace(desired: DesiredPolicyState): NftJson {
  return {
    nftables: [{ add: { table: TABLE } }, { delete: { table: TABLE } }, ...renderRuleset(desired).map((o) => ({ add: o }))],
  };
}

function conntrack(chainName: string): NftObject[] {
  return [
    rule(chainName, [match({ ct: { key: 'state' } }, 'in', ['established', 'related']), accept], 'conntrack established,related'),
    rule(chainName, [match({ ct: { key: 'state' } }, 'in', 'invalid'), drop], 'conntrack invalid'),
  ];
}

export function renderSet(s: IpSet): { set: NftSetObj } {
  if (s.kind === 'addresses') {
    const obj: NftSetObj = { ...inTable, name: s.name, type: s.family === 4 ? 'ipv4_addr' : 'ipv6_addr', flags: ['interval'] };
    if (s.elements.length > 0) obj.elem = s.elements.map(cidrElement);
    return { set: obj };
  }
  const addressType = s.family === 4 ? 'ipv4_addr' : 'ipv6_addr';
  if (s.kind === 'peers') {
    const obj: NftSetObj = { ...inTable, name: s.name, type: addressType, flags: ['interval'] };
    if (s.elements.length > 0) obj.elem = s.elements.map((e) => rangeElement(s.family, e.first, e.last));
    return { set: obj };
  }
  if (s.kind === 'peer-ports') {
    const obj: NftSetObj = { ...inTable, name: s.name, type: [addressType, 'inet_proto', 'inet_service'], flags: ['interval'] };
    if (s.elements.length > 0) {
      obj.elem = s.elements.map((e) => ({
        concat: [rangeElement(s.family, e.first, e.last), e.protocol, e.firstPort === e.lastPort ? e.firstPort : { range: [e.firstPort, e.lastPort] }],
      }));
    }
    return { set: obj };
  }
  const obj: NftSetObj = { ...inTable, name: s.name, type: [addressType, 'inet_proto', 'inet_service'] };
  if (s.elements.length > 0) obj.elem = s.elements.map((e) => ({ concat: [e.address, e.protocol, e.port] }));
  return { set: obj };
}

/** An address range as nft lists it: one address, a prefix when the range is a CIDR, else a range. */
function rangeElement(family: 4 | 6, first: string, last: string): NftExpr {
  if (first === last) return first;
  const a = parseIp(first);
  const b = parseIp(last);
  const cidr = a !== null && b !== null ? rangeAsCidr({ family, first: a.value, last: b.value }) : null;
  return cidr !== null ? { prefix: { addr: first, len: cidr.prefixLength } } : { range: [first, last] };
}

function cidrElement(cidr: string): NftExpr {
  const [addr, lenText] = cidr.split('/') as [string, string];
  const len = Number(lenText);
  if ((addr.includes(':') && len === 128) || (!addr.includes(':') && len === 32)) return addr;
  return { prefix: { addr, len } };
}
