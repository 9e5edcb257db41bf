/**
 * Two `BgpConnection`s joined back to back in memory, for tests. Bytes are
 * delivered on a later microtask, as a socket would, so a session never
 * re-enters itself. `settle()` waits until nothing is in flight.
 */
import type { BgpConnection, ConnectionHandlers, Dialer } from './socket.js';

interface End {
  handlers: ConnectionHandlers | null;
  early: Uint8Array[];
  isClosed: boolean;
  /** The other end closed before this end had handlers. */
  isClosePending: boolean;
  /** Bytes written by the other end that this end does not read (see `setReading`). */
  held: Uint8Array[];
  isReading: boolean;
}

export interface MemoryPair {
  readonly a: BgpConnection;
  readonly b: BgpConnection;
  /** Stop or resume reading on one end: the other end's pendingWriteBytes then grows. */
  setReading(end: 'a' | 'b', isReading: boolean): void;
  readonly isOpen: boolean;
}

let inFlight = 0;

/** Resolves once no in-memory delivery is pending (and timers of 0 ms ran). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 10_000; i++) {
    await new Promise<void>((r) => setImmediate(r));
    if (inFlight === 0) return;
  }
  throw new Error('in-memory connections never settled');
}

export function memoryPair(addresses: { a: string; b: string } = { a: '192.0.2.1', b: '192.0.2.2' }): MemoryPair {
  const ends: Record<'a' | 'b', End> = {
    a: { handlers: null, early: [], isClosed: false, isClosePending: false, held: [], isReading: true },
    b: { handlers: null, early: [], isClosed: false, isClosePending: false, held: [], isReading: true },
  };
  let isOpen = true;
  const later = (fn: () => void) => {
    inFlight++;
    queueMicrotask(() => {
      inFlight--;
      fn();
    });
  };
  const deliver = (to: End, bytes: Uint8Array) => {
    if (to.isClosed) return;
    if (to.handlers === null) to.early.push(bytes);
    else to.handlers.onData(bytes);
  };
  const shut = (to: End) => {
    if (to.isClosed) return;
    if (to.handlers === null) {
      to.isClosePending = true;
      return;
    }
    to.isClosed = true;
    to.handlers?.onClose();
  };
  const make = (self: 'a' | 'b'): BgpConnection => {
    const me = ends[self];
    const other = ends[self === 'a' ? 'b' : 'a'];
    return {
      localAddress: addresses[self],
      remoteAddress: addresses[self === 'a' ? 'b' : 'a'],
      remotePort: 179,
      get pendingWriteBytes() {
        return other.held.reduce((n, c) => n + c.length, 0);
      },
      attach(h) {
        me.handlers = h;
        const early = me.early.splice(0);
        later(() => {
          for (const chunk of early) if (!me.isClosed) h.onData(chunk);
          if (me.isClosePending) shut(me);
        });
      },
      write(bytes) {
        if (!isOpen) return;
        const copy = bytes.slice();
        if (!other.isReading) {
          other.held.push(copy);
          return;
        }
        later(() => deliver(other, copy));
      },
      close() {
        me.handlers = null;
        me.isClosed = true;
        isOpen = false;
        later(() => shut(other));
        return Promise.resolve();
      },
      destroy() {
        other.held = [];
        void this.close();
      },
    };
  };
  return {
    a: make('a'),
    b: make('b'),
    setReading(end, isReading) {
      const e = ends[end];
      e.isReading = isReading;
      if (isReading) for (const chunk of e.held.splice(0)) later(() => deliver(e, chunk));
    },
    get isOpen() {
      return isOpen;
    },
  };
}

/**
 * A dialer for two in-memory speakers: dialing `remoteAddress` hands the far
 * end of a new pair to that address's `accept`, or fails (connection refused)
 * when nothing is registered.
 */
export class MemoryNetwork {
  private readonly listeners = new Map<string, (conn: BgpConnection) => void>();
  readonly pairs: MemoryPair[] = [];

  listen(address: string, accept: (conn: BgpConnection) => void): void {
    this.listeners.set(address, accept);
  }

  unlisten(address: string): void {
    this.listeners.delete(address);
  }

  dialerFrom(localAddress: string): Dialer {
    return {
      dial: async (target) => {
        await Promise.resolve();
        const accept = this.listeners.get(target.remoteAddress);
        if (accept === undefined) throw new Error(`connect ECONNREFUSED ${target.remoteAddress}:${target.remotePort}`);
        const pair = memoryPair({ a: localAddress, b: target.remoteAddress });
        this.pairs.push(pair);
        accept(pair.b);
        return pair.a;
      },
    };
  }
}
