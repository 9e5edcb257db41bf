/**
 * Failure handling in network namespaces, the topology of bird.test.ts (a
 * "tor" and a "node" namespace joined by a veth):
 *
 * - Graceful restart (RFC 4724): our speaker (rib-speaker.ts, GR capability,
 *   restart time 60 s) announces two /26s to BIRD; a TCP connection runs from
 *   an address on the tor to a pod address in the first block through BIRD's
 *   kernel route. `kill -9` the speaker: BIRD keeps both routes (stale) in
 *   the tor's kernel and the connection keeps working. The speaker comes
 *   back with the R bit and announces only the first block: BIRD refreshes
 *   it, and after our End-of-RIB sweeps the second one.
 * - Malformed UPDATEs: a scripted peer (scripted-peer.ts) sends the codec's
 *   malformed fixtures to one long-lived speaker process (speaker.ts):
 *   treat-as-withdraw withdraws only the prefix of the bad UPDATE and the
 *   session stays up (a later UPDATE is still learned); attribute-discard
 *   keeps the route; session-reset cases get the fixture's NOTIFICATION
 *   code/subcode. The speaker process is alive after every case.
 * - Graceful restart of the real speaker (main.ts, from etcd) with FRR as the
 *   helper, in the ToR fabric of fabric.ts: see the last describe.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { codecContext, encodeMessage } from '../../../bgp-speaker/src/codec/index.js';
import { readHexFixture } from '../../../bgp-speaker/src/codec/fixtures/read-hex.js';
import { commandLine } from '../../../lib/kernel/exec.js';
import type { NetnsRef } from '../../../lib/kernel/netns.js';
import { ROUTE_PROTOCOL } from '../../../lib/contract.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import { birdAvailable, startBird, type BirdInstance } from '../../harness/bird.js';
import { frrAvailable, startFrr, type FrrInstance } from '../../harness/frr.js';
import { createNetnsHarness, kernelAccessProblem, pollUntil, type NetnsHarness } from '../../harness/netns.js';
import { blockName, makeFabric, seedFabric, startFabricEtcd, startMainSpeaker, type FabricEtcd, type MainSpeaker } from './fabric.js';
import { collectJsonLines, kernelRoutes, makeTorAndNode, NODE, startSpeaker, TOR, type JsonLinesChild, type SpeakerProcess } from './topology.js';

const RIB_SPEAKER = fileURLToPath(new URL('../../../bgp-speaker/test-fixtures/rib-speaker.ts', import.meta.url));
const SCRIPTED_PEER = fileURLToPath(new URL('../../../bgp-speaker/test-fixtures/scripted-peer.ts', import.meta.url));
const MALFORMED = new URL('../../../bgp-speaker/src/codec/fixtures/malformed/', import.meta.url);

const problem = (await kernelAccessProblem()) ?? ((await birdAvailable()) ? null : 'bird is not installed (Debian package bird2)');
if (problem !== null) console.warn(`skipping test/integration/bgp/failure.test.ts: ${problem}`);

const isAlive = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;

describe.skipIf(problem !== null)('graceful restart with BIRD', () => {
  let h: NetnsHarness | null = null;
  let bird: BirdInstance | null = null;
  const extra: ChildProcess[] = [];

  afterEach(async () => {
    for (const c of extra.splice(0)) if (c.pid !== undefined && isAlive(c)) process.kill(c.pid, 'SIGKILL');
    await bird?.stop();
    await h?.cleanup();
    bird = h = null;
  });

  const BLOCK_A = '10.244.1.0/26';
  const BLOCK_B = '10.244.1.64/26';
  const POD = '10.244.1.10';
  const TOR_HOST = '10.250.0.1';

  it('kill -9: BIRD keeps the routes stale, a connection survives, the return refreshes and sweeps', async () => {
    h = createNetnsHarness();
    const { tor, node } = await makeTorAndNode(h);
    const b = await startBird(h, tor, `
router id ${TOR};
log stderr all;
protocol device { scan time 1; }
protocol kernel { ipv4 { import none; export all; }; scan time 1; }
protocol bgp node {
  local ${TOR} as 65000;
  neighbor ${NODE} as 64512;
  hold time 9;
  graceful restart on;
  graceful restart time 60;
  debug { states, events };
  connect delay time 1;
  connect retry time 2;
  error wait time 1, 4;
  ipv4 { import all; export none; };
}
`);
    bird = b;
    // A pod address in block A on the node, an address on the tor; the node's way back is static.
    await h.hostIp.inNetns(node).batch([`addr add ${POD}/32 dev lo`, `route add ${TOR_HOST}/32 via ${TOR}`]);
    await h.hostIp.inNetns(tor).batch([`addr add ${TOR_HOST}/32 dev lo`]);

    const speakerArgs = (isRestarting: boolean, announce: string[]) => ['--import', 'tsx', RIB_SPEAKER, JSON.stringify({ localAddress: NODE, localAsn: 64512, peerAddress: TOR, peerAsn: 65000, announce, listen: true, holdTimeSec: 30, gracefulRestart: { restartTimeSec: 60, isRestarting } })];
    const first = collectJsonLines(h.spawnIn(node, process.execPath, speakerArgs(false, [BLOCK_A, BLOCK_B])));
    let second: JsonLinesChild | null = null;
    const context = () => `\n--- speaker ---\n${first.output()}\n--- restarted speaker ---\n${second?.output() ?? ''}\n--- bird ---\n${b.log()}`;
    const torHas = async (dst: string) => (await kernelRoutes(h!, tor)).some((r) => r.dst === dst && r.gateway === NODE);

    try {
      await pollUntil('both blocks in the tor kernel', async () => (await torHas(BLOCK_A)) && (await torHas(BLOCK_B)), { timeoutMs: 30_000, intervalMs: 200 });
      expect(first.events.find((e) => e.type === 'established')).toMatchObject({ peerGracefulRestart: true });

      // A TCP echo server at the pod address, a client on the tor talking through BIRD's route.
      const server = h.spawnIn(node, 'socat', [`TCP-LISTEN:7000,bind=${POD},reuseaddr`, 'PIPE']);
      await pollUntil('echo server listening', async () => (await h!.exec(node, 'ss', ['-tlnH'])).includes(`${POD}:7000`), { timeoutMs: 5_000, intervalMs: 50 });
      const [bin, ...argv] = commandLine('socat', ['-', `TCP:${POD}:7000,bind=${TOR_HOST}`], tor.path);
      const client = spawn(bin as string, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
      extra.push(client, server);
      let echoed = '';
      client.stdout.on('data', (d: Buffer) => (echoed += d.toString()));
      const roundTrip = async (word: string) => {
        client.stdin.write(`${word}\n`);
        await pollUntil(`echo of ${word}`, async () => echoed.includes(word), { timeoutMs: 5_000, intervalMs: 20 });
      };
      await roundTrip('before');

      // kill -9: no NOTIFICATION, the TCP session just ends. BIRD keeps the routes as stale.
      process.kill(first.child.pid as number, 'SIGKILL');
      await first.exited;
      await pollUntil('BIRD leaves Established', async () => (await b.bgpState('node')) !== 'Established', { timeoutMs: 10_000, intervalMs: 100 });
      await pollUntil('BIRD notes the graceful restart', async () => /node: Neighbor graceful restart detected/.test(b.log()), { timeoutMs: 5_000, intervalMs: 100 });
      const deadline = Date.now() + 3_000;
      while (Date.now() < deadline) {
        expect(await torHas(BLOCK_A)).toBe(true);
        expect(await torHas(BLOCK_B)).toBe(true);
        await new Promise((r) => setTimeout(r, 250));
      }
      await roundTrip('during');
      expect(isAlive(client)).toBe(true);

      // The speaker returns (R bit set) announcing block A only: B is swept after our End-of-RIB.
      second = collectJsonLines(h.spawnIn(node, process.execPath, speakerArgs(true, [BLOCK_A])));
      const s2 = second;
      await pollUntil('the restarted session Established', async () => s2.events.some((e) => e.type === 'established'), { timeoutMs: 30_000, intervalMs: 100 });
      await pollUntil('BIRD Established again', async () => (await b.bgpState('node')) === 'Established', { timeoutMs: 10_000, intervalMs: 100 });
      await pollUntil('block B swept from the tor kernel', async () => !(await torHas(BLOCK_B)), { timeoutMs: 10_000, intervalMs: 100 });
      expect(await torHas(BLOCK_A)).toBe(true);
      expect(b.log()).toMatch(/node: Neighbor graceful restart done/);
      const routeA = await b.birdc('show', 'route', 'for', BLOCK_A, 'all');
      expect(routeA).toContain('BGP.as_path: 64512');
      expect(routeA).not.toMatch(/stale/i);
      await roundTrip('after');
      expect(isAlive(client)).toBe(true);
      if (process.env.TT_BGP_DEBUG) console.log(context());
      s2.child.kill('SIGTERM');
    } catch (err) {
      throw new Error(`${(err as Error).message}${context()}`);
    }
  });
});

interface MalformedCase {
  readonly file: string;
  readonly expect: { kind: 'treat-as-withdraw' | 'attribute-discard' } | { kind: 'notification'; code: number; subcode: number };
}

const CASES: readonly MalformedCase[] = [
  'update-origin-value-3',
  'update-as-path-segment-type-9',
  'update-missing-next-hop',
  'update-atomic-aggregate-length-1',
  'header-bad-marker',
  'update-withdrawn-length-overrun',
  'update-nlri-prefix-length-33',
].map((name) => {
  const file = `${name}.hex`;
  if (!readdirSync(MALFORMED).includes(file)) throw new Error(`missing fixture ${file}`);
  const expectation = readHexFixture(new URL(file, MALFORMED)).meta.expect ?? '';
  const n = /^notification (\d+)\/(\d+)/.exec(expectation);
  if (n !== null) return { file, expect: { kind: 'notification' as const, code: Number(n[1]), subcode: Number(n[2]) } };
  const kind = expectation.split(' ')[0];
  if (kind !== 'treat-as-withdraw' && kind !== 'attribute-discard') throw new Error(`${file}: unexpected expectation ${expectation}`);
  return { file, expect: { kind } };
});

describe.skipIf(problem !== null)('malformed UPDATEs from a peer', () => {
  let h: NetnsHarness | null = null;
  let speaker: SpeakerProcess | null = null;

  afterEach(async () => {
    await speaker?.stop();
    await h?.cleanup();
    speaker = h = null;
  });

  it('gets the RFC 7606 / RFC 4271 treatment per fixture, and the speaker process stays up', async () => {
    h = createNetnsHarness();
    const { tor, node } = await makeTorAndNode(h);
    const s = startSpeaker(h, node, { localAddress: NODE, localAsn: 64512, peerAddress: TOR, peerAsn: 65001, announce: [], listen: true, passive: true, holdTimeSec: 30 });
    speaker = s;
    await pollUntil('speaker listening', async () => s.events.some((e) => e.type === 'listening'), { timeoutMs: 15_000 });

    const ctx = codecContext({ hasFourOctetAs: false });
    const announce = (prefixes: string[]) =>
      Buffer.from(encodeMessage({ type: 'UPDATE', update: { withdrawn: [], nlri: prefixes, attributes: { origin: 'IGP', asPath: [{ type: 'AS_SEQUENCE', asns: [65001] }], nextHop: TOR } } }, ctx)).toString('hex');
    const before = announce(['10.0.1.0/24', '10.9.9.0/24']);
    const after = announce(['10.7.7.0/24']);

    const runPeer = async (ns: NetnsRef, send: string[]): Promise<JsonLinesChild> => {
      // Right after a reset the session is Idle (back-off) and refuses us: retry until Established.
      return pollUntil('the scripted peer Established', async () => {
        const peer = collectJsonLines(h!.spawnIn(ns, process.execPath, ['--import', 'tsx', SCRIPTED_PEER, JSON.stringify({ localAddress: TOR, peerAddress: NODE, asn: 65001, send, gapMs: 300 })]));
        const outcome = await pollUntil('the scripted peer to connect or give up', async () => peer.events.find((e) => e.type === 'established' || e.type === 'closed')?.type, { timeoutMs: 10_000, intervalMs: 50 });
        if (outcome === 'established') return peer;
        await peer.exited;
        return null;
      }, { timeoutMs: 40_000, intervalMs: 500 });
    };

    for (const c of CASES) {
      const bad = Buffer.from(readHexFixture(new URL(c.file, MALFORMED)).bytes).toString('hex');
      const mark = s.events.length;
      const peer = await runPeer(tor, [before, bad, after]);
      const since = () => s.events.slice(mark);
      const context = () => `\ncase ${c.file}\n--- speaker ---\n${s.output()}\n--- peer ---\n${peer.output()}`;
      try {
        if (c.expect.kind === 'notification') {
          const { code, subcode } = c.expect;
          const notification = await pollUntil('the NOTIFICATION at the peer', async () => peer.events.find((e) => e.type === 'received' && e.message === 'NOTIFICATION'), { timeoutMs: 10_000, intervalMs: 50 });
          expect(notification).toMatchObject({ code, subcode });
          await peer.exited; // the speaker closed the connection
          await pollUntil('the speaker’s state change naming it', async () => since().find((e) => e.type === 'state' && e.to === 'Idle' && typeof e.notification === 'string' && e.notification.startsWith('sent ')), { timeoutMs: 5_000, intervalMs: 50 });
          expect(since().some((e) => e.type === 'route' && e.prefix === '10.7.7.0/24')).toBe(false);
        } else {
          // The UPDATE after the bad one is still learned: the session stayed up.
          await pollUntil('the next UPDATE learned', async () => since().some((e) => e.type === 'route' && e.prefix === '10.7.7.0/24'), { timeoutMs: 10_000, intervalMs: 50 });
          const errors = since().filter((e) => e.type === 'update-error');
          expect(errors).toHaveLength(1);
          expect(errors[0]).toMatchObject({ action: c.expect.kind });
          const withdrawn = since().filter((e) => e.type === 'withdraw').map((e) => e.prefix);
          expect(withdrawn).toEqual(c.expect.kind === 'treat-as-withdraw' ? ['10.0.1.0/24'] : []);
          expect(peer.events.some((e) => e.type === 'received' && e.message === 'NOTIFICATION')).toBe(false);
          expect(since().filter((e) => e.type === 'state' && e.to === 'Idle')).toEqual([]);
          if (peer.child.pid !== undefined && isAlive(peer.child)) process.kill(peer.child.pid, 'SIGTERM');
          await peer.exited;
        }
        expect(isAlive(s.child)).toBe(true);
        expect(since().filter((e) => e.type === 'handler-error')).toEqual([]);
      } catch (err) {
        throw new Error(`${(err as Error).message}${context()}`);
      }
    }
    expect(isAlive(s.child)).toBe(true);
  });
});

const frrProblem = problem ?? ((await frrAvailable()) ? null : 'FRR is not installed (Debian package frr)');

/**
 * The same with the real speaker (main.ts, configured from etcd) and FRR as
 * the helper: node2 (two affine blocks) is killed with -9 while a TCP
 * connection from node1's pod address to node2's runs through the ToR. FRR
 * keeps node2's paths (stale) and so the ToR's and node1's kernel routes;
 * the connection keeps working. One block is deleted from etcd while node2
 * is down; node2 comes back with the R bit (TORTIE_BGP_RESTARTING), FRR
 * refreshes the remaining block and sweeps the deleted one after End-of-RIB,
 * from its own kernel and from node1's.
 */
