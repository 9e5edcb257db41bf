import { describe, expect, it } from 'vitest';
import { parseResource, type BGPConfiguration, type IPAMBlock, type IPPool, type Node } from '../../../crds/src/index.js';
import { TORTIE_API_VERSION } from '../../../lib/contract.js';
import type { Path } from '../rib/path.js';
import { calculateSpeakerConfig, type DatastoreSnapshot } from './desired.js';

function parsed<T>(key: 'Node' | 'IPPool' | 'IPAMBlock' | 'BGPConfiguration', name: string, spec: Record<string, unknown>): T {
  const r = parseResource(key, { apiVersion: TORTIE_API_VERSION, kind: key, metadata: { name }, spec });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.object as T;
}

const nodes = [1, 2].map((i) => parsed<Node>('Node', `node${i}`, { bgp: { ipv4Address: `10.0.0.${i}/24` }, ...(i === 2 ? { ipv4VXLANTunnelAddr: '10.244.200.1' } : {}) }));
const block = (cidr: string, affinity: string | null, allocations: (number | null)[] = [], attributes: Record<string, unknown>[] = []) =>
  parsed<IPAMBlock>('IPAMBlock', cidr.replaceAll(/[./]/g, '-'), {
    cidr,
    ...(affinity === null ? {} : { affinity }),
    allocations: [...allocations, ...Array(64 - allocations.length).fill(null)],
    unallocated: [],
    attributes,
  });
const pools = [
  parsed<IPPool>('IPPool', 'a', { cidr: '10.244.0.0/16', vxlanMode: 'CrossSubnet' }),
  parsed<IPPool>('IPPool', 'private', { cidr: '10.250.0.0/16', disableBGPExport: true }),
];

const snapshot = (over: Partial<DatastoreSnapshot> = {}): DatastoreSnapshot => ({
  nodeName: 'node1',
  nodes,
  bgpPeers: [],
  pools,
  blocks: [
    block('10.244.1.0/26', 'host:node1'),
    block('10.244.1.64/26', 'host:node1'),
    block('10.244.2.0/26', 'host:node2', [null, null, null, 0], [{ secondary: { node: 'node1' } }]),
  ],
  ...over,
});

const fake = (prefix: string): Path => ({ prefix, nextHop: '10.0.0.2', attributes: {}, peer: null, isStale: false });

