/**
 * Tunnel devices from the real speaker (bgp-speaker/src/main.ts) between two
 * tortie nodes on different subnets: node i is 10.253.i.2/30 behind a router
 * namespace ("tor", which forwards but knows no pod routes), with a pod
 * address 10.245.i.10 on its loopback and the affine block 10.245.i.0/26.
 * Mesh BGP between the nodes, configured from a real etcd.
 *
 * 1. Pool vxlanMode Always: vxlan.tortie appears on both nodes (VNI 4096,
 *    dstport 4789, local = node address, nolearning, MTU 1450, the VTEP MAC),
 *    node2's tunnel address on its device, a permanent neighbour and an FDB
 *    entry for the peer, the peer's block routed `dev vxlan.tortie onlink`,
 *    and TCP between the pods crosses it (the device's counters move; the
 *    router has no pod routes, so nothing else could carry it).
 *    With FelixConfiguration routeRefreshInterval 1s, a deleted device comes
 *    back with its entries and routes.
 * 2. The pool switches to ipipMode Always on this kernel without IPIP: the
 *    VXLAN device and its entries go, the status file and the log carry the
 *    ERR_KERNEL naming CONFIG_NET_IPIP, no route uses tunl0, BGP stays up.
 * 3. CrossSubnet with three nodes: node1 and node2 share a bridge (one
 *    subnet), node3 sits behind the router: node1 reaches node2's pods by a
 *    plain route and node3's through vxlan.tortie, which holds entries for
 *    node3 only.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROUTE_PROTOCOL, VXLAN_DEVICE } from '../../../lib/contract.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import type { StoredObject } from '../../../lib/datastore/types.js';
import { vtepMacOf } from '../../../bgp-speaker/src/program/tunnels.js';
import type { SpeakerStatusFile } from '../../../bgp-speaker/src/config/status-file.js';
import { createNetnsHarness, kernelAccessProblem, pollUntil, uniqueName, type NetnsHarness } from '../../harness/netns.js';
import { blockName, fabricResource, makeFabric, startFabricEtcd, startMainSpeaker, tcpAcross, type FabricEtcd, type FabricNode, type MainSpeaker } from './fabric.js';

const problem = await kernelAccessProblem();
if (problem !== null) console.warn(`skipping test/integration/bgp/tunnels.test.ts: ${problem}`);

const POOL = 'default-ipv4-ippool';
const NODE2_TUNNEL_ADDRESS = '10.245.2.1';

interface VxlanLinkJson {
  mtu: number;
  address: string;
  flags: string[];
  linkinfo?: { info_kind?: string; info_data?: { id?: number; local?: string; port?: number; learning?: boolean } };
  stats64?: { rx?: { packets: number }; tx?: { packets: number } };
}

describe.skipIf(problem !== null)('tunnel devices between tortie nodes', () => {
  let h: NetnsHarness | null = null;
  let fe: FabricEtcd | null = null;

  afterEach(async () => {
    await h?.cleanup();
    await fe?.close();
    h = fe = null;
  });

  it('VXLAN Always: device, neighbour and FDB entries, TCP through the tunnel; IPIP on this kernel: a clear error, no tunl0 routes, BGP up', async () => {
    const harness = createNetnsHarness();
    h = harness;
    const etcd = await startFabricEtcd();
    fe = etcd;
    const fab = await makeFabric(harness, 2, () => 64512, 'tn');
    const [n1, n2] = fab.nodes as [FabricNode, FabricNode];
    for (const n of fab.nodes) await harness.hostIp.inNetns(n.ns).batch([`route add default via ${n.torAddress}`]);

    const pool = (spec: Record<string, unknown>) => fabricResource('IPPool', POOL, { cidr: '10.245.0.0/16', blockSize: 26, ...spec });
    await etcd.store.create(Kinds.IPPool, pool({ ipipMode: 'Never', vxlanMode: 'Always' }));
    await etcd.store.create(Kinds.BGPConfiguration, fabricResource('BGPConfiguration', 'default', { asNumber: 64512, nodeToNodeMeshEnabled: true }));
    await etcd.store.create(Kinds.FelixConfiguration, fabricResource('FelixConfiguration', 'default', { routeRefreshInterval: '1s' }));
    for (const n of fab.nodes) {
      const vxlan = n.index === 2 ? { ipv4VXLANTunnelAddr: NODE2_TUNNEL_ADDRESS } : {};
      await etcd.store.create(Kinds.Node, fabricResource('Node', `node${n.index}`, { bgp: { ipv4Address: `${n.address}/30` }, ...vxlan }));
      await etcd.store.create(Kinds.IPAMBlock, fabricResource('IPAMBlock', blockName(n.block), { cidr: n.block, affinity: `host:node${n.index}`, allocations: Array(64).fill(null), unallocated: [...Array(64).keys()], attributes: [] }));
    }
    const speakers: MainSpeaker[] = fab.nodes.map((n) => startMainSpeaker(harness, n, etcd));
    const context = () => speakers.map((s, k) => `\n--- node${k + 1} (exit ${s.child.exitCode}) ---\n${s.output().split('\n').slice(-30).join('\n')}`).join('');
    const fail = (err: unknown): never => {
      throw new Error(`${(err as Error).message}${context()}`);
    };
    const status = async (n: FabricNode): Promise<SpeakerStatusFile> => JSON.parse(await readFile(join(etcd.dir, `node${n.index}.json`), 'utf8')) as SpeakerStatusFile;
    const isEstablished = async (n: FabricNode) => (await status(n)).peers.some((p) => p.state === 'Established');
    const vxlanLink = async (n: FabricNode): Promise<VxlanLinkJson | null> => {
      const links = JSON.parse(await harness.exec(n.ns, 'ip', ['-s', '-d', '-json', 'link', 'show'])) as (VxlanLinkJson & { ifname: string })[];
      return links.find((l) => l.ifname === VXLAN_DEVICE) ?? null;
    };
    const ourRoutes = async (n: FabricNode) =>
      (await harness.hostIp.inNetns(n.ns).routes(4, { protocol: ROUTE_PROTOCOL })).map((r) => `${r.dst} ${r.type === 6 ? 'blackhole' : `via ${r.gateway} dev ${r.dev}${r.flags.includes('onlink') ? ' onlink' : ''}`}`).sort();

    // 1. VXLAN Always.
    const n1Route = `${n2.block} via ${NODE2_TUNNEL_ADDRESS} dev ${VXLAN_DEVICE} onlink`;
    const n2Route = `${n1.block} via ${n1.address} dev ${VXLAN_DEVICE} onlink`; // node1 has no tunnel address: its node address is the gateway
    try {
      await pollUntil('both nodes Established', async () => (await isEstablished(n1)) && (await isEstablished(n2)), { timeoutMs: 45_000, intervalMs: 250 });
      await pollUntil('routes through vxlan.tortie on both nodes', async () => (await ourRoutes(n1)).includes(n1Route) && (await ourRoutes(n2)).includes(n2Route), { timeoutMs: 30_000, intervalMs: 250 });
    } catch (err) {
      fail(err);
    }
    for (const n of fab.nodes) {
      const link = await vxlanLink(n);
      expect(link?.linkinfo).toMatchObject({ info_kind: 'vxlan', info_data: { id: 4096, local: n.address, port: 4789, learning: false } });
      expect(link?.mtu).toBe(1450);
      expect(link?.address).toBe(vtepMacOf(`node${n.index}`));
      expect(link?.flags).toContain('UP');
    }
    const addresses = async (n: FabricNode) => (await harness.hostIp.inNetns(n.ns).addresses({ dev: VXLAN_DEVICE, family: 4 })).map((a) => `${a.address}/${a.prefixLength}`);
    expect(await addresses(n1)).toEqual([]);
    expect(await addresses(n2)).toEqual([`${NODE2_TUNNEL_ADDRESS}/32`]);
    const neighbours = async (n: FabricNode) => (await harness.hostIp.inNetns(n.ns).neighbours(4, { dev: VXLAN_DEVICE })).map((e) => `${e.dst} ${e.lladdr} ${e.state.join(',')}`);
    const fdb = async (n: FabricNode) => (JSON.parse(await harness.exec(n.ns, 'bridge', ['-json', 'fdb', 'show', 'dev', VXLAN_DEVICE])) as { mac: string; dst?: string; state?: string }[]).map((e) => `${e.mac} ${e.dst} ${e.state}`);
    expect(await neighbours(n1)).toEqual([`${NODE2_TUNNEL_ADDRESS} ${vtepMacOf('node2')} PERMANENT`]);
    expect(await neighbours(n2)).toEqual([`${n1.address} ${vtepMacOf('node1')} PERMANENT`]);
    expect(await fdb(n1)).toEqual([`${vtepMacOf('node2')} ${n2.address} permanent`]);
    expect(await fdb(n2)).toEqual([`${vtepMacOf('node1')} ${n1.address} permanent`]);
    expect((await status(n1)).tunnels).toEqual([{ name: VXLAN_DEVICE, state: 'ready', pools: [POOL], error: null }]);

    const before = (await vxlanLink(n1))?.stats64?.tx?.packets ?? 0;
    const reply = await pollUntil('a TCP reply from node2’s pod over VXLAN', async () => tcpAcross(harness, n1, n2), { timeoutMs: 15_000, intervalMs: 250 }).catch(fail);
    expect(reply).toBe('hello-from-2');
    expect((await vxlanLink(n1))?.stats64?.tx?.packets ?? 0).toBeGreaterThan(before);
    expect((await vxlanLink(n2))?.stats64?.rx?.packets ?? 0).toBeGreaterThan(0);

    // Someone deletes the device (and with it the address, neighbour, FDB entry and route): the refresh puts them back.
    await harness.hostIp.inNetns(n1.ns).batch([`link del ${VXLAN_DEVICE}`]);
    await pollUntil('vxlan.tortie, its entries and the route back on node1', async () => (await ourRoutes(n1)).includes(n1Route) && (await fdb(n1)).length === 1 && (await neighbours(n1)).length === 1, { timeoutMs: 10_000, intervalMs: 200 }).catch(fail);
    expect(speakers[0]?.output()).toContain('tunnel devices differed from the desired state, repaired');
    expect(await tcpAcross(harness, n1, n2)).toBe('hello-from-2');

    // 2. The same pool asks for IPIP instead, on a kernel without it.
    const existing = (await etcd.store.get(Kinds.IPPool, POOL)) as StoredObject;
    await etcd.store.update(Kinds.IPPool, { ...pool({ ipipMode: 'Always', vxlanMode: 'Never' }), metadata: { ...existing.metadata } });
    try {
      await pollUntil('vxlan.tortie gone from both nodes', async () => (await vxlanLink(n1)) === null && (await vxlanLink(n2)) === null, { timeoutMs: 20_000, intervalMs: 250 });
      await pollUntil('tunl0 reported not ready', async () => (await status(n1)).tunnels?.some((t) => t.name === 'tunl0' && t.state === 'not-ready'), { timeoutMs: 10_000, intervalMs: 250 });
    } catch (err) {
      fail(err);
    }
    const tunl0 = (await status(n1)).tunnels?.find((t) => t.name === 'tunl0');
    expect(tunl0?.pools).toEqual([POOL]);
    expect(tunl0?.error).toContain('CONFIG_NET_IPIP');
    expect(tunl0?.error).toContain(`IPPool ${POOL}`);
    expect(tunl0?.error).toContain('Use vxlanMode');
    expect(speakers[0]?.output()).toContain('IPIP is not available on this kernel');
    for (const n of fab.nodes) {
      expect(await ourRoutes(n)).toEqual([`${n.block} blackhole`]);
      expect(await harness.hostIp.inNetns(n.ns).link('tunl0')).toBeNull();
      expect(await isEstablished(n)).toBe(true);
    }
    expect(speakers.map((s) => s.child.exitCode)).toEqual([null, null]);
  });

  it('VXLAN CrossSubnet: a plain route to the node on our subnet, the tunnel to the node behind the router', async () => {
    const harness = createNetnsHarness();
    h = harness;
    const etcd = await startFabricEtcd();
    fe = etcd;
    // The router: a bridge for the shared subnet 10.253.0.0/24, and a /30 to node3.
    const tor = await harness.makeNetns('tntor');
    await harness.hostIp.inNetns(tor).batch(['link set lo up', 'link add br0 type bridge', 'addr add 10.253.0.1/24 dev br0', 'link set br0 up']);
    await harness.exec(tor, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
    const nodes: FabricNode[] = [];
    for (const i of [1, 2, 3]) {
      const ns = await harness.makeNetns(`tnn${i}`);
      const [a, b] = [uniqueName('t', 6), uniqueName('n', 6)];
      await harness.makeVeth(a, b, { aNs: tor, bNs: ns });
      const isShared = i !== 3;
      const node: FabricNode = {
        index: i,
        ns,
        address: isShared ? `10.253.0.${i + 1}` : '10.253.3.2',
        torAddress: isShared ? '10.253.0.1' : '10.253.3.1',
        block: `10.245.${i}.0/26`,
        pod: `10.245.${i}.10`,
        asn: 64512,
        speaker: null,
      };
      await harness.hostIp.inNetns(tor).batch(isShared ? [`link set ${a} master br0`, `link set ${a} up`] : [`addr add ${node.torAddress}/30 dev ${a}`, `link set ${a} up`]);
      await harness.hostIp.inNetns(ns).batch(['link set lo up', `addr add ${node.address}/${isShared ? 24 : 30} dev ${b}`, `link set ${b} up`, `addr add ${node.pod}/32 dev lo`, `route add default via ${node.torAddress}`]);
      nodes.push(node);
    }
    const [n1, n2, n3] = nodes as [FabricNode, FabricNode, FabricNode];
    await etcd.store.create(Kinds.IPPool, fabricResource('IPPool', POOL, { cidr: '10.245.0.0/16', blockSize: 26, vxlanMode: 'CrossSubnet' }));
    await etcd.store.create(Kinds.BGPConfiguration, fabricResource('BGPConfiguration', 'default', { asNumber: 64512, nodeToNodeMeshEnabled: true }));
    for (const n of nodes) {
      await etcd.store.create(Kinds.Node, fabricResource('Node', `node${n.index}`, { bgp: { ipv4Address: `${n.address}/${n.index === 3 ? 30 : 24}` } }));
      await etcd.store.create(Kinds.IPAMBlock, fabricResource('IPAMBlock', blockName(n.block), { cidr: n.block, affinity: `host:node${n.index}`, allocations: Array(64).fill(null), unallocated: [...Array(64).keys()], attributes: [] }));
    }
    const speakers = nodes.map((n) => startMainSpeaker(harness, n, etcd));
    const fail = (err: unknown): never => {
      throw new Error(`${(err as Error).message}${speakers.map((s, k) => `\n--- node${k + 1} ---\n${s.output().split('\n').slice(-30).join('\n')}`).join('')}`);
    };
    const ourRoutes = async (n: FabricNode) =>
      (await harness.hostIp.inNetns(n.ns).routes(4, { protocol: ROUTE_PROTOCOL })).map((r) => `${r.dst} ${r.type === 6 ? 'blackhole' : `via ${r.gateway}${r.dev === VXLAN_DEVICE ? ` dev ${r.dev}` : ''}${r.flags.includes('onlink') ? ' onlink' : ''}`}`).sort();
    const expected = [`${n1.block} blackhole`, `${n2.block} via ${n2.address}`, `${n3.block} via ${n3.address} dev ${VXLAN_DEVICE} onlink`];
    await pollUntil('node1: a plain route to node2, the tunnel to node3', async () => JSON.stringify(await ourRoutes(n1)) === JSON.stringify(expected), { timeoutMs: 45_000, intervalMs: 250 }).catch(fail);
    const n1Neighbours = (await harness.hostIp.inNetns(n1.ns).neighbours(4, { dev: VXLAN_DEVICE })).map((e) => `${e.dst} ${e.lladdr}`);
    expect(n1Neighbours).toEqual([`${n3.address} ${vtepMacOf('node3')}`]);
    const n1Fdb = JSON.parse(await harness.exec(n1.ns, 'bridge', ['-json', 'fdb', 'show', 'dev', VXLAN_DEVICE])) as { mac: string; dst?: string }[];
    expect(n1Fdb.map((e) => `${e.mac} ${e.dst}`)).toEqual([`${vtepMacOf('node3')} ${n3.address}`]);
    // node3 tunnels to both (they are both on another subnet from it).
    await pollUntil('node3: the tunnel to node1 and node2', async () => (await ourRoutes(n3)).filter((r) => r.includes(VXLAN_DEVICE)).length === 2, { timeoutMs: 20_000, intervalMs: 250 }).catch(fail);

    const txPackets = async () => ((JSON.parse(await harness.exec(n1.ns, 'ip', ['-s', '-json', 'link', 'show', 'dev', VXLAN_DEVICE])) as VxlanLinkJson[])[0]?.stats64?.tx?.packets ?? 0);
    const deviceTo = async (n: FabricNode) => (JSON.parse(await harness.exec(n1.ns, 'ip', ['-json', 'route', 'get', n.pod, 'from', n1.pod])) as { dev: string }[])[0]?.dev;
    expect(await deviceTo(n2)).not.toBe(VXLAN_DEVICE);
    expect(await deviceTo(n3)).toBe(VXLAN_DEVICE);
    expect(await pollUntil('TCP to node2’s pod', async () => tcpAcross(harness, n1, n2), { timeoutMs: 10_000, intervalMs: 250 }).catch(fail)).toBe('hello-from-2');
    const before = await txPackets();
    expect(await pollUntil('TCP to node3’s pod', async () => tcpAcross(harness, n1, n3), { timeoutMs: 10_000, intervalMs: 250 }).catch(fail)).toBe('hello-from-3');
    expect(await txPackets()).toBeGreaterThan(before);
  });
});
