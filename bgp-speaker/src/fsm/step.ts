/**
 * The RFC 4271 §8.2.2 finite-state machine as one pure function:
 * `step(state, event) → { state, actions }`. No sockets, no clocks: a driver
 * performs the actions in order (send before drop) and feeds back timer and
 * TCP events. Deviations from the RFC text are listed in ../../DESIGN.md.
 */
import type { BgpMessage } from '../codec/message.js';
import { CeaseSubcode, ErrorCode, FiniteStateMachineErrorSubcode, type Notification } from '../codec/notification.js';
import { buildOpen, type Open } from '../codec/open.js';
import type { RouteRefresh } from '../codec/route-refresh.js';
import type { Update, UpdateErrorAction } from '../codec/update.js';
import type { FsmEvent } from './event.js';
import { checkOpen } from './open-check.js';
import type { FsmState, FsmStateName } from './state.js';
import { negotiateHoldTime, nextIdleHoldTime, TIMER_DEFAULTS, type TimerAction, type TimerName } from './timers.js';

export type FsmAction =
  /** Initiate a TCP connection to the peer. */
  | { readonly type: 'connect' }
  | { readonly type: 'send'; readonly message: BgpMessage }
  | TimerAction
  /** Close the TCP connection (after flushing what was sent). */
  | { readonly type: 'drop-connection' }
  /** Forget the session's resources: in Established, every route learned from the peer (unless graceful restart keeps them stale). */
  | { readonly type: 'release-resources' }
  /** Both OPENs agree: the session is up with these timers. */
  | { readonly type: 'session-established'; readonly peerOpen: Open; readonly holdTimeSec: number; readonly keepaliveTimeSec: number }
  /** Hand an UPDATE (already reduced by its RFC 7606 action) to the Adj-RIB-In. */
  | { readonly type: 'deliver-update'; readonly update: Update; readonly errorAction: UpdateErrorAction | null }
  | { readonly type: 'deliver-route-refresh'; readonly routeRefresh: RouteRefresh }
  /** For the log: the state changed because of `reason` (the event type). */
  | { readonly type: 'state-changed'; readonly from: FsmStateName; readonly to: FsmStateName; readonly reason: FsmEvent['type'] };

export interface StepResult {
  readonly state: FsmState;
  readonly actions: readonly FsmAction[];
}

const ALL_TIMERS: readonly TimerName[] = ['ConnectRetryTimer', 'HoldTimer', 'KeepaliveTimer'];

const start = (timer: TimerName, seconds: number): TimerAction => ({ type: 'start-timer', timer, durationMs: seconds * 1000 });
const stop = (timer: TimerName): TimerAction => ({ type: 'stop-timer', timer });
const send = (message: BgpMessage): FsmAction => ({ type: 'send', message });
const notify = (notification: Notification): FsmAction => send({ type: 'NOTIFICATION', notification });
const notification = (errorCode: number, errorSubcode: number): Notification => ({ errorCode, errorSubcode, data: new Uint8Array(0) });
const CEASE_ADMIN_SHUTDOWN = notification(ErrorCode.Cease, CeaseSubcode.AdministrativeShutdown);

function moveTo(state: FsmState, patch: Partial<FsmState>, event: FsmEvent, actions: FsmAction[]): StepResult {
  const next: FsmState = Object.freeze({ ...state, ...patch });
  const all: FsmAction[] = next.name === state.name ? actions : [...actions, { type: 'state-changed', from: state.name, to: next.name, reason: event.type }];
  return { state: next, actions: all };
}

const stay = (state: FsmState, actions: FsmAction[] = []): StepResult => ({ state, actions });

type CounterChange = 'increment' | 'reset' | 'keep';

/**
 * The RFC's recurring "→ Idle" paragraph: optionally send a NOTIFICATION, set
 * ConnectRetryTimer to zero (and the other timers), release resources, drop
 * the connection, change ConnectRetryCounter. After a failure (not a manual
 * stop) the IdleHoldTimer schedules the automatic restart, doubling each time.
 */
