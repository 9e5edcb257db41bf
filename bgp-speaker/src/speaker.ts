/**
 * BgpSpeaker: tortie's routing, put together. It owns one Session per peer
 * (PeerSpec from calculatePeers), one Loc-RIB, an Adj-RIB-In and an
 * Adj-RIB-Out per peer, the paths this node originates, and the RouteTable
 * that programs the Loc-RIB's learned best paths into the kernel.
 *
 * `configure(config)` takes a whole desired configuration (calculateSpeakerConfig)
 * and reconciles: new peers start, removed peers stop (Cease) and their routes
 * go, a peer whose session parameters changed (AS, port, source address,
 * password, reflector client) restarts alone; a keepOriginalNextHop or export
 * policy change re-plans what was sent without restarting anything. A change
 * of our own identity (AS, router id, cluster id) restarts every session.
 *
 * Learned routes leave the Loc-RIB on withdrawal and on session loss; when
 * the peer announced graceful restart (RFC 4724) and the session ended
 * without a NOTIFICATION they are kept, stale, until its End-of-RIB or its
 * restart time. Kernel deletions wait for the first End-of-RIB of every peer
 * (or `selectionDeferralMs`), so a restarted speaker does not remove routes
 * it is about to learn again.
 */
import type { Logger } from '../../lib/log.js';
import { AFI_IPV4, AFI_IPV6, endOfRib, SAFI_UNICAST, type Capability } from './codec/index.js';
import { sessionConfig } from './fsm/index.js';
import { isSameSession, type PeerSpec } from './config/peers.js';
import type { PeerStatus } from './config/status-file.js';

export type { PeerStatus };
import type { SpeakerConfig } from './config/desired.js';
import { planKernelRoutes } from './program/routes.js';
import type { RouteTable } from './program/route-table.js';
import { AdjRibIn, AdjRibOut, isEmptyAdvertisements, LocRib, mergeChanges, packUpdates, type Advertisements, type LocRibChanges, type OutPeer, type PeerRef, type SpeakerIdentity } from './rib/index.js';
import { BLOCKS_ORIGIN, SERVICES_ORIGIN } from './source/blocks.js';
import { acceptInbound, Session, type BgpConnection, type Clock, type Dialer, type Negotiated, type TimerHandle } from './session/index.js';


export interface BgpSpeakerOptions {
  readonly dialer: Dialer;
  readonly clock: Clock;
  readonly routeTable: RouteTable | null;
  readonly log: Logger;
  readonly holdTimeSec?: number;
  readonly connectRetryTimeSec?: number;
  readonly idleHoldTimeSec?: number;
  /** RFC 4724 R bit: this process restarted and its forwarding state was kept. */
  readonly isRestarting?: boolean;
  /** Kernel route deletions wait this long at most for every peer's first End-of-RIB (default 10 s). */
  readonly selectionDeferralMs?: number;
  /** RFC 4271 §10 timer jitter for the sessions (default random; tests pass `() => 1`). */
  readonly jitter?: () => number;
  /** Delay between a Loc-RIB change and the kernel plan, so a burst of UPDATEs plans once (default 10 ms). */
  readonly kernelCoalesceMs?: number;
}

interface PeerEntry {
  spec: PeerSpec;
  readonly session: Session;
  ribIn: AdjRibIn | null;
  ribOut: AdjRibOut | null;
  negotiated: Negotiated | null;
  staleTimer: TimerHandle | null;
  hasEndOfRib: boolean;
}

const sameIdentity = (a: SpeakerIdentity | null, b: SpeakerIdentity | null) =>
  a !== null && b !== null && a.localAs === b.localAs && a.routerId === b.routerId && a.clusterId === b.clusterId;

export class BgpSpeaker {
  readonly #o: BgpSpeakerOptions;
  #config: SpeakerConfig | null = null;
  #identity: SpeakerIdentity | null = null;
  #locRib = new LocRib();
  readonly #peers = new Map<string, PeerEntry>();
  #kernelTimer: TimerHandle | null = null;
  #deferralTimer: TimerHandle | null = null;
  #hasDeferralExpired = false;
  #isStopped = false;

  constructor(options: BgpSpeakerOptions) {
    this.#o = options;
  }

  get locRib(): LocRib {
    return this.#locRib;
  }

  get identity(): SpeakerIdentity | null {
    return this.#identity;
  }

