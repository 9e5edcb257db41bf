/**
 * Interop with BIRD 2 in network namespaces. A "tor" namespace runs BIRD; a
 * "node" namespace runs our speaker (bgp-speaker/test-fixtures/speaker.ts, a
 * real process started inside the namespace by pid); a veth joins them
 * (10.251.0.1/30 on the tor, 10.251.0.2/30 on the node). Nothing touches the
 * test process's own namespace.
 *
 * Checked, for eBGP and iBGP: both ends reach Established (birdc and our
 * state events), BIRD installs our /26 pod block in the tor's kernel via the
 * node's address, we receive BIRD's static route, and our Cease makes BIRD
 * drop the session and withdraw the kernel route. Both sides connect and
 * listen, so connection collisions happen for real.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { birdAvailable, startBird, type BirdInstance } from '../../harness/bird.js';
import { createNetnsHarness, kernelAccessProblem, pollUntil, type NetnsHarness } from '../../harness/netns.js';
import { kernelRoutes, makeTorAndNode, NODE, POD_BLOCK, startSpeaker, TOR, TOR_ROUTE, type SpeakerProcess } from './topology.js';

const problem = (await kernelAccessProblem()) ?? ((await birdAvailable()) ? null : 'bird is not installed (Debian package bird2)');
if (problem !== null) console.warn(`skipping test/integration/bgp/bird.test.ts: ${problem}`);

function birdConfig(kind: { torAsn: number; nodeAsn: number }): string {
  const isInternal = kind.torAsn === kind.nodeAsn;
  return `
router id ${TOR};
log stderr all;
protocol device { scan time 1; }
protocol kernel {
  ipv4 { import all; export all; };
  learn;
  scan time 1;
}
protocol static { ipv4; route ${TOR_ROUTE} blackhole; }
protocol bgp node {
  local ${TOR} as ${kind.torAsn};
  neighbor ${NODE} as ${kind.nodeAsn};
  hold time 9;
  debug { states, events };
  connect delay time 1;
  connect retry time 2;
  error wait time 1, 4;
${isInternal ? '  direct;\n' : ''}  ipv4 { import all; export all;${isInternal ? ' next hop self;' : ''} };
}
`;
}

describe.skipIf(problem !== null)('BIRD 2 interop', () => {
  let h: NetnsHarness | null = null;
  let bird: BirdInstance | null = null;
  let speaker: SpeakerProcess | null = null;

  afterEach(async () => {
    await speaker?.stop();
    await bird?.stop();
    await h?.cleanup();
    speaker = bird = h = null;
  });

  it.each([
    { name: 'eBGP (4-octet node AS)', torAsn: 65000, nodeAsn: 4200000001, mode: {} },
    { name: 'iBGP', torAsn: 65000, nodeAsn: 65000, mode: {} },
    { name: 'eBGP, BIRD connects to our passive side', torAsn: 65000, nodeAsn: 64512, mode: { passive: true } },
    { name: 'eBGP, both connect (collision)', torAsn: 65000, nodeAsn: 64512, mode: { dialAfterInbound: true } },
  ])('$name: Established both ways, routes learned and installed, Cease withdraws', async (kind) => {
    h = createNetnsHarness();
    const { tor, node } = await makeTorAndNode(h);

    const b = await startBird(h, tor, birdConfig(kind));
    bird = b;
    const s = startSpeaker(h, node, { localAddress: NODE, localAsn: kind.nodeAsn, peerAddress: TOR, peerAsn: kind.torAsn, announce: [POD_BLOCK], listen: true, holdTimeSec: 30, ...kind.mode });
    speaker = s;
    const context = () => `\n--- speaker ---\n${s.output()}\n--- bird ---\n${b.log()}`;

    try {
      await pollUntil('BIRD says Established', async () => (await b.bgpState('node')) === 'Established', { timeoutMs: 30_000, intervalMs: 200 });
      await pollUntil('our session Established', async () => s.events.some((e) => e.type === 'established'), { timeoutMs: 10_000 });
    } catch (err) {
      throw new Error(`${(err as Error).message}${context()}`);
    }
    const established = s.events.find((e) => e.type === 'established');
    expect(established).toMatchObject({ peerAsn: kind.torAsn, holdTimeSec: 9, keepaliveTimeSec: 3, fourOctetAs: true });

    // BIRD learns our /26 and its kernel protocol installs it in the tor namespace via the node.
    const torRoutes = () => kernelRoutes(h!, tor);
    const installed = await pollUntil('the pod block in the tor kernel', async () => (await torRoutes()).find((r) => r.dst === POD_BLOCK), { timeoutMs: 15_000, intervalMs: 200 }).catch((err: Error) => {
      throw new Error(`${err.message}${context()}`);
    });
    expect(installed).toMatchObject({ dst: POD_BLOCK, gateway: NODE, protocol: 'bird' });
    expect(await b.birdc('show', 'route', 'for', POD_BLOCK, 'all')).toContain(kind.torAsn === kind.nodeAsn ? 'BGP.as_path: \n' : `BGP.as_path: ${kind.nodeAsn}`);

    // We learn BIRD's static route, next hop the tor's address.
    const learned = await pollUntil('BIRD’s route at the speaker', async () => s.events.find((e) => e.type === 'route' && e.prefix === TOR_ROUTE), { timeoutMs: 15_000 }).catch((err: Error) => {
      throw new Error(`${err.message}${context()}`);
    });
    expect(learned).toMatchObject({ nextHop: TOR });
    expect(learned.asPath).toEqual(kind.torAsn === kind.nodeAsn ? [] : [{ type: 'AS_SEQUENCE', asns: [kind.torAsn] }]);
    expect(s.events.filter((e) => e.type === 'update-error' || e.type === 'handler-error')).toEqual([]);
    if (kind.mode.dialAfterInbound === true) {
      // Our identifier (10.251.0.2) is the higher one: whichever side sees the collision first
      // (usually BIRD, which closes its own connection), the connection we initiated survives.
      expect(s.events.filter((e) => e.type === 'collision' && e.kept !== 'local')).toEqual([]);
      expect(b.log()).toMatch(/Incoming connection from 10\.251\.0\.2/);
      const connections = (await h.exec(node, 'ss', ['-tnH', 'state', 'established'])).trim().split('\n').filter((l) => l.includes(':179'));
      expect(connections).toHaveLength(1);
      expect(connections[0]).toMatch(new RegExp(`${NODE.replaceAll('.', '\\.')}:(?!179\\b)\\d+\\s+${TOR.replaceAll('.', '\\.')}:179`));
    }

    // Keepalives hold it (hold time 9 s): still up after 10 s.
    await new Promise((r) => setTimeout(r, 10_000));
    expect(await b.bgpState('node')).toBe('Established');
    expect(s.events.filter((e) => e.type === 'state' && e.to === 'Idle')).toEqual([]);

    if (process.env.TT_BGP_DEBUG) console.log(context());
    // Cease/Administrative Shutdown: BIRD notes it and withdraws the kernel route.
    await s.stop();
    expect(s.events.at(-1)).toMatchObject({ type: 'stopped' });
    await pollUntil('BIRD leaves Established', async () => (await b.bgpState('node')) !== 'Established', { timeoutMs: 10_000, intervalMs: 100 });
    await pollUntil('the pod block withdrawn from the tor kernel', async () => !(await torRoutes()).some((r) => r.dst === POD_BLOCK), { timeoutMs: 10_000, intervalMs: 100 });
    expect(b.log()).toMatch(/Received: Administrative shutdown: "test finished"/);
  });

  it('a frozen speaker is dropped by BIRD’s hold timer, and both recover when it thaws', async () => {
    h = createNetnsHarness();
    const { tor, node } = await makeTorAndNode(h);
    const b = await startBird(h, tor, birdConfig({ torAsn: 65000, nodeAsn: 64512 }));
    bird = b;
    const s = startSpeaker(h, node, { localAddress: NODE, localAsn: 64512, peerAddress: TOR, peerAsn: 65000, announce: [POD_BLOCK], listen: true, holdTimeSec: 30 });
    speaker = s;
    const context = () => `\n--- speaker ---\n${s.output()}\n--- bird ---\n${b.log()}`;
    const hasPodBlock = async () => (await kernelRoutes(h!, tor)).some((r) => r.dst === POD_BLOCK && r.gateway === NODE);
    try {
      await pollUntil('the pod block in the tor kernel', hasPodBlock, { timeoutMs: 30_000, intervalMs: 200 });
      const pid = s.child.pid as number;
      process.kill(pid, 'SIGSTOP');
      try {
        // Negotiated hold time 9 s: BIRD gives up on the silent speaker and withdraws its route.
        await pollUntil('BIRD leaves Established', async () => (await b.bgpState('node')) !== 'Established', { timeoutMs: 15_000, intervalMs: 200 });
        await pollUntil('the pod block withdrawn', async () => !(await hasPodBlock()), { timeoutMs: 5_000, intervalMs: 100 });
        expect(b.log()).toMatch(/node: Error: Hold timer expired/);
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      // Thawed, the speaker finds its connection gone, backs off, and comes back.
      await pollUntil('the pod block back in the tor kernel', hasPodBlock, { timeoutMs: 30_000, intervalMs: 200 });
      expect(await b.bgpState('node')).toBe('Established');
    } catch (err) {
      throw new Error(`${(err as Error).message}${context()}`);
    }
    if (process.env.TT_BGP_DEBUG) console.log(context());
    const states = s.events.filter((e) => e.type === 'state').map((e) => `${e.from}->${e.to}`);
    expect(states.filter((t) => t === 'OpenConfirm->Established')).toHaveLength(2);
    expect(s.events.filter((e) => e.type === 'established')).toHaveLength(2);
  });
});
