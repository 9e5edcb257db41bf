import { describe, expect, it } from 'vitest';
import { BgpMessageError } from '../codec/errors.js';
import { CeaseSubcode, ErrorCode, shutdownNotification } from '../codec/notification.js';
import { buildOpen, type Open } from '../codec/open.js';
import type { FsmEvent } from './event.js';
import { initialState, sessionConfig, type FsmState, type FsmStateName } from './state.js';
import { step, type FsmAction } from './step.js';

const config = sessionConfig({ localAsn: 65001, bgpIdentifier: '192.0.2.1', peerAsn: 65002, holdTimeSec: 90, connectRetryTimeSec: 120, idleHoldTimeSec: 5, maxIdleHoldTimeSec: 60 });
const peerOpen: Open = buildOpen({ asn: 65002, holdTimeSec: 30, bgpIdentifier: '192.0.2.2', capabilities: [] });

/** A session sitting in `name`, as the FSM would have left it there. */
function stateIn(name: FsmStateName): FsmState {
  const base: FsmState = { ...initialState(config), isStopped: false, connectRetryCounter: 2 };
  switch (name) {
    case 'Idle':
    case 'Connect':
    case 'Active':
    case 'OpenSent':
      return { ...base, name };
    case 'OpenConfirm':
    case 'Established':
      return { ...base, name, peerOpen, holdTimeSec: 30, keepaliveTimeSec: 10 };
  }
}

/** Actions as short strings, so a table row reads like the RFC paragraph. */
function summarize(actions: readonly FsmAction[]): string[] {
  return actions.flatMap((a): string[] => {
    switch (a.type) {
      case 'send':
        return [a.message.type === 'NOTIFICATION' ? `send NOTIFICATION ${a.message.notification.errorCode}/${a.message.notification.errorSubcode}` : `send ${a.message.type}`];
      case 'start-timer':
        return [`start ${a.timer} ${a.durationMs / 1000}s`];
      case 'stop-timer':
        return [`stop ${a.timer}`];
      case 'state-changed':
        return [];
      default:
        return [a.type];
    }
  });
}

const headerErr = new BgpMessageError(ErrorCode.MessageHeaderError, 2);
const openErr = new BgpMessageError(ErrorCode.OpenMessageError, 4);
const updateErr = new BgpMessageError(ErrorCode.UpdateMessageError, 1);
const cease = { errorCode: 6, errorSubcode: 2, data: new Uint8Array(0) };
const update = { withdrawn: [], attributes: {}, nlri: [] };

const TO_IDLE = ['stop ConnectRetryTimer', 'stop HoldTimer', 'stop KeepaliveTimer', 'release-resources', 'drop-connection'];
const RESTART = 'start IdleHoldTimer 5s';
const STOPPED = 'stop IdleHoldTimer';
const down = (...sent: string[]): string[] => [...sent, ...TO_IDLE, RESTART];

type Row = [from: FsmStateName, event: FsmEvent, to: FsmStateName, actions: string[], counter: number];