describe('calculateSpeakerConfig', () => {
  it('originates the node’s affine blocks merged, plus addresses it borrowed from another node’s block', () => {
    const c = calculateSpeakerConfig(snapshot());
    expect(c.blockPaths.map((p) => `${p.prefix} via ${p.nextHop}`)).toEqual(['10.244.1.0/25 via 10.0.0.1', '10.244.2.3/32 via 10.0.0.1']);
    expect(c.routing.localBlocks).toEqual(['10.244.1.0/26', '10.244.1.64/26']);
  });

  it('exports pool prefixes and service ranges, not a pool with disableBGPExport', () => {
    const config = parsed<BGPConfiguration>('BGPConfiguration', 'default', { serviceClusterIPs: [{ cidr: '10.96.0.0/12' }] });
    const c = calculateSpeakerConfig(snapshot({ bgpConfiguration: config }));
    const to = { address: '10.0.0.2', asn: 64512, routerId: '10.0.0.2', isInternal: true, isRouteReflectorClient: false };
    expect(['10.244.2.0/26', '10.250.1.0/26', '10.96.0.0/12', '0.0.0.0/0'].map((p) => c.exportPolicy(fake(p), to))).toEqual([true, false, true, false]);
    expect(c.servicePaths.map((p) => p.prefix)).toEqual(['10.96.0.0/12']);
  });

  it('gives the routing context the pools’ encapsulation, every node address and VXLAN tunnel addresses', () => {
    const c = calculateSpeakerConfig(snapshot());
    expect(c.routing.pools).toEqual([
      { cidr: '10.244.0.0/16', ipipMode: 'Never', vxlanMode: 'CrossSubnet' },
      { cidr: '10.250.0.0/16', ipipMode: 'Never', vxlanMode: 'Never' },
    ]);
    expect([...(c.routing.nodeAddresses ?? [])]).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(c.routing.vxlanTunnelAddresses?.get('10.0.0.2')).toBe('10.244.200.1');
    expect(c.routing.localSubnets).toEqual(['10.0.0.0/24']);
    expect(c.listenPort).toBe(179);
  });

  it('routes IPv6 VXLAN to a node without ipv6VXLANTunnelAddr via the link-local address of its VTEP MAC', () => {
    const dual = [
      parsed<Node>('Node', 'node1', { bgp: { ipv4Address: '10.0.0.1/24', ipv6Address: 'fd00::1/64' } }),
      parsed<Node>('Node', 'node2', { bgp: { ipv4Address: '10.0.0.2/24', ipv6Address: 'fd00::2/64' }, vxlanTunnelMACAddr: '02:AA:BB:CC:DD:EE' }),
      parsed<Node>('Node', 'node3', { bgp: { ipv4Address: '10.0.0.3/24', ipv6Address: 'fd00::3/64' }, ipv6VXLANTunnelAddr: 'fd00:244:3::' }),
    ];
    const c = calculateSpeakerConfig(snapshot({ nodes: dual }));
    expect(c.routing.vxlanTunnelAddresses?.get('fd00::2')).toBe('fe80::aa:bbff:fecc:ddee');
    expect(c.routing.vxlanTunnelAddresses?.get('fd00::3')).toBe('fd00:244:3::');
    expect(c.tunnels.peers.map((p) => p.address6)).toEqual(['fd00::2', 'fd00::3']);
  });

  it('gives the tunnel model the pools, the nodes\' tunnel fields and FelixConfiguration (node object over default)', () => {
    const felix = (name: string, spec: Record<string, unknown>) => {
      const r = parseResource('FelixConfiguration', { apiVersion: TORTIE_API_VERSION, kind: 'FelixConfiguration', metadata: { name }, spec });
      if (!r.ok) throw new Error(JSON.stringify(r.issues));
      return r.object;
    };
    const c = calculateSpeakerConfig(snapshot({ felixConfigurations: [felix('default', { vxlanVNI: 10, vxlanMTU: 1400, routeRefreshInterval: '1m30s' }), felix('node.node1', { vxlanMTU: 1350, routeRefreshInterval: '10s' }), felix('node.node2', { vxlanPort: 1 })] }));
    expect(c.routeRefreshIntervalMs).toBe(10_000);
    expect(calculateSpeakerConfig(snapshot()).routeRefreshIntervalMs).toBe(90_000);
    expect(c.tunnels).toEqual({
      localNode: { name: 'node1', address: '10.0.0.1', vxlanTunnelAddress: undefined, vxlanTunnelMac: undefined, ipipTunnelAddress: undefined, address6: undefined, vxlanTunnelAddress6: undefined },
      localSubnets: ['10.0.0.0/24'],
      pools: [
        { name: 'a', cidr: '10.244.0.0/16', ipipMode: 'Never', vxlanMode: 'CrossSubnet' },
        { name: 'private', cidr: '10.250.0.0/16', ipipMode: 'Never', vxlanMode: 'Never' },
      ],
      peers: [{ name: 'node2', address: '10.0.0.2', vxlanTunnelAddress: '10.244.200.1', vxlanTunnelMac: undefined, ipipTunnelAddress: undefined, address6: undefined, vxlanTunnelAddress6: undefined }],
      settings: { vxlanVni: 10, vxlanPort: 4789, vxlanMtu: 1350, ipipMtu: 0 },
    });
  });

  it('the same datastore content in another order gives the same config', () => {
    const a = calculateSpeakerConfig(snapshot());
    const s = snapshot();
    const b = calculateSpeakerConfig({ ...s, nodes: [...s.nodes].reverse(), pools: [...s.pools].reverse(), blocks: [...s.blocks].reverse() });
    expect({ ...b, exportPolicy: null }).toEqual({ ...a, exportPolicy: null });
  });
});
