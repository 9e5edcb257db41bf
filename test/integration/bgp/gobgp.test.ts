/**
 * Interop with GoBGP (gobgpd 3) in network namespaces, the same topology as
 * bird.test.ts: gobgpd in the "tor" namespace (its gRPC API on that
 * namespace's loopback, queried with the `gobgp` CLI run inside it), our
 * speaker process in the "node" namespace. GoBGP has no kernel protocol of
 * its own, so "installed" is checked in its RIB: our /26 is there with the
 * node as next hop and our AS path, and we learn a route added to its RIB.
 *
 * Then a GoBGP ToR with three tortie nodes (fabric.ts), eBGP and iBGP with
 * GoBGP reflecting for the nodes: every block in its RIB, every node learns
 * the ToR's route and the other blocks. Last, the same eBGP fabric with the
 * real speaker (main.ts) on the nodes, which install the routes themselves.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ROUTE_PROTOCOL } from '../../../lib/contract.js';
import { gobgpAvailable, startGobgp, type GobgpInstance } from '../../harness/gobgp.js';
import { createNetnsHarness, kernelAccessProblem, pollUntil, type NetnsHarness } from '../../harness/netns.js';
import { makeFabric, seedFabric, startFabricEtcd, startMainSpeaker, startNodeSpeakers, stopNodeSpeakers, waitLearned, type Fabric, type FabricEtcd } from './fabric.js';
import { makeTorAndNode, NODE, POD_BLOCK, startSpeaker, TOR, TOR_ROUTE, type SpeakerProcess } from './topology.js';

const problem = (await kernelAccessProblem()) ?? ((await gobgpAvailable()) ? null : 'gobgpd is not installed (Debian package gobgpd)');
if (problem !== null) console.warn(`skipping test/integration/bgp/gobgp.test.ts: ${problem}`);

function gobgpConfig(kind: { torAsn: number; nodeAsn: number }): string {
  return `
[global.config]
  as = ${kind.torAsn}
  router-id = "${TOR}"
  local-address-list = ["${TOR}"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "${NODE}"
    peer-as = ${kind.nodeAsn}
  [neighbors.transport.config]
    local-address = "${TOR}"
  [neighbors.timers.config]
    connect-retry = 1
    hold-time = 9
    keepalive-interval = 3
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
`;
}


describe.skipIf(problem !== null)('GoBGP interop', () => {
  let h: NetnsHarness | null = null;
  let speaker: SpeakerProcess | null = null;
  let gobgpd: GobgpInstance | null = null;

  afterEach(async () => {
    await speaker?.stop();
    await gobgpd?.stop();
    await h?.cleanup(); // kills anything left by pid
    speaker = h = gobgpd = null;
  });

  it.each([
    { name: 'eBGP (4-octet node AS)', torAsn: 65000, nodeAsn: 4200000001 },
    { name: 'iBGP', torAsn: 65000, nodeAsn: 65000 },
  ])('$name: Established both ways, routes exchanged, Cease withdraws', async (kind) => {
    h = createNetnsHarness();
    const { tor, node } = await makeTorAndNode(h);
    const g = await startGobgp(h, tor, gobgpConfig(kind));
    gobgpd = g;
    await g.gobgp('global', 'rib', 'add', TOR_ROUTE, '-a', 'ipv4');

    const s = startSpeaker(h, node, { localAddress: NODE, localAsn: kind.nodeAsn, peerAddress: TOR, peerAsn: kind.torAsn, announce: [POD_BLOCK], listen: true, holdTimeSec: 30 });
    speaker = s;
    const context = () => `\n--- speaker ---\n${s.output()}\n--- gobgpd ---\n${g.log()}`;

    try {
      await pollUntil('GoBGP says established', async () => (await g.neighborState(NODE)) === 'established', { timeoutMs: 30_000, intervalMs: 200 });
      await pollUntil('our session Established', async () => s.events.some((e) => e.type === 'established'), { timeoutMs: 10_000 });
    } catch (err) {
      throw new Error(`${(err as Error).message}${context()}`);
    }
    expect(s.events.find((e) => e.type === 'established')).toMatchObject({ peerAsn: kind.torAsn, holdTimeSec: 9, keepaliveTimeSec: 3, fourOctetAs: true });

    // Our /26 in GoBGP's RIB, next hop the node, AS path ours (eBGP) or empty (iBGP).
    const rib = () => g.rib();
    const ours = await pollUntil('the pod block in GoBGP’s RIB', async () => (await rib())[POD_BLOCK]?.[0], { timeoutMs: 15_000, intervalMs: 200 }).catch((err: Error) => {
      throw new Error(`${err.message}${context()}`);
    });
    const attrs = ours.attrs ?? [];
    expect(attrs.find((a) => a.type === 3)?.nexthop).toBe(NODE);
    const asns = attrs.find((a) => a.type === 2)?.as_paths?.flatMap((p) => p.asns) ?? [];
    expect(asns).toEqual(kind.torAsn === kind.nodeAsn ? [] : [kind.nodeAsn]);

    // We learn GoBGP's route with the tor as next hop.
    const learned = await pollUntil('GoBGP’s route at the speaker', async () => s.events.find((e) => e.type === 'route' && e.prefix === TOR_ROUTE), { timeoutMs: 15_000 }).catch((err: Error) => {
      throw new Error(`${err.message}${context()}`);
    });
    expect(learned).toMatchObject({ nextHop: TOR });
    expect(s.events.filter((e) => e.type === 'update-error' || e.type === 'handler-error')).toEqual([]);

    // Keepalives hold it (hold time 9 s).
    await new Promise((r) => setTimeout(r, 10_000));
    expect(s.events.filter((e) => e.type === 'state' && e.to === 'Idle')).toEqual([]);

    await s.stop();
    expect(s.events.at(-1)).toMatchObject({ type: 'stopped' });
    await pollUntil('the pod block withdrawn from GoBGP', async () => (await rib())[POD_BLOCK] === undefined, { timeoutMs: 10_000, intervalMs: 100 });
    expect(g.log()).toMatch(/Peer Down.*notification-received code 6\(cease\) subcode 2\(administrative shutdown\)/);
    expect(g.log()).toMatch(/Communicated-Reason="test finished"/);
  });
});

/** gobgpd.toml for a ToR facing every fabric node: eBGP (one AS per node) or iBGP with the nodes as RR clients. */
function fabricConfig(fabric: Fabric, torAsn: number, mode: 'ebgp' | 'rr'): string {
  const neighbors = fabric.nodes.map((n) => `
[[neighbors]]
  [neighbors.config]
    neighbor-address = "${n.address}"
    peer-as = ${n.asn}
  [neighbors.transport.config]
    local-address = "${n.torAddress}"
  [neighbors.timers.config]
    connect-retry = 1
    hold-time = 9
    keepalive-interval = 3
${mode === 'rr' ? `  [neighbors.route-reflector.config]
    route-reflector-client = true
    route-reflector-cluster-id = "10.253.0.1"
` : ''}  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
`);
  return `
[global.config]
  as = ${torAsn}
  router-id = "10.253.0.1"
${neighbors.join('')}`;
}

