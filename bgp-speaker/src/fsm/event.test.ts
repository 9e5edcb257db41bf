import { describe, expect, it } from 'vitest';
import { codecContext } from '../codec/context.js';
import { decodeMessage, encodeMessage, type BgpMessage } from '../codec/message.js';
import { eventForMessage } from './event.js';

const ctx = codecContext({ hasFourOctetAs: true });
const decode = (m: BgpMessage) => decodeMessage(encodeMessage(m, ctx), ctx);
const corrupt = (m: BgpMessage, at: number, value: number) => {
  const b = encodeMessage(m, ctx);
  b[at] = value;
  return decodeMessage(b, ctx);
};
const open: BgpMessage = { type: 'OPEN', open: { version: 4, myAutonomousSystem: 65002, holdTimeSec: 90, bgpIdentifier: '192.0.2.2', capabilities: [] } };
const update: BgpMessage = { type: 'UPDATE', update: { withdrawn: [], attributes: { origin: 'IGP', asPath: [], nextHop: '192.0.2.2' }, nlri: ['10.0.0.0/8'] } };

describe('eventForMessage (RFC 4271 §8.1.5)', () => {
  it.each([
    ['an OPEN', decode(open), 'BGPOpen'],
    ['an UPDATE', decode(update), 'UpdateMsg'],
    ['a KEEPALIVE', decode({ type: 'KEEPALIVE' }), 'KeepAliveMsg'],
    ['a NOTIFICATION', decode({ type: 'NOTIFICATION', notification: { errorCode: 6, errorSubcode: 2, data: new Uint8Array(0) } }), 'NotifMsg'],
    ['a NOTIFICATION of an unsupported version', decode({ type: 'NOTIFICATION', notification: { errorCode: 2, errorSubcode: 1, data: Uint8Array.of(0, 4) } }), 'NotifMsgVerErr'],
    ['a ROUTE-REFRESH', decode({ type: 'ROUTE_REFRESH', routeRefresh: { afi: 1, safi: 1, subtype: 0 } }), 'RouteRefreshMsg'],
    ['a broken marker', corrupt(open, 0, 0), 'BGPHeaderErr'],
    ['an OPEN of version 3', corrupt(open, 19, 3), 'BGPOpenMsgErr'],
    ['an UPDATE with an unrecognized well-known attribute', corrupt(update, 24, 99), 'UpdateMsgErr'],
  ])('%s raises %s', (_what, decoded, type) => {
    expect(eventForMessage(decoded).type).toBe(type);
  });
});
