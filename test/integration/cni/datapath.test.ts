/**
 * The CNI datapath against the real kernel: plan.ts + attach.ts with real
 * `ip`, real namespaces and real pings.
 *
 * Layout: this process's own network namespace plays the node's host (as it
 * does for a real CNI plugin); each test makes its "pods" as fresh `tt-*`
 * namespaces. Every address the tests add is in 10.250.0.0/16 or
 * fd74:7274::/32 and every link, address and namespace is removed in
 * afterEach, because other tests share this host namespace.
 *
 * How the pod reaches its gateway 169.254.1.1: nothing owns that address.
 * The pod ARPs for it on eth0; the host end has proxy_arp=1, and the kernel
 * answers a proxied ARP when it has a route to the target through another
 * device. On a host without a default route there is none (calico#3270), so
 * every IPv4 attachment adds `169.254.1.1/32 dev lo`; one test plays such a
 * node in a namespace and shows the ping fail without that route. The route
 * is host-wide, so these tests remove it afterwards if it was not there.
 * For IPv6 the host end owns fe80::1 itself.
 */
import { randomInt } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WORKLOAD_ROUTE_PROTOCOL } from '../../../lib/contract.js';
import { hasErrorCode } from '../../../lib/errors.js';
import { runCommand } from '../../../lib/kernel/exec.js';
import { readUplinkMtu } from '../../../lib/kernel/ip.js';
import { netnsExists, type NetnsRef } from '../../../lib/kernel/netns.js';
import { createProcSysctl, type Sysctl } from '../../../lib/kernel/sysctl.js';
import {
  attachWorkload,
  executeDetach,
  executePlan,
  readAttachment,
  type DatapathRunners,
} from '../../../cni/src/attach.js';
import {
  ENCAPSULATION_OVERHEAD,
  diffAttachment,
  planAttachment,
  planDetach,
  resolveMtu,
  type AttachmentPlan,
  type PodAddress,
} from '../../../cni/src/plan.js';
import { createNetnsHarness, hasGatewayRoute, kernelAccessProblem, pollUntil, removeGatewayRoute, uniqueName } from '../../harness/netns.js';

const problem = await kernelAccessProblem();
if (problem !== null) console.warn(`skipping test/integration/cni/datapath.test.ts: ${problem}`);

// A random /24 inside 10.250.0.0/16 per run, so a leftover from a crashed run never collides.
const subnet = randomInt(1, 250);
const v4 = (host: number): PodAddress => ({ family: 4, address: `10.250.${subnet}.${host}`, prefixLength: 32 });
const v6 = (host: number): PodAddress => ({ family: 6, address: `fd74:7274:${subnet.toString(16)}::${host.toString(16)}`, prefixLength: 128 });

/** /proc/sys of another namespace, for a test that plays a node in a namespace (a plugin writes its own). */
function sysctlIn(ns: NetnsRef): Sysctl {
  return {
    read: async (key) => (await runCommand('cat', [`/proc/sys/${key}`], { netns: ns.path })).trim(),
    write: async (key, value) => {
      await runCommand('sh', ['-c', 'printf %s "$2" > "/proc/sys/$1"', 'sh', key, value], { netns: ns.path });
    },
  };
}

