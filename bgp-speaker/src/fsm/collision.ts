/**
 * Connection collision resolution (RFC 4271 §6.8, tie-break RFC 6286 §2.3):
 * of two connections to the same peer, keep the one initiated by the speaker
 * with the higher BGP Identifier; with equal identifiers, the one initiated by
 * the speaker with the larger AS. The driver then sends OpenCollisionDump to
 * the FSM of the other connection.
 */
import { parseIPv4 } from '../codec/address.js';

export type CollisionWinner = 'locally-initiated' | 'remotely-initiated';

function idValue(id: string): number {
  const b = parseIPv4(id);
  if (b === null) throw new TypeError(`BGP identifier is not dotted-quad: ${JSON.stringify(id)}`);
  return (b[0] as number) * 0x1000000 + (((b[1] as number) << 16) | ((b[2] as number) << 8) | (b[3] as number));
}

export function resolveCollision(input: { localId: string; remoteId: string; localAsn: number; remoteAsn: number }): CollisionWinner {
  const local = idValue(input.localId);
  const remote = idValue(input.remoteId);
  if (local !== remote) return local > remote ? 'locally-initiated' : 'remotely-initiated';
  return input.localAsn >= input.remoteAsn ? 'locally-initiated' : 'remotely-initiated';
}
