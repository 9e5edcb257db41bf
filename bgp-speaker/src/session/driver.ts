/**
 * The session driver: the effectful shell around one peer's pure FSM
 * (STYLE.md §2). It feeds socket bytes through MessageFramer → decodeMessage →
 * eventForMessage → step, and performs the actions step returns, in order:
 * connect through the injected Dialer, send with the negotiated codec context,
 * timers on the injected Clock, drop the connection, hand UPDATEs to
 * `onUpdate`.
 *
 * Isolation between peers: a Session never awaits anything shared with
 * another; each has its own event queue, run to completion synchronously, and
 * a bounded write buffer (a peer that stops reading is dropped with
 * Cease/Out of Resources instead of growing our memory).
 *
 * Connection collisions (RFC 4271 §6.8): a connection accepted while our own
 * one is in OpenSent/OpenConfirm gets a second FSM (a "channel"); when an OPEN
 * names the peer's BGP identifier, resolveCollision picks the connection to
 * keep and the other is sent OpenCollisionDump (Cease/Connection Collision
 * Resolution) and forgotten.
 */
import type { BgpMessage } from '../codec/message.js';
import { decodeMessage, encodeMessage } from '../codec/message.js';
import { DEFAULT_CONTEXT, type CodecContext } from '../codec/context.js';
import { MessageFramer } from '../codec/framer.js';
import { CeaseSubcode, decodeShutdownCommunication, describeNotification, ErrorCode, shutdownNotification, type Notification } from '../codec/notification.js';
import { buildOpen } from '../codec/open.js';
import type { RouteRefresh } from '../codec/route-refresh.js';
import { splitUpdate } from '../codec/split-update.js';
import type { Update, UpdateErrorAction } from '../codec/update.js';
import { resolveCollision } from '../fsm/collision.js';
import { eventForMessage, type FsmEvent } from '../fsm/event.js';
import { initialState, type FsmState, type FsmStateName, type SessionConfig } from '../fsm/state.js';
import { step, type FsmAction } from '../fsm/step.js';
import type { TimerName } from '../fsm/timers.js';
import type { Clock, TimerHandle } from './clock.js';
import { negotiate, type Negotiated } from './negotiate.js';
import { BGP_PORT, type BgpConnection, type Dialer } from './socket.js';

export interface NotificationRecord {
  readonly direction: 'sent' | 'received';
  readonly notification: Notification;
  /** e.g. "Cease/AdministrativeShutdown", with the RFC 9003 message when there is one. */
  readonly text: string;
}

export interface StateChange {
  readonly from: FsmStateName;
  readonly to: FsmStateName;
  /** The FSM event that caused it (RFC 4271 §8.1 name). */
  readonly reason: FsmEvent['type'];
  /** The NOTIFICATION sent or received with this change, if any. */
  readonly notification?: NotificationRecord;
  /** A TCP error or other detail, when known. */
  readonly detail?: string;
}

export interface RoutesLost {
  /** What the ended session had negotiated (the peer's graceful-restart capability is in it). */
  readonly negotiated: Negotiated;
  /** The NOTIFICATION that ended it, if one was sent or received. */
  readonly notification?: NotificationRecord;
}

/** Counters for status output (`tortie node status`). */
export interface SessionStats {
  readonly messagesReceived: number;
  readonly messagesSent: number;
  readonly updatesReceived: number;
  readonly updatesSent: number;
  /** Times the session reached Established. */
  readonly establishedTransitions: number;
}

export interface SessionHandlers {
  onStateChange?(change: StateChange): void;
  /** The session reached Established with these negotiated parameters: send the Adj-RIB-Out now. */
  onEstablished?(negotiated: Negotiated): void;
  /** An UPDATE from the peer, already reduced by its RFC 7606 action. */
  onUpdate?(update: Update, errorAction: UpdateErrorAction | null): void;
  onRouteRefresh?(routeRefresh: RouteRefresh): void;
  /**
   * The session left Established: forget every route learned from this peer,
   * or mark them stale when the peer announced graceful restart (RFC 4724)
   * and the session did not end with a NOTIFICATION (unless RFC 8538's N bit).
   */
  onRoutesLost?(info: RoutesLost): void;
  /** Two connections to the peer collided (RFC 4271 §6.8); the one initiated by `kept` survives. */
  onCollision?(info: { readonly kept: 'local' | 'remote'; readonly peerId: string }): void;
  /** A handler above threw; the session carries on. */
  onHandlerError?(error: unknown): void;
}