function toIdle(state: FsmState, event: FsmEvent, opts: { send?: Notification | undefined; counter: CounterChange; isManualStop?: boolean }): StepResult {
  const actions: FsmAction[] = [];
  if (opts.send !== undefined) actions.push(notify(opts.send));
  actions.push(...ALL_TIMERS.map(stop), { type: 'release-resources' }, { type: 'drop-connection' });
  const isStopped = opts.isManualStop === true || state.isStopped;
  let idleHoldTimeSec = state.idleHoldTimeSec;
  if (isStopped) actions.push(stop('IdleHoldTimer'));
  else {
    actions.push(start('IdleHoldTimer', idleHoldTimeSec));
    idleHoldTimeSec = nextIdleHoldTime(idleHoldTimeSec, state.config.maxIdleHoldTimeSec);
  }
  return moveTo(
    state,
    {
      name: 'Idle',
      connectRetryCounter: opts.counter === 'reset' ? 0 : opts.counter === 'keep' ? state.connectRetryCounter : state.connectRetryCounter + 1,
      isStopped,
      idleHoldTimeSec,
      peerOpen: null,
      holdTimeSec: state.config.holdTimeSec,
      keepaliveTimeSec: 0,
    },
    event,
    actions,
  );
}

function ourOpen(state: FsmState): Open {
  const c = state.config;
  return buildOpen({ asn: c.localAsn, holdTimeSec: c.holdTimeSec, bgpIdentifier: c.bgpIdentifier, capabilities: c.capabilities });
}

/** Connect or Active → OpenSent once TCP is up (no DelayOpen): send OPEN, HoldTimer to a large value. */
function sendOpen(state: FsmState, event: FsmEvent): StepResult {
  return moveTo(state, { name: 'OpenSent' }, event, [
    stop('ConnectRetryTimer'),
    send({ type: 'OPEN', open: ourOpen(state) }),
    start('HoldTimer', TIMER_DEFAULTS.openSentHoldTimeSec),
  ]);
}

function fsmError(state: FsmState): Notification {
  const sub =
    state.name === 'OpenSent'
      ? FiniteStateMachineErrorSubcode.ReceiveUnexpectedMessageInOpenSent
      : state.name === 'OpenConfirm'
        ? FiniteStateMachineErrorSubcode.ReceiveUnexpectedMessageInOpenConfirm
        : state.name === 'Established'
          ? FiniteStateMachineErrorSubcode.ReceiveUnexpectedMessageInEstablished
          : FiniteStateMachineErrorSubcode.UnspecifiedError;
  return notification(ErrorCode.FiniteStateMachineError, sub);
}

function isStartEvent(e: FsmEvent): boolean {
  return e.type === 'ManualStart' || e.type === 'AutomaticStart' || e.type === 'ManualStartWithPassiveTcpEstablishment' || e.type === 'AutomaticStartWithPassiveTcpEstablishment';
}

function stepIdle(s: FsmState, e: FsmEvent): StepResult {
  let isPassive: boolean;
  switch (e.type) {
    case 'ManualStart':
    case 'AutomaticStart':
      isPassive = s.config.isPassive;
      break;
    case 'ManualStartWithPassiveTcpEstablishment':
    case 'AutomaticStartWithPassiveTcpEstablishment':
      isPassive = true;
      break;
    case 'IdleHoldTimerExpires':
      // The damped automatic restart; ignored once stopped by hand.
      if (s.isStopped) return stay(s);
      isPassive = s.config.isPassive;
      break;
    default:
      // §8.2.2 Idle: every other event is ignored.
      return stay(s);
  }
  const actions: FsmAction[] = [stop('IdleHoldTimer'), start('ConnectRetryTimer', s.config.connectRetryTimeSec)];
  if (!isPassive) actions.push({ type: 'connect' });
  return moveTo(s, { name: isPassive ? 'Active' : 'Connect', connectRetryCounter: 0, isStopped: false }, e, actions);
}

function stepConnect(s: FsmState, e: FsmEvent): StepResult {
  if (isStartEvent(e)) return stay(s);
  switch (e.type) {
    case 'ManualStop':
      return toIdle(s, e, { counter: 'reset', isManualStop: true });
    case 'ConnectRetryTimerExpires':
      return stay(s, [{ type: 'drop-connection' }, start('ConnectRetryTimer', s.config.connectRetryTimeSec), { type: 'connect' }]);
    case 'TcpCRAcked':
    case 'TcpConnectionConfirmed':
      return sendOpen(s, e);
    case 'TcpConnectionFails':
      return toIdle(s, e, { counter: 'increment' });
    case 'NotifMsgVerErr':
      return toIdle(s, e, { counter: 'increment' });
    default:
      // BGPHeaderErr, BGPOpenMsgErr and every other event: no OPEN was sent, so no NOTIFICATION (SendNOTIFICATIONwithoutOPEN is FALSE).
      return toIdle(s, e, { counter: 'increment' });
  }
}

