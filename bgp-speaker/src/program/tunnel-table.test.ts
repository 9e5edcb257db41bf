import { describe, expect, it } from 'vitest';
import { TortieError } from '../../../lib/errors.js';
import type { IpAddress, IpLink } from '../../../lib/kernel/ip-json.js';
import { TunnelTable, type TunnelIp } from './tunnel-table.js';
import { DEFAULT_TUNNEL_SETTINGS, type TunnelModel } from './tunnels.js';

/** A kernel with an uplink eth0 (MTU 1500, 10.0.0.1) and no IPIP: `link add tunl0 type ipip` fails as it does here. */
function kernelWithoutIpip() {
  const links = new Map<string, IpLink>();
  const base: IpLink = { ifindex: 2, name: 'eth0', flags: ['UP'], isUp: true, mtu: 1500, operState: 'UP', macAddress: '02:00:00:00:00:01', kind: 'veth', peerIfindex: null, peerNetnsId: null, vxlan: null };
  links.set('eth0', base);
  const ipBatches: string[][] = [];
  const bridgeBatches: string[][] = [];
  const address: IpAddress = { ifindex: 2, ifname: 'eth0', family: 4, address: '10.0.0.1', prefixLength: 24, scope: 'global', isTentative: false, hasNoDad: false };
  const ip: TunnelIp = {
    links: async () => [...links.values()],
    link: async (name) => links.get(name) ?? null,
    addresses: async (q = {}) => (q.dev === undefined || q.dev === 'eth0' ? [address] : []),
    neighbours: async () => [],
    fdb: async () => [],
    routes: async () => [],
    async batch(lines) {
      if (lines.length === 0) return;
      ipBatches.push([...lines]);
      if (lines.some((l) => l.includes('type ipip'))) throw new TortieError('ERR_KERNEL', 'ip -batch - exited with 1: Error: Unknown device type.');
      for (const l of lines) if (l.startsWith('link add vxlan.tortie')) links.set('vxlan.tortie', { ...base, name: 'vxlan.tortie', kind: 'vxlan', isUp: false, mtu: 1500, vxlan: { id: 4096, local: '10.0.0.1', port: 4789, isLearning: false } });
    },
    async bridgeBatch(lines) {
      if (lines.length > 0) bridgeBatches.push([...lines]);
    },
  };
  return { ip, ipBatches, bridgeBatches, links };
}

const model = (ipipMode: 'Always' | 'Never', vxlanMode: 'Always' | 'Never'): TunnelModel => ({
  localNode: { name: 'node1', address: '10.0.0.1' },
  localSubnets: ['10.0.0.0/24'],
  pools: [{ name: 'default-ipv4-ippool', cidr: '10.244.0.0/16', ipipMode, vxlanMode }],
  peers: [{ name: 'node2', address: '10.0.0.2' }],
  settings: DEFAULT_TUNNEL_SETTINGS,
});

describe('TunnelTable', () => {
  it('on a kernel without IPIP: probes once, reports the pool not ready with the kernel option, and marks tunl0 unusable', async () => {
    const k = kernelWithoutIpip();
    const table = new TunnelTable({ ip: k.ip });
    table.setModel(model('Always', 'Never'));
    expect([...(await table.ensure())]).toEqual(['tunl0']);
    expect(k.ipBatches).toEqual([['link add tunl0 type ipip']]);
    const [status] = table.status();
    expect(status).toMatchObject({ name: 'tunl0', state: 'not-ready', pools: ['default-ipv4-ippool'] });
    expect(status?.error).toContain('CONFIG_NET_IPIP');
    // Detected once: a new model does not probe again.
    table.setModel({ ...model('Always', 'Never'), peers: [] });
    await table.ensure();
    expect(k.ipBatches).toHaveLength(1);
  });

  it('VXLAN: creates the device with MTU uplink - 50, then the FDB entries; nothing more while the model is unchanged', async () => {
    const k = kernelWithoutIpip();
    const table = new TunnelTable({ ip: k.ip });
    table.setModel(model('Never', 'Always'));
    expect(table.status()).toMatchObject([{ name: 'vxlan.tortie', state: 'pending' }]);
    expect(await table.ensure()).toEqual(new Set());
    expect(k.ipBatches[0]?.[0]).toBe('link add vxlan.tortie type vxlan id 4096 local 10.0.0.1 dstport 4789 nolearning');
    expect(k.ipBatches[0]?.[1]).toMatch(/^link set vxlan.tortie mtu 1450 address [0-9a-f:]+ up$/);
    expect(k.bridgeBatches).toEqual([[expect.stringMatching(/^fdb replace [0-9a-f:]+ dev vxlan.tortie dst 10.0.0.2 self permanent$/)]]);
    await table.ensure();
    expect(k.ipBatches).toHaveLength(1);
    expect(table.status()).toMatchObject([{ name: 'vxlan.tortie', state: 'ready', error: null }]);
  });

  it('resync() reads the kernel again and repairs a device someone removed; without it an unchanged model writes nothing', async () => {
    const k = kernelWithoutIpip();
    const table = new TunnelTable({ ip: k.ip });
    table.setModel(model('Never', 'Always'));
    await table.ensure();
    k.links.delete('vxlan.tortie');
    await table.ensure();
    expect(k.ipBatches).toHaveLength(1);
    table.resync();
    expect(table.status()).toMatchObject([{ state: 'ready' }]); // a repair is not a pending change
    await table.ensure();
    expect(k.ipBatches).toHaveLength(2);
    expect(k.ipBatches[1]?.[0]).toBe('link add vxlan.tortie type vxlan id 4096 local 10.0.0.1 dstport 4789 nolearning');
  });
});
