/**
 * A ToR and several tortie nodes, for the FRR and GoBGP fabric tests: a
 * "tor" namespace (IPv4 forwarding on) with one veth per node namespace
 * (10.253.i.1/30 on the tor, 10.253.i.2/30 on node i), node i's pod block
 * 10.245.i.0/26 with the pod address 10.245.i.10/32 on its loopback, and a
 * speaker process (test-fixtures/speaker.ts) per node announcing its block.
 *
 * The speaker fixture does not program routes, so `installLearned` stands in
 * for the RouteTable: it puts each route the node's speaker learned into the
 * node's kernel (`ip route replace PREFIX via NEXT_HOP`).
 */
import type { NetnsRef } from '../../../lib/kernel/netns.js';
import { pollUntil, uniqueName, type NetnsHarness } from '../../harness/netns.js';
import { startSpeaker, type SpeakerProcess } from './topology.js';

export interface FabricNode {
  readonly index: number;
  readonly ns: NetnsRef;
  readonly address: string;
  readonly torAddress: string;
  readonly block: string;
  readonly pod: string;
  readonly asn: number;
  speaker: SpeakerProcess | null;
}

export interface Fabric {
  readonly tor: NetnsRef;
  readonly nodes: FabricNode[];
}

export async function makeFabric(h: NetnsHarness, count: number, asnOf: (index: number) => number): Promise<Fabric> {
  const tor = await h.makeNetns('tor');
  await h.hostIp.inNetns(tor).batch(['link set lo up']);
  await h.exec(tor, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
  const nodes: FabricNode[] = [];
  for (let i = 1; i <= count; i++) {
    const ns = await h.makeNetns(`n${i}`);
    const a = uniqueName('t', 6);
    const b = uniqueName('n', 6);
    await h.makeVeth(a, b, { aNs: tor, bNs: ns });
    const node: FabricNode = { index: i, ns, address: `10.253.${i}.2`, torAddress: `10.253.${i}.1`, block: `10.245.${i}.0/26`, pod: `10.245.${i}.10`, asn: asnOf(i), speaker: null };
    await h.hostIp.inNetns(tor).batch([`addr add ${node.torAddress}/30 dev ${a}`, `link set ${a} up`]);
    await h.hostIp.inNetns(ns).batch(['link set lo up', `addr add ${node.address}/30 dev ${b}`, `link set ${b} up`, `addr add ${node.pod}/32 dev lo`]);
    nodes.push(node);
  }
  return { tor, nodes };
}

export function startNodeSpeakers(h: NetnsHarness, fabric: Fabric, torAsn: number): void {
  for (const n of fabric.nodes) {
    n.speaker = startSpeaker(h, n.ns, { localAddress: n.address, localAsn: n.asn, peerAddress: n.torAddress, peerAsn: torAsn, announce: [n.block], listen: true, holdTimeSec: 30 });
  }
}

export async function stopNodeSpeakers(fabric: Fabric | null): Promise<void> {
  for (const n of fabric?.nodes ?? []) await n.speaker?.stop();
}

/** The latest route event per prefix at a node's speaker (withdrawals remove it). */
export function learned(n: FabricNode): Map<string, { nextHop: string }> {
  const out = new Map<string, { nextHop: string }>();
  for (const e of n.speaker?.events ?? []) {
    if (e.type === 'route') out.set(e.prefix as string, { nextHop: e.nextHop as string });
    if (e.type === 'withdraw') out.delete(e.prefix as string);
  }
  return out;
}

export async function waitLearned(n: FabricNode, prefixes: readonly string[], timeoutMs = 20_000): Promise<Map<string, { nextHop: string }>> {
  return pollUntil(`node ${n.index} learning ${prefixes.join(', ')}`, async () => {
    const l = learned(n);
    return prefixes.every((p) => l.has(p)) ? l : null;
  }, { timeoutMs, intervalMs: 100 });
}

/** Stands in for the RouteTable: the routes node n's speaker learned, into node n's kernel. */
export async function installLearned(h: NetnsHarness, n: FabricNode): Promise<void> {
  const cmds = [...learned(n)].map(([prefix, { nextHop }]) => `route replace ${prefix} via ${nextHop}`);
  if (cmds.length > 0) await h.hostIp.inNetns(n.ns).batch(cmds);
}

/**
 * A TCP connection from node `from`'s pod address to node `to`'s: a one-shot
 * server at `to.pod:7000` answers with a word, the client binds `from.pod`.
 * Returns what the client read.
 */
export async function tcpAcross(h: NetnsHarness, from: FabricNode, to: FabricNode): Promise<string> {
  const word = `hello-from-${to.index}`;
  const server = h.spawnIn(to.ns, 'socat', [`TCP-LISTEN:7000,bind=${to.pod},reuseaddr`, `SYSTEM:echo ${word}`]);
  try {
    await pollUntil('echo server listening', async () => (await h.exec(to.ns, 'ss', ['-tlnH'])).includes(`${to.pod}:7000`), { timeoutMs: 5_000, intervalMs: 50 });
    return (await h.exec(from.ns, 'socat', ['-T', '3', '-u', `TCP:${to.pod}:7000,bind=${from.pod}`, 'STDOUT'])).trim();
  } finally {
    if (server.pid !== undefined && server.exitCode === null && server.signalCode === null) process.kill(server.pid, 'SIGKILL');
  }
}