export interface SessionOptions {
  readonly config: SessionConfig;
  readonly peerAddress: string;
  readonly peerPort?: number;
  /** Source address for our connections. */
  readonly localAddress?: string;
  readonly dialer: Dialer;
  readonly clock: Clock;
  readonly handlers?: SessionHandlers;
  /** A peer that leaves more than this unread is dropped (Cease/Out of Resources). Default 16 MiB. */
  readonly maxWriteBufferBytes?: number;
  /**
   * A factor in [0.75, 1] applied to ConnectRetry, Keepalive and IdleHold
   * timers (RFC 4271 §10 jitter), so peers restarted together do not stay in
   * lock step. Default random; tests pass `() => 1`.
   */
  readonly jitter?: () => number;
}

const DEFAULT_MAX_WRITE_BUFFER = 16 * 1024 * 1024;
const JITTERED: ReadonlySet<TimerName> = new Set(['ConnectRetryTimer', 'KeepaliveTimer', 'IdleHoldTimer']);
const randomJitter = () => 0.75 + Math.random() * 0.25;

const TIMER_EVENTS: Record<TimerName, FsmEvent['type']> = {
  ConnectRetryTimer: 'ConnectRetryTimerExpires',
  HoldTimer: 'HoldTimerExpires',
  KeepaliveTimer: 'KeepaliveTimerExpires',
  IdleHoldTimer: 'IdleHoldTimerExpires',
};

/** One TCP connection and the FSM that runs on it. */
interface Channel {
  readonly id: number;
  fsm: FsmState;
  conn: BgpConnection | null;
  initiator: 'local' | 'remote' | null;
  dial: AbortController | null;
  framer: MessageFramer;
  ctx: CodecContext;
  negotiated: Negotiated | null;
  readonly timers: Map<TimerName, TimerHandle>;
  isDiscarded: boolean;
  isOverflowing: boolean;
}

type QueueItem =
  | { readonly kind: 'event'; readonly ch: Channel; readonly event: FsmEvent; readonly detail?: string }
  | { readonly kind: 'frame'; readonly ch: Channel; readonly conn: BgpConnection; readonly frame: Uint8Array };

function notificationText(n: Notification): string {
  const text = describeNotification(n);
  const message = decodeShutdownCommunication(n);
  return message === null || message === '' ? text : `${text} "${message}"`;
}

/** `::ffff:10.0.0.1` → `10.0.0.1`, so inbound IPv4 connections on a dual-stack listener match. */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

export class Session {
  readonly peerAddress: string;
  private readonly config: SessionConfig;
  private readonly peerPort: number;
  private readonly localAddress: string | undefined;
  private readonly dialer: Dialer;
  private readonly clock: Clock;
  private readonly handlers: SessionHandlers;
  private readonly maxWriteBufferBytes: number;
  private readonly jitter: () => number;
  private counters = { messagesReceived: 0, messagesSent: 0, updatesReceived: 0, updatesSent: 0, establishedTransitions: 0 };
  private primary: Channel;
  private secondary: Channel | null = null;
  private readonly queue: QueueItem[] = [];
  private isRunning = false;
  private nextChannelId = 1;
  private closing: Promise<void>[] = [];
  private stateSinceMs: number;
  private lastErrorText: string | null = null;
  /** The notification of the step being performed, for the state-change report. */
  private stepNotification: NotificationRecord | undefined;

  constructor(options: SessionOptions) {
    this.config = options.config;
    this.peerAddress = normalizeAddress(options.peerAddress);
    this.peerPort = options.peerPort ?? BGP_PORT;
    this.localAddress = options.localAddress;
    this.dialer = options.dialer;
    this.clock = options.clock;
    this.handlers = options.handlers ?? {};
    this.maxWriteBufferBytes = options.maxWriteBufferBytes ?? DEFAULT_MAX_WRITE_BUFFER;
    this.jitter = options.jitter ?? randomJitter;
    this.primary = this.newChannel(initialState(this.config));
    this.stateSinceMs = this.clock.now();
  }