describe.skipIf(problem !== null)('CNI datapath in real namespaces', () => {
  const h = createNetnsHarness();
  const runners: DatapathRunners = { ip: h.hostIp, sysctl: createProcSysctl(), netnsExists };
  let hadGatewayRoute = true;

  afterEach(async () => {
    await h.cleanup();
  });
  // Attachments add the host-wide 169.254.1.1/32 dev lo route (plan.ts GATEWAY_ROUTE_COMMAND);
  // this host namespace is shared, so leave it as it was found.
  afterAll(async () => {
    if (!hadGatewayRoute) await removeGatewayRoute(h);
  });

  /** A pod namespace and the plan to attach it (its host end is tracked for cleanup). */
  async function podPlan(addresses: PodAddress[], options: { mtu?: number; podName?: string } = {}): Promise<{ ns: NetnsRef; plan: AttachmentPlan }> {
    const ns = await h.makeNetns('pod');
    const plan = planAttachment({
      containerId: uniqueName('ctr'),
      podNamespace: 'tortie-test',
      podName: options.podName ?? uniqueName('pod'),
      ifName: 'eth0',
      netnsPath: ns.path,
      addresses,
      mtu: options.mtu ?? 1400,
    });
    h.trackHostLink(plan.hostIfName);
    return { ns, plan };
  }

  async function hostRoutesTo(dst: string, family: 4 | 6 = 4) {
    return (await h.hostIp.routes(family)).filter((r) => r.dst === dst);
  }

  beforeAll(async () => {
    hadGatewayRoute = await hasGatewayRoute(h);
  });

  it('ADD makes the pod end in its netns with a /32, a default route via 169.254.1.1, and a proto route on the host', async () => {
    const { ns, plan } = await podPlan([v4(5)]);
    await executePlan(plan, runners);

    const hostLink = await h.hostIp.link(plan.hostIfName);
    expect(hostLink).toMatchObject({ kind: 'veth', isUp: true, mtu: 1400, macAddress: 'ee:ee:ee:ee:ee:ee' });
    const podIp = h.hostIp.inNetns(ns);
    const podLink = await podIp.link('eth0');
    expect(podLink).toMatchObject({ kind: 'veth', isUp: true, mtu: 1400, macAddress: plan.podMac });
    expect(podLink?.peerIfindex).toBe(hostLink?.ifindex);
    expect(hostLink?.peerIfindex).toBe(podLink?.ifindex);

    const addrs = (await podIp.addresses({ dev: 'eth0', family: 4 })).map((a) => `${a.address}/${a.prefixLength}`);
    expect(addrs).toEqual([`10.250.${subnet}.5/32`]);
    expect(await podIp.routes(4)).toEqual([
      expect.objectContaining({ dst: '0.0.0.0/0', gateway: '169.254.1.1', dev: 'eth0', flags: expect.arrayContaining(['onlink']) }),
    ]);
    expect(await hostRoutesTo(`10.250.${subnet}.5/32`)).toEqual([
      expect.objectContaining({ dev: plan.hostIfName, protocol: WORKLOAD_ROUTE_PROTOCOL, scope: 253, gateway: null }),
    ]);
    const sysctl = createProcSysctl();
    expect(await sysctl.read(`net/ipv4/conf/${plan.hostIfName}/proxy_arp`)).toBe('1');
    expect(await sysctl.read(`net/ipv4/neigh/${plan.hostIfName}/proxy_delay`)).toBe('0');

    // CHECK: the kernel holds the plan.
    expect(diffAttachment(plan, await readAttachment(plan, runners))).toEqual([]);
  });

  it('the host reaches the pod, and the pod reaches the host through 169.254.1.1 answered by proxy ARP', async () => {
    const { ns, plan } = await podPlan([v4(5)]);
    await executePlan(plan, runners);
    // An address of the host for the pod to ping, inside the test range.
    await h.addHostAddress(`10.250.${subnet}.254/32`, 'lo');

    expect(await h.ping(null, `10.250.${subnet}.5`)).toBe(true);
    expect(await h.ping(ns, `10.250.${subnet}.254`)).toBe(true);
    // The gateway was resolved to the host end's MAC by proxy ARP.
    const gateway = (await h.hostIp.inNetns(ns).neighbours(4)).find((n) => n.dst === '169.254.1.1');
    expect(gateway?.lladdr).toBe('ee:ee:ee:ee:ee:ee');
  });

  it('two pods on one node reach each other through the host', async () => {
    const a = await podPlan([v4(5)]);
    const b = await podPlan([v4(6)]);
    await executePlan(a.plan, runners);
    await executePlan(b.plan, runners);
    expect(await h.ping(a.ns, `10.250.${subnet}.6`)).toBe(true);
    expect(await h.ping(b.ns, `10.250.${subnet}.5`)).toBe(true);
  });

  it('a dual-stack pod is reachable over IPv6 at once, with nothing waiting for DAD', async () => {
    const { ns, plan } = await podPlan([v4(7), v6(7)]);
    const started = Date.now();
    await executePlan(plan, runners);
    const six = (await h.hostIp.inNetns(ns).addresses({ dev: 'eth0', family: 6 })).find((a) => a.address === v6(7).address);
    expect(six).toMatchObject({ prefixLength: 128, hasNoDad: true, isTentative: false });
    const hostSix = await h.hostIp.addresses({ dev: plan.hostIfName, family: 6 });
    expect(hostSix).toContainEqual(expect.objectContaining({ address: 'fe80::1', prefixLength: 64, hasNoDad: true, isTentative: false }));
    expect(await hostRoutesTo(`${v6(7).address}/128`, 6)).toEqual([expect.objectContaining({ dev: plan.hostIfName, protocol: WORKLOAD_ROUTE_PROTOCOL })]);

    await h.addHostAddress(`fd74:7274:${subnet.toString(16)}::fe/128`, 'lo');
    expect(await h.ping(null, v6(7).address)).toBe(true);
    expect(await h.ping(ns, `fd74:7274:${subnet.toString(16)}::fe`)).toBe(true);
    // DAD would hold the address tentative for about a second; ADD plus both pings finish well within it.
    expect(Date.now() - started).toBeLessThan(1000);
    expect(diffAttachment(plan, await readAttachment(plan, runners))).toEqual([]);
  });

  it('MTU 0 derives from the uplink less the encapsulation overhead', async () => {
    const uplink = await readUplinkMtu(h.hostIp);
    const mtu = resolveMtu({ configuredMtu: 0, uplinkMtu: uplink, encapsulationOverhead: ENCAPSULATION_OVERHEAD.vxlan });
    expect(mtu).toBe((uplink ?? 1500) - 50);
    const { ns, plan } = await podPlan([v4(8)], { mtu });
    await executePlan(plan, runners);
    expect((await h.hostIp.inNetns(ns).link('eth0'))?.mtu).toBe(mtu);
    expect((await h.hostIp.link(plan.hostIfName))?.mtu).toBe(mtu);
  });

  it('DEL leaves nothing: no link on either side, no route', async () => {
    const { ns, plan } = await podPlan([v4(5), v6(5)]);
    await executePlan(plan, runners);
    const detach = planDetach({ containerId: 'x', podNamespace: 'tortie-test', podName: 'y', ifName: 'eth0', netnsPath: ns.path });
    expect(await executeDetach(detach, runners)).toBe('deleted');
    expect(await h.hostIp.link(plan.hostIfName)).toBeNull();
    expect(await h.hostIp.inNetns(ns).link('eth0')).toBeNull();
    expect(await hostRoutesTo(`10.250.${subnet}.5/32`)).toEqual([]);
    expect(await hostRoutesTo(`${v6(5).address}/128`, 6)).toEqual([]);
  });

  it('DEL twice succeeds', async () => {
    const { ns, plan } = await podPlan([v4(5)]);
    await executePlan(plan, runners);
    const detach = planDetach({ containerId: 'x', ifName: 'eth0', netnsPath: ns.path });
    expect(await executeDetach(detach, runners)).toBe('deleted');
    expect(await executeDetach(detach, runners)).toBe('absent');
  });

  it('DEL succeeds when the netns is already gone, and the pair goes with the netns', async () => {
    const { ns, plan } = await podPlan([v4(5)]);
    await executePlan(plan, runners);
    await runCommand('ip', ['netns', 'delete', ns.name ?? '']);
    expect(await executeDetach(planDetach({ containerId: 'x', ifName: 'eth0', netnsPath: ns.path }), runners)).toBe('no-netns');
    expect(await executeDetach(planDetach({ containerId: 'x', ifName: 'eth0', netnsPath: null }), runners)).toBe('no-netns');
    // The kernel destroys a namespace (and its veths) asynchronously.
    await pollUntil('the host end to go with the namespace', async () => (await h.hostIp.link(plan.hostIfName)) === null);
    expect(await hostRoutesTo(`10.250.${subnet}.5/32`)).toEqual([]);
  });

  it('ADD into a netns that does not exist fails and leaves nothing', async () => {
    const plan = planAttachment({
      containerId: uniqueName('ctr'),
      ifName: 'eth0',
      netnsPath: `/run/netns/${uniqueName('gone')}`,
      addresses: [v4(9)],
      mtu: 1400,
    });
    h.trackHostLink(plan.hostIfName);
    await expect(executePlan(plan, runners)).rejects.toThrow(/does not exist/);
    expect(await h.hostIp.link(plan.hostIfName)).toBeNull();
    expect(await hostRoutesTo(`10.250.${subnet}.9/32`)).toEqual([]);
  });

  it('ADD fails without touching anything when eth0 already exists in the pod', async () => {
    const { ns, plan } = await podPlan([v4(10)]);
    await h.hostIp.inNetns(ns).batch(['link add eth0 type veth peer name other0']);
    let caught: unknown;
    try {
      await attachWorkload(plan, runners);
    } catch (err) {
      caught = err;
    }
    expect(hasErrorCode(caught, 'ERR_KERNEL')).toBe(true);
    expect((caught as Error).message).toMatch(/File exists/);
    expect(await h.hostIp.link(plan.hostIfName)).toBeNull();
    // The pod's own eth0 (whose peer other0 is in the same namespace) is untouched.
    const links = await h.hostIp.inNetns(ns).links();
    expect(links.filter((l) => l.name === 'eth0' || l.name === 'other0')).toHaveLength(2);
    expect(await hostRoutesTo(`10.250.${subnet}.10/32`)).toEqual([]);
  });

  it('a failure after the pair exists is undone: no link, no route', async () => {
    const { ns, plan } = await podPlan([v4(11)]);
    // A pod-side step the kernel refuses (a gateway that is not on-link).
    const failing = { ...plan, podCommands: [...plan.podCommands, 'route add 10.250.0.0/24 via 192.0.2.254'] };
    await expect(executePlan(failing, runners)).rejects.toThrow(/batch line 4/);
    expect(await h.hostIp.link(plan.hostIfName)).toBeNull();
    expect(await h.hostIp.inNetns(ns).link('eth0')).toBeNull();
    expect(await hostRoutesTo(`10.250.${subnet}.11/32`)).toEqual([]);
  });

  it('a repeated ADD finds its own pair; a stale host end of an older sandbox is replaced', async () => {
    const podName = uniqueName('pod');
    const first = await podPlan([v4(12)], { podName });
    expect(await attachWorkload(first.plan, runners)).toBe('created');
    expect(await attachWorkload(first.plan, runners)).toBe('existing');

    // A new sandbox of the same pod while the old one's veth is still there.
    const second = await podPlan([v4(13)], { podName });
    expect(second.plan.hostIfName).toBe(first.plan.hostIfName);
    expect(await attachWorkload(second.plan, runners)).toBe('replaced');
    expect(await h.hostIp.inNetns(first.ns).link('eth0')).toBeNull();
    expect(diffAttachment(second.plan, await readAttachment(second.plan, runners))).toEqual([]);
    expect(await h.ping(null, `10.250.${subnet}.13`)).toBe(true);
  });

  it('works with a /proc/<pid>/ns/net netns that has no name (entered with nsenter)', async () => {
    // A process in a namespace of its own that nobody mounted, as some runtimes make them.
    const child = h.spawnIn(null, 'unshare', ['--net', '--', 'sleep', '120']);
    const path = `/proc/${child.pid}/ns/net`;
    await pollUntil('the unshared namespace', async () => {
      const [own, its] = await Promise.all([runCommand('readlink', ['/proc/self/ns/net']), runCommand('readlink', [path])]);
      return own !== its;
    });
    const plan = planAttachment({ containerId: uniqueName('ctr'), ifName: 'eth0', netnsPath: path, addresses: [v4(15)], mtu: 1400 });
    h.trackHostLink(plan.hostIfName);
    expect(plan.netns).toEqual({ path, name: null });
    await executePlan(plan, runners);
    expect(diffAttachment(plan, await readAttachment(plan, runners))).toEqual([]);
    expect(await h.ping(null, `10.250.${subnet}.15`)).toBe(true);
    expect(await executeDetach(planDetach({ containerId: 'x', ifName: 'eth0', netnsPath: path }), runners)).toBe('deleted');
    expect(await h.hostIp.link(plan.hostIfName)).toBeNull();
  });

  it('a node without a default route still answers for 169.254.1.1 (calico#3270)', async () => {
    // A namespace plays a node with no default route; the plan runs with it as the host.
    const node = await h.makeNetns('node');
    const nodeIp = h.hostIp.inNetns(node);
    await nodeIp.batch(['link set lo up', `addr add 10.250.${subnet}.253/32 dev lo`]);
    expect((await nodeIp.routes(4)).filter((r) => r.dst === '0.0.0.0/0')).toEqual([]);
    const nodeRunners: DatapathRunners = { ip: nodeIp, sysctl: sysctlIn(node), netnsExists };
    const pod = await h.makeNetns('pod');
    const plan = planAttachment({ containerId: uniqueName('ctr'), ifName: 'eth0', netnsPath: pod.path, addresses: [v4(16)], mtu: 1400 });
    await executePlan(plan, nodeRunners);
    expect(diffAttachment(plan, await readAttachment(plan, nodeRunners))).toEqual([]);
    expect(await h.ping(pod, `10.250.${subnet}.253`)).toBe(true);

    // The control: without the gateway route, the same pod's ARP for 169.254.1.1 gets no answer.
    await nodeIp.batch(['route del 169.254.1.1/32 dev lo']);
    await h.hostIp.inNetns(pod).batch(['neigh flush dev eth0']);
    expect(await h.ping(pod, `10.250.${subnet}.253`, { timeoutSec: 1 })).toBe(false);
  });

  it('CHECK names what is missing', async () => {
    const { ns, plan } = await podPlan([v4(14)]);
    await executePlan(plan, runners);
    await h.hostIp.inNetns(ns).batch([`addr del 10.250.${subnet}.14/32 dev eth0`]);
    // The kernel flushes a device's IPv4 routes with its last IPv4 address, so the default route goes too.
    expect(diffAttachment(plan, await readAttachment(plan, runners))).toEqual([
      `address 10.250.${subnet}.14/32 is missing on eth0`,
      'route 0.0.0.0/0 via 169.254.1.1 dev eth0 is missing in the pod',
    ]);
  });
});
