import { describe, expect, it } from 'vitest';
import { BlockStore } from '../../../cni/src/ipam/block-store.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import { createMemoryDatastore } from '../../../lib/datastore/memory.js';
import { ensureTunnelAddresses, planTunnelAddresses } from './tunnel-addresses.js';

const pool = (name: string, cidr: string, spec: Record<string, unknown> = {}) => ({ apiVersion: 'crd.tortie.dev/v1', kind: 'IPPool', metadata: { name }, spec: { cidr, blockSize: 26, ipipMode: 'Never', vxlanMode: 'Never', nodeSelector: 'all()', ...spec } });
const node = (spec: Record<string, unknown> = {}, labels: Record<string, string> = {}) => ({ apiVersion: 'crd.tortie.dev/v1', kind: 'Node', metadata: { name: 'n1', labels }, spec: { bgp: { ipv4Address: '192.0.2.10/24' }, ...spec } });

describe('planTunnelAddresses', () => {
  it('allocates for a VXLAN or IPIP pool that selects the node, keeps an address inside it, releases when no pool asks', () => {
    const vx = pool('vx', '10.244.0.0/16', { vxlanMode: 'CrossSubnet' });
    expect(planTunnelAddresses('n1', node(), [vx]).map((p) => [p.kind, p.action])).toEqual([['vxlan', 'allocate'], ['ipip', 'keep']]);
    expect(planTunnelAddresses('n1', node({ ipv4VXLANTunnelAddr: '10.244.3.0' }), [vx])[0]?.action).toBe('keep');
    expect(planTunnelAddresses('n1', node({ ipv4VXLANTunnelAddr: '10.99.0.1' }), [vx])[0]?.action).toBe('allocate');
    expect(planTunnelAddresses('n1', node({ ipv4VXLANTunnelAddr: '10.244.3.0' }), [pool('vx', '10.244.0.0/16')])[0]?.action).toBe('release');
    expect(planTunnelAddresses('n1', node(), [pool('ip', '10.245.0.0/16', { ipipMode: 'Always' })])[1]).toMatchObject({ kind: 'ipip', action: 'allocate', handleId: 'ipip-tunnel-addr-n1' });
  });

  it('ignores pools that are disabled, IPv6, not for tunnels, or do not select the node', () => {
    const pools = [
      pool('off', '10.1.0.0/16', { vxlanMode: 'Always', disabled: true }),
      pool('v6', 'fd00::/48', { vxlanMode: 'Always' }),
      pool('work', '10.2.0.0/16', { vxlanMode: 'Always', allowedUses: ['Workload'] }),
      pool('rack-b', '10.3.0.0/16', { vxlanMode: 'Always', nodeSelector: "rack == 'b'" }),
    ];
    expect(planTunnelAddresses('n1', node({}, { rack: 'a' }), pools)[0]).toMatchObject({ action: 'keep', pools: [] });
    expect(planTunnelAddresses('n1', node({}, { rack: 'b' }), pools)[0]).toMatchObject({ action: 'allocate', pools: [{ name: 'rack-b' }] });
  });
});

describe('ensureTunnelAddresses', () => {
  it('takes an address of the node\'s block under its handle, names it with a MAC, keeps it, and releases it when the pool stops asking', async () => {
    const ds = createMemoryDatastore();
    try {
      await ds.create(Kinds.IPPool, pool('vx', '10.244.0.0/16', { vxlanMode: 'Always' }));
      await ds.create(Kinds.Node, node());
      const [vxlan] = await ensureTunnelAddresses(ds, 'n1');
      expect(vxlan).toMatchObject({ kind: 'vxlan', action: 'allocate', address: expect.stringMatching(/^10\.244\./) });
      const stored = await ds.get(Kinds.Node, 'n1');
      expect(stored?.spec).toMatchObject({ ipv4VXLANTunnelAddr: vxlan?.address, vxlanTunnelMACAddr: expect.stringMatching(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/) });
      const store = new BlockStore(ds);
      expect((await store.addressesOfHandle('vxlan-tunnel-addr-n1')).ipv4).toEqual([vxlan?.address]);

      expect((await ensureTunnelAddresses(ds, 'n1'))[0]).toMatchObject({ action: 'keep', address: vxlan?.address });

      const p = (await ds.get(Kinds.IPPool, 'vx'))!;
      await ds.update(Kinds.IPPool, { ...p, spec: { ...(p.spec as object), vxlanMode: 'Never' } });
      expect((await ensureTunnelAddresses(ds, 'n1'))[0]).toMatchObject({ action: 'release' });
      expect((await ds.get(Kinds.Node, 'n1'))?.spec).not.toHaveProperty('ipv4VXLANTunnelAddr');
      expect(await store.getHandle('vxlan-tunnel-addr-n1')).toBeNull();
    } finally {
      await ds.close();
    }
  });

  it('after a start that died between the allocation and the Node write, reuses the address its handle holds', async () => {
    const ds = createMemoryDatastore();
    try {
      await ds.create(Kinds.IPPool, pool('ip', '10.245.0.0/16', { ipipMode: 'Always' }));
      await ds.create(Kinds.Node, node());
      const store = new BlockStore(ds);
      const taken = await store.autoAssign({ handleId: 'ipip-tunnel-addr-n1', node: 'n1', pools: [{ name: 'ip', spec: { cidr: '10.245.0.0/16' } }], num4: 1, num6: 0, attributes: null });
      const [, ipip] = await ensureTunnelAddresses(ds, 'n1');
      expect(ipip).toMatchObject({ action: 'allocate', address: taken.ipv4[0] });
      expect((await ds.get(Kinds.Node, 'n1'))?.spec).toMatchObject({ bgp: { ipv4Address: '192.0.2.10/24', ipv4IPIPTunnelAddr: taken.ipv4[0] } });
    } finally {
      await ds.close();
    }
  });
});
