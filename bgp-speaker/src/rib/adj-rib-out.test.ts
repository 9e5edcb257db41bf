import { describe, expect, it } from 'vitest';
import { AFI_IPV4, AFI_IPV6, codecContext, decodeUpdate, encodeUpdate, MAX_MESSAGE_LENGTH, type PathAttributes } from '../codec/index.js';
import { AdjRibOut, exportPath, packUpdates, planUpdates, prependAs, type OutPeer, type SpeakerIdentity } from './adj-rib-out.js';
import { ibgpPeer, path, peer } from './paths.test-helpers.js';
import type { Path, PeerRef } from './path.js';

const ME: SpeakerIdentity = { localAs: 64512, routerId: '10.0.0.1', clusterId: null };
const RR: SpeakerIdentity = { ...ME, clusterId: '10.0.0.250' };
const P = '10.10.0.0/26';
const V6 = '2001:db8:10::/122';

const out = (p: PeerRef, over: Partial<OutPeer> = {}): OutPeer => ({
  peer: p,
  localAddress: { ipv4: '10.0.0.1', ipv6: '2001:db8::1' },
  afis: [AFI_IPV4, AFI_IPV6],
  ...over,
});
const TOR = peer('10.1.0.1', { asn: 65001 });
const EXT = peer('10.1.0.2', { asn: 65002 });
const NODE2 = ibgpPeer('10.0.0.2');
const NODE3 = ibgpPeer('10.0.0.3');
const CLIENT2 = ibgpPeer('10.0.0.2', { isRouteReflectorClient: true });
const CLIENT4 = ibgpPeer('10.0.0.4', { isRouteReflectorClient: true });
const seq = (...asns: number[]) => [{ type: 'AS_SEQUENCE' as const, asns }];

type Row = [string, Path, OutPeer, SpeakerIdentity, { nextHop: string; attributes: PathAttributes } | null];
const rows: Row[] = [
  ['our block to eBGP: our AS, NEXT_HOP self, no LOCAL_PREF', path(P, null, { localPref: 100 }), out(TOR), ME, { nextHop: '10.0.0.1', attributes: { origin: 'IGP', asPath: seq(64512) } }],
  ['our block to iBGP: empty AS_PATH, LOCAL_PREF 100, NEXT_HOP self', path(P, null), out(NODE2), ME, { nextHop: '10.0.0.1', attributes: { origin: 'IGP', asPath: [], localPref: 100 } }],
  ['our MED goes to eBGP (it began in our AS)', path(P, null, { multiExitDisc: 7 }), out(TOR), ME, { nextHop: '10.0.0.1', attributes: { origin: 'IGP', asPath: seq(64512), multiExitDisc: 7 } }],
  ['eBGP-learned to iBGP: NEXT_HOP, AS_PATH and MED kept, LOCAL_PREF added', path(P, EXT, { multiExitDisc: 5 }), out(NODE2), ME, { nextHop: '10.1.0.2', attributes: { origin: 'IGP', asPath: seq(65002), multiExitDisc: 5, localPref: 100 } }],
  ['eBGP-learned to iBGP with next-hop-self', path(P, EXT), out(NODE2, { isNextHopSelf: true }), ME, { nextHop: '10.0.0.1', attributes: { origin: 'IGP', asPath: seq(65002), localPref: 100 } }],
  ['eBGP-learned to eBGP: our AS prepended, MED from the other AS dropped', path(P, EXT, { multiExitDisc: 5 }), out(TOR), ME, { nextHop: '10.0.0.1', attributes: { origin: 'IGP', asPath: seq(64512, 65002) } }],
  ['keepOriginalNextHop to eBGP keeps the learned NEXT_HOP', path(P, EXT), out(TOR, { keepOriginalNextHop: true }), ME, { nextHop: '10.1.0.2', attributes: { origin: 'IGP', asPath: seq(64512, 65002) } }],
  ['keepOriginalNextHop does not apply to our own paths', path(P, null), out(TOR, { keepOriginalNextHop: true }), ME, { nextHop: '10.0.0.1', attributes: { origin: 'IGP', asPath: seq(64512) } }],
  ['iBGP-learned to eBGP: ORIGINATOR_ID, CLUSTER_LIST and LOCAL_PREF stripped', path(P, NODE2, { localPref: 300, originatorId: '10.0.0.9', clusterList: ['1.1.1.1'] }), out(TOR), ME, { nextHop: '10.0.0.1', attributes: { origin: 'IGP', asPath: seq(64512) } }],
  ['confederation segments are not sent to eBGP', path(P, EXT, { asPath: [{ type: 'AS_CONFED_SEQUENCE', asns: [1] }, ...seq(65002)] }), out(TOR), ME, { nextHop: '10.0.0.1', attributes: { origin: 'IGP', asPath: seq(64512, 65002) } }],
  ['iBGP split horizon: iBGP-learned is not sent to iBGP', path(P, NODE2), out(NODE3), ME, null],
  ['not a reflector: a client flag alone does not reflect', path(P, CLIENT2), out(NODE3), ME, null],
  ['reflector: non-client to client gets ORIGINATOR_ID and our CLUSTER_ID', path(P, NODE3, { localPref: 100 }), out(CLIENT4), RR, { nextHop: '10.0.0.3', attributes: { origin: 'IGP', asPath: [], localPref: 100, originatorId: '10.0.0.3', clusterList: ['10.0.0.250'] } }],
  ['reflector: client to non-client, CLUSTER_ID prepended, ORIGINATOR_ID kept', path(P, CLIENT2, { localPref: 100, originatorId: '10.0.0.7', clusterList: ['10.0.0.251'] }), out(NODE3), RR, { nextHop: '10.0.0.2', attributes: { origin: 'IGP', asPath: [], localPref: 100, originatorId: '10.0.0.7', clusterList: ['10.0.0.250', '10.0.0.251'] } }],
  ['reflector: next-hop-self does not apply to reflected paths', path(P, NODE3, { localPref: 100 }), out(CLIENT4, { isNextHopSelf: true }), RR, { nextHop: '10.0.0.3', attributes: { origin: 'IGP', asPath: [], localPref: 100, originatorId: '10.0.0.3', clusterList: ['10.0.0.250'] } }],
  ['reflector: non-client to non-client is not sent', path(P, NODE2), out(NODE3), RR, null],
  ['reflector: never back to the originator', path(P, CLIENT2, { originatorId: '10.0.0.4' }), out(CLIENT4), RR, null],
  ['never back to the peer it came from', path(P, TOR), out(TOR), ME, null],
  ['not to an eBGP peer whose AS is in the path', path(P, EXT, { asPath: seq(65002, 65001) }), out(TOR), ME, null],
  ['not when export policy says no', path(P, null), out(TOR, { exportPolicy: (p) => p.prefix !== P }), ME, null],
  ['not IPv6 to a peer that did not negotiate it', path(V6, null), out(TOR, { afis: [AFI_IPV4] }), ME, null],
  ['IPv6 to eBGP: our IPv6 address as next hop', path(V6, null), out(TOR), ME, { nextHop: '2001:db8::1', attributes: { origin: 'IGP', asPath: seq(64512) } }],
  ['not when we have no address of the family for NEXT_HOP self', path(V6, null), out(TOR, { localAddress: { ipv4: '10.0.0.1' } }), ME, null],
];

