/**
 * Time, passed in (STYLE.md §2: effects behind narrow interfaces), so the
 * queue's back-off and the garbage collector's grace period can be tested
 * with a fake clock and no sleeps.
 */
export interface Clock {
  /** Milliseconds since some fixed point; only differences matter. */
  now(): number;
  /** Runs `callback` after `delayMs`; the returned function cancels it. */
  setTimer(callback: () => void, delayMs: number): () => void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimer(callback, delayMs) {
    const timer = setTimeout(callback, delayMs);
    // A pending back-off or resync must not keep a finished process alive.
    timer.unref?.();
    return () => clearTimeout(timer);
  },
};

/** A clock that moves only when told: `advance(ms)` fires the timers that fall due, in order. */
export class FakeClock implements Clock {
  #nowMs: number;
  #timers: { at: number; seq: number; callback: () => void }[] = [];
  #seq = 0;

  constructor(startMs = 0) {
    this.#nowMs = startMs;
  }

  now(): number {
    return this.#nowMs;
  }

  setTimer(callback: () => void, delayMs: number): () => void {
    const timer = { at: this.#nowMs + Math.max(0, delayMs), seq: this.#seq++, callback };
    this.#timers.push(timer);
    return () => {
      this.#timers = this.#timers.filter((t) => t !== timer);
    };
  }

  /** Moves time forward, firing each due timer at its own time. */
  advance(ms: number): void {
    const end = this.#nowMs + ms;
    for (;;) {
      this.#timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.#timers[0];
      if (next === undefined || next.at > end) break;
      this.#timers.shift();
      this.#nowMs = next.at;
      next.callback();
    }
    this.#nowMs = end;
  }

  get pendingTimers(): number {
    return this.#timers.length;
  }
}
