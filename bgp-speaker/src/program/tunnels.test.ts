import { describe, expect, it } from 'vitest';
import { hasErrorCode } from '../../../lib/errors.js';
import type { IpLink } from '../../../lib/kernel/ip-json.js';
import { DEFAULT_TUNNEL_SETTINGS, ipipUnsupportedError, planTunnelChanges, planTunnels, vtepLinkLocalOf, vtepMacOf, type ActualTunnels, type TunnelModel, type TunnelPool } from './tunnels.js';

const pool = (name: string, cidr: string, over: Partial<TunnelPool> = {}): TunnelPool => ({ name, cidr, ipipMode: 'Never', vxlanMode: 'Never', ...over });

function model(pools: readonly TunnelPool[], over: Partial<TunnelModel> = {}): TunnelModel {
  return {
    localNode: { name: 'node1', address: '10.0.0.1', vxlanTunnelAddress: '10.244.1.0' },
    localSubnets: ['10.0.0.0/24'],
    pools,
    peers: [
      { name: 'node2', address: '10.0.0.2', vxlanTunnelAddress: '10.244.2.0', vxlanTunnelMac: '66:aa:bb:cc:dd:02' },
      { name: 'node3', address: '10.0.1.3' },
    ],
    settings: DEFAULT_TUNNEL_SETTINGS,
    ...over,
  };
}

const NOTHING: ActualTunnels = { vxlan: { link: null, addresses: [], neighbours: [], fdb: [] }, ipip: { link: null, addresses: [] } };

function vxlanLink(over: Partial<IpLink> = {}): IpLink {
  return {
    ifindex: 7,
    name: 'vxlan.tortie',
    flags: ['UP'],
    isUp: true,
    mtu: 1450,
    operState: 'UNKNOWN',
    macAddress: vtepMacOf('node1'),
    kind: 'vxlan',
    peerIfindex: null,
    peerNetnsId: null,
    vxlan: { id: 4096, local: '10.0.0.1', port: 4789, isLearning: false },
    ...over,
  };
}

