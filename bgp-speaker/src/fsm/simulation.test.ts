/**
 * Two FSMs wired back to back through the real codec and framer, with a fake
 * clock: what a session driver will do, minus the sockets. No sleeps.
 */
import { describe, expect, it } from 'vitest';
import { codecContext } from '../codec/context.js';
import { MessageFramer } from '../codec/framer.js';
import { decodeMessage, encodeMessage } from '../codec/message.js';
import { eventForMessage, type FsmEvent } from './event.js';
import { initialState, sessionConfig, type FsmState } from './state.js';
import { step, type FsmAction } from './step.js';
import { applyTimerActions, firstDueTimer, type RunningTimers, type TimerName } from './timers.js';

interface Speaker {
  name: string;
  state: FsmState;
  timers: RunningTimers;
  framer: MessageFramer;
  sent: string[];
  isConnected: boolean;
  isMuted: boolean;
}

const TIMER_EVENTS: Record<TimerName, FsmEvent['type']> = {
  ConnectRetryTimer: 'ConnectRetryTimerExpires',
  HoldTimer: 'HoldTimerExpires',
  KeepaliveTimer: 'KeepaliveTimerExpires',
  IdleHoldTimer: 'IdleHoldTimerExpires',
};

class Network {
  nowMs = 0;
  readonly queue: { to: Speaker; event: FsmEvent }[] = [];
  constructor(readonly a: Speaker, readonly b: Speaker) {}

  peerOf(s: Speaker): Speaker {
    return s === this.a ? this.b : this.a;
  }

  perform(s: Speaker, actions: readonly FsmAction[]): void {
    s.timers = applyTimerActions(s.timers, actions, this.nowMs);
    const peer = this.peerOf(s);
    for (const a of actions) {
      if (a.type === 'connect' && peer.state.name === 'Idle') {
        this.queue.push({ to: s, event: { type: 'TcpConnectionFails' } }); // connection refused
      } else if (a.type === 'connect') {
        s.isConnected = peer.isConnected = true;
        s.framer = new MessageFramer();
        peer.framer = new MessageFramer();
        this.queue.push({ to: s, event: { type: 'TcpCRAcked' } }, { to: peer, event: { type: 'TcpConnectionConfirmed' } });
      } else if (a.type === 'send' && s.isConnected && !s.isMuted) {
        s.sent.push(a.message.type);
        const bytes = encodeMessage(a.message, codecContext({ hasFourOctetAs: true }));
        // Deliver in two arbitrary pieces to exercise the framer.
        for (const chunk of [bytes.subarray(0, 7), bytes.subarray(7)]) {
          const out = peer.framer.push(chunk);
          for (const frame of out.frames) this.queue.push({ to: peer, event: eventForMessage(decodeMessage(frame, codecContext({ hasFourOctetAs: true }))) });
        }
      } else if (a.type === 'drop-connection' && s.isConnected) {
        s.isConnected = peer.isConnected = false;
        this.queue.push({ to: peer, event: { type: 'TcpConnectionFails' } });
      }
    }
  }

  deliver(s: Speaker, event: FsmEvent): void {
    const r = step(s.state, event);
    s.state = r.state;
    this.perform(s, r.actions);
  }

  drain(): void {
    for (let i = 0; this.queue.length > 0; i++) {
      if (i > 10_000) throw new Error('no quiescence');
      const { to, event } = this.queue.shift() as { to: Speaker; event: FsmEvent };
      this.deliver(to, event);
    }
  }

  /** Advance the fake clock, firing timers in order. */
  advance(ms: number): void {
    const end = this.nowMs + ms;
    for (;;) {
      const due = [this.a, this.b]
        .map((s) => ({ s, t: firstDueTimer(s.timers, end) }))
        .filter((x) => x.t !== null)
        .sort((x, y) => (x.t?.atMs ?? 0) - (y.t?.atMs ?? 0))[0];
      if (due === undefined || due.t === null) break;
      this.nowMs = due.t.atMs;
      const { [due.t.timer]: _fired, ...rest } = due.s.timers;
      due.s.timers = rest;
      this.deliver(due.s, { type: TIMER_EVENTS[due.t.timer] } as FsmEvent);
      this.drain();
    }
    this.nowMs = end;
  }
}

function speaker(name: string, localAsn: number, peerAsn: number, id: string, isPassive: boolean): Speaker {
  return {
    name,
    state: initialState(sessionConfig({ localAsn, peerAsn, bgpIdentifier: id, holdTimeSec: 30, isPassive })),
    timers: {},
    framer: new MessageFramer(),
    sent: [],
    isConnected: false,
    isMuted: false,
  };
}

describe('two FSMs through the codec with a fake clock', () => {
  it('reach Established, keep it with keepalives, and a silent peer is dropped by the hold timer', () => {
    const a = speaker('a', 65001, 4200000000, '192.0.2.1', false);
    const b = speaker('b', 4200000000, 65001, '192.0.2.2', true);
    const net = new Network(a, b);
    net.deliver(b, { type: 'ManualStart' });
    net.deliver(a, { type: 'ManualStart' });
    net.drain();
    expect([a.state.name, b.state.name]).toEqual(['Established', 'Established']);
    expect([a.state.holdTimeSec, a.state.keepaliveTimeSec]).toEqual([30, 10]);

    net.advance(10 * 60_000);
    expect([a.state.name, b.state.name]).toEqual(['Established', 'Established']);
    expect(a.sent.filter((t) => t === 'KEEPALIVE').length).toBeGreaterThanOrEqual(60);

    b.isMuted = true;
    net.advance(31_000);
    expect(a.state.name).toBe('Idle');
    expect(a.sent.at(-1)).toBe('NOTIFICATION');
    // a restarts on its own after the IdleHold back-off and reconnects once b is back.
    b.isMuted = false;
    net.advance(60_000);
    expect([a.state.name, b.state.name]).toEqual(['Established', 'Established']);
  });

  it('a peer with the wrong AS is refused with Bad Peer AS and retried with back-off', () => {
    const a = speaker('a', 65001, 65002, '192.0.2.1', false);
    const b = speaker('b', 65003, 65001, '192.0.2.2', true);
    const net = new Network(a, b);
    net.deliver(b, { type: 'ManualStart' });
    net.deliver(a, { type: 'ManualStart' });
    net.drain();
    expect(a.state.name).toBe('Idle');
    expect(a.sent).toEqual(['OPEN', 'NOTIFICATION']);
    expect(a.state.idleHoldTimeSec).toBe(10);
  });
});