describe('exportPath', () => {
  it.each(rows)('%s', (_name, best, to, me, expected) => {
    const r = exportPath(best, to, me);
    if (expected === null) expect(r).toBeNull();
    else expect(r).toMatchObject({ prefix: best.prefix, nextHop: expected.nextHop, attributes: expected.attributes });
    if (r !== null) expect(Object.keys(r.attributes).sort()).toEqual(Object.keys(expected?.attributes ?? {}).sort());
  });

  it('prepends into the leading AS_SEQUENCE, or a new one before an AS_SET or a full segment', () => {
    expect(prependAs(seq(1, 2), 9)).toEqual(seq(9, 1, 2));
    expect(prependAs([{ type: 'AS_SET', asns: [1, 2] }], 9)).toEqual([...seq(9), { type: 'AS_SET', asns: [1, 2] }]);
    const full = seq(...Array.from({ length: 255 }, (_, i) => i + 1));
    expect(prependAs(full, 9)).toEqual([...seq(9), ...full]);
    expect(prependAs(undefined, 9)).toEqual(seq(9));
  });
});

describe('AdjRibOut.planUpdates', () => {
  const a = path(P, null);
  const b = path('10.10.0.64/26', null);
  const c = path('10.10.0.128/26', null, { communities: [0xfc000064] });

  it('groups prefixes with identical attributes into one announcement', () => {
    const ribOut = new AdjRibOut(out(TOR), ME);
    const adv = planUpdates({ changed: [a, b, c].map((best) => ({ prefix: best.prefix, best })) }, ribOut);
    expect(adv.withdrawn).toEqual([]);
    expect(adv.announced.map((g) => g.prefixes)).toEqual([[a.prefix, b.prefix], [c.prefix]]);
    expect(ribOut.size).toBe(3);
  });

  it('sends only what differs from what was last sent', () => {
    const ribOut = new AdjRibOut(out(TOR), ME);
    ribOut.planUpdates({ changed: [{ prefix: P, best: a }] });
    expect(ribOut.planUpdates({ changed: [{ prefix: P, best: { ...a } }] })).toEqual({ withdrawn: [], announced: [] });
    // A new best that exports to the same attributes (iBGP LOCAL_PREF is stripped for eBGP) sends nothing.
    expect(ribOut.planUpdates({ changed: [{ prefix: P, best: path(P, null, { localPref: 500 }) }] })).toEqual({ withdrawn: [], announced: [] });
    expect(ribOut.planUpdates({ changed: [{ prefix: P, best: path(P, null, { origin: 'INCOMPLETE' }) }] }).announced).toHaveLength(1);
  });

  it('withdraws a prefix whose best is gone or no longer exportable, once', () => {
    const ribOut = new AdjRibOut(out(NODE3), ME);
    ribOut.planUpdates({ changed: [{ prefix: P, best: a }] });
    // The new best came from iBGP: split horizon means the peer must forget our old route.
    expect(ribOut.planUpdates({ changed: [{ prefix: P, best: path(P, NODE2) }] })).toEqual({ withdrawn: [P], announced: [] });
    expect(ribOut.planUpdates({ changed: [{ prefix: P, best: null }] })).toEqual({ withdrawn: [], announced: [] });
  });

  it('compares the whole table after a policy change, withdrawing what is no longer wanted', () => {
    const ribOut = new AdjRibOut(out(TOR), ME);
    ribOut.planUpdates({ changed: [a, b, c].map((best) => ({ prefix: best.prefix, best })) });
    expect(ribOut.planFullTable([a, b, c])).toEqual({ withdrawn: [], announced: [] });
    ribOut.setPeer(out(TOR, { exportPolicy: (p) => p.prefix !== a.prefix }));
    expect(ribOut.planFullTable([a, b, c])).toEqual({ withdrawn: [a.prefix], announced: [] });
    ribOut.setPeer(out(TOR));
    expect(ribOut.planFullTable([b, c])).toEqual({ withdrawn: [], announced: [] });
    expect(ribOut.planFullTable([a, c])).toEqual({ withdrawn: [b.prefix], announced: [expect.objectContaining({ prefixes: [a.prefix] })] });
    expect(ribOut.resend().announced.flatMap((g) => g.prefixes).sort()).toEqual([a.prefix, c.prefix].sort());
  });
});

