import { describe, expect, it } from 'vitest';
import { IPIP_DEVICE, ROUTE_PROTOCOL, VXLAN_DEVICE } from '../../../lib/contract.js';
import { parseRoutes } from '../../../lib/kernel/ip-json.js';
import { ibgpPeer, path, peer } from '../rib/paths.test-helpers.js';
import type { Path } from '../rib/path.js';
import { isSameRoute, kernelRouteFromIp, ROUTE_METRIC, planKernelRoutes, planRouteChanges, renderRouteBatch, type EncapsulationMode, type KernelRoute, type RoutingContext } from './routes.js';

const NODE2 = ibgpPeer('192.168.1.11');
const NODE3 = ibgpPeer('192.168.2.12');
const TOR = peer('192.168.1.1', { asn: 65001 });

const context = (ipipMode: EncapsulationMode = 'Never', vxlanMode: EncapsulationMode = 'Never', over: Partial<RoutingContext> = {}): RoutingContext => ({
  localBlocks: ['10.244.0.0/26'],
  nodeAddress: { ipv4: '192.168.1.10', ipv6: 'fd00::10' },
  localSubnets: ['192.168.1.0/24', 'fd00::/64'],
  pools: [{ cidr: '10.244.0.0/16', ipipMode, vxlanMode }],
  ...over,
});
const r = (dst: string, over: Partial<KernelRoute> = {}): KernelRoute => ({ dst, type: 'unicast', gateway: null, dev: null, isOnlink: false, protocol: ROUTE_PROTOCOL, metric: ROUTE_METRIC, ...over });
const samePeer = path('10.244.1.0/26', NODE2);
const otherSubnet = path('10.244.2.0/26', NODE3);

type Row = [string, Path, RoutingContext, KernelRoute | null];
const rows: Row[] = [
  ['plain routing: via the next hop on our subnet', samePeer, context(), r('10.244.1.0/26', { gateway: '192.168.1.11' })],
  ['IPIP Always: via the next hop dev tunl0 onlink', samePeer, context('Always'), r('10.244.1.0/26', { gateway: '192.168.1.11', dev: IPIP_DEVICE, isOnlink: true })],
  ['IPIP CrossSubnet, same subnet: plain', samePeer, context('CrossSubnet'), r('10.244.1.0/26', { gateway: '192.168.1.11' })],
  ['IPIP CrossSubnet, other subnet: tunl0', otherSubnet, context('CrossSubnet'), r('10.244.2.0/26', { gateway: '192.168.2.12', dev: IPIP_DEVICE, isOnlink: true })],
  ['VXLAN Always: via the node address dev vxlan onlink', samePeer, context('Never', 'Always'), r('10.244.1.0/26', { gateway: '192.168.1.11', dev: VXLAN_DEVICE, isOnlink: true })],
  ['VXLAN CrossSubnet, other subnet, via its tunnel address', otherSubnet, context('Never', 'CrossSubnet', { vxlanTunnelAddresses: new Map([['192.168.2.12', '10.244.2.0']]) }), r('10.244.2.0/26', { gateway: '10.244.2.0', dev: VXLAN_DEVICE, isOnlink: true })],
  ['VXLAN CrossSubnet, same subnet: plain', samePeer, context('Never', 'CrossSubnet'), r('10.244.1.0/26', { gateway: '192.168.1.11' })],
  ['IPIP Always to a next hop that is not a tortie node (a ToR): plain', path('10.244.1.0/26', TOR), context('Always', 'Never', { nodeAddresses: new Set(['192.168.1.11']) }), r('10.244.1.0/26', { gateway: '192.168.1.1' })],
  ['IPIP Always to a known node', samePeer, context('Always', 'Never', { nodeAddresses: new Set(['192.168.1.11']) }), r('10.244.1.0/26', { gateway: '192.168.1.11', dev: IPIP_DEVICE, isOnlink: true })],
  ['a prefix outside every pool is routed plainly whatever the pool says', path('172.16.0.0/12', TOR), context('Always'), r('172.16.0.0/12', { gateway: '192.168.1.1' })],
  ['IPv6 is never IPIP', path('fd00:244::/122', ibgpPeer('fd00::11')), context('Always', 'Never', { pools: [{ cidr: 'fd00:244::/64', ipipMode: 'Always', vxlanMode: 'Never' }] }), r('fd00:244::/122', { gateway: 'fd00::11' })],
  ['a plain next hop on no subnet of ours and not resolvable is left out', otherSubnet, context(), null],
  ['our own paths are not programmed (the CNI plugin routes to our pods)', path('10.244.0.5/32', null), context(), null],
  ['a path whose next hop is us is not programmed', path('10.244.9.0/26', NODE2, {}, { nextHop: '192.168.1.10' }), context(), null],
];

describe('planKernelRoutes', () => {
  it.each(rows)('%s', (_name, best, ctx, expected) => {
    const routes = planKernelRoutes([best], ctx).filter((x) => x.type !== 'blackhole');
    expect(routes).toEqual(expected === null ? [] : [expected]);
  });

  it('blackholes each of our own blocks, and a learned path to one of them does not replace it', () => {
    const routes = planKernelRoutes([path('10.244.0.0/26', NODE2), path('10.244.0.7/32', NODE2)], context('Never', 'Never', { localBlocks: ['10.244.0.0/26', '10.244.0.64/26'] }));
    expect(routes).toEqual([
      r('10.244.0.0/26', { type: 'blackhole' }),
      r('10.244.0.64/26', { type: 'blackhole' }),
      r('10.244.0.7/32', { gateway: '192.168.1.11' }),
    ]);
  });

  it('resolves a next hop behind a router through the route that reaches it', () => {
    const viaTor = path('192.168.2.0/24', TOR);
    expect(planKernelRoutes([otherSubnet, viaTor], context())).toContainEqual(r('10.244.2.0/26', { gateway: '192.168.1.1' }));
  });
});

