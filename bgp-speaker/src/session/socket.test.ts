/** The real node:net edge on loopback: two sessions over TCP, each with a system clock. */
import { afterEach, describe, expect, it } from 'vitest';
import { sessionConfig } from '../fsm/state.js';
import { systemClock } from './clock.js';
import { acceptInbound, Session } from './driver.js';
import { listenBgp, tcpDialer, type BgpListener } from './socket.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function until(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('sessions over loopback TCP', () => {
  it('reach Established and stop cleanly', async () => {
    const passive = new Session({
      config: sessionConfig({ localAsn: 65002, peerAsn: 65001, bgpIdentifier: '192.0.2.2', isPassive: true }),
      peerAddress: '127.0.0.1',
      dialer: tcpDialer(),
      clock: systemClock(),
    });
    const listener: BgpListener = await listenBgp({ host: '127.0.0.1', port: 0 }, (conn) => acceptInbound([passive], conn));
    cleanups.push(() => listener.close());
    passive.start();
    const received: string[] = [];
    const active = new Session({
      config: sessionConfig({ localAsn: 65001, peerAsn: 65002, bgpIdentifier: '192.0.2.1' }),
      peerAddress: '127.0.0.1',
      peerPort: listener.port,
      localAddress: '127.0.0.1',
      dialer: tcpDialer(),
      clock: systemClock(),
      handlers: { onStateChange: (c) => received.push(c.notification?.text ?? '') },
    });
    cleanups.push(() => active.stop(), () => passive.stop());
    active.start();
    await until('Established', () => active.state === 'Established' && passive.state === 'Established');
    await passive.stop('bye');
    await until('Idle', () => active.state === 'Idle');
    expect(received.at(-1)).toBe('Cease/AdministrativeShutdown "bye"');
  });
});
