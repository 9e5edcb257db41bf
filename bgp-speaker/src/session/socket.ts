/**
 * The session's TCP edge (node:net), behind two narrow interfaces so tests can
 * pass in-memory connections instead: `BgpConnection` (one byte stream) and
 * `Dialer` (active open, with an optional local address). `listenBgp` is the
 * passive side on a given address and port (179, or a test port).
 */
import { createServer, Socket, type Server } from 'node:net';

export interface ConnectionHandlers {
  onData(chunk: Uint8Array): void;
  /** The connection is gone (peer closed, reset, or error); `error` says why when known. */
  onClose(error?: Error): void;
}

export interface BgpConnection {
  readonly localAddress: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Bytes written but not yet taken by the kernel: a peer that stops reading makes this grow. */
  readonly pendingWriteBytes: number;
  /** Installs the handlers; data that arrived before is delivered after this call. */
  attach(handlers: ConnectionHandlers): void;
  write(bytes: Uint8Array): void;
  /** Flush what was written, then close; resolves once closed. Handlers are not called any more. */
  close(): Promise<void>;
  /** Close at once, dropping unsent bytes. Handlers are not called any more. */
  destroy(): void;
}

export interface DialTarget {
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Source address of the connection (the node's BGP address). */
  readonly localAddress?: string | undefined;
}

export interface Dialer {
  /** Resolves with a connected connection, rejects when it cannot connect or `signal` aborts. */
  dial(target: DialTarget, signal: AbortSignal): Promise<BgpConnection>;
}

export const BGP_PORT = 179;
/** After close(), a connection that does not finish closing is destroyed after this long. */
const CLOSE_GRACE_MS = 2_000;

/** Wraps a connected node:net socket. */
export function socketConnection(socket: Socket): BgpConnection {
  socket.setNoDelay(true);
  let handlers: ConnectionHandlers | null = null;
  let early: Uint8Array[] = [];
  let earlyClose: { error?: Error } | null = null;
  let isDetached = false;
  let lastError: Error | undefined;
  let isCorked = false;
  socket.on('data', (chunk: Buffer) => {
    const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (isDetached) return;
    if (handlers === null) early.push(bytes);
    else handlers.onData(bytes);
  });
  socket.on('error', (err) => {
    lastError = err;
  });
  socket.on('close', () => {
    if (isDetached) return;
    const why = lastError === undefined ? {} : { error: lastError };
    if (handlers === null) earlyClose = why;
    else handlers.onClose(why.error);
  });
  const detach = () => {
    isDetached = true;
    handlers = null;
    early = [];
  };
  return {
    localAddress: socket.localAddress ?? '',
    remoteAddress: socket.remoteAddress ?? '',
    remotePort: socket.remotePort ?? 0,
    get pendingWriteBytes() {
      return socket.writableLength;
    },
    attach(h) {
      handlers = h;
      const pending = early;
      early = [];
      for (const chunk of pending) if (handlers === h) h.onData(chunk);
      if (earlyClose !== null && handlers === h) h.onClose(earlyClose.error);
    },
    write(bytes) {
      if (socket.destroyed || !socket.writable) return;
      // Messages written in one turn of the event loop (an UPDATE burst) leave in one writev.
      if (!isCorked) {
        isCorked = true;
        socket.cork();
        process.nextTick(() => {
          isCorked = false;
          socket.uncork();
        });
      }
      socket.write(bytes);
    },
    close() {
      detach();
      if (socket.destroyed) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
        timer.unref();
        socket.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        socket.end();
      });
    },
    destroy() {
      detach();
      socket.destroy();
    },
  };
}

/** The production dialer: node:net, from `localAddress` when given. */
export function tcpDialer(): Dialer {
  return {
    dial(target, signal) {
      return new Promise((resolve, reject) => {
        if (signal.aborted) {
          reject(new Error('dial aborted'));
          return;
        }
        const socket = new Socket();
        const onAbort = () => {
          socket.destroy();
          reject(new Error('dial aborted'));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        socket.once('error', (err) => {
          signal.removeEventListener('abort', onAbort);
          socket.destroy();
          reject(err);
        });
        socket.connect({ host: target.remoteAddress, port: target.remotePort, ...(target.localAddress === undefined ? {} : { localAddress: target.localAddress }) }, () => {
          signal.removeEventListener('abort', onAbort);
          socket.removeAllListeners('error');
          resolve(socketConnection(socket));
        });
      });
    },
  };
}

export interface BgpListener {
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Accepts BGP connections on `host:port` (port 0 picks one); each goes to `onConnection`. */
export function listenBgp(options: { host: string; port: number }, onConnection: (conn: BgpConnection) => void): Promise<BgpListener> {
  const server: Server = createServer({ noDelay: true }, (socket) => onConnection(socketConnection(socket)));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host, port: options.port }, () => {
      server.removeListener('error', reject);
      const addr = server.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : options.port;
      resolve({
        address: options.host,
        port,
        close: () => new Promise<void>((res) => server.close(() => res())),
      });
    });
  });
}
