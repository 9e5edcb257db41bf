import { describe, expect, it } from 'vitest';
import { parseResource, type BGPConfiguration, type BGPPeer, type IPAMBlock, type IPPool, type Node } from '../../crds/src/index.js';
import { TORTIE_API_VERSION } from '../../lib/contract.js';
import { createLogger } from '../../lib/log.js';
import { calculateSpeakerConfig, type DatastoreSnapshot } from './config/desired.js';
import { RouteTable } from './program/route-table.js';
import { FakeClock, MemoryNetwork, settle, type BgpConnection, type Dialer } from './session/index.js';
import { BgpSpeaker } from './speaker.js';

function parsed<T>(key: Parameters<typeof parseResource>[0], name: string, spec: Record<string, unknown>, labels?: Record<string, string>): T {
  const kind = key === 'IPAMBlock' ? 'IPAMBlock' : key;
  const r = parseResource(key, { apiVersion: TORTIE_API_VERSION, kind, metadata: { name, ...(labels ? { labels } : {}) }, spec });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.object as T;
}

const address = (i: number) => `10.0.0.${i}`;
const block = (i: number) => `10.244.${i}.0/26`;
const node = (i: number) => parsed<Node>('Node', `node${i}`, { bgp: { ipv4Address: `${address(i)}/24` } });
const ipamBlock = (i: number) =>
  parsed<IPAMBlock>('IPAMBlock', `b${i}`, { cidr: block(i), affinity: `host:node${i}`, allocations: Array(64).fill(null), unallocated: [], attributes: [] });
const pool = parsed<IPPool>('IPPool', 'pool', { cidr: '10.244.0.0/16' });
const meshOff = parsed<BGPConfiguration>('BGPConfiguration', 'default', { nodeToNodeMeshEnabled: false });

interface World {
  readonly net: MemoryNetwork;
  readonly clock: FakeClock;
  readonly speakers: Map<number, { speaker: BgpSpeaker; table: RouteTable; isDialing: { value: boolean } }>;
  snapshot(i: number, over?: Partial<DatastoreSnapshot>): DatastoreSnapshot;
  configure(i: number, over?: Partial<DatastoreSnapshot>): void;
  run(ms?: number): Promise<void>;
}

function world(count: number): World {
  const net = new MemoryNetwork();
  const clock = new FakeClock();
  const log = createLogger({ level: 'silent' });
  const speakers: World['speakers'] = new Map();
  const ids = Array.from({ length: count }, (_, k) => k + 1);
  for (const i of ids) {
    const isDialing = { value: true };
    const inner = net.dialerFrom(address(i));
    const dialer: Dialer = {
      dial: (target, signal) => (isDialing.value ? inner.dial(target, signal) : Promise.reject(new Error('connect ENETUNREACH'))),
    };
    const ip = { routes: async () => [], batch: async () => {} };
    const table = new RouteTable({ ip, clock, families: [4] });
    const speaker = new BgpSpeaker({ dialer, clock, routeTable: table, log, holdTimeSec: 30, connectRetryTimeSec: 2, selectionDeferralMs: 1_000, jitter: () => 1 });
    net.listen(address(i), (conn: BgpConnection) => speaker.accept(conn));
    speakers.set(i, { speaker, table, isDialing });
  }
  const snapshot = (i: number, over: Partial<DatastoreSnapshot> = {}): DatastoreSnapshot => ({
    nodeName: `node${i}`,
    nodes: ids.map(node),
    bgpPeers: [],
    pools: [pool],
    blocks: ids.map(ipamBlock),
    ...over,
  });
  return {
    net,
    clock,
    speakers,
    snapshot,
    configure: (i, over) => speakers.get(i)?.speaker.configure(calculateSpeakerConfig(snapshot(i, over))),
    run: (ms = 5_000) => clock.advance(ms, settle),
  };
}

const get = (w: World, i: number) => w.speakers.get(i)!;
const learned = (w: World, i: number) =>
  [...get(w, i).speaker.locRib.bests()]
    .filter((p) => p.peer !== null)
    .map((p) => `${p.prefix} via ${p.nextHop}`)
    .sort();
const kernel = (w: World, i: number) => get(w, i).table.desired.map((r) => `${r.dst} ${r.type === 'blackhole' ? 'blackhole' : `via ${r.gateway}`}`).sort();
const states = (w: World, i: number) => get(w, i).speaker.status().map((p) => `${p.peerAddress} ${p.state}`);

