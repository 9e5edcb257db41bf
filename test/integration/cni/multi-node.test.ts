/**
 * The IPAM contract through the executables (DESIGN.md "IPAM": "two nodes, or
 * twenty parallel ADDs on one node, never hand out one address twice"): three
 * nodes share one real etcd, and each gets 20 ADDs at once from the runtime,
 * 60 `tortie` processes in all (IPAM `tortie-ipam`, which the plugin runs in
 * process), each exec'd as libcni does (test/harness/cni-runner.ts: env +
 * stdin, inside its node's namespace). Then 60 DELs at once.
 *
 *   node ns ×3 (plugin runs here; etcd forwarded to 127.0.0.1)  ──veth──  pod ns ×20 each
 *
 * Checked after ADD: every address once, in the datastore (IPAMBlocks, one
 * confirmed BlockAffinity per block naming the block's node, one IPAMHandle
 * and one WorkloadEndpoint per pod) and in each node's kernel (its 20 veths
 * and /32 routes, the pod's eth0, a ping). After DEL: no allocation, handle,
 * endpoint, veth or route left.
 *
 * Needs `npm run build` first.
 */
import { existsSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { HOST_VETH_PREFIX, WORKLOAD_ROUTE_PROTOCOL, ipamHandleId } from '../../../lib/contract.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import type { NetnsRef } from '../../../lib/kernel/netns.js';
import { addressesOfHandle } from '../../../cni/src/ipam/allocate.js';
import type { BlockAffinityObject, IpamBlockObject } from '../../../cni/src/ipam/block-store.js';
import type { WorkloadEndpointObject } from '../../../cni/src/commands/workload.js';
import { hostVethName } from '../../../cni/src/plan.js';
import { createCniRunner, type CniResult, type RuntimeConf } from '../../harness/cni-runner.js';
import { useCniTestbed } from '../../harness/pools.js';
import { ETCD_BINARY } from '../../harness/etcd.js';
import { createNetnsHarness, kernelAccessProblem, uniqueName } from '../../harness/netns.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const PLUGIN = join(repo, 'dist/cni/src/main.js');
const NETWORK = 'k8s-pod-network';
const NODES = 3;
const PODS_PER_NODE = 20;
/** A runtime gives up on a plugin after a while; 60 Node processes on 2 cores take tens of seconds. */
const PLUGIN_TIMEOUT_MS = 150_000;

const problem =
  (await kernelAccessProblem()) ??
  (existsSync(ETCD_BINARY) ? null : `${ETCD_BINARY} is missing (Debian package etcd-server)`) ??
  (existsSync('/usr/bin/socat') ? null : 'socat is missing (it forwards etcd into the node namespaces)');
if (problem !== null) console.warn(`skipping test/integration/cni/multi-node.test.ts: ${problem}`);

const subnet = randomInt(1, 250);
// /28 blocks (16 addresses): 20 pods need two blocks per node, so the nodes race
// to claim blocks while each node's own pods race on each block.
const POOL_CIDR = `10.250.${subnet}.0/24`;

interface Node {
  name: string;
  ns: NetnsRef;
}

interface Pod {
  node: Node;
  ns: NetnsRef;
  rt: RuntimeConf;
  podName: string;
  hostIfName: string;
}

describe.skipIf(problem !== null)(`${NODES} nodes × ${PODS_PER_NODE} ADDs at once through the executables, on one etcd`, () => {
  const h = createNetnsHarness();
  const bed = useCniTestbed(PLUGIN, 'default-ipv4-ippool', POOL_CIDR);
  afterEach(async () => {
    await h.cleanup();
  });

  it('no address handed out twice, no block claimed twice, every pod attached; 60 DELs at once leave nothing', { timeout: 400_000 }, async () => {
    const etcdPort = Number(new URL(bed.etcd.endpoint).port);
    const nodes: Node[] = [];
    for (let n = 0; n < NODES; n++) {
      const ns = await h.makeNetns('node');
      // An address for the node to ping its pods from (TEST-NET-1; a node's own address on a real host).
      await h.hostIp.inNetns(ns).batch(['link set lo up', `addr add 192.0.2.${n + 1}/32 dev lo`]);
      await h.forwardLoopbackPort(ns, etcdPort);
      nodes.push({ name: uniqueName(`n${n}-`, 6), ns });
    }
    const runners = new Map(
      nodes.map((node) => [
        node.name,
        createCniRunner(
          {
            cniVersion: '1.0.0',
            name: NETWORK,
            plugins: [{ type: 'tortie', datastore_type: 'etcdv3', etcd_endpoints: bed.etcd.endpoint, nodename: node.name, mtu: 1400, ipam: { type: 'tortie-ipam' } }],
          },
          { cniPath: [bed.binDir], netns: node.ns.path, timeoutMs: PLUGIN_TIMEOUT_MS },
        ),
      ]),
    );
    const runnerOf = (pod: Pod) => runners.get(pod.node.name)!;

    const pods: Pod[] = await Promise.all(
      nodes.flatMap((node) =>
        Array.from({ length: PODS_PER_NODE }, async () => {
          const ns = await h.makeNetns('p');
          const podName = uniqueName('web');
          const containerId = uniqueName('ctr', 16);
          const rt: RuntimeConf = {
            containerId,
            netns: ns.path,
            ifName: 'eth0',
            args: { K8S_POD_NAMESPACE: 'default', K8S_POD_NAME: podName, K8S_POD_INFRA_CONTAINER_ID: containerId },
          };
          return { node, ns, rt, podName, hostIfName: hostVethName({ containerId, podNamespace: 'default', podName }) };
        }),
      ),
    );

    // 60 ADDs at once.
    let started = Date.now();
    const added = await Promise.allSettled(pods.map((p) => runnerOf(p).add(p.rt)));
    const addMs = Date.now() - started;
    expect(added.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []))).toEqual([]);
    const results = added.map((r) => (r as PromiseFulfilledResult<CniResult>).value);
    const addresses = results.map((r) => {
      const ips = r['ips'] as { address: string }[];
      expect(ips).toHaveLength(1);
      return ips[0]!.address;
    });
    expect(new Set(addresses).size).toBe(pods.length);

    // The datastore: each address held once, by that pod's handle, in a block of that pod's node
    // (20 pods fit in a node's own two blocks, so nobody borrows).
    const blocks = (await bed.ds.list<IpamBlockObject>(Kinds.IPAMBlock)).items;
    for (const [i, p] of pods.entries()) {
      const ip = addresses[i]!.split('/')[0]!;
      const holders = blocks.filter((b) => addressesOfHandle(b.spec, ipamHandleId(NETWORK, p.rt.containerId)).includes(ip));
      expect(holders.map((b) => b.spec.affinity), `${p.podName} ${ip}`).toEqual([`host:${p.node.name}`]);
    }
    // No block claimed twice: one confirmed affinity per block, naming the block's node; two blocks per node.
    const affinities = (await bed.ds.list<BlockAffinityObject>(Kinds.BlockAffinity)).items;
    for (const b of blocks) {
      const owners = affinities.filter((a) => a.spec.cidr === b.spec.cidr);
      expect(owners.map((a) => [`host:${a.spec.node}`, a.spec.state]), b.spec.cidr).toEqual([[b.spec.affinity, 'confirmed']]);
    }
    expect(affinities).toHaveLength(blocks.length);
    // At least two blocks per node. Possibly more: ADDs that find the node's blocks full at the same
    // moment each claim one (Calico avoids that with a per-host IPAM lock; cni/DESIGN.md, Review notes).
    const claimed = nodes.map((node) => blocks.filter((b) => b.spec.affinity === `host:${node.name}`));
    for (const own of claimed) expect(own.length).toBeGreaterThanOrEqual(2);
    const blocksClaimed = claimed.map((own) => own.length).join('/');
    expect((await bed.ds.list(Kinds.IPAMHandle)).items).toHaveLength(pods.length);
    // One endpoint per pod, naming its node, container, host interface and address.
    const endpoints = (await bed.ds.list<WorkloadEndpointObject>(Kinds.WorkloadEndpoint)).items;
    expect(endpoints).toHaveLength(pods.length);
    for (const [i, p] of pods.entries()) {
      const wep = endpoints.filter((e) => e.spec.containerID === p.rt.containerId);
      expect(wep.map((e) => e.spec)).toEqual([
        expect.objectContaining({ node: p.node.name, pod: p.podName, interfaceName: p.hostIfName, ipNetworks: [addresses[i]] }),
      ]);
    }

    // The kernel: each node has exactly its pods' veths and /32 routes; each pod has its address and answers its node.
    for (const node of nodes) {
      const mine = pods.flatMap((p, i) => (p.node === node ? [{ p, address: addresses[i]! }] : []));
      const nodeIp = h.hostIp.inNetns(node.ns);
      const veths = (await nodeIp.links()).filter((l) => l.name.startsWith(HOST_VETH_PREFIX)).map((l) => l.name);
      expect(veths.sort()).toEqual(mine.map(({ p }) => p.hostIfName).sort());
      // Pod routes: ours (proto), on a pod veth (the node's 169.254.1.1 route on lo stays).
      const routes = (await nodeIp.routes(4)).filter((r) => r.protocol === WORKLOAD_ROUTE_PROTOCOL && r.dev?.startsWith(HOST_VETH_PREFIX));
      expect(routes.map((r) => `${r.dst} dev ${r.dev}`).sort()).toEqual(mine.map(({ p, address }) => `${address} dev ${p.hostIfName}`).sort());
    }
    for (const [i, p] of pods.entries()) {
      const have = (await h.hostIp.inNetns(p.ns).addresses({ dev: 'eth0', family: 4 })).map((a) => `${a.address}/${a.prefixLength}`);
      expect(have, p.podName).toEqual([addresses[i]]);
    }
    const answered = await Promise.all(pods.map((p, i) => h.ping(p.node.ns, addresses[i]!.split('/')[0]!, { timeoutSec: 5 })));
    expect(pods.filter((_, i) => !answered[i]).map((p) => p.podName)).toEqual([]);

    // 60 DELs at once.
    started = Date.now();
    const deleted = await Promise.allSettled(pods.map((p, i) => runnerOf(p).del(p.rt, results[i]!)));
    const delMs = Date.now() - started;
    expect(deleted.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []))).toEqual([]);

    for (const b of (await bed.ds.list<IpamBlockObject>(Kinds.IPAMBlock)).items) {
      expect(b.spec.allocations.every((a) => a === null), b.spec.cidr).toBe(true);
      expect(b.spec.attributes).toEqual([]);
    }
    expect((await bed.ds.list(Kinds.IPAMHandle)).items).toEqual([]);
    expect((await bed.ds.list(Kinds.WorkloadEndpoint)).items).toEqual([]);
    for (const node of nodes) {
      const nodeIp = h.hostIp.inNetns(node.ns);
      expect((await nodeIp.links()).filter((l) => l.name.startsWith(HOST_VETH_PREFIX))).toEqual([]);
      expect((await nodeIp.routes(4)).filter((r) => r.protocol === WORKLOAD_ROUTE_PROTOCOL && r.dst !== '169.254.1.1/32')).toEqual([]);
    }
    for (const p of pods) expect(await h.hostIp.inNetns(p.ns).link('eth0'), p.podName).toBeNull();
    console.info(`tortie-cni: ${pods.length} ADDs at once on ${NODES} nodes in ${addMs} ms (blocks claimed per node: ${blocksClaimed}), ${pods.length} DELs in ${delMs} ms`);
  });
});