  /** Reconciles sessions, originated paths, export policy and kernel routes with `config`. */
  configure(config: SpeakerConfig): void {
    if (this.#isStopped) return;
    const previous = this.#config;
    this.#config = config;
    const plan = config.plan;
    const identity: SpeakerIdentity | null = plan.routerId === null ? null : { localAs: plan.localAsn, routerId: plan.routerId, clusterId: plan.clusterId };
    if (!sameIdentity(identity, this.#identity)) {
      if (this.#identity !== null || this.#peers.size > 0) this.#o.log.info({ from: this.#identity, to: identity }, 'speaker identity changed, restarting every session');
      for (const entry of [...this.#peers.values()]) this.#removePeer(entry, 'identity changed');
      this.#locRib = new LocRib();
      this.#identity = identity;
    }
    if (this.#deferralTimer === null && !this.#hasDeferralExpired) {
      this.#deferralTimer = this.#o.clock.setTimer(this.#o.selectionDeferralMs ?? 10_000, () => {
        this.#hasDeferralExpired = true;
        this.#checkConverged();
      });
    }

    const changes: LocRibChanges[] = [];
    changes.push(this.#locRib.setLocal(BLOCKS_ORIGIN, config.blockPaths));
    changes.push(this.#locRib.setLocal(SERVICES_ORIGIN, config.servicePaths));

    // Sessions.
    const wanted = new Map((identity === null ? [] : plan.peers).map((p) => [p.key, p]));
    for (const [key, entry] of [...this.#peers]) {
      const spec = wanted.get(key);
      if (spec === undefined) this.#removePeer(entry, 'peer removed');
      else if (!isSameSession(entry.spec, spec)) {
        this.#o.log.info({ peer: key, from: { asn: entry.spec.peerAsn, localAsn: entry.spec.localAsn }, to: { asn: spec.peerAsn, localAsn: spec.localAsn } }, 'peer changed, restarting its session');
        this.#removePeer(entry, 'peer configuration changed');
      }
    }
    const isExportChanged = previous !== null && previous.exportKey !== config.exportKey;
    for (const [key, spec] of wanted) {
      const entry = this.#peers.get(key);
      if (entry === undefined) {
        this.#addPeer(spec);
        continue;
      }
      const isOutChanged = entry.spec.keepOriginalNextHop !== spec.keepOriginalNextHop || entry.spec.type !== spec.type || entry.spec.name !== spec.name;
      entry.spec = spec;
      if ((isOutChanged || isExportChanged) && entry.ribOut !== null && entry.negotiated !== null) {
        entry.ribOut.setPeer(this.#outPeer(entry, entry.ribOut.to.peer, entry.negotiated));
        this.#send(entry, entry.ribOut.planFullTable(this.#locRib.bests()));
      }
    }
    this.#propagate(mergeChanges(...changes));
    this.#scheduleKernel();
  }

  /** An inbound connection (from the listener): to the session for its address, or closed. */
  accept(conn: BgpConnection): void {
    if (acceptInbound([...this.#peers.values()].map((e) => e.session), conn) === null) {
      this.#o.log.debug({ from: conn.remoteAddress }, 'connection from an unknown peer refused');
    }
  }

  status(): PeerStatus[] {
    return [...this.#peers.values()].map((e) => ({
      peerAddress: e.spec.peerAddress,
      peerPort: e.spec.peerPort,
      name: e.spec.name,
      type: e.spec.type,
      peerAsn: e.spec.peerAsn,
      state: e.session.state,
      since: new Date(e.session.stateSince).toISOString(),
      lastError: e.session.lastError,
      prefixesReceived: e.ribIn === null ? 0 : [...e.ribIn.prefixes()].filter((p) => e.ribIn?.accepted(p) != null).length,
      prefixesSent: e.ribOut?.size ?? 0,
      hasUnappliedPassword: e.spec.password !== null,
    }));
  }

  /** Cease to every peer; kernel routes stay (a restart with graceful restart keeps forwarding). */
  async stop(message = 'node agent stopping'): Promise<void> {
    this.#isStopped = true;
    for (const t of [this.#kernelTimer, this.#deferralTimer]) if (t !== null) this.#o.clock.clearTimer(t);
    this.#o.routeTable?.stop();
    await Promise.all([...this.#peers.values()].map((e) => e.session.stop(message)));
    for (const e of this.#peers.values()) if (e.staleTimer !== null) this.#o.clock.clearTimer(e.staleTimer);
  }

  #capabilities(spec: PeerSpec): Capability[] {
    const plan = this.#config?.plan;
    const afis = [...(plan?.nodeAddress.ipv4 !== undefined ? [AFI_IPV4] : []), ...(plan?.nodeAddress.ipv6 !== undefined ? [AFI_IPV6] : [])];
    return [
      ...afis.map((afi): Capability => ({ type: 'multiprotocol', afi, safi: SAFI_UNICAST })),
      { type: 'route-refresh' },
      {
        type: 'graceful-restart',
        isRestarting: this.#o.isRestarting ?? false,
        hasNotificationSupport: false,
        restartTimeSec: spec.maxRestartTimeSec,
        families: afis.map((afi) => ({ afi, safi: SAFI_UNICAST, isForwardingPreserved: true })),
      },
    ];
  }

  #addPeer(spec: PeerSpec): void {
    const identity = this.#identity;
    if (identity === null) return;
    const log = this.#o.log.child({ peer: spec.key });
    if (spec.password !== null) log.warn({ peer: spec.key }, 'BGP password configured but TCP-MD5 is not available; the session runs without it');
    let entry: PeerEntry | null = null;
    const isCurrent = () => entry !== null && this.#peers.get(spec.key) === entry;
    const session = new Session({
      config: sessionConfig({
        localAsn: spec.localAsn,
        peerAsn: spec.peerAsn,
        bgpIdentifier: identity.routerId,
        holdTimeSec: this.#o.holdTimeSec ?? 90,
        connectRetryTimeSec: this.#o.connectRetryTimeSec ?? 5,
        idleHoldTimeSec: this.#o.idleHoldTimeSec ?? 1,
        maxIdleHoldTimeSec: 30,
        capabilities: this.#capabilities(spec),
      }),
      peerAddress: spec.peerAddress,
      peerPort: spec.peerPort,
      ...(spec.sourceAddress === undefined ? {} : { localAddress: spec.sourceAddress }),
      dialer: this.#o.dialer,
      clock: this.#o.clock,
      ...(this.#o.jitter === undefined ? {} : { jitter: this.#o.jitter }),
      handlers: {
        onStateChange: (c) => {
          if (!isCurrent()) return;
          const level = c.to === 'Established' || c.from === 'Established' ? 'info' : 'debug';
          log[level]({ from: c.from, to: c.to, reason: c.reason, notification: c.notification?.text, detail: c.detail }, 'peer state changed');
        },
        onEstablished: (negotiated) => {
          if (entry !== null && isCurrent()) this.#onEstablished(entry, negotiated);
        },
        onUpdate: (update, errorAction) => {
          if (entry === null || !isCurrent() || entry.ribIn === null) return;
          if (errorAction !== null) log.warn({ action: errorAction.action, errors: errorAction.errors.map((e) => e.reason) }, 'malformed UPDATE handled');
          const r = entry.ribIn.applyUpdate({ update, errorAction });
          if (r.rejected.length > 0) log.debug({ rejected: r.rejected }, 'looped paths dropped');
          const ribIn = entry.ribIn;
          this.#propagate(this.#locRib.applyPeer(spec.peerAddress, r.changed, (p) => ribIn.accepted(p)));
          if (r.endOfRib !== null && !entry.hasEndOfRib) {
            entry.hasEndOfRib = true;
            this.#checkConverged();
          }
        },
        onRouteRefresh: () => {
          if (entry !== null && isCurrent() && entry.ribOut !== null) this.#send(entry, entry.ribOut.resend());
        },
        onRoutesLost: (info) => {
          if (entry !== null && isCurrent()) this.#onRoutesLost(entry, info.negotiated, info.notification !== undefined);
        },
        onHandlerError: (err) => log.error({ err }, 'session handler failed'),
      },
    });
    entry = { spec, session, ribIn: null, ribOut: null, negotiated: null, staleTimer: null, hasEndOfRib: false };
    this.#peers.set(spec.key, entry);
    log.info({ asn: spec.peerAsn, type: spec.type, isRouteReflectorClient: spec.isRouteReflectorClient }, 'peer added');
    session.start();
  }

  #removePeer(entry: PeerEntry, why: string): void {
    this.#peers.delete(entry.spec.key);
    if (entry.staleTimer !== null) this.#o.clock.clearTimer(entry.staleTimer);
    void entry.session.stop(why).catch((err: unknown) => this.#o.log.warn({ err, peer: entry.spec.key }, 'stopping a session failed'));
    entry.ribIn?.clear();
    this.#propagate(this.#locRib.removePeer(entry.spec.peerAddress));
    this.#checkConverged();
  }

  #outPeer(entry: PeerEntry, peer: PeerRef, negotiated: Negotiated): OutPeer {
    const config = this.#config as SpeakerConfig;
    return {
      peer,
      localAddress: config.plan.nodeAddress,
      afis: negotiated.families.filter((f) => f.safi === SAFI_UNICAST).map((f) => f.afi),
      keepOriginalNextHop: entry.spec.keepOriginalNextHop,
      exportPolicy: config.exportPolicy,
    };
  }

  #onEstablished(entry: PeerEntry, negotiated: Negotiated): void {
    const identity = this.#identity as SpeakerIdentity;
    const peer: PeerRef = {
      address: entry.spec.peerAddress,
      asn: negotiated.peerAsn,
      routerId: negotiated.peerId,
      isInternal: !negotiated.isExternal,
      isRouteReflectorClient: entry.spec.isRouteReflectorClient,
    };
    entry.negotiated = negotiated;
    // A graceful restart keeps the stale Adj-RIB-In until End-of-RIB or the restart timer.
    if (entry.ribIn === null) entry.ribIn = new AdjRibIn(peer, identity);
    entry.ribOut = new AdjRibOut(this.#outPeer(entry, peer, negotiated), identity);
    this.#send(entry, entry.ribOut.planUpdates(this.#locRib.snapshot()));
    for (const f of negotiated.families) if (f.safi === SAFI_UNICAST) entry.session.sendUpdate(endOfRib(f.afi, f.safi));
  }

  #onRoutesLost(entry: PeerEntry, negotiated: Negotiated, hadNotification: boolean): void {
    entry.ribOut = null;
    entry.negotiated = null;
    const ribIn = entry.ribIn;
    if (ribIn === null) return;
    const gr = negotiated.peerGracefulRestart;
    if (gr !== null && !hadNotification && gr.restartTimeSec > 0) {
      const marked = ribIn.markStale();
      this.#propagate(this.#locRib.applyPeer(entry.spec.peerAddress, marked, (p) => ribIn.accepted(p)));
      if (entry.staleTimer !== null) this.#o.clock.clearTimer(entry.staleTimer);
      this.#o.log.info({ peer: entry.spec.key, restartTimeSec: gr.restartTimeSec, routes: marked.length }, 'peer down, keeping its routes for its graceful restart');
      entry.staleTimer = this.#o.clock.setTimer(gr.restartTimeSec * 1000, () => {
        entry.staleTimer = null;
        if (this.#peers.get(entry.spec.key) !== entry || entry.ribIn !== ribIn) return;
        const swept = ribIn.sweepStale();
        if (swept.length > 0) this.#o.log.info({ peer: entry.spec.key, routes: swept.length }, 'graceful restart time over, stale routes removed');
        this.#propagate(this.#locRib.applyPeer(entry.spec.peerAddress, swept, (p) => ribIn.accepted(p)));
      });
      return;
    }
    entry.ribIn = null;
    ribIn.clear();
    this.#propagate(this.#locRib.removePeer(entry.spec.peerAddress));
  }

  #send(entry: PeerEntry, adv: Advertisements): void {
    if (isEmptyAdvertisements(adv) || entry.negotiated === null) return;
    for (const u of packUpdates(adv, entry.negotiated.ctx)) entry.session.sendUpdate(u);
  }

  #propagate(changes: LocRibChanges): void {
    if (changes.changed.length === 0) return;
    for (const entry of this.#peers.values()) {
      if (entry.ribOut !== null) this.#send(entry, entry.ribOut.planUpdates(changes));
    }
    this.#scheduleKernel();
  }

  #checkConverged(): void {
    const table = this.#o.routeTable;
    if (table === null) return;
    const isConverged = this.#hasDeferralExpired || [...this.#peers.values()].every((e) => e.hasEndOfRib);
    table.setDeletionsAllowed(isConverged);
  }

  #scheduleKernel(): void {
    if (this.#o.routeTable === null || this.#kernelTimer !== null || this.#isStopped) return;
    this.#kernelTimer = this.#o.clock.setTimer(this.#o.kernelCoalesceMs ?? 10, () => {
      this.#kernelTimer = null;
      const config = this.#config;
      if (config === null || this.#isStopped) return;
      this.#checkConverged();
      this.#o.routeTable?.setDesired(planKernelRoutes(this.#locRib.bests(), config.routing));
    });
  }
}
