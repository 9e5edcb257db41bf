import { createHash } from 'node:crypto';
import type { Direction } from '../model/policies.js';

/**
 * Names of the nft objects inside `inet tortie`. Stable across restarts and
 * independent of the rest of the snapshot, so that a later incremental plan
 * can diff by name: a set is named by what it holds, a chain by the policy or
 * interface it serves. The kernel allows 255 characters.
 */
const MAX_NAME = 200;

export function policyChainName(policyId: string, direction: Direction): string {
  return bounded(`${direction === 'ingress' ? 'pi' : 'po'}-${policyId}`);
}

/** To-workload (ingress policy) and from-workload (anti-spoofing, egress policy) chains. */
export function workloadChainName(interfaceName: string, direction: Direction): string {
  return `${direction === 'ingress' ? 'tw' : 'fw'}-${interfaceName}`;
}

/**
 * To-host (ingress policy) and from-host (egress policy) chains of a host
 * endpoint. The all-interfaces endpoint (`*`) gets `th/all-interfaces`: an
 * interface name cannot hold `/`, so it never collides (and nft's JSON
 * parser reads `*` in a name as a wildcard).
 */
export function hostEndpointChainName(interfaceName: string, direction: Direction): string {
  const prefix = direction === 'ingress' ? 'th' : 'fh';
  return interfaceName === ALL_INTERFACES ? `${prefix}/all-interfaces` : `${prefix}-${interfaceName}`;
}

/** HostEndpoint interfaceName for all of the host's interfaces. */
export const ALL_INTERFACES = '*';

export function addressSetName(kind: 'sel' | 'net', family: 4 | 6, source: string): string {
  return `${kind}${family}-${shortHash(source)}`;
}

export function namedPortSetName(family: 4 | 6, source: string): string {
  return `np${family}-${shortHash(source)}`;
}

/**
 * A stage's lookup sets (calc/kubernetes-stage.ts), named after what decides their content
 * (direction, policies, the endpoint's own named ports), so endpoints with the same policies
 * share one set and a set keeps its name while its elements change.
 */
export function stageLookupSetName(kind: 'peers' | 'peer-ports', family: 4 | 6, key: string): string {
  return `${kind === 'peers' ? 'kpeer' : 'kport'}${family}-${shortHash(key)}`;
}

export function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

function bounded(name: string): string {
  return name.length <= MAX_NAME ? name : `${name.slice(0, MAX_NAME - 17)}~${shortHash(name)}`;
}