function stepActive(s: FsmState, e: FsmEvent): StepResult {
  if (isStartEvent(e)) return stay(s);
  switch (e.type) {
    case 'ManualStop':
      return toIdle(s, e, { counter: 'reset', isManualStop: true });
    case 'ConnectRetryTimerExpires':
      // A passive session (PassiveTcpEstablishment, §8.1.1) never dials: it keeps waiting, as BIRD's `passive on` does.
      if (s.config.isPassive) return stay(s, [start('ConnectRetryTimer', s.config.connectRetryTimeSec)]);
      return moveTo(s, { name: 'Connect' }, e, [start('ConnectRetryTimer', s.config.connectRetryTimeSec), { type: 'connect' }]);
    case 'TcpCRAcked':
    case 'TcpConnectionConfirmed':
      return sendOpen(s, e);
    default:
      return toIdle(s, e, { counter: 'increment' });
  }
}

function stepOpenSent(s: FsmState, e: FsmEvent): StepResult {
  if (isStartEvent(e)) return stay(s);
  switch (e.type) {
    case 'ManualStop':
      return toIdle(s, e, { send: e.notification ?? CEASE_ADMIN_SHUTDOWN, counter: 'reset', isManualStop: true });
    case 'AutomaticStop':
      return toIdle(s, e, { send: e.notification ?? CEASE_ADMIN_SHUTDOWN, counter: 'increment' });
    case 'HoldTimerExpires':
      return toIdle(s, e, { send: notification(ErrorCode.HoldTimerExpired, 0), counter: 'increment' });
    case 'TcpCRAcked':
    case 'TcpConnectionConfirmed':
      // A second connection: the driver tracks it for collision detection (§6.8).
      return stay(s);
    case 'TcpConnectionFails':
      return moveTo(s, { name: 'Active' }, e, [{ type: 'drop-connection' }, start('ConnectRetryTimer', s.config.connectRetryTimeSec)]);
    case 'BGPOpen': {
      const error = checkOpen(e.open, s.config);
      if (error !== null) return toIdle(s, e, { send: error.notification, counter: 'increment' });
      const t = negotiateHoldTime(s.config.holdTimeSec, e.open.holdTimeSec);
      const actions: FsmAction[] = [stop('ConnectRetryTimer'), send({ type: 'KEEPALIVE' })];
      if (t.holdTimeSec === 0) actions.push(stop('HoldTimer'), stop('KeepaliveTimer'));
      else actions.push(start('KeepaliveTimer', t.keepaliveTimeSec), start('HoldTimer', t.holdTimeSec));
      return moveTo(s, { name: 'OpenConfirm', peerOpen: e.open, holdTimeSec: t.holdTimeSec, keepaliveTimeSec: t.keepaliveTimeSec }, e, actions);
    }
    case 'BGPHeaderErr':
    case 'BGPOpenMsgErr':
      return toIdle(s, e, { send: e.error.notification, counter: 'increment' });
    case 'OpenCollisionDump':
      return toIdle(s, e, { send: notification(ErrorCode.Cease, CeaseSubcode.ConnectionCollisionResolution), counter: 'increment' });
    case 'NotifMsgVerErr':
      return toIdle(s, e, { counter: 'keep' });
    case 'NotifMsg':
      // The RFC lists NotifMsg among events answered with an FSM error; answering a NOTIFICATION is pointless, so we only close.
      return toIdle(s, e, { counter: 'increment' });
    default:
      return toIdle(s, e, { send: fsmError(s), counter: 'increment' });
  }
}

