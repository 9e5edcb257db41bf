/**
 * The built tortie-cni executable, called exactly as a runtime calls it:
 * `node dist/cni/src/main.js` with CNI_* in the environment and the network
 * configuration on stdin, against a real etcd (Debian's etcd-server) and the
 * real kernel. This process's namespace is the node's host; pods are fresh
 * `tt-*` namespaces. Pool 10.250.<random>.0/24 keeps every address inside
 * the tests' 10.250.0.0/16.
 *
 * Needs `npm run build` first (scripts/setup.sh does it before `npm test`).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { randomInt } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TORTIE_API_VERSION, ipamHandleId, WORKLOAD_ROUTE_PROTOCOL } from '../../../lib/contract.js';
import { createEtcdDatastore, type EtcdDatastore } from '../../../lib/datastore/etcd.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import type { StoredObject } from '../../../lib/datastore/types.js';
import { runCommand } from '../../../lib/kernel/exec.js';
import type { NetnsRef } from '../../../lib/kernel/netns.js';
import { addressesOfHandle, type IpamBlockSpec } from '../../../cni/src/ipam/allocate.js';
import { hostVethName } from '../../../cni/src/plan.js';
import { specProblems } from '../../../cni/src/testdata/schemas.js';
import { createIpPool } from '../../harness/pools.js';
import { ETCD_BINARY, startEtcd, type EtcdInstance } from '../../harness/etcd.js';
import { createNetnsHarness, keepGatewayRouteAsFound, kernelAccessProblem, pollUntil, uniqueName } from '../../harness/netns.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const PLUGIN = join(repo, 'dist/cni/src/main.js');
const NODE = 'tt-node1';
const NETWORK = 'k8s-pod-network';

const problem =
  (await kernelAccessProblem()) ??
  (existsSync(ETCD_BINARY) ? null : `${ETCD_BINARY} is missing (Debian package etcd-server)`);
if (problem !== null) console.warn(`skipping test/integration/cni/plugin.test.ts: ${problem}`);

const subnet = randomInt(1, 250);
const POOL_CIDR = `10.250.${subnet}.0/24`;
const POOL6_CIDR = `fd74:7274:${subnet.toString(16)}::/120`;

interface CniCall {
  exitCode: number;
  stdout: string;
  stderr: string;
  json: Record<string, unknown> | null;
}

if (problem === null) keepGatewayRouteAsFound();

describe.skipIf(problem !== null)('tortie-cni executable against etcd and the kernel', () => {
  const h = createNetnsHarness();
  let etcd: EtcdInstance;
  let ds: EtcdDatastore;

  beforeAll(async () => {
    if (!existsSync(PLUGIN)) throw new Error(`${PLUGIN} does not exist: run \`npm run build\` first`);
    etcd = await startEtcd();
    ds = createEtcdDatastore({ endpoints: [etcd.endpoint] });
    await createIpPool(ds, 'default-ipv4-ippool', POOL_CIDR);
    await createIpPool(ds, 'default-ipv6-ippool', POOL6_CIDR, { blockSize: 124 });
  });
  afterAll(async () => {
    await ds?.close();
    await etcd?.stop();
  });
  afterEach(async () => {
    await h.cleanup();
  });

  function config(extra: Record<string, unknown> = {}): string {
    return JSON.stringify({
      cniVersion: '1.0.0',
      name: NETWORK,
      type: 'tortie',
      datastore_type: 'etcdv3',
      etcd_endpoints: etcd.endpoint,
      nodename: NODE,
      mtu: 0,
      ipam: { type: 'tortie-ipam' },
      ...extra,
    });
  }

  async function cni(command: string, env: Record<string, string>, stdin = config()): Promise<CniCall> {
    const r = await execa('node', [PLUGIN], {
      input: stdin,
      reject: false,
      env: { CNI_COMMAND: command, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni', ...env },
      extendEnv: false,
      timeout: 60_000,
    });
    let json: Record<string, unknown> | null = null;
    if (r.stdout.trim() !== '') json = JSON.parse(r.stdout) as Record<string, unknown>;
    return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr, json };
  }

  /** A pod namespace and the CNI_* variables of its sandbox. */
  async function pod(): Promise<{ ns: NetnsRef; env: Record<string, string>; podName: string; containerId: string }> {
    const ns = await h.makeNetns('pod');
    const podName = uniqueName('web');
    const containerId = uniqueName('ctr', 16);
    h.trackHostLink(hostVethName({ containerId, podNamespace: 'default', podName }));
    return {
      ns,
      podName,
      containerId,
      env: {
        CNI_CONTAINERID: containerId,
        CNI_NETNS: ns.path,
        CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${podName};K8S_POD_INFRA_CONTAINER_ID=${containerId}`,
      },
    };
  }

  async function handle(containerId: string) {
    return ds.get<StoredObject & { spec: { block: Record<string, number> } }>(Kinds.IPAMHandle, ipamHandleId(NETWORK, containerId).toLowerCase());
  }

  it('ADD gives the pod an address from IPAM and a working datapath; DEL leaves nothing; DEL again succeeds', async () => {
    const p = await pod();
    const add = await cni('ADD', p.env);
    expect(add.stderr).toBe('');
    expect(add.exitCode).toBe(0);
    expect(specProblems('result', add.json)).toEqual([]);
    const result = add.json as { ips: { address: string; interface: number }[]; interfaces: { name: string; sandbox?: string; mac?: string }[] };
    const address = result.ips[0]!.address;
    expect(address).toMatch(new RegExp(`^10\\.250\\.${subnet}\\.\\d+/32$`));
    const ip = address.split('/')[0]!;
    const hostIfName = hostVethName({ containerId: p.containerId, podNamespace: 'default', podName: p.podName });
    expect(result.interfaces).toEqual([
      { name: hostIfName, mac: 'ee:ee:ee:ee:ee:ee' },
      { name: 'eth0', mac: expect.stringMatching(/^[0-9a-f:]{17}$/), sandbox: p.ns.path },
    ]);
    expect(result.ips[0]!.interface).toBe(1);

    // The kernel holds it, and packets flow.
    const podAddrs = await h.hostIp.inNetns(p.ns).addresses({ dev: 'eth0', family: 4 });
    expect(podAddrs.map((a) => `${a.address}/${a.prefixLength}`)).toEqual([address]);
    expect((await h.hostIp.routes(4)).filter((r) => r.dst === address)).toEqual([expect.objectContaining({ dev: hostIfName, protocol: WORKLOAD_ROUTE_PROTOCOL })]);
    expect(await h.ping(null, ip)).toBe(true);

    // The datastore holds the allocation and the endpoint.
    expect(await handle(p.containerId)).not.toBeNull();
    const wepName = `${NODE.replaceAll('-', '--')}-k8s-${p.podName.replaceAll('-', '--')}-eth0`;
    const wep = await ds.get<StoredObject & { spec: Record<string, unknown> }>(Kinds.WorkloadEndpoint, wepName, 'default');
    expect(wep?.spec).toMatchObject({ node: NODE, containerID: p.containerId, interfaceName: hostIfName, ipNetworks: [address], pod: p.podName });

    // CHECK with the ADD's result as prevResult.
    const check = await cni('CHECK', p.env, config({ prevResult: add.json }));
    expect(check.json).toBeNull();
    expect(check.exitCode).toBe(0);

    const del = await cni('DEL', p.env);
    expect(del).toMatchObject({ exitCode: 0, stdout: '' });
    expect(await h.hostIp.link(hostIfName)).toBeNull();
    expect((await h.hostIp.routes(4)).filter((r) => r.dst === address)).toEqual([]);
    expect(await h.hostIp.inNetns(p.ns).link('eth0')).toBeNull();
    expect(await handle(p.containerId)).toBeNull();
    expect(await ds.get(Kinds.WorkloadEndpoint, wepName, 'default')).toBeNull();

    expect(await cni('DEL', p.env)).toMatchObject({ exitCode: 0, stdout: '' });
  });

  it('a dual-stack ADD gives an IPv4 and an IPv6 address, both reachable at once; DEL releases both', async () => {
    const p = await pod();
    const conf = config({ cniVersion: '1.1.0', ipam: { type: 'tortie-ipam', assign_ipv4: 'true', assign_ipv6: 'true' } });
    const add = await cni('ADD', p.env, conf);
    expect(add.exitCode).toBe(0);
    expect(specProblems('result', add.json)).toEqual([]);
    const result = add.json as { ips: { address: string }[]; routes: { dst: string; gw: string }[]; interfaces: { mtu?: number }[] };
    expect(result.ips.map((i) => i.address)).toEqual([
      expect.stringMatching(new RegExp(`^10\\.250\\.${subnet}\\.\\d+/32$`)),
      expect.stringMatching(new RegExp(`^fd74:7274:${subnet.toString(16)}::[0-9a-f]*/128$`)),
    ]);
    expect(result.routes).toEqual([
      { dst: '0.0.0.0/0', gw: '169.254.1.1' },
      { dst: '::/0', gw: 'fe80::1' },
    ]);
    // mtu 0: the uplink's MTU (no encapsulation in these pools), reported in 1.1.0 results.
    const uplink = (await h.hostIp.link((await h.hostIp.routes(4)).find((r) => r.dst === '0.0.0.0/0')?.dev ?? 'lo'))?.mtu;
    expect(result.interfaces[1]?.mtu).toBe(uplink);
    expect(await h.ping(null, result.ips[1]!.address.split('/')[0]!)).toBe(true);
    expect(await cni('DEL', p.env, conf)).toMatchObject({ exitCode: 0, stdout: '' });
    expect(await handle(p.containerId)).toBeNull();
  });

  it('delegates to host-local through CNI_PATH when ipam.type is another plugin', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'tt-host-local-'));
    try {
      const p = await pod();
      const range = `10.250.${(subnet + 2) % 250}`;
      const conf = config({ ipam: { type: 'host-local', ranges: [[{ subnet: `${range}.0/24` }]], dataDir } });
      const add = await cni('ADD', p.env, conf);
      expect(add.exitCode).toBe(0);
      expect(specProblems('result', add.json)).toEqual([]);
      const address = (add.json as { ips: { address: string }[] }).ips[0]!.address;
      expect(address).toMatch(new RegExp(`^${range.replaceAll('.', '\\.')}\\.\\d+/32$`));
      const ip = address.split('/')[0]!;
      expect(existsSync(join(dataDir, NETWORK, ip))).toBe(true);
      expect(await h.ping(null, ip)).toBe(true);

      expect(await cni('DEL', p.env, conf)).toMatchObject({ exitCode: 0, stdout: '' });
      expect(existsSync(join(dataDir, NETWORK, ip))).toBe(false);
      expect(await cni('DEL', p.env, conf)).toMatchObject({ exitCode: 0, stdout: '' });
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('a delegated IPAM plugin missing from CNI_PATH is a CNI error naming it', async () => {
    const p = await pod();
    const add = await cni('ADD', p.env, config({ ipam: { type: 'tortie-no-such-ipam' } }));
    expect(add.exitCode).toBe(1);
    expect(add.json).toMatchObject({ code: 7, msg: expect.stringContaining('"tortie-no-such-ipam" is not in CNI_PATH (/usr/lib/cni)') });
  });

  it('an ADD killed (SIGKILL) at any point leaves nothing that DEL does not remove', async () => {
    const p = await pod();
    const hostIfName = hostVethName({ containerId: p.containerId, podNamespace: 'default', podName: p.podName });
    // Kill points spread over an ADD's life (startup, IPAM, datapath, endpoint); the load on the machine moves them around, which is fine: the invariant holds at any point.
    let killed = 0;
    for (const delayMs of [30, 120, 250, 400, 600, 900]) {
      const child = execa('node', [PLUGIN], {
        input: config(),
        reject: false,
        env: { CNI_COMMAND: 'ADD', CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni', ...p.env },
        extendEnv: false,
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
      const ended = await child;
      clearTimeout(timer);
      if (ended.signal === 'SIGKILL') killed++;
      const del = await cni('DEL', p.env);
      expect(del, `DEL after a kill at ${delayMs} ms`).toMatchObject({ exitCode: 0, stdout: '' });
      expect(await h.hostIp.link(hostIfName)).toBeNull();
      expect(await h.hostIp.inNetns(p.ns).link('eth0')).toBeNull();
      expect(await handle(p.containerId)).toBeNull();
      expect((await ds.list(Kinds.WorkloadEndpoint)).items.filter((w) => (w.spec as { containerID?: string }).containerID === p.containerId)).toEqual([]);
    }
    expect(killed).toBeGreaterThan(0);
    // Whatever was half-taken was given back: no block holds an address for this pod.
    const blocks = (await ds.list<StoredObject & { spec: IpamBlockSpec }>(Kinds.IPAMBlock)).items;
    expect(blocks.flatMap((b) => addressesOfHandle(b.spec, ipamHandleId(NETWORK, p.containerId)))).toEqual([]);
  });

  it('a repeated ADD returns the same address and makes no second veth', async () => {
    const p = await pod();
    const first = await cni('ADD', p.env);
    const second = await cni('ADD', p.env);
    expect(first.exitCode).toBe(0);
    expect(second.exitCode).toBe(0);
    expect((second.json as { ips: unknown[] }).ips).toEqual((first.json as { ips: unknown[] }).ips);
    const hostEnds = (await h.hostIp.links()).filter((l) => l.name === hostVethName({ containerId: p.containerId, podNamespace: 'default', podName: p.podName }));
    expect(hostEnds).toHaveLength(1);
    expect(await cni('DEL', p.env)).toMatchObject({ exitCode: 0 });
  });

  it('DEL succeeds and releases the address when the netns is already gone', async () => {
    const p = await pod();
    expect((await cni('ADD', p.env)).exitCode).toBe(0);
    await runCommand('ip', ['netns', 'delete', p.ns.name ?? '']);
    const del = await cni('DEL', p.env);
    expect(del).toMatchObject({ exitCode: 0, stdout: '' });
    expect(await handle(p.containerId)).toBeNull();
    // The runtime may also give no CNI_NETNS at all.
    const { CNI_NETNS: _gone, ...withoutNetns } = p.env;
    expect(await cni('DEL', withoutNetns)).toMatchObject({ exitCode: 0, stdout: '' });
    await pollUntil('the host end to go with the namespace', async () =>
      (await h.hostIp.link(hostVethName({ containerId: p.containerId, podNamespace: 'default', podName: p.podName }))) === null,
    );
  });

  it('ADD into a netns that does not exist is a CNI error, and releases what it took', async () => {
    const p = await pod();
    const env = { ...p.env, CNI_NETNS: `/run/netns/${uniqueName('gone')}` };
    const add = await cni('ADD', env);
    expect(add.exitCode).toBe(1);
    expect(specProblems('error', add.json)).toEqual([]);
    expect(add.json).toMatchObject({ cniVersion: '1.0.0', code: 103, msg: expect.stringMatching(/does not exist/) });
    expect(await handle(p.containerId)).toBeNull();
    expect(await h.hostIp.link(hostVethName({ containerId: p.containerId, podNamespace: 'default', podName: p.podName }))).toBeNull();
  });

  it('a malformed config is error 7 naming the field, and VERSION answers without a datastore', async () => {
    const p = await pod();
    const bad = await cni('ADD', p.env, config({ mtu: -1 }));
    expect(bad.exitCode).toBe(1);
    expect(bad.json).toMatchObject({ code: 7, msg: expect.stringContaining('mtu') });
    const version = await cni('VERSION', {}, '{"cniVersion":"1.1.0"}');
    expect(version.exitCode).toBe(0);
    expect(specProblems('version', version.json)).toEqual([]);
  });
});

describe.skipIf(problem !== null)('tortie-cni under concurrency', () => {
  const h = createNetnsHarness();
  let etcd: EtcdInstance;
  let ds: EtcdDatastore;
  const PODS = 30;
  const cidr = `10.250.${(subnet + 1) % 250}.0/24`;

  beforeAll(async () => {
    if (!existsSync(PLUGIN)) throw new Error(`${PLUGIN} does not exist: run \`npm run build\` first`);
    etcd = await startEtcd();
    ds = createEtcdDatastore({ endpoints: [etcd.endpoint] });
    await ds.create(Kinds.IPPool, {
      apiVersion: TORTIE_API_VERSION,
      kind: 'IPPool',
      metadata: { name: 'default-ipv4-ippool' },
      spec: { cidr, blockSize: 28, ipipMode: 'Never', vxlanMode: 'Never', natOutgoing: false, disabled: false },
    });
  });
  afterAll(async () => {
    await ds?.close();
    await etcd?.stop();
  });
  afterEach(async () => {
    await h.cleanup();
  });

  it(`${PODS} ADDs at once on one node: each pod attached with its own address, all released by DEL`, async () => {
    const conf = JSON.stringify({
      cniVersion: '1.1.0',
      name: NETWORK,
      type: 'tortie',
      datastore_type: 'etcdv3',
      etcd_endpoints: etcd.endpoint,
      nodename: NODE,
      mtu: 1400,
      ipam: { type: 'tortie-ipam' },
    });
    const pods = await Promise.all(
      Array.from({ length: PODS }, async () => {
        const ns = await h.makeNetns('c');
        const containerId = uniqueName('ctr', 16);
        h.trackHostLink(hostVethName({ containerId }));
        return { ns, env: { CNI_CONTAINERID: containerId, CNI_NETNS: ns.path, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' } };
      }),
    );
    const call = (command: string, env: Record<string, string>) =>
      execa('node', [PLUGIN], { input: conf, reject: false, env: { CNI_COMMAND: command, ...env }, extendEnv: false, timeout: 110_000 });

    const adds = await Promise.all(pods.map((p) => call('ADD', p.env)));
    const failures = adds.filter((r) => r.exitCode !== 0).map((r) => r.stdout || r.stderr);
    expect(failures).toEqual([]);
    const addresses = adds.map((r) => (JSON.parse(r.stdout) as { ips: { address: string }[] }).ips[0]!.address);
    expect(new Set(addresses).size).toBe(PODS);
    for (const [i, p] of pods.entries()) {
      const have = (await h.hostIp.inNetns(p.ns).addresses({ dev: 'eth0', family: 4 })).map((a) => `${a.address}/${a.prefixLength}`);
      expect(have).toEqual([addresses[i]]);
    }
    // Pod to pod, first to last, through the host.
    expect(await h.ping(pods[0]!.ns, addresses[PODS - 1]!.split('/')[0]!)).toBe(true);

    const dels = await Promise.all(pods.map((p) => call('DEL', p.env)));
    expect(dels.filter((r) => r.exitCode !== 0).map((r) => r.stdout || r.stderr)).toEqual([]);
    expect((await ds.list(Kinds.IPAMHandle)).items).toEqual([]);
    const left = new Set(addresses);
    expect((await h.hostIp.routes(4)).filter((r) => left.has(r.dst))).toEqual([]);
  });
});
