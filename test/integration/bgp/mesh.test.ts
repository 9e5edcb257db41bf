/**
 * tortie's routing between three nodes, with nothing else: three node
 * namespaces on one bridge (a "fabric" namespace, 10.252.0.0/24), a real
 * etcd, and one speaker process per node (bgp-speaker/src/main.ts, started
 * inside its namespace, killed by pid). Each node has an affine IPAMBlock in
 * etcd. The speakers reach etcd through a Unix socket (filesystem sockets
 * cross network namespaces): a small relay on 127.0.0.1:2379 inside each
 * node namespace, forwarded by this process to etcd's loopback port.
 *
 * Checked, without restarting any speaker:
 * 1. full mesh: every session Established (status file), each kernel holds the
 *    other two /26s with our proto via the right next hop, and a TCP
 *    connection from an address in node1's block reaches one in node2's;
 * 2. route reflector: node1 gets a routeReflectorClusterID, the mesh is
 *    switched off, BGPPeers with peerSelector make node2/node3 its clients;
 *    node2 and node3 keep each other's routes (reflected, next hop kept);
 * 3. a new BGPPeer (node2 ↔ node3 directly) takes effect.
 * `tortie node status` (the real CLI) shows the mesh sessions.
 */
import { createConnection, createServer, type Server } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { parseResource } from '../../../crds/src/index.js';
import { TORTIE_API_VERSION, ROUTE_PROTOCOL } from '../../../lib/contract.js';
import { createEtcdDatastore } from '../../../lib/datastore/etcd.js';
import { Kinds, type KindInfo, type KindKey } from '../../../lib/datastore/kinds.js';
import type { Datastore, StoredObject } from '../../../lib/datastore/types.js';
import type { NetnsRef } from '../../../lib/kernel/netns.js';
import { startEtcd, type EtcdInstance } from '../../harness/etcd.js';
import { createNetnsHarness, kernelAccessProblem, pollUntil, uniqueName, type NetnsHarness } from '../../harness/netns.js';

const problem = await kernelAccessProblem();
if (problem !== null) console.warn(`skipping test/integration/bgp/mesh.test.ts: ${problem}`);

const MAIN = fileURLToPath(new URL('../../../bgp-speaker/src/main.ts', import.meta.url));
const CLI = fileURLToPath(new URL('../../../cli/src/main.ts', import.meta.url));
const NODES = [1, 2, 3] as const;
/** 127.0.0.1:2379 inside a node namespace → the Unix socket given as argv[1] (one process, no forks). */
const RELAY = `const net = require('node:net');
net.createServer((c) => { const u = net.connect(process.argv[1]); c.pipe(u).pipe(c); const end = () => { c.destroy(); u.destroy(); }; c.on('error', end); u.on('error', end); c.on('close', end); u.on('close', end); })
  .listen(2379, '127.0.0.1');`;
const nodeAddress = (i: number) => `10.252.0.${i}`;
const block = (i: number) => `10.244.${i}.0/26`;
const podAddress = (i: number) => `10.244.${i}.5`;

interface Node {
  readonly name: string;
  readonly ns: NetnsRef;
  readonly statusFile: string;
  child: ChildProcess;
  output: string;
}

function resource(key: KindKey, name: string, spec: Record<string, unknown>, labels?: Record<string, string>): StoredObject {
  const kind = Kinds[key];
  const object = { apiVersion: TORTIE_API_VERSION, kind: kind.kind, metadata: { name, ...(labels ? { labels } : {}) }, spec };
  const r = parseResource(key, object);
  if (!r.ok) throw new Error(`test fixture ${key} ${name} is invalid: ${JSON.stringify(r.issues)}`);
  return object;
}

async function put(ds: Datastore, kind: KindInfo, object: StoredObject): Promise<void> {
  const existing = await ds.get(kind, object.metadata.name);
  if (existing === null) await ds.create(kind, object);
  else await ds.update(kind, { ...object, metadata: { ...object.metadata, resourceVersion: existing.metadata.resourceVersion } });
}

function nodeObject(i: number, extra: { rr?: string; labels?: Record<string, string> } = {}): StoredObject {
  return resource('Node', `node${i}`, { bgp: { ipv4Address: `${nodeAddress(i)}/24`, ...(extra.rr ? { routeReflectorClusterID: extra.rr } : {}) } }, extra.labels ?? { 'kubernetes.io/hostname': `node${i}` });
}