// RFC 4271 §8.2.2, state by state. `counter` is ConnectRetryCounter after the event (it starts at 2).
const table: Row[] = [
  // Idle
  ['Idle', { type: 'ManualStart' }, 'Connect', [STOPPED, 'start ConnectRetryTimer 120s', 'connect'], 0],
  ['Idle', { type: 'AutomaticStart' }, 'Connect', [STOPPED, 'start ConnectRetryTimer 120s', 'connect'], 0],
  ['Idle', { type: 'ManualStartWithPassiveTcpEstablishment' }, 'Active', [STOPPED, 'start ConnectRetryTimer 120s'], 0],
  ['Idle', { type: 'AutomaticStartWithPassiveTcpEstablishment' }, 'Active', [STOPPED, 'start ConnectRetryTimer 120s'], 0],
  ['Idle', { type: 'IdleHoldTimerExpires' }, 'Connect', [STOPPED, 'start ConnectRetryTimer 120s', 'connect'], 0],
  ['Idle', { type: 'ManualStop' }, 'Idle', [], 2],
  ['Idle', { type: 'TcpConnectionConfirmed' }, 'Idle', [], 2],
  ['Idle', { type: 'BGPOpen', open: peerOpen }, 'Idle', [], 2],
  ['Idle', { type: 'HoldTimerExpires' }, 'Idle', [], 2],
  // Connect
  ['Connect', { type: 'ManualStart' }, 'Connect', [], 2],
  ['Connect', { type: 'ManualStop' }, 'Idle', [...TO_IDLE, STOPPED], 0],
  ['Connect', { type: 'ConnectRetryTimerExpires' }, 'Connect', ['drop-connection', 'start ConnectRetryTimer 120s', 'connect'], 2],
  ['Connect', { type: 'TcpCRAcked' }, 'OpenSent', ['stop ConnectRetryTimer', 'send OPEN', 'start HoldTimer 240s'], 2],
  ['Connect', { type: 'TcpConnectionConfirmed' }, 'OpenSent', ['stop ConnectRetryTimer', 'send OPEN', 'start HoldTimer 240s'], 2],
  ['Connect', { type: 'TcpConnectionFails' }, 'Idle', down(), 3],
  ['Connect', { type: 'BGPHeaderErr', error: headerErr }, 'Idle', down(), 3],
  ['Connect', { type: 'BGPOpenMsgErr', error: openErr }, 'Idle', down(), 3],
  ['Connect', { type: 'NotifMsgVerErr', notification: cease }, 'Idle', down(), 3],
  ['Connect', { type: 'AutomaticStop' }, 'Idle', down(), 3],
  ['Connect', { type: 'HoldTimerExpires' }, 'Idle', down(), 3],
  ['Connect', { type: 'BGPOpen', open: peerOpen }, 'Idle', down(), 3],
  ['Connect', { type: 'KeepAliveMsg' }, 'Idle', down(), 3],
  ['Connect', { type: 'UpdateMsg', update, errorAction: null }, 'Idle', down(), 3],
  // Active
  ['Active', { type: 'AutomaticStart' }, 'Active', [], 2],
  ['Active', { type: 'ManualStop' }, 'Idle', [...TO_IDLE, STOPPED], 0],
  ['Active', { type: 'ConnectRetryTimerExpires' }, 'Connect', ['start ConnectRetryTimer 120s', 'connect'], 2],
  ['Active', { type: 'TcpCRAcked' }, 'OpenSent', ['stop ConnectRetryTimer', 'send OPEN', 'start HoldTimer 240s'], 2],
  ['Active', { type: 'TcpConnectionConfirmed' }, 'OpenSent', ['stop ConnectRetryTimer', 'send OPEN', 'start HoldTimer 240s'], 2],
  ['Active', { type: 'TcpConnectionFails' }, 'Idle', down(), 3],
  ['Active', { type: 'BGPHeaderErr', error: headerErr }, 'Idle', down(), 3],
  ['Active', { type: 'NotifMsg', notification: cease }, 'Idle', down(), 3],
  ['Active', { type: 'KeepaliveTimerExpires' }, 'Idle', down(), 3],
  // OpenSent
  ['OpenSent', { type: 'ManualStart' }, 'OpenSent', [], 2],
  ['OpenSent', { type: 'ManualStop' }, 'Idle', [...down('send NOTIFICATION 6/2').slice(0, -1), STOPPED], 0],
  ['OpenSent', { type: 'AutomaticStop' }, 'Idle', down('send NOTIFICATION 6/2'), 3],
  ['OpenSent', { type: 'HoldTimerExpires' }, 'Idle', down('send NOTIFICATION 4/0'), 3],
  ['OpenSent', { type: 'TcpConnectionConfirmed' }, 'OpenSent', [], 2],
  ['OpenSent', { type: 'TcpConnectionFails' }, 'Active', ['drop-connection', 'start ConnectRetryTimer 120s'], 2],
  ['OpenSent', { type: 'BGPOpen', open: peerOpen }, 'OpenConfirm', ['stop ConnectRetryTimer', 'send KEEPALIVE', 'start KeepaliveTimer 10s', 'start HoldTimer 30s'], 2],
  ['OpenSent', { type: 'BGPOpen', open: { ...peerOpen, myAutonomousSystem: 65009, capabilities: [] } }, 'Idle', down('send NOTIFICATION 2/2'), 3],
  ['OpenSent', { type: 'BGPHeaderErr', error: headerErr }, 'Idle', down('send NOTIFICATION 1/2'), 3],
  ['OpenSent', { type: 'BGPOpenMsgErr', error: openErr }, 'Idle', down('send NOTIFICATION 2/4'), 3],
  ['OpenSent', { type: 'OpenCollisionDump' }, 'Idle', down('send NOTIFICATION 6/7'), 3],
  ['OpenSent', { type: 'NotifMsgVerErr', notification: cease }, 'Idle', down(), 2],
  ['OpenSent', { type: 'NotifMsg', notification: cease }, 'Idle', down(), 3],
  ['OpenSent', { type: 'KeepAliveMsg' }, 'Idle', down('send NOTIFICATION 5/1'), 3],
  ['OpenSent', { type: 'UpdateMsg', update, errorAction: null }, 'Idle', down('send NOTIFICATION 5/1'), 3],
  ['OpenSent', { type: 'ConnectRetryTimerExpires' }, 'Idle', down('send NOTIFICATION 5/1'), 3],
  // OpenConfirm
  ['OpenConfirm', { type: 'AutomaticStart' }, 'OpenConfirm', [], 2],
  ['OpenConfirm', { type: 'ManualStop' }, 'Idle', [...down('send NOTIFICATION 6/2').slice(0, -1), STOPPED], 0],
  ['OpenConfirm', { type: 'AutomaticStop' }, 'Idle', down('send NOTIFICATION 6/2'), 3],
  ['OpenConfirm', { type: 'HoldTimerExpires' }, 'Idle', down('send NOTIFICATION 4/0'), 3],
  ['OpenConfirm', { type: 'KeepaliveTimerExpires' }, 'OpenConfirm', ['send KEEPALIVE', 'start KeepaliveTimer 10s'], 2],
  ['OpenConfirm', { type: 'TcpCRAcked' }, 'OpenConfirm', [], 2],
  ['OpenConfirm', { type: 'TcpConnectionFails' }, 'Idle', down(), 3],
  ['OpenConfirm', { type: 'NotifMsg', notification: cease }, 'Idle', down(), 3],
  ['OpenConfirm', { type: 'NotifMsgVerErr', notification: cease }, 'Idle', down(), 2],
  ['OpenConfirm', { type: 'BGPOpen', open: peerOpen }, 'Idle', down('send NOTIFICATION 5/2'), 3],
  ['OpenConfirm', { type: 'BGPHeaderErr', error: headerErr }, 'Idle', down('send NOTIFICATION 1/2'), 3],
  ['OpenConfirm', { type: 'BGPOpenMsgErr', error: openErr }, 'Idle', down('send NOTIFICATION 2/4'), 3],
  ['OpenConfirm', { type: 'OpenCollisionDump' }, 'Idle', down('send NOTIFICATION 6/7'), 3],
  ['OpenConfirm', { type: 'KeepAliveMsg' }, 'Established', ['start HoldTimer 30s', 'session-established'], 2],
  ['OpenConfirm', { type: 'UpdateMsg', update, errorAction: null }, 'Idle', down('send NOTIFICATION 5/2'), 3],
  ['OpenConfirm', { type: 'ConnectRetryTimerExpires' }, 'Idle', down('send NOTIFICATION 5/2'), 3],
  // Established
  ['Established', { type: 'ManualStart' }, 'Established', [], 2],
  ['Established', { type: 'ManualStop' }, 'Idle', [...down('send NOTIFICATION 6/2').slice(0, -1), STOPPED], 0],
  ['Established', { type: 'AutomaticStop', notification: { errorCode: 6, errorSubcode: 1, data: new Uint8Array(0) } }, 'Idle', down('send NOTIFICATION 6/1'), 3],
  ['Established', { type: 'HoldTimerExpires' }, 'Idle', down('send NOTIFICATION 4/0'), 3],
  ['Established', { type: 'KeepaliveTimerExpires' }, 'Established', ['send KEEPALIVE', 'start KeepaliveTimer 10s'], 2],
  ['Established', { type: 'TcpConnectionConfirmed' }, 'Established', [], 2],
  ['Established', { type: 'OpenCollisionDump' }, 'Idle', down('send NOTIFICATION 6/7'), 3],
  ['Established', { type: 'NotifMsg', notification: cease }, 'Idle', down(), 3],
  ['Established', { type: 'NotifMsgVerErr', notification: cease }, 'Idle', down(), 3],
  ['Established', { type: 'TcpConnectionFails' }, 'Idle', down(), 3],
  ['Established', { type: 'KeepAliveMsg' }, 'Established', ['start HoldTimer 30s'], 2],
  ['Established', { type: 'UpdateMsg', update, errorAction: null }, 'Established', ['start HoldTimer 30s', 'deliver-update'], 2],
  ['Established', { type: 'RouteRefreshMsg', routeRefresh: { afi: 1, safi: 1, subtype: 0 } }, 'Established', ['start HoldTimer 30s', 'deliver-route-refresh'], 2],
  ['Established', { type: 'UpdateMsgErr', error: updateErr }, 'Idle', down('send NOTIFICATION 3/1'), 3],
  ['Established', { type: 'BGPHeaderErr', error: headerErr }, 'Idle', down('send NOTIFICATION 1/2'), 3],
  ['Established', { type: 'BGPOpen', open: peerOpen }, 'Idle', down('send NOTIFICATION 5/3'), 3],
  ['Established', { type: 'BGPOpenMsgErr', error: openErr }, 'Idle', down('send NOTIFICATION 5/3'), 3],
  ['Established', { type: 'ConnectRetryTimerExpires' }, 'Idle', down('send NOTIFICATION 5/3'), 3],
];

