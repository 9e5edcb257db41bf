/**
 * Sessions wired through in-memory connections on a fake clock: no sockets,
 * no sleeps. Real codec, real FSM, real driver.
 */
import { describe, expect, it } from 'vitest';
import { codecContext } from '../codec/context.js';
import { MessageFramer } from '../codec/framer.js';
import { decodeMessage, encodeMessage, type BgpMessage } from '../codec/message.js';
import { CeaseSubcode, decodeShutdownCommunication, ErrorCode, MessageHeaderErrorSubcode } from '../codec/notification.js';
import { buildOpen } from '../codec/open.js';
import type { Update } from '../codec/update.js';
import { sessionConfig } from '../fsm/state.js';
import { FakeClock } from './clock.js';
import { acceptInbound, Session, type RoutesLost, type StateChange } from './driver.js';
import { memoryPair, MemoryNetwork, settle } from './memory.js';
import type { BgpConnection } from './socket.js';

const A = { address: '192.0.2.1', asn: 4200000001, id: '192.0.2.1' };
const B = { address: '192.0.2.2', asn: 65002, id: '192.0.2.2' };

interface Speaker {
  session: Session;
  changes: StateChange[];
  updates: Update[];
  lost: number;
  lostInfo: RoutesLost[];
  collisions: string[];
}

function speaker(
  net: MemoryNetwork,
  clock: FakeClock,
  me: typeof A,
  peer: typeof A,
  opts: { isPassive?: boolean; listens?: boolean; holdTimeSec?: number; maxWriteBufferBytes?: number } = {},
): Speaker {
  const s: Speaker = { session: null as unknown as Session, changes: [], updates: [], lost: 0, lostInfo: [], collisions: [] };
  s.session = new Session({
    config: sessionConfig({
      localAsn: me.asn,
      peerAsn: peer.asn,
      bgpIdentifier: me.id,
      holdTimeSec: opts.holdTimeSec ?? 30,
      isPassive: opts.isPassive ?? false,
      capabilities: [{ type: 'multiprotocol', afi: 1, safi: 1 }, { type: 'route-refresh' }],
    }),
    peerAddress: peer.address,
    localAddress: me.address,
    dialer: net.dialerFrom(me.address),
    clock,
    jitter: () => 1,
    ...(opts.maxWriteBufferBytes === undefined ? {} : { maxWriteBufferBytes: opts.maxWriteBufferBytes }),
    handlers: {
      onStateChange: (c) => s.changes.push(c),
      onUpdate: (u) => s.updates.push(u),
      onRoutesLost: (info) => {
        s.lost++;
        s.lostInfo.push(info);
      },
      onCollision: (c) => s.collisions.push(c.kept),
    },
  });
  if (opts.listens ?? true) net.listen(me.address, (conn) => acceptInbound([s.session], conn));
  return s;
}

const POD_BLOCK: Update = {
  withdrawn: [],
  nlri: ['10.244.1.0/26'],
  attributes: { origin: 'IGP', asPath: [{ type: 'AS_SEQUENCE', asns: [A.asn] }], nextHop: A.address },
};

