/**
 * The TunnelTable against the real kernel, without BGP: two "nodes" (network
 * namespaces joined by a veth, IPv4 10.254.0.i/24 and IPv6 fd00:254::i/64),
 * each with a pod address of each family on its loopback. Each node's
 * TunnelTable creates vxlan.tortie for an IPv4 and an IPv6 VXLAN pool; the
 * routes the RouteTable would add go in by hand (IPv6 via the peer VTEP's
 * link-local address, as desired.ts plans it). Then IPv4 and IPv6 (inside
 * IPv4 VXLAN) pings between the pods cross the device, and an apply of the
 * same model writes nothing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { VXLAN_DEVICE } from '../../../lib/contract.js';
import { runCommand } from '../../../lib/kernel/exec.js';
import { createIpRunner } from '../../../lib/kernel/ip.js';
import type { NetnsRef } from '../../../lib/kernel/netns.js';
import { TunnelTable } from '../../../bgp-speaker/src/program/tunnel-table.js';
import { DEFAULT_TUNNEL_SETTINGS, vtepLinkLocalOf, vtepMacOf, type TunnelModel, type TunnelNode } from '../../../bgp-speaker/src/program/tunnels.js';
import { createNetnsHarness, kernelAccessProblem, pollUntil, uniqueName, type NetnsHarness } from '../../harness/netns.js';

const problem = await kernelAccessProblem();
if (problem !== null) console.warn(`skipping test/integration/bgp/tunnel-table.test.ts: ${problem}`);

const node = (i: number): TunnelNode => ({ name: `node${i}`, address: `10.254.0.${i}`, address6: `fd00:254::${i}` });
const pod4 = (i: number) => `10.246.${i}.10`;
const pod6 = (i: number) => `fd00:246:${i}::10`;

describe.skipIf(problem !== null)('TunnelTable on the real kernel', () => {
  let h: NetnsHarness | null = null;
  afterEach(async () => {
    await h?.cleanup();
    h = null;
  });

  it('IPv4 and IPv6 pod traffic crosses vxlan.tortie (IPv6 inside IPv4); the same model again writes nothing', async () => {
    const harness = createNetnsHarness();
    h = harness;
    const namespaces: NetnsRef[] = [await harness.makeNetns('tnt1'), await harness.makeNetns('tnt2')];
    const [a, b] = [uniqueName('a', 6), uniqueName('b', 6)];
    await harness.makeVeth(a, b, { aNs: namespaces[0], bNs: namespaces[1] });
    const tables: TunnelTable[] = [];
    for (const [k, ns] of namespaces.entries()) {
      const i = k + 1;
      const dev = k === 0 ? a : b;
      const ip = createIpRunner(runCommand, ns);
      await ip.batch([
        'link set lo up',
        `addr add ${node(i).address}/24 dev ${dev}`,
        `addr add ${node(i).address6}/64 dev ${dev} nodad`,
        `link set ${dev} up`,
        `addr add ${pod4(i)}/32 dev lo`,
        `addr add ${pod6(i)}/128 dev lo`,
      ]);
      const model: TunnelModel = {
        localNode: node(i),
        localSubnets: ['10.254.0.0/24', 'fd00:254::/64'],
        pools: [
          { name: 'v4', cidr: '10.246.0.0/16', ipipMode: 'Never', vxlanMode: 'Always' },
          { name: 'v6', cidr: 'fd00:246::/48', ipipMode: 'Never', vxlanMode: 'Always' },
        ],
        peers: [node(3 - i)],
        settings: DEFAULT_TUNNEL_SETTINGS,
      };
      const table = new TunnelTable({ ip });
      table.setModel(model);
      expect(await table.ensure()).toEqual(new Set());
      tables.push(table);
      // What the RouteTable would program for the peer's blocks (IPv6: via the peer VTEP's link-local address).
      const peer = node(3 - i);
      await ip.batch([
        `route replace 10.246.${3 - i}.0/26 via ${peer.address} dev ${VXLAN_DEVICE} onlink`,
        `route replace fd00:246:${3 - i}::/64 via ${vtepLinkLocalOf(vtepMacOf(peer.name))} dev ${VXLAN_DEVICE} onlink`,
      ]);
    }
    const [ns1] = namespaces as [NetnsRef, NetnsRef];
    const ping = (family: 4 | 6) =>
      pollUntil(`IPv${family} ping between the pods`, async () => {
        const [from, to] = family === 4 ? [pod4(1), pod4(2)] : [pod6(1), pod6(2)];
        await harness.exec(ns1, 'ping', [`-${family}`, '-c', '1', '-W', '1', '-I', from, to]);
        return true;
      }, { timeoutMs: 10_000, intervalMs: 200 });
    const txPackets = async () => (JSON.parse(await harness.exec(ns1, 'ip', ['-s', '-json', 'link', 'show', 'dev', VXLAN_DEVICE])) as { stats64: { tx: { packets: number } } }[])[0]?.stats64.tx.packets ?? 0;
    const before = await txPackets();
    await ping(4);
    const afterV4 = await txPackets();
    expect(afterV4).toBeGreaterThan(before);
    await ping(6);
    expect(await txPackets()).toBeGreaterThan(afterV4);

    const neighbours = (await createIpRunner(runCommand, ns1).neighbours(6, { dev: VXLAN_DEVICE })).filter((n) => n.state.includes('PERMANENT')).map((n) => n.dst);
    expect(neighbours).toEqual([vtepLinkLocalOf(vtepMacOf('node2'))]);
    tables[0]?.resync();
    expect(await tables[0]?.apply()).toEqual([]);
  });
});