describe('BgpSpeaker', () => {
  it('three speakers in a full mesh learn each other’s blocks and plan kernel routes via the right next hop', async () => {
    const w = world(3);
    for (const i of [1, 2, 3]) w.configure(i);
    await w.run();
    expect(states(w, 1)).toEqual(['10.0.0.2 Established', '10.0.0.3 Established']);
    expect(learned(w, 1)).toEqual(['10.244.2.0/26 via 10.0.0.2', '10.244.3.0/26 via 10.0.0.3']);
    expect(kernel(w, 1)).toEqual(['10.244.1.0/26 blackhole', '10.244.2.0/26 via 10.0.0.2', '10.244.3.0/26 via 10.0.0.3']);
    expect(get(w, 1).speaker.status().map((p) => [p.type, p.prefixesReceived, p.prefixesSent])).toEqual([
      ['node-to-node mesh', 1, 1],
      ['node-to-node mesh', 1, 1],
    ]);
    for (const i of [1, 2, 3]) await get(w, i).speaker.stop();
  });

  it('a block removed from a node is withdrawn from the others’ Loc-RIBs and kernels', async () => {
    const w = world(3);
    for (const i of [1, 2, 3]) w.configure(i);
    await w.run();
    w.configure(2, { blocks: [ipamBlock(1), ipamBlock(3)] });
    await w.run(1_000);
    expect(learned(w, 1)).toEqual(['10.244.3.0/26 via 10.0.0.3']);
    expect(kernel(w, 3)).toEqual(['10.244.1.0/26 via 10.0.0.1', '10.244.3.0/26 blackhole']);
    for (const i of [1, 2, 3]) await get(w, i).speaker.stop();
  });

  it('changing one peer’s AS restarts only that session', async () => {
    const w = world(3);
    const peers = (asn: number) => [
      parsed<BGPPeer>('BGPPeer', 'to-2', { node: 'node1', peerIP: address(2), asNumber: asn }),
      parsed<BGPPeer>('BGPPeer', 'to-3', { node: 'node1', peerIP: address(3), asNumber: 64512 }),
      parsed<BGPPeer>('BGPPeer', 'from-1', { nodeSelector: 'all()', peerIP: address(1), asNumber: 64512 }),
    ];
    for (const i of [1, 2, 3]) w.configure(i, { bgpConfiguration: meshOff, bgpPeers: peers(64512) });
    await w.run();
    expect(states(w, 1)).toEqual(['10.0.0.2 Established', '10.0.0.3 Established']);
    const before = get(w, 1).speaker.status();
    w.configure(1, { bgpConfiguration: meshOff, bgpPeers: peers(65099) });
    await w.run();
    const after = get(w, 1).speaker.status();
    expect(after.find((p) => p.peerAddress === address(3))).toEqual(before.find((p) => p.peerAddress === address(3)));
    const toNode2 = after.find((p) => p.peerAddress === address(2));
    expect(toNode2).toMatchObject({ peerAsn: 65099 });
    expect(toNode2?.state).not.toBe('Established');
    expect(toNode2?.lastError).toMatch(/OPEN Message Error\/Bad Peer AS|BadPeerAs/i);
    expect(learned(w, 1)).toEqual(['10.244.3.0/26 via 10.0.0.3']);
    for (const i of [1, 2, 3]) await get(w, i).speaker.stop();
  });

  it('a Cease from a peer removes its routes at once', async () => {
    const w = world(2);
    for (const i of [1, 2]) w.configure(i);
    await w.run();
    expect(learned(w, 1)).toEqual(['10.244.2.0/26 via 10.0.0.2']);
    await get(w, 2).speaker.stop();
    await settle();
    expect(learned(w, 1)).toEqual([]);
    await get(w, 1).speaker.stop();
  });

  it('a peer lost without NOTIFICATION keeps its routes, stale, for its graceful-restart time', async () => {
    const w = world(2);
    for (const i of [1, 2]) w.configure(i);
    await w.run();
    // Node 2 vanishes: its connections drop and it can neither dial nor be dialled.
    get(w, 2).isDialing.value = false;
    w.net.unlisten(address(2));
    for (const pair of w.net.pairs) if (pair.isOpen) pair.a.destroy();
    await w.run(31_000); // the hold timer (30 s) notices at the latest
    expect(states(w, 1)).not.toContain('10.0.0.2 Established');
    await w.run(60_000);
    expect(learned(w, 1)).toEqual(['10.244.2.0/26 via 10.0.0.2']); // kept: restart time is 120 s
    expect(get(w, 1).speaker.locRib.best(block(2))?.isStale).toBe(true);
    await w.run(60_000);
    expect(learned(w, 1)).toEqual([]);
    expect(kernel(w, 1)).toEqual(['10.244.1.0/26 blackhole']);
    for (const i of [1, 2]) await get(w, i).speaker.stop();
  });
});
