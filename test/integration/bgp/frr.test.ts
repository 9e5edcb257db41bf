/**
 * Interop with FRR (zebra + bgpd 8) in network namespaces, the same topology
 * as bird.test.ts: zebra and bgpd run in the "tor" namespace (foreground, by
 * pid, every socket, pid file and config in a temp dir, so they never meet
 * the machine's own FRR), our speaker process in the "node" namespace. Zebra
 * installs what bgpd learns, so the check is the tor's kernel table.
 */
import { access, chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createNetnsHarness, kernelAccessProblem, pollUntil, type NetnsHarness } from '../../harness/netns.js';
import { kernelRoutes, makeTorAndNode, NODE, POD_BLOCK, startSpeaker, TOR, TOR_ROUTE, type SpeakerProcess } from './topology.js';

const FRR = '/usr/lib/frr';

async function frrAvailable(): Promise<boolean> {
  try {
    await access(join(FRR, 'bgpd'));
    await access(join(FRR, 'zebra'));
    await access('/usr/bin/vtysh');
    return true;
  } catch {
    return false;
  }
}

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
  let dir: string | null = null;

  afterEach(async () => {
    await speaker?.stop();
    await h?.cleanup(); // kills zebra and bgpd by pid
    if (dir !== null) await rm(dir, { recursive: true, force: true });
    speaker = h = dir = null;
  });

  it.each([
    { name: 'eBGP (4-octet node AS)', torAsn: 65000, nodeAsn: 4200000001 },
    { name: 'iBGP', torAsn: 65000, nodeAsn: 65000 },
  ])('$name: Established both ways, routes learned and installed, Cease withdraws', async (kind) => {
    h = createNetnsHarness();
    const { tor, node } = await makeTorAndNode(h);
    dir = await mkdtemp(join(tmpdir(), 'tt-frr-'));
    await chmod(dir, 0o777); // the daemons drop to the frr user
    const zsock = join(dir, 'zserv.api');
    await writeFile(join(dir, 'zebra.conf'), 'hostname tor\n');
    await writeFile(join(dir, 'bgpd.conf'), bgpdConfig(kind));
    await writeFile(join(dir, 'vtysh.conf'), '');
    let log = '';
    const common = (name: string) => ['-z', zsock, '-i', join(dir as string, `${name}.pid`), '--vty_socket', dir as string, '-P', '0', '--log', 'stdout'];
    const zebra = h.spawnIn(tor, join(FRR, 'zebra'), ['-f', join(dir, 'zebra.conf'), ...common('zebra')]);
    zebra.stdout?.on('data', (b: Buffer) => (log += `zebra: ${b.toString()}`));
    zebra.stderr?.on('data', (b: Buffer) => (log += `zebra: ${b.toString()}`));
    await pollUntil('zebra socket', async () => access(zsock).then(() => true), { timeoutMs: 10_000, intervalMs: 50 }).catch((err: Error) => {
      throw new Error(`${err.message}\n${log}`);
    });
    const bgpd = h.spawnIn(tor, join(FRR, 'bgpd'), ['-f', join(dir, 'bgpd.conf'), '-l', TOR, ...common('bgpd')]);
    bgpd.stdout?.on('data', (b: Buffer) => (log += `bgpd: ${b.toString()}`));
    bgpd.stderr?.on('data', (b: Buffer) => (log += `bgpd: ${b.toString()}`));
    const vtysh = (command: string) => h!.exec(tor, 'vtysh', ['--vty_socket', dir as string, '-c', command]);

    const s = startSpeaker(h, node, { localAddress: NODE, localAsn: kind.nodeAsn, peerAddress: TOR, peerAsn: kind.torAsn, announce: [POD_BLOCK], listen: true, holdTimeSec: 30 });
    speaker = s;
    const context = () => `\n--- speaker ---\n${s.output()}\n--- frr ---\n${log}`;
    const neighborState = async () => {
      const j = JSON.parse(await vtysh(`show bgp neighbors ${NODE} json`)) as Record<string, { bgpState?: string }>;
      return j[NODE]?.bgpState;
    };

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
