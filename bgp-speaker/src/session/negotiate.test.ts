import { describe, expect, it } from 'vitest';
import { buildOpen } from '../codec/open.js';
import { negotiate } from './negotiate.js';

const ours = buildOpen({ asn: 65001, holdTimeSec: 90, bgpIdentifier: '192.0.2.1', capabilities: [{ type: 'multiprotocol', afi: 1, safi: 1 }, { type: 'multiprotocol', afi: 2, safi: 1 }, { type: 'route-refresh' }] });

describe('negotiate', () => {
  it('takes the smaller hold time, keepalive a third, and the families both sent', () => {
    const theirs = buildOpen({ asn: 4200000000, holdTimeSec: 30, bgpIdentifier: '192.0.2.2', capabilities: [{ type: 'multiprotocol', afi: 1, safi: 1 }] });
    const n = negotiate(ours, theirs, 65001);
    expect(n).toMatchObject({ holdTimeSec: 30, keepaliveTimeSec: 10, peerAsn: 4200000000, peerId: '192.0.2.2', isExternal: true, hasRouteRefresh: false, peerGracefulRestart: null });
    expect(n.families).toEqual([{ afi: 1, safi: 1 }]);
    expect(n.ctx).toMatchObject({ hasFourOctetAs: true, hasExtendedMessage: false, isExternalPeer: true });
  });

  it('a 2-octet speaker without capabilities: IPv4 unicast, 2-octet AS_PATH, hold 0 means none', () => {
    const theirs = { version: 4, myAutonomousSystem: 65001, holdTimeSec: 0, bgpIdentifier: '192.0.2.2', capabilities: [] };
    const n = negotiate(ours, theirs, 65001);
    expect(n).toMatchObject({ holdTimeSec: 0, keepaliveTimeSec: 0, isExternal: false });
    expect(n.families).toEqual([{ afi: 1, safi: 1 }]);
    expect(n.ctx.hasFourOctetAs).toBe(false);
  });
});
