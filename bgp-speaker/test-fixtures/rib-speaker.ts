/**
 * A tortie speaker process with a Loc-RIB, for failure tests and the
 * convergence benchmark: one Session to one peer, every UPDATE through an
 * Adj-RIB-In into a Loc-RIB (rib/), optional graceful restart (RFC 4724),
 * and JSON lines on stdout:
 *   {"type":"listening"} {"type":"state",...} {"type":"established",...}
 *   {"type":"route"|"withdraw","prefix",...}   (unless quiet)
 *   {"type":"update-error","action","errors"}
 *   {"type":"count","prefixes","at"}            (Loc-RIB size, at most every 100 ms, and on End-of-RIB)
 *   {"type":"converged","prefixes","at","rssBytes","heapUsedBytes"}  (once, when expectCount is reached)
 *   {"type":"memory","rssBytes","heapUsedBytes"} (on SIGUSR2, after a GC when --expose-gc is given)
 * `at` is Date.now() in the speaker, so a benchmark in the same machine can
 * time against it. SIGTERM sends Cease and exits.
 *
 * Run: node [--expose-gc] --import tsx bgp-speaker/test-fixtures/rib-speaker.ts '<json options>'
 * Options: localAddress, localAsn, routerId, peerAddress, peerAsn, announce,
 * listen, passive, holdTimeSec, quiet, expectCount,
 * gracefulRestart: { restartTimeSec, isRestarting } (advertise the capability
 * for IPv4 unicast, forwarding preserved; isRestarting sets the R bit, as a
 * restarted speaker's OPEN does).
 */
import type { Capability, Update } from '../src/codec/index.js';
import { sessionConfig } from '../src/fsm/index.js';
import { AdjRibIn, LocRib } from '../src/rib/index.js';
import { acceptInbound, BGP_PORT, listenBgp, Session, systemClock, tcpDialer, type BgpListener } from '../src/session/index.js';

interface Options {
  localAddress: string;
  localAsn: number;
  routerId?: string;
  peerAddress: string;
  peerAsn: number;
  announce: string[];
  listen?: boolean;
  passive?: boolean;
  holdTimeSec?: number;
  quiet?: boolean;
  expectCount?: number;
  gracefulRestart?: { restartTimeSec: number; isRestarting: boolean };
}

const opts = JSON.parse(process.argv[2] ?? '{}') as Options;
const print = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);
const isExternal = opts.localAsn !== opts.peerAsn;
const routerId = opts.routerId ?? opts.localAddress;
const memory = () => {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { rssBytes: m.rss, heapUsedBytes: m.heapUsed };
};

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

const capabilities: Capability[] = [{ type: 'multiprotocol', afi: 1, safi: 1 }, { type: 'route-refresh' }];
if (opts.gracefulRestart !== undefined) {
  capabilities.push({
    type: 'graceful-restart',
    isRestarting: opts.gracefulRestart.isRestarting,
    hasNotificationSupport: false,
    restartTimeSec: opts.gracefulRestart.restartTimeSec,
    families: [{ afi: 1, safi: 1, isForwardingPreserved: true }],
  });
}

const locRib = new LocRib();
let ribIn: AdjRibIn | null = null;
let lastCountAt = 0;
let lastCount = -1;
let hasConverged = false;
const reportCount = (force: boolean) => {
  const now = Date.now();
  const prefixes = locRib.size;
  if (opts.expectCount !== undefined && !hasConverged && prefixes >= opts.expectCount) {
    hasConverged = true;
    print({ type: 'converged', prefixes, at: now, ...memory() });
  }
  if (prefixes !== lastCount && (force || now - lastCountAt >= 100)) {
    lastCount = prefixes;
    lastCountAt = now;
    print({ type: 'count', prefixes, at: now });
  }
};
const countTimer = setInterval(() => reportCount(true), 100);

const session: Session = new Session({
  config: sessionConfig({
    localAsn: opts.localAsn,
    peerAsn: opts.peerAsn,
    bgpIdentifier: routerId,
    holdTimeSec: opts.holdTimeSec ?? 90,
    connectRetryTimeSec: 5,
    idleHoldTimeSec: 1,
    isPassive: opts.passive === true,
    capabilities,
  }),
  peerAddress: opts.peerAddress,
  localAddress: opts.localAddress,
  dialer: tcpDialer(),
  clock: systemClock(),
  handlers: {
    onStateChange: (c) => print({ type: 'state', from: c.from, to: c.to, reason: c.reason, ...(c.notification ? { notification: `${c.notification.direction} ${c.notification.text}` } : {}), ...(c.detail ? { detail: c.detail } : {}) }),
    onEstablished: (n) => {
      print({ type: 'established', at: Date.now(), holdTimeSec: n.holdTimeSec, peerAsn: n.peerAsn, peerId: n.peerId, peerGracefulRestart: n.peerGracefulRestart !== null, ...memory() });
      // A GR-capable peer's paths survive the session (marked stale), so keep its Adj-RIB-In.
      if (ribIn === null) {
        ribIn = new AdjRibIn({ address: opts.peerAddress, asn: n.peerAsn, routerId: n.peerId, isInternal: !isExternal, isRouteReflectorClient: false }, { localAs: opts.localAsn, routerId, clusterId: null });
      }
      if (opts.announce.length > 0) session.sendUpdate(announcement);
      session.sendUpdate({ withdrawn: [], nlri: [], attributes: {} }); // End-of-RIB for IPv4 unicast
    },
    onUpdate: (u, errorAction) => {
      if (errorAction !== null) print({ type: 'update-error', action: errorAction.action, errors: errorAction.errors.map((e) => e.reason) });
      if (opts.quiet !== true) {
        for (const prefix of [...u.withdrawn, ...(u.attributes.mpUnreachNlri?.withdrawn ?? [])]) print({ type: 'withdraw', prefix });
        for (const prefix of u.nlri) print({ type: 'route', prefix, nextHop: u.attributes.nextHop ?? null });
        for (const prefix of u.attributes.mpReachNlri?.nlri ?? []) print({ type: 'route', prefix, nextHop: u.attributes.mpReachNlri?.nextHops[0] ?? null });
      }
      if (ribIn === null) return;
      const rib = ribIn;
      const result = rib.applyUpdate({ update: u, errorAction });
      locRib.applyPeer(opts.peerAddress, result.changed, (p) => rib.accepted(p));
      if (result.endOfRib !== null) {
        print({ type: 'end-of-rib', afi: result.endOfRib.afi });
        reportCount(true);
      } else reportCount(false);
    },
    onRoutesLost: () => {
      print({ type: 'routes-lost' });
      ribIn = null;
      locRib.removePeer(opts.peerAddress);
      reportCount(true);
    },
    onHandlerError: (err) => print({ type: 'handler-error', message: String(err) }),
  },
});

let listener: BgpListener | null = null;
if (opts.listen === true) {
  listener = await listenBgp({ host: opts.localAddress, port: BGP_PORT }, (conn) => {
    print({ type: 'inbound', from: conn.remoteAddress, state: session.state });
    acceptInbound([session], conn);
  });
  print({ type: 'listening', address: listener.address, port: listener.port });
}
session.start();

process.on('SIGUSR2', () => print({ type: 'memory', prefixes: locRib.size, ...memory() }));
let isStopping = false;
process.on('SIGTERM', () => {
  if (isStopping) return;
  isStopping = true;
  clearInterval(countTimer);
  void (async () => {
    await session.stop('test finished');
    await listener?.close();
    print({ type: 'stopped' });
    process.exit(0);
  })();
});
