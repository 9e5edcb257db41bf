/**
 * Interop with FRR (zebra + bgpd 8) in network namespaces, the same topology
 * as bird.test.ts: zebra and bgpd run in the "tor" namespace (foreground, by
 * pid, every socket, pid file and config in a temp dir, so they never meet
 * the machine's own FRR), our speaker process in the "node" namespace. Zebra
 * installs what bgpd learns, so the check is the tor's kernel table.
 *
 * Then a ToR with three tortie nodes (fabric.ts), eBGP (one AS per node) and
 * iBGP with FRR reflecting for the nodes: zebra installs every node's block
 * in the ToR's kernel, each node learns the ToR's network and the other
 * blocks, and with those routes in the nodes' kernels (put there by the test,
 * since the speaker fixture programs nothing) a TCP connection runs from one
 * node's pod address to another's through the ToR.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ROUTE_PROTOCOL } from '../../../lib/contract.js';
import { frrAvailable, startFrr, type FrrInstance } from '../../harness/frr.js';
import { createNetnsHarness, kernelAccessProblem, pollUntil, type NetnsHarness } from '../../harness/netns.js';
import { installLearned, makeFabric, seedFabric, startFabricEtcd, startMainSpeaker, startNodeSpeakers, stopNodeSpeakers, tcpAcross, waitLearned, type Fabric, type FabricEtcd } from './fabric.js';
import { kernelRoutes, makeTorAndNode, NODE, POD_BLOCK, startSpeaker, TOR, TOR_ROUTE, type SpeakerProcess } from './topology.js';

const problem = (await kernelAccessProblem()) ?? ((await frrAvailable()) ? null : 'FRR is not installed (Debian package frr)');
if (problem !== null) console.warn(`skipping test/integration/bgp/frr.test.ts: ${problem}`);

function bgpdConfig(kind: { torAsn: number; nodeAsn: number }): string {
  return `frr defaults traditional
hostname tor
log stdout informational
router bgp ${kind.torAsn}
 bgp router-id ${TOR}
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor ${NODE} remote-as ${kind.nodeAsn}
 neighbor ${NODE} timers 3 9
 neighbor ${NODE} timers connect 1
 address-family ipv4 unicast
  network ${TOR_ROUTE}
 exit-address-family
`;
}

describe.skipIf(problem !== null)('FRR interop', () => {
  let h: NetnsHarness | null = null;
  let speaker: SpeakerProcess | null = null;
  let frr: FrrInstance | null = null;

  afterEach(async () => {
    await speaker?.stop();
    await frr?.stop();
    await h?.cleanup(); // kills anything left by pid
    speaker = h = frr = null;
  });

  it.each([
    { name: 'eBGP (4-octet node AS)', torAsn: 65000, nodeAsn: 4200000001 },
    { name: 'iBGP', torAsn: 65000, nodeAsn: 65000 },
  ])('$name: Established both ways, routes learned and installed, Cease withdraws', async (kind) => {
    h = createNetnsHarness();
    const { tor, node } = await makeTorAndNode(h);
    const f = await startFrr(h, tor, { bgpdConfig: bgpdConfig(kind), listenAddress: TOR });
    frr = f;
    const vtysh = f.vtysh;

    const s = startSpeaker(h, node, { localAddress: NODE, localAsn: kind.nodeAsn, peerAddress: TOR, peerAsn: kind.torAsn, announce: [POD_BLOCK], listen: true, holdTimeSec: 30 });
    speaker = s;
    const context = () => `\n--- speaker ---\n${s.output()}\n--- frr ---\n${f.log()}`;
    const neighborState = () => f.neighborState(NODE);

    try {
      await pollUntil('FRR says Established', async () => (await neighborState()) === 'Established', { timeoutMs: 30_000, intervalMs: 200 });
      await pollUntil('our session Established', async () => s.events.some((e) => e.type === 'established'), { timeoutMs: 10_000 });
    } catch (err) {
      throw new Error(`${(err as Error).message}${context()}`);
    }
    expect(s.events.find((e) => e.type === 'established')).toMatchObject({ peerAsn: kind.torAsn, holdTimeSec: 9, keepaliveTimeSec: 3, fourOctetAs: true });

    // bgpd learns our /26 and zebra installs it in the tor's kernel via the node.
    const installed = await pollUntil('the pod block in the tor kernel', async () => (await kernelRoutes(h!, tor)).find((r) => r.dst === POD_BLOCK), { timeoutMs: 15_000, intervalMs: 200 }).catch((err: Error) => {
      throw new Error(`${err.message}${context()}`);
    });
    expect(installed).toMatchObject({ dst: POD_BLOCK, gateway: NODE, protocol: 'bgp' });
    const frrRoute = JSON.parse(await vtysh(`show bgp ipv4 unicast ${POD_BLOCK} json`)) as { paths?: { aspath?: { string?: string } }[] };
    expect(frrRoute.paths?.[0]?.aspath?.string).toBe(kind.torAsn === kind.nodeAsn ? 'Local' : String(kind.nodeAsn));

    // We learn FRR's network, next hop the tor.
    const learned = await pollUntil('FRR’s route at the speaker', async () => s.events.find((e) => e.type === 'route' && e.prefix === TOR_ROUTE), { timeoutMs: 15_000 }).catch((err: Error) => {
      throw new Error(`${err.message}${context()}`);
    });
    expect(learned).toMatchObject({ nextHop: TOR });
    expect(s.events.filter((e) => e.type === 'update-error' || e.type === 'handler-error')).toEqual([]);

    // Keepalives hold it (hold time 9 s).
    await new Promise((r) => setTimeout(r, 10_000));
    expect(await neighborState()).toBe('Established');
    expect(s.events.filter((e) => e.type === 'state' && e.to === 'Idle')).toEqual([]);

    await s.stop();
    expect(s.events.at(-1)).toMatchObject({ type: 'stopped' });
    await pollUntil('FRR leaves Established', async () => (await neighborState()) !== 'Established', { timeoutMs: 10_000, intervalMs: 100 });
    await pollUntil('the pod block withdrawn from the tor kernel', async () => !(await kernelRoutes(h!, tor)).some((r) => r.dst === POD_BLOCK), { timeoutMs: 10_000, intervalMs: 100 });
    if (process.env.TT_BGP_DEBUG) console.log(context());
  });
});

/**
 * bgpd.conf for a ToR facing every fabric node: eBGP (each node its own AS)
 * or iBGP with the nodes as route-reflector clients (next-hop-self force, so
 * reflected routes point at the ToR, the only next hop a node can reach).
 */
