import { describe, expect, it } from 'vitest';
import { ibgpPeer, path, peer } from '../rib/paths.test-helpers.js';
import { planKernelRoutes, planRouteChanges, renderRouteBatch } from './routes.js';

// A node (192.168.1.10) with two blocks, in a cluster spread over two subnets behind a ToR:
// pool A uses IPIP CrossSubnet, pool B VXLAN Always, pool C no encapsulation, plus the ToR's
// default route and a node on another subnet reached through it. Review diffs like code.
describe('a whole kernel plan', () => {
  it('renders the first apply of a mixed cluster as one batch', async () => {
    const node2 = ibgpPeer('192.168.1.11');
    const node3 = ibgpPeer('192.168.2.12');
    const node6 = ibgpPeer('fd00:2::12');
    const tor = peer('192.168.1.1', { asn: 65001 });
    const bests = [
      path('10.244.1.0/26', node2),
      path('10.244.2.0/26', node3),
      path('10.244.0.77/32', node3),
      path('10.245.1.0/26', node2),
      path('10.245.2.0/26', node3),
      path('10.246.2.0/26', node3),
      path('192.168.2.0/24', tor),
      path('0.0.0.0/0', tor),
      path('fd00:244:0:2::/122', node6),
      path('fd00:2::/64', tor, {}, { nextHop: 'fd00:1::1' }),
      path('10.244.0.0/26', null),
    ];
    const desired = planKernelRoutes(bests, {
      localBlocks: ['10.244.0.0/26', '10.244.0.64/26', 'fd00:244::/122'],
      nodeAddress: { ipv4: '192.168.1.10', ipv6: 'fd00:1::10' },
      localSubnets: ['192.168.1.0/24', 'fd00:1::/64'],
      pools: [
        { cidr: '10.244.0.0/16', ipipMode: 'CrossSubnet', vxlanMode: 'Never' },
        { cidr: '10.245.0.0/16', ipipMode: 'Never', vxlanMode: 'Always' },
        { cidr: '10.246.0.0/16', ipipMode: 'Never', vxlanMode: 'Never' },
        { cidr: 'fd00:244::/48', ipipMode: 'Never', vxlanMode: 'Never' },
      ],
      vxlanTunnelAddresses: new Map([['192.168.2.12', '10.245.2.0']]),
    });
    const lines = renderRouteBatch(planRouteChanges(desired, []));
    await expect(`${lines.join('\n')}\n`).toMatchFileSnapshot('fixtures/mixed-cluster.batch');
    expect(planRouteChanges(desired, desired)).toEqual({ replace: [], delete: [] });
  });
});
