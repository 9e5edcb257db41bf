/**
 * A minimal tortie speaker process for interop tests: one Session to one
 * peer, announcing the given IPv4 prefixes with NEXT_HOP = our address, and
 * printing what happens as JSON lines on stdout:
 *   {"type":"listening"} {"type":"state","from","to","reason","notification"?,"detail"?}
 *   {"type":"established","holdTimeSec","peerAsn",...}
 *   {"type":"route","prefix","nextHop","asPath"} {"type":"withdraw","prefix"}
 * SIGTERM stops the session with Cease/Administrative Shutdown and exits.
 *
 * Run: node --import tsx bgp-speaker/test-fixtures/speaker.ts '<json options>'
 * (inside the node's network namespace). Options: localAddress, localAsn,
 * routerId, peerAddress, peerAsn, announce (prefixes), listen (accept the
 * peer's connections on localAddress:179 too), holdTimeSec, passive (never
 * connect), dialAfterInbound (provoke a connection collision: hold our
 * own connect until the peer has connected to us, and hand the peer's
 * connection to the session only once ours is up, so both OPEN exchanges run).
 */
import type { Update } from '../src/codec/index.js';
import { sessionConfig } from '../src/fsm/index.js';
import { acceptInbound, BGP_PORT, listenBgp, Session, systemClock, tcpDialer, type BgpListener, type Dialer } from '../src/session/index.js';

interface Options {
  localAddress: string;
  localAsn: number;
  routerId?: string;
  peerAddress: string;
  peerAsn: number;
  announce: string[];
  listen?: boolean;
  holdTimeSec?: number;
  passive?: boolean;
  dialAfterInbound?: boolean;
}

const opts = JSON.parse(process.argv[2] ?? '{}') as Options;
const print = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v))}\n`);
const isExternal = opts.localAsn !== opts.peerAsn;

const announcement: Update = {
  withdrawn: [],
  nlri: opts.announce,
  attributes: {
    origin: 'IGP',
    asPath: isExternal ? [{ type: 'AS_SEQUENCE', asns: [opts.localAsn] }] : [],
    nextHop: opts.localAddress,
    ...(isExternal ? {} : { localPref: 100 }),
  },
};

let inboundSeen: () => void = () => {};
const inbound = new Promise<void>((resolve) => (inboundSeen = resolve));
let outboundUp: () => void = () => {};
const outbound = new Promise<void>((resolve) => (outboundUp = resolve));
const tcp = tcpDialer();
const dialer: Dialer =
  opts.dialAfterInbound === true
    ? {
        dial: async (target, signal) => {
          await inbound;
          const conn = await tcp.dial(target, signal);
          setImmediate(outboundUp); // after the session has taken this connection
          return conn;
        },
      }
    : tcp;

const session: Session = new Session({
  config: sessionConfig({
    localAsn: opts.localAsn,
    peerAsn: opts.peerAsn,
    bgpIdentifier: opts.routerId ?? opts.localAddress,
    holdTimeSec: opts.holdTimeSec ?? 90,
    connectRetryTimeSec: 5,
    idleHoldTimeSec: 1,
    isPassive: opts.passive === true,
    capabilities: [{ type: 'multiprotocol', afi: 1, safi: 1 }, { type: 'route-refresh' }],
  }),
  peerAddress: opts.peerAddress,
  localAddress: opts.localAddress,
  dialer,
  clock: systemClock(),
  handlers: {
    onStateChange: (c) => print({ type: 'state', from: c.from, to: c.to, reason: c.reason, ...(c.notification ? { notification: `${c.notification.direction} ${c.notification.text}` } : {}), ...(c.detail ? { detail: c.detail } : {}) }),
    onEstablished: (n) => {
      print({ type: 'established', holdTimeSec: n.holdTimeSec, keepaliveTimeSec: n.keepaliveTimeSec, peerAsn: n.peerAsn, peerId: n.peerId, fourOctetAs: n.ctx.hasFourOctetAs });
      if (opts.announce.length > 0) session.sendUpdate(announcement);
      session.sendUpdate({ withdrawn: [], nlri: [], attributes: {} }); // End-of-RIB for IPv4 unicast
    },
    onUpdate: (u, errorAction) => {
      if (errorAction !== null) print({ type: 'update-error', action: errorAction.action, errors: errorAction.errors.map((e) => e.reason) });
      for (const prefix of u.withdrawn) print({ type: 'withdraw', prefix });
      for (const prefix of u.nlri) print({ type: 'route', prefix, nextHop: u.attributes.nextHop ?? null, asPath: u.attributes.asPath ?? [] });
      for (const prefix of u.attributes.mpReachNlri?.nlri ?? []) print({ type: 'route', prefix, nextHop: u.attributes.mpReachNlri?.nextHops[0] ?? null, asPath: u.attributes.asPath ?? [] });
      for (const prefix of u.attributes.mpUnreachNlri?.withdrawn ?? []) print({ type: 'withdraw', prefix });
    },
    onRoutesLost: () => print({ type: 'routes-lost' }),
    onCollision: (c) => print({ type: 'collision', kept: c.kept, peerId: c.peerId }),
    onHandlerError: (err) => print({ type: 'handler-error', message: String(err) }),
  },
});

let listener: BgpListener | null = null;
if (opts.listen === true) {
  listener = await listenBgp({ host: opts.localAddress, port: BGP_PORT }, (conn) => {
    print({ type: 'inbound', from: conn.remoteAddress, state: session.state });
    inboundSeen();
    if (opts.dialAfterInbound === true) void outbound.then(() => acceptInbound([session], conn));
    else acceptInbound([session], conn);
  });
  print({ type: 'listening', address: listener.address, port: listener.port });
}
session.start();

let isStopping = false;
process.on('SIGTERM', () => {
  if (isStopping) return;
  isStopping = true;
  void (async () => {
    await session.stop('test finished');
    await listener?.close();
    print({ type: 'stopped' });
    process.exit(0);
  })();
});
