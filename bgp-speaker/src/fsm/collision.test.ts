import { describe, expect, it } from 'vitest';
import { resolveCollision } from './collision.js';

describe('resolveCollision (RFC 4271 §6.8, RFC 6286 §2.3)', () => {
  it.each([
    ['10.0.0.2', '10.0.0.1', 65001, 65001, 'locally-initiated'],
    ['10.0.0.1', '10.0.0.2', 65001, 65001, 'remotely-initiated'],
    // compared as unsigned 32-bit numbers, not as text
    ['9.0.0.0', '10.0.0.0', 65001, 65001, 'remotely-initiated'],
    ['200.0.0.1', '10.0.0.1', 65001, 65001, 'locally-initiated'],
    // equal identifiers: the larger AS's connection is kept
    ['10.0.0.1', '10.0.0.1', 65002, 65001, 'locally-initiated'],
    ['10.0.0.1', '10.0.0.1', 65001, 65002, 'remotely-initiated'],
  ] as const)('local %s vs remote %s (AS %d vs %d) keeps the %s connection', (localId, remoteId, localAsn, remoteAsn, winner) => {
    expect(resolveCollision({ localId, remoteId, localAsn, remoteAsn })).toBe(winner);
  });
});
