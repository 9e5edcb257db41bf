import { describe, expect, it } from 'vitest';
import type { IpFamily } from '../../../lib/cidr.js';
import { ROUTE_METRIC, ROUTE_PROTOCOL } from '../../../lib/contract.js';
import type { IpRoute } from '../../../lib/kernel/ip-json.js';
import { FakeClock } from '../session/clock.js';
import { RouteTable } from './route-table.js';
import type { KernelRoute } from './routes.js';

/** A kernel that understands just `route replace X via G proto P metric M` and `route del X proto P metric M`. */
function fakeKernel() {
  const routes = new Map<string, IpRoute>();
  const batches: string[][] = [];
  let failNext = 0;
  return {
    routes,
    batches,
    failTimes(n: number) {
      failNext = n;
    },
    ip: {
      async routes(family: IpFamily, query: { protocol?: number } = {}): Promise<IpRoute[]> {
        return [...routes.values()].filter((r) => r.family === family && (query.protocol === undefined || r.protocol === query.protocol));
      },
      async batch(commands: readonly string[]): Promise<void> {
        batches.push([...commands]);
        if (failNext > 0) {
          failNext--;
          throw new Error('RTNETLINK answers: Network is unreachable');
        }
        for (const line of commands) {
          const words = line.split(' ');
          if (words[1] === 'replace') {
            const isBlackhole = words[2] === 'blackhole';
            const dst = isBlackhole ? (words[3] as string) : (words[2] as string);
            const via = words.indexOf('via');
            routes.set(dst, {
              family: 4,
              dst,
              gateway: via < 0 ? null : (words[via + 1] as string),
              dev: null,
              type: isBlackhole ? 6 : 1,
              table: 254,
              protocol: Number(words[words.indexOf('proto') + 1]),
              scope: 0,
              metric: Number(words[words.indexOf('metric') + 1]),
              prefsrc: null,
              flags: [],
              nexthops: [],
            });
          } else {
            routes.delete(words[2] === 'blackhole' ? (words[3] as string) : (words[2] as string));
          }
        }
      },
    },
  };
}

const via = (dst: string, gateway: string): KernelRoute => ({ dst, type: 'unicast', gateway, dev: null, isOnlink: false, protocol: ROUTE_PROTOCOL, metric: ROUTE_METRIC });

describe('RouteTable', () => {
  it('a second apply with the same desired state runs no batch', async () => {
    const k = fakeKernel();
    const table = new RouteTable({ ip: k.ip, clock: new FakeClock(), families: [4] });
    table.setDesired([via('10.244.2.0/26', '10.0.0.2'), via('10.244.3.0/26', '10.0.0.3')]);
    expect(await table.apply()).toHaveLength(2);
    expect(table.isDirty).toBe(false);
    expect(await table.apply()).toEqual([]);
    expect(k.batches).toHaveLength(1);
  });

  it('adds come before deletions, and only our protocol’s routes are read', async () => {
    const k = fakeKernel();
    const table = new RouteTable({ ip: k.ip, clock: new FakeClock(), families: [4] });
    table.setDesired([via('10.244.2.0/26', '10.0.0.2')]);
    await table.apply();
    k.routes.set('192.168.0.0/16', { ...(k.routes.get('10.244.2.0/26') as IpRoute), dst: '192.168.0.0/16', protocol: 4 });
    table.setDesired([via('10.244.3.0/26', '10.0.0.3')]);
    expect(await table.apply()).toEqual([
      `route replace 10.244.3.0/26 via 10.0.0.3 proto ${ROUTE_PROTOCOL} metric ${ROUTE_METRIC}`,
      `route del 10.244.2.0/26 proto ${ROUTE_PROTOCOL} metric ${ROUTE_METRIC}`,
    ]);
    expect([...k.routes.keys()].sort()).toEqual(['10.244.3.0/26', '192.168.0.0/16']);
  });

  it('a failed apply stays dirty and is retried with back-off until it succeeds', async () => {
    const k = fakeKernel();
    const clock = new FakeClock();
    const applied: (readonly string[])[] = [];
    const table = new RouteTable({ ip: k.ip, clock, families: [4], coalesceMs: 10, initialRetryMs: 100, onApplied: (c) => applied.push(c) });
    k.failTimes(2);
    table.setDesired([via('10.244.2.0/26', '10.0.0.2')]);
    const settle = async () => {
      for (let i = 0; i < 5; i++) await Promise.resolve();
    };
    await clock.advance(10, settle);
    expect(k.batches).toHaveLength(1);
    expect(table.isDirty).toBe(true);
    await clock.advance(99, settle);
    expect(k.batches).toHaveLength(1); // not before the back-off
    await clock.advance(1, settle);
    expect(k.batches).toHaveLength(2); // second failure: next try after 200 ms
    await clock.advance(200, settle);
    expect(k.batches).toHaveLength(3);
    expect(table.isDirty).toBe(false);
    expect(table.consecutiveFailures).toBe(0);
    expect(applied).toHaveLength(1);
    expect(k.routes.has('10.244.2.0/26')).toBe(true);
  });

  it('gives up after maxConsecutiveFailures and says so', async () => {
    const k = fakeKernel();
    const clock = new FakeClock();
    const fatal: unknown[] = [];
    const table = new RouteTable({ ip: k.ip, clock, families: [4], coalesceMs: 1, initialRetryMs: 1, maxRetryMs: 1, maxConsecutiveFailures: 3, onFatal: (e) => fatal.push(e) });
    k.failTimes(100);
    table.setDesired([via('10.244.2.0/26', '10.0.0.2')]);
    await clock.advance(10, async () => {
      for (let i = 0; i < 5; i++) await Promise.resolve();
    });
    expect(fatal.length).toBeGreaterThanOrEqual(1);
    table.stop();
  });
});

describe('RouteTable with tunnel devices', () => {
  it('brings the tunnels in line before routes, and leaves out routes through a device that cannot exist', async () => {
    const k = fakeKernel();
    const order: string[] = [];
    const tunnels = {
      async ensure() {
        order.push(`tunnels (routes batches so far: ${k.batches.length})`);
        return new Set(['tunl0']);
      },
    };
    const table = new RouteTable({ ip: k.ip, clock: new FakeClock(), families: [4], tunnels });
    const ipip: KernelRoute = { ...via('10.244.3.0/26', '10.0.1.3'), dev: 'tunl0', isOnlink: true };
    table.setDesired([via('10.244.2.0/26', '10.0.0.2'), ipip]);
    expect(await table.apply()).toEqual([`route replace 10.244.2.0/26 via 10.0.0.2 proto ${ROUTE_PROTOCOL} metric ${ROUTE_METRIC}`]);
    expect(order).toEqual(['tunnels (routes batches so far: 0)']);
  });
});

describe('RouteTable deletions on hold', () => {
  it('keeps routes no longer desired until deletions are allowed', async () => {
    const k = fakeKernel();
    const table = new RouteTable({ ip: k.ip, clock: new FakeClock(), families: [4] });
    table.setDesired([via('10.244.2.0/26', '10.0.0.2')]);
    await table.apply();
    table.setDeletionsAllowed(false);
    table.setDesired([via('10.244.3.0/26', '10.0.0.3')]);
    await table.apply();
    expect([...k.routes.keys()].sort()).toEqual(['10.244.2.0/26', '10.244.3.0/26']);
    table.setDeletionsAllowed(true);
    expect(table.isDirty).toBe(true);
    await table.apply();
    expect([...k.routes.keys()]).toEqual(['10.244.3.0/26']);
  });
});