  /** The state of the session (of the connection that counts, during a collision). */
  get state(): FsmStateName {
    return this.primary.fsm.name;
  }

  /** When the session entered its current state, on the session's clock. */
  get stateSince(): number {
    return this.stateSinceMs;
  }

  /** Hold time, families and codec context agreed with the peer; null unless OPENs were exchanged. */
  get negotiated(): Negotiated | null {
    return this.primary.negotiated;
  }

  /** The last NOTIFICATION or TCP error that took the session down, for status output. */
  get lastError(): string | null {
    return this.lastErrorText;
  }

  get stats(): SessionStats {
    return { ...this.counters };
  }

  /** ManualStart (passive when the config says so). */
  start(): void {
    this.post({ kind: 'event', ch: this.primary, event: { type: 'ManualStart' } });
  }

  /**
   * ManualStop: Cease/Administrative Shutdown (RFC 4486, with an RFC 9003
   * message when given) on every open connection, then close. Resolves once
   * the connections are closed.
   */
  async stop(message = ''): Promise<void> {
    const notification = shutdownNotification(CeaseSubcode.AdministrativeShutdown, message);
    const channels = [this.primary, ...(this.secondary === null ? [] : [this.secondary])];
    for (const ch of channels) this.post({ kind: 'event', ch, event: { type: 'ManualStop', notification } });
    const closing = this.closing;
    this.closing = [];
    await Promise.all(closing);
  }

  /**
   * Sends an UPDATE (split to fit the negotiated message size) when
   * Established; returns false otherwise. Restarts the KeepaliveTimer (RFC 4271 §8.2.2).
   */
  sendUpdate(update: Update): boolean {
    const ch = this.primary;
    if (ch.fsm.name !== 'Established' || ch.conn === null || ch.isOverflowing) return false;
    for (const part of splitUpdate(update, ch.ctx)) this.write(ch, { type: 'UPDATE', update: part });
    if (ch.fsm.keepaliveTimeSec > 0) this.startTimer(ch, 'KeepaliveTimer', ch.fsm.keepaliveTimeSec * 1000);
    this.run();
    return true;
  }

  /**
   * A connection accepted by the listener for this peer's address. Taken as
   * the session's connection while it waits for one (Connect/Active), run as
   * a second FSM for collision detection in OpenSent/OpenConfirm, and refused
   * (closed) when stopped, backing off in Idle, or Established (§6.8).
   */
  accept(conn: BgpConnection): void {
    const p = this.primary;
    if (p.fsm.name === 'Active' && p.conn === null) {
      this.attach(p, conn, 'remote');
      this.post({ kind: 'event', ch: p, event: { type: 'TcpConnectionConfirmed' } });
      return;
    }
    // In Connect our own dial is under way: both connections race, and the OPENs decide.
    if ((p.fsm.name === 'Connect' || p.fsm.name === 'OpenSent' || p.fsm.name === 'OpenConfirm') && this.secondary === null) {
      const started = step(initialState(this.config), { type: 'ManualStartWithPassiveTcpEstablishment' });
      const ch = this.newChannel(started.state);
      this.secondary = ch;
      this.perform(ch, started.actions, 'Idle');
      this.attach(ch, conn, 'remote');
      this.post({ kind: 'event', ch, event: { type: 'TcpConnectionConfirmed' } });
      return;
    }
    conn.destroy();
  }

  private newChannel(fsm: FsmState): Channel {
    return {
      id: this.nextChannelId++,
      fsm,
      conn: null,
      initiator: null,
      dial: null,
      framer: new MessageFramer(),
      ctx: DEFAULT_CONTEXT,
      negotiated: null,
      timers: new Map(),
      isDiscarded: false,
      isOverflowing: false,
    };
  }

  private post(item: QueueItem): void {
    this.queue.push(item);
    this.run();
  }

