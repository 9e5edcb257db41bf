/**
 * Timers for the session driver behind a narrow interface (STYLE.md §2): the
 * system clock in production, `FakeClock` in unit tests so a hold-time expiry
 * is a function call, not a 90-second wait.
 */
export interface TimerHandle {
  readonly id: number;
}

export interface Clock {
  /** Milliseconds on this clock's own time line. */
  now(): number;
  /** Calls `fn` once after `delayMs`. */
  setTimer(delayMs: number, fn: () => void): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

/** setTimeout/clearTimeout and Date.now. */
export function systemClock(): Clock {
  let next = 1;
  const live = new Map<number, ReturnType<typeof setTimeout>>();
  return {
    now: () => Date.now(),
    setTimer(delayMs, fn) {
      const id = next++;
      live.set(
        id,
        setTimeout(() => {
          live.delete(id);
          fn();
        }, delayMs),
      );
      return { id };
    },
    clearTimer(handle) {
      const t = live.get(handle.id);
      if (t !== undefined) clearTimeout(t);
      live.delete(handle.id);
    },
  };
}

/** A clock that moves only when told to; timers fire in due order inside `advance`. */
export class FakeClock implements Clock {
  private nowMs = 0;
  private nextId = 1;
  private readonly timers = new Map<number, { atMs: number; fn: () => void }>();

  now(): number {
    return this.nowMs;
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { atMs: this.nowMs + Math.max(0, delayMs), fn });
    return { id };
  }

  clearTimer(handle: TimerHandle): void {
    this.timers.delete(handle.id);
  }

  get pendingTimers(): number {
    return this.timers.size;
  }

  /**
   * Moves time forward by `ms`, firing each due timer at its own time. After
   * each timer `settle` runs (e.g. to let in-memory connections deliver).
   */
  async advance(ms: number, settle: () => Promise<void> = async () => {}): Promise<void> {
    const end = this.nowMs + ms;
    for (;;) {
      let best: [number, { atMs: number; fn: () => void }] | null = null;
      for (const entry of this.timers) if (entry[1].atMs <= end && (best === null || entry[1].atMs < best[1].atMs)) best = entry;
      if (best === null) break;
      this.timers.delete(best[0]);
      this.nowMs = best[1].atMs;
      best[1].fn();
      await settle();
    }
    this.nowMs = end;
    await settle();
  }
}
