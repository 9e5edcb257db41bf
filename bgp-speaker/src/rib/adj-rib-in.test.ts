import { describe, expect, it } from 'vitest';
import { codecContext, decodeUpdate, encodeUpdate, endOfRib, AFI_IPV4, AFI_IPV6, SAFI_UNICAST, type DecodedUpdate, type Update } from '../codec/index.js';
import { AdjRibIn } from './adj-rib-in.js';
import { peer } from './paths.test-helpers.js';

const ME = { localAs: 64512, routerId: '10.0.0.1', clusterId: null };
const TOR = peer('10.1.0.1', { asn: 65001 });
const ctx = codecContext({ hasFourOctetAs: true, isExternalPeer: true });

const announce = (nlri: string[], nextHop = '10.1.0.1', asns = [65001]): DecodedUpdate => ({
  update: { withdrawn: [], attributes: { origin: 'IGP', asPath: [{ type: 'AS_SEQUENCE', asns }], nextHop }, nlri },
  errorAction: null,
});
const withdraw = (withdrawn: string[]): DecodedUpdate => ({ update: { withdrawn, attributes: {}, nlri: [] }, errorAction: null });
/** Through the real codec, so the shapes are what a session will hand over. */
const wire = (u: Update): DecodedUpdate => {
  const bytes = encodeUpdate(u, ctx);
  return decodeUpdate(bytes, ctx);
};

