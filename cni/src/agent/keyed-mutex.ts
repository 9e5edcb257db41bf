/**
 * Runs work one at a time per key, in arrival order; different keys run side
 * by side. The agent uses it twice: per container (a retried ADD waits for the
 * first instead of racing it) and around IPAM (requests on one node never
 * race each other's compare-and-swap).
 */
export class KeyedMutex {
  readonly #tails = new Map<string, Promise<void>>();

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => done);
    this.#tails.set(key, tail);
    await previous;
    try {
      return await work();
    } finally {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }

  /** Keys with work running or waiting. */
  get busyKeys(): number {
    return this.#tails.size;
  }
}
