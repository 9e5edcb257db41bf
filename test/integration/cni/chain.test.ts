/**
 * Chaining: the conflist `tortie` → `portmap` → `bandwidth`, with Debian's
 * reference plugins (containernetworking-plugins, /usr/lib/cni), driven as a
 * runtime drives a conflist (test/harness/cni-runner.ts: each plugin in order
 * with the previous result as `prevResult`, capabilities as `runtimeConfig`,
 * DEL in reverse with the cached result).
 *
 * Layout: portmap writes iptables rules (iptables-nft here) and bandwidth tc
 * qdiscs in the namespace it runs in, so every plugin runs inside a "node"
 * namespace, never in this machine's own one:
 *
 *   client ns  ──veth──  node ns (plugins run here)  ──veth (tortie)──  pod ns
 *   .254/30               .253/30, iptables, tc                           pool address, server
 *
 * The node reaches the test's etcd (on 127.0.0.1 of this namespace) on the
 * same address and port (NetnsHarness.forwardLoopbackPort).
 *
 * Needs `npm run build` first.
 */
import { existsSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ipamHandleId } from '../../../lib/contract.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import type { NetnsRef } from '../../../lib/kernel/netns.js';
import { hostVethName } from '../../../cni/src/plan.js';
import { createCniRunner, type ConfList, type RuntimeConf } from '../../harness/cni-runner.js';
import { useCniTestbed } from '../../harness/pools.js';
import { ETCD_BINARY } from '../../harness/etcd.js';
import { createNetnsHarness, kernelAccessProblem, pollUntil, uniqueName } from '../../harness/netns.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const PLUGIN = join(repo, 'dist/cni/src/main.js');
const REFERENCE_PLUGINS = '/usr/lib/cni';
const NETWORK = 'k8s-pod-network';
const NODE = 'tt-chain-node';

const problem =
  (await kernelAccessProblem()) ??
  (existsSync(ETCD_BINARY) ? null : `${ETCD_BINARY} is missing (Debian package etcd-server)`) ??
  (existsSync(join(REFERENCE_PLUGINS, 'portmap')) ? null : `${REFERENCE_PLUGINS}/portmap is missing (Debian package containernetworking-plugins)`) ??
  (existsSync('/usr/sbin/iptables') ? null : 'iptables is missing (Debian package iptables; portmap 1.1 runs it)');
if (problem !== null) console.warn(`skipping test/integration/cni/chain.test.ts: ${problem}`);

const subnet = randomInt(1, 250);
const POOL_CIDR = `10.250.${subnet}.0/25`;
const NODE_IP = `10.250.${subnet}.253`;
const CLIENT_IP = `10.250.${subnet}.254`;

