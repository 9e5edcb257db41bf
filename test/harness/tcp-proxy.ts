import { createServer, connect, type Socket } from 'node:net';

/**
 * A loopback TCP proxy whose connections a test can cut: it makes "the
 * network between client and server went away" real without root, so a
 * client's reconnect and resume logic runs for real.
 */
export interface TcpProxy {
  /** `127.0.0.1:<port>` */
  address: string;
  port: number;
  /** Destroys every open connection and refuses new ones until `restore()`. */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const open = new Set<Socket>();
  let isCut = false;
  const server = createServer((inbound) => {
    if (isCut) {
      inbound.destroy();
      return;
    }
    const outbound = connect(targetPort, targetHost);
    open.add(inbound);
    open.add(outbound);
    const drop = (): void => {
      inbound.destroy();
      outbound.destroy();
      open.delete(inbound);
      open.delete(outbound);
    };
    // Errors on either side just end the pair; the client sees a reset, as it would on a real network.
    inbound.on('error', drop);
    outbound.on('error', drop);
    inbound.on('close', drop);
    outbound.on('close', drop);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const cutAll = (): void => {
    for (const socket of open) socket.destroy();
    open.clear();
  };
  return {
    address: `127.0.0.1:${port}`,
    port,
    cut() {
      isCut = true;
      cutAll();
    },
    restore() {
      isCut = false;
    },
    close() {
      cutAll();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
