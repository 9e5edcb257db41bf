import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AsPathSegment } from '../codec/index.js';
import { asPathLength, neighbourAs, selectBest } from './best-path.js';
import { ibgpPeer, path, peer } from './paths.test-helpers.js';
import type { Path } from './path.js';

const P = '10.0.0.0/26';
const seq = (...asns: number[]): AsPathSegment => ({ type: 'AS_SEQUENCE', asns });
const set = (...asns: number[]): AsPathSegment => ({ type: 'AS_SET', asns });
const confed = (...asns: number[]): AsPathSegment => ({ type: 'AS_CONFED_SEQUENCE', asns });

const A = peer('10.1.0.1', { asn: 65001 });
const B = peer('10.1.0.2', { asn: 65002 });
const A2 = peer('10.1.0.3', { asn: 65001, routerId: '10.1.0.3' });
const I1 = ibgpPeer('10.2.0.1');
const I2 = ibgpPeer('10.2.0.2');

// Each row: the winner, the loser, and the one tie-breaker that separates them (all earlier ones tie).
const rows: [string, Path, Path][] = [
  ['a locally originated path beats a learned one', path(P, null, { localPref: 100 }), path(P, I1, { localPref: 200 })],
  ['highest LOCAL_PREF', path(P, I1, { localPref: 200 }), path(P, I2, { localPref: 100 })],
  ['missing LOCAL_PREF counts as 100', path(P, I1, { localPref: 101 }), path(P, I2, {})],
  ['shortest AS_PATH', path(P, A, { asPath: [seq(65001)] }), path(P, B, { asPath: [seq(65002, 65010)] })],
  ['an AS_SET counts as one', path(P, A, { asPath: [seq(65001), set(1, 2, 3, 4)] }), path(P, B, { asPath: [seq(65002, 65010, 65011)] })],
  ['confederation segments count zero', path(P, A, { asPath: [confed(1, 2, 3), seq(65001)] }), path(P, B, { asPath: [seq(65002, 65010)] })],
  ['lowest ORIGIN: IGP over EGP', path(P, A, { origin: 'IGP' }), path(P, B, { origin: 'EGP' })],
  ['lowest ORIGIN: EGP over INCOMPLETE', path(P, A, { origin: 'EGP' }), path(P, B, { origin: 'INCOMPLETE' })],
  ['lowest MED from the same neighbour AS', path(P, A2, { multiExitDisc: 5 }), path(P, A, { multiExitDisc: 10 })],
  ['missing MED counts as 0', path(P, A2, {}), path(P, A, { multiExitDisc: 1 })],
  ['eBGP over iBGP', path(P, A, { localPref: 100, asPath: [seq(65001)] }), path(P, I1, { localPref: 100, asPath: [seq(65009)] })],
  ['MED is not compared across neighbour ASes (then eBGP over iBGP decides)', path(P, A, { multiExitDisc: 50, asPath: [seq(65001)] }), path(P, I1, { multiExitDisc: 0, asPath: [seq(65009)] })],
  ['lowest router ID', path(P, ibgpPeer('10.2.0.9', { routerId: '1.1.1.1' })), path(P, ibgpPeer('10.2.0.1', { routerId: '2.2.2.2' }))],
  ['ORIGINATOR_ID stands in for the router ID (RFC 4456 §9)', path(P, ibgpPeer('10.2.0.9', { routerId: '9.9.9.9' }), { originatorId: '1.1.1.1', clusterList: ['5.5.5.5'] }), path(P, ibgpPeer('10.2.0.1', { routerId: '2.2.2.2' }), { originatorId: '2.2.2.2', clusterList: ['5.5.5.5'] })],
  ['router IDs compare as numbers, not text', path(P, ibgpPeer('10.2.0.9', { routerId: '9.0.0.1' })), path(P, ibgpPeer('10.2.0.1', { routerId: '10.0.0.1' }))],
  ['shortest CLUSTER_LIST', path(P, ibgpPeer('10.2.0.9', { routerId: '3.3.3.3' }), { originatorId: '1.1.1.1', clusterList: ['5.5.5.5'] }), path(P, ibgpPeer('10.2.0.1', { routerId: '3.3.3.3' }), { originatorId: '1.1.1.1', clusterList: ['6.6.6.6', '5.5.5.5'] })],
  ['lowest peer address', path(P, ibgpPeer('10.2.0.2', { routerId: '3.3.3.3' })), path(P, ibgpPeer('10.2.0.10', { routerId: '3.3.3.3' }))],
];

