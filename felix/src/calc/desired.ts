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
  /** One chain per policy per direction that applies to a local endpoint, sorted by name. */
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
  readonly stages: readonly { readonly stage: PolicyStage; readonly chains: readonly string[] }[];
  readonly fallthrough: 'allow' | 'drop';
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
    };

export interface NamedPortElement {
  readonly address: string;
  readonly protocol: number;
  readonly port: number;
}
