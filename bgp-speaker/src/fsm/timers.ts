/**
 * The RFC 4271 §8 timers: their names, suggested values (§10), hold-time
 * negotiation (§4.2: the smaller of the two, 0 = no hold and no keepalive,
 * keepalive at a third), the IdleHold back-off, and a small pure model of
 * running timers so a driver or a test can keep time with any clock.
 */
export type TimerName = 'ConnectRetryTimer' | 'HoldTimer' | 'KeepaliveTimer' | 'IdleHoldTimer';

export const TIMER_DEFAULTS = Object.freeze({
  /** §10: 90 s suggested. */
  holdTimeSec: 90,
  /** §10: 120 s suggested. */
  connectRetryTimeSec: 120,
  /** §8.2.2: "a large value", 4 minutes suggested, while waiting for the peer's OPEN. */
  openSentHoldTimeSec: 240,
  /** First wait before restarting a session that failed. */
  idleHoldTimeSec: 5,
  /** The back-off doubles up to this cap while a peer keeps failing. */
  maxIdleHoldTimeSec: 300,
});

export interface NegotiatedTimers {
  /** 0 means neither HoldTimer nor KeepaliveTimer runs. */
  readonly holdTimeSec: number;
  readonly keepaliveTimeSec: number;
}

/** RFC 4271 §4.2: the smaller hold time wins; keepalive is a third of it (whole seconds, at least 1). */
export function negotiateHoldTime(localHoldTimeSec: number, peerHoldTimeSec: number): NegotiatedTimers {
  const holdTimeSec = Math.min(localHoldTimeSec, peerHoldTimeSec);
  if (holdTimeSec === 0) return { holdTimeSec: 0, keepaliveTimeSec: 0 };
  return { holdTimeSec, keepaliveTimeSec: Math.max(1, Math.floor(holdTimeSec / 3)) };
}

/** The next IdleHold delay after another failure: doubled, capped (RFC 4271 §8.1.1 DampPeerOscillations). */
export function nextIdleHoldTime(currentSec: number, maxSec: number): number {
  return Math.min(Math.max(1, currentSec * 2), maxSec);
}

/** Which timers run and when each fires, in one clock's milliseconds. */
export type RunningTimers = Readonly<Partial<Record<TimerName, number>>>;

export type TimerAction =
  | { readonly type: 'start-timer'; readonly timer: TimerName; readonly durationMs: number }
  | { readonly type: 'stop-timer'; readonly timer: TimerName };

/** Applies start/stop actions (others are ignored) at `nowMs`. Starting a running timer restarts it. */
export function applyTimerActions(timers: RunningTimers, actions: readonly { type: string }[], nowMs: number): RunningTimers {
  const next: Partial<Record<TimerName, number>> = { ...timers };
  for (const a of actions as readonly (TimerAction | { type: string })[]) {
    if (a.type === 'start-timer') {
      const t = a as Extract<TimerAction, { type: 'start-timer' }>;
      next[t.timer] = nowMs + t.durationMs;
    } else if (a.type === 'stop-timer') {
      delete next[(a as Extract<TimerAction, { type: 'stop-timer' }>).timer];
    }
  }
  return next;
}

/** The timer that fires first at or before `nowMs`, or null. */
export function firstDueTimer(timers: RunningTimers, nowMs: number): { timer: TimerName; atMs: number } | null {
  let best: { timer: TimerName; atMs: number } | null = null;
  for (const [timer, atMs] of Object.entries(timers) as [TimerName, number][]) {
    if (atMs <= nowMs && (best === null || atMs < best.atMs)) best = { timer, atMs };
  }
  return best;
}