  /** Runs queued items to completion; re-entrant calls only enqueue. */
  private run(): void {
    if (this.isRunning) return;
    this.isRunning = true;
    try {
      for (let item = this.queue.shift(); item !== undefined; item = this.queue.shift()) {
        if (item.ch.isDiscarded) continue;
        if (item.kind === 'frame') {
          if (item.ch.conn !== item.conn) continue; // bytes of a connection dropped meanwhile
          if (item.ch === this.primary) {
            this.counters.messagesReceived++;
            if (item.frame[18] === 2) this.counters.updatesReceived++;
          }
          this.handle(item.ch, eventForMessage(decodeMessage(item.frame, item.ch.ctx)));
        } else {
          this.handle(item.ch, item.event, item.detail);
        }
      }
    } finally {
      this.isRunning = false;
    }
  }

  private handle(ch: Channel, event: FsmEvent, detail?: string): void {
    const from = ch.fsm.name;
    const negotiatedBefore = ch.negotiated;
    if (event.type === 'NotifMsg' || event.type === 'NotifMsgVerErr') {
      this.stepNotification = { direction: 'received', notification: event.notification, text: notificationText(event.notification) };
    } else {
      this.stepNotification = undefined;
    }
    const result = step(ch.fsm, event);
    ch.fsm = result.state;
    if (ch.fsm.peerOpen !== null && ch.negotiated === null) {
      const ours = buildOpen({ asn: this.config.localAsn, holdTimeSec: this.config.holdTimeSec, bgpIdentifier: this.config.bgpIdentifier, capabilities: this.config.capabilities });
      ch.negotiated = negotiate(ours, ch.fsm.peerOpen, this.config.localAsn);
      ch.ctx = ch.negotiated.ctx;
      ch.framer.setContext(ch.ctx);
    }
    this.perform(ch, result.actions, from, detail, negotiatedBefore);
    if (event.type === 'BGPOpen' && ch.fsm.name === 'OpenConfirm') this.detectCollision(ch);
    this.pruneIdleChannel();
    // §6.8: a connection colliding with an Established session is closed.
    const second = this.secondary;
    if (this.primary.fsm.name === 'Established' && second !== null) this.dump(second, this.primary);
  }

  private perform(ch: Channel, actions: readonly FsmAction[], from: FsmStateName, detail?: string, negotiatedBefore: Negotiated | null = null): void {
    for (const a of actions) {
      switch (a.type) {
        case 'connect':
          this.connect(ch);
          break;
        case 'send':
          this.write(ch, a.message);
          break;
        case 'start-timer':
          this.startTimer(ch, a.timer, a.durationMs);
          break;
        case 'stop-timer':
          this.stopTimer(ch, a.timer);
          break;
        case 'drop-connection':
          this.dropConnection(ch);
          break;
        case 'release-resources':
          if (from === 'Established' && ch === this.primary && negotiatedBefore !== null) {
            const info: RoutesLost = { negotiated: negotiatedBefore, ...(this.stepNotification === undefined ? {} : { notification: this.stepNotification }) };
            this.call(() => this.handlers.onRoutesLost?.(info));
          }
          break;
        case 'session-established': {
          const n = ch.negotiated;
          if (n !== null && ch === this.primary) {
            this.counters.establishedTransitions++;
            this.call(() => this.handlers.onEstablished?.(n));
          }
          break;
        }
        case 'deliver-update':
          if (ch === this.primary) this.call(() => this.handlers.onUpdate?.(a.update, a.errorAction));
          break;
        case 'deliver-route-refresh':
          if (ch === this.primary) this.call(() => this.handlers.onRouteRefresh?.(a.routeRefresh));
          break;
        case 'state-changed':
          if (ch === this.primary) this.reportChange({ from: a.from, to: a.to, reason: a.reason }, detail);
          break;
      }
    }
  }