/**
 * A GoBGP ToR with three tortie nodes. GoBGP programs no kernel routes, so
 * "the ToR learns every block" is checked in its RIB (next hop the node) and
 * no TCP connection is tried through it (frr.test.ts does that with zebra).
 */
describe.skipIf(problem !== null)('GoBGP ToR with three tortie nodes', () => {
  let h: NetnsHarness | null = null;
  let gobgpd: GobgpInstance | null = null;
  let fabric: Fabric | null = null;

  afterEach(async () => {
    await stopNodeSpeakers(fabric);
    await gobgpd?.stop();
    await h?.cleanup();
    h = gobgpd = fabric = null;
  });

  it.each([
    { name: 'eBGP, one AS per node', mode: 'ebgp' as const, asnOf: (i: number) => 64600 + i },
    { name: 'iBGP, GoBGP as route reflector for the nodes', mode: 'rr' as const, asnOf: () => 65000 },
  ])('$name: every block in the ToR RIB, nodes learn the ToR route and each other', async (kind) => {
    h = createNetnsHarness();
    const fab = await makeFabric(h, 3, kind.asnOf);
    fabric = fab;
    const g = await startGobgp(h, fab.tor, fabricConfig(fab, 65000, kind.mode));
    gobgpd = g;
    await g.gobgp('global', 'rib', 'add', TOR_ROUTE, '-a', 'ipv4');
    startNodeSpeakers(h, fab, 65000);
    const context = () => `${fab.nodes.map((n) => `\n--- speaker ${n.index} ---\n${n.speaker?.output() ?? ''}`).join('')}\n--- gobgpd ---\n${g.log()}`;
    try {
      for (const n of fab.nodes) await pollUntil(`GoBGP established with node ${n.index}`, async () => (await g.neighborState(n.address)) === 'established', { timeoutMs: 30_000, intervalMs: 200 });
      const rib = await pollUntil('every block in GoBGP’s RIB', async () => {
        const r = await g.rib();
        return fab.nodes.every((n) => r[n.block] !== undefined) ? r : null;
      }, { timeoutMs: 20_000, intervalMs: 200 });
      for (const n of fab.nodes) {
        const attrs = rib[n.block]?.[0]?.attrs ?? [];
        expect(attrs.find((a) => a.type === 3)?.nexthop).toBe(n.address);
        expect(attrs.find((a) => a.type === 2)?.as_paths?.flatMap((p) => p.asns) ?? []).toEqual(kind.mode === 'rr' ? [] : [n.asn]);
      }

      // eBGP: GoBGP sets itself as next hop. Reflection (RFC 4456) keeps the originating node's.
      for (const n of fab.nodes) {
        const others = fab.nodes.filter((o) => o !== n);
        const l = await waitLearned(n, [TOR_ROUTE, ...others.map((o) => o.block)]);
        expect(l.get(TOR_ROUTE)?.nextHop).toBe(n.torAddress);
        for (const o of others) expect(l.get(o.block)?.nextHop).toBe(kind.mode === 'rr' ? o.address : n.torAddress);
        expect(n.speaker?.events.filter((e) => e.type === 'update-error' || e.type === 'handler-error')).toEqual([]);
      }
    } catch (err) {
      throw new Error(`${(err as Error).message}${context()}`);
    }
  });
});