function fabricConfig(fabric: Fabric, torAsn: number, mode: 'ebgp' | 'rr'): string {
  const neighbors = fabric.nodes.map((n) => [
    ` neighbor ${n.address} remote-as ${n.asn}`,
    ` neighbor ${n.address} timers 3 9`,
    ` neighbor ${n.address} timers connect 1`,
    ` neighbor ${n.address} update-source ${n.torAddress}`,
  ].join('\n'));
  const af = mode === 'rr' ? fabric.nodes.map((n) => `  neighbor ${n.address} route-reflector-client\n  neighbor ${n.address} next-hop-self force`).join('\n') : '';
  return `frr defaults traditional
hostname tor
log stdout informational
router bgp ${torAsn}
 bgp router-id 10.253.0.1
 no bgp ebgp-requires-policy
 no bgp network import-check
${neighbors.join('\n')}
 address-family ipv4 unicast
  network ${TOR_ROUTE}
${af}
 exit-address-family
`;
}

describe.skipIf(problem !== null)('FRR ToR with three tortie nodes', () => {
  let h: NetnsHarness | null = null;
  let frr: FrrInstance | null = null;
  let fabric: Fabric | null = null;

  afterEach(async () => {
    await stopNodeSpeakers(fabric);
    await frr?.stop();
    await h?.cleanup();
    h = frr = fabric = null;
  });

  it.each([
    { name: 'eBGP, one AS per node', mode: 'ebgp' as const, asnOf: (i: number) => 64600 + i },
    { name: 'iBGP, FRR as route reflector for the nodes', mode: 'rr' as const, asnOf: () => 65000 },
  ])('$name: the ToR installs every block, nodes learn each other, TCP crosses the ToR', async (kind) => {
    h = createNetnsHarness();
    const fab = await makeFabric(h, 3, kind.asnOf);
    fabric = fab;
    const f = await startFrr(h, fab.tor, { bgpdConfig: fabricConfig(fab, 65000, kind.mode), listenAddress: '0.0.0.0' });
    frr = f;
    startNodeSpeakers(h, fab, 65000);
    const context = () => `${fab.nodes.map((n) => `\n--- speaker ${n.index} ---\n${n.speaker?.output() ?? ''}`).join('')}\n--- frr ---\n${f.log()}`;
    try {
      for (const n of fab.nodes) await pollUntil(`FRR Established with node ${n.index}`, async () => (await f.neighborState(n.address)) === 'Established', { timeoutMs: 30_000, intervalMs: 200 });

      // Zebra installs every node's block in the ToR's kernel, via that node.
      await pollUntil('every block in the tor kernel', async () => {
        const routes = await kernelRoutes(h!, fab.tor);
        return fab.nodes.every((n) => routes.some((r) => r.dst === n.block && r.gateway === n.address && r.protocol === 'bgp'));
      }, { timeoutMs: 20_000, intervalMs: 200 });
      if (kind.mode === 'rr') {
        const routes = await f.routes();
        for (const n of fab.nodes) expect(routes[n.block]?.[0]?.path ?? '').toBe('');
      }

      // Every node learns the ToR's network and the other nodes' blocks, next hop the ToR.
      for (const n of fab.nodes) {
        const others = fab.nodes.filter((o) => o !== n).map((o) => o.block);
        const l = await waitLearned(n, [TOR_ROUTE, ...others]);
        for (const p of [TOR_ROUTE, ...others]) expect(l.get(p)?.nextHop).toBe(n.torAddress);
        expect(n.speaker?.events.filter((e) => e.type === 'update-error' || e.type === 'handler-error')).toEqual([]);
      }

      // With the learned routes in the nodes' kernels, pod address to pod address through the ToR.
      for (const n of fab.nodes) await installLearned(h, n);
      const [n1, n2, n3] = fab.nodes as [typeof fab.nodes[0], typeof fab.nodes[0], typeof fab.nodes[0]];
      expect(await tcpAcross(h, n1, n2)).toBe('hello-from-2');
      expect(await tcpAcross(h, n3, n1)).toBe('hello-from-1');
      const trace = await h.exec(n1.ns, 'ip', ['route', 'get', n2.pod, 'from', n1.pod]);
      expect(trace).toContain(`via ${n1.torAddress}`);
    } catch (err) {
      throw new Error(`${(err as Error).message}${context()}`);
    }
  });
});

