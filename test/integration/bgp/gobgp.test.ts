/**
 * Interop with GoBGP (gobgpd 3) in network namespaces, the same topology as
 * bird.test.ts: gobgpd in the "tor" namespace (its gRPC API on that
 * namespace's loopback, queried with the `gobgp` CLI run inside it), our
 * speaker process in the "node" namespace. GoBGP has no kernel protocol of
 * its own, so "installed" is checked in its RIB: our /26 is there with the
 * node as next hop and our AS path, and we learn a route added to its RIB.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCommand } from '../../../lib/kernel/exec.js';
import type { NetnsRef } from '../../../lib/kernel/netns.js';
import { createNetnsHarness, kernelAccessProblem, pollUntil, type NetnsHarness } from '../../harness/netns.js';
import { makeTorAndNode, NODE, POD_BLOCK, startSpeaker, TOR, TOR_ROUTE, type SpeakerProcess } from './topology.js';

async function gobgpAvailable(): Promise<boolean> {
  try {
    await runCommand('gobgpd', ['--version']);
    return true;
  } catch {
    return false;
  }
}

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

interface GobgpPath {
  nlri?: { prefix?: string };
  attrs?: { type: number; nexthop?: string; as_paths?: { asns: number[] }[] }[];
  'source-id'?: string;
  'neighbor-ip'?: string;
}

describe.skipIf(problem !== null)('GoBGP interop', () => {
  let h: NetnsHarness | null = null;
  let speaker: SpeakerProcess | null = null;
  let dir: string | null = null;

  afterEach(async () => {
    await speaker?.stop();
    await h?.cleanup(); // kills gobgpd by pid
    if (dir !== null) await rm(dir, { recursive: true, force: true });
    speaker = h = dir = null;
  });

  it.each([
    { name: 'eBGP (4-octet node AS)', torAsn: 65000, nodeAsn: 4200000001 },
    { name: 'iBGP', torAsn: 65000, nodeAsn: 65000 },
  ])('$name: Established both ways, routes exchanged, Cease withdraws', async (kind) => {
    h = createNetnsHarness();
    const { tor, node } = await makeTorAndNode(h);
    dir = await mkdtemp(join(tmpdir(), 'tt-gobgp-'));
    const conf = join(dir, 'gobgpd.toml');
    await writeFile(conf, gobgpConfig(kind));
    const daemon = h.spawnIn(tor, 'gobgpd', ['-f', conf, '-p', '--api-hosts', '127.0.0.1:50051', '--pprof-disable']);
    let log = '';
    daemon.stdout?.on('data', (b: Buffer) => (log += b.toString()));
    daemon.stderr?.on('data', (b: Buffer) => (log += b.toString()));
    const gobgp = (ns: NetnsRef, ...args: string[]) => h!.exec(ns, 'gobgp', ['-u', '127.0.0.1', '-p', '50051', ...args]);
    await pollUntil('gobgpd API', async () => (await gobgp(tor, 'global')).includes('AS'), { timeoutMs: 10_000, intervalMs: 100 });
    await gobgp(tor, 'global', 'rib', 'add', TOR_ROUTE, '-a', 'ipv4');

    const s = startSpeaker(h, node, { localAddress: NODE, localAsn: kind.nodeAsn, peerAddress: TOR, peerAsn: kind.torAsn, announce: [POD_BLOCK], listen: true, holdTimeSec: 30 });
    speaker = s;
    const context = () => `\n--- speaker ---\n${s.output()}\n--- gobgpd ---\n${log}`;
    const neighborState = async () => {
      const j = JSON.parse(await gobgp(tor, '-j', 'neighbor', NODE)) as { state?: { session_state?: number | string } };
      return j.state?.session_state;
    };

    try {
      await pollUntil('GoBGP says established', async () => {
        const st = await neighborState();
        return st === 6 || st === 'established' || st === 'ESTABLISHED';
      }, { timeoutMs: 30_000, intervalMs: 200 });
      await pollUntil('our session Established', async () => s.events.some((e) => e.type === 'established'), { timeoutMs: 10_000 });
    } catch (err) {
      throw new Error(`${(err as Error).message}${context()}`);
    }
    expect(s.events.find((e) => e.type === 'established')).toMatchObject({ peerAsn: kind.torAsn, holdTimeSec: 9, keepaliveTimeSec: 3, fourOctetAs: true });

    // Our /26 in GoBGP's RIB, next hop the node, AS path ours (eBGP) or empty (iBGP).
    const rib = async () => JSON.parse(await gobgp(tor, '-j', 'global', 'rib', '-a', 'ipv4')) as Record<string, GobgpPath[]>;
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
    expect(log).toMatch(/Peer Down.*notification-received code 6\(cease\) subcode 2\(administrative shutdown\)/);
    expect(log).toMatch(/Communicated-Reason="test finished"/);
  });
});
