import { describe, expect, it } from 'vitest';
import { readHexFixture } from './fixtures/read-hex.js';
import { codecContext, type CodecContext } from './context.js';
import { decodeMessage, decodeUpdate, encodeMessage, type BgpMessage } from './message.js';
import { endOfRib, endOfRibFamily } from './update.js';
import { encodeKeepalive } from './keepalive.js';
import { decodeShutdownCommunication, shutdownNotification, CeaseSubcode } from './notification.js';

const fixture = (name: string) => readHexFixture(new URL(`./fixtures/${name}`, import.meta.url));
const fourOctet = codecContext({ hasFourOctetAs: true });
const twoOctet = codecContext({ hasFourOctetAs: false });

interface Golden {
  file: string;
  ctx: CodecContext;
  message: BgpMessage;
  /** false when our encoder legitimately produces other bytes (e.g. the sender was a 2-octet speaker). */
  isEncodeExact: boolean;
}

const goldens: Golden[] = [
  {
    file: 'open-capabilities.hex',
    ctx: twoOctet,
    isEncodeExact: true,
    message: {
      type: 'OPEN',
      open: {
        version: 4,
        myAutonomousSystem: 65001,
        holdTimeSec: 90,
        bgpIdentifier: '192.0.2.1',
        capabilities: [
          { type: 'multiprotocol', afi: 1, safi: 1 },
          { type: 'multiprotocol', afi: 2, safi: 1 },
          { type: 'route-refresh' },
          { type: 'four-octet-as', asn: 65001 },
          {
            type: 'graceful-restart',
            isRestarting: false,
            hasNotificationSupport: false,
            restartTimeSec: 120,
            families: [
              { afi: 1, safi: 1, isForwardingPreserved: true },
              { afi: 2, safi: 1, isForwardingPreserved: false },
            ],
          },
          { type: 'enhanced-route-refresh' },
        ],
      },
    },
  },
  {
    file: 'update-ipv4-all-attributes.hex',
    ctx: fourOctet,
    isEncodeExact: true,
    message: {
      type: 'UPDATE',
      update: {
        withdrawn: ['10.9.0.0/16'],
        attributes: {
          origin: 'IGP',
          asPath: [
            { type: 'AS_SEQUENCE', asns: [65001, 4200000000] },
            { type: 'AS_SET', asns: [65010, 65011] },
          ],
          nextHop: '192.0.2.1',
          multiExitDisc: 100,
          localPref: 200,
          atomicAggregate: true,
          aggregator: { asn: 65001, address: '192.0.2.1' },
          communities: [65001 * 65536 + 100, 0xffffff01],
          originatorId: '192.0.2.9',
          clusterList: ['192.0.2.10'],
          largeCommunities: [{ globalAdministrator: 65001, localData1: 1, localData2: 2 }],
        },
        nlri: ['10.1.0.0/16', '10.2.3.0/24', '10.4.5.64/26', '10.6.7.8/32'],
      },
    },
  },
  {
    file: 'update-mp-reach-ipv6.hex',
    ctx: fourOctet,
    isEncodeExact: true,
    message: {
      type: 'UPDATE',
      update: {
        withdrawn: [],
        attributes: {
          mpReachNlri: { afi: 2, safi: 1, nextHops: ['2001:db8::1', 'fe80::1'], nlri: ['2001:db8:1::/48', '2001:db8:2:3::/64'] },
          origin: 'IGP',
          asPath: [{ type: 'AS_SEQUENCE', asns: [65001] }],
        },
        nlri: [],
      },
    },
  },
  {
    file: 'update-as4-path-merge.hex',
    ctx: twoOctet,
    isEncodeExact: false,
    message: {
      type: 'UPDATE',
      update: {
        withdrawn: [],
        attributes: { origin: 'IGP', asPath: [{ type: 'AS_SEQUENCE', asns: [64512] }, { type: 'AS_SEQUENCE', asns: [65001, 4200000000] }], nextHop: '192.0.2.1' },
        nlri: ['10.0.0.0/8'],
      },
    },
  },
  {
    file: 'notification-cease-shutdown.hex',
    ctx: twoOctet,
    isEncodeExact: true,
    message: { type: 'NOTIFICATION', notification: shutdownNotification(CeaseSubcode.AdministrativeShutdown, 'maintenance') },
  },
  { file: 'end-of-rib-ipv4.hex', ctx: twoOctet, isEncodeExact: true, message: { type: 'UPDATE', update: endOfRib(1, 1) } },
  { file: 'end-of-rib-ipv6.hex', ctx: twoOctet, isEncodeExact: true, message: { type: 'UPDATE', update: endOfRib(2, 1) } },
  { file: 'keepalive.hex', ctx: twoOctet, isEncodeExact: true, message: { type: 'KEEPALIVE' } },
  { file: 'route-refresh.hex', ctx: twoOctet, isEncodeExact: true, message: { type: 'ROUTE_REFRESH', routeRefresh: { afi: 1, safi: 1, subtype: 0 } } },
];