describe('Session', () => {
  it('two sessions reach Established, exchange an UPDATE, and hold timer expiry drops them', async () => {
    const net = new MemoryNetwork();
    const clock = new FakeClock();
    const a = speaker(net, clock, A, B);
    const b = speaker(net, clock, B, A, { isPassive: true, holdTimeSec: 90 });
    b.session.start();
    a.session.start();
    await settle();
    expect([a.session.state, b.session.state]).toEqual(['Established', 'Established']);
    expect(a.changes.map((c) => c.to)).toEqual(['Connect', 'OpenSent', 'OpenConfirm', 'Established']);
    expect(b.changes.map((c) => c.to)).toEqual(['Active', 'OpenSent', 'OpenConfirm', 'Established']);
    // Hold time: the smaller one; 4-octet AS both ways; eBGP.
    expect(a.session.negotiated).toMatchObject({ holdTimeSec: 30, keepaliveTimeSec: 10, peerAsn: B.asn, isExternal: true, hasRouteRefresh: true });
    expect(b.session.negotiated?.ctx.hasFourOctetAs).toBe(true);
    expect(b.session.negotiated?.peerAsn).toBe(A.asn);

    expect(a.session.sendUpdate(POD_BLOCK)).toBe(true);
    await settle();
    expect(b.updates).toEqual([POD_BLOCK]);

    // Keepalives keep it up for ten minutes of fake time.
    await clock.advance(10 * 60_000, settle);
    expect([a.session.state, b.session.state]).toEqual(['Established', 'Established']);

    // a stops hearing b: a's hold timer expires after 30 s.
    const pair = net.pairs[0];
    if (pair === undefined) throw new Error('no connection');
    pair.setReading('a', false);
    await clock.advance(31_000, settle);
    expect(a.session.state).toBe('Idle');
    const down = a.changes.at(-1);
    expect(down).toMatchObject({ from: 'Established', to: 'Idle', reason: 'HoldTimerExpires' });
    expect(down?.notification).toMatchObject({ direction: 'sent', notification: { errorCode: ErrorCode.HoldTimerExpired } });
    expect(a.lost).toBe(1);
    expect(a.lostInfo[0]?.notification?.text).toBe('HoldTimerExpired');
    expect(a.lostInfo[0]?.negotiated.peerAsn).toBe(B.asn);
    expect(a.session.stats).toMatchObject({ updatesSent: 1, establishedTransitions: 1 });
    expect(b.session.stats).toMatchObject({ updatesReceived: 1, establishedTransitions: 1 });
    expect(b.session.stats.messagesReceived).toBeGreaterThan(60);
    expect(b.session.state).toBe('Idle');
    expect(b.changes.at(-1)?.notification).toMatchObject({ direction: 'received', notification: { errorCode: ErrorCode.HoldTimerExpired } });
    expect(b.lost).toBe(1);

    // Both come back by themselves: b listens again after its IdleHold back-off;
    // a, refused while b was still backing off, retries after ConnectRetryTime.
    await clock.advance(130_000, settle);
    expect([a.session.state, b.session.state]).toEqual(['Established', 'Established']);
    await a.session.stop();
    await b.session.stop();
  });

  it('a garbage byte stream gets Message Header Error / Connection Not Synchronized, and the session carries on', async () => {
    const net = new MemoryNetwork();
    const clock = new FakeClock();
    const b = speaker(net, clock, B, A, { isPassive: true, listens: false });
    b.session.start();
    await settle();
    const raw = memoryPair({ a: A.address, b: B.address });
    const received: BgpMessage[] = [];
    let isClosed = false;
    const framer = new MessageFramer();
    raw.a.attach({
      onData: (chunk) => {
        for (const f of framer.push(chunk).frames) {
          const d = decodeMessage(f, codecContext());
          if (d.ok) received.push(d.message);
        }
      },
      onClose: () => (isClosed = true),
    });
    acceptInbound([b.session], raw.b);
    await settle();
    expect(received.map((m) => m.type)).toEqual(['OPEN']);
    raw.a.write(new Uint8Array(64).fill(0x5a));
    await settle();
    expect(received.map((m) => m.type)).toEqual(['OPEN', 'NOTIFICATION']);
    const n = received[1];
    expect(n?.type === 'NOTIFICATION' && [n.notification.errorCode, n.notification.errorSubcode]).toEqual([
      ErrorCode.MessageHeaderError,
      MessageHeaderErrorSubcode.ConnectionNotSynchronized,
    ]);
    expect(isClosed).toBe(true);
    expect(b.session.state).toBe('Idle');
    expect(b.session.lastError).toMatch(/sent MessageHeaderError/);

    // After its back-off it listens again, and a well-behaved peer gets through.
    net.listen(B.address, (conn) => acceptInbound([b.session], conn));
    const a = speaker(net, clock, A, B);
    a.session.start();
    await clock.advance(130_000, settle);
    expect([a.session.state, b.session.state]).toEqual(['Established', 'Established']);
  });

  it('an UPDATE that breaks the session (RFC 7606 session reset) gets its NOTIFICATION; others are not affected', async () => {
    const net = new MemoryNetwork();
    const clock = new FakeClock();
    const b = speaker(net, clock, B, A, { isPassive: true, listens: false });
    const other = speaker(net, clock, { address: '192.0.2.3', asn: 65003, id: '192.0.2.3' }, B, {});
    const bForOther = speaker(net, clock, B, { address: '192.0.2.3', asn: 65003, id: '192.0.2.3' }, { isPassive: true, listens: false });
    net.listen(B.address, (conn) => acceptInbound([b.session, bForOther.session], conn));
    b.session.start();
    bForOther.session.start();
    other.session.start();
    await settle();
    expect(bForOther.session.state).toBe('Established');

    // A hand-driven peer: OPEN, KEEPALIVE, then an UPDATE whose NLRI length is impossible.
    const raw = memoryPair({ a: A.address, b: B.address });
    const received: BgpMessage[] = [];
    const framer = new MessageFramer();
    const ctx = codecContext({ hasFourOctetAs: true });
    raw.a.attach({
      onData: (chunk) => {
        for (const f of framer.push(chunk).frames) {
          const d = decodeMessage(f, ctx);
          if (d.ok) received.push(d.message);
        }
      },
      onClose: () => {},
    });
    acceptInbound([b.session, bForOther.session], raw.b);
    raw.a.write(encodeMessage({ type: 'OPEN', open: buildOpen({ asn: A.asn, holdTimeSec: 90, bgpIdentifier: A.id, capabilities: [] }) }, ctx));
    raw.a.write(encodeMessage({ type: 'KEEPALIVE' }, ctx));
    await settle();
    expect(b.session.state).toBe('Established');
    // UPDATE: withdrawn length 0, attribute length 0, one NLRI with prefix length 33.
    const bad = Uint8Array.from([...new Array<number>(16).fill(0xff), 0, 24, 2, 0, 0, 0, 0, 33, 10, 0, 0, 0, 0]);
    raw.a.write(bad);
    await settle();
    const last = received.at(-1);
    expect(last?.type).toBe('NOTIFICATION');
    expect(last?.type === 'NOTIFICATION' && last.notification.errorCode).toBe(ErrorCode.UpdateMessageError);
    expect(b.session.state).toBe('Idle');
    expect([other.session.state, bForOther.session.state]).toEqual(['Established', 'Established']);
  });

  it('resolves a connection collision: both connect at once, one connection survives', async () => {
    const net = new MemoryNetwork();
    const clock = new FakeClock();
    const a = speaker(net, clock, A, B);
    const b = speaker(net, clock, B, A);
    a.session.start();
    b.session.start();
    await settle();
    await clock.advance(1_000, settle);
    expect([a.session.state, b.session.state]).toEqual(['Established', 'Established']);
    expect(net.pairs.length).toBe(2);
    const open = net.pairs.filter((p) => p.isOpen);
    expect(open.length).toBe(1);
    // B has the higher identifier: the connection B initiated survives (RFC 4271 §6.8).
    const survivor = open[0] as (typeof open)[number];
    expect([a.collisions, b.collisions]).toEqual([['remote'], ['local']]);
    expect(survivor.a.localAddress).toBe(B.address);
    expect(a.session.sendUpdate(POD_BLOCK)).toBe(true);
    await settle();
    expect(b.updates).toEqual([POD_BLOCK]);
  });

  it('a second connection while the first reaches Established is closed with Cease/Connection Collision Resolution', async () => {
    const net = new MemoryNetwork();
    const clock = new FakeClock();
    const b = speaker(net, clock, B, A, { isPassive: true, listens: false });
    b.session.start();
    const ctx = codecContext({ hasFourOctetAs: true });
    const rawPeer = () => {
      const pair = memoryPair({ a: A.address, b: B.address });
      const got: BgpMessage[] = [];
      const framer = new MessageFramer();
      const state = { got, isClosed: false, pair };
      pair.a.attach({
        onData: (chunk) => {
          for (const f of framer.push(chunk).frames) {
            const d = decodeMessage(f, ctx);
            if (d.ok) got.push(d.message);
          }
        },
        onClose: () => (state.isClosed = true),
      });
      return state;
    };
    const open = encodeMessage({ type: 'OPEN', open: buildOpen({ asn: A.asn, holdTimeSec: 90, bgpIdentifier: A.id, capabilities: [] }) }, ctx);
    const first = rawPeer();
    acceptInbound([b.session], first.pair.b);
    first.pair.a.write(open);
    await settle();
    expect(b.session.state).toBe('OpenConfirm');
    const second = rawPeer();
    acceptInbound([b.session], second.pair.b);
    await settle();
    expect(second.got.map((m) => m.type)).toEqual(['OPEN']);
    first.pair.a.write(encodeMessage({ type: 'KEEPALIVE' }, ctx));
    await settle();
    expect(b.session.state).toBe('Established');
    const last = second.got.at(-1);
    expect(last?.type === 'NOTIFICATION' && [last.notification.errorCode, last.notification.errorSubcode]).toEqual([ErrorCode.Cease, CeaseSubcode.ConnectionCollisionResolution]);
    expect(second.isClosed).toBe(true);
    expect(first.isClosed).toBe(false);
    // The raw peer sends nothing more: the live connection's hold timer ends it, and the dumped
    // connection's timers are gone (no second NOTIFICATION, no state change from it).
    await clock.advance(100_000, settle);
    expect(b.changes.filter((c) => c.to === 'Idle').map((c) => c.reason)).toEqual(['HoldTimerExpires']);
    expect(second.got.filter((m) => m.type === 'NOTIFICATION')).toHaveLength(1);
  });

  it('stop() sends Cease/Administrative Shutdown with its message and closes', async () => {
    const net = new MemoryNetwork();
    const clock = new FakeClock();
    const a = speaker(net, clock, A, B);
    const b = speaker(net, clock, B, A, { isPassive: true });
    b.session.start();
    a.session.start();
    await settle();
    await a.session.stop('maintenance');
    await settle();
    expect(a.session.state).toBe('Idle');
    const seen = b.changes.at(-1)?.notification;
    expect(seen?.direction).toBe('received');
    expect([seen?.notification.errorCode, seen?.notification.errorSubcode]).toEqual([ErrorCode.Cease, CeaseSubcode.AdministrativeShutdown]);
    expect(seen !== undefined && decodeShutdownCommunication(seen.notification)).toBe('maintenance');
    expect(seen?.text).toBe('Cease/AdministrativeShutdown "maintenance"');
    // Stopped by hand: no automatic restart.
    await clock.advance(10 * 60_000, settle);
    expect(a.session.state).toBe('Idle');
    expect(clock.pendingTimers).toBeGreaterThanOrEqual(0);
  });

  it('a peer that stops reading is dropped once the write buffer bound is reached', async () => {
    const net = new MemoryNetwork();
    const clock = new FakeClock();
    const a = speaker(net, clock, A, B, { maxWriteBufferBytes: 20_000 });
    const b = speaker(net, clock, B, A, { isPassive: true });
    b.session.start();
    a.session.start();
    await settle();
    const pair = net.pairs[0];
    if (pair === undefined) throw new Error('no connection');
    pair.setReading('b', false);
    const many: Update = { ...POD_BLOCK, nlri: Array.from({ length: 16_384 }, (_, i) => `10.${64 + (i >> 8)}.${i & 255}.0/24`) };
    expect(a.session.sendUpdate(many)).toBe(true);
    await settle();
    expect(a.session.state).toBe('Idle');
    expect(a.changes.at(-1)).toMatchObject({ reason: 'AutomaticStop', detail: expect.stringMatching(/unread/) as unknown as string });
    expect(a.session.sendUpdate(POD_BLOCK)).toBe(false);
  });

  it('refuses inbound connections from unknown addresses and while Established', async () => {
    const net = new MemoryNetwork();
    const clock = new FakeClock();
    const a = speaker(net, clock, A, B);
    const b = speaker(net, clock, B, A, { isPassive: true });
    b.session.start();
    a.session.start();
    await settle();
    const stranger = memoryPair({ a: '198.51.100.9', b: B.address });
    let closed = 0;
    stranger.a.attach({ onData: () => {}, onClose: () => closed++ });
    expect(acceptInbound([b.session], stranger.b)).toBeNull();
    const again = memoryPair({ a: A.address, b: B.address });
    again.a.attach({ onData: () => {}, onClose: () => closed++ });
    acceptInbound([b.session], again.b as BgpConnection);
    await settle();
    expect(closed).toBe(2);
    expect(b.session.state).toBe('Established');
  });
});