describe('planRouteChanges', () => {
  const desired = planKernelRoutes([samePeer, otherSubnet], context('CrossSubnet'));

  it('is idempotent: planning with actual = desired gives no changes', () => {
    expect(planRouteChanges(desired, desired)).toEqual({ replace: [], delete: [] });
  });

  it('accepts what the kernel reads back (device filled in, other text forms)', () => {
    const stdout = JSON.stringify([
      { type: '6', dst: '10.244.0.0/26', metric: 32, flags: [] },
      { dst: '10.244.1.0/26', gateway: '192.168.1.11', dev: 'eth0', metric: 32, flags: [] },
      { dst: '10.244.2.0/26', gateway: '192.168.2.12', dev: 'tunl0', metric: 32, flags: ['onlink'] },
    ]);
    const actual = parseRoutes(stdout, 4, { protocol: ROUTE_PROTOCOL }).map(kernelRouteFromIp);
    expect(planRouteChanges(desired, actual)).toEqual({ replace: [], delete: [] });
  });

  it('replaces a changed route, adds a new one and deletes a gone one', () => {
    const actual = [r('10.244.1.0/26', { gateway: '192.168.1.99' }), r('10.244.7.0/26', { gateway: '192.168.1.7' }), r('10.244.0.0/26', { type: 'blackhole' })];
    const changes = planRouteChanges(desired, actual);
    expect(changes.replace.map((x) => x.dst)).toEqual(['10.244.1.0/26', '10.244.2.0/26']);
    expect(changes.delete.map((x) => x.dst)).toEqual(['10.244.7.0/26']);
  });

  it('moves a route of ours left at another metric (an older version) by adding the new one and deleting the old', () => {
    const old = r('10.244.1.0/26', { gateway: '192.168.1.11', metric: 0 });
    const changes = planRouteChanges(desired, [...desired.filter((x) => x.dst !== old.dst), old]);
    expect(changes).toEqual({ replace: [desired.find((x) => x.dst === old.dst)], delete: [old] });
    expect(renderRouteBatch(changes)).toEqual([`route replace 10.244.1.0/26 via 192.168.1.11 proto ${ROUTE_PROTOCOL} metric 32`, `route del 10.244.1.0/26 proto ${ROUTE_PROTOCOL} metric 0`]);
  });

  it('never deletes or compares a route with another protocol', () => {
    const foreign = { ...r('10.9.0.0/24', { gateway: '192.168.1.1' }), protocol: 4 };
    expect(planRouteChanges(desired, [...desired, foreign])).toEqual({ replace: [], delete: [] });
  });

  it.each([
    ['a different onlink flag', r('x', { gateway: '1.1.1.1', isOnlink: true }), r('x', { gateway: '1.1.1.1' }), false],
    ['a different device when one is wanted', r('x', { gateway: '1.1.1.1', dev: 'tunl0' }), r('x', { gateway: '1.1.1.1', dev: 'eth0' }), false],
    ['any device when none is wanted', r('x', { gateway: '1.1.1.1' }), r('x', { gateway: '1.1.1.1', dev: 'eth0' }), true],
    ['IPv6 gateways in different text', r('x', { gateway: 'fd00:0::1' }), r('x', { gateway: 'fd00::1' }), true],
    ['blackhole against unicast', r('x', { type: 'blackhole' }), r('x', { gateway: '1.1.1.1' }), false],
    ['another metric', r('x', { gateway: '1.1.1.1' }), r('x', { gateway: '1.1.1.1', metric: 1024 }), false],
  ])('isSameRoute: %s', (_name, d, a, same) => {
    expect(isSameRoute(d, a)).toBe(same);
  });
});

describe('renderRouteBatch', () => {
  it('renders replacements before deletions, each stamped with our protocol', () => {
    const lines = renderRouteBatch({
      replace: [
        r('10.244.0.0/26', { type: 'blackhole' }),
        r('10.244.1.0/26', { gateway: '192.168.1.11' }),
        r('10.244.2.0/26', { gateway: '192.168.2.12', dev: 'tunl0', isOnlink: true }),
        r('fd00:244::/122', { gateway: 'fd00::11' }),
      ],
      delete: [r('10.244.7.0/26', { gateway: '192.168.1.7', dev: 'eth0' }), r('10.244.8.0/26', { type: 'blackhole' })],
    });
    expect(lines).toEqual([
      `route replace blackhole 10.244.0.0/26 proto ${ROUTE_PROTOCOL} metric 32`,
      `route replace 10.244.1.0/26 via 192.168.1.11 proto ${ROUTE_PROTOCOL} metric 32`,
      `route replace 10.244.2.0/26 via 192.168.2.12 dev tunl0 onlink proto ${ROUTE_PROTOCOL} metric 32`,
      `route replace fd00:244::/122 via fd00::11 proto ${ROUTE_PROTOCOL} metric 32`,
      `route del 10.244.7.0/26 proto ${ROUTE_PROTOCOL} metric 32`,
      `route del blackhole 10.244.8.0/26 proto ${ROUTE_PROTOCOL} metric 32`,
    ]);
  });

  it('renders nothing for no changes', () => {
    expect(renderRouteBatch({ replace: [], delete: [] })).toEqual([]);
  });
});