/**
 * The GoBGP ToR with the real speaker (main.ts, configured from etcd as in
 * frr.test.ts) on three nodes, eBGP: every block in GoBGP's RIB, and each
 * speaker installs the other nodes' blocks in its own kernel via the ToR.
 * (GoBGP programs no kernel, so no TCP crossing through it.)
 */
describe.skipIf(problem !== null)('GoBGP ToR with three nodes running the tortie speaker (main.ts)', () => {
  let h: NetnsHarness | null = null;
  let gobgpd: GobgpInstance | null = null;
  let fe: FabricEtcd | null = null;

  afterEach(async () => {
    await gobgpd?.stop();
    await h?.cleanup(); // the speakers and relays, by pid
    await fe?.close();
    h = gobgpd = fe = null;
  });

  it('eBGP, one AS per node: blocks in the ToR RIB, the speakers install the others', async () => {
    const harness = createNetnsHarness();
    h = harness;
    const etcd = await startFabricEtcd();
    fe = etcd;
    const fab = await makeFabric(harness, 3, (i) => 64600 + i);
    await seedFabric(etcd.store, fab, 65000);
    const g = await startGobgp(harness, fab.tor, fabricConfig(fab, 65000, 'ebgp'));
    gobgpd = g;
    const speakers = fab.nodes.map((n) => startMainSpeaker(harness, n, etcd));
    const context = () => `${speakers.map((sp, k) => `\n--- node${k + 1} ---\n${sp.output().split('\n').slice(-30).join('\n')}`).join('')}\n--- gobgpd ---\n${g.log()}`;
    try {
      for (const n of fab.nodes) await pollUntil(`GoBGP established with node ${n.index}`, async () => (await g.neighborState(n.address)) === 'established', { timeoutMs: 45_000, intervalMs: 250 });
      const rib = await pollUntil('every block in GoBGP’s RIB', async () => {
        const r = await g.rib();
        return fab.nodes.every((n) => r[n.block] !== undefined) ? r : null;
      }, { timeoutMs: 20_000, intervalMs: 200 });
      for (const n of fab.nodes) {
        const attrs = rib[n.block]?.[0]?.attrs ?? [];
        expect(attrs.find((a) => a.type === 3)?.nexthop).toBe(n.address);
        expect(attrs.find((a) => a.type === 2)?.as_paths?.flatMap((p) => p.asns) ?? []).toEqual([n.asn]);
      }
      for (const n of fab.nodes) {
        await pollUntil(`node ${n.index}: the other blocks in its kernel via the ToR`, async () => {
          const ours = await harness.hostIp.inNetns(n.ns).routes(4, { protocol: ROUTE_PROTOCOL });
          return fab.nodes.filter((o) => o !== n).every((o) => ours.some((r) => r.dst === o.block && r.gateway === n.torAddress));
        }, { timeoutMs: 20_000, intervalMs: 200 });
      }
    } catch (err) {
      throw new Error(`${(err as Error).message}${context()}`);
    }
  });
});
