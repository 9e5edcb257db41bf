/**
 * The attribute table (BIRD's bgp_attr_table): every attribute we know, by
 * type code. update.ts decodes and encodes through it.
 */
import { AGGREGATOR, AS4_AGGREGATOR } from './aggregator.js';
import { AS4_PATH, AS_PATH } from './as-path.js';
import { ATOMIC_AGGREGATE } from './atomic-aggregate.js';
import { COMMUNITIES, LARGE_COMMUNITY } from './communities.js';
import type { AttributeDescriptor, AttributeKey } from './descriptor.js';
import { LOCAL_PREF } from './local-pref.js';
import { MULTI_EXIT_DISC } from './med.js';
import { MP_REACH_NLRI, MP_UNREACH_NLRI } from './mp-nlri.js';
import { NEXT_HOP } from './next-hop.js';
import { ORIGIN } from './origin.js';
import { CLUSTER_LIST, ORIGINATOR_ID } from './route-reflection.js';

export type AnyAttributeDescriptor = { [K in AttributeKey]: AttributeDescriptor<K> }[AttributeKey];

/** In encoding order: MP attributes first (RFC 7606 §5.1), then by type code. */
export const ATTRIBUTES: readonly AnyAttributeDescriptor[] = [
  MP_REACH_NLRI,
  MP_UNREACH_NLRI,
  ORIGIN,
  AS_PATH,
  NEXT_HOP,
  MULTI_EXIT_DISC,
  LOCAL_PREF,
  ATOMIC_AGGREGATE,
  AGGREGATOR,
  COMMUNITIES,
  ORIGINATOR_ID,
  CLUSTER_LIST,
  AS4_PATH,
  AS4_AGGREGATOR,
  LARGE_COMMUNITY,
];

const byCode = new Map<number, AnyAttributeDescriptor>(ATTRIBUTES.map((d) => [d.code, d]));

export function attributeDescriptor(code: number): AnyAttributeDescriptor | undefined {
  return byCode.get(code);
}

export function attributeName(code: number): string {
  return byCode.get(code)?.name ?? `attribute ${code}`;
}