function stepOpenConfirm(s: FsmState, e: FsmEvent): StepResult {
  if (isStartEvent(e)) return stay(s);
  switch (e.type) {
    case 'ManualStop':
      return toIdle(s, e, { send: e.notification ?? CEASE_ADMIN_SHUTDOWN, counter: 'reset', isManualStop: true });
    case 'AutomaticStop':
      return toIdle(s, e, { send: e.notification ?? CEASE_ADMIN_SHUTDOWN, counter: 'increment' });
    case 'HoldTimerExpires':
      return toIdle(s, e, { send: notification(ErrorCode.HoldTimerExpired, 0), counter: 'increment' });
    case 'KeepaliveTimerExpires':
      return stay(s, [send({ type: 'KEEPALIVE' }), start('KeepaliveTimer', s.keepaliveTimeSec)]);
    case 'TcpCRAcked':
    case 'TcpConnectionConfirmed':
      return stay(s);
    case 'TcpConnectionFails':
    case 'NotifMsg':
      return toIdle(s, e, { counter: 'increment' });
    case 'NotifMsgVerErr':
      return toIdle(s, e, { counter: 'keep' });
    case 'BGPHeaderErr':
    case 'BGPOpenMsgErr':
      return toIdle(s, e, { send: e.error.notification, counter: 'increment' });
    case 'OpenCollisionDump':
      return toIdle(s, e, { send: notification(ErrorCode.Cease, CeaseSubcode.ConnectionCollisionResolution), counter: 'increment' });
    case 'KeepAliveMsg': {
      const peerOpen = s.peerOpen;
      if (peerOpen === null) return toIdle(s, e, { send: fsmError(s), counter: 'increment' }); // unreachable: OpenConfirm always has the OPEN
      const actions: FsmAction[] = [];
      if (s.holdTimeSec > 0) actions.push(start('HoldTimer', s.holdTimeSec));
      actions.push({ type: 'session-established', peerOpen, holdTimeSec: s.holdTimeSec, keepaliveTimeSec: s.keepaliveTimeSec });
      return moveTo(s, { name: 'Established', idleHoldTimeSec: s.config.idleHoldTimeSec }, e, actions);
    }
    default:
      return toIdle(s, e, { send: fsmError(s), counter: 'increment' });
  }
}

function stepEstablished(s: FsmState, e: FsmEvent): StepResult {
  if (isStartEvent(e)) return stay(s);
  const restartHold: FsmAction[] = s.holdTimeSec > 0 ? [start('HoldTimer', s.holdTimeSec)] : [];
  switch (e.type) {
    case 'ManualStop':
      return toIdle(s, e, { send: e.notification ?? CEASE_ADMIN_SHUTDOWN, counter: 'reset', isManualStop: true });
    case 'AutomaticStop':
      return toIdle(s, e, { send: e.notification ?? CEASE_ADMIN_SHUTDOWN, counter: 'increment' });
    case 'HoldTimerExpires':
      return toIdle(s, e, { send: notification(ErrorCode.HoldTimerExpired, 0), counter: 'increment' });
    case 'KeepaliveTimerExpires':
      return stay(s, s.keepaliveTimeSec > 0 ? [send({ type: 'KEEPALIVE' }), start('KeepaliveTimer', s.keepaliveTimeSec)] : []);
    case 'TcpCRAcked':
    case 'TcpConnectionConfirmed':
      // §6.8: a collision with an Established session is resolved in its favour by default.
      return stay(s);
    case 'OpenCollisionDump':
      return toIdle(s, e, { send: notification(ErrorCode.Cease, CeaseSubcode.ConnectionCollisionResolution), counter: 'increment' });
    case 'NotifMsgVerErr':
    case 'NotifMsg':
    case 'TcpConnectionFails':
      return toIdle(s, e, { counter: 'increment' });
    case 'KeepAliveMsg':
      return stay(s, restartHold);
    case 'UpdateMsg':
      return stay(s, [...restartHold, { type: 'deliver-update', update: e.update, errorAction: e.errorAction }]);
    case 'RouteRefreshMsg':
      return stay(s, [...restartHold, { type: 'deliver-route-refresh', routeRefresh: e.routeRefresh }]);
    case 'UpdateMsgErr':
      return toIdle(s, e, { send: e.error.notification, counter: 'increment' });
    case 'BGPHeaderErr':
      // RFC 4271 §6.1 says a header error is answered with its own NOTIFICATION, whatever the state.
      return toIdle(s, e, { send: e.error.notification, counter: 'increment' });
    default:
      return toIdle(s, e, { send: fsmError(s), counter: 'increment' });
  }
}

/** One FSM transition (RFC 4271 §8.2.2). Pure: same state and event, same result. */
export function step(state: FsmState, event: FsmEvent): StepResult {
  switch (state.name) {
    case 'Idle':
      return stepIdle(state, event);
    case 'Connect':
      return stepConnect(state, event);
    case 'Active':
      return stepActive(state, event);
    case 'OpenSent':
      return stepOpenSent(state, event);
    case 'OpenConfirm':
      return stepOpenConfirm(state, event);
    case 'Established':
      return stepEstablished(state, event);
  }
}