/**
 * The same fabric with the real speaker (bgp-speaker/src/main.ts) on each
 * node instead of the fixture: configuration from a real etcd (a pool, one
 * affine block and one Node with its own AS per node, a BGPPeer per node to
 * its ToR address, mesh off; eBGP with one AS per node, or iBGP with FRR
 * reflecting), reached through a Unix socket relayed to
 * 127.0.0.1:2379 inside each node namespace (as mesh.test.ts does). The
 * speakers program the nodes' kernels themselves, so the TCP connection
 * between pod addresses needs nothing from the test.
 */
describe.skipIf(problem !== null)('FRR ToR with three nodes running the tortie speaker (main.ts)', () => {
  let h: NetnsHarness | null = null;
  let frr: FrrInstance | null = null;
  let fe: FabricEtcd | null = null;

  afterEach(async () => {
    await frr?.stop();
    await h?.cleanup(); // the speakers and relays, by pid
    await fe?.close();
    h = frr = fe = null;
  });

  it.each([
    { name: 'eBGP, one AS per node', mode: 'ebgp' as const, asnOf: (i: number) => 64600 + i },
    { name: 'iBGP, FRR reflecting for the nodes', mode: 'rr' as const, asnOf: () => 65000 },
  ])('$name: the ToR installs every block, the speakers install the others, TCP crosses the ToR', async (kind) => {
    const harness = createNetnsHarness();
    h = harness;
    const etcd = await startFabricEtcd();
    fe = etcd;
    const fab = await makeFabric(harness, 3, kind.asnOf);
    await seedFabric(etcd.store, fab, 65000);
    const f = await startFrr(harness, fab.tor, { bgpdConfig: fabricConfig(fab, 65000, kind.mode), listenAddress: '0.0.0.0' });
    frr = f;
    const speakers = fab.nodes.map((n) => startMainSpeaker(harness, n, etcd));
    const context = () => `${speakers.map((sp, k) => `\n--- node${k + 1} ---\n${sp.output().split('\n').slice(-30).join('\n')}`).join('')}\n--- frr ---\n${f.log()}`;
    try {
      for (const n of fab.nodes) await pollUntil(`FRR Established with node ${n.index}`, async () => (await f.neighborState(n.address)) === 'Established', { timeoutMs: 45_000, intervalMs: 250 });
      await pollUntil('every block in the tor kernel', async () => {
        const routes = await kernelRoutes(harness, fab.tor);
        return fab.nodes.every((n) => routes.some((r) => r.dst === n.block && r.gateway === n.address && r.protocol === 'bgp'));
      }, { timeoutMs: 20_000, intervalMs: 200 });
      for (const n of fab.nodes) {
        await pollUntil(`node ${n.index}: the other blocks in its kernel via the ToR`, async () => {
          const ours = await harness.hostIp.inNetns(n.ns).routes(4, { protocol: ROUTE_PROTOCOL });
          return fab.nodes.filter((o) => o !== n).every((o) => ours.some((r) => r.dst === o.block && r.gateway === n.torAddress));
        }, { timeoutMs: 20_000, intervalMs: 200 });
      }
      const [n1, n2, n3] = fab.nodes as [typeof fab.nodes[0], typeof fab.nodes[0], typeof fab.nodes[0]];
      expect(await tcpAcross(harness, n1, n2)).toBe('hello-from-2');
      expect(await tcpAcross(harness, n3, n1)).toBe('hello-from-1');
    } catch (err) {
      throw new Error(`${(err as Error).message}${context()}`);
    }
  });
});