describe('vtepMacOf', () => {
  it('is stable, unicast and locally administered, and differs between nodes', () => {
    const mac = vtepMacOf('node1');
    expect(mac).toBe(vtepMacOf('node1'));
    expect(mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    const first = Number.parseInt(mac.slice(0, 2), 16);
    expect(first & 0x01).toBe(0);
    expect(first & 0x02).toBe(2);
    expect(vtepMacOf('node2')).not.toBe(mac);
  });
});

describe('vtepLinkLocalOf', () => {
  it('is the EUI-64 link-local address the kernel gives a device with that MAC, canonical', () => {
    expect(vtepLinkLocalOf('02:aa:bb:cc:dd:ee')).toBe('fe80::aa:bbff:fecc:ddee');
    expect(vtepLinkLocalOf('02:00:00:00:00:01')).toBe('fe80::ff:fe00:1');
  });
});

describe('planTunnels', () => {
  it('wants no device when every pool says Never', () => {
    expect(planTunnels(model([pool('p', '10.244.0.0/16')]), 1500)).toEqual({ vxlan: null, vxlanPools: [], vxlanPeers: [], ipip: null, problems: [] });
  });

  it('VXLAN Always: the device from the node, and a neighbour and FDB entry per peer node', () => {
    const d = planTunnels(model([pool('p', '10.244.0.0/16', { vxlanMode: 'Always' })]), 9000);
    expect(d.vxlan).toEqual({ name: 'vxlan.tortie', vni: 4096, port: 4789, local: '10.0.0.1', mac: vtepMacOf('node1'), mtu: 8950, addresses: ['10.244.1.0/32'] });
    expect(d.vxlanPeers).toEqual([
      { node: 'node2', gateways: ['10.244.2.0'], mac: '66:aa:bb:cc:dd:02', nodeAddress: '10.0.0.2' },
      // No tunnel address or MAC in its Node: its node address is the onlink gateway (as routes.ts), its MAC derived.
      { node: 'node3', gateways: ['10.0.1.3'], mac: vtepMacOf('node3'), nodeAddress: '10.0.1.3' },
    ]);
    expect(d.ipip).toBeNull();
  });

  it('VXLAN CrossSubnet: entries only for peers on another subnet', () => {
    const d = planTunnels(model([pool('p', '10.244.0.0/16', { vxlanMode: 'CrossSubnet' })]), 1500);
    expect(d.vxlan?.mtu).toBe(1450);
    expect(d.vxlanPeers.map((p) => p.node)).toEqual(['node3']);
  });

  it('takes VNI, port and MTU from FelixConfiguration, the MAC from the Node, and falls back to 1500 for an unknown uplink', () => {
    const m = model([pool('p', '10.244.0.0/16', { vxlanMode: 'Always' })], {
      localNode: { name: 'node1', address: '10.0.0.1', vxlanTunnelMac: '66:AA:BB:CC:DD:01' },
      settings: { vxlanVni: 7, vxlanPort: 8472, vxlanMtu: 1400, ipipMtu: 0 },
    });
    expect(planTunnels(m, null).vxlan).toMatchObject({ vni: 7, port: 8472, mtu: 1400, mac: '66:aa:bb:cc:dd:01', addresses: [] });
    expect(planTunnels({ ...m, settings: DEFAULT_TUNNEL_SETTINGS }, null).vxlan?.mtu).toBe(1450);
  });

  it('IPv6 pools share the device: the node\'s IPv6 tunnel address, IPv6 neighbours, the FDB still to the IPv4 address', () => {
    const m = model([pool('v4', '10.244.0.0/16', { vxlanMode: 'CrossSubnet' }), pool('v6', 'fd00:244::/48', { vxlanMode: 'Always' })], {
      localNode: { name: 'node1', address: '10.0.0.1', address6: 'fd00::1', vxlanTunnelAddress6: 'fd00:244:1::' },
      localSubnets: ['10.0.0.0/24', 'fd00::/64'],
      peers: [
        { name: 'node2', address: '10.0.0.2', address6: 'fd00::2', vxlanTunnelAddress6: 'fd00:244:2::' },
        { name: 'node3', address: '10.0.1.3', address6: 'fd00::3' },
        { name: 'node4', address: '10.0.0.4' },
      ],
    });
    const d = planTunnels(m, 1500);
    expect(d.vxlan?.addresses).toEqual(['fd00:244:1::/128']);
    expect(d.vxlanPeers).toEqual([
      // Same IPv4 subnet (CrossSubnet: no IPv4 tunnel), IPv6 always tunnelled.
      { node: 'node2', gateways: ['fd00:244:2::'], mac: vtepMacOf('node2'), nodeAddress: '10.0.0.2' },
      // No IPv6 tunnel address: the link-local address of its VTEP MAC (a global onlink gateway would be refused).
      { node: 'node3', gateways: ['10.0.1.3', vtepLinkLocalOf(vtepMacOf('node3'))], mac: vtepMacOf('node3'), nodeAddress: '10.0.1.3' },
    ]);
    const c = planTunnelChanges(d, NOTHING);
    expect(c.ip).toContain('addr replace fd00:244:1::/128 dev vxlan.tortie');
    expect(c.ip).toContain(`neigh replace ${vtepLinkLocalOf(vtepMacOf('node3'))} lladdr ${vtepMacOf('node3')} dev vxlan.tortie nud permanent`);
    expect(c.bridge).toEqual([`fdb replace ${vtepMacOf('node2')} dev vxlan.tortie dst 10.0.0.2 self permanent`, `fdb replace ${vtepMacOf('node3')} dev vxlan.tortie dst 10.0.1.3 self permanent`]);
  });

  it('reports a VXLAN pool on a node without an IPv4 address instead of planning a half device', () => {
    const d = planTunnels(model([pool('vx', '10.244.0.0/16', { vxlanMode: 'Always' })], { localNode: { name: 'node1', address: undefined } }), 1500);
    expect(d.vxlan).toBeNull();
    expect(d.problems).toEqual([{ device: 'vxlan.tortie', pools: ['vx'], message: expect.stringContaining('no IPv4 address') }]);
  });

  it('IPIP: tunl0 with MTU uplink - 20 and the node\'s IPIP address; IPv6 pools never want it', () => {
    const m = model([pool('a', '10.244.0.0/16', { ipipMode: 'CrossSubnet' }), pool('b', 'fd00::/48')], { localNode: { name: 'node1', address: '10.0.0.1', ipipTunnelAddress: '10.244.1.1' } });
    expect(planTunnels(m, 1500).ipip).toEqual({ name: 'tunl0', mtu: 1480, address: '10.244.1.1', pools: ['a'] });
    expect(planTunnels({ ...m, settings: { ...DEFAULT_TUNNEL_SETTINGS, ipipMtu: 1300 } }, 1500).ipip?.mtu).toBe(1300);
  });

  it('never lists the node itself, a peer without an IPv4 address, or a peer at our own address', () => {
    const m = model([pool('p', '10.244.0.0/16', { vxlanMode: 'Always' })], {
      peers: [{ name: 'node1', address: '10.0.0.1' }, { name: 'v6only', address: undefined }, { name: 'dup', address: '10.0.0.1' }, { name: 'node9', address: '10.0.0.9' }],
    });
    expect(planTunnels(m, 1500).vxlanPeers.map((p) => p.node)).toEqual(['node9']);
  });
});

describe('planTunnelChanges', () => {
  const vxlanAlways = planTunnels(model([pool('p', '10.244.0.0/16', { vxlanMode: 'Always' })]), 1500);
  const mac1 = vtepMacOf('node1');
  const mac3 = vtepMacOf('node3');

  it('creates the VXLAN device, its address, neighbours and FDB entries from nothing', () => {
    expect(planTunnelChanges(vxlanAlways, NOTHING)).toEqual({
      ip: [
        'link add vxlan.tortie type vxlan id 4096 local 10.0.0.1 dstport 4789 nolearning',
        `link set vxlan.tortie mtu 1450 address ${mac1} up`,
        'addr replace 10.244.1.0/32 dev vxlan.tortie',
        'neigh replace 10.244.2.0 lladdr 66:aa:bb:cc:dd:02 dev vxlan.tortie nud permanent',
        `neigh replace 10.0.1.3 lladdr ${mac3} dev vxlan.tortie nud permanent`,
      ],
      bridge: ['fdb replace 66:aa:bb:cc:dd:02 dev vxlan.tortie dst 10.0.0.2 self permanent', `fdb replace ${mac3} dev vxlan.tortie dst 10.0.1.3 self permanent`],
    });
  });

  const inSync: ActualTunnels = {
    vxlan: {
      link: vxlanLink(),
      addresses: ['10.244.1.0/32'],
      neighbours: [
        { family: 4, dst: '10.244.2.0', dev: 'vxlan.tortie', lladdr: '66:aa:bb:cc:dd:02', state: ['PERMANENT'], isProxy: false, isRouter: false },
        { family: 4, dst: '10.0.1.3', dev: 'vxlan.tortie', lladdr: mac3, state: ['PERMANENT'], isProxy: false, isRouter: false },
      ],
      fdb: [
        { mac: '66:aa:bb:cc:dd:02', dev: 'vxlan.tortie', dst: '10.0.0.2', flags: ['self'], state: 'permanent' },
        { mac: mac3, dev: 'vxlan.tortie', dst: '10.0.1.3', flags: ['self'], state: 'permanent' },
      ],
    },
    ipip: { link: null, addresses: [] },
  };

  it('writes nothing when the kernel already matches', () => {
    expect(planTunnelChanges(vxlanAlways, inSync)).toEqual({ ip: [], bridge: [] });
  });

  it('changes only what differs: MTU, a moved peer, a stale neighbour, a foreign FDB entry, an extra address', () => {
    const actual: ActualTunnels = {
      ...inSync,
      vxlan: {
        link: vxlanLink({ mtu: 1500 }),
        addresses: ['10.244.1.0/32', '10.9.9.9/24'],
        neighbours: [...inSync.vxlan.neighbours, { family: 4, dst: '10.244.7.0', dev: 'vxlan.tortie', lladdr: null, state: ['FAILED'], isProxy: false, isRouter: false }],
        fdb: [
          { mac: '66:aa:bb:cc:dd:02', dev: 'vxlan.tortie', dst: '10.0.0.22', flags: ['self'], state: 'permanent' },
          inSync.vxlan.fdb[1]!,
          { mac: '02:00:00:00:00:99', dev: 'vxlan.tortie', dst: '10.0.0.99', flags: ['self'], state: 'permanent' },
        ],
      },
    };
    expect(planTunnelChanges(vxlanAlways, actual)).toEqual({
      ip: ['link set vxlan.tortie mtu 1450', 'addr del 10.9.9.9/24 dev vxlan.tortie', 'neigh del 10.244.7.0 dev vxlan.tortie'],
      bridge: [
        'fdb del 66:aa:bb:cc:dd:02 dev vxlan.tortie dst 10.0.0.22 self',
        'fdb replace 66:aa:bb:cc:dd:02 dev vxlan.tortie dst 10.0.0.2 self permanent',
        'fdb del 02:00:00:00:00:99 dev vxlan.tortie dst 10.0.0.99 self',
      ],
    });
  });

  it('recreates a device whose VNI, port, local address or learning differ (they cannot be changed in place)', () => {
    const actual: ActualTunnels = { ...inSync, vxlan: { ...inSync.vxlan, link: vxlanLink({ vxlan: { id: 4096, local: '10.0.0.1', port: 8472, isLearning: false } }) } };
    const c = planTunnelChanges(vxlanAlways, actual);
    expect(c.ip.slice(0, 3)).toEqual(['link del vxlan.tortie', 'link add vxlan.tortie type vxlan id 4096 local 10.0.0.1 dstport 4789 nolearning', `link set vxlan.tortie mtu 1450 address ${mac1} up`]);
    // Deleting the device took its entries: all are added again, none deleted.
    expect(c.ip.filter((l) => l.startsWith('neigh del') || l.startsWith('addr del'))).toEqual([]);
    expect(c.bridge).toHaveLength(2);
  });

  it('removes the VXLAN device when no pool wants it (its address, neighbours and FDB go with it)', () => {
    const none = planTunnels(model([pool('p', '10.244.0.0/16')]), 1500);
    expect(planTunnelChanges(none, inSync)).toEqual({ ip: ['link del vxlan.tortie'], bridge: [] });
    expect(planTunnelChanges(none, NOTHING)).toEqual({ ip: [], bridge: [] });
  });

  it('IPIP: what it would program on a kernel with the ipip module', () => {
    const ipip = planTunnels(model([pool('p', '10.244.0.0/16', { ipipMode: 'Always' })], { localNode: { name: 'node1', address: '10.0.0.1', ipipTunnelAddress: '10.244.1.1' } }), 1500);
    expect(planTunnelChanges(ipip, NOTHING)).toEqual({ ip: ['link add tunl0 type ipip', 'link set tunl0 mtu 1480 up', 'addr replace 10.244.1.1/32 dev tunl0'], bridge: [] });
    const tunl0 = vxlanLink({ name: 'tunl0', kind: 'ipip', vxlan: null, mtu: 1480, macAddress: '00:00:00:00' });
    expect(planTunnelChanges(ipip, { ...NOTHING, ipip: { link: tunl0, addresses: ['10.244.1.1/32'] } })).toEqual({ ip: [], bridge: [] });
    expect(planTunnelChanges(ipip, { ...NOTHING, ipip: { link: { ...tunl0, isUp: false, mtu: 1500 }, addresses: [] } }).ip).toEqual(['link set tunl0 mtu 1480 up', 'addr replace 10.244.1.1/32 dev tunl0']);
  });

  it('IPIP no longer wanted: tunl0 (the module\'s fallback device, not deletable) only loses its addresses', () => {
    const none = planTunnels(model([pool('p', '10.244.0.0/16')]), 1500);
    const tunl0 = vxlanLink({ name: 'tunl0', kind: 'ipip', vxlan: null });
    expect(planTunnelChanges(none, { ...NOTHING, ipip: { link: tunl0, addresses: ['10.244.1.1/32'] } })).toEqual({ ip: ['addr del 10.244.1.1/32 dev tunl0'], bridge: [] });
  });
});

describe('ipipUnsupportedError', () => {
  it('is ERR_KERNEL naming the pool, the kernel option and the fix', () => {
    const err = ipipUnsupportedError(['default-ipv4-ippool'], new Error('Unknown device type.'));
    expect(hasErrorCode(err, 'ERR_KERNEL')).toBe(true);
    expect(err.message).toContain('IPPool default-ipv4-ippool');
    expect(err.message).toContain('CONFIG_NET_IPIP');
    expect(err.message).toContain('module ipip');
    expect(err.message).toContain('Use vxlanMode instead of ipipMode');
    expect(err.details).toMatchObject({ device: 'tunl0', pools: ['default-ipv4-ippool'], kernelOption: 'CONFIG_NET_IPIP' });
  });
});
