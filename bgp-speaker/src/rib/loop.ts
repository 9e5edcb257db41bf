/**
 * Loop detection on receipt. A path that fails is not eligible (RFC 4271
 * §9.1.2): the Adj-RIB-In treats it as a withdrawal of its prefix, so an
 * earlier path from the same peer does not linger.
 */
import type { PathAttributes } from '../codec/index.js';

/** Who we are, as loop detection needs it. */
export interface LoopIdentity {
  readonly localAs: number;
  readonly routerId: string;
  /** RFC 4456 CLUSTER_ID; null when we reflect for no one (our router id is then checked alone). */
  readonly clusterId: string | null;
}

export type LoopReason = 'as-path-loop' | 'originator-id-is-ours' | 'cluster-list-loop';

/**
 * Why a received path must be dropped, or null when it may be used:
 * our AS in its AS_PATH (RFC 4271 §9.1.2; iBGP paths carry our AS only when
 * they looped), ORIGINATOR_ID equal to our router id, or our CLUSTER_ID in
 * its CLUSTER_LIST (RFC 4456 §8).
 */
export function detectLoop(attributes: PathAttributes, me: LoopIdentity): LoopReason | null {
  for (const s of attributes.asPath ?? []) {
    if (s.type === 'AS_CONFED_SEQUENCE' || s.type === 'AS_CONFED_SET') continue;
    if (s.asns.includes(me.localAs)) return 'as-path-loop';
  }
  if (attributes.originatorId !== undefined && attributes.originatorId === me.routerId) return 'originator-id-is-ours';
  if (me.clusterId !== null && attributes.clusterList?.includes(me.clusterId) === true) return 'cluster-list-loop';
  return null;
}
