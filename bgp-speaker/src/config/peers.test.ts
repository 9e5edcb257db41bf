import { describe, expect, it } from 'vitest';
import { parseResource, type BGPConfiguration, type BGPPeer, type Node } from '../../../crds/src/index.js';
import { TORTIE_API_VERSION } from '../../../lib/contract.js';
import { calculatePeers, isSameSession, type PeerInputs } from './peers.js';

function node(name: string, address: string | null, extra: { asNumber?: number; rr?: string; labels?: Record<string, string> } = {}): Node {
  const r = parseResource('Node', {
    apiVersion: TORTIE_API_VERSION,
    kind: 'Node',
    metadata: { name, ...(extra.labels ? { labels: extra.labels } : {}) },
    spec: {
      bgp: {
        ...(address === null ? {} : { ipv4Address: `${address}/24` }),
        ...(extra.asNumber === undefined ? {} : { asNumber: extra.asNumber }),
        ...(extra.rr === undefined ? {} : { routeReflectorClusterID: extra.rr }),
      },
    },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.object;
}

function peer(name: string, spec: Record<string, unknown>): BGPPeer {
  const r = parseResource('BGPPeer', { apiVersion: TORTIE_API_VERSION, kind: 'BGPPeer', metadata: { name }, spec });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.object;
}

function bgpConfig(spec: Record<string, unknown>): BGPConfiguration {
  const r = parseResource('BGPConfiguration', { apiVersion: TORTIE_API_VERSION, kind: 'BGPConfiguration', metadata: { name: 'default' }, spec });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.object;
}

const nodes = [
  node('n1', '10.0.0.1', { labels: { rack: 'a', rr: 'true' } }),
  node('n2', '10.0.0.2', { labels: { rack: 'a' } }),
  node('n3', '10.0.0.3', { labels: { rack: 'b' }, asNumber: 65003 }),
  node('n4', null),
];

const summary = (inputs: PeerInputs) =>
  calculatePeers(inputs).peers.map((p) => `${p.peerAddress} as${p.peerAsn} ${p.type}${p.isRouteReflectorClient ? ' rr-client' : ''}${p.keepOriginalNextHop ? ' keep-nh' : ''}`);

describe('calculatePeers', () => {
  it.each<{ name: string; inputs: Omit<PeerInputs, 'nodes'> & { nodes?: Node[] }; expected: string[] }>([
    {
      name: 'full mesh by default: every other node with an address, at its AS',
      inputs: { localNode: 'n1', bgpPeers: [] },
      expected: ['10.0.0.2 as64512 node-to-node mesh', '10.0.0.3 as65003 node-to-node mesh'],
    },
    {
      name: 'mesh disabled: no sessions',
      inputs: { localNode: 'n1', bgpPeers: [], bgpConfiguration: bgpConfig({ nodeToNodeMeshEnabled: false }) },
      expected: [],
    },
    {
      name: 'a global BGPPeer applies to every node',
      inputs: { localNode: 'n2', bgpPeers: [peer('tor', { peerIP: '10.0.0.254', asNumber: 65000 })], bgpConfiguration: bgpConfig({ nodeToNodeMeshEnabled: false }) },
      expected: ['10.0.0.254 as65000 global'],
    },
    {
      name: 'node: only on that node',
      inputs: {
        localNode: 'n2',
        bgpPeers: [peer('a', { node: 'n1', peerIP: '10.0.0.250', asNumber: 65000 }), peer('b', { node: 'n2', peerIP: '10.0.0.251', asNumber: 65000, keepOriginalNextHop: true })],
        bgpConfiguration: bgpConfig({ nodeToNodeMeshEnabled: false }),
      },
      expected: ['10.0.0.251 as65000 node specific keep-nh'],
    },
    {
      name: 'nodeSelector matches the local node’s labels',
      inputs: {
        localNode: 'n3',
        bgpPeers: [peer('a', { nodeSelector: "rack == 'a'", peerIP: '10.0.0.250', asNumber: 65000 }), peer('b', { nodeSelector: "rack == 'b'", peerIP: '10.0.0.251', asNumber: 65001 })],
        bgpConfiguration: bgpConfig({ nodeToNodeMeshEnabled: false }),
      },
      expected: ['10.0.0.251 as65001 node specific'],
    },
    {
      name: 'route reflector: peerSelector sessions toward a reflector, clients marked on the reflector',
      inputs: {
        localNode: 'n1',
        nodes: [node('n1', '10.0.0.1', { labels: { rr: 'true' }, rr: '1.0.0.1' }), node('n2', '10.0.0.2'), node('n3', '10.0.0.3')],
        bgpPeers: [peer('to-rr', { peerSelector: 'rr == "true"' }), peer('rr-to-all', { nodeSelector: 'rr == "true"', peerSelector: 'all()' })],
        bgpConfiguration: bgpConfig({ nodeToNodeMeshEnabled: false }),
      },
      expected: ['10.0.0.2 as64512 node specific rr-client', '10.0.0.3 as64512 node specific rr-client'],
    },
    {
      name: 'route reflector client side: one session, to the reflector, not a client',
      inputs: {
        localNode: 'n2',
        nodes: [node('n1', '10.0.0.1', { labels: { rr: 'true' }, rr: '1.0.0.1' }), node('n2', '10.0.0.2'), node('n3', '10.0.0.3')],
        bgpPeers: [peer('to-rr', { peerSelector: 'rr == "true"' }), peer('rr-to-all', { nodeSelector: 'rr == "true"', peerSelector: 'all()' })],
        bgpConfiguration: bgpConfig({ nodeToNodeMeshEnabled: false }),
      },
      expected: ['10.0.0.1 as64512 global'],
    },
    {
      name: 'two reflectors of one cluster are not each other’s clients',
      inputs: {
        localNode: 'n1',
        nodes: [node('n1', '10.0.0.1', { labels: { rr: 'true' }, rr: '1.0.0.1' }), node('n2', '10.0.0.2', { labels: { rr: 'true' }, rr: '1.0.0.1' })],
        bgpPeers: [peer('rrs', { peerSelector: 'rr == "true"' })],
        bgpConfiguration: bgpConfig({ nodeToNodeMeshEnabled: false }),
      },
      expected: ['10.0.0.2 as64512 global'],
    },
    {
      name: 'an explicit BGPPeer wins over the mesh session to the same address',
      inputs: { localNode: 'n1', bgpPeers: [peer('x', { peerIP: '10.0.0.2', asNumber: 64512, keepOriginalNextHop: true })] },
      expected: ['10.0.0.2 as64512 global keep-nh', '10.0.0.3 as65003 node-to-node mesh'],
    },
    {
      name: 'a global peer at our own address is skipped',
      inputs: { localNode: 'n1', bgpPeers: [peer('self', { peerIP: '10.0.0.1', asNumber: 64512 })], bgpConfiguration: bgpConfig({ nodeToNodeMeshEnabled: false }) },
      expected: [],
    },
  ])('$name', ({ inputs, expected }) => {
    expect(summary({ nodes, ...inputs })).toEqual(expected);
  });

  it('local AS: the node’s, else the BGPConfiguration’s, else 64512', () => {
    expect(calculatePeers({ localNode: 'n3', nodes, bgpPeers: [] }).localAsn).toBe(65003);
    expect(calculatePeers({ localNode: 'n1', nodes, bgpPeers: [], bgpConfiguration: bgpConfig({ asNumber: 65100 }) }).localAsn).toBe(65100);
    expect(calculatePeers({ localNode: 'n1', nodes, bgpPeers: [] }).localAsn).toBe(64512);
    const plan = calculatePeers({ localNode: 'n1', nodes, bgpPeers: [], bgpConfiguration: bgpConfig({ asNumber: 65100 }) });
    expect(plan.peers.find((p) => p.peerAddress === '10.0.0.2')?.peerAsn).toBe(65100);
  });

  it('router id, node address and subnet come from the node’s ipv4Address', () => {
    const plan = calculatePeers({ localNode: 'n2', nodes, bgpPeers: [] });
    expect(plan).toMatchObject({ routerId: '10.0.0.2', nodeAddress: { ipv4: '10.0.0.2' }, localSubnets: ['10.0.0.0/24'], clusterId: null });
    expect(plan.peers[0]).toMatchObject({ sourceAddress: '10.0.0.2', peerPort: 179, name: 'Mesh_n1', peerNode: 'n1' });
  });

  it('peerIP with a port keeps the port in the key', () => {
    const plan = calculatePeers({ localNode: 'n1', nodes, bgpPeers: [peer('p', { peerIP: '10.0.0.9:1179', asNumber: 65000 })], bgpConfiguration: bgpConfig({ nodeToNodeMeshEnabled: false }) });
    expect(plan.peers[0]).toMatchObject({ key: '10.0.0.9:1179', peerAddress: '10.0.0.9', peerPort: 1179 });
  });

  it('a password comes from the Secret; a missing required one holds the session back with a problem', () => {
    const withPassword = peer('p', { peerIP: '10.0.0.9', asNumber: 65000, password: { secretKeyRef: { name: 'bgp', key: 'tor' } } });
    const secrets = new Map([['bgp', { tor: 's3cret' }]]);
    const mesh = bgpConfig({ nodeToNodeMeshEnabled: false });
    expect(calculatePeers({ localNode: 'n1', nodes, bgpPeers: [withPassword], bgpConfiguration: mesh, secrets }).peers[0]?.password).toBe('s3cret');
    const missing = calculatePeers({ localNode: 'n1', nodes, bgpPeers: [withPassword], bgpConfiguration: mesh });
    expect(missing.peers).toEqual([]);
    expect(missing.problems[0]?.message).toMatch(/Secret bgp has no key tor/);
  });

  it('maxRestartTime is announced in seconds; changing the peer AS means another session', () => {
    const plan = calculatePeers({ localNode: 'n1', nodes, bgpPeers: [peer('p', { peerIP: '10.0.0.9', asNumber: 65000, maxRestartTime: '30s' })] });
    const p = plan.peers.find((s) => s.name === 'p');
    expect(p?.maxRestartTimeSec).toBe(30);
    expect(isSameSession(p!, p!)).toBe(true);
    expect(isSameSession(p!, { ...p!, peerAsn: 65001 })).toBe(false);
    expect(isSameSession(p!, { ...p!, keepOriginalNextHop: true })).toBe(true);
  });

  it('the result does not depend on the order of its inputs', () => {
    const bgpPeers = [peer('a', { peerIP: '10.0.0.250', asNumber: 65000 }), peer('b', { peerSelector: 'all()' })];
    const forward = calculatePeers({ localNode: 'n1', nodes, bgpPeers });
    const reversed = calculatePeers({ localNode: 'n1', nodes: [...nodes].reverse(), bgpPeers: [...bgpPeers].reverse() });
    expect(reversed).toEqual(forward);
  });
});