describe.skipIf(problem !== null)('tortie → portmap → bandwidth, run as a runtime runs a conflist', () => {
  const h = createNetnsHarness();
  const bed = useCniTestbed(PLUGIN, 'chain-pool', POOL_CIDR);
  afterEach(async () => {
    await h.cleanup();
  });

  async function nodeWithClient(): Promise<{ node: NetnsRef; client: NetnsRef }> {
    const node = await h.makeNetns('node');
    const client = await h.makeNetns('cli');
    await h.makeVeth('eth1', 'eth0', { aNs: node, bNs: client });
    const nodeIp = h.hostIp.inNetns(node);
    const clientIp = h.hostIp.inNetns(client);
    await nodeIp.batch(['link set lo up', `addr add ${NODE_IP}/30 dev eth1`, 'link set eth1 up']);
    await clientIp.batch(['link set lo up', `addr add ${CLIENT_IP}/30 dev eth0`, 'link set eth0 up']);
    // A node forwards for its pods (the node agent's job on a real node).
    await h.exec(node, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);

    await h.forwardLoopbackPort(node, Number(new URL(bed.etcd.endpoint).port));
    return { node, client };
  }

  it('prevResult flows through the chain, the host port reaches the pod, the rate is applied; DEL removes it all', async () => {
    const { node, client } = await nodeWithClient();
    const pod = await h.makeNetns('pod');
    const podName = uniqueName('web');
    const containerId = uniqueName('ctr', 16);
    const hostIfName = hostVethName({ containerId, podNamespace: 'default', podName });
    const hostPort = 30_000 + randomInt(0, 2000);

    const list: ConfList = {
      cniVersion: '1.0.0',
      name: NETWORK,
      plugins: [
        { type: 'tortie', datastore_type: 'etcdv3', etcd_endpoints: bed.etcd.endpoint, nodename: NODE, mtu: 1400, ipam: { type: 'tortie-ipam' } },
        { type: 'portmap', snat: true, capabilities: { portMappings: true } },
        { type: 'bandwidth', capabilities: { bandwidth: true } },
      ],
    };
    const runner = createCniRunner(list, { cniPath: [bed.binDir, REFERENCE_PLUGINS], netns: node.path });
    const rt: RuntimeConf = {
      containerId,
      netns: pod.path,
      ifName: 'eth0',
      args: { K8S_POD_NAMESPACE: 'default', K8S_POD_NAME: podName, K8S_POD_INFRA_CONTAINER_ID: containerId },
      capabilityArgs: {
        portMappings: [{ hostPort, containerPort: 8080, protocol: 'tcp' }],
        // bits per second and bits, as Kubernetes' bandwidth annotations become.
        bandwidth: { ingressRate: 8_000_000, ingressBurst: 800_000, egressRate: 16_000_000, egressBurst: 800_000 },
        aliases: ['not-declared-by-any-plugin'],
      },
    };

    const result = await runner.add(rt);

    // prevResult flows: portmap got tortie's result, bandwidth got portmap's; capabilities only where declared.
    const [tortie, portmap, bandwidth] = runner.calls;
    expect(runner.calls.map((c) => c.type)).toEqual(['tortie', 'portmap', 'bandwidth']);
    expect(tortie!.stdin).not.toHaveProperty('prevResult');
    expect(tortie!.stdin).not.toHaveProperty('runtimeConfig');
    expect(portmap!.stdin['prevResult']).toEqual(tortie!.result);
    expect(portmap!.stdin['runtimeConfig']).toEqual({ portMappings: rt.capabilityArgs!['portMappings'] });
    expect(bandwidth!.stdin['prevResult']).toEqual(portmap!.result);
    expect(bandwidth!.stdin['runtimeConfig']).toEqual({ bandwidth: rt.capabilityArgs!['bandwidth'] });
    const ips = (result['ips'] as { address: string }[]).map((i) => i.address);
    expect(ips).toEqual((tortie!.result!['ips'] as { address: string }[]).map((i) => i.address));
    expect(ips).toEqual([expect.stringMatching(new RegExp(`^10\\.250\\.${subnet}\\.\\d+/32$`))]);
    const podAddress = ips[0]!.split('/')[0]!;
    expect(result['interfaces']).toEqual(expect.arrayContaining([expect.objectContaining({ name: hostIfName })]));

    // A server in the pod, reached from the client through the node's host port.
    h.spawnIn(pod, 'socat', ['TCP-LISTEN:8080,fork,reuseaddr', 'SYSTEM:echo hello-from-pod']);
    await pollUntil('the server in the pod', async () => (await h.exec(pod, 'ss', ['-Hltn', 'sport = :8080'])).includes(':8080'));
    const viaHostPort = await h.exec(client, 'socat', ['-T', '3', '-', `TCP:${NODE_IP}:${hostPort},connect-timeout=3`]);
    expect(viaHostPort.trim()).toBe('hello-from-pod');
    const natRules = await h.exec(node, 'iptables-save', ['-t', 'nat']);
    expect(natRules).toContain(`--dport ${hostPort}`);
    expect(natRules).toContain(`${podAddress}:8080`);

    // The ingress limit is a tbf qdisc on the host end of the veth (8 Mbit/s = 1,000,000 bytes/s).
    const qdiscs = JSON.parse(await h.exec(node, 'tc', ['-j', 'qdisc', 'show', 'dev', hostIfName])) as { kind: string; options?: { rate?: number } }[];
    const tbf = qdiscs.find((q) => q.kind === 'tbf');
    expect(tbf?.options?.rate).toBe(1_000_000);
    // The egress limit is a tbf on an ifb device (`bwp…`) the veth's ingress is redirected to.
    const bwpLinks = () => h.exec(node, 'ip', ['-o', 'link', 'show']).then((out) => out.split('\n').filter((l) => /: bwp[0-9a-f]+/.test(l)));
    expect(await bwpLinks()).toHaveLength(1);

    // CHECK runs the chain in order with the cached result. Debian's portmap 1.1.1 fails CHECK
    // whenever the pod has no IPv6 address (it looks for the ip6tables chain it never made:
    // containernetworking/plugins#819, fixed upstream after 1.1.1), so the chain's CHECK stops
    // there; tortie's CHECK before it passed, and bandwidth's passes on its own.
    await expect(runner.check(rt, result)).rejects.toThrow(/^portmap CHECK exited 1: .*could not check ipv6 dnat/);
    expect(runner.calls.at(-1)).toMatchObject({ type: 'tortie', command: 'CHECK', result: null });
    const withoutPortmap = createCniRunner({ ...list, plugins: list.plugins.filter((p) => p['type'] !== 'portmap') }, { cniPath: [bed.binDir, REFERENCE_PLUGINS], netns: node.path });
    await withoutPortmap.check(rt, result);
    expect(withoutPortmap.calls.map((c) => `${c.command} ${c.type}`)).toEqual(['CHECK tortie', 'CHECK bandwidth']);

    await runner.del(rt, result);
    expect(runner.calls.slice(-3).map((c) => `${c.command} ${c.type}`)).toEqual(['DEL bandwidth', 'DEL portmap', 'DEL tortie']);
    const natAfter = await h.exec(node, 'iptables-save', ['-t', 'nat']);
    expect(natAfter).not.toContain(`--dport ${hostPort}`);
    expect(natAfter).not.toContain(podAddress);
    expect(natAfter).not.toMatch(/CNI-DN-/);
    expect(await h.hostIp.inNetns(node).link(hostIfName)).toBeNull();
    expect(await bwpLinks()).toEqual([]);
    expect(await bed.ds.get(Kinds.IPAMHandle, ipamHandleId(NETWORK, containerId).toLowerCase())).toBeNull();
    await expect(h.exec(client, 'socat', ['-T', '2', '-', `TCP:${NODE_IP}:${hostPort},connect-timeout=2`])).rejects.toThrow();

    // DEL is idempotent through the whole chain.
    await runner.del(rt, result);
  });
});
