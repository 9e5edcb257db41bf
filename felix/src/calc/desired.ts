import type { FailsafePort } from '../model/config.js';
import type { Direction, IcmpMatch, PolicyStage } from '../model/policies.js';

/**
 * What the dataplane should hold: plain, sorted, comparable data. The
 * renderer turns it into nftables JSON 1:1 and the evaluator (evaluate.ts)
 * walks the same structure, so what `explain` says is what nft does.
 */
export interface DesiredPolicyState {
  /** Local workload endpoints, sorted by interface name. */
  readonly workloads: readonly EndpointPlan[];
  /** Local host endpoints (named interfaces), sorted by interface name. */
  readonly hostEndpoints: readonly EndpointPlan[];
  /**
   * One chain per policy per direction that applies to a local endpoint, sorted by name. The
   * evaluator walks all of them; the renderer writes those a stage jumps to (a stage compiled
   * into a `lookup` does not).
   */
  readonly policyChains: readonly PolicyChain[];
  /** Every set a rule references, sorted by name. */
  readonly sets: readonly IpSet[];
  readonly failsafe: { readonly inbound: readonly FailsafePort[]; readonly outbound: readonly FailsafePort[] };
}

export interface EndpointPlan {
  /** `ns/pod` for workloads, the HostEndpoint name for host endpoints. */
  readonly id: string;
  readonly interfaceName: string;
  /** Source addresses the endpoint may send from (anti-spoofing); empty for host endpoints. */
  readonly ipv4: readonly string[];
  readonly ipv6: readonly string[];
  /** Traffic arriving at the endpoint. */
  readonly ingress: DirectionPlan;
  /** Traffic the endpoint sends. */
  readonly egress: DirectionPlan;
}

/**
 * Stages in order; each lists the chains of the policies that apply, in
 * order. A stage that is reached and not left by a verdict or a Pass drops.
 * After the last stage (every stage passed, or none applies), `fallthrough`.
 */
export interface DirectionPlan {
  readonly stages: readonly StagePlan[];
  readonly fallthrough: 'allow' | 'drop';
}

export interface StagePlan {
  readonly stage: PolicyStage;
  /** The chains of the policies that apply, in order (what `explain` walks). */
  readonly chains: readonly string[];
  /**
   * The same stage as set lookups (calc/kubernetes-stage.ts): a packet any of these sets holds is
   * allowed, any other is dropped. Present when every rule of the stage is an allow the sets can
   * express (always, for Kubernetes NetworkPolicies); the renderer then writes these lookups
   * instead of a jump per chain, so the cost of a packet does not grow with the policies.
   */
  readonly lookup?: StageLookup;
}

/** The `peers` / `peer-ports` sets of `DesiredPolicyState.sets` a stage asks, in order. */
export interface StageLookup {
  readonly sets: readonly { readonly name: string; readonly kind: 'peers' | 'peer-ports'; readonly family: 4 | 6 }[];
}

export interface PolicyChain {
  readonly name: string;
  readonly policyId: string;
  readonly direction: Direction;
  readonly rules: readonly CompiledRule[];
}

export type CompiledAction = 'allow' | 'deny' | 'pass' | 'log';

export interface PortRange {
  readonly first: number;
  readonly last: number;
}

/** One nft rule. Every present constraint must hold. */
export interface CompiledRule {
  readonly action: CompiledAction;
  /** null: the rule does not look at addresses, so it matches both families. */
  readonly family: 4 | 6 | null;
  readonly protocol: number | null;
  readonly notProtocol: number | null;
  readonly icmp: IcmpMatch | null;
  readonly notIcmp: IcmpMatch | null;
  readonly source: CompiledEntity;
  readonly destination: CompiledEntity;
  /** Index of the policy rule this came from (one policy rule can give several). */
  readonly ruleIndex: number;
}

export interface CompiledEntity {
  /** The address must be in every one of these sets. */
  readonly sets: readonly string[];
  /** The address must be in none of these sets. */
  readonly notSets: readonly string[];
  /** null: any port. */
  readonly ports: readonly PortRange[] | null;
  readonly notPorts: readonly PortRange[];
  /** (address, protocol, port) must be in this set: named ports, resolved per endpoint. */
  readonly namedPortSet: string | null;
  readonly notNamedPortSet: string | null;
}

export type IpSet =
  | {
      readonly kind: 'addresses';
      readonly name: string;
      readonly family: 4 | 6;
      /** What it holds, for humans and explain: `selector <text>` or `nets <cidrs>`. */
      readonly source: string;
      /** Canonical, merged, sorted CIDRs (a host is /32 or /128). */
      readonly elements: readonly string[];
    }
  | {
      readonly kind: 'named-ports';
      readonly name: string;
      readonly family: 4 | 6;
      readonly source: string;
      readonly elements: readonly NamedPortElement[];
    }
  | {
      /** Peer addresses a stage allows on every protocol (nft: interval set of addresses). */
      readonly kind: 'peers';
      readonly name: string;
      readonly family: 4 | 6;
      readonly source: string;
      /** Sorted, disjoint, not adjacent. */
      readonly elements: readonly AddressRangeText[];
    }
  | {
      /** Peer . protocol . port a stage allows (nft: concatenated interval set; elements must not overlap). */
      readonly kind: 'peer-ports';
      readonly name: string;
      readonly family: 4 | 6;
      readonly source: string;
      /** Disjoint; sorted by protocol, first port, first address. */
      readonly elements: readonly PeerPortElement[];
    };

/** Addresses of one family, first..last inclusive, as text. */
export interface AddressRangeText {
  readonly first: string;
  readonly last: string;
}

/** One element of a `peer-ports` set: any address of the range, with this protocol, to a port of the range. */
export interface PeerPortElement extends AddressRangeText {
  readonly protocol: number;
  readonly firstPort: number;
  readonly lastPort: number;
}

export interface NamedPortElement {
  readonly address: string;
  readonly protocol: number;
  readonly port: number;
}