describe('packUpdates', () => {
  const ctx = codecContext({ hasFourOctetAs: true, isExternalPeer: true });
  const many = (n: number, v6 = false): string[] =>
    Array.from({ length: n }, (_, i) => (v6 ? `2001:db8:${((i >> 8) + 1).toString(16)}:${((i & 0xff) + 1).toString(16)}::/64` : `10.${(i >> 8) & 0xff}.${i & 0xff}.0/24`));

  it('splits a large group into UPDATEs that fit 4096 bytes and carry every prefix once', () => {
    const prefixes = many(3000);
    const updates = packUpdates({ withdrawn: many(1500).map((p) => p.replace(/^10\./, '11.')), announced: [{ nextHop: '10.0.0.1', attributes: { origin: 'IGP', asPath: seq(64512) }, prefixes }] }, ctx);
    const sizes = updates.map((u) => encodeUpdate(u, ctx).length);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(MAX_MESSAGE_LENGTH);
    const decoded = updates.map((u) => decodeUpdate(encodeUpdate(u, ctx), ctx));
    expect(decoded.every((d) => d.errorAction === null)).toBe(true);
    expect(decoded.flatMap((d) => d.update.nlri)).toEqual(prefixes);
    expect(decoded.flatMap((d) => d.update.withdrawn)).toHaveLength(1500);
    expect(updates.length).toBeLessThan(8);
  });

  it('puts IPv6 in MP_REACH_NLRI / MP_UNREACH_NLRI, with the link-local next hop', () => {
    const prefixes = many(600, true);
    const updates = packUpdates(
      { withdrawn: ['2001:db8:ffff::/64'], announced: [{ nextHop: '2001:db8::1', linkLocalNextHop: 'fe80::1', attributes: { origin: 'IGP', asPath: [] }, prefixes }] },
      ctx,
    );
    const decoded = updates.map((u) => decodeUpdate(encodeUpdate(u, ctx), ctx));
    expect(Math.max(...updates.map((u) => encodeUpdate(u, ctx).length))).toBeLessThanOrEqual(MAX_MESSAGE_LENGTH);
    expect(decoded[0]?.update.attributes.mpUnreachNlri?.withdrawn).toEqual(['2001:db8:ffff::/64']);
    expect(decoded.slice(1).flatMap((d) => d.update.attributes.mpReachNlri?.nlri ?? [])).toEqual(prefixes);
    expect(decoded[1]?.update.attributes.mpReachNlri?.nextHops).toEqual(['2001:db8::1', 'fe80::1']);
  });

  it('gives no UPDATE for no advertisements', () => {
    expect(packUpdates({ withdrawn: [], announced: [] }, ctx)).toEqual([]);
  });
});