function startSpeaker(harness: NetnsHarness, ns: NetnsRef, i: number, statusFile: string, extraEnv: readonly string[] = []): ChildProcess {
  const env = [`NODENAME=node${i}`, 'DATASTORE_TYPE=etcdv3', 'ETCD_ENDPOINTS=http://127.0.0.1:2379', `TORTIE_STATUS_FILE=${statusFile}`, 'TORTIE_BGP_CONNECT_RETRY_TIME=2', 'TORTIE_BGP_HOLD_TIME=9', ...extraEnv];
  return harness.spawnIn(ns, 'env', [...env, process.execPath, '--import', 'tsx', MAIN]);
}

function follow(node: Node): void {
  node.child.stdout?.on('data', (b: Buffer) => (node.output += b.toString()));
  node.child.stderr?.on('data', (b: Buffer) => (node.output += b.toString()));
}

interface StatusPeer {
  peerAddress: string;
  type: string;
  state: string;
  prefixesReceived: number;
  prefixesSent: number;
}

describe.skipIf(problem !== null)('three tortie nodes: full mesh and route reflector', () => {
  let h: NetnsHarness | null = null;
  let etcd: EtcdInstance | null = null;
  let ds: Datastore | null = null;
  let forwarder: Server | null = null;
  let dir: string | null = null;
  const nodes: Node[] = [];

  afterEach(async () => {
    for (const n of nodes.splice(0)) if (n.child.pid !== undefined && n.child.exitCode === null) process.kill(n.child.pid, 'SIGTERM');
    await ds?.close();
    await h?.cleanup();
    await new Promise<void>((r) => (forwarder === null ? r() : forwarder.close(() => r())));
    await etcd?.stop();
    if (dir !== null) await rm(dir, { recursive: true, force: true });
    h = etcd = ds = forwarder = dir = null;
  });

  it('mesh converges and carries TCP; a reflector topology and a new BGPPeer take effect without restarts', async () => {
    const harness = createNetnsHarness();
    h = harness;
    etcd = await startEtcd();
    const store = createEtcdDatastore({ endpoints: [etcd.endpoint] });
    ds = store;
    dir = await mkdtemp(join(tmpdir(), 'tt-mesh-'));
    const socket = join(dir, 'etcd.sock');
    const etcdPort = Number(new URL(etcd.endpoint).port);
    forwarder = createServer((down) => {
      const up = createConnection({ host: '127.0.0.1', port: etcdPort });
      down.pipe(up).pipe(down);
      const close = () => {
        down.destroy();
        up.destroy();
      };
      down.on('error', close);
      up.on('error', close);
    });
    await new Promise<void>((r) => forwarder?.listen(socket, r));

    // The datastore: a pool, three nodes, one affine block each.
    await put(store, Kinds.IPPool, resource('IPPool', 'default-ipv4-ippool', { cidr: '10.244.0.0/16', blockSize: 26, ipipMode: 'Never', vxlanMode: 'Never' }));
    await put(store, Kinds.BGPConfiguration, resource('BGPConfiguration', 'default', { asNumber: 64512, nodeToNodeMeshEnabled: true }));
    for (const i of NODES) {
      await put(store, Kinds.Node, nodeObject(i));
      await put(
        store,
        Kinds.IPAMBlock,
        resource('IPAMBlock', `10-244-${i}-0-26`, { cidr: block(i), affinity: `host:node${i}`, allocations: Array(64).fill(null), unallocated: [...Array(64).keys()], attributes: [] }),
      );
    }

    // The fabric: a bridge, and each node on it with a test interface holding an address of its block.
    const fabric = await harness.makeNetns('fab');
    await harness.hostIp.inNetns(fabric).batch(['link set lo up', 'link add br0 type bridge', 'link set br0 up']);
    for (const i of NODES) {
      const ns = await harness.makeNetns(`n${i}`);
      const port = uniqueName('f', 6);
      await harness.makeVeth(port, 'eth0', { aNs: fabric, bNs: ns });
      await harness.hostIp.inNetns(fabric).batch([`link set ${port} master br0`, `link set ${port} up`]);
      await harness.hostIp.inNetns(ns).batch([
        'link set lo up',
        `addr add ${nodeAddress(i)}/24 dev eth0`,
        'link set eth0 up',
        'link add tst0 type veth peer name tst1',
        `addr add ${podAddress(i)}/32 dev tst0`,
        'link set tst0 up',
        'link set tst1 up',
      ]);
      harness.spawnIn(ns, process.execPath, ['-e', RELAY, socket]);
      const node: Node = { name: `node${i}`, ns, statusFile: join(dir, `node${i}.json`), child: startSpeaker(harness, ns, i, join(dir, `node${i}.json`)), output: '' };
      follow(node);
      nodes.push(node);
    }
    const pids = nodes.map((n) => n.child.pid);
    const context = () => nodes.map((n) => `\n--- ${n.name} (exit ${n.child.exitCode}) ---\n${n.output.split('\n').slice(-40).join('\n')}`).join('');
    const fail = (err: unknown): never => {
      throw new Error(`${(err as Error).message}${context()}`);
    };

    // The status written by this node's current process (a killed one leaves its last file behind).
    const status = async (n: Node): Promise<StatusPeer[]> => {
      const file = JSON.parse(await readFile(n.statusFile, 'utf8')) as { pid: number; peers: StatusPeer[] };
      if (file.pid !== n.child.pid) throw new Error(`${n.statusFile} was written by pid ${file.pid}, not ${n.child.pid}`);
      return file.peers;
    };
    const established = (n: Node, expected: readonly string[]) =>
      pollUntil(
        `${n.name}: sessions to ${expected.join(', ')} Established`,
        async () => {
          const peers = await status(n);
          const up = peers.filter((p) => p.state === 'Established').map((p) => p.peerAddress).sort();
          return JSON.stringify(up) === JSON.stringify([...expected].sort()) && peers.length === expected.length ? peers : null;
        },
        { timeoutMs: 45_000, intervalMs: 250 },
      );
    const ourRoutes = async (n: Node) => (await harness.hostIp.inNetns(n.ns).routes(4, { protocol: ROUTE_PROTOCOL })).map((r) => `${r.dst} ${r.type === 6 ? 'blackhole' : `via ${r.gateway}`}`).sort();
    const expectedRoutes = (i: number) => NODES.map((j) => (j === i ? `${block(j)} blackhole` : `${block(j)} via ${nodeAddress(j)}`)).sort();
    const converged = (n: Node, i: number) =>
      pollUntil(`${n.name}: kernel routes to the other blocks`, async () => JSON.stringify(await ourRoutes(n)) === JSON.stringify(expectedRoutes(i)), { timeoutMs: 30_000, intervalMs: 250 });

    // 1. Full mesh.
    try {
      for (const [k, n] of nodes.entries()) await established(n, NODES.filter((j) => j !== k + 1).map(nodeAddress));
      for (const [k, n] of nodes.entries()) await converged(n, k + 1);
    } catch (err) {
      fail(err);
    }
    const meshStatus = await status(nodes[0] as Node);
    expect(meshStatus.map((p) => p.type)).toEqual(['node-to-node mesh', 'node-to-node mesh']);
    expect(meshStatus.every((p) => p.prefixesReceived === 1 && p.prefixesSent >= 1)).toBe(true);
    // What an operator sees: tortie node status, the real CLI.
    const table = await harness.exec(null, process.execPath, ['--import', 'tsx', CLI, 'node', 'status', '--status-file', nodes[0]!.statusFile]);
    expect(table).toContain('IPv4 BGP status');
    expect(table).toMatch(/\| 10\.252\.0\.2 +\| node-to-node mesh \| up +\| [0-9:]+ +\| Established +\| 1 +\| 1 +\|/);

    // TCP from node1's block to node2's block, across the fabric on the learned routes.
    // One connection, no fork: socat exits after it (forked children would outlive a killed parent).
    const server = harness.spawnIn(nodes[1]!.ns, 'socat', [`TCP-LISTEN:5555,bind=${podAddress(2)},reuseaddr`, 'SYSTEM:echo peer=$SOCAT_PEERADDR']);
    const reply = await pollUntil(
      'a TCP reply from node2’s pod address',
      async () => (await harness.exec(nodes[0]!.ns, 'socat', ['-T3', '-', `TCP:${podAddress(2)}:5555,bind=${podAddress(1)}`])).trim(),
      { timeoutMs: 10_000, intervalMs: 200 },
    ).catch(fail);
    expect(reply).toBe(`peer=${podAddress(1)}`);
    await pollUntil('the one-connection server exits', async () => server.exitCode !== null || server.signalCode !== null, { timeoutMs: 5_000 });

    // 2. Route reflector: node1 reflects for node2 and node3; no mesh.
    await put(store, Kinds.Node, nodeObject(1, { rr: '224.0.0.1', labels: { 'kubernetes.io/hostname': 'node1', 'route-reflector': 'true' } }));
    await put(store, Kinds.BGPPeer, resource('BGPPeer', 'peer-with-route-reflectors', { peerSelector: "route-reflector == 'true'" }));
    await put(store, Kinds.BGPPeer, resource('BGPPeer', 'reflector-to-clients', { nodeSelector: "route-reflector == 'true'", peerSelector: "!has(route-reflector)" }));
    await put(store, Kinds.BGPConfiguration, resource('BGPConfiguration', 'default', { asNumber: 64512, nodeToNodeMeshEnabled: false }));
    try {
      await established(nodes[0]!, [nodeAddress(2), nodeAddress(3)]);
      await established(nodes[1]!, [nodeAddress(1)]);
      await established(nodes[2]!, [nodeAddress(1)]);
      for (const [k, n] of nodes.entries()) await converged(n, k + 1);
    } catch (err) {
      fail(err);
    }
    expect((await status(nodes[0]!)).map((p) => p.type)).toEqual(['node specific', 'node specific']);
    const client = await status(nodes[1]!);
    expect(client).toMatchObject([{ peerAddress: nodeAddress(1), type: 'global', prefixesReceived: 2 }]);

    // 3. A new BGPPeer: node2 and node3 also peer directly.
    await put(store, Kinds.BGPPeer, resource('BGPPeer', 'node2-to-node3', { node: 'node2', peerIP: nodeAddress(3), asNumber: 64512 }));
    await put(store, Kinds.BGPPeer, resource('BGPPeer', 'node3-to-node2', { node: 'node3', peerIP: nodeAddress(2), asNumber: 64512 }));
    try {
      await established(nodes[1]!, [nodeAddress(1), nodeAddress(3)]);
      await established(nodes[2]!, [nodeAddress(1), nodeAddress(2)]);
      for (const [k, n] of nodes.entries()) await converged(n, k + 1);
    } catch (err) {
      fail(err);
    }
    expect((await status(nodes[1]!)).find((p) => p.peerAddress === nodeAddress(3))?.type).toBe('node specific');
    // Nobody restarted.
    expect(nodes.map((n) => n.child.exitCode)).toEqual([null, null, null]);
    expect(nodes.map((n) => n.child.pid)).toEqual(pids);

    // 4. Graceful restart between tortie nodes: kill -9 node2's speaker. Its peers keep its
    // routes (stale, for its restart time), its own kernel keeps what it had; a new process
    // converges again without first removing the routes it is about to learn again.
    const node2 = nodes[1]!;
    process.kill(node2.child.pid as number, 'SIGKILL');
    await pollUntil('node1 sees node2 go down', async () => (await status(nodes[0]!)).some((p) => p.peerAddress === nodeAddress(2) && p.state !== 'Established'), {
      timeoutMs: 15_000,
      intervalMs: 100,
    }).catch(fail);
    const downAt = Date.now();
    expect(await ourRoutes(nodes[0]!)).toEqual(expectedRoutes(1));
    expect(await ourRoutes(node2)).toEqual(expectedRoutes(2));
    // Sample both kernels every 100 ms until the end: a missing route at any point is a gap in forwarding.
    const gaps: string[] = [];
    let isSampling = true;
    const sampler = (async () => {
      while (isSampling) {
        for (const [n, i] of [[nodes[0]!, 1], [node2, 2]] as const) {
          const routes = await ourRoutes(n);
          if (JSON.stringify(routes) !== JSON.stringify(expectedRoutes(i))) gaps.push(`${n.name}: ${routes.join(', ')}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    node2.child = startSpeaker(harness, node2.ns, 2, node2.statusFile, ['TORTIE_BGP_RESTARTING=true']);
    node2.output += '\n--- restarted ---\n';
    follow(node2);
    try {
      await established(node2, [nodeAddress(1), nodeAddress(3)]);
      // Back within the restart time (120 s): the routes were never withdrawn meanwhile.
      expect(Date.now() - downAt).toBeLessThan(120_000);
      await established(nodes[0]!, [nodeAddress(2), nodeAddress(3)]);
      for (const [k, n] of nodes.entries()) await converged(n, k + 1);
    } catch (err) {
      fail(err);
    } finally {
      isSampling = false;
      await sampler;
    }
    expect(gaps).toEqual([]);
  });
});