describe.skipIf(frrProblem !== null)('graceful restart of the tortie speaker with FRR', () => {
  let h: NetnsHarness | null = null;
  let frr: FrrInstance | null = null;
  let fe: FabricEtcd | null = null;
  const extra: ChildProcess[] = [];

  afterEach(async () => {
    for (const c of extra.splice(0)) if (c.pid !== undefined && isAlive(c)) process.kill(c.pid, 'SIGKILL');
    await frr?.stop();
    await h?.cleanup();
    await fe?.close();
    h = frr = fe = null;
  });

  it('kill -9 of main.ts: FRR keeps its routes stale, TCP survives, the return refreshes and sweeps', async () => {
    const harness = createNetnsHarness();
    h = harness;
    const etcd = await startFabricEtcd();
    fe = etcd;
    const fab = await makeFabric(harness, 2, (i) => 64600 + i);
    const [n1, n2] = fab.nodes as [typeof fab.nodes[0], typeof fab.nodes[0]];
    const SECOND = '10.245.2.128/26'; // not adjacent to 10.245.2.0/26, so not aggregated with it
    await seedFabric(etcd.store, fab, 65000, { 2: [SECOND] });
    const f = await startFrr(harness, fab.tor, {
      listenAddress: '0.0.0.0',
      bgpdConfig: `frr defaults traditional
hostname tor
log stdout informational
router bgp 65000
 bgp router-id 10.253.0.1
 no bgp ebgp-requires-policy
 no bgp network import-check
 bgp graceful-restart
 bgp graceful-restart stalepath-time 120
${fab.nodes.map((n) => ` neighbor ${n.address} remote-as ${n.asn}\n neighbor ${n.address} timers 3 9\n neighbor ${n.address} timers connect 1\n neighbor ${n.address} update-source ${n.torAddress}`).join('\n')}
`,
    });
    frr = f;
    startMainSpeaker(harness, n1, etcd);
    const first: MainSpeaker = startMainSpeaker(harness, n2, etcd);
    let second: MainSpeaker | null = null;
    const context = () => `\n--- node2 ---\n${first.output().split('\n').slice(-30).join('\n')}\n--- node2 restarted ---\n${second?.output().split('\n').slice(-30).join('\n') ?? ''}\n--- frr ---\n${f.log().split('\n').slice(-60).join('\n')}`;
    const torHas = async (dst: string, via: string) => (await kernelRoutes(harness, fab.tor)).some((r) => r.dst === dst && r.gateway === via);
    const node1Has = async (dst: string) => (await harness.hostIp.inNetns(n1.ns).routes(4, { protocol: ROUTE_PROTOCOL })).some((r) => r.dst === dst && r.gateway === n1.torAddress);
    const frrPath = async (prefix: string) => (await f.routes())[prefix]?.[0] ?? null;

    try {
      await pollUntil('node2’s blocks in the ToR kernel and in node1’s', async () => (await torHas(n2.block, n2.address)) && (await torHas(SECOND, n2.address)) && (await node1Has(n2.block)) && (await node1Has(SECOND)), { timeoutMs: 45_000, intervalMs: 250 });
      await pollUntil('node1’s block in node2’s kernel', async () => (await harness.hostIp.inNetns(n2.ns).routes(4, { protocol: ROUTE_PROTOCOL })).some((r) => r.dst === n1.block), { timeoutMs: 20_000, intervalMs: 250 });
      const gr = JSON.parse(await f.vtysh(`show bgp neighbors ${n2.address} json`)) as Record<string, { gracefulRestartInfo?: { remoteGrMode?: string } }>;
      expect(gr[n2.address]?.gracefulRestartInfo?.remoteGrMode).toBe('Restart');

      const server = harness.spawnIn(n2.ns, 'socat', [`TCP-LISTEN:7000,bind=${n2.pod},reuseaddr`, 'PIPE']);
      await pollUntil('echo server listening', async () => (await harness.exec(n2.ns, 'ss', ['-tlnH'])).includes(`${n2.pod}:7000`), { timeoutMs: 5_000, intervalMs: 50 });
      const [bin, ...argv] = commandLine('socat', ['-', `TCP:${n2.pod}:7000,bind=${n1.pod}`], n1.ns.path);
      const client = spawn(bin as string, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
      extra.push(client, server);
      let echoed = '';
      client.stdout.on('data', (d: Buffer) => (echoed += d.toString()));
      const roundTrip = async (word: string) => {
        client.stdin.write(`${word}\n`);
        await pollUntil(`echo of ${word}`, async () => echoed.includes(word), { timeoutMs: 5_000, intervalMs: 20 });
      };
      await roundTrip('before');

      process.kill(first.child.pid as number, 'SIGKILL');
      await first.exited;
      await pollUntil('FRR leaves Established with node2', async () => (await f.neighborState(n2.address)) !== 'Established', { timeoutMs: 15_000, intervalMs: 100 });
      await pollUntil('FRR marks node2’s paths stale', async () => (await frrPath(n2.block))?.stale === true && (await frrPath(SECOND))?.stale === true, { timeoutMs: 5_000, intervalMs: 100 });
      const deadline = Date.now() + 3_000;
      while (Date.now() < deadline) {
        expect(await torHas(n2.block, n2.address)).toBe(true);
        expect(await torHas(SECOND, n2.address)).toBe(true);
        expect(await node1Has(n2.block)).toBe(true);
        await new Promise((r) => setTimeout(r, 250));
      }
      await roundTrip('during');

      // While node2 is down its second block goes away; it returns announcing the first only.
      await etcd.store.delete(Kinds.IPAMBlock, blockName(SECOND));
      second = startMainSpeaker(harness, n2, etcd, { relay: false, extraEnv: ['TORTIE_BGP_RESTARTING=true'] });
      await pollUntil('FRR Established with node2 again', async () => (await f.neighborState(n2.address)) === 'Established', { timeoutMs: 45_000, intervalMs: 200 });
      await pollUntil('the deleted block swept from the ToR kernel and node1’s', async () => !(await torHas(SECOND, n2.address)) && !(await node1Has(SECOND)), { timeoutMs: 20_000, intervalMs: 200 });
      await pollUntil('the remaining block refreshed (not stale)', async () => (await frrPath(n2.block))?.stale !== true, { timeoutMs: 10_000, intervalMs: 200 });
      expect(await torHas(n2.block, n2.address)).toBe(true);
      expect(await node1Has(n2.block)).toBe(true);
      await roundTrip('after');
      expect(isAlive(client)).toBe(true);
    } catch (err) {
      throw new Error(`${(err as Error).message}${context()}`);
    }
  });
});