describe('AdjRibIn', () => {
  it('holds announced prefixes with their attributes and next hop, and reports them changed', () => {
    const rib = new AdjRibIn(TOR, ME);
    const r = rib.applyUpdate(wire(announce(['10.10.0.0/26', '10.10.0.64/26']).update));
    expect(r).toEqual({ changed: ['10.10.0.0/26', '10.10.0.64/26'], rejected: [], endOfRib: null, isSessionReset: false });
    const p = rib.get('10.10.0.0/26');
    expect(p).toMatchObject({ prefix: '10.10.0.0/26', nextHop: '10.1.0.1', peer: TOR, isStale: false });
    expect(p?.attributes).toEqual({ origin: 'IGP', asPath: [{ type: 'AS_SEQUENCE', asns: [65001] }] });
    expect(rib.size).toBe(2);
  });

  it('removes withdrawn prefixes and ignores withdrawals of prefixes it never had', () => {
    const rib = new AdjRibIn(TOR, ME);
    rib.applyUpdate(announce(['10.10.0.0/26', '10.10.0.64/26']));
    expect(rib.applyUpdate(wire({ withdrawn: ['10.10.0.0/26', '10.99.0.0/16'], attributes: {}, nlri: [] })).changed).toEqual(['10.10.0.0/26']);
    expect(rib.prefixes()).toEqual(['10.10.0.64/26']);
  });

  it('ends with the prefix announced when one UPDATE withdraws and announces it', () => {
    const rib = new AdjRibIn(TOR, ME);
    rib.applyUpdate({ update: { ...announce(['10.10.0.0/26']).update, withdrawn: ['10.10.0.0/26'] }, errorAction: null });
    expect(rib.get('10.10.0.0/26')).toBeDefined();
  });

  it('applies IPv6 MP_REACH_NLRI and MP_UNREACH_NLRI, keeping the link-local next hop', () => {
    const rib = new AdjRibIn(TOR, ME);
    rib.applyUpdate(
      wire({
        withdrawn: [],
        attributes: { origin: 'IGP', asPath: [{ type: 'AS_SEQUENCE', asns: [65001] }], mpReachNlri: { afi: AFI_IPV6, safi: SAFI_UNICAST, nextHops: ['2001:db8::1', 'fe80::1'], nlri: ['2001:db8:1::/122'] } },
        nlri: [],
      }),
    );
    expect(rib.get('2001:db8:1::/122')).toMatchObject({ nextHop: '2001:db8::1', linkLocalNextHop: 'fe80::1' });
    expect(rib.get('2001:db8:1::/122')?.attributes.mpReachNlri).toBeUndefined();
    const r = rib.applyUpdate(wire({ withdrawn: [], attributes: { mpUnreachNlri: { afi: AFI_IPV6, safi: SAFI_UNICAST, withdrawn: ['2001:db8:1::/122'] } }, nlri: [] }));
    expect(r.changed).toEqual(['2001:db8:1::/122']);
    expect(rib.size).toBe(0);
  });

  it('withdraws the prefixes of a treat-as-withdraw UPDATE (RFC 7606), as the codec rewrote it', () => {
    const rib = new AdjRibIn(TOR, ME);
    rib.applyUpdate(announce(['10.10.0.0/26']));
    // ORIGIN with value 7 is malformed: RFC 7606 §7.1 treat-as-withdraw.
    const good = encodeUpdate(announce(['10.10.0.0/26']).update, ctx);
    const originAt = good.indexOf(0x40, 23); // ORIGIN flags byte, first attribute
    expect(good[originAt + 1]).toBe(1);
    const bad = good.slice();
    bad[originAt + 3] = 7;
    const decoded = decodeUpdate(bad, ctx);
    expect(decoded.errorAction?.action).toBe('treat-as-withdraw');
    const r = rib.applyUpdate(decoded);
    expect(r.changed).toEqual(['10.10.0.0/26']);
    expect(rib.size).toBe(0);
  });

  it('changes nothing for an UPDATE that calls for a session reset', () => {
    const rib = new AdjRibIn(TOR, ME);
    rib.applyUpdate(announce(['10.10.0.0/26']));
    const r = rib.applyUpdate({
      update: { withdrawn: ['10.10.0.0/26'], attributes: {}, nlri: [] },
      errorAction: { action: 'session-reset', notification: { errorCode: 3, errorSubcode: 1, data: new Uint8Array(0) }, errors: [] },
    });
    expect(r.isSessionReset).toBe(true);
    expect(rib.size).toBe(1);
  });

  it.each([
    ['our AS in the AS_PATH', { asns: [65001, 64512, 65009] }, 'as-path-loop'],
    ['ORIGINATOR_ID is our router id', { originatorId: '10.0.0.1' }, 'originator-id-is-ours'],
    ['CLUSTER_LIST holds our cluster id', { clusterList: ['1.1.1.1', '10.0.0.250'] }, 'cluster-list-loop'],
  ] as const)('drops a path when %s, withdrawing the older one', (_name, over, reason) => {
    const rib = new AdjRibIn(TOR, { ...ME, clusterId: '10.0.0.250' });
    rib.applyUpdate(announce(['10.10.0.0/26']));
    const u = announce(['10.10.0.0/26'], '10.1.0.1', 'asns' in over ? [...over.asns] : [65001]);
    const attributes = { ...u.update.attributes, ...('asns' in over ? {} : over) };
    const r = rib.applyUpdate({ update: { ...u.update, attributes }, errorAction: null });
    expect(r.rejected).toEqual([{ prefix: '10.10.0.0/26', reason }]);
    expect(r.changed).toEqual(['10.10.0.0/26']);
    expect(rib.size).toBe(0);
  });

  it('keeps paths stale across a graceful restart and sweeps those not refreshed at End-of-RIB', () => {
    const rib = new AdjRibIn(TOR, ME);
    rib.applyUpdate(announce(['10.10.0.0/26', '10.10.0.64/26']));
    rib.applyUpdate(wire({ withdrawn: [], attributes: { origin: 'IGP', asPath: [], mpReachNlri: { afi: AFI_IPV6, safi: SAFI_UNICAST, nextHops: ['2001:db8::1'], nlri: ['2001:db8:1::/122'] } }, nlri: [] }));
    rib.markStale();
    expect([...rib.paths()].every((p) => p.isStale)).toBe(true);
    rib.applyUpdate(announce(['10.10.0.0/26']));
    expect(rib.get('10.10.0.0/26')?.isStale).toBe(false);
    const r = rib.applyUpdate(wire(endOfRib(AFI_IPV4, SAFI_UNICAST)));
    expect(r.endOfRib).toEqual({ afi: AFI_IPV4, safi: SAFI_UNICAST });
    expect(r.changed).toEqual(['10.10.0.64/26']);
    // IPv6 has not said End-of-RIB yet: its stale path stays until then, or until the restart timer.
    expect(rib.get('2001:db8:1::/122')?.isStale).toBe(true);
    expect(rib.sweepStale()).toEqual(['2001:db8:1::/122']);
    expect(rib.prefixes()).toEqual(['10.10.0.0/26']);
  });

  it('holds every path before import policy and answers accepted() after it', () => {
    const rib = new AdjRibIn(TOR, ME, (p) => p.prefix.startsWith('10.10.'));
    rib.applyUpdate(announce(['10.10.0.0/26', '192.168.0.0/24']));
    expect(rib.size).toBe(2);
    expect(rib.accepted('10.10.0.0/26')).not.toBeNull();
    expect(rib.accepted('192.168.0.0/24')).toBeNull();
    expect(rib.setImportPolicy(() => true).changed).toEqual(['10.10.0.0/26', '192.168.0.0/24']);
    expect(rib.accepted('192.168.0.0/24')).not.toBeNull();
  });

  it('drops everything when the peer is gone', () => {
    const rib = new AdjRibIn(TOR, ME);
    rib.applyUpdate(announce(['10.10.0.0/26', '10.10.0.64/26']));
    expect(rib.clear()).toEqual(['10.10.0.0/26', '10.10.0.64/26']);
    expect(rib.size).toBe(0);
  });
});