describe('golden wire bytes', () => {
  it.each(goldens)('$file decodes to the message built by hand from the RFC', ({ file, ctx, message }) => {
    const { bytes } = fixture(file);
    const decoded = decodeMessage(bytes, ctx);
    expect(decoded).toEqual({ ok: true, message, errorAction: null });
  });

  it.each(goldens.filter((g) => g.isEncodeExact))('$file is exactly what the encoder writes', ({ file, ctx, message }) => {
    expect(Buffer.from(encodeMessage(message, ctx)).toString('hex')).toBe(Buffer.from(fixture(file).bytes).toString('hex'));
  });

  it('a 2-octet peer gets AS_TRANS in AS_PATH plus AS4_PATH, and the path survives the trip', () => {
    const update = {
      withdrawn: [],
      attributes: { origin: 'IGP' as const, asPath: [{ type: 'AS_SEQUENCE' as const, asns: [65001, 4200000000] }], nextHop: '192.0.2.1', aggregator: { asn: 4200000001, address: '192.0.2.7' } },
      nlri: ['10.0.0.0/8'],
    };
    const bytes = encodeMessage({ type: 'UPDATE', update }, twoOctet);
    const hex = Buffer.from(bytes).toString('hex');
    expect(hex).toContain('4002060202fde95ba0'); // AS_PATH: 65001 AS_TRANS
    expect(hex).toContain('c0110a02020000fde9fa56ea00'); // AS4_PATH: 65001 4200000000
    expect(hex).toContain('c007065ba0c0000207'); // AGGREGATOR: AS_TRANS 192.0.2.7
    expect(decodeMessage(bytes, twoOctet)).toEqual({ ok: true, message: { type: 'UPDATE', update }, errorAction: null });
  });

  it('End-of-RIB markers are recognised for IPv4 and IPv6 and nothing else', () => {
    expect(endOfRibFamily(endOfRib(1, 1))).toEqual({ afi: 1, safi: 1 });
    expect(endOfRibFamily(endOfRib(2, 1))).toEqual({ afi: 2, safi: 1 });
    expect(endOfRibFamily({ withdrawn: ['10.0.0.0/8'], attributes: {}, nlri: [] })).toBeNull();
    expect(endOfRibFamily({ withdrawn: [], attributes: { mpUnreachNlri: { afi: 2, safi: 1, withdrawn: ['::/0'] } }, nlri: [] })).toBeNull();
  });

  it('the shutdown communication reads back, and a long one is cut at a character boundary', () => {
    const n = shutdownNotification(CeaseSubcode.AdministrativeReset, 'é'.repeat(200));
    expect(n.data[0]).toBe(254);
    expect(decodeShutdownCommunication(n)).toBe('é'.repeat(127));
  });

  it('KEEPALIVE is a bare header', () => {
    expect(encodeKeepalive()).toEqual(fixture('keepalive.hex').bytes);
  });
});

describe('Partial bit', () => {
  it('a known optional transitive attribute that arrived partial is sent on partial (RFC 4271 §5)', () => {
    const ctx = codecContext({ hasFourOctetAs: true });
    const update = {
      withdrawn: [],
      attributes: { origin: 'IGP' as const, asPath: [], nextHop: '192.0.2.1', communities: [1], partialCodes: [8] },
      nlri: ['10.0.0.0/8'],
    };
    const hex = Buffer.from(encodeMessage({ type: 'UPDATE', update }, ctx)).toString('hex');
    expect(hex).toContain('e0080400000001'); // flags Optional|Transitive|Partial
    expect(decodeMessage(Buffer.from(hex, 'hex'), ctx)).toEqual({ ok: true, message: { type: 'UPDATE', update }, errorAction: null });
  });
});

describe('decodeUpdate', () => {
  it('reports a header error as a session-reset action, so callers handle one shape', () => {
    const bytes = encodeMessage({ type: 'UPDATE', update: endOfRib(1, 1) }, twoOctet);
    bytes[0] = 0;
    const r = decodeUpdate(bytes, twoOctet);
    expect(r.errorAction?.action).toBe('session-reset');
    expect([r.errorAction?.notification.errorCode, r.errorAction?.notification.errorSubcode]).toEqual([1, 1]);
  });
});