describe('RFC 4271 §8.2.2 transitions', () => {
  it.each(table)('%s + %o → %s', (from, event, to, actions, counter) => {
    const result = step(stateIn(from), event);
    expect(result.state.name).toBe(to);
    expect(summarize(result.actions)).toEqual(actions);
    expect(result.state.connectRetryCounter).toBe(counter);
    const changed = result.actions.filter((a) => a.type === 'state-changed');
    expect(changed).toEqual(from === to ? [] : [{ type: 'state-changed', from, to, reason: event.type }]);
  });

  it('covers every state', () => {
    expect(new Set(table.map((r) => r[0]))).toEqual(new Set(['Idle', 'Connect', 'Active', 'OpenSent', 'OpenConfirm', 'Established']));
  });
});

describe('FSM details', () => {
  it('sends our OPEN with AS_TRANS and the 4-octet AS capability for a large ASN', () => {
    const s = { ...initialState(sessionConfig({ localAsn: 4200000000, bgpIdentifier: '192.0.2.1', peerAsn: 65002 })), name: 'Connect' as const };
    const sent = step(s, { type: 'TcpCRAcked' }).actions.find((a) => a.type === 'send');
    expect(sent).toMatchObject({ message: { type: 'OPEN', open: { myAutonomousSystem: 23456, holdTimeSec: 90, capabilities: [{ type: 'four-octet-as', asn: 4200000000 }] } } });
  });

  it('negotiates the smaller hold time and keepalives at a third of it', () => {
    const r = step(stateIn('OpenSent'), { type: 'BGPOpen', open: { ...peerOpen, holdTimeSec: 180 } });
    expect(r.state).toMatchObject({ holdTimeSec: 90, keepaliveTimeSec: 30 });
  });

  it('a hold time of 0 runs neither hold nor keepalive timers', () => {
    const r = step(stateIn('OpenSent'), { type: 'BGPOpen', open: { ...peerOpen, holdTimeSec: 0 } });
    expect(summarize(r.actions)).toEqual(['stop ConnectRetryTimer', 'send KEEPALIVE', 'stop HoldTimer', 'stop KeepaliveTimer']);
    const up = step(r.state, { type: 'KeepAliveMsg' });
    expect(summarize(up.actions)).toEqual(['session-established']);
    expect(summarize(step(up.state, { type: 'KeepAliveMsg' }).actions)).toEqual([]);
    expect(summarize(step(up.state, { type: 'KeepaliveTimerExpires' }).actions)).toEqual([]);
  });

  it('rejects a peer using our own BGP identifier inside one AS', () => {
    const ibgp = { ...stateIn('OpenSent'), config: { ...config, peerAsn: 65001 } };
    const r = step(ibgp, { type: 'BGPOpen', open: buildOpen({ asn: 65001, holdTimeSec: 90, bgpIdentifier: '192.0.2.1', capabilities: [] }) });
    expect(summarize(r.actions)[0]).toBe('send NOTIFICATION 2/3');
  });

  it('backs off exponentially, capped, while a peer keeps failing, and resets once Established', () => {
    let s = step(initialState(config), { type: 'ManualStart' }).state;
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      const failed = step(s, { type: 'TcpConnectionFails' });
      const hold = failed.actions.find((a) => a.type === 'start-timer' && a.timer === 'IdleHoldTimer');
      delays.push(hold?.type === 'start-timer' ? hold.durationMs / 1000 : -1);
      s = step(failed.state, { type: 'IdleHoldTimerExpires' }).state;
      expect(s.name).toBe('Connect');
    }
    expect(delays).toEqual([5, 10, 20, 40, 60, 60, 60]);
    s = step(s, { type: 'TcpCRAcked' }).state;
    s = step(s, { type: 'BGPOpen', open: peerOpen }).state;
    s = step(s, { type: 'KeepAliveMsg' }).state;
    expect(s.name).toBe('Established');
    expect(s.idleHoldTimeSec).toBe(5);
  });

  it('a passive session waits in Active when the ConnectRetryTimer expires instead of dialling', () => {
    const passive = { ...stateIn('Active'), config: { ...config, isPassive: true } };
    const r = step(passive, { type: 'ConnectRetryTimerExpires' });
    expect(r.state.name).toBe('Active');
    expect(summarize(r.actions)).toEqual(['start ConnectRetryTimer 120s']);
  });

  it('after ManualStop nothing restarts the session but a start event', () => {
    const stopped = step(stateIn('Established'), { type: 'ManualStop', notification: shutdownNotification(CeaseSubcode.AdministrativeShutdown, 'bye') }).state;
    expect(stopped.isStopped).toBe(true);
    expect(step(stopped, { type: 'IdleHoldTimerExpires' }).state.name).toBe('Idle');
    expect(step(stopped, { type: 'AutomaticStart' }).state.name).toBe('Connect');
  });

  it('is pure: the same state and event give the same result, and the input is not changed', () => {
    const s = stateIn('OpenSent');
    const copy = structuredClone(s);
    const a = step(s, { type: 'BGPOpen', open: peerOpen });
    const b = step(s, { type: 'BGPOpen', open: peerOpen });
    expect(a).toEqual(b);
    expect(s).toEqual(copy);
  });
});