  private reportChange(change: { from: FsmStateName; to: FsmStateName; reason: FsmEvent['type'] }, detail?: string): void {
    this.stateSinceMs = this.clock.now();
    const full: StateChange = {
      ...change,
      ...(this.stepNotification === undefined ? {} : { notification: this.stepNotification }),
      ...(detail === undefined ? {} : { detail }),
    };
    if (change.to === 'Idle') {
      this.lastErrorText = this.stepNotification !== undefined ? `${this.stepNotification.direction} ${this.stepNotification.text}` : (detail ?? change.reason);
    }
    this.call(() => this.handlers.onStateChange?.(full));
  }

  private call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      try {
        this.handlers.onHandlerError?.(err);
      } catch {
        // A failing error handler must not stop the session either.
      }
    }
  }

  private connect(ch: Channel): void {
    this.abortDial(ch);
    const abort = new AbortController();
    ch.dial = abort;
    this.dialer
      .dial({ remoteAddress: this.peerAddress, remotePort: this.peerPort, localAddress: this.localAddress }, abort.signal)
      .then(
        (conn) => {
          if (abort.signal.aborted || ch.isDiscarded || ch.dial !== abort || ch.conn !== null) {
            conn.destroy();
            return;
          }
          ch.dial = null;
          this.attach(ch, conn, 'local');
          this.post({ kind: 'event', ch, event: { type: 'TcpCRAcked' } });
        },
        (err: unknown) => {
          if (abort.signal.aborted || ch.dial !== abort) return;
          ch.dial = null;
          this.post({ kind: 'event', ch, event: { type: 'TcpConnectionFails' }, detail: (err as Error).message });
        },
      );
  }

  private abortDial(ch: Channel): void {
    if (ch.dial !== null) {
      ch.dial.abort();
      ch.dial = null;
    }
  }

  private attach(ch: Channel, conn: BgpConnection, initiator: 'local' | 'remote'): void {
    ch.conn = conn;
    ch.initiator = initiator;
    ch.framer = new MessageFramer(ch.ctx);
    conn.attach({
      onData: (chunk) => {
        if (ch.conn !== conn || ch.isDiscarded) return;
        const { frames, error } = ch.framer.push(chunk);
        for (const frame of frames) this.queue.push({ kind: 'frame', ch, conn, frame });
        if (error !== null) this.queue.push({ kind: 'event', ch, event: { type: 'BGPHeaderErr', error } });
        this.run();
      },
      onClose: (error) => {
        if (ch.conn !== conn || ch.isDiscarded) return;
        this.post({ kind: 'event', ch, event: { type: 'TcpConnectionFails' }, detail: error?.message ?? 'connection closed by peer' });
      },
    });
  }

  private write(ch: Channel, message: BgpMessage): void {
    const conn = ch.conn;
    if (conn === null) return;
    if (message.type === 'NOTIFICATION') {
      this.stepNotification = { direction: 'sent', notification: message.notification, text: notificationText(message.notification) };
    }
    conn.write(encodeMessage(message, ch.ctx));
    if (ch === this.primary) {
      this.counters.messagesSent++;
      if (message.type === 'UPDATE') this.counters.updatesSent++;
    }
    if (!ch.isOverflowing && conn.pendingWriteBytes > this.maxWriteBufferBytes) {
      // The peer does not read: stop sending, tell it why (if it ever reads again) and let the FSM close.
      ch.isOverflowing = true;
      this.queue.push({
        kind: 'event',
        ch,
        event: { type: 'AutomaticStop', notification: { errorCode: ErrorCode.Cease, errorSubcode: CeaseSubcode.OutOfResources, data: new Uint8Array(0) } },
        detail: `peer left ${conn.pendingWriteBytes} bytes unread`,
      });
    }
  }

  private dropConnection(ch: Channel): void {
    this.abortDial(ch);
    const conn = ch.conn;
    ch.conn = null;
    ch.initiator = null;
    ch.negotiated = null;
    ch.ctx = DEFAULT_CONTEXT;
    ch.framer = new MessageFramer();
    if (conn === null) return;
    if (ch.isOverflowing) conn.destroy();
    else this.closing.push(conn.close());
    ch.isOverflowing = false;
  }

  private startTimer(ch: Channel, timer: TimerName, durationMs: number): void {
    this.stopTimer(ch, timer);
    const delayMs = JITTERED.has(timer) ? Math.round(durationMs * Math.min(1, Math.max(0.75, this.jitter()))) : durationMs;
    const handle = this.clock.setTimer(delayMs, () => {
      if (ch.timers.get(timer) !== handle) return;
      ch.timers.delete(timer);
      this.post({ kind: 'event', ch, event: { type: TIMER_EVENTS[timer] } as FsmEvent });
    });
    ch.timers.set(timer, handle);
  }

  private stopTimer(ch: Channel, timer: TimerName): void {
    const handle = ch.timers.get(timer);
    if (handle !== undefined) this.clock.clearTimer(handle);
    ch.timers.delete(timer);
  }

  private discard(ch: Channel): void {
    ch.isDiscarded = true;
    for (const timer of [...ch.timers.keys()]) this.stopTimer(ch, timer);
    this.abortDial(ch);
    if (ch.conn !== null) this.dropConnection(ch);
  }

  /** Both connections have the peer's OPEN in hand: keep one (§6.8), dump the other. */
  private detectCollision(opened: Channel): void {
    const other = opened === this.primary ? this.secondary : this.primary;
    if (other === null || other.isDiscarded) return;
    if (other === this.primary && other.conn === null) {
      // Our own dial has not connected yet: the accepted connection goes ahead alone.
      this.promote(opened, 'BGPOpen');
      return;
    }
    if (other.conn === null || (other.fsm.name !== 'OpenSent' && other.fsm.name !== 'OpenConfirm')) return;
    const peerOpen = opened.fsm.peerOpen;
    const peerAsn = opened.negotiated?.peerAsn;
    if (peerOpen === null || peerAsn === undefined) return;
    const winner = resolveCollision({ localId: this.config.bgpIdentifier, remoteId: peerOpen.bgpIdentifier, localAsn: this.config.localAsn, remoteAsn: peerAsn });
    const wantInitiator = winner === 'locally-initiated' ? 'local' : 'remote';
    // Both accepted (the peer connected twice): keep the older one.
    const keep = opened.initiator === other.initiator ? this.primary : opened.initiator === wantInitiator ? opened : other;
    const lose = keep === opened ? other : opened;
    const kept = keep.initiator ?? 'remote';
    this.call(() => this.handlers.onCollision?.({ kept, peerId: peerOpen.bgpIdentifier }));
    this.dump(lose, keep);
  }

  private dump(lose: Channel, keep: Channel): void {
    const r = step(lose.fsm, { type: 'OpenCollisionDump' });
    // Only the wire effects: the NOTIFICATION and the close. The channel itself is forgotten.
    for (const a of r.actions) {
      if (a.type === 'send') this.write(lose, a.message);
      else if (a.type === 'drop-connection') this.dropConnection(lose);
    }
    if (lose === this.primary) this.promote(keep, 'OpenCollisionDump');
    else {
      this.discard(lose);
      this.secondary = null;
    }
  }

  /** The second connection becomes the session's; the first is forgotten. */
  private promote(ch: Channel, reason: FsmEvent['type']): void {
    const from = this.primary.fsm.name;
    this.discard(this.primary);
    this.primary = ch;
    this.secondary = null;
    this.stepNotification = undefined;
    if (from !== ch.fsm.name) this.reportChange({ from, to: ch.fsm.name, reason });
  }

  /** A channel that fell back to Idle while the other is still going is dropped; the live one counts. */
  private pruneIdleChannel(): void {
    const s = this.secondary;
    if (s === null) return;
    if (s.fsm.name === 'Idle') {
      this.discard(s);
      this.secondary = null;
    } else if (this.primary.fsm.name === 'Idle') {
      this.promote(s, 'TcpConnectionConfirmed');
    }
  }
}

/**
 * Hands an accepted connection to the session for its remote address, or
 * closes it when no session knows that peer. Use as `listenBgp`'s callback.
 */
export function acceptInbound(sessions: Iterable<Session>, conn: BgpConnection): Session | null {
  const remote = normalizeAddress(conn.remoteAddress);
  for (const s of sessions) {
    if (s.peerAddress === remote) {
      s.accept(conn);
      return s;
    }
  }
  conn.destroy();
  return null;
}