describe('selectBest', () => {
  it('returns null for no paths and the only path for one', () => {
    expect(selectBest([])).toBeNull();
    const only = path(P, A);
    expect(selectBest([only])).toBe(only);
  });

  it.each(rows)('%s', (_name, winner, loser) => {
    expect(selectBest([winner, loser])).toBe(winner);
    expect(selectBest([loser, winner])).toBe(winner);
  });

  it('compares MED only within a neighbour AS, so three paths give one answer in any order', () => {
    // The classic non-transitive case: A(65001, MED 10) < A'(65001, MED 5) by MED,
    // B(65002) beats A' by router ID, A beats B by router ID. Elimination: A is removed
    // by A' (same AS, lower MED); then router ID picks between A' and B.
    const a = path(P, peer('10.1.0.1', { asn: 65001, routerId: '1.0.0.1' }), { multiExitDisc: 10 });
    const a2 = path(P, peer('10.1.0.3', { asn: 65001, routerId: '1.0.0.3' }), { multiExitDisc: 5 });
    const b = path(P, peer('10.1.0.2', { asn: 65002, routerId: '1.0.0.2' }));
    for (const order of [[a, a2, b], [a, b, a2], [b, a, a2], [b, a2, a], [a2, a, b], [a2, b, a]]) {
      expect(selectBest(order)).toBe(b);
    }
  });

  const arbPath = fc
    .record({
      address: fc.integer({ min: 1, max: 6 }),
      asn: fc.constantFrom(64512, 65001, 65002),
      routerId: fc.integer({ min: 1, max: 4 }),
      localPref: fc.option(fc.constantFrom(50, 100, 200), { nil: undefined }),
      med: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
      origin: fc.constantFrom('IGP' as const, 'EGP' as const, 'INCOMPLETE' as const),
      asPath: fc.array(fc.constantFrom(65001, 65002, 65003), { maxLength: 3 }),
      originatorId: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
      clusterLength: fc.integer({ min: 0, max: 2 }),
      isLocal: fc.boolean(),
    })
    .map((r): Path => {
      const from = r.isLocal ? null : peer(`10.9.0.${r.address}`, { asn: r.asn, routerId: `1.0.0.${r.routerId}`, isInternal: r.asn === 64512 });
      return path(P, from, {
        origin: r.origin,
        asPath: r.asPath.length === 0 ? [] : [seq(...(from !== null && !from.isInternal ? [from.asn, ...r.asPath] : r.asPath))],
        ...(r.localPref === undefined ? {} : { localPref: r.localPref }),
        ...(r.med === undefined ? {} : { multiExitDisc: r.med }),
        ...(r.originatorId === undefined ? {} : { originatorId: `1.0.0.${r.originatorId}` }),
        ...(r.clusterLength === 0 ? {} : { clusterList: Array.from({ length: r.clusterLength }, (_, i) => `5.0.0.${i}`) }),
      });
    });

  it('does not depend on the order of its input (property)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(arbPath, { minLength: 1, maxLength: 8, selector: (p) => p.peer?.address ?? 'local' }).chain((ps) => fc.tuple(fc.constant(ps), fc.shuffledSubarray(ps, { minLength: ps.length, maxLength: ps.length }))),
        ([paths, shuffled]) => {
          expect(selectBest(shuffled)).toEqual(selectBest(paths));
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('AS_PATH helpers', () => {
  it.each([
    [[], 0],
    [[seq(1, 2, 3)], 3],
    [[seq(1), set(2, 3)], 2],
    [[confed(9, 9), seq(1)], 1],
    [[{ type: 'AS_CONFED_SET', asns: [7, 8] } as AsPathSegment, set(1, 2)], 1],
  ] as [AsPathSegment[], number][])('length of %j is %i', (segments, n) => {
    expect(asPathLength(segments)).toBe(n);
  });

  it('takes the neighbour AS from the first AS_SEQUENCE, else the peer (iBGP-originated)', () => {
    expect(neighbourAs(path(P, A, { asPath: [confed(9), seq(65001, 3)] }))).toBe(65001);
    expect(neighbourAs(path(P, I1, { asPath: [] }))).toBe(64512);
    expect(neighbourAs(path(P, I1, { asPath: [set(1, 2)] }))).toBe(64512);
    expect(neighbourAs(path(P, null))).toBeNull();
  });
});
