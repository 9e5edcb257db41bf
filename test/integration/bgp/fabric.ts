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
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseResource } from '../../../crds/src/index.js';
import { TORTIE_API_VERSION } from '../../../lib/contract.js';
import { createEtcdDatastore } from '../../../lib/datastore/etcd.js';
import { Kinds, type KindKey } from '../../../lib/datastore/kinds.js';
import type { Datastore, StoredObject } from '../../../lib/datastore/types.js';
import type { NetnsRef } from '../../../lib/kernel/netns.js';
import { startEtcd, type EtcdInstance } from '../../harness/etcd.js';
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

/** `label` starts every namespace name after `tt-` (a test's own prefix, e.g. `tn`). */
export async function makeFabric(h: NetnsHarness, count: number, asnOf: (index: number) => number, label = ''): Promise<Fabric> {
  const tor = await h.makeNetns(`${label}tor`);
  await h.hostIp.inNetns(tor).batch(['link set lo up']);
  await h.exec(tor, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
  const nodes: FabricNode[] = [];
  for (let i = 1; i <= count; i++) {
    const ns = await h.makeNetns(`${label}n${i}`);
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

// ---- The real speaker (bgp-speaker/src/main.ts) on fabric nodes, configured from a real etcd. ----

const MAIN = fileURLToPath(new URL('../../../bgp-speaker/src/main.ts', import.meta.url));
/** 127.0.0.1:2379 inside a node namespace → the Unix socket given as argv[1] (as mesh.test.ts). */
const RELAY = `const net = require('node:net');
net.createServer((c) => { const u = net.connect(process.argv[1]); c.pipe(u).pipe(c); const end = () => { c.destroy(); u.destroy(); }; c.on('error', end); u.on('error', end); c.on('close', end); u.on('close', end); })
  .listen(2379, '127.0.0.1');`;

export interface FabricEtcd {
  readonly store: Datastore;
  /** A Unix socket forwarded to etcd: filesystem sockets cross network namespaces. */
  readonly socket: string;
  readonly dir: string;
  close(): Promise<void>;
}

export async function startFabricEtcd(): Promise<FabricEtcd> {
  const etcd: EtcdInstance = await startEtcd();
  const store = createEtcdDatastore({ endpoints: [etcd.endpoint] });
  const dir = await mkdtemp(join(tmpdir(), 'tt-fabric-'));
  const socket = join(dir, 'etcd.sock');
  const etcdPort = Number(new URL(etcd.endpoint).port);
  const forwarder: Server = createServer((down) => {
    const up = createConnection({ host: '127.0.0.1', port: etcdPort });
    down.pipe(up).pipe(down);
    const close = () => {
      down.destroy();
      up.destroy();
    };
    down.on('error', close);
    up.on('error', close);
  });
  await new Promise<void>((r) => forwarder.listen(socket, r));
  return {
    store,
    socket,
    dir,
    async close() {
      await store.close();
      await new Promise<void>((r) => forwarder.close(() => r()));
      await etcd.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function fabricResource(key: KindKey, name: string, spec: Record<string, unknown>): StoredObject {
  const object = { apiVersion: TORTIE_API_VERSION, kind: Kinds[key].kind, metadata: { name }, spec };
  const r = parseResource(key, object);
  if (!r.ok) throw new Error(`test fixture ${key} ${name} is invalid: ${JSON.stringify(r.issues)}`);
  return object;
}

export const blockName = (cidr: string) => cidr.replaceAll(/[./]/g, '-');

/** A pool 10.245.0.0/16, mesh off, and per node: Node (own AS), its affine block(s), a BGPPeer to its ToR address. */
export async function seedFabric(store: Datastore, fabric: Fabric, torAsn: number, extraBlocks: Readonly<Record<number, readonly string[]>> = {}): Promise<void> {
  await store.create(Kinds.IPPool, fabricResource('IPPool', 'default-ipv4-ippool', { cidr: '10.245.0.0/16', blockSize: 26, ipipMode: 'Never', vxlanMode: 'Never' }));
  await store.create(Kinds.BGPConfiguration, fabricResource('BGPConfiguration', 'default', { asNumber: 64512, nodeToNodeMeshEnabled: false }));
  for (const n of fabric.nodes) {
    await store.create(Kinds.Node, fabricResource('Node', `node${n.index}`, { bgp: { ipv4Address: `${n.address}/30`, asNumber: n.asn } }));
    for (const cidr of [n.block, ...(extraBlocks[n.index] ?? [])]) {
      await store.create(Kinds.IPAMBlock, fabricResource('IPAMBlock', blockName(cidr), { cidr, affinity: `host:node${n.index}`, allocations: Array(64).fill(null), unallocated: [...Array(64).keys()], attributes: [] }));
    }
    await store.create(Kinds.BGPPeer, fabricResource('BGPPeer', `tor-node${n.index}`, { node: `node${n.index}`, peerIP: n.torAddress, asNumber: torAsn }));
  }
}

export interface MainSpeaker {
  readonly child: ChildProcess;
  output(): string;
  readonly exited: Promise<void>;
}

/** main.ts for node n (with the etcd relay in its namespace unless `relay: false`); killed by pid in h.cleanup(). */
export function startMainSpeaker(h: NetnsHarness, n: FabricNode, fe: FabricEtcd, options: { extraEnv?: readonly string[]; relay?: boolean } = {}): MainSpeaker {
  if (options.relay !== false) h.spawnIn(n.ns, process.execPath, ['-e', RELAY, fe.socket]);
  const env = [`NODENAME=node${n.index}`, 'DATASTORE_TYPE=etcdv3', 'ETCD_ENDPOINTS=http://127.0.0.1:2379', `TORTIE_STATUS_FILE=${join(fe.dir, `node${n.index}.json`)}`, 'TORTIE_BGP_CONNECT_RETRY_TIME=2', 'TORTIE_BGP_HOLD_TIME=9', ...(options.extraEnv ?? [])];
  const child = h.spawnIn(n.ns, 'env', [...env, process.execPath, '--import', 'tsx', MAIN]);
  let text = '';
  child.stdout?.on('data', (b: Buffer) => (text += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (text += b.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, output: () => text, exited };
}
