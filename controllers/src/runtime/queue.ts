/**
 * A rate-limited work queue keyed by string, as client-go's workqueue:
 * - a key waiting in the queue is held once however often it is added (dedupe);
 * - a key being processed is never handed to a second worker; adding it meanwhile
 *   marks it dirty, and it is queued again when the worker calls `done`;
 * - `addRateLimited` waits `baseDelayMs · 2^failures` (capped) before queueing,
 *   per key, and `forget` resets the count after a success.
 */
import { type Clock, realClock } from './clock.js';

export interface WorkQueueOptions {
  /** Delay after the first failure of a key. */
  baseDelayMs?: number;
  /** Longest delay, however often a key has failed. */
  maxDelayMs?: number;
  clock?: Clock;
}

export class WorkQueue {
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #clock: Clock;
  readonly #queue: string[] = [];
  readonly #queued = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #delayed = new Map<string, { at: number; cancel: () => void }>();
  #waiters: ((key: string | null) => void)[] = [];
  #isShutDown = false;

  constructor(options: WorkQueueOptions = {}) {
    this.#baseDelayMs = options.baseDelayMs ?? 200;
    this.#maxDelayMs = options.maxDelayMs ?? 60_000;
    this.#clock = options.clock ?? realClock;
  }

  /** Queues the key now, unless it is already waiting. */
  add(key: string): void {
    if (this.#isShutDown) return;
    if (this.#processing.has(key)) {
      this.#dirty.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      this.#processing.add(key);
      waiter(key);
      return;
    }
    this.#queued.add(key);
    this.#queue.push(key);
  }

  /** Queues the key after `delayMs`; an earlier pending delay for the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.#isShutDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const at = this.#clock.now() + delayMs;
    const pending = this.#delayed.get(key);
    if (pending !== undefined) {
      if (pending.at <= at) return;
      pending.cancel();
    }
    const cancel = this.#clock.setTimer(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, delayMs);
    this.#delayed.set(key, { at, cancel });
  }

  /** Queues the key after its back-off, and counts one more failure for it. */
  addRateLimited(key: string): number {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    const delayMs = Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** Math.min(failures, 30));
    this.addAfter(key, delayMs);
    return delayMs;
  }

  /** The key succeeded: its next failure starts the back-off from the beginning. */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  failuresOf(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /** The next key to process (it is then "processing" until `done`), or null once shut down. */
  get(): Promise<string | null> {
    const key = this.#queue.shift();
    if (key !== undefined) {
      this.#queued.delete(key);
      this.#processing.add(key);
      return Promise.resolve(key);
    }
    if (this.#isShutDown) return Promise.resolve(null);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** The worker finished with the key; if it was added meanwhile, it is queued again. */
  done(key: string): void {
    this.#processing.delete(key);
    if (this.#dirty.delete(key)) this.add(key);
  }

  /** Keys waiting (not processing, not delayed). */
  get length(): number {
    return this.#queue.length;
  }

  get isShutDown(): boolean {
    return this.#isShutDown;
  }

  /** Stops handing out keys: waiting workers get null, delayed keys are dropped. */
  shutDown(): void {
    this.#isShutDown = true;
    for (const { cancel } of this.#delayed.values()) cancel();
    this.#delayed.clear();
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w(null);
  }
}
